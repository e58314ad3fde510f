"""Pruning sweeps and tables: what each amount of pruning buys and costs, for a strategy passed in.

A sweep answers "how far can this model be pruned, and what does each amount buy and cost?".
For each amount it prunes a fresh copy of a trained model with a pruning strategy
(``prune=``, any :data:`helpers.pruning.Strategy`; global L1 by default), optionally fine-tunes
the copy with the Lightning Trainer (:func:`helpers.training.finetune`), and measures test and
validation accuracy, sparsity, non-zero parameters, serialized size (dense and CSR) and CPU
latency (:func:`measure`). Choose a model by its validation accuracy and report its test accuracy.
:func:`iterative_sweep` follows a schedule of target sparsities instead.
The notebooks and the benchmarks share these.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
from torch import nn

from helpers import _checks, pruning, training

ROW_KEYS = ("amount", "strategy", "method", "finetuned", "accuracy", "val_accuracy", "sparsity",
            "nonzero", "dense_bytes", "sparse_bytes", "latency_ms")
ACCURACY_TOLERANCE = 1e-6
"""Accuracies are float32 measurements: an accuracy drop within ``budget + ACCURACY_TOLERANCE``
is within the budget (``0.961 - 0.956`` computed from float32 values is ``0.0050000548...``)."""


def example_batch(dm: L.LightningDataModule, batch_size: int = 1, seed: int = 0) -> torch.Tensor:
    """Return a seeded random input batch of shape ``(batch_size, *dm.dims)`` for latency timing."""
    _checks.positive_int("batch_size", batch_size)
    return torch.randn(batch_size, *dm.dims, generator=torch.Generator().manual_seed(seed))


def measure(model: nn.Module, dm: L.LightningDataModule, *, example_input: torch.Tensor | None = None,
            latency_repeats: int = 20) -> dict:
    """Measure a (pruned) model: what it scores and what it costs.

    Args:
        model: The model, pruned or not.
        dm: The data module whose test and validation splits give the accuracies.
        example_input: Input for the latency timing; one seeded random image by default.
        latency_repeats: Timed calls whose median is the latency.

    Returns:
        ``{"accuracy"`` (test accuracy, a fraction), ``"val_accuracy"`` (validation accuracy:
        choose by this one, so the test accuracy stays an unbiased estimate), ``"sparsity"``
        (fraction of the Linear and Conv2d weights that are zero), ``"nonzero"`` (non-zero
        parameters, biases included), ``"dense_bytes"`` and ``"sparse_bytes"`` (``torch.save``
        size, weights stored dense or as CSR), ``"latency_ms"`` (median CPU time of one forward
        pass of ``model`` as given: a model that still carries its pruning masks also runs the
        hooks that apply them)``}``.
    """
    example_input = example_batch(dm) if example_input is None else example_input
    return {"accuracy": training.evaluate(model, dm),
            "val_accuracy": training.evaluate(model, dm, split="val"),
            "sparsity": pruning.global_sparsity(model),
            "nonzero": pruning.count_parameters(model).nonzero,
            "dense_bytes": pruning.serialized_size(model),
            "sparse_bytes": pruning.serialized_size(model, sparse=True),
            "latency_ms": pruning.latency_ms(model, example_input, repeats=latency_repeats)}


def sweep(model: L.LightningModule, dm: L.LightningDataModule, amounts: Sequence[float], *,
          prune: pruning.Strategy = pruning.l1_global, finetune_batches: int | None = 0,
          finetune_epochs: int = 1, finetune_lr: float | None = None,
          example_input: torch.Tensor | None = None, latency_repeats: int = 20) -> list[dict]:
    """Prune a fresh copy of ``model`` at each amount (one shot), measure it, optionally fine-tune.

    Args:
        model: The trained, unpruned model (left untouched).
        dm: The data module (test split for accuracy, training split for fine-tuning).
        amounts: Fractions to prune, each in [0, 1].
        prune: The pruning strategy, e.g. ``pruning.l1_global`` or ``pruning.l1_layerwise``.
        finetune_batches: Fine-tuning batches per epoch after pruning; 0 for none, ``None`` for
            whole epochs. With fine-tuning, each amount gives two rows: before and after.
        finetune_epochs: Fine-tuning epochs.
        finetune_lr: Peak fine-tuning learning rate (default: see :func:`helpers.training.finetune`).
        example_input: Input for the latency timing; one seeded random image by default.
        latency_repeats: Timed calls whose median is the latency.

    Returns:
        One dict per measurement with the keys of :data:`ROW_KEYS`: ``amount``, ``strategy``
        (the strategy's name), ``method`` (``"one-shot"``), ``finetuned`` and the measurements
        of :func:`measure`.
    """
    amounts = [_checks.fraction("amount", a) for a in amounts]
    prune = _checks.callable_("prune", prune, pruning.STRATEGY)
    finetune_batches = _checks.non_negative_int("finetune_batches", finetune_batches, allow_none=True)
    if not amounts:
        raise ValueError("amounts must not be empty")
    rows = []
    for amount in amounts:
        candidate = pruning.prune_copy(model, amount, prune)
        base = {"amount": amount, "strategy": pruning.strategy_name(prune), "method": "one-shot"}
        rows.append({**base, "finetuned": False, **measure(
            candidate, dm, example_input=example_input, latency_repeats=latency_repeats)})
        if finetune_batches != 0:
            training.finetune(candidate, dm, finetune_batches, finetune_epochs, finetune_lr)
            rows.append({**base, "finetuned": True, **measure(
                candidate, dm, example_input=example_input, latency_repeats=latency_repeats)})
    return rows


def _check_schedule(schedule: Sequence[float]) -> list[float]:
    targets = [_checks.fraction("target sparsity", s) for s in schedule]
    steps = zip([0.0, *targets[:-1]], targets, strict=True)
    if not targets or any(b <= a for a, b in steps) or targets[-1] >= 1:
        raise ValueError(f"schedule must be strictly increasing target sparsities in (0, 1), "
                         f"got {list(schedule)!r}")
    return targets


def iterative_sweep(model: L.LightningModule, dm: L.LightningDataModule, schedule: Sequence[float], *,
                    prune: pruning.Strategy = pruning.l1_global, finetune_batches: int | None = 50,
                    finetune_epochs: int = 1, finetune_lr: float | None = None,
                    example_input: torch.Tensor | None = None, latency_repeats: int = 20) -> list[dict]:
    """Prune step by step, fine-tuning after each step: one copy, pruned to each target in turn.

    Each round prunes the fraction of the *remaining* weights that brings the copy to the next
    target sparsity (:func:`helpers.pruning.amount_for_target`: amounts compound), fine-tunes
    it, and measures it.

    Args:
        model: The trained, unpruned model (left untouched).
        dm: The data module.
        schedule: Target sparsities, strictly increasing, each in (0, 1).
        prune: The pruning strategy applied in every round.
        finetune_batches: Fine-tuning batches per epoch in each round (``None``: whole epochs).
        finetune_epochs: Fine-tuning epochs in each round.
        finetune_lr: Peak fine-tuning learning rate (default: see :func:`helpers.training.finetune`).
        example_input: Input for the latency timing; one seeded random image by default.
        latency_repeats: Timed calls whose median is the latency.

    Returns:
        One row per round (keys :data:`ROW_KEYS`); ``amount`` is the fraction pruned in that
        round, ``sparsity`` the sparsity reached, ``method`` is ``"iterative"``.
    """
    targets = _check_schedule(schedule)
    prune = _checks.callable_("prune", prune, pruning.STRATEGY)
    finetune_batches = _checks.non_negative_int("finetune_batches", finetune_batches, allow_none=True)
    candidate, reached, rows = pruning.prune_copy(model, 0.0, prune), 0.0, []
    for target in targets:
        amount = pruning.amount_for_target(reached, target)
        prune(candidate, amount)
        training.finetune(candidate, dm, finetune_batches, finetune_epochs, finetune_lr)
        row = measure(candidate, dm, example_input=example_input, latency_repeats=latency_repeats)
        reached = target
        rows.append({"amount": amount, "strategy": pruning.strategy_name(prune), "method": "iterative",
                     "finetuned": True, **row})
    return rows


def gradual_sweep(model: L.LightningModule, dm: L.LightningDataModule, targets: Sequence[float], *,
                  num_epochs: int = 6, num_steps: int = 4, example_input: torch.Tensor | None = None,
                  latency_repeats: int = 20) -> list[dict]:
    """Prune a fresh copy of ``model`` gradually *while* training it, once per target sparsity.

    Each copy trains ``num_epochs`` epochs with Lightning's ``ModelPruning`` callback
    (:func:`helpers.pruning.configured_pruning`: global L1 on the Linear/Conv2d weights, no
    rewinding), which prunes at the end of each of the first ``num_steps`` epochs along the cubic
    schedule (:func:`helpers.pruning.gradual_amounts`) and then lets the last epochs fine-tune.

    Returns:
        One row per target (keys :data:`ROW_KEYS`); ``amount`` is the target, ``method`` is
        ``"gradual"``, ``strategy`` ``"l1_global"``.
    """
    targets = [_checks.fraction("target", t, open_right=True) for t in targets]
    _checks.positive_int("num_epochs", num_epochs)
    if _checks.positive_int("num_steps", num_steps) > num_epochs:
        raise ValueError(f"num_steps must be at most num_epochs ({num_epochs}), got {num_steps}")
    rows = []
    for target in targets:
        candidate = pruning.prune_copy(model, 0.0, lambda m, _: m)  # a plain copy, checked unpruned
        schedule = pruning.epoch_schedule(pruning.gradual_amounts(target, num_steps))
        training.fit(candidate, dm, num_epochs=num_epochs, cache=False, limit_val_batches=0,
                     callbacks=[pruning.configured_pruning(candidate, schedule)])
        row = measure(candidate, dm, example_input=example_input, latency_repeats=latency_repeats)
        rows.append({"amount": target, "strategy": pruning.strategy_name(pruning.l1_global),
                     "method": "gradual", "finetuned": True, **row})
    return rows


def rows_within_budget(rows: Sequence[dict], dense_accuracy: float, budget: float = 0.01) -> list[dict]:
    """Return the rows whose accuracy drop ``dense_accuracy - row["accuracy"]`` is at most ``budget``.

    ``budget`` is a fraction like the accuracies (0.01 is one percentage point); a drop equal to
    the budget is within it, up to :data:`ACCURACY_TOLERANCE`.
    """
    budget = _checks.fraction("budget", budget)
    return [row for row in rows if dense_accuracy - row["accuracy"] <= budget + ACCURACY_TOLERANCE]


def highest_sparsity_within_budget(rows: Sequence[dict], dense_accuracy: float,
                                   budget: float = 0.01) -> float:
    """Return the highest ``"sparsity"`` among the rows within the accuracy budget, or 0.0 if none is.

    Reference for 04, exercise 3 (see :func:`rows_within_budget` for what "within" means). The
    rows may come in any order; accuracy need not fall steadily with sparsity.
    """
    return max((row["sparsity"] for row in rows_within_budget(rows, dense_accuracy, budget)), default=0.0)


def table(rows: Sequence[dict], markdown: bool = False) -> str:
    """Format sweep rows as an aligned text table, or as a Markdown table with ``markdown=True``.

    Fractions are shown in percent, sizes in kB, latency in ms.
    """
    header = ["amount", "strategy", "method", "fine-tuned", "accuracy", "val accuracy", "sparsity",
              "non-zero params", "dense kB", "sparse kB", "latency ms"]
    lines = [[f"{100 * r['amount']:.4g}%", r["strategy"], r.get("method", "one-shot"),
              "yes" if r["finetuned"] else "no",
              f"{r['accuracy']:.2%}", f"{r['val_accuracy']:.2%}", f"{r['sparsity']:.1%}", f"{r['nonzero']:,}",
              f"{r['dense_bytes'] / 1e3:,.0f}", f"{r['sparse_bytes'] / 1e3:,.0f}",
              f"{r['latency_ms']:.3f}"] for r in rows]
    if markdown:
        right = "|" + "|".join("---" if i in (1, 2, 3) else "---:" for i in range(len(header))) + "|"
        return "\n".join(["| " + " | ".join(header) + " |", right]
                         + ["| " + " | ".join(line) + " |" for line in lines])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True))
                     for line in [header, *lines])
