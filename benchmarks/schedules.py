"""Benchmark: pruning while training (gradual, Lightning's ModelPruning) against one-shot and iterative.

Run from the repository root (``make benchmark`` does)::

    python benchmarks/schedules.py [--seeds 0 1 2] [--epochs 6]

It prints figures and asserts nothing, and writes its tables where notebook 05 shows them
(``tradeoff.benchmark_table("schedules")``). For each seed ``s``, a LeNet-300-100 is trained on the
offline MNIST (8 epochs; the checkpoint cache keeps it) from seed ``s``'s initial weights, in seed
``s``'s order of the training images (``MNISTDataModule(shuffle_seed=s)``; the splits are those of
seed 0 for every seed, so all models are scored on the same validation and test images). It is then
taken to each target sparsity four ways, each with the same number of further training epochs
(every training run seeded with ``s``, in seed ``s``'s data order):

- one-shot: global L1 pruning to the target, then fine-tuning for all the epochs;
- iterative: three rounds along the cubic schedule, each pruning then fine-tuning a third of the
  epochs (the learning rate's one-cycle schedule restarts each round);
- ModelPruning (epoch ends): Lightning's callback prunes at the end of the first two thirds of the
  epochs along the cubic schedule, in one training run, the last third fine-tunes;
- gradual: Zhu & Gupta (2017), pruning every 10 training steps along the cubic schedule during the
  first two thirds of the epochs (``pruning.gradual_pruning``), in one training run, the last third
  fine-tunes.

(``tradeoff.train_pruned`` does each.)

Test accuracy is reported as mean ± standard deviation over the seeds (Blalock et al. 2020), with
the seconds each method takes. Choices are made on the validation split: the highest sparsity whose
mean validation accuracy stays within 1 percentage point of the dense mean, and at each sparsity the
method with the best mean validation accuracy, compared with every other on the test split, paired
image by image and seed by seed (``tradeoff.paired_verdict``).
"""

from __future__ import annotations

import argparse
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

TARGETS = (0.8, 0.9, 0.95, 0.97, 0.98)
BUDGET = 1.0  # percentage points
METHODS = tradeoff.PRUNING_METHODS
LOTTERY_TICKET = ("Frankle & Carbin (2019) keep LeNet-300-100 at dense accuracy down to 3.6% of its "
                  "weights (96.4% sparsity), with full MNIST and far longer training.")


def run(method: str, model, dm, target: float, epochs: int, seed: int) -> dict:
    """One pruned, trained copy: its sparsity, per-image results on both splits, and the seconds."""
    start = time.perf_counter()
    pruned = tradeoff.train_pruned(method, model, dm, target, epochs, seed=seed)
    seconds = time.perf_counter() - start
    return {"sparsity": pruning.global_sparsity(pruned), "seconds": seconds,
            **{split: tradeoff.correct_predictions(pruned, dm, split) for split in ("val", "test")}}


def accuracies(runs: list[dict], split: str = "test") -> list[float]:
    return [100 * float(r[split].float().mean()) for r in runs]


def mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.2f}"


def load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def report(results: dict, dense: list[dict], seeds: list[int], epochs: int) -> list[str]:
    """The benchmark's Markdown: the table, the choice on validation, the paired verdicts."""
    lines = [f"Dense LeNet-300-100 (8 epochs): **{mean_std(accuracies(dense))}%** test accuracy, "
             f"{mean_std(accuracies(dense, 'val'))}% validation; mean ± std over seeds {seeds}, which vary "
             "the initial weights, the order of the training images and every training run. Each method "
             f"then trains {epochs} epochs.", "",
             "| sparsity | " + " | ".join(f"{m}: test (%) | s" for m in METHODS) + " |",
             "|---:|" + "---:|---:|" * len(METHODS)]
    for target in TARGETS:
        cells = [f"{mean_std(accuracies(results[m, target]))} | "
                 f"{statistics.mean(r['seconds'] for r in results[m, target]):.1f}" for m in METHODS]
        reached = statistics.mean(r["sparsity"] for r in results[METHODS[0], target])
        lines.append(f"| {100 * reached:.1f}% | " + " | ".join(cells) + " |")
    dense_val = statistics.mean(accuracies(dense, "val"))
    lines += ["", f"Highest sparsity whose mean **validation** accuracy is within {BUDGET:.0f} pp of the "
              f"dense mean ({dense_val:.2f}%), and its test accuracy:"]
    for method in METHODS:
        within = [t for t in TARGETS
                  if statistics.mean(accuracies(results[method, t], "val")) >= dense_val - BUDGET - 1e-9]
        best = max(within, default=None)
        lines.append(f"- {method}: " + (f"{best:.0%} (test {mean_std(accuracies(results[method, best]))}%)"
                                        if best else "none of the targets"))
    lines += ["", "At each sparsity, the method with the best mean validation accuracy against each other "
              "method on the test split, paired image by image and seed by seed:"]
    for target in TARGETS:
        val = {m: statistics.mean(accuracies(results[m, target], "val")) for m in METHODS}
        best = max(val, key=val.get)
        lines.append(f"- {target:.0%}: best on validation **{best}** ({val[best]:.2f}%)")
        lines += ["  - " + tradeoff.paired_verdict(best, [r["test"] for r in results[best, target]],
                                                    other, [r["test"] for r in results[other, target]])
                  for other in METHODS if other != best]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=6, help="training epochs after the dense model")
    args = parser.parse_args()
    if args.epochs < 3 or args.epochs % 3:
        parser.error(f"--epochs must be a multiple of 3 (three iterative rounds), got {args.epochs}")
    start = time.perf_counter()
    machine = (f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPU cores, "
               f"{torch.get_num_threads()} torch threads; load average {load_average()} before")
    print("# Pruning while training: gradual, ModelPruning at epoch ends, one-shot, iterative\n")
    print(machine, flush=True)
    results: dict[tuple[str, float], list[dict]] = {}
    dense = []
    with training.quiet_lightning():
        for seed in args.seeds:
            dm = data.MNISTDataModule(source="offline", shuffle_seed=seed)
            L.seed_everything(seed, verbose=False)
            model = training.fit(models.LeNet300100(dm.dims, dm.num_classes), dm, num_epochs=8, seed=seed)
            dense.append({split: tradeoff.correct_predictions(model, dm, split) for split in ("val", "test")})
            for target in TARGETS:
                for method in METHODS:
                    results.setdefault((method, target), []).append(
                        run(method, model, dm, target, args.epochs, seed))
            print(f"seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    lines = report(results, dense, args.seeds, args.epochs)
    lines += ["", f"Reference: {LOTTERY_TICKET}", "",
              f"Measured with {machine}, {load_average()} after; {time.perf_counter() - start:.0f} s in all; "
              f"data: {dm.source}, {len(dm.train_set):,} train / {len(dm.val_set):,} validation / "
              f"{len(dm.test_set):,} test images."]
    print("\n" + "\n".join(lines))
    print(f"\nwritten to {tradeoff.write_benchmark_table('schedules', chr(10).join(lines))}")


if __name__ == "__main__":
    main()
