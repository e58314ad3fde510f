"""Structured pruning: rows chosen like prune.ln_structured, layers rebuilt, models that really shrink."""

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from helpers import models, pruning, structured


def ln_structured_rows(weight: torch.Tensor, amount: float) -> list[int]:
    """The rows prune.ln_structured(n=2, dim=0) keeps, for a Linear or Conv2d weight."""
    if weight.dim() == 4:
        module = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:])
    else:
        module = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        module.weight.copy_(weight)
    prune.ln_structured(module, "weight", amount=amount, n=2, dim=0)
    return module.weight_mask.flatten(1)[:, 0].nonzero().flatten().tolist()


@pytest.mark.parametrize(("shape", "amount"), [
    ((10, 7), 0.3), ((5, 9), 0.3), ((5, 9), 0.5), ((300, 784), 0.5), ((16, 8, 3, 3), 0.25),
    ((12, 5, 5, 5), 0.7), ((6, 4), 0.0)])
def test_rows_to_keep_matches_ln_structured(shape, amount):
    weight = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
    kept = structured.rows_to_keep(weight, amount)
    assert kept.dtype == torch.int64 and kept.tolist() == sorted(kept.tolist())
    assert kept.tolist() == ln_structured_rows(weight, amount)


def test_rows_to_keep_ranks_by_l2_not_l1():
    weight = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.9, 0.9, 0.9, 0.0], [0.1, 0.1, 0.1, 0.1]])
    assert structured.rows_to_keep(weight, 0.67).tolist() == [0]  # L1 would keep row 1 (2.7 > 2.0)


@pytest.mark.parametrize(("weight", "amount", "message"), [
    (torch.ones(4, 3), 1.0, r"amount must be a fraction in \[0, 1\), got 1.0"),
    (torch.ones(4, 3), -0.1, r"amount must be a fraction in \[0, 1\)"),
    (torch.ones(4, 3), "0.5", r"amount must be a fraction"),
    (torch.ones(5), 0.5, "at least 2 dimensions"),
    (torch.ones(2, 3), 0.9, "would drop all 2 rows"),
])
def test_rows_to_keep_refuses_bad_input(weight, amount, message):
    with pytest.raises(ValueError, match=message):
        structured.rows_to_keep(weight, amount)


def test_shrink_linear_pair_computes_the_masked_pair_and_copies():
    torch.manual_seed(0)
    first, second = nn.Linear(8, 6), nn.Linear(6, 3)
    keep = torch.tensor([1, 2, 4])
    new_first, new_second = structured.shrink_linear_pair(first, second, keep)
    assert (new_first.out_features, new_second.in_features) == (3, 3)
    x = torch.randn(5, 8)
    unit_mask = torch.zeros(6)
    unit_mask[keep] = 1
    with torch.no_grad():
        assert torch.allclose(new_second(torch.relu(new_first(x))), second(torch.relu(first(x)) * unit_mask),
                              atol=1e-6)
    old = {t.data_ptr() for t in (*first.parameters(), *second.parameters())}
    assert not any(t.data_ptr() in old for t in (*new_first.parameters(), *new_second.parameters()))
    assert first.out_features == 6 and second.in_features == 6


def test_shrink_linear_pair_without_biases():
    first, second = nn.Linear(4, 5, bias=False), nn.Linear(5, 2, bias=False)
    new_first, new_second = structured.shrink_linear_pair(first, second, torch.tensor([0, 3]))
    assert new_first.bias is None and new_second.bias is None


def test_shrink_linear_pair_refuses_bad_input():
    first, second = nn.Linear(4, 5), nn.Linear(5, 2)
    with pytest.raises(ValueError, match=r"distinct indices in \[0, 5\)"):
        structured.shrink_linear_pair(first, second, torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="non-empty 1-D tensor of integer indices"):
        structured.shrink_linear_pair(first, second, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="first has 5 outputs, second has 3 inputs"):
        structured.shrink_linear_pair(first, nn.Linear(3, 2), torch.tensor([0]))
    with pytest.raises(TypeError, match="second must be a torch.nn.Linear, got Conv2d"):
        structured.shrink_linear_pair(first, nn.Conv2d(5, 2, 1), torch.tensor([0]))
    prune.l1_unstructured(first, "weight", amount=0.5)
    with pytest.raises(ValueError, match="still carries a pruning mask"):
        structured.shrink_linear_pair(first, second, torch.tensor([0]))


