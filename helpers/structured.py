"""Structured pruning that removes whole units, so that layers really get smaller.

Unstructured pruning (``pruning``) leaves every tensor its full shape: the zeros are stored and
multiplied like any other number. Structured pruning removes whole rows of a ``Linear`` weight
(output units) or whole output channels of a ``Conv2d``, and then *rebuilds* smaller layers. Every
layer that reads the removed outputs has to lose the matching inputs too: that dependency is the
whole difficulty.

- By hand, for a stack of ``Linear`` layers: :func:`rows_to_keep` picks the rows with the largest
  L2 norms (what ``prune.ln_structured(..., n=2, dim=0)`` keeps), :func:`shrink_linear_pair`
  rebuilds a layer and the next one, :func:`shrink_mlp` does it for every hidden layer.
- With a dependency graph, for any CNN: :func:`prune_channels` uses Torch-Pruning
  (``torch_pruning``), which traces the model and removes coupled channels together (a conv's
  outputs, the next conv's inputs, a BatchNorm's entries, the columns of a linear layer after a
  flatten).
- :func:`macs_per_example` counts multiply-accumulates with torch's own
  ``torch.utils.flop_counter.FlopCounterMode``.
- :func:`two_four_mask` gives the 2:4 semi-structured pattern that NVIDIA's sparse tensor cores run.

Reference solutions of notebook 06's exercises 1-3 are marked as such.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.nn.utils import prune
from torch.utils.flop_counter import FlopCounterMode

from helpers import _checks
from helpers.pruning import PRUNABLE_TYPES


def _rows_pruned(num_rows: int, amount: float) -> int:
    """How many of ``num_rows`` rows ``amount`` prunes: ``round(amount * num_rows)``, as torch does."""
    return round(amount * num_rows)


def rows_to_keep(weight: torch.Tensor, amount: float) -> torch.Tensor:
    """Return the indices of the rows of ``weight`` to keep, in increasing order.

    Reference for 06, exercise 1. Rows are ranked by their L2 norm (all dimensions but the first
    together, so a conv weight's rows are its output channels); ``round(amount * rows)`` rows with
    the smallest norms are dropped, as ``prune.ln_structured(module, "weight", amount, n=2, dim=0)``
    would zero them.

    Args:
        weight: A weight with at least 2 dimensions, rows first.
        amount: Fraction of rows to drop, in [0, 1); at least one row must stay.

    Returns:
        A 1-D int64 tensor of row indices, sorted.
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
        raise ValueError(f"weight must be a tensor with at least 2 dimensions, got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    amount = _checks.fraction("amount", amount, open_right=True)
    num_rows = weight.shape[0]
    num_keep = num_rows - _rows_pruned(num_rows, amount)
    if num_keep < 1:
        raise ValueError(f"amount={amount} would drop all {num_rows} rows; keep at least one")
    norms = weight.detach().flatten(1).norm(p=2, dim=1)
    return norms.topk(num_keep).indices.sort().values


def _copy_linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None,
                      device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


def _check_plain_linear(name: str, layer) -> nn.Linear:
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"{name} must be a torch.nn.Linear, got {type(layer).__name__}")
    if prune.is_pruned(layer):
        raise ValueError(f"{name} still carries a pruning mask: call prune.remove (or "
                         "pruning.make_permanent) before rebuilding it")
    return layer


def shrink_linear_pair(first: nn.Linear, second: nn.Linear,
                       keep: torch.Tensor) -> tuple[nn.Linear, nn.Linear]:
    """Rebuild two consecutive ``Linear`` layers with only the hidden units ``keep``.

    Reference for 06, exercise 2. The new ``first`` keeps the rows ``keep`` of ``first.weight``
    and the same entries of ``first.bias``; the new ``second`` keeps the *columns* ``keep`` of
    ``second.weight`` (its inputs are ``first``'s outputs) and all of its bias. The given layers are
    not changed, and the new ones share no storage with them.

    Args:
        first: The layer whose outputs (rows) are removed.
        second: The layer that reads ``first``'s outputs.
        keep: Indices of the hidden units to keep (1-D, integer).

    Returns:
        ``(new_first, new_second)``.
    """
    _check_plain_linear("first", first)
    _check_plain_linear("second", second)
    if second.in_features != first.out_features:
        raise ValueError(f"second must read first's outputs: first has {first.out_features} outputs, "
                         f"second has {second.in_features} inputs")
    keep = torch.as_tensor(keep)
    if keep.dim() != 1 or keep.is_floating_point() or keep.numel() == 0:
        raise ValueError(f"keep must be a non-empty 1-D tensor of integer indices, got {keep!r}")
    if keep.min() < 0 or keep.max() >= first.out_features or keep.unique().numel() != keep.numel():
        raise ValueError(f"keep must hold distinct indices in [0, {first.out_features}), got {keep.tolist()}")
    with torch.no_grad():
        new_first = _copy_linear(first.weight[keep], None if first.bias is None else first.bias[keep])
        new_second = _copy_linear(second.weight[:, keep], second.bias)
    return new_first, new_second


def linear_chain(model: nn.Module) -> list[str]:
    """Names of ``model``'s ``Linear`` layers in order, checked to form a chain (each reads the last)."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if len(names) < 2:
        raise ValueError(f"{type(model).__name__} has {len(names)} Linear layer(s); shrinking needs "
                         "at least two in a chain")
    layers = [model.get_submodule(name) for name in names]
    pairs = zip(zip(names, layers, strict=True), zip(names[1:], layers[1:], strict=True), strict=False)
    for (a, first), (b, second) in pairs:
        if second.in_features != first.out_features:
            raise ValueError(f"{b} does not read {a}'s outputs ({first.out_features} outputs, "
                             f"{second.in_features} inputs): not a chain of Linear layers")
    return names


def shrink_mlp(model: nn.Module, amount: float) -> nn.Module:
    """Return a copy of a chain-of-``Linear`` model with ``amount`` of every hidden layer's units removed.

    Every ``Linear`` layer but the last (the classes) loses the rows with the smallest L2 norms
    (:func:`rows_to_keep`), and the layer after it the matching columns
    (:func:`shrink_linear_pair`). Layers are shrunk in order, so a layer's rows are ranked over
    the inputs it still has after the previous layer lost its units. Only models whose ``Linear``
    layers form a chain, each reading the previous one's outputs through element-wise functions
    (like ``LeNet300100``), can be shrunk
    this way; :func:`prune_channels` handles any graph. The copy's hyperparameters still describe
    the original sizes, so save its ``state_dict`` together with the copy, not a Lightning
    checkpoint.

    Args:
        model: The trained model, left unchanged; it must carry no pruning masks.
        amount: Fraction of each hidden layer's units to remove, in [0, 1).

    Returns:
        The smaller model, in the mode ``model`` was in.
    """
    amount = _checks.fraction("amount", amount, open_right=True)
    names = linear_chain(model)
    for name in names:
        _check_plain_linear(name, model.get_submodule(name))
    small = copy.deepcopy(model)
    for a, b in zip(names, names[1:], strict=False):
        first, second = small.get_submodule(a), small.get_submodule(b)
        new_first, new_second = shrink_linear_pair(first, second, rows_to_keep(first.weight, amount))
        small.set_submodule(a, new_first)
        small.set_submodule(b, new_second)
    return small


def hidden_units(model: nn.Module) -> dict[str, int]:
    """Output units (rows) or channels of each ``Linear`` and ``Conv2d`` layer of ``model``."""
    return {name: module.weight.shape[0] for name, module in model.named_modules()
            if isinstance(module, PRUNABLE_TYPES)}


def prune_channels(model: nn.Module, example_input: torch.Tensor, ratio: float, *,
                   ignored_layers: list[nn.Module] | None = None) -> nn.Module:
    """Return a copy of ``model`` with ``ratio`` of the channels of every prunable layer removed.

    Uses Torch-Pruning's dependency graph (``torch_pruning.pruner.BasePruner`` with group L2
    magnitude importance): it traces ``model`` on ``example_input`` and removes each group of
    coupled channels at once, so every layer reading a removed channel loses the matching inputs.
    The last prunable layer (the classifier, whose outputs are the classes) is never pruned unless
    ``ignored_layers`` says otherwise.

    Args:
        model: The model, left unchanged; it must carry no pruning masks.
        example_input: One input batch, used to trace the graph.
        ratio: Fraction of each layer's channels (or units) to remove, in [0, 1).
        ignored_layers: Layers of ``model`` never pruned; defaults to the last prunable layer.

    Returns:
        The smaller model, in eval mode.
    """
    import torch_pruning as tp

    ratio = _checks.fraction("ratio", ratio, open_right=True)
    layers = [m for m in model.modules() if isinstance(m, PRUNABLE_TYPES)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv2d layer to prune")
    if prune.is_pruned(model):
        raise ValueError("model still carries pruning masks: call pruning.make_permanent first")
    ignored = [layers[-1]] if ignored_layers is None else list(ignored_layers)
    index = {id(m): i for i, m in enumerate(model.modules())}
    if any(id(m) not in index for m in ignored):
        raise ValueError("ignored_layers must be layers of model")
    small = copy.deepcopy(model).eval()
    modules = list(small.modules())
    pruner = tp.pruner.BasePruner(
        small, example_input, importance=tp.importance.GroupMagnitudeImportance(p=2),
        pruning_ratio=ratio, ignored_layers=[modules[index[id(m)]] for m in ignored])
    pruner.step()
    return small


def two_four_mask(weight: torch.Tensor) -> torch.Tensor:
    """Return the 2:4 semi-structured mask of ``weight``: the 2 largest magnitudes of every 4 along a row.

    In every group of 4 consecutive entries of each row (the last dimension), the 2 entries with the
    largest magnitudes are kept (``True``), the other 2 dropped; the pattern NVIDIA's sparse tensor
    cores run (``torch.sparse.to_sparse_semi_structured``).

    Args:
        weight: A tensor whose last dimension is a multiple of 4.

    Returns:
        A boolean tensor of ``weight``'s shape, exactly half of it ``True``.
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() < 1 or weight.shape[-1] % 4:
        raise ValueError(f"weight must be a tensor whose rows split into groups of 4, got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    groups = weight.detach().abs().reshape(-1, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, groups.topk(2, dim=1).indices, True)
    return keep.reshape(weight.shape)


def macs_per_example(model: nn.Module, example_input: torch.Tensor) -> int:
    """Return the multiply-accumulates of one forward pass of ``model``, per example.

    Reference for 06, exercise 3. ``FlopCounterMode`` counts floating-point operations of matrix
    multiplications and convolutions, two per multiply-accumulate (a multiply and an add), for the
    whole batch; this divides by 2 and by the batch size. Element-wise work (ReLU, pooling, bias
    adds) is not counted, as is usual for MACs.

    Args:
        model: The model.
        example_input: One input batch (its first dimension is the batch).

    Returns:
        MACs per example, an int.
    """
    if not isinstance(example_input, torch.Tensor) or example_input.dim() < 1 or len(example_input) == 0:
        raise ValueError("example_input must be a non-empty batch tensor")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example_input)
    finally:
        model.train(was_training)
    return math.floor(counter.get_total_flops() / 2 / len(example_input))
