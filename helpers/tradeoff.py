"""Pruning sweeps: prune fresh copies of a trained model, fine-tune them briefly, measure each one.

A sweep answers "how far can this model be pruned, and what does each amount buy and cost?".
For each amount it L1-prunes a fresh copy of a trained model, layer by layer or globally
(``torch.nn.utils.prune``), optionally fine-tunes the copy with the Lightning Trainer, and
measures test accuracy, sparsity, non-zero parameters, serialized size (dense and CSR) and CPU
latency (:mod:`helpers.pruning`). The notebooks and ``benchmarks/tradeoff.py`` share it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import lightning as L
import torch
from torch import nn
from torch.nn.utils import prune

from helpers import pruning, training

SCOPES = ("global", "layer")
ROW_KEYS = ("amount", "scope", "method", "finetuned", "accuracy", "sparsity", "nonzero",
            "dense_bytes", "sparse_bytes", "latency_ms")


def _check_amount(amount: float) -> float:
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 <= amount <= 1:
        raise ValueError(f"amount must be a fraction in [0, 1], got {amount!r}")
    return float(amount)


def _check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    return scope


def _check_batches(num_batches: int | None) -> int | None:
    if num_batches is not None and (isinstance(num_batches, bool) or not isinstance(num_batches, int)
                                    or num_batches < 0):
        raise ValueError(f"num_batches must be a non-negative int or None, got {num_batches!r}")
    return num_batches


def prune_model(model: nn.Module, amount: float, scope: str = "global") -> nn.Module:
    """L1-prune the weights of every ``nn.Linear`` and ``nn.Conv2d`` of ``model`` in place.

    ``scope="layer"`` removes ``amount`` of each layer's own weights (``prune.l1_unstructured``
    per layer): every layer ends with the same sparsity. ``scope="global"`` ranks all those
    weights together and removes the ``amount`` smallest of them (``prune.global_unstructured``):
    layers end with different sparsities, those with larger weights keep more. On a model
    that is pruned already, ``amount`` applies to the weights still left, so amounts compound.

    Args:
        model: The model to prune (changed in place).
        amount: Fraction of the weights to prune, in [0, 1].
        scope: ``"global"`` or ``"layer"``.

    Returns:
        ``model``, pruned.
    """
    amount, scope = _check_amount(amount), _check_scope(scope)
    pairs = pruning.parameters_to_prune(model)
    if scope == "global":
        prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=amount)
    else:
        for module, name in pairs:
            prune.l1_unstructured(module, name, amount=amount)
    return model


def prune_copy(model: nn.Module, amount: float, scope: str = "global") -> nn.Module:
    """Return an L1-pruned copy of ``model`` (see :func:`prune_model`); ``model`` is left untouched.

    The copy is made before pruning: ``copy.deepcopy`` of a pruned module raises, so ``model``
    must not be pruned itself (call ``prune.remove`` first, or keep the dense model around).
    """
    amount, scope = _check_amount(amount), _check_scope(scope)
    if prune.is_pruned(model):  # looks at every submodule
        raise ValueError(f"{type(model).__name__} is already pruned and copy.deepcopy cannot copy a "
                         "pruned module: pass the dense model, or call prune.remove on it first")
    return prune_model(copy.deepcopy(model), amount, scope)


def finetune(model: L.LightningModule, dm: L.LightningDataModule, num_batches: int | None = 50,
             num_epochs: int = 1, lr: float | None = None, progress: bool = False) -> L.LightningModule:
    """Fine-tune ``model`` in place with the Lightning Trainer (:func:`helpers.training.fit`).

    Trains for ``num_epochs`` epochs of at most ``num_batches`` training batches each (``None``:
    whole epochs), without validation and without the checkpoint cache. The pruning masks stay
    in force: pruned weights remain zero while the kept ones adapt. The model's own optimizer
    settings apply (``configure_optimizers``), with ``lr`` as the peak learning rate if given.

    Args:
        model: A (pruned) LightningModule, changed in place.
        dm: The data module to train on.
        num_batches: Training batches per epoch; ``None`` for all of them.
        num_epochs: Epochs.
        lr: Peak learning rate of the fine-tuning run; ``None`` keeps ``model.hparams.lr``, the
            one it was trained with (on LeNet-300-100, a short run at that rate recovers more
            than a gentler one).
        progress: Show the progress bar.

    Returns:
        ``model``, fine-tuned, in eval mode.
    """
    num_batches = _check_batches(num_batches)
    if lr is not None and not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if "lr" not in getattr(model, "hparams", {}):
        raise ValueError(f"{type(model).__name__} has no hparams.lr; fine-tune a model of helpers.models")
    if num_batches == 0:
        return model.eval()
    trained_lr = model.hparams.lr
    if lr is not None:
        model.hparams.lr = lr
    try:
        return training.fit(model, dm, num_epochs=num_epochs, cache=False, progress=progress,
                            limit_train_batches=1.0 if num_batches is None else num_batches,
                            limit_val_batches=0)
    finally:
        model.hparams.lr = trained_lr


def example_batch(dm: L.LightningDataModule, batch_size: int = 1, seed: int = 0) -> torch.Tensor:
    """Return a seeded random input batch of shape ``(batch_size, *dm.dims)`` for latency timing."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return torch.randn(batch_size, *dm.dims, generator=torch.Generator().manual_seed(seed))


