"""Pruning sweeps and tables: what each amount of pruning buys and costs, for a strategy passed in.

A sweep answers "how far can this model be pruned, and what does each amount buy and cost?".
For each amount it prunes a fresh copy of a trained model with a pruning strategy
(``prune=``, any :data:`helpers.pruning.Strategy`; global L1 by default), optionally fine-tunes
the copy with the Lightning Trainer (:func:`helpers.training.finetune`), and measures test and
validation accuracy, sparsity, non-zero parameters, serialized size (dense and CSR) and CPU
latency (:func:`measure`). Choose a model by its validation accuracy and report its test accuracy.
:func:`iterative_sweep` follows a schedule of target sparsities instead; :func:`train_pruned`
prunes while training in one of four ways (:data:`PRUNING_METHODS`), for notebook 05. For comparing criteria
(notebook 07): per-image results (:func:`correct_predictions`), paired verdicts over seeds
(:func:`paired_verdict`), the one-layer-at-a-time :func:`sensitivity_scan` and
:func:`allocate_amounts`, which turns a scan into per-layer amounts for one budget.
The notebooks and the benchmarks share these.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

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
          example_input: torch.Tensor | None = None, latency_repeats: int = 20, seed: int = 0) -> list[dict]:
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
        seed: Seed of each fine-tuning run (the data order is the data module's ``shuffle_seed``).

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
            training.finetune(candidate, dm, finetune_batches, finetune_epochs, finetune_lr, seed=seed)
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
                    example_input: torch.Tensor | None = None, latency_repeats: int = 20,
                    seed: int = 0) -> list[dict]:
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
        seed: Seed of each fine-tuning run (the data order is the data module's ``shuffle_seed``).

    Returns:
        One row per round (keys :data:`ROW_KEYS`); ``amount`` is the fraction pruned in that
        round, ``sparsity`` the sparsity reached, ``method`` is ``"iterative"``.
    """
    targets = _check_schedule(schedule)
    prune = _checks.callable_("prune", prune, pruning.STRATEGY)
    finetune_batches = _checks.non_negative_int("finetune_batches", finetune_batches, allow_none=True)
    rows = []
    for amount, candidate in _iterative_rounds(model, dm, targets, prune, finetune_batches, finetune_epochs,
                                               finetune_lr, seed):
        row = measure(candidate, dm, example_input=example_input, latency_repeats=latency_repeats)
        rows.append({"amount": amount, "strategy": pruning.strategy_name(prune), "method": "iterative",
                     "finetuned": True, **row})
    return rows


def _iterative_rounds(model: L.LightningModule, dm: L.LightningDataModule, targets: Sequence[float],
                      prune: pruning.Strategy, finetune_batches: int | None, finetune_epochs: int,
                      finetune_lr: float | None, seed: int) -> Iterator[tuple[float, L.LightningModule]]:
    """Yield ``(amount, copy)`` after each round: the copy pruned to the next target, then fine-tuned."""
    candidate, reached = pruning.prune_copy(model, 0.0, prune), 0.0
    for target in targets:
        amount = pruning.amount_for_target(reached, target)
        prune(candidate, amount)
        training.finetune(candidate, dm, finetune_batches, finetune_epochs, finetune_lr, seed=seed)
        reached = target
        yield amount, candidate


PRUNING_METHODS = ("one-shot", "iterative", "ModelPruning (epoch ends)", "gradual")
"""The ways :func:`train_pruned` takes a trained model to a target sparsity with a training budget."""


