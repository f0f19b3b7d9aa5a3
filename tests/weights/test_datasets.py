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


def test_the_splits_are_the_fixed_ones_the_cards_were_measured_on():
    """A changed split seed keeps splits disjoint and sized, yet every card's metric was measured
    on the old test split: the first items of each split are pinned."""
    firsts = {s: get_dataset("digits", s).indices[:8].tolist() for s in ("train", "val", "test")}
    assert firsts == {"train": [724, 1648, 1455, 1448, 1722, 943, 677, 723],
                      "val": [355, 824, 64, 942, 1149, 737, 1213, 1021],
                      "test": [1041, 382, 1139, 1206, 54, 1547, 258, 1316]}
    test = get_dataset("shapes", "test")
    assert [(test[i]["labels"].tolist(), test[i]["boxes"].long().tolist()) for i in range(2)] == [
        ([2, 1, 3], [[29, 26, 43, 41], [12, 5, 25, 18], [43, 4, 60, 22]]),
        ([1, 3], [[19, 27, 35, 42], [42, 4, 53, 14]]),
    ]
    assert get_dataset("shapes", "val")[0]["labels"].tolist() == [3, 2, 3, 2]


def test_shapes_splits_at_their_default_sizes_share_no_scene():
    splits = {s: get_dataset("shapes", s) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [1600, 160, 160]
    seen = {s: {_digest(ds[i]["image"]) for i in range(len(ds))} for s, ds in splits.items()}
    assert sum(map(len, seen.values())) == 1920 and len(set().union(*seen.values())) == 1920


def test_shapes_items_end_at_the_split_size():
    ds = get_dataset("shapes", "val", size=3)
    assert len(list(ds)) == 3  # iteration stops: ds[3] is an IndexError
    with pytest.raises(IndexError):
        ds[3]


def test_shapes_scenes_hold_one_to_max_objects():
    counts = {len(get_dataset("shapes", "val")[i]["labels"]) for i in range(40)}
    assert counts == {1, 2, 3, 4}
    assert {len(get_dataset("shapes", "val", max_objects=1)[i]["labels"]) for i in range(10)} == {1}


def test_digits_items_are_the_scans_with_their_labels():
    """At 8x8 (no upsampling) an item is scikit-learn's scan scaled to [0, 1], with its own label;
    ``size`` keeps the first items of the split."""
    from sklearn.datasets import load_digits

    data = load_digits()
    test = get_dataset("digits", "test", image_size=8)
    for i in (0, 1, 359):
        k = int(test.indices[i])
        assert torch.equal(test[i]["image"][0], torch.from_numpy(data.images[k] / 16.0).float())
        assert test[i]["label"] == data.target[k]
    assert get_dataset("digits", "test", size=5).indices.tolist() == test.indices[:5].tolist()
    assert float(get_dataset("digits", "test")[0]["image"].max()) <= 1.0
    with pytest.raises(ValueError, match="split"):
        get_dataset("digits", "holdout")


def test_the_occlusion_limit_shapes_the_scenes():
    """``min_visible`` (default 0.5) turns placements away that would hide too much of an earlier object."""
    def scenes(**kwargs):
        ds = get_dataset("shapes", "val", size=40, **kwargs)
        return [_digest(ds[i]["mask"]) for i in range(len(ds))]

    default = scenes()
    assert scenes(min_visible=0.5) == default and scenes(min_visible=0.0) != default
