"""Benchmark: what each lever buys (notebook 06): unstructured, structured, int8, and their stacks.

Run from the repository root (``make benchmark`` does)::

    python benchmarks/savings.py [--seeds 0 1 2]

It prints figures and asserts nothing. For each seed, LeNet-300-100 (8 epochs) and SmallCNN
(3 epochs) are trained on the offline MNIST (the checkpoint cache keeps them), then turned into:

- **unstructured**: global L1 pruning (LeNet 95%, CNN 90%) + fine-tuning, saved in the compact
  format (bitmask + int8 values) and evaluated *after loading the file back*;
- **structured**: half the hidden units (LeNet, by hand) or half the channels (CNN, Torch-Pruning)
  removed, + fine-tuning, saved as a plain float32 state_dict;
- **int8**: dynamic int8 quantisation of the ``Linear`` layers of the dense model;
- **structured + int8**: both;
- **structured + unstructured** (LeNet): half the units removed, then 90% of what is left, +
  fine-tuning, compact format: the smallest file.

Fine-tuning is 2 epochs (LeNet) or 1 epoch (CNN) at the training learning rate. Test accuracy is
mean ± std over the seeds (and each seed's value); parameters (non-zero), MACs per image, file size
and CPU latency (one thread, median, pruning made permanent; batch 1 and 256) are from the first
seed. Two goals are printed as measured ratios: the structured models' speed-up at batch 256 against
their MAC ratio (goal: at least 70%), and the smallest LeNet file within 1 percentage point of dense
accuracy (goal: at least 20x smaller than the dense float32 file).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import compact, data, models, pruning, structured, tradeoff, training  # noqa: E402

SPEEDUP_GOAL = 0.7  # measured speed-up / MAC ratio at batch 256
SIZE_GOAL = 20.0  # dense float32 file / smallest file within the accuracy budget
BUDGET = 0.01  # 1 percentage point


def compact_accuracy(model, fresh, dm) -> tuple[float, int]:
    """Save ``model`` compactly, load it into ``fresh``: the loaded model's test accuracy, and the bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.compact.pt"
        size = compact.save_compact(model, path)
        loaded = compact.load_compact(path, fresh)
    return training.evaluate(loaded, dm), size


Variant = tuple[torch.nn.Module, float, int, torch.nn.Module]


def variants(kind: str, dense, dm, seed: int) -> dict[str, Variant]:
    """``{name: (model, test accuracy, file bytes, float model)}`` for one trained dense model; the float
    model is the one whose parameters and MACs count (an int8 model's, the one it was quantised from)."""
    epochs = 2 if kind == "LeNet-300-100" else 1
    x = tradeoff.example_batch(dm, 1)
    new = (lambda: models.LeNet300100(dm.dims, dm.num_classes)) if kind == "LeNet-300-100" else (
        lambda: models.SmallCNN(dm.dims, dm.num_classes))
    shrink = (lambda m: structured.shrink_mlp(m, 0.5)) if kind == "LeNet-300-100" else (
        lambda m: structured.prune_channels(m, x, 0.5))
    out = {"dense": (dense, training.evaluate(dense, dm), pruning.serialized_size(dense), dense)}

    torch.manual_seed(seed)
    sparse = pruning.prune_copy(dense, 0.95 if kind == "LeNet-300-100" else 0.9)
    training.finetune(sparse, dm, num_batches=None, num_epochs=epochs)
    out["unstructured (compact)"] = (sparse, *compact_accuracy(sparse, new(), dm), sparse)

    torch.manual_seed(seed)
    small = training.finetune(shrink(dense), dm, num_batches=None, num_epochs=epochs)
    out["structured"] = (small, training.evaluate(small, dm), pruning.serialized_size(small), small)

    for name, model in (("int8", dense), ("structured + int8", small)):
        int8 = compact.quantize_int8(model)
        out[name] = (int8, training.evaluate(int8, dm), compact.state_dict_bytes(int8), model)

    if kind == "LeNet-300-100":
        torch.manual_seed(seed)
        stacked = pruning.prune_l1(shrink(dense), 0.9)
        training.finetune(stacked, dm, num_batches=None, num_epochs=epochs)
        out["structured + unstructured (compact)"] = (stacked, *compact_accuracy(stacked, shrink(new()), dm),
                                                      stacked)
    return out


