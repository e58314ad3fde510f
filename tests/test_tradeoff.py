"""Sweeps over a pruning strategy, fine-tuning, measuring, budgets and tables, on the offline MNIST."""

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


def test_finetune_recovers_accuracy_and_keeps_the_zeros(trained, mnist):
    pruned = pruning.prune_copy(trained, 0.98)
    mask = pruned.fc1.weight_mask.clone()
    before = training.evaluate(pruned, mnist)
    result = training.finetune(pruned, mnist, num_batches=30)
    assert result is pruned and not pruned.training
    after = training.evaluate(pruned, mnist)
    assert after > before + 0.05, "fine-tuning wins back accuracy"
    assert torch.equal(pruned.fc1.weight_mask, mask)
    assert pruning.global_sparsity(pruned) == pytest.approx(0.98, abs=1e-4), "pruned weights stay zero"
    assert pruned.hparams.lr == trained.hparams.lr


def test_finetune_with_an_lr_restores_the_hyperparameter_and_zero_batches_do_nothing(trained, mnist):
    pruned = pruning.prune_copy(trained, 0.5)
    weights = pruned.fc2.weight_orig.clone()
    training.finetune(pruned, mnist, num_batches=0)
    assert torch.equal(pruned.fc2.weight_orig, weights)
    training.finetune(pruned, mnist, num_batches=3, lr=1e-3)
    assert not torch.equal(pruned.fc2.weight_orig, weights)
    assert pruned.hparams.lr == trained.hparams.lr
    with pytest.raises(ValueError, match="num_batches must be a non-negative int or None, got -1"):
        training.finetune(pruned, mnist, num_batches=-1)
    with pytest.raises(ValueError, match="lr must be a positive number, got 0"):
        training.finetune(pruned, mnist, num_batches=3, lr=0)
    with pytest.raises(ValueError, match="Linear has no hparams.lr; fine-tune a model of helpers.models"):
        training.finetune(nn.Linear(2, 2), mnist)


def test_measure_reports_what_the_helpers_measure(trained, mnist):
    pruned = pruning.prune_copy(trained, 0.9)
    row = tradeoff.measure(pruned, mnist, latency_repeats=3)
    assert set(row) == set(tradeoff.ROW_KEYS) - {"amount", "strategy", "method", "finetuned"}
    assert row["accuracy"] == training.evaluate(pruned, mnist)
    assert row["val_accuracy"] == training.evaluate(pruned, mnist, split="val")
    assert row["val_accuracy"] != row["accuracy"], "two different splits"
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
    assert all(set(r) == set(tradeoff.ROW_KEYS) and r["strategy"] == "l1_global" for r in rows)
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
    with pytest.raises(TypeError, match="prune must be a strategy"):
        tradeoff.sweep(trained, mnist, [0.5], prune="global")
    with pytest.raises(ValueError, match="finetune_batches must be a non-negative int or None, got 2.5"):
        tradeoff.sweep(trained, mnist, [0.5], finetune_batches=2.5)


def test_sweep_takes_the_strategy_it_is_given(trained, mnist):
    rows = tradeoff.sweep(trained, mnist, [0.9], prune=pruning.l1_layerwise, latency_repeats=1)
    assert rows[0]["strategy"] == "l1_layerwise"
    assert rows[0]["accuracy"] == training.evaluate(pruning.prune_copy(trained, 0.9, pruning.l1_layerwise),
                                                    mnist)


def test_iterative_sweep_compounds_to_each_target(trained, mnist):
    rows = tradeoff.iterative_sweep(trained, mnist, [0.5, 0.75, 0.9], finetune_batches=5, latency_repeats=1,
                                    prune=pruning.l1_layerwise)
    assert [r["sparsity"] for r in rows] == pytest.approx([0.5, 0.75, 0.9], abs=1e-4)
    assert [r["amount"] for r in rows] == pytest.approx([0.5, 0.5, 0.6])
    assert all(r["method"] == "iterative" and r["finetuned"] for r in rows)
    assert all(r["strategy"] == "l1_layerwise" for r in rows)
    message = r"schedule must be strictly increasing target sparsities in \(0, 1\), got "
    with pytest.raises(ValueError, match=message + r"\[0.9, 0.5\]"):
        tradeoff.iterative_sweep(trained, mnist, [0.9, 0.5])
    with pytest.raises(ValueError, match=message + r"\[0.5, 1.0\]"):
        tradeoff.iterative_sweep(trained, mnist, [0.5, 1.0])


