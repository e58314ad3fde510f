"""How to prune a model, and how to account for what pruning did.

**Pruning.** A *strategy* is any callable ``strategy(model, amount) -> model`` that prunes
``model`` in place with ``torch.nn.utils.prune`` (:data:`Strategy`): :func:`l1_global` and
:func:`l1_layerwise` here, and criteria other than magnitude (notebook 07): the random baseline
(:func:`random_like_global`, :func:`random_unstructured_like`), first-order Taylor
(:func:`taylor_global`, :func:`taylor_scores`), Wanda (:func:`wanda`, :func:`input_norms`,
:func:`wanda_mask`) and fixed per-layer amounts (:func:`per_layer`). Sweeps and benchmarks
take the strategy as an argument (``prune=``), so they work for any of them. Around the
strategies: :func:`prune_copy` (prune a fresh copy, leave the model alone),
:func:`amount_for_target` (the amount that reaches a target sparsity when amounts compound),
:func:`make_permanent` (``prune.remove`` everywhere). Pruning while training: schedules are plain
functions (:func:`cubic_sparsity`, :func:`gradual_amounts`, :func:`epoch_schedule`);
:func:`configured_pruning` builds Lightning's ``ModelPruning`` callback (it prunes at epoch ends);
:func:`gradual_pruning` a callback that prunes every few steps (Zhu & Gupta); :func:`rewind` resets
weights for lottery-ticket runs.

**Accounting.** Sparsity of tensors, layers and models, parameter counts, serialized size (dense
and CSR) and CPU latency (:func:`latency_ms`, :func:`op_times`: defined in :mod:`helpers.timing`).
Every function here is correct both while a module carries
``torch.nn.utils.prune``'s re-parametrisation (``weight_orig`` parameter, ``weight_mask``
buffer, forward pre-hook) and after ``prune.remove``: it reads the *effective* tensor,
``weight_orig * weight_mask``, which is what the forward pass uses. Measurements take the model
(or tensor) first and their options as keywords.

Several functions are the reference solutions of exercises (named like them, marked "reference
for NN, exercise k"): the notebooks after an exercise call the learner's answer or these.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils import prune

from helpers import _checks
from helpers.timing import latency_ms, op_times  # noqa: F401  (CPU latency: defined in helpers.timing)

PRUNABLE_TYPES = (nn.Linear, nn.Conv2d)
SCOPES = ("global", "layer")

Strategy = Callable[[nn.Module, float], nn.Module]
"""A pruning strategy: ``strategy(model, amount)`` prunes ``model`` in place and returns it."""
STRATEGY = "a strategy, a callable (model, amount) -> model"  # for error messages


class ParameterCount(NamedTuple):
    """Parameter counts of a model: ``total``, ``zeros`` and ``nonzero``."""

    total: int
    zeros: int
    nonzero: int


# --- Pruning ----------------------------------------------------------------------------------


def parameters_to_prune(model: nn.Module, *, layer_types: tuple[type, ...] = PRUNABLE_TYPES,
                        name: str = "weight") -> list[tuple[nn.Module, str]]:
    """Return the ``(module, name)`` pairs to prune: every layer of ``layer_types``, in order.

    This is the list ``prune.global_unstructured`` takes.
    """
    pairs = [(m, name) for m in model.modules() if isinstance(m, layer_types)]
    if not pairs:
        raise ValueError(f"{type(model).__name__} has no layers of types "
                         f"{[t.__name__ for t in layer_types]} to prune")
    return pairs


def prune_l1(model: nn.Module, amount: float, scope: str = "global") -> nn.Module:
    """L1-prune the weights of every ``nn.Linear`` and ``nn.Conv2d`` of ``model`` in place.

    Reference for 04, exercise 1. ``scope="layer"`` removes ``amount`` of each layer's own
    weights (``prune.l1_unstructured`` per layer): every layer ends with the same sparsity.
    ``scope="global"`` ranks all those weights together and removes the ``amount`` smallest of
    them (``prune.global_unstructured``): layers end with different sparsities, those with larger
    weights keep more. On a model that is pruned already, ``amount`` applies to the weights still
    left, so amounts compound.

    Args:
        model: The model to prune (changed in place).
        amount: Fraction of the weights to prune, in [0, 1].
        scope: ``"global"`` or ``"layer"``.

    Returns:
        ``model``, pruned.
    """
    amount, scope = _checks.fraction("amount", amount), _checks.one_of("scope", scope, SCOPES)
    pairs = parameters_to_prune(model)
    if scope == "global":
        prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=amount)
    else:
        for module, name in pairs:
            prune.l1_unstructured(module, name, amount=amount)
    return model


def l1_global(model: nn.Module, amount: float) -> nn.Module:
    """Strategy: global L1-unstructured pruning of all Linear and Conv2d weights (:func:`prune_l1`)."""
    return prune_l1(model, amount, "global")


def l1_layerwise(model: nn.Module, amount: float) -> nn.Module:
    """Strategy: L1-unstructured pruning of each Linear and Conv2d layer by ``amount`` (:func:`prune_l1`)."""
    return prune_l1(model, amount, "layer")


# --- What to prune: criteria other than magnitude (notebook 07) --------------------------------

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
"""Calibration data: a few ``(images, labels)`` batches, e.g. taken from the training loader."""


def _layers(model: nn.Module) -> dict[str, nn.Module]:
    """``{name: layer}`` for every Linear and Conv2d of ``model`` (what the criteria score)."""
    parameters_to_prune(model)  # a clear error for a model without such layers
    return {name: m for name, m in model.named_modules() if isinstance(m, PRUNABLE_TYPES)}


def random_unstructured_like(model: nn.Module, reference: nn.Module) -> nn.Module:
    """Prune ``model`` in place at random, removing in each layer as many weights as ``reference`` has zeros.

    Reference for 07, exercise 1: the random baseline at the same per-layer sparsity as a pruned
    ``reference`` (pruned with masks or made permanent; its layers are matched by name). Each layer
    gets ``prune.random_unstructured`` with that count (an int amount), drawn from torch's global
    generator: seed it first.
    """
    layers, references = _layers(model), _layers(reference)
    if set(layers) != set(references):
        raise ValueError(f"model and reference must have the same layers, got {sorted(layers)} "
                         f"and {sorted(references)}")
    for name, layer in layers.items():
        zeros = int((effective_weight(references[name]) == 0).sum())
        prune.random_unstructured(layer, "weight", amount=zeros)
    return model


def random_like_global(model: nn.Module, amount: float) -> nn.Module:
    """Strategy: random pruning at the per-layer sparsities that global L1 pruning by ``amount`` gives."""
    return random_unstructured_like(model, l1_global(copy_model(model), amount))


def taylor_scores(model: nn.Module, batches: Batches) -> dict[str, torch.Tensor]:
    """Return ``{layer name: |w * dL/dw|}``: first-order Taylor scores of every Linear and Conv2d weight.

    Reference for 07, exercise 3. ``dL/dw`` is the gradient of each batch's mean cross-entropy,
    averaged over the batches (Molchanov et al. 2019): ``|w * g|`` estimates how much the loss
    would change if that weight were set to zero. The scores are those of the weights the forward
    pass uses (masks applied); the model's weights are not changed.
    """
    layers, totals = _layers(model), None
    was_training = model.training
    model.eval()
    for x, y in batches:
        loss = nn.functional.cross_entropy(model(x), y)
        weights = [layer.weight for layer in layers.values()]  # after the forward: the masked ones
        grads = torch.autograd.grad(loss, weights)
        totals = grads if totals is None else [t + g for t, g in zip(totals, grads, strict=True)]
    model.train(was_training)
    if totals is None:
        raise ValueError("batches must hold at least one (images, labels) batch")
    return {name: (effective_weight(layer) * total / len(batches)).abs()
            for (name, layer), total in zip(layers.items(), totals, strict=True)}


def input_norms(model: nn.Module, batches: Batches) -> dict[str, torch.Tensor]:
    """Return ``{layer name: L2 norm of each input feature}`` over the calibration ``batches``.

    Wanda's ``||X_j||_2`` (Sun et al. 2023): for a Linear layer, the norm of input ``j`` over all
    images; for a Conv2d layer, of input ``j`` of the unfolded patches (``in_channels * kh * kw``
    features, as ``weight.flatten(1)`` orders them) over all images and positions. Labels are unused.
    """
    layers = _layers(model)
    squares = {name: 0.0 for name in layers}

    def record(name: str, layer: nn.Module):
        def hook(_module, inputs):
            x = inputs[0].detach()
            if isinstance(layer, nn.Conv2d):
                x = nn.functional.unfold(x, layer.kernel_size, layer.dilation, layer.padding, layer.stride)
                x = x.transpose(1, 2)
            squares[name] = squares[name] + x.reshape(-1, x.shape[-1]).pow(2).sum(0)
        return hook

    handles = [layer.register_forward_pre_hook(record(name, layer)) for name, layer in layers.items()]
    try:
        with torch.no_grad():
            for x, _ in batches:
                model(x)
    finally:
        for handle in handles:
            handle.remove()
    return {name: torch.as_tensor(total).sqrt() for name, total in squares.items()}


def wanda_mask(weight: torch.Tensor, norms: torch.Tensor, amount: float) -> torch.Tensor:
    """Return Wanda's mask: in each output row, the ``amount`` of weights of lowest ``|W| * norms`` pruned.

    Reference for 07, exercise 4. Scores ``|W_ij| * ||X_j||_2`` are compared within each row of
    ``weight.flatten(1)`` (per output, as Wanda does), and ``round(amount * row length)`` of each
    row are pruned, as ``torch.nn.utils.prune`` rounds. The mask has ``weight``'s shape: 1 kept, 0 pruned.
    """
    amount = _checks.fraction("amount", amount)
    rows = weight.detach().flatten(1)
    if norms.shape != rows.shape[1:]:
        raise ValueError(f"norms must hold one norm per input feature, shape {tuple(rows.shape[1:])}, "
                         f"got {tuple(norms.shape)}")
    scores = rows.abs() * norms.to(rows)
    mask = torch.ones_like(rows)
    num_pruned = round(amount * rows.shape[1])
    if num_pruned:
        mask.scatter_(1, scores.topk(num_pruned, dim=1, largest=False).indices, 0.0)
    return mask.view_as(weight)


def taylor_global(batches: Batches) -> Strategy:
    """Return a strategy: global pruning by :func:`taylor_scores` on ``batches`` (``global_unstructured``)."""
    def taylor_global(model: nn.Module, amount: float) -> nn.Module:
        scores, layers = taylor_scores(model, batches), _layers(model)
        prune.global_unstructured([(m, "weight") for m in layers.values()], prune.L1Unstructured,
                                  importance_scores={(m, "weight"): scores[n] for n, m in layers.items()},
                                  amount=_checks.fraction("amount", amount))
        return model
    return taylor_global


def wanda(batches: Batches) -> Strategy:
    """Return a strategy: Wanda, :func:`wanda_mask` of every layer with :func:`input_norms` on ``batches``.

    Every layer ends at the same sparsity ``amount`` (Wanda compares within each output row); the
    masks are attached with ``prune.custom_from_mask``.
    """
    def wanda(model: nn.Module, amount: float) -> nn.Module:
        norms = input_norms(model, batches)
        for name, layer in _layers(model).items():
            prune.custom_from_mask(layer, "weight", wanda_mask(effective_weight(layer), norms[name], amount))
        return model
    return wanda


def per_layer(amounts: dict[str, float]) -> Strategy:
    """Return a strategy that L1-prunes each layer ``name`` by ``amounts[name]``, whatever its ``amount``.

    For allocations such as :func:`helpers.tradeoff.allocate_amounts` (their total is the budget).
    """
    amounts = {name: _checks.fraction(f"amounts[{name!r}]", a) for name, a in amounts.items()}

    def per_layer(model: nn.Module, amount: float) -> nn.Module:
        layers = _layers(model)
        if set(layers) != set(amounts):
            raise ValueError(f"amounts must name the model's layers {sorted(layers)}, got {sorted(amounts)}")
        for name, layer in layers.items():
            prune.l1_unstructured(layer, "weight", amount=amounts[name])
        return model
    return per_layer


def strategy_name(strategy: Strategy) -> str:
    """Return the name a table shows for ``strategy`` (its ``__name__``, or its repr)."""
    return getattr(strategy, "__name__", None) or repr(strategy)


def prune_copy(model: nn.Module, amount: float, prune: Strategy = l1_global) -> nn.Module:
    """Return a copy of ``model`` pruned by ``prune`` (a :data:`Strategy`); ``model`` is left untouched.

    The copy is made before pruning: ``copy.deepcopy`` of a module fails while one of its weights
    is pruned and needs gradients (it is then a computed, non-leaf tensor), so ``model`` must not
    be pruned itself: call :func:`make_permanent` on it first, or keep the dense model around.
    """
    amount = _checks.fraction("amount", amount)
    _checks.callable_("prune", prune, STRATEGY)
    if torch.nn.utils.prune.is_pruned(model):  # looks at every submodule
        raise ValueError(f"{type(model).__name__} is already pruned and copy.deepcopy cannot copy a "
                         "pruned module: pass the dense model, or call prune.remove on it first")
    return prune(copy.deepcopy(model), amount)


def copy_model(model: nn.Module) -> nn.Module:
    """Return ``copy.deepcopy(model)``, also while ``model`` carries pruning masks.

    ``copy.deepcopy`` of a pruned module fails while its pruned tensor (``weight``) was last
    computed with gradients on: it is then a non-leaf tensor. This recomputes each pruned tensor
    from ``weight_orig * weight_mask`` under ``torch.no_grad()`` first (the same values the next
    forward pass computes), then copies. Masks and hooks are copied with the model.
    """
    with torch.no_grad():
        for module in model.modules():
            for hook in module._forward_pre_hooks.values():
                if isinstance(hook, prune.BasePruningMethod):
                    setattr(module, hook._tensor_name, hook.apply_mask(module))
    return copy.deepcopy(model)


def amount_for_target(sparsity: float, target: float) -> float:
    """Return the amount for the next prune call that takes a tensor from ``sparsity`` to ``target``.

    Reference for 02, exercise 3. Repeated amounts compound: the next call prunes that fraction of
    the ``1 - sparsity`` weights still unpruned, so the amount is ``(target - sparsity) / (1 - sparsity)``.

    Raises:
        ValueError: If ``sparsity`` is not in [0, 1) or ``target`` not in [sparsity, 1].
    """
    sparsity = _checks.fraction("sparsity", sparsity, open_right=True)
    target = _checks.fraction("target", target)
    if target < sparsity:
        raise ValueError(f"target must be >= sparsity (pruning cannot un-prune weights), "
                         f"got sparsity={sparsity}, target={target}")
    return (target - sparsity) / (1 - sparsity)


def make_permanent(model: nn.Module) -> nn.Module:
    """Make every pruning in ``model`` permanent, in place, with ``prune.remove``; return ``model``.

    Reference for 03, exercise 1. Every pruned tensor of every module (weights and biases alike:
    each ``x`` with an ``x_orig`` parameter and an ``x_mask`` buffer) becomes a plain parameter
    again that holds its zeros; unpruned modules are left alone.
    """
    for module in model.modules():
        names = [n.removesuffix("_mask") for n, _ in module.named_buffers(recurse=False)
                 if n.endswith("_mask") and hasattr(module, n.removesuffix("_mask") + "_orig")]
        for name in names:
            prune.remove(module, name)
    return model


def cubic_sparsity(step: int, num_steps: int, target: float, initial: float = 0.0) -> float:
    """Return the sparsity after ``step`` of ``num_steps`` pruning steps on the cubic schedule.

    Zhu & Gupta (2017), "To prune, or not to prune": ``s = target + (initial - target) * (1 - step /
    num_steps) ** 3``. It prunes fast at first, while many redundant weights are left, and slowly
    at the end; ``step=0`` gives ``initial`` and ``step=num_steps`` gives ``target``.
    """
    _checks.positive_int("num_steps", num_steps)
    _checks.non_negative_int("step", step)
    initial, target = _checks.fraction("initial", initial), _checks.fraction("target", target)
    step = min(step, num_steps)
    return target + (initial - target) * (1 - step / num_steps) ** 3


def gradual_amounts(target: float, num_steps: int) -> list[float]:
    """Return the amount for each of ``num_steps`` prune calls that follow the cubic schedule to ``target``.

    Reference for 05, exercise 3. Amounts compound (each applies to the weights still left), so the
    amount of step ``k`` is :func:`amount_for_target` from the schedule's sparsity after step
    ``k - 1`` to the one after step ``k`` (:func:`cubic_sparsity`). Pruning a tensor with these
    amounts, in order, leaves it at ``cubic_sparsity(k, num_steps, target)`` after step ``k`` and at
    ``target`` at the end.

    Raises:
        ValueError: If ``target`` is not in [0, 1) or ``num_steps`` is not a positive int.
    """
    target = _checks.fraction("target", target, open_right=True)
    _checks.positive_int("num_steps", num_steps)
    path = [cubic_sparsity(k, num_steps, target) for k in range(num_steps + 1)]
    return [amount_for_target(before, after) for before, after in zip(path, path[1:], strict=False)]


def epoch_schedule(amounts: Sequence[float]) -> Callable[[int], float]:
    """Return ``amount(epoch)`` for ``ModelPruning``: ``amounts[epoch]``, then 0.0 (no more pruning)."""
    amounts = [_checks.fraction("amount", a) for a in amounts]

    def amount(epoch: int) -> float:
        return amounts[epoch] if 0 <= epoch < len(amounts) else 0.0

    return amount


def configured_pruning(model: nn.Module, amount: float | Callable[[int], float]):
    """Return a Lightning ``ModelPruning`` callback configured for what this course means by pruning.

    Reference for 05, exercise 2. Global L1-unstructured pruning of the weights of ``model``'s
    Linear and Conv2d layers only (not biases, not BatchNorm), by ``amount`` each time it runs (a
    fraction, or a callable ``amount(epoch)``; amounts compound), at the end of every training epoch,
    without lottery-ticket rewinding, and with the pruning made permanent when training ends.
    """
    from lightning.pytorch.callbacks import ModelPruning

    if not callable(amount):
        amount = _checks.fraction("amount", amount)
    return ModelPruning("l1_unstructured", parameters_to_prune=parameters_to_prune(model), amount=amount,
                        use_global_unstructured=True, use_lottery_ticket_hypothesis=False,
                        make_pruning_permanent=True, prune_on_train_epoch_end=True)


def copying_rewind_pruning(*args, **kwargs):
    """Return Lightning's ``ModelPruning(*args, **kwargs)`` with a lottery-ticket rewind that copies values.

    ``ModelPruning`` saves a copy of each layer in ``setup``, before the Trainer moves the model to
    its device, and rewinds with ``dst.data = src.data.to(dst.device)``. On a GPU that ``.to`` makes
    a fresh copy, so every rewind resets the kept weights to the saved ones; on the CPU it returns the
    saved tensor itself, so after the first rewind the model trains the saved copy and later rewinds
    change nothing. This callback copies on every device: on a CPU it does what ``ModelPruning`` does
    on a GPU (notebook 05, section 1).
    """
    from lightning.pytorch.callbacks import ModelPruning

    class CopyingRewindPruning(ModelPruning):
        @staticmethod
        def _copy_param(new: nn.Module, old: nn.Module, name: str) -> None:
            # Lightning's own rewind, from a fresh copy of the saved layer: what .to("cuda") gives it
            ModelPruning._copy_param(new, copy.deepcopy(old), name)

    return CopyingRewindPruning(*args, **kwargs)


def gradual_pruning(model: nn.Module, target: float, *, end_step: int, every: int = 10, start_step: int = 0):
    """Return a Lightning callback that prunes every ``every`` optimizer steps on the cubic schedule.

    Gradual pruning as Zhu & Gupta (2017) define it: from ``start_step`` to ``end_step``, every
    ``every`` training steps, global L1 pruning of ``model``'s Linear and Conv2d weights takes them to
    :func:`cubic_sparsity` of the steps so far, reaching ``target`` at ``end_step``; training goes on
    between the prunings and after the last one, with the masks in force. The pruning is made
    permanent when training ends. Lightning's ``ModelPruning`` prunes only at the end of an epoch
    (or of a validation run), so it cannot prune this often.

    Args:
        model: The model the callback will prune (its layers are chosen now).
        target: Sparsity reached at ``end_step``, in [0, 1).
        end_step: Training step of the last pruning; ``end_step - start_step`` must be a positive
            multiple of ``every``.
        every: Training steps between two prunings.
        start_step: Training step before the first pruning (it prunes at ``start_step + every``).
    """
    import lightning as L

    target = _checks.fraction("target", target, open_right=True)
    _checks.positive_int("every", every)
    _checks.non_negative_int("start_step", start_step)
    if _checks.positive_int("end_step", end_step) <= start_step or (end_step - start_step) % every:
        raise ValueError(f"end_step - start_step must be a positive multiple of every ({every}), "
                         f"got end_step={end_step}, start_step={start_step}")
    pairs, num_prunings = parameters_to_prune(model), (end_step - start_step) // every

    class GradualPruning(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            done = trainer.global_step - start_step  # optimizer steps taken so far, after start_step
            if 0 < done <= end_step - start_step and done % every == 0:
                reached = global_sparsity(model)  # rounding may have taken it a hair past the schedule
                goal = max(reached, cubic_sparsity(done // every, num_prunings, target))
                amount = amount_for_target(reached, goal)
                prune.global_unstructured(pairs, prune.L1Unstructured, amount=amount)

        def on_train_end(self, trainer, pl_module) -> None:
            make_permanent(model)

    return GradualPruning()


def rewind(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """Copy the values of a plain ``state_dict`` into ``model``'s parameters, in place; return ``model``.

    Reference for 05, exercise 4: rewinding for the lottery ticket experiments. A pruned
    parameter ``x`` receives ``state_dict[x]`` in ``x_orig`` (its mask is kept); an unpruned one
    directly. Values are copied, never shared: training the model afterwards leaves
    ``state_dict`` as it was.
    """
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, value in state_dict.items():
            target = params.get(key + "_orig", params.get(key))
            if target is None:
                raise ValueError(f"{type(model).__name__} has no parameter {key!r} (nor {key + '_orig'!r})")
            if target.shape != value.shape:
                raise ValueError(f"{key} has shape {tuple(target.shape)} in the model, "
                                 f"{tuple(value.shape)} in the state_dict")
            target.copy_(value)
    return model


# --- Accounting -------------------------------------------------------------------------------


def sparsity(tensor: torch.Tensor) -> float:
    """Return the fraction of entries of ``tensor`` that are exactly zero (0.0 for an empty one).

    Reference for 01, exercise 1. Sparsity is the fraction that is zero; density,
    ``1 - sparsity``, the fraction that is not.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"sparsity expects a torch.Tensor, got {type(tensor).__name__}")
    return float((tensor == 0).sum()) / tensor.numel() if tensor.numel() else 0.0