def test_shrink_mlp_shrinks_every_hidden_layer_and_keeps_the_model():
    torch.manual_seed(0)
    model = models.LeNet300100()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    small = structured.shrink_mlp(model, 0.5)
    assert structured.hidden_units(small) == {"fc1": 150, "fc2": 50, "fc3": 10}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the model is unchanged"
    assert small(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert pruning.count_parameters(small).total == 784 * 150 + 150 + 150 * 50 + 50 + 50 * 10 + 10
    # fc1 keeps its largest-norm rows; fc2 reads exactly those, and keeps the rows that are largest over
    # the inputs that remain; fc3 reads those.
    keep1 = structured.rows_to_keep(model.fc1.weight, 0.5)
    assert torch.equal(small.fc1.weight, model.fc1.weight[keep1])
    keep2 = structured.rows_to_keep(model.fc2.weight[:, keep1], 0.5)
    assert torch.equal(small.fc2.weight, model.fc2.weight[keep2][:, keep1])
    assert torch.equal(small.fc3.weight, model.fc3.weight[:, keep2])


def test_shrink_mlp_refuses_what_it_cannot_shrink():
    with pytest.raises(ValueError, match="has 1 Linear layer"):
        structured.shrink_mlp(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), 0.5)
    with pytest.raises(ValueError, match="not a chain of Linear layers"):
        structured.shrink_mlp(nn.Sequential(nn.Linear(4, 6), nn.Linear(4, 2)), 0.5)
    with pytest.raises(ValueError, match=r"amount must be a fraction in \[0, 1\)"):
        structured.shrink_mlp(models.LeNet300100(), 1.0)
    model = models.LeNet300100()
    prune.l1_unstructured(model.fc2, "weight", amount=0.5)
    with pytest.raises(ValueError, match="fc2 still carries a pruning mask"):
        structured.shrink_mlp(model, 0.5)


def test_prune_channels_follows_the_dependency_graph():
    torch.manual_seed(0)
    cnn = models.SmallCNN()
    x = torch.randn(3, 1, 28, 28)
    small = structured.prune_channels(cnn, x[:1], 0.5)
    assert structured.hidden_units(small) == {"conv1": 8, "conv2": 16, "fc1": 64, "fc2": 10}
    assert small.conv2.in_channels == 8 and small.fc1.in_features == 16 * 7 * 7, "coupled inputs shrink too"
    assert structured.hidden_units(cnn) == {"conv1": 16, "conv2": 32, "fc1": 128, "fc2": 10}, "cnn unchanged"
    assert small(x).shape == (3, 10)
    vgg = models.VGGSmall(widths=(8, 16))
    small_vgg = structured.prune_channels(vgg, torch.randn(1, 3, 32, 32), 0.25)
    assert small_vgg.features[1].num_features == small_vgg.features[0].out_channels == 6, "BatchNorm follows"
    assert small_vgg(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_prune_channels_refuses_bad_input():
    with pytest.raises(ValueError, match="no Linear or Conv2d layer to prune"):
        structured.prune_channels(nn.Sequential(nn.ReLU()), torch.randn(1, 3), 0.5)
    with pytest.raises(ValueError, match=r"ratio must be a fraction in \[0, 1\), got 1.5"):
        structured.prune_channels(models.SmallCNN(), torch.randn(1, 1, 28, 28), 1.5)
    with pytest.raises(ValueError, match="ignored_layers must be layers of model"):
        structured.prune_channels(models.SmallCNN(), torch.randn(1, 1, 28, 28), 0.5,
                                  ignored_layers=[nn.Linear(2, 2)])
    cnn = models.SmallCNN()
    prune.l1_unstructured(cnn.conv1, "weight", amount=0.5)
    with pytest.raises(ValueError, match="still carries pruning masks"):
        structured.prune_channels(cnn, torch.randn(1, 1, 28, 28), 0.5)


def test_macs_per_example_counts_by_hand():
    lenet = models.LeNet300100()
    assert structured.macs_per_example(lenet, torch.randn(7, 1, 28, 28)) == 784 * 300 + 300 * 100 + 100 * 10
    cnn = models.SmallCNN(channels=(4, 8), hidden=16)
    expected = 4 * 25 * 28 * 28 + 8 * 4 * 25 * 14 * 14 + 8 * 7 * 7 * 16 + 16 * 10
    assert structured.macs_per_example(cnn.train(), torch.randn(2, 1, 28, 28)) == expected
    assert cnn.training, "the model's mode is restored"
    with pytest.raises(ValueError, match="non-empty batch"):
        structured.macs_per_example(cnn, torch.randn(0, 1, 28, 28))


def test_two_four_mask_keeps_the_two_largest_of_every_four():
    weight = torch.tensor([[0.3, -0.9, 0.1, 0.5, 0.2, 0.0, -0.4, 0.8]])
    assert structured.two_four_mask(weight).int().tolist() == [[0, 1, 0, 1, 0, 0, 1, 1]]
    mask = structured.two_four_mask(torch.randn(16, 32, generator=torch.Generator().manual_seed(0)))
    assert mask.shape == (16, 32) and (mask.reshape(-1, 4).sum(dim=1) == 2).all()
    with pytest.raises(ValueError, match="rows split into groups of 4"):
        structured.two_four_mask(torch.ones(3, 6))


def test_flop_counter_mode_prints_its_table_by_default(capsys):
    """Notebook 06, exercise 3: without display=False, FlopCounterMode prints a table (tabulate)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = models.LeNet300100()
    with torch.no_grad(), FlopCounterMode() as counter:
        model(torch.randn(2, 1, 28, 28))
    assert counter.get_total_flops() == 2 * 2 * 266_200
    assert "Module" in capsys.readouterr().out, "the default display prints a table of FLOPs per module"


def test_rows_to_keep_refuses_to_drop_every_row():
    with pytest.raises(ValueError, match="would drop all 1 rows; keep at least one"):
        structured.rows_to_keep(torch.ones(1, 3), 0.9)
    assert structured.rows_to_keep(torch.ones(1, 3), 0.5).tolist() == [0], "round(0.5) = 0 rows dropped"
