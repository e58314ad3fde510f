"""Benchmark: pruning while training (gradual, Lightning's ModelPruning) against one-shot and iterative.

Run from the repository root (``make benchmark`` does)::

    python benchmarks/schedules.py [--seeds 0 1 2] [--epochs 6]

It prints figures and asserts nothing. For each seed, a LeNet-300-100 is trained on the offline
MNIST (8 epochs, the checkpoint cache keeps it), then taken to each target sparsity three ways, each
with the same number of further training epochs:

- one-shot: global L1 pruning to the target, then fine-tuning (``tradeoff.sweep``);
- iterative: three rounds along the cubic schedule, each pruning then fine-tuning a third of the
  epochs (``tradeoff.iterative_sweep``);
- gradual: ``ModelPruning`` pruning at the end of the first epochs along the cubic schedule of Zhu &
  Gupta (2017), the last epochs fine-tuning (``tradeoff.gradual_sweep``).

Test accuracy is reported as mean ± standard deviation over the seeds (Blalock et al. 2020), with
the time each method takes, and the highest sparsity whose mean accuracy stays within 1 percentage
point of the dense mean.
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
BUDGET = 0.01  # 1 percentage point
METHODS = ("one-shot", "iterative", "gradual")
LOTTERY_TICKET = ("Frankle & Carbin (2019) keep LeNet-300-100 at dense accuracy down to 3.6% of its "
                  "weights (96.4% sparsity), with full MNIST and far longer training.")


def run_method(method: str, model, dm, target: float, epochs: int) -> dict:
    """One pruned, trained copy of ``model`` at ``target`` sparsity; its row, with the seconds it took."""
    start = time.perf_counter()
    if method == "one-shot":
        row = tradeoff.sweep(model, dm, [target], finetune_batches=None, finetune_epochs=epochs,
                             latency_repeats=1)[-1]
    elif method == "iterative":
        schedule = [pruning.cubic_sparsity(k, 3, target) for k in (1, 2, 3)]
        row = tradeoff.iterative_sweep(model, dm, schedule, finetune_batches=None,
                                       finetune_epochs=epochs // 3, latency_repeats=1)[-1]
    else:
        row = tradeoff.gradual_sweep(model, dm, [target], num_epochs=epochs, num_steps=2 * epochs // 3,
                                     latency_repeats=1)[-1]
    return {**row, "seconds": time.perf_counter() - start}


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=6, help="training epochs after the dense model")
    args = parser.parse_args()
    if args.epochs < 3 or args.epochs % 3:
        parser.error(f"--epochs must be a multiple of 3 (three iterative rounds), got {args.epochs}")
    start = time.perf_counter()
    print("# Pruning while training: gradual (ModelPruning) vs one-shot vs iterative\n")
    print(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPU cores, "
          f"{torch.get_num_threads()} torch threads; seeds {args.seeds}; {args.epochs} training epochs after "
          "the dense model for every method. Timings are noisy when other jobs share the machine.")
    dm = data.MNISTDataModule(source="offline")
    results: dict[tuple[str, float], list[dict]] = {}
    dense = []
    with training.quiet_lightning():
        for seed in args.seeds:
            L.seed_everything(seed, verbose=False)
            model = training.fit(models.LeNet300100(dm.dims, dm.num_classes), dm, num_epochs=8, seed=seed)
            dense.append(training.evaluate(model, dm))
            for target in TARGETS:
                for method in METHODS:
                    L.seed_everything(seed, verbose=False)
                    results.setdefault((method, target), []).append(
                        run_method(method, model, dm, target, args.epochs))
            print(f"seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    dense_mean, dense_std = mean_std(dense)
    print(f"\ndata: {dm.source}, {len(dm.train_set):,} train / {len(dm.test_set):,} test images; "
          f"dense LeNet-300-100 (8 epochs): {100 * dense_mean:.2f} ± {100 * dense_std:.2f}% test accuracy\n")
    print("| sparsity | " + " | ".join(f"{m}: accuracy (%) | {m}: s" for m in METHODS) + " |")
    print("|---:|" + "---:|---:|" * len(METHODS))
    for target in TARGETS:
        cells = []
        for method in METHODS:
            rows = results[(method, target)]
            accuracy_mean, accuracy_std = mean_std([r["accuracy"] for r in rows])
            cells += [f"{100 * accuracy_mean:.2f} ± {100 * accuracy_std:.2f}",
                      f"{statistics.mean(r['seconds'] for r in rows):.1f}"]
        reached = statistics.mean(r["sparsity"] for r in results[(METHODS[0], target)])
        print(f"| {100 * reached:.1f}% | " + " | ".join(cells) + " |")
    print(f"\nHighest sparsity with mean accuracy within {100 * BUDGET:.0f} pp of the dense mean "
          f"({100 * dense_mean:.2f}%):")
    best = {}
    for method in METHODS:
        rows = [{"sparsity": t, "accuracy": statistics.mean(r["accuracy"] for r in results[(method, t)])}
                for t in TARGETS]
        best[method] = tradeoff.highest_sparsity_within_budget(rows, dense_mean, BUDGET)
        print(f"- {method}: {f'{best[method]:.0%}' if best[method] else 'none of the targets'}")
    met = max(best.values()) >= 0.97
    print(f"\nAim (>= 97% sparsity within 1 pp of dense, any method): {'met' if met else 'NOT met'}.")
    print(f"Reference: {LOTTERY_TICKET}")
    print(f"\nTotal: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
