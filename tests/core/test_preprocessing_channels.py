"""A config's mean/std for a model asked for another channel count than the config was written for
(``--in-chans 1`` on RGB weights, whose stem ``zoo.create`` adapts by summing the RGB filters)."""

from __future__ import annotations

import pytest
import torch

from zoo.errors import ModelConfigError
from zoo.preprocessing import Preprocessing

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def test_the_hub_cards_rgb_config_serves_a_grey_model():
    card = {"in_chans": 3, "input_size": [3, 64, 64], "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    pre = Preprocessing.from_config(card, 1)
    assert (pre.in_chans, pre.mean, pre.std, pre.size) == (1, [0.0], [1.0], (64, 64))


def test_rgb_values_become_their_average_for_one_grey_channel():
    pre = Preprocessing.from_config({**IMAGENET, "in_chans": 3}, 1)
    assert pre.mean == pytest.approx([0.449]) and pre.std == pytest.approx([0.226])
    x = torch.full((1, 4, 4), 0.5)
    assert torch.allclose(pre.normalise(x), (x - 0.449) / 0.226)


@pytest.mark.parametrize("mean", [0.5, [0.5]])
def test_one_value_is_repeated_for_every_channel(mean):
    assert Preprocessing.from_config({"mean": mean, "in_chans": 1}, 3).mean == [0.5, 0.5, 0.5]


def test_values_that_fit_the_model_are_kept():
    assert Preprocessing.from_config(IMAGENET, 3).mean == IMAGENET["mean"]
    assert Preprocessing.from_config({}, 1).mean == [0.0] and Preprocessing.from_config({}, 3).std == [1.0] * 3


@pytest.mark.parametrize("config, in_chans, says", [
    ({"mean": [0.1, 0.2]}, 3, "config mean has 2 values but the model takes 3 channels"),
    ({"std": [0.1, 0.2]}, 1, "config std has 2 values but the model takes 1 channels"),
    # the config contradicts itself: its channel count and its values disagree
    ({"mean": [0.5, 0.5], "in_chans": 3}, 3, "config mean has 2 values but its in_chans says the model takes C = 3"),
    ({**IMAGENET, "input_size": [1, 32, 32]}, 1, "its input_size says the model takes C = 1"),
])
def test_values_that_cannot_be_derived_are_refused(config, in_chans, says):
    with pytest.raises(ModelConfigError, match="give one value per channel, or one for all") as info:
        Preprocessing.from_config(config, in_chans)
    assert says in str(info.value)


def test_one_normalisation_for_images_and_batches_in_their_dtype():
    """predict/explain, zoo evaluate and the explainer report normalise through one function."""
    import torch

    from zoo.preprocessing import normalise

    batch = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 2.0]
    expected = (batch - torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)) / torch.tensor(
        std, dtype=torch.float64).view(1, 3, 1, 1)
    out = normalise(batch, mean, std)
    assert out.dtype == torch.float64 and torch.equal(out, expected)
    assert torch.equal(normalise(batch[0], mean, std), expected[0])  # one (C, H, W) image
    assert torch.equal(normalise(batch, 0.5, None), batch - 0.5) and torch.equal(normalise(batch, None, 2.0), batch / 2)


@pytest.mark.parametrize("input_size", [[24, 40], [1, 24, 40]])
def test_a_non_square_input_size_is_height_then_width(tmp_path, input_size):
    from PIL import Image

    pre = Preprocessing.from_config({"input_size": input_size}, 1)
    assert pre.size == (24, 40)
    Image.new("L", (10, 30), 200).save(tmp_path / "tall.png")
    _, x = pre.load(tmp_path / "tall.png")
    assert x.shape == (1, 24, 40) and torch.allclose(x, torch.full_like(x, 200 / 255))


@pytest.mark.parametrize("in_chans", [2, 4])
def test_image_files_serve_only_one_or_three_channel_models(in_chans):
    with pytest.raises(ModelConfigError, match="image files are read as 1- or 3-channel images; this model takes"):
        Preprocessing.from_config({}, in_chans)


def test_equal_values_apply_to_any_channel_count():
    from zoo.preprocessing import channel_stats

    config = {"mean": [0.5] * 3, "std": [0.25] * 3, "in_chans": 3}
    assert channel_stats(config, 4) == ([0.5] * 4, [0.25] * 4)
    assert channel_stats({"mean": [0.5, 0.5]}, 3)[0] == [0.5] * 3


def test_an_image_file_is_read_upright_as_its_exif_orientation_says(tmp_path):
    """A phone stores a portrait photo as a landscape one with Orientation=6 (turn 90 degrees
    clockwise to view); the model and the drawing get it as every viewer shows it."""
    from PIL import Image

    stored = Image.new("RGB", (40, 20), (0, 0, 0))
    stored.paste((255, 255, 255), (0, 0, 10, 20))  # a white band on the stored image's left
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "portrait.jpg", exif=exif, quality=95)
    picture, x = Preprocessing(3, [0.0] * 3, [1.0] * 3, None).load(tmp_path / "portrait.jpg")
    assert picture.size == (20, 40) and x.shape == (3, 40, 20)
    assert x[:, :8].mean() > 0.9 and x[:, 12:].mean() < 0.1  # turned clockwise: the band is now on top
    stored.save(tmp_path / "plain.png")
    picture, x = Preprocessing(3, [0.0] * 3, [1.0] * 3, None).load(tmp_path / "plain.png")
    assert picture.size == (40, 20) and x[:, :, :8].mean() > 0.9  # no orientation: as stored
