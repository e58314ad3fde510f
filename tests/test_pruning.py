"""Pruning strategies, permanence and measurements, checked against torch.nn.utils.prune itself."""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from helpers import models, pruning

SLIDE = torch.tensor([[0.25, -0.13, 0.05, 0.70], [-0.88, 0.31, -0.02, 0.44]])


def linear_with(weight: torch.Tensor) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


def test_sparsity_of_a_tensor():
    assert pruning.sparsity(torch.tensor([0.0, 1.0, 0.0, -2.0])) == 0.5
    assert pruning.sparsity(torch.zeros(0)) == 0.0
    with pytest.raises(TypeError, match="expects a torch.Tensor, got list"):
        pruning.sparsity([0.0, 1.0])


def test_l1_mask_on_the_slide_tensor_matches_torch():
    """amount=0.4 of 8 weights rounds to 3: the three smallest magnitudes go, -0.88 stays."""
    layer = linear_with(SLIDE)
    prune.l1_unstructured(layer, "weight", amount=0.4)
    expected = torch.tensor([[1.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    expected[0, 1] = 0.0  # -0.13
    assert torch.equal(layer.weight_mask, expected)
    assert pruning.module_sparsity(layer) == 3 / 8
    prune.remove(layer, "weight")
    assert pruning.module_sparsity(layer) == 3 / 8 and layer.weight[1, 0] == -0.88


def test_effective_weight_is_fresh_without_a_forward_pass():
    layer = linear_with(SLIDE)
    prune.l1_unstructured(layer, "weight", amount=2)
    with torch.no_grad():
        layer.weight_orig.fill_(1.0)
    assert torch.equal(pruning.effective_weight(layer), layer.weight_mask)
    with pytest.raises(ValueError, match="has no tensor 'kernel'; it has \\['bias', 'weight'\\]"):
        pruning.effective_weight(layer, "kernel")


def test_layer_and_global_sparsity_after_global_pruning():
    torch.manual_seed(0)
    model = models.LeNet300100()
    prune.global_unstructured(pruning.parameters_to_prune(model), prune.L1Unstructured, amount=0.8)
    per_layer = pruning.layer_sparsity(model)
    assert list(per_layer) == ["fc1", "fc2", "fc3"]
    for name, value in per_layer.items():
        mask = getattr(model, name).weight_mask
        assert value == pytest.approx(float((mask == 0).float().mean()))
    assert pruning.global_sparsity(model) == pytest.approx(0.8, abs=1e-5)
    assert per_layer["fc1"] != per_layer["fc3"], "global pruning spreads unevenly across layers"


def test_parameters_to_prune_lists_linear_and_conv_layers():
    model = models.VGGSmall()
    pairs = pruning.parameters_to_prune(model)
    assert len(pairs) == 7 and all(name == "weight" for _, name in pairs)
    assert isinstance(pairs[-1][0], nn.Linear)
    with pytest.raises(ValueError, match="has no layers of types"):
        pruning.parameters_to_prune(nn.Sequential(nn.ReLU()))


def test_count_parameters_counts_pruned_weights_once():
    torch.manual_seed(0)
    model = models.LeNet300100()
    prune.l1_unstructured(model.fc1, "weight", amount=0.5)
    count = pruning.count_parameters(model)
    assert count.total == 266_610 and count.zeros == 117_600
    assert count.nonzero == count.total - count.zeros
    prune.remove(model.fc1, "weight")
    assert pruning.count_parameters(model) == count


def test_plain_state_dict_loads_into_a_plain_model_and_leaves_its_input_alone():
    torch.manual_seed(0)
    model = models.LeNet300100()
    prune.l1_unstructured(model.fc2, "weight", amount=0.3)
    prune.l1_unstructured(model.fc3, "bias", amount=2)
    with pytest.raises(RuntimeError, match="weight_orig"):
        models.LeNet300100().load_state_dict(model.state_dict())
    state = model.state_dict()
    keys = list(state)
    plain = models.LeNet300100()
    plain.load_state_dict(pruning.plain_state_dict(state))  # strict
    assert list(state) == keys and "fc2.weight_mask" in state, "the input dict is not modified"
    x = torch.randn(4, 1, 28, 28)
    assert torch.allclose(plain(x), model(x))
    assert int((plain.fc3.bias == 0).sum()) == 2


def test_sparse_storage_round_trips_and_pays_off_only_when_sparse():
    torch.manual_seed(0)
    model = models.LeNet300100()
    dense_before = pruning.serialized_size(model)
    assert pruning.serialized_size(model, sparse=True) > dense_before, "CSR of a dense matrix is larger"
    prune.global_unstructured(pruning.parameters_to_prune(model), prune.L1Unstructured, amount=0.9)
    assert abs(pruning.serialized_size(model) - dense_before) < 2_000, "zeros do not shrink dense storage"
    assert pruning.serialized_size(model, sparse=True) < 0.3 * dense_before
    state = pruning.plain_state_dict(model.state_dict())
    sparse = pruning.to_sparse_state_dict(state)
    assert sparse["fc1.weight"].layout == torch.sparse_csr
    assert torch.equal(sparse["fc1.weight"].to_dense(), state["fc1.weight"])
    assert torch.equal(sparse["fc1.bias"], state["fc1.bias"])


def test_sparse_storage_of_conv_weights():
    conv = nn.Conv2d(2, 3, 3)
    sparse = pruning.to_sparse_state_dict(conv.state_dict())
    assert torch.equal(sparse["weight"].to_dense().reshape(3, 2, 3, 3), conv.weight.detach())


def test_latency_is_a_positive_median():
    model = models.LeNet300100()
    model.train()
    assert pruning.latency_ms(model, torch.randn(8, 1, 28, 28), repeats=5, warmup=1) > 0
    assert model.training, "the model's mode is restored"
    with pytest.raises(ValueError, match="repeats must be a positive int, got 0"):
        pruning.latency_ms(model, torch.randn(1, 1, 28, 28), repeats=0)
    with pytest.raises(ValueError, match="num_threads must be a positive int, got 0"):
        pruning.latency_ms(model, torch.randn(1, 1, 28, 28), num_threads=0)


def test_latency_times_on_one_thread_and_restores_the_setting():
    threads = torch.get_num_threads()
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(torch.get_num_threads())
            return x

    pruning.latency_ms(Probe(), torch.zeros(1), repeats=2, warmup=0)
    assert seen == [1, 1] and torch.get_num_threads() == threads


def seeded_lenet(seed: int = 0) -> models.LeNet300100:
    torch.manual_seed(seed)
    return models.LeNet300100()


@pytest.mark.parametrize("strategy, scope", [(pruning.l1_global, "global"), (pruning.l1_layerwise, "layer")])
def test_prune_copy_with_a_strategy_matches_torch_and_leaves_the_model_alone(strategy, scope):
    model = seeded_lenet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned = pruning.prune_copy(model, 0.7, strategy)
    assert not prune.is_pruned(model) and model.state_dict().keys() == before.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    reference = seeded_lenet()
    pairs = pruning.parameters_to_prune(reference)
    if scope == "global":
        prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=0.7)
    else:
        for module, name in pairs:
            prune.l1_unstructured(module, name, amount=0.7)
    for layer in ("fc1", "fc2", "fc3"):
        assert torch.equal(getattr(pruned, layer).weight_mask, getattr(reference, layer).weight_mask), layer
    assert pruning.global_sparsity(pruned) == pytest.approx(0.7, abs=1e-4)
    assert pruning.strategy_name(strategy) == f"l1_{'global' if scope == 'global' else 'layerwise'}"


def test_global_and_layerwise_spread_sparsity_differently():
    per_layer = {s: pruning.layer_sparsity(pruning.prune_copy(seeded_lenet(), 0.9, s))
                 for s in (pruning.l1_global, pruning.l1_layerwise)}
    assert per_layer[pruning.l1_layerwise] == pytest.approx({"fc1": 0.9, "fc2": 0.9, "fc3": 0.9}, abs=1e-3)
    assert per_layer[pruning.l1_global]["fc3"] < 0.9 < per_layer[pruning.l1_global]["fc1"]


def test_any_callable_is_a_strategy():
    def first_layer_only(model, amount):
        prune.l1_unstructured(model.fc1, "weight", amount=amount)
        return model

    pruned = pruning.prune_copy(seeded_lenet(), 0.5, first_layer_only)
    assert pruning.layer_sparsity(pruned) == pytest.approx({"fc1": 0.5, "fc2": 0.0, "fc3": 0.0})
    message = r"prune must be a strategy, a callable \(model, amount\) -> model, got str"
    with pytest.raises(TypeError, match=message):
        pruning.prune_copy(seeded_lenet(), 0.5, "global")


def test_amounts_compound_and_prune_copy_refuses_a_pruned_model():
    model = pruning.prune_l1(seeded_lenet(), 0.5, "global")
    pruning.prune_l1(model, 0.5, "global")
    assert pruning.global_sparsity(model) == pytest.approx(0.75, abs=1e-5)
    with pytest.raises(ValueError, match="already pruned .* pass the dense model, or call prune.remove"):
        pruning.prune_copy(model, 0.5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(amount=1.5), r"amount must be a fraction in \[0, 1\], got 1.5"),
    (dict(amount=40), r"amount must be a fraction in \[0, 1\], got 40"),
    (dict(amount=-0.1), r"amount must be a fraction in \[0, 1\], got -0.1"),
    (dict(amount=True), r"amount must be a fraction in \[0, 1\], got True"),
    (dict(amount=0.5, scope="local"), r"scope must be one of \('global', 'layer'\), got 'local'"),
])
def test_prune_l1_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pruning.prune_l1(seeded_lenet(), **kwargs)