def test_table_formats_text_and_markdown():
    rows = [dict(amount=0.9, strategy="l1_global", method="one-shot", finetuned=True, accuracy=0.9612,
                 val_accuracy=0.9587, sparsity=0.9, nonzero=27_030, dense_bytes=1_069_077,
                 sparse_bytes=220_351, latency_ms=0.1234)]
    text = tradeoff.table(rows).splitlines()
    assert len(text) == 2 and text[0].split()[:2] == ["amount", "strategy"]
    assert text[1].split() == ["90%", "l1_global", "one-shot", "yes", "96.12%", "95.87%", "90.0%", "27,030",
                               "1,069", "220", "0.123"]
    markdown = tradeoff.table(rows + rows, markdown=True).splitlines()
    assert len(markdown) == 4 and markdown[1].startswith("|---:|---|")
    assert markdown[2] == ("| 90% | l1_global | one-shot | yes | 96.12% | 95.87% | 90.0% | 27,030 | 1,069 "
                           "| 220 | 0.123 |")


def test_example_batch_is_seeded_and_shaped(mnist):
    assert torch.equal(tradeoff.example_batch(mnist, 4), tradeoff.example_batch(mnist, 4))
    assert tradeoff.example_batch(mnist, 4).shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        tradeoff.example_batch(mnist, 0)


ROWS = [{"amount": a, "sparsity": a, "accuracy": acc}
        for a, acc in [(0.9, 0.972), (0.0, 0.980), (0.98, 0.900), (0.5, 0.981), (0.95, 0.960)]]


@pytest.mark.parametrize("budget, expected", [(0.01, 0.9), (0.03, 0.95), (0.0, 0.5), (0.08, 0.98)])
def test_highest_sparsity_within_budget_checks_every_row(budget, expected):
    assert tradeoff.highest_sparsity_within_budget(ROWS, 0.980, budget) == expected
    within = tradeoff.rows_within_budget(ROWS, 0.980, budget)
    assert all(0.980 - r["accuracy"] <= budget + 1e-6 for r in within)
    assert len(within) == sum(0.980 - r["accuracy"] <= budget + 1e-6 for r in ROWS)


def test_a_drop_equal_to_the_budget_is_within_it_despite_float32():
    dense, pruned = float(torch.tensor(0.961)), float(torch.tensor(0.956))
    assert dense - pruned > 0.005, "float32 accuracies make the drop a hair above the budget"
    rows = [{"amount": 0.9, "sparsity": 0.9, "accuracy": pruned}]
    assert tradeoff.highest_sparsity_within_budget(rows, dense, 0.005) == 0.9
    assert tradeoff.highest_sparsity_within_budget(rows, dense, 0.004) == 0.0, "nothing within: 0.0"
    with pytest.raises(ValueError, match=r"budget must be a fraction in \[0, 1\], got 5"):
        tradeoff.rows_within_budget(rows, dense, 5)


@pytest.mark.parametrize("method", tradeoff.PRUNING_METHODS)
def test_train_pruned_reaches_the_target_with_its_training_budget(trained, mnist, method):
    state = {k: v.clone() for k, v in trained.state_dict().items()}
    torch.manual_seed(123)
    pruned = tradeoff.train_pruned(method, trained, mnist, 0.9, num_epochs=3, seed=7, every=50)
    assert pruned is not trained and not pruned.training
    assert pruning.global_sparsity(pruned) == pytest.approx(0.9, abs=1e-3)
    assert pruning.sparsity_by_kind(pruned)["bias"] == 0.0, "the weights only"
    assert training.evaluate(pruned, mnist) > 0.5, "trained after pruning, not left broken"
    assert torch.initial_seed() == 7, f"{method} trains with seed=7"
    assert all(torch.equal(trained.state_dict()[k], v) for k, v in state.items()), "model untouched"


def test_train_pruned_rejects_what_it_cannot_do(trained, mnist):
    with pytest.raises(ValueError, match="method must be one of"):
        tradeoff.train_pruned("lottery", trained, mnist, 0.5, 3)
    with pytest.raises(ValueError, match="num_epochs must be a positive multiple of 3"):
        tradeoff.train_pruned("one-shot", trained, mnist, 0.5, 2)
    with pytest.raises(ValueError, match=r"every \(1000\) must be at most the training steps of 2 epochs"):
        tradeoff.train_pruned("gradual", trained, mnist, 0.5, 3, every=1000)


def test_epoch_schedule_stops_pruning_after_its_amounts():
    amount = pruning.epoch_schedule([0.5, 0.25])
    assert [amount(e) for e in range(4)] == [0.5, 0.25, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"amount must be a fraction in \[0, 1\], got 2"):
        pruning.epoch_schedule([0.5, 2])