def describe(model, float_model, x1, x256) -> dict[str, float]:
    """Parameters and MACs (of ``float_model``) and latency (of ``model``, pruning made permanent)."""
    model = pruning.make_permanent(pruning.copy_model(model))
    return {"nonzero": pruning.count_parameters(float_model).nonzero,
            "macs": structured.macs_per_example(float_model, x1),
            "b1": pruning.latency_ms(model, x1, repeats=300),
            "b256": pruning.latency_ms(model, x256, repeats=20)}


def study(kind: str, train, dm, seeds: list[int]) -> dict:
    accuracies, first = {}, None
    x1, x256 = tradeoff.example_batch(dm, 1), tradeoff.example_batch(dm, 256)
    for seed in seeds:
        results = variants(kind, train(seed), dm, seed)
        for name, (_, accuracy, _, _) in results.items():
            accuracies.setdefault(name, []).append(accuracy)
        if first is None:
            first = {name: {"bytes": size, **describe(model, float_model, x1, x256)}
                     for name, (model, _, size, float_model) in results.items()}
    dense = first["dense"]
    print(f"\n## {kind}\n")
    print("| model | test accuracy (%) | non-zero params | MACs / image | file (kB) | smaller | "
          "1 image (ms) | 256 images (ms) | speed-up at 256 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, facts in first.items():
        acc = accuracies[name]
        spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
        print(f"| {name} | {100 * statistics.mean(acc):.2f} ± {100 * spread:.2f} | {facts['nonzero']:,} | "
              f"{facts['macs']:,} | {facts['bytes'] / 1e3:,.1f} | {dense['bytes'] / facts['bytes']:.1f}x | "
              f"{facts['b1']:.3f} | {facts['b256']:.2f} | {dense['b256'] / facts['b256']:.2f}x |", flush=True)
    print("\nTest accuracy (%) per seed: " + "; ".join(
        f"{name}: {', '.join(f'{100 * a:.1f}' for a in acc)}" for name, acc in accuracies.items()))
    mac_ratio = dense["macs"] / first["structured"]["macs"]
    measured = dense["b256"] / first["structured"]["b256"]
    return {"mac_ratio": mac_ratio, "speedup": measured, "accuracies": accuracies, "facts": first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    start = time.perf_counter()
    print("# What each lever buys: unstructured, structured, int8 (notebook 06)\n")
    print(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPU cores; "
          f"seeds {args.seeds}; latency on one thread. Timings are noisy when other jobs share the machine.")
    dm = data.MNISTDataModule()
    with training.quiet_lightning():
        lenet = study("LeNet-300-100", lambda s: training.fit(
            models.LeNet300100(dm.dims, dm.num_classes), dm, num_epochs=8, seed=s), dm, args.seeds)
        cnn = study("SmallCNN", lambda s: training.fit(
            models.SmallCNN(dm.dims, dm.num_classes), dm, num_epochs=3, seed=s), dm, args.seeds)

    print(f"\nGoal 1 (structured, batch 256, one thread: speed-up >= {SPEEDUP_GOAL:.0%} of the MAC ratio):")
    for kind, result in (("LeNet-300-100, half the units", lenet), ("SmallCNN, half the channels", cnn)):
        share = result["speedup"] / result["mac_ratio"]
        print(f"- {kind}: MAC ratio {result['mac_ratio']:.2f}x, measured {result['speedup']:.2f}x = "
              f"{share:.0%} of it: {'met' if share >= SPEEDUP_GOAL else 'NOT met'}")
    dense_mean = statistics.mean(lenet["accuracies"]["dense"])
    print(f"\nGoal 2 (a saved LeNet-300-100 >= {SIZE_GOAL:.0f}x smaller than dense float32, mean accuracy "
          f"within {100 * BUDGET:.0f} pp of dense {100 * dense_mean:.2f}%):")
    best = None
    for name, facts in lenet["facts"].items():
        mean = statistics.mean(lenet["accuracies"][name])
        ratio = lenet["facts"]["dense"]["bytes"] / facts["bytes"]
        if mean >= dense_mean - BUDGET - tradeoff.ACCURACY_TOLERANCE and (best is None or ratio > best[1]):
            best = (name, ratio, mean)
    name, ratio, mean = best
    print(f"- smallest within budget: {name}, {ratio:.1f}x smaller, {100 * mean:.2f}% "
          f"({100 * (mean - dense_mean):+.2f} pp), evaluated after loading the file back: "
          f"{'met' if ratio >= SIZE_GOAL else 'NOT met'}")
    print("\nReference: Han et al. (2016), Deep Compression, 40x for LeNet-300-100 with pruning, "
          "quantisation and Huffman coding, on full MNIST.")
    print(f"\nTotal: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
