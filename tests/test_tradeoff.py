"""Pruning sweeps: pruning copies, fine-tuning, measuring, tabulating; on the offline MNIST."""

import lightning as L
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from helpers import models, pruning, tradeoff, training


def seeded_lenet(seed: int = 0) -> models.LeNet300100:
    L.seed_everything(seed, verbose=False)
    return models.LeNet300100()


@pytest.fixture(scope="module")
def trained(mnist):
    """A LeNet-300-100 trained briefly on the offline MNIST (well above chance, not converged)."""
    return training.fit(seeded_lenet(), mnist, num_epochs=1, cache=False, progress=False,
                        limit_train_batches=60, limit_val_batches=0)


@pytest.mark.parametrize("scope", tradeoff.SCOPES)
def test_prune_copy_matches_torch_and_leaves_the_model_alone(scope):
    model = seeded_lenet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned = tradeoff.prune_copy(model, 0.7, scope)
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


def test_global_and_layer_scopes_spread_sparsity_differently():
    per_layer = {scope: pruning.layer_sparsity(tradeoff.prune_copy(seeded_lenet(), 0.9, scope))
                 for scope in tradeoff.SCOPES}
    assert per_layer["layer"] == pytest.approx({"fc1": 0.9, "fc2": 0.9, "fc3": 0.9}, abs=1e-3)
    assert per_layer["global"]["fc3"] < 0.9 < per_layer["global"]["fc1"], per_layer["global"]


def test_prune_model_amounts_compound_and_prune_copy_refuses_a_pruned_model():
    model = tradeoff.prune_model(seeded_lenet(), 0.5, "global")
    tradeoff.prune_model(model, 0.5, "global")
    assert pruning.global_sparsity(model) == pytest.approx(0.75, abs=1e-5)
    with pytest.raises(ValueError, match="already pruned .* pass the dense model, or call prune.remove"):
        tradeoff.prune_copy(model, 0.5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(amount=1.5), r"amount must be a fraction in \[0, 1\], got 1.5"),
    (dict(amount=40), r"amount must be a fraction in \[0, 1\], got 40"),
    (dict(amount=-0.1), r"amount must be a fraction in \[0, 1\], got -0.1"),
    (dict(amount=True), r"amount must be a fraction in \[0, 1\], got True"),
    (dict(amount=0.5, scope="local"), r"scope must be one of \('global', 'layer'\), got 'local'"),
])
def test_prune_copy_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tradeoff.prune_copy(seeded_lenet(), **kwargs)


def test_finetune_recovers_accuracy_and_keeps_the_zeros(trained, mnist):
    pruned = tradeoff.prune_copy(trained, 0.98, "global")
    mask = pruned.fc1.weight_mask.clone()
    before = training.evaluate(pruned, mnist)
    result = tradeoff.finetune(pruned, mnist, num_batches=30)
    assert result is pruned and not pruned.training
    after = training.evaluate(pruned, mnist)
    assert after > before + 0.05, "fine-tuning wins back accuracy"
    assert torch.equal(pruned.fc1.weight_mask, mask)
    assert pruning.global_sparsity(pruned) == pytest.approx(0.98, abs=1e-4), "pruned weights stay zero"
    assert pruned.hparams.lr == trained.hparams.lr


def test_finetune_with_an_lr_restores_the_hyperparameter_and_zero_batches_do_nothing(trained, mnist):
    pruned = tradeoff.prune_copy(trained, 0.5)
    weights = pruned.fc2.weight_orig.clone()
    tradeoff.finetune(pruned, mnist, num_batches=0)
    assert torch.equal(pruned.fc2.weight_orig, weights)
    tradeoff.finetune(pruned, mnist, num_batches=3, lr=1e-3)
    assert not torch.equal(pruned.fc2.weight_orig, weights)
    assert pruned.hparams.lr == trained.hparams.lr
    with pytest.raises(ValueError, match="num_batches must be a non-negative int or None, got -1"):
        tradeoff.finetune(pruned, mnist, num_batches=-1)
    with pytest.raises(ValueError, match="lr must be positive, got 0"):
        tradeoff.finetune(pruned, mnist, num_batches=3, lr=0)
    with pytest.raises(ValueError, match="Linear has no hparams.lr; fine-tune a model of helpers.models"):
        tradeoff.finetune(nn.Linear(2, 2), mnist)


def test_measure_reports_what_the_helpers_measure(trained, mnist):
    pruned = tradeoff.prune_copy(trained, 0.9)
    row = tradeoff.measure(pruned, mnist, latency_repeats=3)
    assert row["accuracy"] == training.evaluate(pruned, mnist)
    assert row["sparsity"] == pytest.approx(0.9, abs=1e-4)
    assert row["nonzero"] == pruning.count_parameters(pruned).nonzero
    assert row["dense_bytes"] == pruning.serialized_size(trained)
    assert row["sparse_bytes"] == pruning.serialized_size(pruned, sparse=True) < 0.3 * row["dense_bytes"]
    assert row["latency_ms"] > 0