def test_conv_models_prune_too():
    torch.manual_seed(0)
    model = models.VGGSmall(widths=(4, 8))
    pruned = pruning.prune_copy(model, 0.6, pruning.l1_layerwise)
    assert all(s == pytest.approx(0.6, abs=1e-2) for s in pruning.layer_sparsity(pruned).values())
    assert not prune.is_pruned(model)
    assert isinstance(pruning.parameters_to_prune(pruned)[0][0], nn.Conv2d)


@pytest.mark.parametrize("sparsity, target, amount", [(0.0, 0.6, 0.6), (0.5, 0.75, 0.5), (0.5, 0.9, 0.8),
                                                      (0.3, 0.3, 0.0), (0.75, 1.0, 1.0)])
def test_amount_for_target_reaches_the_target_with_torch(sparsity, target, amount):
    assert pruning.amount_for_target(sparsity, target) == pytest.approx(amount)
    layer = nn.Linear(200, 100)
    if sparsity:
        prune.l1_unstructured(layer, "weight", amount=sparsity)
    prune.l1_unstructured(layer, "weight", amount=pruning.amount_for_target(sparsity, target))
    assert pruning.module_sparsity(layer) == pytest.approx(target, abs=1e-4)


@pytest.mark.parametrize("sparsity, target, message", [
    (0.8, 0.5, "target must be >= sparsity"), (1.0, 1.0, r"sparsity must be a fraction in \[0, 1\)"),
    (0.2, 1.5, r"target must be a fraction in \[0, 1\]")])
