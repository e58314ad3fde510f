"""LightningDataModules for MNIST and CIFAR-10, online and offline.

MNIST: torchvision downloads the full dataset when it can. When it cannot (no network), the
official MNIST test set that ships inside this package (10,000 real digits) is split into
8,000 train / 1,000 val / 1,000 test images and used instead, announced in one line.

CIFAR-10: torchvision downloads the full dataset when it can. There is no offline copy; a small
stand-in made by this package in CIFAR-10's shapes (``source="synthetic"``) serves tests and
offline demos, and is announced loudly whenever it is used.
"""

from __future__ import annotations

import gzip
import os
import shutil
import warnings
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split
from torchvision import datasets, transforms
from torchvision.datasets.mnist import read_image_file, read_label_file
from torchvision.datasets.utils import check_integrity

DATA_DIR_ENV = "PRUNING_DATA_DIR"
OFFLINE_ENV = "PRUNING_OFFLINE"
PACKAGED_MNIST = Path(__file__).parent / "_data" / "mnist-t10k"
MNIST_T10K_MD5 = {
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
OFFLINE_SPLIT = (8_000, 1_000, 1_000)
MNIST_SOURCES = ("auto", "full", "offline")
CIFAR10_SOURCES = ("full", "synthetic")


class DatasetUnavailable(RuntimeError):
    """The requested dataset is not on disk and could not be downloaded."""


def default_data_dir() -> Path:
    """Return the data directory: ``$PRUNING_DATA_DIR`` if set, else ``~/.cache/pruning-workbook/data``."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else Path.home() / ".cache" / "pruning-workbook" / "data"


def _offline_forced() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}


def _check_source(source: str, allowed: tuple[str, ...]) -> str:
    if source not in allowed:
        raise ValueError(f"source must be one of {allowed}, got {source!r}")
    return source


def _check_positive(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _try_download(make_dataset, name: str) -> str | None:
    """Call ``make_dataset(download=True)`` for train and test; return an error text on failure."""
    if _offline_forced():
        return f"{OFFLINE_ENV} is set"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make_dataset(train=True, download=True)
            make_dataset(train=False, download=True)
    except Exception as err:  # torchvision raises RuntimeError, URLError, OSError ...
        lines = str(err).strip().splitlines() or [""]
        summary = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
        return f"{name} download failed: {type(err).__name__}: {summary}"
    return None


def load_packaged_mnist(data_dir: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the packaged MNIST test set as ``(images, labels)``.

    The gzip files shipped in ``helpers/_data/mnist-t10k`` are md5-checked, extracted once into
    ``data_dir/mnist-t10k`` and read with torchvision's own IDX readers.

    Args:
        data_dir: Where to extract the files; defaults to :func:`default_data_dir`.

    Returns:
        ``images`` as a ``uint8`` tensor of shape ``(10000, 28, 28)`` and ``labels`` as an
        ``int64`` tensor of shape ``(10000,)``.
    """
    out = Path(data_dir or default_data_dir()) / "mnist-t10k"
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, md5 in MNIST_T10K_MD5.items():
        archive = PACKAGED_MNIST / name
        if not check_integrity(str(archive), md5):
            raise DatasetUnavailable(f"packaged MNIST file {archive} is missing or corrupt (md5 {md5})")
        raw = out / name.removesuffix(".gz")
        if not raw.exists():
            with gzip.open(archive, "rb") as src, open(raw, "wb") as dst:
                shutil.copyfileobj(src, dst)
        files[name.split("-")[1]] = str(raw)
    return read_image_file(files["images"]), read_label_file(files["labels"])


def _normalized_tensors(images: torch.Tensor, mean: tuple, std: tuple) -> torch.Tensor:
    """uint8 ``(N, H, W)`` or ``(N, C, H, W)`` images to normalised float ``(N, C, H, W)``."""
    x = images.float().div(255)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return transforms.Normalize(mean, std)(x)


class _SplitDataModule(L.LightningDataModule):
    """Shared dataloaders for the data modules below: ``setup`` fills the three splits."""

    def __init__(self, batch_size: int, num_workers: int, seed: int) -> None:
        super().__init__()
        self.batch_size = _check_positive("batch_size", batch_size)
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.num_workers = num_workers
        self.seed = seed
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"call {type(self).__name__}.setup() before asking for a dataloader")
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle,
                          generator=generator, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def _full(self, train: bool, download: bool = False) -> Dataset:
        raise NotImplementedError  # the torchvision dataset of a subclass

    def _load_full(self) -> tuple[Dataset, Dataset] | None:
        """The full torchvision train and test sets from ``data_dir``, or None if they are not there."""
        try:
            return self._full(train=True), self._full(train=False)
        except RuntimeError:
            return None

    def _full_present(self) -> bool:
        return self._load_full() is not None

    def _use_full(self, train: Dataset, test: Dataset) -> None:
        """Split ``val_size`` images off the full training set (seeded); keep the test set."""
        self.train_set, self.val_set = self._split(train, [len(train) - self.val_size, self.val_size])
        self.test_set = test

    def _split(self, dataset: Dataset, sizes: list[int]) -> list[Subset]:
        return random_split(dataset, sizes, generator=torch.Generator().manual_seed(self.seed))

    @property
    def cache_key(self) -> dict:
        """What identifies the data a model was trained on (used by the checkpoint cache)."""
        self.setup()
        return {"class": type(self).__name__, "source": self.source, "seed": self.seed,
                "batch_size": self.batch_size,
                "sizes": [len(self.train_set), len(self.val_set), len(self.test_set)]}


