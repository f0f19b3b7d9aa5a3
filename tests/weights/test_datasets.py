"""The datasets behind the reference weights are deterministic and their splits disjoint."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from zoo.data import get_dataset
from zoo.errors import UnknownNameError


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha1(t.numpy().tobytes()).hexdigest()


def test_shapes_same_seed_same_sample_in_any_order():
    a = get_dataset("shapes", "train", size=20)
    b = get_dataset("shapes", "train", size=20)
    later = {k: v.clone() for k, v in a[13].items()}
    _ = [b[i] for i in range(12)]  # reading others first must not matter
    for key, value in b[13].items():
        assert torch.equal(value, later[key]), key


def test_shapes_splits_are_disjoint():
    seen = {s: {_digest(get_dataset("shapes", s, size=40)[i]["image"]) for i in range(40)}
            for s in ("train", "val", "test")}
    assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"] and not seen["val"] & seen["test"]


def test_shapes_labels_are_consistent():
    ds = get_dataset("shapes", "val", size=30)
    for i in range(len(ds)):
        it = ds[i]
        assert it["image"].shape == (3, 64, 64) and 0 <= it["image"].min() and it["image"].max() <= 1
        k = len(it["labels"])
        assert 1 <= k <= 4 and it["masks"].shape == (k, 64, 64) and it["boxes"].shape == (k, 4)
        # The class map is the union of the instance masks, each painted with its label.
        rebuilt = torch.zeros(64, 64, dtype=torch.int64)
        for m, label in zip(it["masks"], it["labels"]):
            assert m.sum() >= 15 and not (rebuilt[m.bool()] != 0).any()  # visible parts do not overlap
            rebuilt[m.bool()] = label
        assert torch.equal(rebuilt, it["mask"])
        for m, (x0, y0, x1, y1) in zip(it["masks"], it["boxes"].long().tolist()):
            ys, xs = torch.nonzero(m, as_tuple=True)
            assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_digits_deterministic_and_disjoint():
    splits = {s: get_dataset("digits", s) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [1257, 180, 360]
    idx = [set(splits[s].indices.tolist()) for s in splits]
    assert sum(map(len, idx)) == 1797 and len(set().union(*idx)) == 1797
    again = get_dataset("digits", "test")
    assert torch.equal(again[5]["image"], splits["test"][5]["image"]) and again[5]["label"] == splits["test"][5]["label"]
    assert splits["test"][0]["image"].shape == (1, 32, 32)
    assert np.bincount(splits["test"].labels.numpy(), minlength=10).min() > 20  # every digit is tested


def test_unknown_dataset_and_split():
    with pytest.raises(UnknownNameError, match="shapes"):
        get_dataset("nope", "train")
    with pytest.raises(ValueError, match="split"):
        get_dataset("shapes", "holdout")