def test_amount_for_target_rejects_what_pruning_cannot_do(sparsity, target, message):
    with pytest.raises(ValueError, match=message):
        pruning.amount_for_target(sparsity, target)


def test_make_permanent_removes_every_reparametrisation_and_keeps_the_zeros():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 3)))
    prune.l1_unstructured(net[0], "weight", amount=0.5)
    prune.l1_unstructured(net[0], "bias", amount=2)
    prune.random_unstructured(net[2][1], "weight", amount=0.25)
    prune.l1_unstructured(net[2][1], "weight", amount=0.5)  # pruned twice: a PruningContainer
    x = torch.randn(3, 6)
    expected_state, expected_out = pruning.plain_state_dict(net.state_dict()), net(x).detach()
    assert pruning.make_permanent(net) is net
    assert not prune.is_pruned(net) and not any(m._forward_pre_hooks for m in net.modules())
    assert sorted(dict(net.named_parameters())) == sorted(expected_state)
    assert all(torch.equal(p.detach(), expected_state[n]) for n, p in net.named_parameters())
    assert torch.allclose(net(x), expected_out) and int((net[0].bias == 0).sum()) == 2
    assert pruning.make_permanent(nn.Linear(2, 2)).weight.shape == (2, 2), "unpruned models are left alone"