class MNISTDataModule(_SplitDataModule):
    """MNIST digits, 1x28x28, 10 classes, normalised with the usual mean and std.

    Args:
        data_dir: Where datasets live; defaults to ``$PRUNING_DATA_DIR`` or
            ``~/.cache/pruning-workbook/data``.
        source: ``"full"`` (torchvision's 60,000 + 10,000 images; download if missing),
            ``"offline"`` (the packaged 10,000-image test set, split 8,000/1,000/1,000) or
            ``"auto"`` (full when present or downloadable, else offline, said in one line).
        batch_size: Batch size of all dataloaders.
        val_size: Validation images taken from the full training set (full source only).
        num_workers: DataLoader workers.
        seed: Seed of the train/val(/test) split and of the shuffling.
    """

    dims = (1, 28, 28)
    num_classes = 10

    def __init__(self, data_dir: str | Path | None = None, source: str = "auto",
                 batch_size: int = 64, val_size: int = 5_000, num_workers: int = 0,
                 seed: int = 0) -> None:
        super().__init__(batch_size, num_workers, seed)
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.requested_source = _check_source(source, MNIST_SOURCES)
        self.val_size = _check_positive("val_size", val_size)
        self.source: str | None = None
        self._download_error: str | None = None  # why full MNIST could not be had (tried once)
        self.transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])

    def _full(self, train: bool, download: bool = False) -> datasets.MNIST:
        return datasets.MNIST(self.data_dir, train=train, download=download, transform=self.transform)

    def prepare_data(self) -> None:
        """Download full MNIST unless it is present, was tried already, or "offline" was chosen."""
        if self.requested_source == "offline" or self._download_error or self._full_present():
            return
        self._download_error = _try_download(lambda **kw: self._full(**kw), "MNIST")
        if self._download_error and self.requested_source == "full":
            raise DatasetUnavailable(
                f"full MNIST is not in {self.data_dir} and could not be downloaded "
                f"({self._download_error}). Connect to the internet, put torchvision's MNIST/raw "
                "files there, or use source='offline' (or 'auto') for the packaged 10,000 test digits.")

    def setup(self, stage: str | None = None) -> None:
        """Build the train/val/test splits (seeded) once; announce the offline fallback once."""
        if self.train_set is not None:
            return
        if self.requested_source != "offline":
            self.prepare_data()  # a no-op when Lightning already called it; raises for "full"
            full = self._load_full()
            if full is not None:
                self.source = "full"
                self._use_full(*full)
                return
        if self.requested_source == "auto":
            print(f"MNIST: full dataset unavailable ({self._download_error}); using the packaged "
                  "offline MNIST: the official 10,000-image test set, split into 8,000 train / "
                  "1,000 val / 1,000 test images.")
        self.source = "offline"
        images, labels = load_packaged_mnist(self.data_dir)
        full = TensorDataset(_normalized_tensors(images, MNIST_MEAN, MNIST_STD), labels)
        self.train_set, self.val_set, self.test_set = self._split(full, list(OFFLINE_SPLIT))


