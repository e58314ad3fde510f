"""LightningDataModules for MNIST and CIFAR-10, online and offline, with one fallback policy.

Both data modules take ``source``:

- ``"full"``: the real dataset from torchvision, downloaded by ``prepare_data`` if it is not on
  disk; a clear :class:`DatasetUnavailable` error (saying how to get it) if that fails.
- the fallback: MNIST's ``"offline"`` is the official MNIST test set that ships inside this
  package (10,000 real digits, split 8,000 train / 1,000 val / 1,000 test); CIFAR-10's
  ``"synthetic"`` is a small stand-in made here in CIFAR-10's shapes, which is NOT real CIFAR-10.
- ``"auto"`` (the default): the full dataset when ``prepare_data`` finds or downloads it, else the
  fallback, announced in one line by ``setup`` (loudly for the CIFAR-10 stand-in).

They follow Lightning's contract: ``prepare_data`` only downloads; ``setup`` decides by the files
on disk, builds the seeded splits once and keeps them (``source`` then says what it used);
dataloaders only wrap.
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

from helpers import _checks

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


class DatasetUnavailable(RuntimeError):
    """The requested dataset is not on disk and could not be downloaded."""


def default_data_dir() -> Path:
    """Return the data directory: ``$PRUNING_DATA_DIR`` if set, else ``~/.cache/pruning-workbook/data``."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else Path.home() / ".cache" / "pruning-workbook" / "data"


def _offline_forced() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}


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
    """What the two data modules share: the source policy, the seeded splits, the dataloaders.

    A subclass sets ``name`` and ``sources`` (the last one is its fallback) and writes ``_full``
    (the torchvision dataset), ``_full_files`` (the files that make it present) and
    ``_fallback_sets`` (the three splits of its fallback, announced by ``_announce_fallback``).
    """

    name = ""
    sources: tuple[str, str, str] = ("auto", "full", "")
    dims: tuple[int, int, int] = (0, 0, 0)
    num_classes = 0

    def __init__(self, data_dir: str | Path | None, source: str, batch_size: int, val_size: int,
                 num_workers: int, seed: int, shuffle_seed: int | None = None) -> None:
        super().__init__()
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.requested_source = _checks.one_of("source", source, self.sources)
        self.batch_size = _checks.positive_int("batch_size", batch_size)
        self.val_size = _checks.positive_int("val_size", val_size)
        self.num_workers = _checks.non_negative_int("num_workers", num_workers)
        self.seed = seed
        self.shuffle_seed = seed if shuffle_seed is None else _checks.non_negative_int(
            "shuffle_seed", shuffle_seed)
        self.source: str | None = None  # "full" or the fallback, once setup() has decided
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    @property
    def fallback(self) -> str:
        """The source used when the full dataset cannot be had: ``"offline"`` or ``"synthetic"``."""
        return self.sources[-1]

    # -- subclass hooks --
    def _full(self, train: bool, download: bool = False) -> Dataset:
        raise NotImplementedError

    def _full_files(self) -> list[Path]:
        raise NotImplementedError

    def _fallback_sets(self) -> list[Dataset]:
        raise NotImplementedError

    def _announce_fallback(self, reason: str) -> None:
        raise NotImplementedError

    # -- Lightning's contract --
    def full_present(self) -> bool:
        """True if the full dataset's files are on disk (checked by file, nothing is loaded)."""
        return all(path.exists() for path in self._full_files())

    def prepare_data(self) -> None:
        """Download the full dataset if it is wanted and not on disk; nothing else.

        Raises :class:`DatasetUnavailable` (saying how to get the data) when ``source="full"``
        and the download fails; with ``source="auto"`` a failure leaves ``setup`` to fall back.
        """
        if self.requested_source == self.fallback or self.source is not None or self.full_present():
            return
        error = _try_download(self._full, self.name)
        if error and self.requested_source == "full":
            raise DatasetUnavailable(self._unavailable(error))
        if error and not _offline_forced():
            print(error)  # why setup() will fall back; nothing is stored

    def setup(self, stage: str | None = None) -> None:
        """Build the train/val/test splits (seeded) once, from the files on disk, and keep them."""
        if self.source is not None:
            return
        if self.requested_source != self.fallback and self.full_present():
            train = self._full(train=True)
            self.train_set, self.val_set = self._split(train, [len(train) - self.val_size, self.val_size])
            self.test_set, self.source = self._full(train=False), "full"
            return
        if self.requested_source == "full":
            raise DatasetUnavailable(self._unavailable("not downloaded yet: call prepare_data() first"))
        if self.requested_source == "auto":
            self._announce_fallback(f"{OFFLINE_ENV} is set" if _offline_forced() else
                                    f"not in {self.data_dir}; prepare_data() could not download it")
        self.train_set, self.val_set, self.test_set = self._fallback_sets()
        self.source = self.fallback

    def _unavailable(self, error: str) -> str:
        return (f"{self.name} is not in {self.data_dir} ({error}). Connect to the internet and run "
                f"prepare_data() (torchvision downloads it), or put torchvision's files there, or set "
                f"{DATA_DIR_ENV} to where they are; or use source={self.fallback!r} (or 'auto').")

    def _split(self, dataset: Dataset, sizes: list[int]) -> list[Subset]:
        return random_split(dataset, sizes, generator=torch.Generator().manual_seed(self.seed))

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"call {type(self).__name__}.setup() before asking for a dataloader")
        generator = torch.Generator().manual_seed(self.shuffle_seed) if shuffle else None
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle,
                          generator=generator, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    @property
    def cache_key(self) -> dict:
        """What identifies the data a model was trained on (used by the checkpoint cache)."""
        if self.source is None:
            raise RuntimeError(f"call {type(self).__name__}.setup() before asking for its cache_key")
        key = {"class": type(self).__name__, "source": self.source, "seed": self.seed,
               "batch_size": self.batch_size,
               "sizes": [len(self.train_set), len(self.val_set), len(self.test_set)]}
        if self.shuffle_seed != self.seed:  # keys of the default (one seed for both) stay as they were
            key["shuffle_seed"] = self.shuffle_seed
        return key


