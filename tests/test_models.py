"""Models: built from a data module's dims, right shapes and sizes, Lightning logging."""

import pytest
import torch

from helpers import models, training


@pytest.mark.parametrize("cls, dims", [
    (models.LeNet300100, (1, 28, 28)),
    (models.SmallCNN, (1, 28, 28)),
    (models.SmallCNN, (3, 32, 32)),
    (models.VGGSmall, (3, 32, 32)),
])
def test_forward_shape_from_dims(cls, dims):
    model = cls(dims=dims, num_classes=7)
    assert model(torch.randn(5, *dims)).shape == (5, 7)
    assert model.hparams.dims == dims and model.hparams.num_classes == 7


def test_lenet_300_100_layers():
    model = models.LeNet300100()
    shapes = [tuple(m.weight.shape) for m in (model.fc1, model.fc2, model.fc3)]
    assert shapes == [(300, 784), (100, 300), (10, 100)]
    assert sum(p.numel() for p in model.parameters()) == 266_610


def test_vgg_convs_are_followed_by_batchnorm():
    layers = list(models.VGGSmall().features)
    convs = [i for i, m in enumerate(layers) if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6
    for i in convs:
        assert isinstance(layers[i + 1], torch.nn.BatchNorm2d) and layers[i].bias is None


@pytest.mark.parametrize("kwargs, match", [
    ({"dims": (28, 28)}, "dims must be"),
    ({"dims": (1, 0, 28)}, "dims must be"),
    ({"num_classes": 1}, "num_classes must be >= 2"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.LeNet300100(**kwargs)


def test_vgg_rejects_too_small_inputs():
    with pytest.raises(ValueError, match="need inputs of at least 8 pixels"):
        models.VGGSmall(dims=(3, 4, 4))


def test_shared_step_logs_loss_and_accuracy_per_stage(mnist):
    model = models.LeNet300100(mnist.dims, mnist.num_classes)
    trainer = training.make_trainer(1, progress=False, limit_train_batches=3, limit_val_batches=2,
                                    limit_test_batches=2)
    trainer.fit(model, datamodule=mnist)
    assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= set(trainer.callback_metrics)
    trainer.test(model, datamodule=mnist, verbose=False)
    assert 0.0 <= float(trainer.callback_metrics["test_acc"]) <= 1.0
