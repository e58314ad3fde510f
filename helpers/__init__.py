"""Helpers for the pruning workbook, one module per concern.

- ``data``: LightningDataModules for MNIST and CIFAR-10 (full, or the offline fallbacks).
- ``models``: the LightningModules the course prunes (LeNet-300-100, a small CNN, a small VGG).
- ``training``: the Lightning Trainer with the course's defaults, ``fit`` (seeded, with a
  checkpoint cache keyed by the starting weights), ``finetune``, ``evaluate``, ``training_device``.
- ``pruning``: how to prune (strategies such as ``l1_global``, ``prune_copy``,
  ``amount_for_target``, ``make_permanent``) and how to account for it (sparsity, parameter
  counts, file size), and pruning while training (``configured_pruning`` for Lightning's
  ``ModelPruning``, ``gradual_pruning`` every few steps).
- ``timing``: latency measured repeatedly with ``torch.utils.benchmark`` (median and spread),
  speed-ups with a verdict that says "too noisy to tell" when the spread is too wide, and the
  profiler's time per operation.
- ``structured``: structured pruning that removes units and channels and rebuilds smaller
  layers (by hand for a chain of ``Linear`` layers, with Torch-Pruning's dependency graph for
  CNNs), and MAC counts.
- ``compact``: what a pruned model is worth shipped: a compact format (bitmask + int8 values)
  with its save/load round trip, int8 dynamic quantisation, ONNX export and onnxruntime.
- ``tradeoff``: sweeps over amounts or schedules for a strategy passed in, ``train_pruned``
  (one-shot, iterative, ``ModelPruning`` at epoch ends, gradual), ``measure``, tables, paired
  verdicts, and the benchmarks' tables (``benchmark_table``).
- ``plots``: matplotlib figures (weight histograms, masks, sparsity bars, sizes, trade-off curves).

Notebooks import the modules explicitly::

    from helpers import compact, data, models, plots, pruning, structured, timing, tradeoff, training
"""

__version__ = "0.2.0"