class MNISTDataModule(_SplitDataModule):
    """MNIST digits, 1x28x28, 10 classes, normalised with the usual mean and std.

    Args:
        data_dir: Where datasets live; defaults to ``$PRUNING_DATA_DIR`` or
            ``~/.cache/pruning-workbook/data``.
        source: ``"full"`` (torchvision's 60,000 + 10,000 images), ``"offline"`` (the packaged
            10,000-image test set, split 8,000/1,000/1,000) or ``"auto"`` (full when present or
            downloadable, else offline, said in one line).
        batch_size: Batch size of all dataloaders.
        val_size: Validation images taken from the full training set (full source only).
        num_workers: DataLoader workers.
        seed: Seed of the train/val(/test) split and of the shuffling.
        shuffle_seed: Seed of the training loader's shuffling alone (the order of the training
            images), when it should vary while the splits stay fixed; ``None``: ``seed``.
    """

    name = "MNIST"
    sources = ("auto", "full", "offline")
    dims = (1, 28, 28)
    num_classes = 10

    def __init__(self, data_dir: str | Path | None = None, source: str = "auto",
                 batch_size: int = 64, val_size: int = 5_000, num_workers: int = 0,
                 seed: int = 0, shuffle_seed: int | None = None) -> None:
        super().__init__(data_dir, source, batch_size, val_size, num_workers, seed, shuffle_seed)
        self.transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])

    def _full(self, train: bool, download: bool = False) -> datasets.MNIST:
        return datasets.MNIST(self.data_dir, train=train, download=download, transform=self.transform)

    def _full_files(self) -> list[Path]:
        raw = self.data_dir / "MNIST" / "raw"
        return [raw / name.removesuffix(".gz") for name, _ in datasets.MNIST.resources]

    def _announce_fallback(self, reason: str) -> None:
        print(f"MNIST: full dataset unavailable ({reason}); using the packaged offline MNIST: the "
              "official 10,000-image test set, split into 8,000 train / 1,000 val / 1,000 test images.")

    def _fallback_sets(self) -> list[Dataset]:
        images, labels = load_packaged_mnist(self.data_dir)
        full = TensorDataset(_normalized_tensors(images, MNIST_MEAN, MNIST_STD), labels)
        return self._split(full, list(OFFLINE_SPLIT))


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
    _checks.positive_int("num_images", num_images)
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
        source: ``"full"`` (torchvision's CIFAR-10), ``"synthetic"`` (a small stand-in made here
            in CIFAR-10's shapes, for tests and offline demos: NOT real CIFAR-10) or ``"auto"``
            (full when present or downloadable, else the stand-in, announced loudly).
        batch_size: Batch size of all dataloaders.
        val_size: Validation images taken from the training set (full source only).
        synthetic_sizes: Train/val/test sizes of the synthetic stand-in.
        num_workers: DataLoader workers.
        seed: Seed of the split, the shuffling and the synthetic images.
    """

    name = "CIFAR-10"
    sources = ("auto", "full", "synthetic")
    dims = (3, 32, 32)
    num_classes = 10

    def __init__(self, data_dir: str | Path | None = None, source: str = "auto",
                 batch_size: int = 128, val_size: int = 5_000,
                 synthetic_sizes: tuple[int, int, int] = (4_000, 500, 1_000),
                 num_workers: int = 0, seed: int = 0) -> None:
        super().__init__(data_dir, source, batch_size, val_size, num_workers, seed)
        if len(synthetic_sizes) != 3:
            raise ValueError(f"synthetic_sizes must be (train, val, test), got {synthetic_sizes!r}")
        self.synthetic_sizes = tuple(_checks.positive_int("synthetic_sizes", n) for n in synthetic_sizes)
        self.transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])

    def _full(self, train: bool, download: bool = False) -> datasets.CIFAR10:
        return datasets.CIFAR10(self.data_dir, train=train, download=download, transform=self.transform)

    def _full_files(self) -> list[Path]:
        folder = self.data_dir / datasets.CIFAR10.base_folder
        return [folder / name for name, _ in datasets.CIFAR10.train_list + datasets.CIFAR10.test_list]

    def _announce_fallback(self, reason: str) -> None:
        print(f"CIFAR-10: real dataset unavailable ({reason}).")

    def _fallback_sets(self) -> list[Dataset]:
        print("CIFAR-10: using the SYNTHETIC STAND-IN (not real CIFAR-10): "
              f"{'/'.join(map(str, self.synthetic_sizes))} train/val/test images of class "
              "patterns in CIFAR-10's shapes. Its accuracies say nothing about real images.")
        images, labels = make_synthetic_cifar10(sum(self.synthetic_sizes), seed=self.seed)
        full = TensorDataset(_normalized_tensors(images, CIFAR10_MEAN, CIFAR10_STD), labels)
        return self._split(full, list(self.synthetic_sizes))
