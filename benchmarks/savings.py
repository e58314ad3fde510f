"""Benchmark: what each lever buys (notebook 06): unstructured, structured, int8, and their stacks.

Run from the repository root (``make benchmark`` does)::

    python benchmarks/savings.py [--seeds 0 1 2]

It prints figures and asserts nothing, and writes its Markdown results where notebook 06 reads them
(``tradeoff.write_benchmark_table("savings", ...)``). For each seed ``s``, LeNet-300-100 (8 epochs)
and SmallCNN (3 epochs) are trained on the offline MNIST (the checkpoint cache keeps them) from seed
``s``'s initial weights, in seed ``s``'s order of the training images
(``MNISTDataModule(shuffle_seed=s)``; the splits stay those of seed 0, so every model is scored on
the same validation and test images), then turned into:

- **unstructured**: global L1 pruning (LeNet 95%, CNN 90%) + fine-tuning, saved in the compact
  format (bitmask + int8 values) and evaluated *after loading the file back*;
- **structured**: half the hidden units (LeNet, by hand) or half the channels (CNN, Torch-Pruning)
  removed, + fine-tuning, saved as a plain float32 state_dict;
- **int8**: dynamic int8 quantisation of the ``Linear`` layers of the dense model;
- **structured + int8**: both;
- **structured + unstructured** (LeNet): half the units removed, then 90% of what is left, +
  fine-tuning, compact format: the smallest file.

Fine-tuning is 2 epochs (LeNet) or 1 epoch (CNN) at the training learning rate, seeded with ``s`` in
seed ``s``'s data order (``training.finetune(..., seed=s)``). Accuracies are mean ± std over the seeds
(and each seed's value); parameters (non-zero), MACs per image, file size and CPU latency (one
thread, median and IQR of repeated blocks, ``timing.latency``; pruning made permanent; batch 1 and
256) are from the first seed. Two goals are printed:

1. the structured models' speed-up at batch 256 on one thread against their MAC ratio (goal: at
   least 70%), per runtime: eager PyTorch, eager in channels-last memory format (CNN), onnxruntime,
   and ``torch.compile`` (skipped, with the reason, where it cannot compile: it needs a C++
   compiler on the CPU);
2. the smallest LeNet file whose mean **validation** accuracy is within 1 percentage point of dense
   (goal: at least 20x smaller than the dense float32 file), reported on the test split, with the
   paired test-set verdict against dense (``tradeoff.paired_verdict``).

The load average is printed before and after: timings are only comparable on an idle machine.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import compact, data, models, pruning, structured, timing, tradeoff, training  # noqa: E402

SPEEDUP_GOAL = 0.7  # measured speed-up / MAC ratio at batch 256
SIZE_GOAL = 20.0  # dense float32 file / smallest file within the accuracy budget
BUDGET = 0.01  # 1 percentage point
LINES: list[str] = []


def out(line: str = "") -> None:
    """Print a line of the report and keep it for the Markdown file."""
    print(line, flush=True)
    LINES.append(line)


def load_average() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"


def scores(model, dm) -> dict[str, torch.Tensor]:
    """Per-image results on the validation and test splits (``tradeoff.correct_predictions``).

    An int8 model from ``quantize_dynamic`` has no parameters (its weights are packed), so
    ``correct_predictions`` cannot tell its device; it runs on the CPU, where its images are scored here.
    """
    if next(model.parameters(), None) is not None:
        return {split: tradeoff.correct_predictions(model, dm, split) for split in ("val", "test")}
    model.eval()
    with torch.inference_mode():
        return {split: torch.cat([model(x).argmax(1) == y for x, y in loader()])
                for split, loader in (("val", dm.val_dataloader), ("test", dm.test_dataloader))}


def compact_scores(model, fresh, dm) -> tuple[dict[str, torch.Tensor], int]:
    """Save ``model`` compactly, load it into ``fresh``: the loaded model's per-image results, the bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.compact.pt"
        size = compact.save_compact(model, path)
        loaded = compact.load_compact(path, fresh)
    return scores(loaded, dm), size


Variant = tuple[torch.nn.Module, dict[str, torch.Tensor], int, torch.nn.Module]