@pytest.mark.parametrize("target, num_steps", [(0.95, 4), (0.8, 1), (0.9, 10), (0.0, 3)])
def test_gradual_amounts_follow_the_cubic_schedule_on_a_real_tensor(target, num_steps):
    amounts = pruning.gradual_amounts(target, num_steps)
    assert len(amounts) == num_steps and all(0 <= a <= 1 for a in amounts)
    layer = nn.Linear(400, 250)
    for step, amount in enumerate(amounts, start=1):
        prune.l1_unstructured(layer, "weight", amount=amount)
        expected = pruning.cubic_sparsity(step, num_steps, target)
        assert pruning.module_sparsity(layer) == pytest.approx(expected, abs=1e-4)
    assert pruning.module_sparsity(layer) == pytest.approx(target, abs=1e-4)


def test_cubic_sparsity_prunes_fast_first_and_never_decreases():
    path = [pruning.cubic_sparsity(k, 5, 0.9) for k in range(8)]
    assert path[0] == 0.0 and path[5] == path[7] == pytest.approx(0.9)
    assert all(b >= a for a, b in zip(path, path[1:], strict=False))
    assert path[1] - path[0] > path[5] - path[4], "large steps first, small steps last"
    with pytest.raises(ValueError, match=r"target must be a fraction in \[0, 1\), got 1.0"):
        pruning.gradual_amounts(1.0, 3)
    with pytest.raises(ValueError, match="num_steps must be a positive int, got 0"):
        pruning.gradual_amounts(0.5, 0)


def test_sparsity_by_kind_pools_weights_and_biases_as_the_forward_pass_sees_them():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 4))
    with torch.no_grad():
        net[1].weight.zero_()  # BatchNorm is not counted
    prune.l1_unstructured(net[0], "weight", amount=9)  # 9 of 18 conv weights
    prune.l1_unstructured(net[3], "bias", amount=1)  # 1 of 4 biases
    assert pruning.sparsity_by_kind(net) == pytest.approx({"weight": 9 / 50, "bias": 1 / 4})
    pruning.make_permanent(net)
    assert pruning.sparsity_by_kind(net) == pytest.approx({"weight": 9 / 50, "bias": 1 / 4})
    assert pruning.sparsity_by_kind(nn.Linear(3, 2, bias=False)) == {"weight": 0.0, "bias": 0.0}


def test_rewind_copies_values_and_never_shares_storage():
    torch.manual_seed(0)
    model = models.LeNet300100()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    prune.global_unstructured(pruning.parameters_to_prune(model), prune.L1Unstructured, amount=0.8)
    mask = model.fc1.weight_mask.clone()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # "training"
    assert pruning.rewind(model, initial) is model
    assert torch.equal(model.fc1.weight_orig, initial["fc1.weight"])
    assert torch.equal(model.fc3.bias, initial["fc3.bias"])
    assert torch.equal(model.fc1.weight_mask, mask), "the mask is kept"
    assert model.fc1.weight_orig.data_ptr() != initial["fc1.weight"].data_ptr()
    with torch.no_grad():
        model.fc1.weight_orig.add_(1.0)
    assert not torch.equal(model.fc1.weight_orig, initial["fc1.weight"]), "no shared storage"
    with pytest.raises(ValueError, match="has no parameter 'fc9.weight'"):
        pruning.rewind(model, {"fc9.weight": torch.zeros(1)})