def measure(model: nn.Module, dm: L.LightningDataModule, example_input: torch.Tensor | None = None,
            latency_repeats: int = 20) -> dict:
    """Measure a (pruned) model: what it scores and what it costs.

    Args:
        model: The model, pruned or not.
        dm: The data module whose test split gives the accuracy.
        example_input: Input for the latency timing; one seeded random image by default.
        latency_repeats: Timed calls whose median is the latency.

    Returns:
        ``{"accuracy"`` (test accuracy, a fraction), ``"sparsity"`` (fraction of the Linear and
        Conv2d weights that are zero), ``"nonzero"`` (non-zero parameters, biases included),
        ``"dense_bytes"`` and ``"sparse_bytes"`` (``torch.save`` size, weights stored dense or
        as CSR), ``"latency_ms"`` (median CPU time of one forward pass of ``model`` as given: a
        model that still carries its pruning masks also runs the hooks that apply them)``}``.
    """
    example_input = example_batch(dm) if example_input is None else example_input
    return {"accuracy": training.evaluate(model, dm),
            "sparsity": pruning.global_sparsity(model),
            "nonzero": pruning.count_parameters(model).nonzero,
            "dense_bytes": pruning.serialized_size(model),
            "sparse_bytes": pruning.serialized_size(model, sparse=True),
            "latency_ms": pruning.latency_ms(model, example_input, repeats=latency_repeats)}


def sweep(model: L.LightningModule, dm: L.LightningDataModule, amounts: Sequence[float],
          scope: str = "global", finetune_batches: int | None = 0, finetune_epochs: int = 1,
          finetune_lr: float | None = None, example_input: torch.Tensor | None = None,
          latency_repeats: int = 20) -> list[dict]:
    """Prune a fresh copy of ``model`` at each amount (one shot), measure it, optionally fine-tune.

    Args:
        model: The trained, unpruned model (left untouched).
        dm: The data module (test split for accuracy, training split for fine-tuning).
        amounts: Fractions to prune, each in [0, 1].
        scope: ``"global"`` or ``"layer"`` (see :func:`prune_model`).
        finetune_batches: Fine-tuning batches per epoch after pruning; 0 for none, ``None`` for
            whole epochs. With fine-tuning, each amount gives two rows: before and after.
        finetune_epochs: Fine-tuning epochs.
        finetune_lr: Peak fine-tuning learning rate (default: see :func:`finetune`).
        example_input: Input for the latency timing; one seeded random image by default.
        latency_repeats: Timed calls whose median is the latency.

    Returns:
        One dict per measurement with the keys of :data:`ROW_KEYS`: ``amount``, ``scope``,
        ``method`` (``"one-shot"``), ``finetuned`` and the measurements of :func:`measure`.
    """
    amounts = [_check_amount(a) for a in amounts]
    scope, finetune_batches = _check_scope(scope), _check_batches(finetune_batches)
    if not amounts:
        raise ValueError("amounts must not be empty")
    rows = []
    for amount in amounts:
        candidate = prune_copy(model, amount, scope)
        base = {"amount": amount, "scope": scope, "method": "one-shot"}
        rows.append({**base, "finetuned": False,
                     **measure(candidate, dm, example_input, latency_repeats)})
        if finetune_batches != 0:
            finetune(candidate, dm, finetune_batches, finetune_epochs, finetune_lr)
            rows.append({**base, "finetuned": True,
                         **measure(candidate, dm, example_input, latency_repeats)})
    return rows


