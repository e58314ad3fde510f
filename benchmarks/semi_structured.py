"""Benchmark: 2:4 semi-structured sparsity on an NVIDIA GPU (skipped, with the reason, elsewhere).

Run from the repository root::

    python benchmarks/semi_structured.py

In every group of 4 consecutive weights of a row, the 2 smallest magnitudes are zeroed; the weight
is then stored with ``torch.sparse.to_sparse_semi_structured`` and multiplied on the sparse tensor
cores (compute capability 8.0 and newer). For square fp16 layers of several sizes and a batch of
4,096 rows it prints the dense and the 2:4 time (CUDA events, mean of 50 calls after 10 warm-up
calls), the speed-up with each of torch's two sets of 2:4 kernels (cuSPARSELt, CUTLASS), and the
largest difference of the outputs. It also tries LeNet-300-100's ``fc1`` (300 x 784), to show
which shapes the sparse kernels accept: ``torch/sparse/semi_structured.py`` requires both dimensions
of the sparse weight to be multiples of (and at least) the backend's minimum for its dtype:
cuSPARSELt 16 x 16 for fp16 and bf16, 32 x 32 for int8 and fp8 (e4m3); CUTLASS 32 x 64 for fp16 and
bf16, 16 x 128 for int8, 32 x 32 for fp32. ``fc1``'s 300 output rows are not a multiple of 16 (its
784 inputs are: 49 x 16). It asserts nothing. Where it ran, it writes its table where notebook 06
reads it (``tradeoff.write_benchmark_table("semi_structured", ...)``); where it is skipped it writes
nothing, so the table measured on a GPU stays.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import tradeoff  # noqa: E402
from helpers.structured import two_four_mask  # noqa: E402

SIZES = (1024, 4096, 8192, 16384)
BATCH = 4096


def gpu_ms(layer: nn.Module, x: torch.Tensor, warmup: int = 10,
           repeats: int = 50) -> tuple[float, torch.Tensor]:
    """Mean milliseconds per call of ``layer(x)`` on the GPU (CUDA events), and the last output."""
    with torch.inference_mode():
        for _ in range(warmup):
            out = layer(x)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            out = layer(x)
        end.record()
        torch.cuda.synchronize()
    return start.elapsed_time(end) / repeats, out


def compare(in_features: int, out_features: int, batch: int = BATCH, cutlass: bool = False) -> str:
    """One table row: dense vs 2:4 time of an fp16 Linear layer, or why it could not run."""
    from torch.sparse import SparseSemiStructuredTensor, to_sparse_semi_structured

    SparseSemiStructuredTensor._FORCE_CUTLASS = cutlass

    torch.manual_seed(0)
    layer = nn.Linear(in_features, out_features, bias=False).half().cuda().eval()
    with torch.no_grad():
        layer.weight.mul_(two_four_mask(layer.weight))
    x = torch.randn(batch, in_features, dtype=torch.half, device="cuda")
    dense_ms, dense_out = gpu_ms(layer, x)
    try:
        layer.weight = nn.Parameter(to_sparse_semi_structured(layer.weight), requires_grad=False)
        sparse_ms, sparse_out = gpu_ms(layer, x)
    except (RuntimeError, ValueError) as error:  # report the kernels' own refusal and go on
        reason = str(error).splitlines()[0][:90]
        return (f"| {backend(cutlass)} | {out_features} x {in_features} | {dense_ms:.3f} | – | – "
                f"| refused: {reason} |")
    difference = (dense_out.float() - sparse_out.float()).abs().max().item()
    return (f"| {backend(cutlass)} | {out_features} x {in_features} | {dense_ms:.3f} | {sparse_ms:.3f} "
            f"| {dense_ms / sparse_ms:.2f}x | {difference:.3g} |")


def backend(cutlass: bool) -> str:
    return "CUTLASS" if cutlass else "cuSPARSELt"


def main() -> None:
    warnings.filterwarnings("ignore", message="The PyTorch API of SparseSemiStructuredTensor is in prototype")
    print("# 2:4 semi-structured sparsity: dense vs sparse fp16 Linear layers\n")
    if not torch.cuda.is_available() or torch.cuda.get_device_capability() < (8, 0):
        found = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA GPU"
        print(f"Skipped: the 2:4 sparse kernels need an NVIDIA GPU of compute capability 8.0 or newer; "
              f"this machine has {found}. The table measured on a GPU stays as it was.")
        return
    lines = [f"Measured on {torch.cuda.get_device_name()}, torch {torch.__version__}, Python "
             f"{sys.version.split()[0]}; batch {BATCH:,} rows, fp16, CUDA events, mean of 50 calls.", "",
             "| kernels | weight (out x in) | dense (ms) | 2:4 (ms) | speed-up | largest output difference |",
             "|---|---|---:|---:|---:|---:|"]
    for line in lines:
        print(line)
    for cutlass in (False, True):
        for size in SIZES:
            lines.append(compare(size, size, cutlass=cutlass))
            print(lines[-1], flush=True)
    lines.append(compare(784, 300, batch=256))
    print(lines[-1], flush=True)
    print(f"\nwritten to {tradeoff.write_benchmark_table('semi_structured', chr(10).join(lines))}")


if __name__ == "__main__":
    main()
