"""LightningModules the course prunes, built from a data module's ``dims`` and ``num_classes``.

- :class:`LeNet300100`: the fully connected LeNet-300-100 of LeCun et al. (MNIST).
- :class:`SmallCNN`: two conv layers and two linear layers (MNIST).
- :class:`VGGSmall`: a small VGG-style CNN with BatchNorm (CIFAR-10), so that whole channels
  can be pruned later.

Every model names its prunable layers plainly (``fc1``, ``conv1``, ...) and logs
``{stage}_loss`` and ``{stage}_acc`` (torchmetrics) from one shared step.
"""

from __future__ import annotations

import math

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

STAGES = ("train", "val", "test")


def _check_dims(dims: tuple[int, ...], num_classes: int) -> tuple[int, int, int]:
    if len(dims) != 3 or any(int(d) < 1 for d in dims):
        raise ValueError(f"dims must be (channels, height, width) of positive ints, got {dims!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return tuple(int(d) for d in dims)


class Classifier(L.LightningModule):
    """Base class: cross-entropy, torchmetrics accuracy, AdamW with a one-cycle schedule.

    Subclasses call ``save_hyperparameters()`` with ``lr`` and ``weight_decay`` among them.
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.metrics = nn.ModuleDict(
            {f"{stage}_acc": MulticlassAccuracy(num_classes, average="micro") for stage in STAGES})

    def _shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        accuracy = self.metrics[f"{stage}_acc"]
        accuracy(logits, y)
        on_step = stage == "train"
        self.log(f"{stage}_loss", loss, prog_bar=True, on_step=on_step, on_epoch=True)
        self.log(f"{stage}_acc", accuracy, prog_bar=True, on_step=on_step, on_epoch=True)
        return loss

    def training_step(self, batch, batch_idx):
        return self._shared_step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._shared_step(batch, "test")

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr,
                                      weight_decay=self.hparams.weight_decay)
        steps = self.trainer.estimated_stepping_batches if self._trainer else None
        if not steps or steps == float("inf"):
            return optimizer
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, self.hparams.lr, total_steps=int(steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class LeNet300100(Classifier):
    """LeNet-300-100: flatten, then 300 and 100 hidden units with ReLU, then the classes.

    Args:
        dims: Input shape ``(channels, height, width)``, e.g. ``dm.dims``.
        num_classes: Number of classes, e.g. ``dm.num_classes``.
        lr: Peak learning rate (AdamW, one-cycle schedule).
        weight_decay: AdamW weight decay.
    """

    def __init__(self, dims: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10,
                 lr: float = 5e-3, weight_decay: float = 1e-4) -> None:
        c, h, w = _check_dims(dims, num_classes)
        super().__init__(num_classes)
        self.save_hyperparameters()
        self.fc1 = nn.Linear(c * h * w, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class SmallCNN(Classifier):
    """Two 5x5 conv layers (with max-pooling) and two linear layers.

    Args:
        dims: Input shape ``(channels, height, width)``, e.g. ``dm.dims``.
        num_classes: Number of classes, e.g. ``dm.num_classes``.
        channels: Output channels of the two conv layers.
        hidden: Units of the hidden linear layer.
        lr: Peak learning rate (AdamW, one-cycle schedule).
        weight_decay: AdamW weight decay.
    """

    def __init__(self, dims: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10,
                 channels: tuple[int, int] = (16, 32), hidden: int = 128, lr: float = 2e-3,
                 weight_decay: float = 1e-4) -> None:
        c, h, w = _check_dims(dims, num_classes)
        super().__init__(num_classes)
        self.save_hyperparameters()
        self.conv1 = nn.Conv2d(c, channels[0], 5, padding=2)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 5, padding=2)
        self.fc1 = nn.Linear(channels[1] * (h // 4) * (w // 4), hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Pool, then ReLU: the two commute exactly (both are monotone), and the ReLU runs on a quarter
        # of the elements.
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class VGGSmall(Classifier):
    """A small VGG-style CNN: stages of (conv3x3-BN-ReLU) x2 + max-pool, then a linear head.

    The conv layers carry no bias (BatchNorm follows), so pruning a conv output channel and its
    BatchNorm entry removes that channel completely.

    Args:
        dims: Input shape ``(channels, height, width)``, e.g. ``dm.dims``.
        num_classes: Number of classes, e.g. ``dm.num_classes``.
        widths: Output channels of each stage; the spatial size halves after each stage.
        lr: Peak learning rate (AdamW, one-cycle schedule).
        weight_decay: AdamW weight decay.
    """

    def __init__(self, dims: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10,
                 widths: tuple[int, ...] = (32, 64, 128), lr: float = 2e-3,
                 weight_decay: float = 5e-4) -> None:
        c, h, w = _check_dims(dims, num_classes)
        super().__init__(num_classes)
        self.save_hyperparameters()
        if not widths or min(h, w) < 2 ** len(widths):
            raise ValueError(
                f"widths {widths!r} need inputs of at least {2 ** len(widths)} pixels, got {h}x{w}")
        layers, in_channels = [], c
        for width in widths:
            layers += [*_conv_bn_relu(in_channels, width), *_conv_bn_relu(width, width), nn.MaxPool2d(2)]
            in_channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(in_channels * math.prod(s // 2 ** len(widths) for s in (h, w)),
                                    num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