def make_synthetic_cifar10(num_images: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Make a learnable stand-in for CIFAR-10: ``num_images`` uint8 images 3x32x32, 10 classes.

    Each class is a faint sinusoidal grating with its own orientation and frequency and a slight
    colour cast; every image is its class grating with a random phase, contrast and tint, under
    strong pixel noise. A small CNN learns it within a few epochs; it is hard for a single
    glance at the colours. It is NOT CIFAR-10 and its accuracies say nothing about real images.

    Args:
        num_images: How many images to make.
        seed: Seed of everything random here.

    Returns:
        ``images`` uint8 ``(num_images, 3, 32, 32)`` and ``labels`` int64 ``(num_images,)``.
    """
    _check_positive("num_images", num_images)
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    angles = torch.arange(10) * torch.pi / 10
    freqs = 2 * torch.pi / torch.tensor([4.0, 6.0, 8.0, 5.0, 7.0, 4.5, 6.5, 8.5, 5.5, 7.5])
    colours = torch.rand(10, 3, 1, 1, generator=g) - 0.5
    labels = torch.randint(0, 10, (num_images,), generator=g)
    phase = torch.rand(num_images, 1, 1, generator=g) * 2 * torch.pi
    a, f = angles[labels].view(-1, 1, 1), freqs[labels].view(-1, 1, 1)
    wave = torch.sin(f * (xs * torch.cos(a) + ys * torch.sin(a)) + phase).unsqueeze(1)
    contrast = torch.rand(num_images, 1, 1, 1, generator=g) * 0.12 + 0.05
    tint = 0.3 * (torch.rand(num_images, 3, 1, 1, generator=g) - 0.5) + 0.3 * colours[labels]
    noise = torch.randn(num_images, 3, 32, 32, generator=g) * 0.45
    images = (0.5 + tint + contrast * wave + noise).clamp(0, 1)
    return (images * 255).round().to(torch.uint8), labels


class CIFAR10DataModule(_SplitDataModule):
    """CIFAR-10 colour images, 3x32x32, 10 classes, normalised with the usual mean and std.

    Args:
        data_dir: Where datasets live; defaults to ``$PRUNING_DATA_DIR`` or
            ``~/.cache/pruning-workbook/data``.
        source: ``"full"`` (torchvision's CIFAR-10; download if missing, a clear error if that
            fails) or ``"synthetic"`` (a small stand-in made here in CIFAR-10's shapes, for tests
            and offline demos: NOT real CIFAR-10).
        batch_size: Batch size of all dataloaders.
        val_size: Validation images taken from the training set.
        synthetic_sizes: Train/val/test sizes of the synthetic stand-in.
        num_workers: DataLoader workers.
        seed: Seed of the split, the shuffling and the synthetic images.
    """

    dims = (3, 32, 32)
    num_classes = 10

    def __init__(self, data_dir: str | Path | None = None, source: str = "full",
                 batch_size: int = 128, val_size: int = 5_000,
                 synthetic_sizes: tuple[int, int, int] = (4_000, 500, 1_000),
                 num_workers: int = 0, seed: int = 0) -> None:
        super().__init__(batch_size, num_workers, seed)
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.source = _check_source(source, CIFAR10_SOURCES)
        self.val_size = _check_positive("val_size", val_size)
        if len(synthetic_sizes) != 3:
            raise ValueError(f"synthetic_sizes must be (train, val, test), got {synthetic_sizes!r}")
        self.synthetic_sizes = tuple(_check_positive("synthetic_sizes", n) for n in synthetic_sizes)
        self.transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])

    def _full(self, train: bool, download: bool = False) -> datasets.CIFAR10:
        return datasets.CIFAR10(self.data_dir, train=train, download=download, transform=self.transform)

    def prepare_data(self) -> None:
        """Download CIFAR-10 unless it is present or the synthetic stand-in was chosen."""
        if self.source == "synthetic" or self._full_present():
            return
        error = _try_download(lambda **kw: self._full(**kw), "CIFAR-10")
        if error:
            raise DatasetUnavailable(
                f"CIFAR-10 is not in {self.data_dir} and could not be downloaded ({error}). "
                "Connect to the internet (torchvision downloads it, about 170 MB), or copy "
                "torchvision's 'cifar-10-batches-py' folder there, or set PRUNING_DATA_DIR to "
                "where it is. For tests and offline demos only, use source='synthetic' "
                "(a small stand-in that is not real CIFAR-10).")

    def setup(self, stage: str | None = None) -> None:
        """Build the train/val/test splits (seeded); idempotent."""
        if self.train_set is not None:
            return
        if self.source == "synthetic":
            print("CIFAR-10: using the SYNTHETIC STAND-IN (not real CIFAR-10): "
                  f"{'/'.join(map(str, self.synthetic_sizes))} train/val/test images of class "
                  "patterns in CIFAR-10's shapes. Its accuracies say nothing about real images.")
            images, labels = make_synthetic_cifar10(sum(self.synthetic_sizes), seed=self.seed)
            full = TensorDataset(_normalized_tensors(images, CIFAR10_MEAN, CIFAR10_STD), labels)
            self.train_set, self.val_set, self.test_set = self._split(full, list(self.synthetic_sizes))
            return
        self.prepare_data()  # raises with instructions when CIFAR-10 cannot be had
        self._use_full(*self._load_full())
