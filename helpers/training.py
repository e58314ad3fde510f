"""Training with the Lightning Trainer: CPU-friendly defaults, seeding and a checkpoint cache.

:func:`fit` trains a model, or loads the weights it trained before for the same model, data
and settings, so re-running a notebook (or grading a batch of them) does not train again.
The cache lives in ``$PRUNING_CACHE_DIR`` or ``~/.cache/pruning-workbook/checkpoints``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
from torch import nn
from torch.optim.swa_utils import update_bn

import helpers
from helpers import _checks

CACHE_DIR_ENV = "PRUNING_CACHE_DIR"
_QUIET_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")
# The srun warning: Lightning gives it after every fit on any machine with Slurm's `srun` on PATH (a
# cluster's login node, the course's own test machine) when the process was not started by srun.
_NOISY_WARNINGS = (".*does not have many workers.*", ".*GPU available but not used.*",
                   ".*LeafSpec.*", ".*number of training batches.*",
                   ".*`srun` command is available on your system but is not used.*")


def default_cache_dir() -> Path:
    """Return the checkpoint cache directory (``$PRUNING_CACHE_DIR`` or the user cache)."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env) if env else Path.home() / ".cache" / "pruning-workbook" / "checkpoints"


def in_notebook() -> bool:
    """Return True inside a Jupyter kernel (progress bars on), False in scripts and tests."""
    return "ipykernel" in sys.modules


@contextmanager
def quiet_lightning():
    """Silence Lightning's info logs and its warnings about small CPU data loaders."""
    levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in _NOISY_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def make_trainer(num_epochs: int = 1, progress: bool | None = None, **trainer_kwargs) -> L.Trainer:
    """Build a Lightning Trainer with the course's defaults.

    Defaults: ``accelerator="auto"`` (a GPU when there is one), no logger files, no checkpoint
    files, progress bar only in notebooks, and deterministic algorithms on the CPU (on a GPU
    some kernels, e.g. max-pooling backward, have no deterministic version, so runs there may
    differ in the last digits). Any Trainer argument can be
    overridden through ``trainer_kwargs`` (e.g. ``limit_train_batches=20``).

    Args:
        num_epochs: ``max_epochs`` of the Trainer.
        progress: Show the progress bar; ``None`` means "only in a notebook".
        **trainer_kwargs: Further arguments for :class:`lightning.Trainer`.

    Returns:
        The Trainer.
    """
    _checks.positive_int("num_epochs", num_epochs)
    progress = in_notebook() if progress is None else progress
    options = dict(max_epochs=num_epochs, accelerator="auto", devices=1, logger=False,
                   enable_checkpointing=False, enable_progress_bar=progress,
                   enable_model_summary=False, deterministic=not torch.cuda.is_available())
    options.update(trainer_kwargs)
    with warnings.catch_warnings():  # Lightning checks for srun when it builds the Trainer
        warnings.filterwarnings("ignore", message=_NOISY_WARNINGS[-1])
        return L.Trainer(**options)


def training_device() -> torch.device:
    """Return the device the course's Trainer trains on (``accelerator="auto"``: a GPU when there is one)."""
    with quiet_lightning():
        return make_trainer(1, progress=False).strategy.root_device