def variants(kind: str, dense, dm, seed: int) -> dict[str, Variant]:
    """``{name: (model, per-image results, file bytes, float model)}`` for one trained dense model; the
    float model is the one whose parameters and MACs count (an int8 model's: the one it came from)."""
    epochs = 2 if kind == "LeNet-300-100" else 1
    x = tradeoff.example_batch(dm, 1)
    new = (lambda: models.LeNet300100(dm.dims, dm.num_classes)) if kind == "LeNet-300-100" else (
        lambda: models.SmallCNN(dm.dims, dm.num_classes))
    shrink = (lambda m: structured.shrink_mlp(m, 0.5)) if kind == "LeNet-300-100" else (
        lambda m: structured.prune_channels(m, x, 0.5))
    out_ = {"dense": (dense, scores(dense, dm), pruning.serialized_size(dense), dense)}

    L.seed_everything(seed, verbose=False)
    sparse = pruning.prune_copy(dense, 0.95 if kind == "LeNet-300-100" else 0.9)
    training.finetune(sparse, dm, num_batches=None, num_epochs=epochs, seed=seed)
    out_["unstructured (compact)"] = (sparse, *compact_scores(sparse, new(), dm), sparse)

    L.seed_everything(seed, verbose=False)
    small = training.finetune(shrink(dense), dm, num_batches=None, num_epochs=epochs, seed=seed)
    out_["structured"] = (small, scores(small, dm), pruning.serialized_size(small), small)

    for name, model in (("int8", dense), ("structured + int8", small)):
        int8 = compact.quantize_int8(model)
        out_[name] = (int8, scores(int8, dm), compact.state_dict_bytes(int8), model)

    if kind == "LeNet-300-100":
        L.seed_everything(seed, verbose=False)
        stacked = pruning.prune_l1(shrink(dense), 0.9)
        training.finetune(stacked, dm, num_batches=None, num_epochs=epochs, seed=seed)
        out_["structured + unstructured (compact)"] = (stacked, *compact_scores(stacked, shrink(new()), dm),
                                                       stacked)
    return out_


def describe(model, float_model, x1, x256) -> dict:
    """Parameters and MACs (of ``float_model``) and latency timings (of ``model``, pruning made permanent)."""
    model = pruning.make_permanent(pruning.copy_model(model))
    return {"nonzero": pruning.count_parameters(float_model).nonzero,
            "macs": structured.macs_per_example(float_model, x1),
            "b1": timing.latency(model, x1), "b256": timing.latency(model, x256, max_run_time=2.0)}


def accuracy(runs: list[dict[str, torch.Tensor]], split: str) -> list[float]:
    return [float(r[split].float().mean()) for r in runs]


def mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * spread:.2f}"


