"""Training: real learning on offline MNIST, seeding, the checkpoint cache, evaluation."""

import os
import warnings

import lightning as L
import pytest
import torch

from helpers import models, training


def test_lenet_learns_offline_mnist(mnist):
    model = training.fit(models.LeNet300100(mnist.dims, mnist.num_classes), mnist, num_epochs=2,
                         cache=False, progress=False)
    assert training.evaluate(model, mnist) > 0.9, "chance is 0.1"


def seeded_lenet(seed: int = 0) -> models.LeNet300100:
    L.seed_everything(seed, verbose=False)
    return models.LeNet300100()


@pytest.mark.parametrize("seed, same", [(0, True), (1, False)])
def test_same_seed_same_weights(mnist, seed, same):
    settings = dict(num_epochs=1, cache=False, progress=False, limit_train_batches=10, limit_val_batches=0)
    first = training.fit(seeded_lenet(), mnist, **settings)
    second = training.fit(seeded_lenet(seed), mnist, seed=seed, **settings)
    assert torch.equal(first.fc1.weight, second.fc1.weight) == same


def test_cache_loads_instead_of_training(mnist, tmp_path, capsys):
    settings = dict(num_epochs=1, cache_dir=tmp_path, progress=False, limit_train_batches=5,
                    limit_val_batches=0)
    torch.manual_seed(0)
    first = training.fit(models.LeNet300100(), mnist, **settings)
    assert len(list(tmp_path.glob("LeNet300100-*.pt"))) == 1
    capsys.readouterr()
    torch.manual_seed(0)
    second = training.fit(models.LeNet300100(), mnist, **settings)
    assert "Loaded trained LeNet300100 from the cache" in capsys.readouterr().out
    assert torch.equal(first.fc2.weight, second.fc2.weight)


def test_cache_key_depends_on_hyperparameters_data_and_settings(mnist, tmp_path):
    from helpers import data

    def lenet(**hparams):
        torch.manual_seed(0)  # the same starting weights for every key below but one
        return models.LeNet300100(**hparams)

    base = training.cache_path(lenet(), mnist, {"num_epochs": 1}, tmp_path)
    assert base == training.cache_path(lenet(), mnist, {"num_epochs": 1}, tmp_path)
    assert base != training.cache_path(lenet(lr=0.1), mnist, {"num_epochs": 1}, tmp_path)
    assert base != training.cache_path(lenet(), mnist, {"num_epochs": 2}, tmp_path)
    torch.manual_seed(1)
    assert base != training.cache_path(models.LeNet300100(), mnist, {"num_epochs": 1}, tmp_path)
    other_data = data.MNISTDataModule(source="offline", seed=1)
    with pytest.raises(RuntimeError, match=r"call MNISTDataModule.setup\(\) before asking for its cache_key"):
        training.cache_path(lenet(), other_data, {"num_epochs": 1}, tmp_path)
    other_data.setup()
    assert base != training.cache_path(lenet(), other_data, {"num_epochs": 1}, tmp_path)


def test_cache_never_hands_one_model_the_weights_of_another_start(mnist, tmp_path, capsys):
    settings = dict(num_epochs=1, cache_dir=tmp_path, progress=False, limit_train_batches=3,
                    limit_val_batches=0)
    torch.manual_seed(0)
    first = training.fit(models.LeNet300100(), mnist, **settings)
    torch.manual_seed(1)
    other_start = models.LeNet300100()
    start = other_start.fc1.weight.detach().clone()
    capsys.readouterr()
    second = training.fit(other_start, mnist, **settings)
    assert "from the cache" not in capsys.readouterr().out
    assert len(list(tmp_path.glob("LeNet300100-*.pt"))) == 2
    assert not torch.equal(first.fc1.weight, second.fc1.weight)
    assert not torch.equal(second.fc1.weight, start), "it trained from its own start"


def test_state_digest_follows_every_tensor_of_the_state():
    torch.manual_seed(0)
    model = models.VGGSmall(widths=(4, 8))  # BatchNorm buffers, a 0-dim num_batches_tracked
    digest = training.state_digest(model)
    assert digest == training.state_digest(model) and len(digest) == 64
    model.features[1].num_batches_tracked += 1
    assert training.state_digest(model) != digest


def test_fit_prepares_and_sets_up_the_data_the_lightning_way(tmp_path):
    from helpers import data

    dm = data.MNISTDataModule(data_dir=tmp_path, source="auto")
    model = training.fit(models.LeNet300100(), dm, num_epochs=1, cache=False, progress=False,
                         limit_train_batches=2, limit_val_batches=0)
    assert dm.source == "offline" and len(dm.train_set) == 8_000 and not model.training


def test_evaluate_and_trainer_reject_bad_arguments(mnist):
    with pytest.raises(ValueError, match=r"split must be one of \('test', 'val'\), got 'train'"):
        training.evaluate(models.LeNet300100(), mnist, split="train")
    with pytest.raises(ValueError, match="num_epochs must be a positive int"):
        training.make_trainer(0)


