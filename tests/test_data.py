"""Data modules: the packaged offline MNIST, the CIFAR-10 paths and the synthetic stand-in."""

import pytest
import torch

from helpers import data

# Class counts of the official MNIST test set, and its first labels.
MNIST_T10K_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_T10K_FIRST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_packaged_mnist_is_the_real_test_set(tmp_path):
    images, labels = data.load_packaged_mnist(tmp_path)
    assert images.shape == (10_000, 28, 28) and images.dtype == torch.uint8
    assert labels.tolist()[:10] == MNIST_T10K_FIRST_LABELS
    assert torch.bincount(labels).tolist() == MNIST_T10K_COUNTS
    assert images.max() == 255 and images.min() == 0
    # A "1" has far less ink than a "0": real digits, not noise.
    assert images[labels == 1].float().mean() < 0.7 * images[labels == 0].float().mean()


def test_packaged_mnist_rejects_a_corrupt_file(tmp_path, monkeypatch):
    fake = tmp_path / "pkg"
    fake.mkdir()
    for name in data.MNIST_T10K_MD5:
        (fake / name).write_bytes(b"not mnist")
    monkeypatch.setattr(data, "PACKAGED_MNIST", fake)
    with pytest.raises(data.DatasetUnavailable, match="missing or corrupt"):
        data.load_packaged_mnist(tmp_path / "out")


def test_offline_mnist_split(mnist):
    assert mnist.source == "offline"
    sizes = [len(mnist.train_set), len(mnist.val_set), len(mnist.test_set)]
    assert sizes == list(data.OFFLINE_SPLIT)
    splits = [set(s.indices) for s in (mnist.train_set, mnist.val_set, mnist.test_set)]
    assert not (splits[0] & splits[1]) and not (splits[0] & splits[2]) and not (splits[1] & splits[2])
    x, y = next(iter(mnist.train_dataloader()))
    assert x.shape == (mnist.batch_size, *mnist.dims) and y.max() < mnist.num_classes
    assert abs(float(x.mean())) < 0.1 and 0.9 < float(x.std()) < 1.1, "normalised with MNIST mean/std"


def test_offline_split_and_shuffle_are_seeded():
    a, b = data.MNISTDataModule(source="offline"), data.MNISTDataModule(source="offline")
    other = data.MNISTDataModule(source="offline", seed=1)
    for dm in (a, b, other):
        dm.setup()
    assert a.test_set.indices == b.test_set.indices
    assert a.test_set.indices != other.test_set.indices
    assert torch.equal(next(iter(a.train_dataloader()))[1], next(iter(b.train_dataloader()))[1])


@pytest.mark.parametrize("prepare_first", [True, False])
def test_auto_falls_back_to_offline_in_one_line(capsys, tmp_path, prepare_first):
    dm = data.MNISTDataModule(data_dir=tmp_path, source="auto")
    if prepare_first:
        dm.prepare_data()
    dm.setup()
    dm.prepare_data()  # Lightning calls both again for every fit/test: no second announcement
    dm.setup()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1 and "packaged offline MNIST" in lines[0] and "8,000 train" in lines[0], lines
    assert f"({data.OFFLINE_ENV} is set)" in lines[0], "the line says why"
    assert dm.source == "offline"


def test_full_mnist_without_data_says_how_to_get_it(tmp_path):
    dm = data.MNISTDataModule(data_dir=tmp_path, source="full")
    with pytest.raises(data.DatasetUnavailable, match="source='offline'"):
        dm.prepare_data()


def test_data_dir_from_argument_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "env"))
    assert data.MNISTDataModule().data_dir == tmp_path / "env"
    assert data.CIFAR10DataModule(data_dir=tmp_path / "arg").data_dir == tmp_path / "arg"
    data.MNISTDataModule(source="offline").setup()
    assert (tmp_path / "env" / "mnist-t10k" / "t10k-images-idx3-ubyte").exists()


@pytest.mark.parametrize("kwargs, match", [
    ({"source": "mnist"}, "source must be one of"),
    ({"batch_size": 0}, "batch_size must be a positive int"),
    ({"val_size": -5}, "val_size must be a positive int"),
    ({"num_workers": -1}, "num_workers must be a non-negative int, got -1"),
])
def test_mnist_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.MNISTDataModule(**kwargs)


def test_dataloader_before_setup_is_a_clear_error():
    with pytest.raises(RuntimeError, match="call MNISTDataModule.setup"):
        data.MNISTDataModule(source="offline").train_dataloader()


def test_cifar10_without_data_says_how_to_get_it(tmp_path):
    dm = data.CIFAR10DataModule(data_dir=tmp_path, source="full")
    with pytest.raises(data.DatasetUnavailable, match="source='synthetic'"):
        dm.prepare_data()
    with pytest.raises(data.DatasetUnavailable, match=r"call prepare_data\(\) first"):
        dm.setup()
    message = r"source must be one of \('auto', 'full', 'synthetic'\), got 'cifar'"
    with pytest.raises(ValueError, match=message):
        data.CIFAR10DataModule(source="cifar")