def study(kind: str, train, seeds: list[int]) -> dict:
    runs, first = {}, None
    for seed in seeds:
        dm = data.MNISTDataModule(source="offline", shuffle_seed=seed)
        dm.prepare_data()
        dm.setup()
        results = variants(kind, train(dm, seed), dm, seed)
        for name, (_, correct, _, _) in results.items():
            runs.setdefault(name, []).append(correct)
        if first is None:
            x1, x256 = tradeoff.example_batch(dm, 1), tradeoff.example_batch(dm, 256)
            first = {name: {"bytes": size, "model": model, **describe(model, float_model, x1, x256)}
                     for name, (model, _, size, float_model) in results.items()}
        print(f"{kind}, seed {seed} done", flush=True)
    dense = first["dense"]
    out(f"\n### {kind}\n")
    out("| model | validation (%) | test (%) | non-zero params | MACs / image | file (kB) | smaller | "
        "1 image (ms, IQR) | 256 images (ms, IQR) | speed-up at 256 (interval): verdict |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, facts in first.items():
        verdict = "–" if name == "dense" else str(timing.compare(dense["b256"], facts["b256"]))
        b1, b256 = facts["b1"], facts["b256"]
        out(f"| {name} | {mean_std(accuracy(runs[name], 'val'))} | {mean_std(accuracy(runs[name], 'test'))} "
            f"| {facts['nonzero']:,} | {facts['macs']:,} | {facts['bytes'] / 1e3:,.1f} | "
            f"{dense['bytes'] / facts['bytes']:.1f}x | {b1.median_ms:.3f} ({b1.iqr_ms:.3f}) | "
            f"{b256.median_ms:.2f} ({b256.iqr_ms:.2f}) | {verdict} |")
    out("\nTest accuracy (%) per seed: " + "; ".join(
        f"{name}: {', '.join(f'{100 * a:.1f}' for a in accuracy(r, 'test'))}" for name, r in runs.items()))
    return {"runs": runs, "facts": first, "example": tradeoff.example_batch(dm, 256)}


def channels_last(model: torch.nn.Module):
    return copy.deepcopy(model).to(memory_format=torch.channels_last)


def runtime_timings(model, x) -> dict[str, timing.Timing | str]:
    """``{runtime: Timing}`` of ``model(x)`` on one thread, or the reason a runtime was skipped."""
    model = pruning.make_permanent(pruning.copy_model(model)).eval()
    result: dict[str, timing.Timing | str] = {"eager": timing.latency(model, x, max_run_time=2.0)}
    if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        result["eager, channels-last"] = timing.latency(
            channels_last(model), x.contiguous(memory_format=torch.channels_last), max_run_time=2.0)
    else:
        result["eager, channels-last"] = "no convolutions: the memory format changes nothing"
    if compact.onnx_available():
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            compact.export_onnx(model, x[:1], path)
            session = compact.onnx_session(path, num_threads=1)
            result["onnxruntime"] = timing.time_call(lambda: compact.onnx_predict(session, x),
                                                     max_run_time=2.0)
    else:
        result["onnxruntime"] = f"needs {compact.ONNX_PACKAGES}"
    try:
        compiled = torch.compile(model)
        with torch.inference_mode():
            compiled(x)
        result["torch.compile"] = timing.latency(compiled, x, max_run_time=2.0)
    except Exception as error:  # noqa: BLE001 (no C++ compiler, or inductor's own refusal: report it and go on)
        result["torch.compile"] = f"skipped: {type(error).__name__}: {str(error).splitlines()[0][:80]}"
    return result


def speed_goal(kind: str, result: dict) -> None:
    dense, small = result["facts"]["dense"], result["facts"]["structured"]
    ratio = dense["macs"] / small["macs"]
    x = result["example"]
    dense_t, small_t = runtime_timings(dense["model"], x), runtime_timings(small["model"], x)
    out(f"\n{kind}, batch 256, one thread, MAC ratio {ratio:.2f}x:\n")
    out("| runtime | dense (ms, IQR) | structured (ms, IQR) | speed-up (interval): verdict | "
        f"share of MAC ratio | goal (>= {SPEEDUP_GOAL:.0%}) |")
    out("|---|---:|---:|---|---:|---|")
    for runtime, d in dense_t.items():
        s = small_t[runtime]
        if isinstance(d, str) or isinstance(s, str):
            out(f"| {runtime} | – | – | {d if isinstance(d, str) else s} | – | – |")
            continue
        c = timing.compare(d, s)
        share = c.speedup / ratio
        goal = "too noisy to tell" if c.verdict.startswith("too noisy") else ("met" if share >= SPEEDUP_GOAL
                                                                              else "NOT met")
        out(f"| {runtime} | {d} | {s} | {c} | {share:.0%} | {goal} |")
    if isinstance(dense_t["eager, channels-last"], timing.Timing):
        c = timing.compare(dense_t["eager"], dense_t["eager, channels-last"])
        out(f"\nThe dense {kind.split(',')[0]}: channels-last against the default (NCHW) memory format: {c}")


def size_goal(lenet: dict) -> None:
    runs, facts = lenet["runs"], lenet["facts"]
    dense_val = statistics.mean(accuracy(runs["dense"], "val"))
    out(f"\nGoal 2 (a saved LeNet-300-100 >= {SIZE_GOAL:.0f}x smaller than dense float32, mean validation "
        f"accuracy within {100 * BUDGET:.0f} pp of dense {100 * dense_val:.2f}%, chosen on validation, "
        "reported on test):")
    floor = dense_val - BUDGET - tradeoff.ACCURACY_TOLERANCE
    within = [name for name in facts if statistics.mean(accuracy(runs[name], "val")) >= floor]
    name = max(within, key=lambda n: facts["dense"]["bytes"] / facts[n]["bytes"])
    ratio = facts["dense"]["bytes"] / facts[name]["bytes"]
    out(f"- smallest within budget on validation: {name}, {ratio:.1f}x smaller "
        f"({facts[name]['bytes'] / 1e3:.1f} kB), validation {mean_std(accuracy(runs[name], 'val'))}%, "
        f"test {mean_std(accuracy(runs[name], 'test'))}% against dense "
        f"{mean_std(accuracy(runs['dense'], 'test'))}%, evaluated after loading the file back: "
        f"{'met' if ratio >= SIZE_GOAL else 'NOT met'}")
    for other in facts:
        if other != "dense":
            out("- test, paired: " + tradeoff.paired_verdict(
                other, [r["test"] for r in runs[other]], "dense", [r["test"] for r in runs["dense"]]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    start = time.perf_counter()
    before = load_average()
    out("## What each lever buys: unstructured, structured, int8 (notebook 06)\n")
    out(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPU cores; "
        f"seeds {args.seeds} (initial weights, data order, fine-tuning; the same validation and test images "
        "for every seed); latency on one thread, median and IQR of repeated blocks.")

    def lenet_fit(dm, s):
        L.seed_everything(s, verbose=False)
        return training.fit(models.LeNet300100(dm.dims, dm.num_classes), dm, num_epochs=8, seed=s)

    def cnn_fit(dm, s):
        L.seed_everything(s, verbose=False)
        return training.fit(models.SmallCNN(dm.dims, dm.num_classes), dm, num_epochs=3, seed=s)

    with training.quiet_lightning():
        lenet = study("LeNet-300-100", lenet_fit, args.seeds)
        cnn = study("SmallCNN", cnn_fit, args.seeds)
    out(f"\nGoal 1 (structured, batch 256, one thread: speed-up >= {SPEEDUP_GOAL:.0%} of the MAC ratio), "
        "per runtime:")
    speed_goal("LeNet-300-100, half the units", lenet)
    speed_goal("SmallCNN, half the channels", cnn)
    size_goal(lenet)
    out("\nReference: Han et al. (2016), Deep Compression, 40x for LeNet-300-100 with pruning, "
        "quantisation and Huffman coding, on full MNIST.")
    out(f"\nLoad average (1, 5, 15 min) before: {before}; after: {load_average()}. "
        f"Total: {time.perf_counter() - start:.0f} s.")
    path = tradeoff.write_benchmark_table("savings", "\n".join(LINES))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
