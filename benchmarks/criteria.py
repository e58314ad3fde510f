"""Benchmark: what to prune. Six criteria at five sparsities, one-shot and fine-tuned, over seeds.

Run from the repository root (``make benchmark`` does)::

    python benchmarks/criteria.py [--seeds 0 1 2] [--epochs 2]

It prints figures and asserts nothing. For each seed ``s``, a LeNet-300-100 is trained on the offline
MNIST (8 epochs; the checkpoint cache keeps it) from seed ``s``'s initial weights, in seed ``s``'s order
of the training images (``MNISTDataModule(shuffle_seed=s)``; the splits are the same for every seed, so
every model is scored on the same test images). It is then pruned to each sparsity by:

- random: random masks at global magnitude's per-layer sparsity (``pruning.random_like_global``);
- magnitude, global and layer-wise (``pruning.l1_global``, ``pruning.l1_layerwise``);
- sensitivity: per-layer amounts from a one-layer-at-a-time scan of that seed's model on the
  validation split (``tradeoff.sensitivity_scan``, ``tradeoff.allocate_amounts``);
- Taylor: global ``|w * dL/dw|`` on 4 calibration batches (``pruning.taylor_global``);
- Wanda: ``|W| * ||X||`` compared within each output row, same batches (``pruning.wanda``).

Each pruned model is measured one-shot and after ``--epochs`` epochs of fine-tuning (seeded with ``s``,
in seed ``s``'s data order). Test accuracy is mean ± standard deviation over the seeds; the seconds are
those of pruning plus fine-tuning, per model. At each sparsity the best criterion is **chosen on the
validation split** (highest mean), and its test results are compared with every other criterion's,
paired image by image and seed by seed (``tradeoff.paired_verdict``): which differences are outside the
noise. The tables and the verdicts are also written into the package
(``tradeoff.benchmark_table("criteria")``), for notebook 07 to show.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import data, models, pruning, tradeoff, training  # noqa: E402

SPARSITIES = (0.5, 0.8, 0.9, 0.95, 0.98)
GRID = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99)
CRITERIA = ("random", "global", "layer-wise", "sensitivity", "Taylor", "Wanda")
STAGES = ("one-shot", "fine-tuned")


def strategies(model, dm, seed: int) -> dict:
    """The criteria for one seed's model: magnitude ones as they are, data-aware ones on its batches."""
    batches = list(itertools.islice(dm.train_dataloader(), 4))
    scan = tradeoff.sensitivity_scan(model, dm, GRID)
    sizes = {name: m.weight.numel() for name, m in model.named_modules()
             if isinstance(m, pruning.PRUNABLE_TYPES)}

    def sensitivity(m, amount: float):
        return pruning.per_layer(tradeoff.allocate_amounts(scan, sizes, amount))(m, amount)

    return {"random": pruning.random_like_global, "global": pruning.l1_global,
            "layer-wise": pruning.l1_layerwise,
            "sensitivity": sensitivity,
            "Taylor": pruning.taylor_global(batches), "Wanda": pruning.wanda(batches)}


def run(model, dm, strategy, amount: float, seed: int, epochs: int) -> dict:
    """Prune a copy, measure one-shot, fine-tune, measure again; with the seconds all of it took."""
    start = time.perf_counter()
    L.seed_everything(seed, verbose=False)
    candidate = pruning.prune_copy(model, amount, strategy)
    row = {"sparsity": pruning.global_sparsity(candidate)}
    for stage in STAGES:
        if stage == "fine-tuned":
            training.finetune(candidate, dm, num_batches=None, num_epochs=epochs, seed=seed)
        row[stage] = {split: tradeoff.correct_predictions(candidate, dm, split) for split in ("val", "test")}
    row["seconds"] = time.perf_counter() - start
    return row


def mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.2f}"


def accuracy(runs: list[dict], stage: str, split: str = "test") -> list[float]:
    return [100 * float(r[stage][split].float().mean()) for r in runs]


