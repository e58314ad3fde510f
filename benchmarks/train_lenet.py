"""Train LeNet-300-100 on MNIST (offline: the packaged 10,000 digits) and print accuracy and time.

Run: ``.venv/bin/python benchmarks/train_lenet.py [--epochs 8]``. Prints figures; asserts nothing.
"""

import argparse
import tempfile
import time

import lightning as L
import torch

from helpers import data, models, training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--source", default="auto", choices=data.MNISTDataModule.sources)
    args = parser.parse_args()

    dm = data.MNISTDataModule(source=args.source)
    dm.prepare_data()
    dm.setup()
    L.seed_everything(0, verbose=False)
    model = models.LeNet300100(dm.dims, dm.num_classes)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache_dir:  # always really train
        training.fit(model, dm, num_epochs=args.epochs, cache_dir=cache_dir, progress=False)
    seconds = time.perf_counter() - start
    accuracy = training.evaluate(model, dm)
    print(f"data: {dm.source} MNIST ({len(dm.train_set):,} train / {len(dm.test_set):,} test images)")
    print(f"LeNet-300-100, {args.epochs} epochs on {torch.get_num_threads()} CPU threads: "
          f"{seconds:.1f} s of training, test accuracy {accuracy:.2%}")


if __name__ == "__main__":
    main()
