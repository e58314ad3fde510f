"""Measurements for pruned models: sparsity, parameter counts, size on disk, CPU latency.

Every function here is correct both while a module carries ``torch.nn.utils.prune``'s
re-parametrisation (``weight_orig`` parameter, ``weight_mask`` buffer, forward pre-hook) and
after ``prune.remove`` made the pruning permanent: it reads the *effective* tensor,
``weight_orig * weight_mask``, which is what the forward pass uses. Pruning itself is left to
``torch.nn.utils.prune``.
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
from typing import NamedTuple

import torch
from torch import nn

PRUNABLE_TYPES = (nn.Linear, nn.Conv2d)


class ParameterCount(NamedTuple):
    """Parameter counts of a model: ``total``, ``zeros`` and ``nonzero``."""

    total: int
    zeros: int
    nonzero: int


def sparsity(tensor: torch.Tensor) -> float:
    """Return the fraction of entries of ``tensor`` that are exactly zero (0.0 for an empty one).

    Sparsity is the fraction that is zero; density, ``1 - sparsity``, the fraction that is not.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"sparsity expects a torch.Tensor, got {type(tensor).__name__}")
    return float((tensor == 0).sum()) / tensor.numel() if tensor.numel() else 0.0


def effective_tensor(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """Return the tensor the forward pass uses for ``module.<name>`` (detached).

    For a pruned module that is ``<name>_orig * <name>_mask``, computed afresh (the
    ``module.<name>`` attribute is only refreshed by the next forward pass); otherwise it is the
    plain parameter or buffer.
    """
    orig, mask = getattr(module, f"{name}_orig", None), getattr(module, f"{name}_mask", None)
    if isinstance(orig, torch.Tensor) and isinstance(mask, torch.Tensor):
        return (orig * mask).detach()
    tensor = getattr(module, name, None)
    if not isinstance(tensor, torch.Tensor):
        names = sorted({n.removesuffix("_orig") for n, _ in module.named_parameters(recurse=False)})
        raise ValueError(f"{type(module).__name__} has no tensor {name!r}; it has {names}")
    return tensor.detach()


def module_sparsity(module: nn.Module, name: str = "weight") -> float:
    """Return the sparsity of ``module.<name>`` as the forward pass sees it (pruned or not)."""
    return sparsity(effective_tensor(module, name))


def parameters_to_prune(model: nn.Module, layer_types: tuple[type, ...] = PRUNABLE_TYPES,
                        name: str = "weight") -> list[tuple[nn.Module, str]]:
    """Return the ``(module, name)`` pairs to prune: every layer of ``layer_types``, in order.

    This is the list ``prune.global_unstructured`` takes.
    """
    pairs = [(m, name) for m in model.modules() if isinstance(m, layer_types)]
    if not pairs:
        raise ValueError(f"{type(model).__name__} has no layers of types "
                         f"{[t.__name__ for t in layer_types]} to prune")
    return pairs


def layer_sparsity(model: nn.Module, layer_types: tuple[type, ...] = PRUNABLE_TYPES,
                   name: str = "weight") -> dict[str, float]:
    """Return ``{layer name: sparsity of its weight}`` for every prunable layer of ``model``."""
    return {layer: module_sparsity(m, name) for layer, m in model.named_modules()
            if isinstance(m, layer_types)}


def global_sparsity(model: nn.Module, layer_types: tuple[type, ...] = PRUNABLE_TYPES,
                    name: str = "weight") -> float:
    """Return the fraction of zeros over all prunable weights of ``model`` together."""
    tensors = [effective_tensor(m, name) for m, _ in parameters_to_prune(model, layer_types, name)]
    zeros = sum(int((t == 0).sum()) for t in tensors)
    return zeros / sum(t.numel() for t in tensors)


def effective_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Return ``model``'s state_dict as a plain model would have it: masks applied, names restored.

    ``fc1.weight_orig`` and ``fc1.weight_mask`` become ``fc1.weight`` (their product); everything
    else is copied as is. The result loads into an unpruned model of the same class.
    """
    state = model.state_dict()
    plain = {}
    for key, tensor in state.items():
        if key.endswith("_mask") and key.removesuffix("_mask") + "_orig" in state:
            continue
        if key.endswith("_orig") and key.removesuffix("_orig") + "_mask" in state:
            base = key.removesuffix("_orig")
            plain[base] = tensor * state[base + "_mask"]
        else:
            plain[key] = tensor
    return {key: tensor.detach().clone() for key, tensor in plain.items()}


def count_parameters(model: nn.Module) -> ParameterCount:
    """Count all parameters of ``model`` as the forward pass sees them: total, zeros, non-zero.

    A pruned weight counts once (not as ``weight_orig`` plus ``weight_mask``), with its masked
    entries as zeros.
    """
    parameter_names = {n.removesuffix("_orig") if n.endswith("_orig") else n
                       for n, _ in model.named_parameters()}
    state = effective_state_dict(model)
    tensors = [state[n] for n in parameter_names]
    total = sum(t.numel() for t in tensors)
    zeros = sum(int((t == 0).sum()) for t in tensors)
    return ParameterCount(total, zeros, total - zeros)


def to_sparse_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Store every floating-point tensor with 2 or more dims in CSR form with int32 indices.

    Conv weights are viewed as ``(out_channels, rest)`` matrices. Each non-zero then costs its
    value (4 bytes in float32) plus a column index (4 bytes), so CSR is smaller than dense only
    above roughly 50% sparsity.
    """
    out = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        for key, tensor in state_dict.items():
            if tensor.is_floating_point() and tensor.dim() >= 2:
                csr = tensor.detach().reshape(tensor.shape[0], -1).to_sparse_csr()
                out[key] = torch.sparse_csr_tensor(
                    csr.crow_indices().to(torch.int32), csr.col_indices().to(torch.int32),
                    csr.values(), csr.shape, check_invariants=True)
            else:
                out[key] = tensor
    return out


def serialized_size(model: nn.Module, sparse: bool = False) -> int:
    """Return the bytes ``torch.save`` writes for ``model``'s effective state_dict.

    Args:
        model: A model, pruned or not; pruned weights are stored once, masks applied.
        sparse: Store weight matrices in CSR form (:func:`to_sparse_state_dict`) instead of dense.

    Returns:
        The size in bytes.
    """
    state = effective_state_dict(model)
    buffer = io.BytesIO()
    torch.save(to_sparse_state_dict(state) if sparse else state, buffer)
    return buffer.getbuffer().nbytes


def latency_ms(model: nn.Module, example_input: torch.Tensor, repeats: int = 50,
               warmup: int = 5, num_threads: int | None = 1) -> float:
    """Return the median CPU inference time of ``model(example_input)`` in milliseconds.

    The model is moved to the CPU and runs in eval mode under ``torch.inference_mode``;
    ``warmup`` calls are made first and not timed; the median of ``repeats`` timed calls is
    returned. By default torch runs on one thread while timing (and is set back afterwards):
    small models on a busy laptop or notebook server otherwise swing by orders of magnitude with
    thread contention, and one thread is what an edge device often gives a model. Pruned or not,
    the same dense kernels run: zeros alone do not make it faster.

    Args:
        model: The model to time.
        example_input: One input batch.
        repeats: Timed calls.
        warmup: Untimed calls first.
        num_threads: Torch threads while timing; ``None`` keeps the current setting.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1 or None, got {num_threads}")
    was_training, threads = model.training, torch.get_num_threads()
    model.cpu().eval()
    times = []
    try:
        torch.set_num_threads(num_threads or threads)
        with torch.inference_mode():
            x = example_input.cpu()
            for i in range(warmup + repeats):
                start = time.perf_counter()
                model(x)
                if i >= warmup:
                    times.append((time.perf_counter() - start) * 1e3)
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    return statistics.median(times)
