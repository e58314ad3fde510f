"""Pruning measurements, checked against what torch.nn.utils.prune itself produces."""

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


def test_effective_tensor_is_fresh_without_a_forward_pass():
    layer = linear_with(SLIDE)
    prune.l1_unstructured(layer, "weight", amount=2)
    with torch.no_grad():
        layer.weight_orig.fill_(1.0)
    assert torch.equal(pruning.effective_tensor(layer), layer.weight_mask)
    with pytest.raises(ValueError, match="has no tensor 'kernel'; it has \\['bias', 'weight'\\]"):
        pruning.effective_tensor(layer, "kernel")


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


def test_effective_state_dict_loads_into_a_plain_model():
    torch.manual_seed(0)
    model = models.LeNet300100()
    prune.l1_unstructured(model.fc2, "weight", amount=0.3)
    with pytest.raises(RuntimeError, match="weight_orig"):
        models.LeNet300100().load_state_dict(model.state_dict())
    plain = models.LeNet300100()
    plain.load_state_dict(pruning.effective_state_dict(model))
    x = torch.randn(4, 1, 28, 28)
    assert torch.allclose(plain(x), model(x))


def test_sparse_storage_round_trips_and_pays_off_only_when_sparse():
    torch.manual_seed(0)
    model = models.LeNet300100()
    dense_before = pruning.serialized_size(model)
    assert pruning.serialized_size(model, sparse=True) > dense_before, "CSR of a dense matrix is larger"
    prune.global_unstructured(pruning.parameters_to_prune(model), prune.L1Unstructured, amount=0.9)
    assert abs(pruning.serialized_size(model) - dense_before) < 2_000, "zeros do not shrink dense storage"
    assert pruning.serialized_size(model, sparse=True) < 0.3 * dense_before
    state = pruning.effective_state_dict(model)
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
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        pruning.latency_ms(model, torch.randn(1, 1, 28, 28), repeats=0)
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
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
