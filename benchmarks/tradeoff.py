"""Benchmark: what L1 pruning costs and buys, and how long the course notebooks take to run.

Run from the repository root (``make benchmark`` does)::

    python benchmarks/tradeoff.py [--skip-notebooks]

It prints figures and asserts nothing:

1. LeNet-300-100 on the offline MNIST (the packaged 8,000 train / 1,000 test digits): test
   accuracy, sparsity, non-zero parameters, file size (dense and CSR) and CPU latency for global
   and layer-wise one-shot L1 pruning, global pruning followed by fine-tuning, and iterative
   pruning (several prune / fine-tune rounds); the highest global sparsity that stays within
   0.5 percentage points of the dense accuracy after fine-tuning (chosen on the validation split,
   reported on the test split); the compression ratio of that
   model's saved file against the dense one; a Markdown table for the README, which it also writes
   into the package (``tradeoff.benchmark_table("tradeoff")``), for notebook 04 to show.
2. The same on full MNIST and on CIFAR-10 (VGGSmall) when their files are already on disk
   (nothing is downloaded here; otherwise they are reported as skipped).
3. The run time of every solution notebook, executed top to bottom with nbclient as
   ``tests/test_notebooks.py`` does, with a fresh checkpoint cache (what a learner's first run costs).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers import data, models, pruning, tradeoff, training  # noqa: E402

AMOUNTS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.98)
ITERATIVE = (0.5, 0.75, 0.9, 0.95, 0.98)  # target sparsities, one prune / fine-tune round each
BUDGET = 0.005  # 0.5 percentage points, as a fraction
HAN_2015 = ("Han et al. 2015 (Learning both Weights and Connections) pruned LeNet-300-100 to 8% of "
            "its weights (92% sparsity) with no accuracy loss after retraining, on full MNIST.")


@contextmanager
def environment(**values: str):
    """Set environment variables for the duration of a block."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def highest_within(rows: list[dict], dense_val_accuracy: float, budget: float = BUDGET) -> dict | None:
    """The row at the highest sparsity within the budget on the validation split, most accurate there.

    The choice uses the validation accuracy only, so the chosen row's test accuracy stays an honest
    estimate (None if no row is within the budget).
    """
    by_val = [{**row, "accuracy": row["val_accuracy"], "test_accuracy": row["accuracy"]} for row in rows]
    within = tradeoff.rows_within_budget(by_val, dense_val_accuracy, budget)
    best = max(within, key=lambda r: (r["sparsity"], r["accuracy"]), default=None)
    return None if best is None else {**best, "accuracy": best["test_accuracy"]}