def train_pruned(method: str, model: L.LightningModule, dm: L.LightningDataModule, target: float,
                 num_epochs: int, *, seed: int = 0, every: int = 10) -> L.LightningModule:
    """Return a copy of ``model`` pruned to ``target`` by ``method``, with ``num_epochs`` epochs of training.

    Global L1 pruning of the Linear/Conv2d weights, every training run seeded with ``seed`` (the
    data order is the data module's ``shuffle_seed``), the model's own optimizer settings:

    - ``"one-shot"``: prune to ``target`` at once, then fine-tune all ``num_epochs``;
    - ``"iterative"``: three rounds along the cubic schedule, each pruning then fine-tuning
      ``num_epochs // 3`` epochs (the learning-rate schedule restarts each round);
    - ``"ModelPruning (epoch ends)"``: Lightning's callback (:func:`helpers.pruning.configured_pruning`)
      prunes at the end of each of the first two thirds of the epochs along the cubic schedule, in
      one training run; the last third fine-tunes;
    - ``"gradual"``: Zhu & Gupta (2017), :func:`helpers.pruning.gradual_pruning` prunes every
      ``every`` training steps along the cubic schedule during the first two thirds of the epochs, in
      one training run; the last third fine-tunes.

    Args:
        method: One of :data:`PRUNING_METHODS`.
        model: The trained, unpruned model (left untouched).
        dm: The data module to train on.
        target: Sparsity to reach, in [0, 1).
        num_epochs: Training epochs in all, a positive multiple of 3.
        seed: Seed of every training run.
        every: Training steps between two prunings of ``"gradual"``.

    Returns:
        The pruned, trained copy, in eval mode (masks in force for one-shot and iterative; pruning
        made permanent by the callbacks).
    """
    method = _checks.one_of("method", method, PRUNING_METHODS)
    target = _checks.fraction("target", target, open_right=True)
    if _checks.positive_int("num_epochs", num_epochs) % 3:
        raise ValueError(f"num_epochs must be a positive multiple of 3 (three iterative rounds, two thirds "
                         f"of pruning), got {num_epochs}")
    if method == "one-shot":
        return training.finetune(pruning.prune_copy(model, target), dm, None, num_epochs, seed=seed)
    if method == "iterative":
        goals = [pruning.cubic_sparsity(k, 3, target) for k in (1, 2, 3)]
        *_, (_, candidate) = _iterative_rounds(model, dm, goals, pruning.l1_global, None, num_epochs // 3,
                                               None, seed)
        return candidate
    candidate, pruning_epochs = pruning.copy_model(model), 2 * num_epochs // 3
    if method == "gradual":
        dm.prepare_data()
        dm.setup("fit")
        end_step = pruning_epochs * len(dm.train_dataloader()) // every * every
        if end_step == 0:
            raise ValueError(f"every ({every}) must be at most the training steps of {pruning_epochs} epochs")
        callback = pruning.gradual_pruning(candidate, target, end_step=end_step, every=every)
    else:
        callback = pruning.configured_pruning(
            candidate, pruning.epoch_schedule(pruning.gradual_amounts(target, pruning_epochs)))
    return training.fit(candidate, dm, num_epochs=num_epochs, seed=seed, cache=False, limit_val_batches=0,
                        callbacks=[callback])


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


# --- What to prune: paired comparisons and the sensitivity scan (notebook 07) -------------------


def correct_predictions(model: nn.Module, dm: L.LightningDataModule, split: str = "test") -> torch.Tensor:
    """Return one bool per image of a split of ``dm``: did ``model`` classify it correctly?

    The images come in the split's fixed order, so two models' results pair image by image
    (:func:`paired_verdict`). The mean is the accuracy :func:`helpers.training.evaluate` gives.
    """
    split = _checks.one_of("split", split, ("test", "val"))
    loader = {"test": dm.test_dataloader, "val": dm.val_dataloader}[split]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        hits = [model(x.to(device)).argmax(1).cpu() == y for x, y in loader()]
    model.train(was_training)
    return torch.cat(hits)


def paired_difference(correct_a: torch.Tensor, correct_b: torch.Tensor) -> tuple[float, float]:
    """Return ``(mean, standard error)`` of the per-image difference ``a - b`` in accuracy (fractions).

    Both models were scored on the same images: the paired difference removes the images both get
    right (or wrong), so its standard error is far smaller than that of two accuracies apart.
    """
    if correct_a.shape != correct_b.shape or correct_a.dim() != 1:
        raise ValueError(f"correct_a and correct_b must be 1-D and of one length (the same images), "
                         f"got shapes {tuple(correct_a.shape)} and {tuple(correct_b.shape)}")
    diff = correct_a.float() - correct_b.float()
    return float(diff.mean()), float(diff.std() / len(diff) ** 0.5)


def paired_verdict(name_a: str, runs_a: Sequence[torch.Tensor], name_b: str,
                   runs_b: Sequence[torch.Tensor]) -> str:
    """Say whether ``a`` beats ``b``, from per-image results on the same images over one or more seeds.

    Seed ``k`` of ``runs_a`` is paired with seed ``k`` of ``runs_b``. The difference is the mean over
    seeds of the paired differences; its standard error combines theirs (seeds independent). The
    verdict is "better"/"worse" when the difference is more than 2 standard errors from zero *and*
    every seed agrees in sign, "inside the noise" when it is within 2, and "too noisy to tell" when
    it is outside 2 but the seeds disagree.
    """
    if len(runs_a) != len(runs_b) or not runs_a:
        raise ValueError(f"runs_a and runs_b must hold the same number (>= 1) of seeds, "
                         f"got {len(runs_a)} and {len(runs_b)}")
    pairs = [paired_difference(a, b) for a, b in zip(runs_a, runs_b, strict=True)]
    diff = sum(d for d, _ in pairs) / len(pairs)
    se = sum(s ** 2 for _, s in pairs) ** 0.5 / len(pairs)
    seeds = f"over {len(pairs)} seed{'s' if len(pairs) > 1 else ''}"
    numbers = f"{100 * diff:+.2f} ± {200 * se:.2f} points (2 SE, paired, {seeds})"
    if abs(diff) <= 2 * se:
        return f"{name_a} vs {name_b}: {numbers}: inside the noise"
    if len({d > 0 for d, _ in pairs}) > 1 or any(d == 0 for d, _ in pairs):
        return f"{name_a} vs {name_b}: {numbers}: too noisy to tell (the seeds disagree)"
    return f"{name_a} vs {name_b}: {numbers}: {name_a} is {'better' if diff > 0 else 'worse'}"