def table(results: dict, stage: str) -> str:
    """Markdown: one row per sparsity, test accuracy (%) mean ± std over the seeds of each criterion."""
    lines = ["| sparsity | " + " | ".join(CRITERIA) + " |", "|---:|" + "---:|" * len(CRITERIA)]
    for amount in SPARSITIES:
        cells = [mean_std(accuracy(results[c, amount], stage)) for c in CRITERIA]
        lines.append(f"| {amount:.0%} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict_lines(results: dict, stage: str, amount: float) -> str:
    """Markdown list: the criterion best on validation, and its paired verdict against each other one."""
    val = {c: statistics.mean(accuracy(results[c, amount], stage, "val")) for c in CRITERIA}
    best = max(val, key=val.get)
    ours = [r[stage]["test"] for r in results[best, amount]]
    lines = [f"- {stage}, {amount:.0%}: best on validation **{best}** ({val[best]:.2f}%)"]
    for other in CRITERIA:
        if other != best:
            theirs = [r[stage]["test"] for r in results[other, amount]]
            lines.append("  - " + tradeoff.paired_verdict(best, ours, other, theirs))
    return "\n".join(lines)


def caption(dm, args, dense: list[float]) -> str:
    """What the tables measured, for the package's copy of them."""
    return (f"LeNet-300-100 on the {dm.source} MNIST, six pruning criteria at {SPARSITIES[0]:.0%}–"
            f"{SPARSITIES[-1]:.0%} sparsity, one-shot and after {args.epochs} epochs of fine-tuning "
            f"(masks in force). {len(args.seeds)} seeds, each varying the initial weights, the order of "
            "the training images and the fine-tuning; every model is scored on the same "
            f"{len(dm.test_set):,} test images. Test accuracy (%), mean ± std over the seeds. Dense "
            f"LeNet-300-100 (8 epochs): {mean_std(dense)}%. Measured by the course's benchmark on "
            f"{os.cpu_count()} CPU cores, torch {torch.__version__}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs after pruning")
    args = parser.parse_args()
    start = time.perf_counter()
    print("# What to prune: six criteria, one-shot and fine-tuned\n")
    print(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPU cores, "
          f"{torch.get_num_threads()} torch threads; seeds {args.seeds} (initial weights, data order, "
          f"fine-tuning); {args.epochs} fine-tuning epochs. Timings are noisy when other jobs share the "
          "machine.")
    results: dict[tuple[str, float], list[dict]] = {}
    dense = []
    with training.quiet_lightning():
        for seed in args.seeds:
            dm = data.MNISTDataModule(source="offline", shuffle_seed=seed)
            L.seed_everything(seed, verbose=False)
            model = training.fit(models.LeNet300100(dm.dims, dm.num_classes), dm, num_epochs=8,
                                 seed=seed)
            dense.append(100 * float(tradeoff.correct_predictions(model, dm).float().mean()))
            for name, strategy in strategies(model, dm, seed).items():
                for amount in SPARSITIES:
                    row = run(model, dm, strategy, amount, seed, args.epochs)
                    results.setdefault((name, amount), []).append(row)
            print(f"seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\ndata: {dm.source}, {len(dm.train_set):,} train / {len(dm.val_set):,} validation / "
          f"{len(dm.test_set):,} test images; dense LeNet-300-100 (8 epochs): {mean_std(dense)}% test "
          "accuracy\n")
    tables = {stage: table(results, stage) for stage in STAGES}
    for stage in STAGES:
        print(f"{stage}: test accuracy (%), mean ± std over {len(args.seeds)} seeds\n\n{tables[stage]}\n")
    print("seconds per model (pruning + fine-tuning, mean over seeds and sparsities): "
          + ", ".join(f"{c} {statistics.mean(r['seconds'] for a in SPARSITIES for r in results[c, a]):.1f}"
                      for c in CRITERIA))
    print("\nBest criterion at each sparsity, chosen on the validation split, against the others on "
          "the test split:")
    verdicts = "\n".join(verdict_lines(results, stage, amount) for stage in STAGES for amount in SPARSITIES)
    print(verdicts)
    path = tradeoff.write_benchmark_table("criteria", "\n\n".join([
        caption(dm, args, dense), "One-shot:", tables["one-shot"], "Fine-tuned:", tables["fine-tuned"],
        "At each sparsity the criterion with the highest mean validation accuracy, against every other one "
        "on the test split, paired image by image and seed by seed:", verdicts]))
    print(f"\n(tables and verdicts written to {path}, for notebook 07)")
    print(f"\nTotal: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