def readme_table(one_shot: list[dict], layer: list[dict], iterative: list[dict], dense_bytes: int) -> str:
    """One line per sparsity: accuracy of each method, CSR file size and compression ratio."""
    def accuracy(rows, sparsity, finetuned):
        found = [r for r in rows if r["finetuned"] == finetuned and abs(r["sparsity"] - sparsity) < 1e-3]
        return f"{found[0]['accuracy']:.2%}" if found else "–"

    lines = ["| sparsity | layer-wise, one-shot | global, one-shot | global, one-shot + fine-tuning "
             "| global, iterative | CSR file (kB) | dense file / CSR file |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for row in (r for r in one_shot if not r["finetuned"]):
        s = row["sparsity"]
        lines.append(f"| {s:.0%} | {accuracy(layer, s, False)} | {row['accuracy']:.2%} "
                     f"| {accuracy(one_shot, s, True)} | {accuracy(iterative, s, True)} "
                     f"| {row['sparse_bytes'] / 1e3:,.0f} | {dense_bytes / row['sparse_bytes']:.2f}x |")
    return "\n".join(lines)


def package_table(dm, table: str, summary: dict, dense: dict, finetune_epochs: int, round_epochs: int) -> str:
    """The README table with what it measured and the decision, as ``tradeoff.benchmark_table`` shows it."""
    rounds = "/".join(f"{100 * s:.0f}" for s in ITERATIVE)
    text = (f"LeNet-300-100 on the {dm.source} MNIST ({len(dm.train_set):,} train / {len(dm.val_set):,} "
            f"validation / {len(dm.test_set):,} test images), trained for 8 epochs from seed 0, then "
            "pruned with L1 magnitude: one-shot layer-wise or global; one-shot global followed by "
            f"{finetune_epochs} whole epochs of fine-tuning at the training learning rate; iterative global "
            f"pruning ({len(ITERATIVE)} rounds to {rounds}% sparsity, {round_epochs} epochs of fine-tuning "
            "after each). Test accuracy, one seed; the CSR file stores the weight matrices with int32 "
            f"indices. Measured by the course's benchmark on {os.cpu_count()} CPU cores, torch "
            f"{torch.__version__}.\n\n{table}\n\n")
    best, one_shot = summary["best of both"], summary["one-shot + fine-tuning"]
    budget = f"within {100 * BUDGET:.1f} percentage points of the dense accuracy"
    if best is None:
        return text + f"No fine-tuned model is {budget}."
    method = "one-shot + fine-tuning" if best["method"] == "one-shot" else "iterative pruning"
    ratio = dense["bytes"] / best["sparse_bytes"]
    text += (f"Highest global sparsity {budget} after fine-tuning, chosen on the validation split (dense "
             f"{dense['val']:.2%}), then measured on the test split (dense {dense['test']:.2%}): "
             f"{best['sparsity']:.1%} ({method}, {best['nonzero']:,} non-zero parameters; validation "
             f"{best['val_accuracy']:.2%}, test {best['accuracy']:.2%}); its CSR file is "
             f"{best['sparse_bytes']:,} bytes, the dense file divided by {ratio:.2f}.")
    if one_shot is not None:
        text += f" One-shot + fine-tuning: {one_shot['sparsity']:.1%} (test {one_shot['accuracy']:.2%})."
    return text


def study(title: str, model, dm, finetune_epochs: int, round_epochs: int) -> dict:
    """Sweep, fine-tune, prune iteratively; print the tables and the decision; return the summary.

    The summary's ``"package_table"`` is the Markdown that :func:`package_table` makes of it.
    """
    print(f"\n## {title}\n")
    start = time.perf_counter()
    dense_accuracy = training.evaluate(model, dm)
    dense_val_accuracy = training.evaluate(model, dm, split="val")
    dense_bytes = pruning.serialized_size(model)
    print(f"data: {dm.source}, {len(dm.train_set):,} train / {len(dm.val_set):,} val / {len(dm.test_set):,} "
          f"test images; dense test accuracy {dense_accuracy:.2%}, validation {dense_val_accuracy:.2%}; "
          f"dense file {dense_bytes:,} bytes")
    one_shot = tradeoff.sweep(model, dm, AMOUNTS, prune=pruning.l1_global, finetune_batches=None,
                              finetune_epochs=finetune_epochs)
    layer = tradeoff.sweep(model, dm, AMOUNTS, prune=pruning.l1_layerwise)
    iterative = tradeoff.iterative_sweep(model, dm, ITERATIVE, finetune_batches=None,
                                         finetune_epochs=round_epochs)
    print(f"\n### One-shot L1 pruning; global also fine-tuned for {finetune_epochs} epoch(s) "
          "at the training learning rate\n")
    print(tradeoff.table(one_shot + layer, markdown=True))
    print(f"\n### Iterative global pruning: {len(ITERATIVE)} rounds, each pruning the fraction `amount` "
          f"of the remaining weights, then fine-tuning {round_epochs} epoch(s)\n")
    print(tradeoff.table(iterative, markdown=True))
    print("\n### For the README\n")
    print(readme_table(one_shot, layer, iterative, dense_bytes))
    print(f"\n### Highest global sparsity within {100 * BUDGET:.1f} pp of the dense accuracy after "
          f"fine-tuning, chosen on the validation split (dense {dense_val_accuracy:.2%}); test accuracy "
          f"of the chosen model (dense {dense_accuracy:.2%})\n")
    finetuned = [r for r in one_shot if r["finetuned"]]
    summary = {}
    for label, rows in (("one-shot + fine-tuning", finetuned), ("iterative", iterative),
                        ("best of both", finetuned + iterative)):
        best = highest_within(rows, dense_val_accuracy)
        summary[label] = best
        if best is None:
            print(f"- {label}: none")
            continue
        print(f"- {label}: **{best['sparsity']:.1%}** sparsity ({best['nonzero']:,} non-zero parameters), "
              f"validation accuracy {best['val_accuracy']:.2%}, "
              f"test accuracy {best['accuracy']:.2%} ({100 * (best['accuracy'] - dense_accuracy):+.1f} pp); "
              f"CSR file {best['sparse_bytes']:,} bytes = dense file / "
              f"{dense_bytes / best['sparse_bytes']:.2f} (compression ratio)")
    print(f"- reference: {HAN_2015}")
    n = len(dm.test_set)
    standard_error = 100 * math.sqrt(dense_accuracy * (1 - dense_accuracy) / n)
    print(f"- on {n:,} test images, 1 pp is {n / 100:,.0f} images; the standard error of an accuracy "
          f"near {dense_accuracy:.0%} is {standard_error:.2f} pp.")
    x = tradeoff.example_batch(dm)
    masked = pruning.prune_copy(model, 0.9)
    permanent = pruning.make_permanent(pruning.prune_copy(model, 0.9))
    latencies = [r["latency_ms"] for r in one_shot + layer + iterative]
    dense_ms, masked_ms, permanent_ms = (pruning.latency_ms(m, x, repeats=20)
                                         for m in (model, masked, permanent))
    print(f"- CPU latency of one image (median of 20 calls): dense model {dense_ms:.3f} ms; 90% pruned "
          f"{masked_ms:.3f} ms with its masks (forward pre-hooks multiply them in), "
          f"{permanent_ms:.3f} ms after prune.remove; the table rows (all with masks) "
          f"range from {min(latencies):.3f} to {max(latencies):.3f} ms. Unstructured zeros run through "
          "the same dense kernels.")
    print(f"\n({title}: {time.perf_counter() - start:.0f} s)")
    dense = {"val": dense_val_accuracy, "test": dense_accuracy, "bytes": dense_bytes}
    table = readme_table(one_shot, layer, iterative, dense_bytes)
    markdown = package_table(dm, table, summary, dense, finetune_epochs, round_epochs)
    return {**summary, "package_table": markdown}


def offline_mnist() -> dict:
    dm = data.MNISTDataModule(source="offline")
    L.seed_everything(0, verbose=False)  # the initial weights the notebooks' LeNet-300-100 starts from
    model = training.fit(models.LeNet300100(dm.dims, dm.num_classes), dm, num_epochs=8)
    summary = study("LeNet-300-100, offline MNIST", model, dm, finetune_epochs=4, round_epochs=2)
    path = tradeoff.write_benchmark_table("tradeoff", summary["package_table"])
    print(f"\n(the table and the decision written to {path}, for notebook 04)")
    return summary


def full_mnist() -> None:
    dm = data.MNISTDataModule(source="full")
    if not dm.full_present():
        print("\n## LeNet-300-100, full MNIST\n\nskipped: full MNIST is not on disk "
              f"({dm.data_dir}/MNIST/raw); run the notebooks online once to download it.")
        return
    L.seed_everything(0, verbose=False)
    model = training.fit(models.LeNet300100(dm.dims, dm.num_classes), dm, num_epochs=8)
    study("LeNet-300-100, full MNIST", model, dm, finetune_epochs=1, round_epochs=1)


def full_cifar10() -> None:
    dm = data.CIFAR10DataModule(source="full")
    if not dm.full_present():
        print("\n## VGGSmall, CIFAR-10\n\nskipped: CIFAR-10 is not on disk "
              f"({dm.data_dir}/cifar-10-batches-py); run notebook 04 online once to download it.")
        return
    L.seed_everything(0, verbose=False)
    model = training.fit(models.VGGSmall(dm.dims, dm.num_classes, widths=(16, 32, 64)), dm, num_epochs=3)
    study("VGGSmall (16-32-64), CIFAR-10", model, dm, finetune_epochs=1, round_epochs=1)


def notebook_times() -> None:
    """Execute every solution notebook with nbclient, each with a fresh checkpoint cache."""
    import nbformat
    from nbclient import NotebookClient

    print("\n## Solution notebooks: run time, top to bottom (fresh checkpoint cache, nbclient)\n")
    print("| notebook | run time (s) | result |\n|---|---:|---|")
    for path in sorted(ROOT.glob("solutions/[0-9]*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as cache, \
                environment(PRUNING_CACHE_DIR=cache):
            client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": work}})
            start = time.perf_counter()
            try:
                client.execute()
                result = "ok"
            except Exception as err:  # report and go on to the next notebook
                result = f"failed: {type(err).__name__}: {str(err).strip().splitlines()[-1][:120]}"
            print(f"| {path.parent.name} | {time.perf_counter() - start:.1f} | {result} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-notebooks", action="store_true", help="do not time the notebooks")
    args = parser.parse_args()
    start = time.perf_counter()
    print("# Pruning trade-off benchmark\n")
    print(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPU cores, "
          f"{torch.get_num_threads()} torch threads, GPU: "
          f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}. "
          "Timings are noisy when other jobs share the machine.")
    with training.quiet_lightning():
        summary = offline_mnist()
        full_mnist()
        full_cifar10()
    best = summary["best of both"]
    met = best is not None and best["sparsity"] >= 0.9
    print(f"\nRequirement (offline MNIST, after fine-tuning: within {100 * BUDGET:.1f} pp of the dense "
          f"validation accuracy at >= 90% global sparsity): {'met' if met else 'NOT met'}"
          + (f", at {best['sparsity']:.1%}." if best else "."))
    if not args.skip_notebooks:
        notebook_times()
    print(f"\nTotal: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