def test_trainer_defaults_are_cpu_friendly_and_quiet():
    trainer = training.make_trainer(2, progress=False)
    assert trainer.max_epochs == 2 and trainer.logger is None
    assert not trainer.checkpoint_callbacks and trainer.progress_bar_callback is None


@pytest.fixture(scope="module")
def cifar_vgg():
    """A VGGSmall (conv + BatchNorm) trained briefly on a small synthetic CIFAR-10 stand-in."""
    from helpers import data

    dm = data.CIFAR10DataModule(source="synthetic", synthetic_sizes=(3_000, 500, 1_000))
    model = models.VGGSmall(dm.dims, dm.num_classes, widths=(16, 32, 64))
    return training.fit(model, dm, num_epochs=2, cache=False, progress=False, limit_val_batches=0), dm


def test_recalibrate_batchnorm_restores_a_pruned_vgg(cifar_vgg):
    from helpers import pruning

    vgg, dm = cifar_vgg
    dense = training.evaluate(vgg, dm)
    pruned = pruning.prune_copy(vgg, 0.4, pruning.l1_layerwise)
    stale = training.evaluate(pruned, dm)
    bn = pruned.features[1]
    assert isinstance(bn, torch.nn.BatchNorm2d)
    mean, weights = bn.running_mean.clone(), pruned.features[0].weight_orig.clone()
    result = training.recalibrate_batchnorm(pruned, dm, num_batches=20)
    assert result is pruned and not pruned.training
    assert not torch.allclose(bn.running_mean, mean), "the running statistics were measured again"
    assert torch.equal(pruned.features[0].weight_orig, weights), "no weight changes"
    assert pruning.global_sparsity(pruned) == pytest.approx(0.4, abs=1e-3), "the masks stay in force"
    recalibrated = training.evaluate(pruned, dm)
    assert stale < dense - 0.05, f"stale statistics cost accuracy: dense {dense:.3f}, pruned {stale:.3f}"
    assert recalibrated > stale + 0.05 and recalibrated > dense - 0.05, (dense, stale, recalibrated)


def test_recalibrate_batchnorm_is_seeded_and_checks_its_input(cifar_vgg, mnist):
    from helpers import pruning

    vgg, dm = cifar_vgg
    first, second = (training.recalibrate_batchnorm(pruning.prune_copy(vgg, 0.5), dm, num_batches=3)
                     for _ in range(2))
    assert torch.equal(first.features[1].running_var, second.features[1].running_var)
    lenet = models.LeNet300100()
    state = {k: v.clone() for k, v in lenet.state_dict().items()}
    assert training.recalibrate_batchnorm(lenet, mnist, num_batches=2) is lenet
    assert all(torch.equal(lenet.state_dict()[k], v) for k, v in state.items()), "no BatchNorm: unchanged"
    with pytest.raises(ValueError, match="num_batches must be a positive int, got 0"):
        training.recalibrate_batchnorm(vgg, dm, num_batches=0)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        training.recalibrate_batchnorm("vgg", dm)


# LeNet-300-100 has no dropout: its fine-tuning draws nothing at random but the order of the images,
# so the seed alone changes nothing (it is still applied); the data module's shuffle_seed does.
@pytest.mark.parametrize("seed, shuffle_seed, same", [(0, None, True), (1, None, True), (0, 1, False)])
def test_finetune_takes_a_seed_and_the_data_order(mnist, seed, shuffle_seed, same):
    from helpers import data

    dm = mnist if shuffle_seed is None else data.MNISTDataModule(source="offline", shuffle_seed=shuffle_seed)
    base = training.fit(seeded_lenet(), mnist, num_epochs=1, cache=False, progress=False,
                        limit_train_batches=5, limit_val_batches=0)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    first = training.finetune(base, mnist, num_batches=5)
    second = models.LeNet300100()
    second.load_state_dict(state)
    training.finetune(second, dm, num_batches=5, seed=seed)
    assert torch.initial_seed() == seed, "finetune seeds everything with its seed"
    assert torch.equal(first.fc1.weight, second.fc1.weight) == same


def test_fit_does_not_repeat_lightnings_srun_warning(mnist, tmp_path, monkeypatch):
    fake_srun = tmp_path / "srun"  # a machine with Slurm installed, as on a cluster's login node
    fake_srun.write_text("#!/bin/sh\n")
    fake_srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    for name in [n for n in os.environ if n.startswith("SLURM_")]:
        monkeypatch.delenv(name)
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, accelerator="cpu")
    assert any("srun" in str(w.message) for w in raw), "Lightning itself warns here"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        training.fit(models.LeNet300100(), mnist, num_epochs=1, cache=False, progress=False,
                     limit_train_batches=2, limit_val_batches=0)
        training.make_trainer(1, progress=False)
    assert not [w for w in caught if "srun" in str(w.message)]


def test_training_device_is_where_fit_trains(mnist):
    seen = []
    probe = L.Callback()
    probe.on_train_start = lambda trainer, module: seen.append(next(module.parameters()).device)
    training.fit(models.LeNet300100(), mnist, num_epochs=1, cache=False, progress=False,
                 limit_train_batches=1, limit_val_batches=0, callbacks=[probe])
    assert seen == [training.training_device()]
    assert training.training_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