def iterative_sweep(model: L.LightningModule, dm: L.LightningDataModule, sparsities: Sequence[float],
                    finetune_batches: int | None = 50, finetune_epochs: int = 1,
                    finetune_lr: float | None = None, scope: str = "global",
                    example_input: torch.Tensor | None = None, latency_repeats: int = 20) -> list[dict]:
    """Prune step by step, fine-tuning after each step: one copy, pruned to each target in turn.

    Each round prunes the fraction of the *remaining* weights that brings the copy to the next
    target sparsity (amounts compound), fine-tunes it, and measures it.

    Args:
        model: The trained, unpruned model (left untouched).
        dm: The data module.
        sparsities: Target sparsities, strictly increasing, each in (0, 1).
        finetune_batches: Fine-tuning batches per epoch in each round (``None``: whole epochs).
        finetune_epochs: Fine-tuning epochs in each round.
        finetune_lr: Peak fine-tuning learning rate (default: see :func:`finetune`).
        scope: ``"global"`` or ``"layer"``.
        example_input: Input for the latency timing; one seeded random image by default.
        latency_repeats: Timed calls whose median is the latency.

    Returns:
        One row per round (keys :data:`ROW_KEYS`); ``amount`` is the fraction pruned in that
        round, ``sparsity`` the sparsity reached, ``method`` is ``"iterative"``.
    """
    targets = [_check_amount(s) for s in sparsities]
    scope, finetune_batches = _check_scope(scope), _check_batches(finetune_batches)
    if not targets or any(b <= a for a, b in zip([0.0, *targets[:-1]], targets, strict=True)) \
            or targets[-1] >= 1:
        raise ValueError(f"sparsities must be strictly increasing in (0, 1), got {list(sparsities)!r}")
    candidate, reached, rows = prune_copy(model, 0.0, scope), 0.0, []
    for target in targets:
        amount = (target - reached) / (1 - reached)
        prune_model(candidate, amount, scope)
        finetune(candidate, dm, finetune_batches, finetune_epochs, finetune_lr)
        row = measure(candidate, dm, example_input, latency_repeats)
        reached = target
        rows.append({"amount": amount, "scope": scope, "method": "iterative", "finetuned": True, **row})
    return rows


def table(rows: Sequence[dict], markdown: bool = False) -> str:
    """Format sweep rows as an aligned text table, or as a Markdown table with ``markdown=True``.

    Fractions are shown in percent, sizes in kB, latency in ms.
    """
    header = ["amount", "scope", "method", "fine-tuned", "accuracy", "sparsity", "non-zero params",
              "dense kB", "sparse kB", "latency ms"]
    lines = [[f"{100 * r['amount']:.4g}%", r["scope"], r.get("method", "one-shot"),
              "yes" if r["finetuned"] else "no",
              f"{r['accuracy']:.2%}", f"{r['sparsity']:.1%}", f"{r['nonzero']:,}",
              f"{r['dense_bytes'] / 1e3:,.0f}", f"{r['sparse_bytes'] / 1e3:,.0f}",
              f"{r['latency_ms']:.3f}"] for r in rows]
    if markdown:
        right = "|" + "|".join("---" if i in (1, 2, 3) else "---:" for i in range(len(header))) + "|"
        return "\n".join(["| " + " | ".join(header) + " |", right]
                         + ["| " + " | ".join(line) + " |" for line in lines])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True))
                     for line in [header, *lines])