# --- What to prune: paired comparisons, the sensitivity scan, allocation (notebook 07) --------


def test_correct_predictions_pair_image_by_image(trained, mnist):
    hits = tradeoff.correct_predictions(trained, mnist)
    assert hits.dtype == torch.bool and hits.shape == (len(mnist.test_set),)
    assert float(hits.float().mean()) == pytest.approx(training.evaluate(trained, mnist), abs=1e-6)
    assert len(tradeoff.correct_predictions(trained, mnist, "val")) == len(mnist.val_set)
    with pytest.raises(ValueError, match="split"):
        tradeoff.correct_predictions(trained, mnist, "train")


def test_paired_difference_and_verdicts():
    a = torch.tensor([True] * 90 + [False] * 10)
    b = torch.tensor([True] * 80 + [False] * 20)
    diff, se = tradeoff.paired_difference(a, b)
    expected_se = torch.tensor([1.0] * 10 + [0.0] * 90).std() / 10
    assert diff == pytest.approx(0.1) and se == pytest.approx(expected_se)
    assert tradeoff.paired_verdict("a", [a], "b", [b]).endswith("a is better")
    assert tradeoff.paired_verdict("b", [b], "a", [a]).endswith("b is worse")
    near = torch.tensor([True] * 81 + [False] * 19)
    assert tradeoff.paired_verdict("near", [near], "b", [b]).endswith("inside the noise")
    worse = torch.tensor([True] * 70 + [False] * 30)
    # +20, +20 and -10 points: 10 points on average, far outside 2 SE (4.3), but one seed says the opposite
    verdict = tradeoff.paired_verdict("x", [a, a, b], "y", [worse, worse, a])
    assert verdict.endswith("too noisy to tell (the seeds disagree)") and "+10.00" in verdict
    with pytest.raises(ValueError, match="same number"):
        tradeoff.paired_verdict("a", [a], "b", [b, b])
    with pytest.raises(ValueError, match="same images"):
        tradeoff.paired_difference(a, b[:50])


def test_sensitivity_scan_prunes_one_layer_at_a_time(trained, mnist):
    weights = {k: v.clone() for k, v in trained.state_dict().items()}
    scan = tradeoff.sensitivity_scan(trained, mnist, [0.0, 0.99])
    assert list(scan) == ["fc1", "fc2", "fc3"] and all(list(c) == [0.0, 0.99] for c in scan.values())
    dense = float(tradeoff.correct_predictions(trained, mnist, "val").float().mean())
    assert all(curve[0.0] == pytest.approx(dense) for curve in scan.values())
    copy_ = pruning.copy_model(trained)
    prune.l1_unstructured(copy_.fc3, "weight", amount=0.99)
    expected = float(tradeoff.correct_predictions(copy_, mnist, "val").float().mean())
    assert scan["fc3"][0.99] == pytest.approx(expected)
    assert scan["fc3"][0.99] < dense - 0.3, "10 of 1,000 output weights left: fc3 is the sensitive layer"
    assert all(torch.equal(weights[k], v) for k, v in trained.state_dict().items()), "model left untouched"


SCAN = {"big": {0.5: 0.96, 0.9: 0.95, 0.99: 0.70},
        "small": {0.5: 0.95, 0.9: 0.60, 0.99: 0.10}}
SIZES = {"big": 900, "small": 100}


def test_allocate_amounts_meets_the_budget_with_equal_accuracy_floors():
    amounts = tradeoff.allocate_amounts(SCAN, SIZES, 0.5)
    # floor 0.96: big tolerates 0.5, small 0 -> 450 weights of 1,000 < 500; floor 0.95: 0.9 and 0.5
    assert amounts == pytest.approx({"big": 0.9 * 500 / 860, "small": 0.5 * 500 / 860})
    assert sum(SIZES[k] * a for k, a in amounts.items()) == pytest.approx(500)
    expected = {"big": 0.4 / 0.45 * 0.5, "small": 0.0}
    assert tradeoff.allocate_amounts(SCAN, SIZES, 0.4) == pytest.approx(expected)
    non_monotone = {"a": {0.5: 0.8, 0.9: 0.95}, "b": {0.5: 0.95}}
    assert tradeoff.allocate_amounts(non_monotone, {"a": 1, "b": 1}, 0.5)["a"] == pytest.approx(0.9 / 1.4)
    with pytest.raises(ValueError, match="cannot reach"):
        tradeoff.allocate_amounts(SCAN, SIZES, 0.995)
    with pytest.raises(ValueError, match=r"budget must be a fraction in \(0, 1\)"):
        tradeoff.allocate_amounts(SCAN, SIZES, 0.0)