def test_configured_pruning_prunes_weights_only_globally_without_rewinding(tmp_path):
    from helpers import data, training

    dm = data.CIFAR10DataModule(source="synthetic", synthetic_sizes=(128, 32, 32), batch_size=32)
    torch.manual_seed(0)
    model = models.VGGSmall(dm.dims, dm.num_classes, widths=(4, 8))
    bn_weights = [m.weight.detach().clone() for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    initial = model.classifier.weight.detach().clone()
    training.fit(model, dm, num_epochs=2, cache=False, progress=False, limit_val_batches=0,
                 callbacks=[pruning.configured_pruning(model, 0.5)])
    assert not prune.is_pruned(model), "made permanent when training ends"
    assert pruning.global_sparsity(model) == pytest.approx(0.75, abs=1e-3), "0.5 twice compounds to 0.75"
    assert len(set(round(s, 3) for s in pruning.layer_sparsity(model).values())) > 1, "global, not per layer"
    assert pruning.sparsity_by_kind(model)["bias"] == 0.0
    kept = model.classifier.weight.detach()
    assert not torch.allclose(kept, initial * (kept != 0)), "trained weights are kept, not rewound"
    bn_after = [m.weight.detach() for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(int((w == 0).sum()) == 0 for w in bn_after) and len(bn_after) == len(bn_weights)


def test_copy_model_copies_a_pruned_model_that_deepcopy_cannot():
    torch.manual_seed(0)
    model = pruning.prune_copy(models.LeNet300100(), 0.5)
    model(torch.randn(2, 1, 28, 28)).sum().backward()  # `weight` is now computed with gradients on
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(model)
    twin = pruning.copy_model(model)
    assert torch.equal(twin.fc1.weight_mask, model.fc1.weight_mask)
    assert torch.equal(twin.fc1.weight, model.fc1.weight)
    with torch.no_grad():
        twin.fc1.weight_orig.zero_()
    assert model.fc1.weight_orig.abs().sum() > 0, "the copy is independent"


def test_op_times_names_the_operations_quietly_and_restores_threads(capfd):
    threads = torch.get_num_threads()
    model = models.SmallCNN(channels=(4, 8), hidden=16).train()
    times = pruning.op_times(model, torch.randn(8, 1, 28, 28), repeats=2)
    assert {"aten::addmm", "aten::max_pool2d_with_indices"} <= set(times)
    assert list(times.values()) == sorted(times.values(), reverse=True)
    assert all(t >= 0 for t in times.values())
    assert torch.get_num_threads() == threads and model.training
    assert "profiler_start" not in capfd.readouterr().err, "the profiler's status lines are silenced"
    with pytest.raises(ValueError, match="repeats must be a positive int, got 0"):
        pruning.op_times(model, torch.randn(1, 1, 28, 28), repeats=0)


# --- What to prune: random baseline, Taylor and Wanda (notebook 07) --------------------------


def small_mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))


def calibration(seed: int = 0, num_batches: int = 3, batch_size: int = 5):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch_size, 12, generator=g), torch.randint(0, 3, (batch_size,), generator=g))
            for _ in range(num_batches)]


@pytest.mark.parametrize("permanent", [False, True])
def test_random_unstructured_like_matches_the_reference_counts_per_layer(permanent):
    model = models.LeNet300100()
    reference = pruning.l1_global(copy.deepcopy(model), 0.9)
    if permanent:
        pruning.make_permanent(reference)
    before = model.fc1.weight.detach().clone()
    torch.manual_seed(0)
    assert pruning.random_unstructured_like(model, reference) is model
    for name in ("fc1", "fc2", "fc3"):
        got, ref = getattr(model, name), getattr(reference, name)
        assert int((got.weight_mask == 0).sum()) == int((pruning.effective_weight(ref) == 0).sum())
    assert torch.equal(model.fc1.weight_orig, before), "only masks are added"
    magnitude_kept = pruning.effective_weight(reference.fc1) != 0
    overlap = (model.fc1.weight_mask.bool() & magnitude_kept).sum() / magnitude_kept.sum()
    assert overlap < 0.3, f"a random 10% keeps about 10% of the magnitude mask's weights, got {overlap:.0%}"
    with pytest.raises(ValueError, match="same layers"):
        pruning.random_unstructured_like(models.SmallCNN(), reference)


def test_random_like_global_keeps_global_l1_per_layer_sparsities():
    model = models.LeNet300100()
    expected = pruning.layer_sparsity(pruning.l1_global(copy.deepcopy(model), 0.8))
    got = pruning.layer_sparsity(pruning.random_like_global(copy.deepcopy(model), 0.8))
    assert got == expected and len(set(got.values())) == 3, "global L1 gives each layer its own sparsity"


