"""Shared test setup: offline data, a private data and checkpoint cache, quiet Lightning."""

import os
import warnings

import matplotlib
import pytest

matplotlib.use("Agg")
warnings.filterwarnings("ignore", message=".*LeafSpec.*")


@pytest.fixture(scope="session", autouse=True)
def _isolated_dirs(tmp_path_factory):
    """Point data and checkpoints at session temp dirs and never try the network."""
    saved = {k: os.environ.get(k) for k in ("PRUNING_DATA_DIR", "PRUNING_CACHE_DIR", "PRUNING_OFFLINE")}
    os.environ["PRUNING_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    os.environ["PRUNING_CACHE_DIR"] = str(tmp_path_factory.mktemp("checkpoints"))
    os.environ["PRUNING_OFFLINE"] = "1"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def mnist():
    """The offline MNIST data module, set up once."""
    from helpers import data

    dm = data.MNISTDataModule(source="offline")
    dm.setup()
    return dm