def state_digest(model: nn.Module) -> str:
    """Return a SHA-256 digest of ``model``'s state_dict: every tensor's name, dtype, shape and values."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_path(model: L.LightningModule, dm: L.LightningDataModule, settings: dict,
               cache_dir: str | Path | None = None) -> Path:
    """Return the cache file for this model, as it is now, with the data and settings.

    The key holds the model class, its hyperparameters and architecture, and the digest of its
    current weights (:func:`state_digest`): the same class built from another random state is
    another model, and is trained, not loaded. ``dm`` must be set up (``dm.prepare_data();
    dm.setup()``, as :func:`fit` does): the key names the data actually used, e.g. the offline
    fallback rather than the full dataset.
    """
    key = {"version": helpers.__version__, "model": type(model).__qualname__,
           "hparams": dict(model.hparams), "architecture": repr(model),
           "initial_weights": state_digest(model), "data": dm.cache_key, "settings": settings}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=repr).encode()).hexdigest()
    return Path(cache_dir or default_cache_dir()) / f"{type(model).__name__}-{digest[:16]}.pt"


def fit(model: L.LightningModule, dm: L.LightningDataModule, num_epochs: int = 3, seed: int = 0,
        cache: bool = True, cache_dir: str | Path | None = None, progress: bool | None = None,
        **trainer_kwargs) -> L.LightningModule:
    """Train ``model`` on ``dm`` with the Lightning Trainer, or load it from the cache.

    Seeds everything with ``seed`` first, so a run gives the same weights every time on the
    same hardware. With ``cache=True`` the trained weights are saved under a key made of the
    model class, its hyperparameters, its starting weights, the data module and these settings;
    the next call with the same key loads them instead of training. Pass ``cache=False`` to
    always train (e.g. to fine-tune a pruned model).

    Args:
        model: The LightningModule to train (trained in place).
        dm: The LightningDataModule.
        num_epochs: Epochs to train.
        seed: Seed for ``lightning.seed_everything``.
        cache: Load and save the trained weights in the checkpoint cache.
        cache_dir: Cache directory; defaults to :func:`default_cache_dir`.
        progress: Show the progress bar; ``None`` means "only in a notebook".
        **trainer_kwargs: Further Trainer arguments (they are part of the cache key).

    Returns:
        The trained model, in eval mode.
    """
    L.seed_everything(seed, verbose=False)
    dm.prepare_data()  # what Trainer.fit would do first; here the cache key needs the data resolved
    dm.setup("fit")
    path = None
    if cache:
        settings = {"num_epochs": num_epochs, "seed": seed, "trainer": trainer_kwargs}
        path = cache_path(model, dm, settings, cache_dir)
        if path.exists():
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            print(f"Loaded trained {type(model).__name__} from the cache ({path.name}).")
            return model.eval()
    model.train()  # a model from an earlier fit() comes back in eval mode
    with quiet_lightning():
        make_trainer(num_epochs, progress, **trainer_kwargs).fit(model, datamodule=dm)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(model.state_dict(), tmp)
        tmp.replace(path)
    return model.eval()


def finetune(model: L.LightningModule, dm: L.LightningDataModule, num_batches: int | None = 50,
             num_epochs: int = 1, lr: float | None = None, progress: bool | None = None,
             seed: int = 0) -> L.LightningModule:
    """Fine-tune ``model`` in place with the Lightning Trainer (:func:`fit`, without the cache).

    Trains for ``num_epochs`` epochs of at most ``num_batches`` training batches each (``None``:
    whole epochs), without validation. The pruning masks stay in force: pruned weights remain
    zero while the kept ones adapt. The model's own optimizer settings apply
    (``configure_optimizers``), with ``lr`` as the peak learning rate if given.

    Args:
        model: A (pruned) LightningModule of :mod:`helpers.models`, changed in place.
        dm: The data module to train on.
        num_batches: Training batches per epoch; ``None`` for all of them.
        num_epochs: Epochs.
        lr: Peak learning rate of the fine-tuning run; ``None`` keeps ``model.hparams.lr``, the
            one it was trained with.
        progress: Show the progress bar; ``None`` means "only in a notebook".
        seed: Seed of the run (``lightning.seed_everything``). The order of the training images
            comes from the data module's ``shuffle_seed``: vary both to vary the fine-tuning.

    Returns:
        ``model``, fine-tuned, in eval mode.
    """
    num_batches = _checks.non_negative_int("num_batches", num_batches, allow_none=True)
    if lr is not None:
        _checks.positive_number("lr", lr)
    if "lr" not in getattr(model, "hparams", {}):
        raise ValueError(f"{type(model).__name__} has no hparams.lr; fine-tune a model of helpers.models")
    if num_batches == 0:
        return model.eval()
    trained_lr = model.hparams.lr
    if lr is not None:
        model.hparams.lr = lr
    try:
        return fit(model, dm, num_epochs=num_epochs, seed=seed, cache=False, progress=progress,
                   limit_train_batches=1.0 if num_batches is None else num_batches, limit_val_batches=0)
    finally:
        model.hparams.lr = trained_lr


def evaluate(model: L.LightningModule, dm: L.LightningDataModule, split: str = "test",
             progress: bool = False) -> float:
    """Return the accuracy (a fraction in [0, 1]) of ``model`` on a split of ``dm``.

    Runs ``Trainer.test`` (or ``Trainer.validate`` for ``split="val"``); works on pruned
    models too, since the pruning masks apply in the forward pass.

    Args:
        model: The model to evaluate.
        dm: The data module.
        split: ``"test"`` or ``"val"``.
        progress: Show the progress bar.

    Returns:
        The accuracy as a float.
    """
    _checks.one_of("split", split, ("test", "val"))
    with quiet_lightning():
        trainer = make_trainer(1, progress)
        run = trainer.test if split == "test" else trainer.validate
        results = run(model, datamodule=dm, verbose=False)
    return float(results[0][f"{split}_acc"])


def recalibrate_batchnorm(model: nn.Module, dm: L.LightningDataModule, num_batches: int = 20,
                          seed: int = 0) -> nn.Module:
    """Re-estimate the BatchNorm running statistics of ``model`` on training batches, without labels.

    Pruning changes what every layer outputs, but a BatchNorm layer keeps normalising with the
    running mean and variance it measured on the unpruned activations. This resets them and
    measures them again on ``num_batches`` shuffled training batches (labels unused), with
    :func:`torch.optim.swa_utils.update_bn` under ``torch.no_grad()``: no weight changes, and the
    pruning masks stay in force. A model without BatchNorm is returned unchanged.

    Args:
        model: The (pruned) model, changed in place.
        dm: The data module whose training batches are used.
        num_batches: Training batches to average the statistics over.
        seed: Seed for the shuffling, so the statistics are the same on every run.

    Returns:
        ``model``, in eval mode.
    """
    _checks.positive_int("num_batches", num_batches)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    L.seed_everything(seed, verbose=False)
    dm.prepare_data()
    dm.setup("fit")
    device = next(model.parameters()).device
    with torch.no_grad():
        update_bn(itertools.islice(dm.train_dataloader(), num_batches), model, device=device)
    return model.eval()