def sensitivity_scan(model: nn.Module, dm: L.LightningDataModule, sparsities: Sequence[float], *,
                     split: str = "val") -> dict[str, dict[float, float]]:
    """Prune one layer at a time and measure: ``{layer: {sparsity: accuracy}}``.

    For each Linear and Conv2d layer and each sparsity, a copy of ``model`` has only that layer
    L1-pruned (``prune.l1_unstructured``) and is scored on ``split`` (the validation split by
    default: the scan chooses, the test split judges). ``model`` is left untouched.
    """
    sparsities = [_checks.fraction("sparsity", s) for s in sparsities]
    if not sparsities:
        raise ValueError("sparsities must not be empty")
    names = [name for name, m in model.named_modules() if isinstance(m, pruning.PRUNABLE_TYPES)]
    scan = {}
    for name in names:
        scan[name] = {}
        for sparsity in sparsities:
            candidate = pruning.copy_model(model)
            torch.nn.utils.prune.l1_unstructured(candidate.get_submodule(name), "weight", amount=sparsity)
            scan[name][sparsity] = float(correct_predictions(candidate, dm, split).float().mean())
    return scan


def allocate_amounts(scan: dict[str, dict[float, float]], sizes: dict[str, int],
                     budget: float) -> dict[str, float]:
    """Turn a sensitivity scan into per-layer amounts whose total is ``budget``: the robust layers take most.

    Reference for 07, exercise 2. An accuracy *floor* is lowered step by step through the scan's own
    accuracies, from the highest down. At each floor, a layer's *tolerated sparsity* is the highest
    sparsity of its scan whose accuracy is at least the floor (0.0 when none is). At the first floor
    where the tolerated sparsities, weighted by ``sizes``, reach the budget, they are scaled down in
    proportion so that ``sum(sizes[l] * amounts[l]) == budget * sum(sizes[l])`` exactly: every layer
    is asked to give up about the same accuracy (Han et al. 2015's sensitivity analysis).

    Raises:
        ValueError: If ``budget`` is not in (0, 1) or the scan's sparsities cannot reach it.
    """
    if not 0 < budget < 1:
        raise ValueError(f"budget must be a fraction in (0, 1), got {budget!r}")
    total = sum(sizes[layer] for layer in scan)
    for floor in sorted({acc for curve in scan.values() for acc in curve.values()}, reverse=True):
        tolerated = {layer: max((s for s, acc in curve.items() if acc >= floor), default=0.0)
                     for layer, curve in scan.items()}
        reached = sum(sizes[layer] * t for layer, t in tolerated.items())
        if reached >= budget * total:
            return {layer: t * budget * total / reached for layer, t in tolerated.items()}
    raise ValueError(f"the scan's sparsities cannot reach a budget of {budget}: scan higher sparsities")


# --- The benchmarks' tables, shipped with the package (Colab learners have no benchmarks/) --------

BENCHMARK_TABLES = ("schedules", "savings", "semi_structured", "tradeoff", "criteria")


def benchmark_table(name: str) -> str:
    """Return the Markdown table that ``benchmarks/<name>.py`` wrote at its last run on the reference machine.

    The benchmarks write their results into the package (``helpers/_data/benchmarks/<name>.md``),
    so that a notebook can show them where the repository's ``benchmarks/`` and README are not at
    hand (Colab, an installed package). Display it with ``IPython.display.Markdown``.

    Args:
        name: One of :data:`BENCHMARK_TABLES`.
    """
    name = _checks.one_of("name", name, BENCHMARK_TABLES)
    # One name per joinpath: helpers._data is a namespace package, whose MultiplexedPath takes one.
    return resources.files("helpers._data").joinpath("benchmarks").joinpath(f"{name}.md").read_text()


def write_benchmark_table(name: str, text: str) -> Path:
    """Write a benchmark's Markdown results where :func:`benchmark_table` reads them; return the path."""
    name = _checks.one_of("name", name, BENCHMARK_TABLES)
    path = Path(__file__).parent / "_data" / "benchmarks" / f"{name}.md"
    path.write_text(text.rstrip() + "\n")
    return path