def test_sweep_rows_before_and_after_finetuning(trained, mnist):
    state = {k: v.clone() for k, v in trained.state_dict().items()}
    rows = tradeoff.sweep(trained, mnist, [0.0, 0.5, 0.98], finetune_batches=20, latency_repeats=3)
    assert [(r["amount"], r["finetuned"]) for r in rows] == [
        (0.0, False), (0.0, True), (0.5, False), (0.5, True), (0.98, False), (0.98, True)]
    assert all(set(r) == set(tradeoff.ROW_KEYS) and r["scope"] == "global" for r in rows)
    assert rows[0]["accuracy"] == training.evaluate(trained, mnist)
    assert rows[5]["accuracy"] > rows[4]["accuracy"] + 0.05, "fine-tuning helps at 98% sparsity"
    assert rows[5]["sparsity"] == rows[4]["sparsity"] == pytest.approx(0.98, abs=1e-4)
    assert rows[0]["sparse_bytes"] > rows[2]["sparse_bytes"] > rows[4]["sparse_bytes"]
    assert rows[0]["dense_bytes"] == rows[4]["dense_bytes"], "zeros do not shrink dense storage"
    assert all(torch.equal(trained.state_dict()[k], v) for k, v in state.items()), "model untouched"


def test_sweep_checks_its_input_before_any_work(trained, mnist):
    with pytest.raises(ValueError, match="amounts must not be empty"):
        tradeoff.sweep(trained, mnist, [])
    with pytest.raises(ValueError, match=r"amount must be a fraction in \[0, 1\], got 90"):
        tradeoff.sweep(trained, mnist, [0.5, 90])
    with pytest.raises(ValueError, match="scope must be one of"):
        tradeoff.sweep(trained, mnist, [0.5], scope="Global")


def test_iterative_sweep_compounds_to_each_target(trained, mnist):
    rows = tradeoff.iterative_sweep(trained, mnist, [0.5, 0.75, 0.9], finetune_batches=5, latency_repeats=1)
    assert [r["sparsity"] for r in rows] == pytest.approx([0.5, 0.75, 0.9], abs=1e-4)
    assert [r["amount"] for r in rows] == pytest.approx([0.5, 0.5, 0.6])
    assert all(r["method"] == "iterative" and r["finetuned"] for r in rows)
    with pytest.raises(ValueError, match=r"strictly increasing in \(0, 1\), got \[0.9, 0.5\]"):
        tradeoff.iterative_sweep(trained, mnist, [0.9, 0.5])
    with pytest.raises(ValueError, match=r"strictly increasing in \(0, 1\), got \[0.5, 1.0\]"):
        tradeoff.iterative_sweep(trained, mnist, [0.5, 1.0])


def test_table_formats_text_and_markdown():
    rows = [dict(amount=0.9, scope="global", method="one-shot", finetuned=True, accuracy=0.9612, sparsity=0.9,
                 nonzero=27_030, dense_bytes=1_069_077, sparse_bytes=220_351, latency_ms=0.1234)]
    text = tradeoff.table(rows).splitlines()
    assert len(text) == 2 and text[0].split()[:2] == ["amount", "scope"]
    assert text[1].split() == ["90%", "global", "one-shot", "yes", "96.12%", "90.0%", "27,030", "1,069",
                               "220", "0.123"]
    markdown = tradeoff.table(rows + rows, markdown=True).splitlines()
    assert len(markdown) == 4 and markdown[1].startswith("|---:|---|")
    assert markdown[2] == "| 90% | global | one-shot | yes | 96.12% | 90.0% | 27,030 | 1,069 | 220 | 0.123 |"


def test_example_batch_is_seeded_and_shaped(mnist):
    assert torch.equal(tradeoff.example_batch(mnist, 4), tradeoff.example_batch(mnist, 4))
    assert tradeoff.example_batch(mnist, 4).shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        tradeoff.example_batch(mnist, 0)


def test_conv_models_prune_too():
    torch.manual_seed(0)
    model = models.VGGSmall(widths=(4, 8))
    pruned = tradeoff.prune_copy(model, 0.6, "layer")
    assert all(s == pytest.approx(0.6, abs=1e-2) for s in pruning.layer_sparsity(pruned).values())
    assert not any(prune.is_pruned(m) for m in model.modules())
    assert isinstance(pruning.parameters_to_prune(pruned)[0][0], nn.Conv2d)