def test_taylor_scores_are_weight_times_mean_gradient():
    model, batches = small_mlp(), calibration()
    expected = {}
    for index in ("1", "3"):
        model.get_submodule(index).weight.grad = None
    for x, y in batches:
        nn.functional.cross_entropy(model(x), y).backward()  # gradients add up over the batches
    for index in ("1", "3"):
        layer = model.get_submodule(index)
        expected[index] = (layer.weight * layer.weight.grad / len(batches)).abs().detach()
        layer.weight.grad = None
    weights = copy.deepcopy(model.state_dict())
    got = pruning.taylor_scores(model, batches)
    assert set(got) == {"1", "3"}
    for name in got:
        assert torch.allclose(got[name], expected[name], rtol=1e-5, atol=1e-8)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items()), "weights unchanged"
    prune.l1_unstructured(model.get_submodule("1"), "weight", amount=0.5)
    pruned = pruning.taylor_scores(model, batches)["1"]
    assert (pruned[model.get_submodule("1").weight_mask == 0] == 0).all(), "pruned weights score 0"
    with pytest.raises(ValueError, match="at least one"):
        pruning.taylor_scores(model, [])


def test_input_norms_of_linear_and_conv_layers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, kernel_size=1), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    batches = [(torch.randn(4, 2, 4, 4), torch.zeros(4, dtype=torch.long)) for _ in range(2)]
    norms = pruning.input_norms(model, batches)
    images = torch.cat([x for x, _ in batches])
    # a 1x1 kernel reads one value per channel and position: the norm of each channel over everything
    assert torch.allclose(norms["0"], images.transpose(0, 1).reshape(2, -1).norm(dim=1))
    with torch.no_grad():
        flat = model[1](model[0](images))
    assert torch.allclose(norms["2"], flat.norm(dim=0), rtol=1e-5)
    assert not model[0]._forward_pre_hooks, "the recording hooks are removed"
    wide = nn.Sequential(nn.Conv2d(2, 3, kernel_size=3, padding=1))
    assert pruning.input_norms(wide, batches)["0"].shape == (18,), "a norm per column of weight.flatten(1)"


