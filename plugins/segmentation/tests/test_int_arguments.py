"""Integer builder arguments: a scalar one (num_classes, in_chans, ...) must be one int, a per-stage
one (widths, depths) a sequence of ints; either way a typed error naming the argument, never a
TypeError from deep inside nn.Conv2d."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo_segmentation.errors import ModelConfigError

FAMILIES = ["unet", "segnet", "fcn8s"]


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("argument", ["num_classes", "in_chans"])
def test_a_list_for_a_scalar_argument_names_it_and_asks_for_one_int(name, argument):
    with pytest.raises(ModelConfigError, match=rf"{argument} must be a positive int, got \[3, 2\]") as info:
        zoo.create(name, **{argument: [3, 2]})
    assert "sequence" not in str(info.value)  # a scalar argument takes no sequence


@pytest.mark.parametrize("name, kwargs", [
    ("unet", {"base_width": (8,)}),
    ("unet", {"depth": [4]}),
    ("fcn8s", {"fc_width": [64]}),
    ("fcn8s", {"fc_kernel": (3,)}),
])
def test_other_scalar_arguments_refuse_sequences_too(name, kwargs):
    (argument,) = kwargs
    with pytest.raises(ModelConfigError, match=rf"{argument} must be a positive int, got"):
        zoo.create(name, **kwargs)


@pytest.mark.parametrize("name", ["segnet", "fcn8s"])
@pytest.mark.parametrize("argument, value", [("widths", 16), ("depths", 2), ("widths", []),
                                             ("depths", [2, 0, 2, 2, 2]), ("widths", [8, 8.5, 8, 8, 8])])
def test_a_per_stage_argument_must_be_a_sequence_of_positive_ints(name, argument, value):
    with pytest.raises(ModelConfigError, match=rf"{argument} must be a non-empty sequence of positive ints") as info:
        zoo.create(name, **{argument: value})
    assert isinstance(info.value, zoo.ZooError)


def test_a_range_is_a_sequence_of_stages():
    """range(16, 80, 16) is a Sequence[int], as the signatures say; it was refused for a while."""
    model = zoo.create("segnet", widths=range(4, 20, 4), depths=(1, 1, 2, 2))
    assert model.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 21, 32, 32)  # its default num_classes
    with pytest.raises(ModelConfigError, match="widths must be a non-empty sequence"):
        zoo.create("segnet", widths="wide")


def test_a_unet_deeper_than_its_bound_is_refused_before_any_memory_is_taken():
    """depth=40 asked for base_width * 2**40 channels: 17 GB of a 23 GB machine in 40 s, no error."""
    with pytest.raises(ModelConfigError, match="unet: depth must be at most 10"):
        zoo.create("unet", depth=40)


@pytest.mark.parametrize("name", FAMILIES)
def test_a_bool_is_not_a_count(name):
    """True == 1 in Python, but num_classes=True is a mistake (a flag passed in the wrong place)."""
    with pytest.raises(ModelConfigError, match=r"num_classes must be a positive int, got True"):
        zoo.create(name, num_classes=True)
