"""What a pruned model is worth once shipped: compact storage, int8, and ONNX export.

- **The compact format** stores each weight tensor (2 or more dimensions) as a *bitmask* (one bit
  per entry: is it kept?) plus its kept values as int8, with one float32 scale per tensor
  (symmetric quantisation: ``value ≈ int8 * scale``, ``scale = max|w| / 127``). Everything else
  (biases, BatchNorm statistics) stays float32. :func:`compact_bytes` is the arithmetic,
  :func:`to_compact` / :func:`from_compact` the conversion, :func:`save_compact` /
  :func:`load_compact` the round trip through a file.
- **int8 dynamic quantisation** of the ``Linear`` layers (:func:`quantize_int8`, with
  ``torch.ao.quantization.quantize_dynamic``, deprecated in favour of torchao but still in torch).
- **ONNX**: :func:`export_onnx` writes a model with ``torch.onnx.export``; :func:`onnx_predict`
  runs it in onnxruntime. Both need the optional packages ``onnx``, ``onnxscript`` and
  ``onnxruntime`` (in the ``course`` extra); without them they raise an ``ImportError`` that says
  what to install.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune

from helpers import pruning

_BIT_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)
ONNX_PACKAGES = "onnx, onnxscript and onnxruntime"


def compact_bytes(weight: torch.Tensor) -> int:
    """Return the bytes the compact format needs for ``weight``.

    Reference for 06, exercise 4: one bit per entry for the mask, rounded up to whole bytes, one
    byte (int8) per non-zero entry, and 4 bytes for the tensor's float32 scale.

    Args:
        weight: The (pruned) weight tensor, zeros included.

    Returns:
        ``ceil(numel / 8) + nonzeros + 4``.
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    return math.ceil(weight.numel() / 8) + int(weight.count_nonzero()) + 4


def pack_bits(mask: torch.Tensor) -> torch.Tensor:
    """Pack a boolean tensor into uint8 bytes, 8 entries per byte, first entry in the highest bit."""
    bits = mask.detach().flatten().to(torch.uint8)
    bits = torch.cat([bits, bits.new_zeros(-len(bits) % 8)]).view(-1, 8)
    return (bits * _BIT_WEIGHTS).sum(dim=1, dtype=torch.uint8)


def unpack_bits(packed: torch.Tensor, numel: int) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: the first ``numel`` entries, as a flat boolean tensor."""
    bits = packed.unsqueeze(1).bitwise_and(_BIT_WEIGHTS).ne(0)
    return bits.flatten()[:numel]


def _is_weight(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() and tensor.dim() >= 2


def to_compact(state_dict: dict[str, torch.Tensor]) -> dict[str, object]:
    """Convert a state_dict to the compact format (weights as bitmask + int8 values + scale).

    Pruning masks are applied first (:func:`pruning.plain_state_dict`), so a pruned model's
    state_dict works as it is. Tensors with fewer than 2 dimensions, and integer tensors, are kept.
    Each weight becomes ``{"shape", "dtype", "bitmask"`` (uint8, 8 entries a byte), ``"values"``
    (int8, the kept entries in order), ``"scale"`` (a 0-dimensional float32 tensor)``}``: the tensors
    hold exactly the bytes :func:`compact_bytes` counts (a Python float would be pickled in 8 bytes).
    """
    compact = {}
    for key, tensor in pruning.plain_state_dict(state_dict).items():
        if not _is_weight(tensor):
            compact[key] = tensor
            continue
        weight = tensor.float()
        kept = weight != 0
        largest = weight.abs().max()
        scale = largest / 127 if largest > 0 else torch.ones(())  # a 0-dim float32 tensor: 4 bytes
        values = torch.round(weight[kept] / scale).clamp(-127, 127).to(torch.int8)
        compact[key] = {"shape": tuple(weight.shape), "dtype": str(tensor.dtype).removeprefix("torch."),
                        "bitmask": pack_bits(kept), "values": values, "scale": scale}
    return compact


def from_compact(compact: dict[str, object]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`to_compact`: a plain state_dict (weights dequantised: ``int8 * scale``)."""
    state = {}
    for key, entry in compact.items():
        if isinstance(entry, torch.Tensor):
            state[key] = entry
            continue
        shape = torch.Size(entry["shape"])
        kept = unpack_bits(entry["bitmask"], shape.numel())
        weight = torch.zeros(shape.numel(), dtype=torch.float32)
        weight[kept] = entry["values"].float() * entry["scale"]
        state[key] = weight.view(shape).to(getattr(torch, entry["dtype"]))
    return state