def test_synthetic_cifar10_is_announced_and_shaped_like_cifar(capsys):
    dm = data.CIFAR10DataModule(source="synthetic", synthetic_sizes=(300, 50, 100))
    dm.setup()
    assert "SYNTHETIC STAND-IN (not real CIFAR-10)" in capsys.readouterr().out
    assert [len(dm.train_set), len(dm.val_set), len(dm.test_set)] == [300, 50, 100]
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape[1:] == dm.dims == (3, 32, 32) and dm.num_classes == 10


def test_synthetic_cifar10_is_deterministic_and_balanced():
    images, labels = data.make_synthetic_cifar10(2_000, seed=3)
    again, _ = data.make_synthetic_cifar10(2_000, seed=3)
    assert images.dtype == torch.uint8 and images.shape == (2_000, 3, 32, 32)
    assert torch.equal(images, again)
    assert not torch.equal(images, data.make_synthetic_cifar10(2_000, seed=4)[0])
    assert torch.bincount(labels, minlength=10).min() > 150


def test_synthetic_cifar10_is_learnable_not_noise():
    """A CNN learns the stand-in well above chance in a short run."""
    from helpers import models, training

    dm = data.CIFAR10DataModule(source="synthetic")
    model = models.VGGSmall(dm.dims, dm.num_classes, widths=(16, 32, 64))
    training.fit(model, dm, num_epochs=3, cache=False, progress=False, limit_val_batches=0)
    accuracy = training.evaluate(model, dm)
    assert accuracy > 0.6, f"chance is 0.1, got {accuracy:.3f}"


def test_prepare_data_only_downloads_and_setup_never_does(tmp_path, monkeypatch):
    """Lightning's contract: prepare_data downloads and assigns nothing; setup decides by the files."""
    calls = []
    monkeypatch.setattr(data, "_try_download", lambda make, name: calls.append(name) or "no network")
    dm = data.MNISTDataModule(data_dir=tmp_path, source="auto")
    state = dict(vars(dm))
    dm.prepare_data()
    assert calls == ["MNIST"] and vars(dm) == state, "prepare_data tried the download and stored nothing"
    dm.setup()
    assert dm.source == "offline" and calls == ["MNIST"], "setup falls back without downloading"
    dm.prepare_data()
    dm.setup()
    assert calls == ["MNIST"], "once setup has decided, Lightning's later calls do nothing"


@pytest.mark.parametrize("make, fallback, announcement", [
    (data.MNISTDataModule, "offline", "packaged offline MNIST"),
    (data.CIFAR10DataModule, "synthetic", "SYNTHETIC STAND-IN (not real CIFAR-10)"),
])
def test_one_fallback_policy_for_both_datasets(make, fallback, announcement, tmp_path, capsys):
    dm = make(data_dir=tmp_path)  # source="auto" by default
    dm.prepare_data()  # PRUNING_OFFLINE is set in the tests: no download
    dm.setup()
    assert dm.source == fallback and announcement in capsys.readouterr().out
    assert not dm.full_present()


def write_full_mnist_files(data_dir):
    """torchvision's MNIST/raw files, made from the packaged digits (10,000 'training' images)."""
    import gzip
    import shutil

    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            with gzip.open(data.PACKAGED_MNIST / f"t10k-{kind}-ubyte.gz", "rb") as src, \
                    open(raw / f"{split}-{kind}-ubyte", "wb") as dst:
                shutil.copyfileobj(src, dst)


def test_full_dataset_found_by_its_files_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_try_download", lambda make, name: pytest.fail("nothing to download"))
    dm = data.MNISTDataModule(data_dir=tmp_path, source="auto", val_size=1_000)
    assert not dm.full_present()
    write_full_mnist_files(tmp_path)
    assert dm.full_present()
    dm.prepare_data()
    dm.setup()
    assert dm.source == "full"
    assert [len(dm.train_set), len(dm.val_set), len(dm.test_set)] == [9_000, 1_000, 10_000]
    assert dm.cache_key["source"] == "full"


def test_shuffle_seed_varies_the_training_order_only():
    base = data.MNISTDataModule(source="offline")
    reshuffled = data.MNISTDataModule(source="offline", shuffle_seed=1)
    same = data.MNISTDataModule(source="offline", shuffle_seed=0)
    for dm in (base, reshuffled, same):
        dm.setup()
    assert base.test_set.indices == reshuffled.test_set.indices, "the splits stay those of seed=0"
    assert base.train_set.indices == reshuffled.train_set.indices
    first = [next(iter(dm.train_dataloader()))[1] for dm in (base, reshuffled, same)]
    assert not torch.equal(first[0], first[1]), "another shuffle_seed gives another order of training images"
    assert torch.equal(first[0], first[2]), "shuffle_seed=seed is the default order"
    assert base.cache_key == same.cache_key, "the default's cache key is unchanged"
    assert reshuffled.cache_key != base.cache_key, "a model trained in another order is another cache entry"
    with pytest.raises(ValueError, match="shuffle_seed"):
        data.MNISTDataModule(source="offline", shuffle_seed=-1)