def effective_weight(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """Return the tensor the forward pass uses for ``module.<name>`` (detached), computed now.

    Reference for 02, exercise 1 (for any tensor name, not only the weight). For a pruned module
    that is ``<name>_orig * <name>_mask`` (the ``module.<name>`` attribute is only refreshed by
    the next forward pass); otherwise it is the plain parameter or buffer.
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
    return sparsity(effective_weight(module, name))


def layer_sparsity(model: nn.Module, *, layer_types: tuple[type, ...] = PRUNABLE_TYPES,
                   name: str = "weight") -> dict[str, float]:
    """Return ``{layer name: sparsity of its weight}`` for every prunable layer of ``model``."""
    return {layer: module_sparsity(m, name) for layer, m in model.named_modules()
            if isinstance(m, layer_types)}


def global_sparsity(model: nn.Module, *, layer_types: tuple[type, ...] = PRUNABLE_TYPES,
                    name: str = "weight") -> float:
    """Return the fraction of zeros over all prunable weights of ``model`` together."""
    pairs = parameters_to_prune(model, layer_types=layer_types, name=name)
    tensors = [effective_weight(m, n) for m, n in pairs]
    return sum(int((t == 0).sum()) for t in tensors) / sum(t.numel() for t in tensors)


def sparsity_by_kind(model: nn.Module) -> dict[str, float]:
    """Return ``{"weight": s, "bias": s}``: sparsity of the Linear and Conv2d weights, and of their biases.

    Reference for 05, exercise 1. Each is pooled over the layers (zeros of all layers over entries
    of all layers), as the forward pass sees the tensors (masks applied); layers without a bias
    add nothing to ``"bias"``, which is 0.0 when no layer has one.
    """
    kinds = {}
    for kind in ("weight", "bias"):
        tensors = [effective_weight(m, kind) for m in model.modules() if isinstance(m, PRUNABLE_TYPES)
                   and isinstance(getattr(m, kind, None), torch.Tensor)]
        total = sum(t.numel() for t in tensors)
        kinds[kind] = sum(int((t == 0).sum()) for t in tensors) / total if total else 0.0
    return kinds


def plain_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return a copy of a (pruned) state_dict that loads into a plain model: masks applied, names restored.

    Reference for 03, exercise 2. ``fc1.weight_orig`` and ``fc1.weight_mask`` become
    ``fc1.weight`` (their product); everything else is kept under its key. The tensors are
    detached copies; ``state_dict`` is not modified.
    """
    plain = {}
    for key, tensor in state_dict.items():
        base = key.removesuffix("_mask")
        if key.endswith("_mask") and base + "_orig" in state_dict:
            continue
        base = key.removesuffix("_orig")
        if key.endswith("_orig") and base + "_mask" in state_dict:
            plain[base] = tensor * state_dict[base + "_mask"]
        else:
            plain[key] = tensor
    return {key: tensor.detach().clone() for key, tensor in plain.items()}


def count_parameters(model: nn.Module) -> ParameterCount:
    """Count all parameters of ``model`` as the forward pass sees them: total, zeros, non-zero.

    A pruned weight counts once (not as ``weight_orig`` plus ``weight_mask``), with its masked
    entries as zeros.
    """
    names = {n.removesuffix("_orig") if n.endswith("_orig") else n for n, _ in model.named_parameters()}
    state = plain_state_dict(model.state_dict())
    tensors = [state[n] for n in names]
    total = sum(t.numel() for t in tensors)
    zeros = sum(int((t == 0).sum()) for t in tensors)
    return ParameterCount(total, zeros, total - zeros)


def to_sparse_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Store every floating-point tensor with 2 or more dims in CSR form with int32 indices.

    03's ``to_csr`` (exercise 3) made compact: conv weights are viewed as ``(out_channels, rest)``
    matrices and the indices are int32 rather than int64. Each non-zero then costs its value
    (4 bytes in float32) plus a column index (4 bytes), so CSR is smaller than dense only above
    roughly 50% sparsity.
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


def serialized_size(model: nn.Module, *, sparse: bool = False) -> int:
    """Return the bytes ``torch.save`` writes for ``model``'s plain state_dict.

    Args:
        model: A model, pruned or not; pruned weights are stored once, masks applied
            (:func:`plain_state_dict`).
        sparse: Store weight matrices in CSR form (:func:`to_sparse_state_dict`) instead of dense.

    Returns:
        The size in bytes.
    """
    state = plain_state_dict(model.state_dict())
    buffer = io.BytesIO()
    torch.save(to_sparse_state_dict(state) if sparse else state, buffer)
    return buffer.getbuffer().nbytes