def save_compact(model: nn.Module, path: str | os.PathLike) -> int:
    """Save ``model``'s weights in the compact format to ``path``; return the file's size in bytes."""
    path = Path(path)
    torch.save(to_compact(model.state_dict()), path)
    return path.stat().st_size


def load_compact(path: str | os.PathLike, model: nn.Module) -> nn.Module:
    """Load weights saved by :func:`save_compact` into ``model`` (same architecture, no masks); return it.

    ``model`` must be plain (no ``weight_orig``/``weight_mask``): the file holds effective weights.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no compact model file at {path}")
    if prune.is_pruned(model):
        raise ValueError("model carries pruning masks; load into a fresh, unpruned model")
    model.load_state_dict(from_compact(torch.load(path, map_location="cpu", weights_only=True)))
    return model


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes ``torch.save`` writes for ``model.state_dict()`` as it is (masks included, int8 included)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def quantize_int8(model: nn.Module) -> nn.Module:
    """Return a copy of ``model`` with every ``Linear`` layer dynamically quantised to int8.

    Weights are stored as int8 with a per-tensor scale; activations are quantised on the fly at
    each call (``torch.ao.quantization.quantize_dynamic``). Runs on the CPU only. Torch marks
    ``torch.ao.quantization`` as deprecated in favour of torchao; exactly those notices are silenced.
    Pruning masks are made permanent in the copy first.
    """
    plain = pruning.make_permanent(pruning.copy_model(model)).cpu().eval()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated")
        warnings.filterwarnings("ignore", message="torch.quantize_per_tensor, torch.quantize_per_channel")
        return torch.ao.quantization.quantize_dynamic(plain, {nn.Linear}, dtype=torch.qint8)


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ImportError(f"ONNX export needs {ONNX_PACKAGES}: pip install 'pruning-workbook[course]' "
                          "(or pip install onnx onnxscript onnxruntime)") from error


def onnx_available() -> bool:
    """Are the optional ONNX packages installed?"""
    try:
        _require_onnx()
    except ImportError:
        return False
    return True


def export_onnx(model: nn.Module, example_input: torch.Tensor, path: str | os.PathLike) -> int:
    """Export ``model`` to ONNX at ``path`` with a dynamic batch dimension; return the file size in bytes.

    Uses ``torch.onnx.export`` (the ``torch.export``-based exporter); input ``"input"``, output
    ``"logits"``. The model is exported in eval mode, on the CPU, with pruning masks made permanent
    in a copy.
    """
    _require_onnx()
    plain = pruning.make_permanent(pruning.copy_model(model)).cpu().eval()
    path = Path(path)
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(plain, (example_input.cpu(),), path, input_names=["input"],
                          output_names=["logits"], dynamic_shapes=({0: batch},),
                          dynamo=True, verbose=False, external_data=False)
    return path.stat().st_size


def onnx_session(path: str | os.PathLike, num_threads: int = 1):
    """An onnxruntime ``InferenceSession`` for the file at ``path``, on the CPU with ``num_threads``."""
    _require_onnx()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_predict(session, inputs: torch.Tensor) -> torch.Tensor:
    """Run an onnxruntime session on a batch; return the logits as a torch tensor."""
    (logits,) = session.run(["logits"], {"input": inputs.cpu().numpy()})
    return torch.from_numpy(logits)