def test_wanda_mask_compares_within_each_row():
    weight = torch.tensor([[0.5, -0.1, 0.3, 0.2], [0.05, 0.04, -0.9, 0.06]])
    norms = torch.tensor([1.0, 10.0, 1.0, 1.0])
    # scores: row 0: 0.5, 1.0, 0.3, 0.2; row 1: 0.05, 0.4, 0.9, 0.06
    mask = pruning.wanda_mask(weight, norms, 0.5)
    assert mask.tolist() == [[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]]
    ones = pruning.wanda_mask(weight, torch.ones(4), 0.25)
    for row in range(2):  # with equal norms: l1_unstructured on each row alone
        layer = linear_with(weight[row:row + 1])
        prune.l1_unstructured(layer, "weight", amount=0.25)
        assert torch.equal(ones[row], layer.weight_mask[0])
    conv = torch.randn(4, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    conv_mask = pruning.wanda_mask(conv, torch.rand(18, generator=torch.Generator().manual_seed(1)), 0.3)
    assert conv_mask.shape == conv.shape and (conv_mask.flatten(1).sum(1) == 18 - round(0.3 * 18)).all()
    with pytest.raises(ValueError, match="one norm per input feature"):
        pruning.wanda_mask(weight, torch.ones(3), 0.5)
    with pytest.raises(ValueError, match="amount"):
        pruning.wanda_mask(weight, torch.ones(4), 1.5)


def test_data_aware_strategies_reach_their_sparsity():
    batches = calibration()
    model = pruning.taylor_global(batches)(small_mlp(), 0.6)
    assert pruning.global_sparsity(model) == pytest.approx(0.6, abs=1 / 120)
    scores = pruning.taylor_scores(small_mlp(), batches)
    masks = [model.get_submodule(n).weight_mask.bool() for n in ("1", "3")]
    kept = torch.cat([scores[n][m] for n, m in zip(("1", "3"), masks, strict=True)])
    pruned = torch.cat([scores[n][~m] for n, m in zip(("1", "3"), masks, strict=True)])
    assert kept.min() >= pruned.max(), "global: every kept weight scores at least as high as every pruned one"
    wanda = pruning.wanda(batches)(small_mlp(), 0.5)
    assert pruning.layer_sparsity(wanda) == {"1": 0.5, "3": 0.5}
    assert isinstance(wanda[1]._forward_pre_hooks[next(iter(wanda[1]._forward_pre_hooks))],
                      prune.CustomFromMask)


def test_per_layer_prunes_each_layer_by_its_own_amount():
    model = pruning.per_layer({"1": 0.25, "3": 0.5})(small_mlp(), 0.99)  # the amount given is ignored
    assert pruning.layer_sparsity(model) == {"1": 0.25, "3": 0.5}
    with pytest.raises(ValueError, match="must name the model's layers"):
        pruning.per_layer({"1": 0.25})(small_mlp(), 0.5)
    with pytest.raises(ValueError, match="amounts"):
        pruning.per_layer({"1": 1.5, "3": 0.5})


def test_gradual_pruning_prunes_every_few_steps_on_the_cubic_schedule():
    from lightning.pytorch.callbacks import Callback

    from helpers import data, training

    dm = data.MNISTDataModule(source="offline")
    torch.manual_seed(0)
    model = models.LeNet300100()
    seen = []

    class Probe(Callback):  # after the pruning callback: the sparsity after each step's pruning
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append((trainer.global_step, pruning.global_sparsity(model)))

    callback = pruning.gradual_pruning(model, 0.9, end_step=40, every=10)
    training.fit(model, dm, num_epochs=1, cache=False, progress=False, limit_train_batches=50,
                 limit_val_batches=0, callbacks=[callback, Probe()])
    by_step = dict(seen)
    for step in (10, 20, 30, 40):
        expected = pruning.cubic_sparsity(step // 10, 4, 0.9)
        assert by_step[step] == pytest.approx(expected, abs=1e-3), (step, by_step[step], expected)
        assert by_step[step - 1] < by_step[step], "it prunes at that step, not before"
    assert by_step[9] == 0.0 and by_step[50] == pytest.approx(0.9, abs=1e-3), "nothing after end_step"
    assert not prune.is_pruned(model) and pruning.global_sparsity(model) == pytest.approx(0.9, abs=1e-3)
    assert pruning.sparsity_by_kind(model)["bias"] == 0.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target": 1.0, "end_step": 10}, r"target must be a fraction in \[0, 1\)"),
    ({"target": 0.5, "end_step": 15, "every": 10}, "must be a positive multiple of every"),
    ({"target": 0.5, "end_step": 10, "start_step": 10}, "end_step - start_step must be a positive multiple"),
    ({"target": 0.5, "end_step": 10, "every": 0}, "every must be"),
])
def test_gradual_pruning_rejects_schedules_it_cannot_follow(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pruning.gradual_pruning(models.LeNet300100(), **kwargs)


def test_modelpruning_rewinds_once_on_the_cpu_and_a_copying_rewind_every_epoch():
    """05, section 1: Lightning's rewind shares storage on the CPU; a copying one (a GPU's) resets."""
    from lightning.pytorch.callbacks import Callback, ModelPruning

    from helpers import data, training

    dm = data.MNISTDataModule(source="offline")
    seen = {}
    for name, make in (("lightning", ModelPruning), ("copying", pruning.copying_rewind_pruning)):
        torch.manual_seed(0)
        model = models.LeNet300100()
        theta_0 = {n: p.detach().clone() for n, p in model.named_parameters()}
        at_theta_0 = []

        class Probe(Callback):  # after the pruning callback: is fc1 θ₀ × mask after this epoch's rewind?
            def on_train_epoch_end(self, trainer, pl_module, at_theta_0=at_theta_0, theta_0=theta_0):
                fc1 = pl_module.fc1
                rewound = theta_0["fc1.weight"] * fc1.weight_mask
                at_theta_0.append(torch.equal(pruning.effective_weight(fc1), rewound))

        training.fit(model, dm, num_epochs=3, cache=False, progress=False, accelerator="cpu",
                     limit_train_batches=5, limit_val_batches=0, callbacks=[make("l1_unstructured"), Probe()])
        rewound = [torch.equal(p.detach(), torch.where(p != 0, theta_0[n], 0.0))
                   for n, p in model.named_parameters()]
        seen[name] = at_theta_0, rewound
        assert pruning.sparsity_by_kind(model)["weight"] == pytest.approx(0.875, abs=1e-3), name
    assert seen["lightning"][0] == [True, False, False], "on the CPU only the first rewind works"
    assert not any(seen["lightning"][1]), "after the first rewind it trains the saved copy: training is kept"
    assert seen["copying"][0] == [True, True, True], "a copying rewind works after every epoch"
    assert all(seen["copying"][1]), "with a rewind after every epoch, fit ends at θ₀ × mask: training is lost"
