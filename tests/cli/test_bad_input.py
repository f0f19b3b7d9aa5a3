"""Ordinary bad input to `zoo predict` / `zoo explain` is a one-line error with the documented
exit code, never a traceback; the files users feed them are read as they mean them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo.cli
from zoo.cli import main
from zoo.preprocessing import Preprocessing

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"
DIGITS = ["--weights", str(HUBCARDS / "cnn_cam.digits" / "model.safetensors")]


@pytest.mark.parametrize("args, says", [
    (["-O", "n_samples=0"], "refused -O n_samples=0"),
    (["-O", "n_samples='many'"], "refused -O n_samples='many'"),
    (["--cmap", "nosuchmap"], "is not a matplotlib colormap"),
    (["--alpha", "5"], "--alpha must be in [0, 1]"),
])
def test_explain_options_that_cannot_work_are_usage_errors(image, capsys, args, says):
    assert main(["explain", "cnn_cam", str(image), *DIGITS, "-m", "smoothgrad", *args]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_explain_builds_a_local_file_with_the_options_its_config_records(image, tmp_path, capsys):
    """unet.shapes was trained with base_width 8 (its config.json); the architecture's default is 16."""
    weights = HUBCARDS / "unet.shapes" / "model.safetensors"
    assert main(["explain", "unet", str(image), "--weights", str(weights), "-o", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").is_file()


def test_explain_grid_into_a_folder_writes_inside_it(image, tmp_path, capsys):
    folder = tmp_path / "maps"
    folder.mkdir()
    assert main(["explain", "cnn_cam", str(image), str(image), *DIGITS, "--grid", "-o", str(folder)]) == 0
    written = Path(capsys.readouterr().out.strip())
    assert written == folder / "explain-gradcam.png" and written.is_file()


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_an_output_path_that_is_a_file_is_a_usage_error(command, image, tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    args = {"predict": ["predict", "unet.shapes", str(image), "--weights",
                        str(HUBCARDS / "unet.shapes" / "model.safetensors"), "-o", str(blocker / "out")],
            "explain": ["explain", "cnn_cam", str(image), str(image), *DIGITS, "-o", str(blocker)]}[command]
    assert main(args) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_predict_refuses_an_opacity_outside_0_1(image, tmp_path, capsys):
    assert main(["predict", "unet.shapes", str(image), "--weights", str(HUBCARDS / "unet.shapes" / "model.safetensors"),
                 "-o", str(tmp_path / "out"), "--alpha", "5"]) == 2
    assert "--alpha must be in [0, 1]" in capsys.readouterr().err


def test_an_image_claiming_too_many_pixels_is_refused_cleanly(tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    Image.new("L", (1, 1)).save(bomb)
    data = bytearray(bomb.read_bytes())  # rewrite the IHDR size to 30000 x 30000 (a decompression bomb)
    data[16:24] = (30000).to_bytes(4, "big") * 2
    import zlib

    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    bomb.write_bytes(bytes(data))
    assert main(["explain", "cnn_cam", str(bomb), *DIGITS]) == 3
    err = capsys.readouterr().err
    assert "too many pixels" in err and "Traceback" not in err


def test_a_16_bit_image_keeps_its_grey_levels(tmp_path):
    path = tmp_path / "scan16.png"
    Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)).save(path)
    with Image.open(path) as image:
        assert image.mode.startswith("I")
    _, x = Preprocessing.from_config({}, 1).load(path)
    assert abs(float(x.mean()) - 0.5) < 0.01  # half scale, not clipped to white


@pytest.mark.parametrize("in_chans", [1, 3])
def test_a_palette_image_with_transparency_reads_without_pillows_warning(tmp_path, in_chans):
    """Pillow warns "should be converted to RGBA" when it goes straight to RGB or L: the zoo's step."""
    import warnings

    path = tmp_path / "palette.png"
    image = Image.new("P", (8, 8), 2)
    image.putpalette([value % 256 for value in range(768)])
    image.save(path, transparency=bytes([0, 128, 255]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, x = Preprocessing.from_config({}, in_chans).load(path)
    assert tuple(x.shape) == (in_chans, 8, 8) and x.max() > 0


def test_a_file_that_is_not_an_image_is_an_error_naming_it(tmp_path):
    from zoo.errors import ImageFileError

    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    with pytest.raises(ImageFileError) as info:
        Preprocessing.from_config({}, 3).load(notes)
    assert str(info.value).startswith(f"{notes}: not an image Pillow can read")


def test_images_are_resized_to_the_configs_height_and_width_not_its_width_and_height(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (40, 30)).save(path)
    drawn, x = Preprocessing.from_config({"input_size": [3, 16, 24]}, 3).load(path)
    assert tuple(x.shape) == (3, 16, 24) and drawn.size == (40, 30)  # the model's input; the drawing keeps its size


def test_ctrl_c_ends_a_command_with_130_and_no_traceback(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo.cli.listing, "get_registry", interrupted)
    assert main(["list"]) == 130
    assert capsys.readouterr().err.strip() == "zoo: interrupted"


def test_predict_refuses_in_chans_other_than_1_or_3_before_loading_anything(image, tmp_path, capsys):
    # Before, --in-chans 2 adapted the weights, then failed reading the image (exit 3).
    with pytest.raises(SystemExit) as info:
        main(["predict", "unet.shapes", str(image), "-o", str(tmp_path / "out"), "--in-chans", "2"])
    assert info.value.code == 2 and "invalid choice: 2" in capsys.readouterr().err


@pytest.mark.parametrize("config, says", [
    ({"mean": "abc"}, "mean must be a finite number or a list of them"),
    ({"label_names": 5}, "label_names must be a list of names"),
    ({"input_size": "big"}, "input_size must be N, [H, W] or [C, H, W]"),
    ({"model_kwargs": [1, 2]}, "model_kwargs must be an object of builder keyword arguments"),
    # found by fuzzing: Inf/NaN inputs drawn without a word, 20000x20000 images (OOM-killed), and
    # a raw "got multiple values for keyword argument" TypeError
    ({"std": 0}, "std must be a positive finite number or a list of them"),
    ({"std": [1.0, 0.0, 1.0]}, "std must be a positive finite number"),
    ({"std": [5e-324] * 3}, "turn pixels in [0, 1] into Inf/NaN in float32"),  # predicted class 0 everywhere
    ({"mean": [1e308] * 3, "std": [1e-308] * 3}, "overflows"),
    ({"mean": float("nan")}, "mean must be a finite number"),
    ({"input_size": [20000, 20000]}, "asks for images over 8192 px a side"),
    ({"input_size": [1]}, "input_size must be N, [H, W] or [C, H, W]"),
    ({"model_kwargs": {"num_classes": 4}}, "model_kwargs holds num_classes, which belong at the config's top level"),
    ({"mean": [0.1, 0.2]}, "config mean has 2 values but the model takes 3 channels"),  # did not name the file
])
def test_a_config_of_the_wrong_types_is_an_error_naming_the_key(config, says, image, tmp_path, capsys):
    """Any JSON may sit in a config.json (a mirror's, or --config): a traceback before. The error
    names the file and the key."""
    import json

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert main(["predict", "unet", str(image), "-o", str(tmp_path / "out"), "--config", str(path)]) == 3
    err = capsys.readouterr().err
    assert f"{path}: " in err and says in err and "Traceback" not in err


def test_null_preprocessing_values_are_the_defaults_and_unknown_builder_options_name_the_config(image, tmp_path,
                                                                                                capsys):
    """'mean': null raised TypeError; a model_kwargs key the builder does not take gave the
    builder's own traceback (exit 1) for what a config file said."""
    import json

    assert Preprocessing.from_config({"mean": None, "std": None}, 3).mean == [0.0] * 3
    weights = HUBCARDS / "unet.shapes" / "model.safetensors"
    config = json.loads((HUBCARDS / "unet.shapes" / "config.json").read_text())
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**config, "model_kwargs": {**config["model_kwargs"], "no_such_option": 1}}))
    args = ["predict", "unet", str(image), "-o", str(tmp_path / "out"), "--weights", str(weights), "--config", str(path)]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert f"{path}: model_kwargs" in err and "no_such_option" in err and "Traceback" not in err


def test_a_path_the_system_refuses_is_an_error_not_a_traceback(capsys):
    """ENAMETOOLONG from Path.is_file() escaped every command as a traceback (exit 1)."""
    assert main(["predict", "unet", "a" * 300 + ".png", "-o", "out"]) == 3
    assert "File name too long" in capsys.readouterr().err


def test_timms_config_layout_gives_its_preprocessing(tmp_path):
    """timm's Hub repos nest mean, std and input_size under pretrained_cfg."""
    import json

    from zoo.model_config import read_config

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"architecture": "resnet18", "num_classes": 0, "label_names": ["a", "b"],
                                "pretrained_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
                                                   "input_size": [3, 160, 160]}}))
    pre = Preprocessing.from_config(read_config(path), 3)
    assert (pre.mean, pre.std, pre.size) == ([0.5] * 3, [0.25] * 3, (160, 160))
    # a value at the top level is the file's own word and wins over the nested one
    path.write_text(json.dumps({"mean": [0.1] * 3, "pretrained_cfg": {"mean": [0.5] * 3, "std": [0.25] * 3}}))
    pre = Preprocessing.from_config(read_config(path), 3)
    assert (pre.mean, pre.std) == ([0.1] * 3, [0.25] * 3)


def test_integral_floats_in_a_config_are_whole_numbers(tmp_path):
    import json

    from zoo.model_config import read_config

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"input_size": [3, 224.0, 224.0], "num_classes": 0}))
    assert Preprocessing.from_config(read_config(path), 3).size == (224, 224)



def test_explain_draws_integrated_gradients_asked_for_its_delta_too(image, tmp_path, monkeypatch):
    """-O return_delta=True: the explainer returns (maps, delta), as documented; not a plugin bug.
    The delta is drawn in the title (it was dropped without a word)."""
    import matplotlib.axes

    titles = []
    real = matplotlib.axes.Axes.set_title
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", lambda ax, text, *a, **k: titles.append(text) or
                        real(ax, text, *a, **k))
    out = tmp_path / "ig.png"
    assert main(["explain", "cnn_cam", str(image), *DIGITS, "--method", "integrated_gradients",
                 "-O", "return_delta=True", "-O", "n_steps=8", "-o", str(out)]) == 0
    assert out.is_file()
    assert len(titles) == 1 and "- integrated_gradients, delta " in titles[0], titles
    assert float(titles[0].rpartition("delta ")[2]) != 0


def test_outputs_never_replace_an_input_image(image, tmp_path, monkeypatch, capsys):
    """`-o .` in the images' folder, or `-o` naming the image: the input was overwritten silently."""
    before = image.read_bytes()
    monkeypatch.chdir(image.parent)
    assert main(["predict", "unet", image.name, "-o", "."]) == 0
    assert capsys.readouterr().out.split() == ["image-2.png"]
    assert main(["explain", "cnn_cam", image.name, *DIGITS, "-o", image.name]) == 2
    assert "is one of the input images" in capsys.readouterr().err
    assert image.read_bytes() == before


def test_explain_renames_around_an_input_in_its_folder_as_predict_does(image, tmp_path, capsys):
    """explain wrote its first maps, then refused (exit 2) at the output named like an input; predict
    renames. One rule now: an input's name in the folder is taken."""
    folder = tmp_path / "d"
    folder.mkdir()
    named_like_an_output, plain = folder / "b-gradcam.png", folder / "b.png"
    for path in (named_like_an_output, plain):
        path.write_bytes(image.read_bytes())
    before = plain.read_bytes()
    assert main(["explain", "cnn_cam", str(named_like_an_output), str(plain), *DIGITS, "-o", str(folder)]) == 0
    assert capsys.readouterr().out.split() == [str(folder / "b-gradcam-gradcam.png"), str(folder / "b-2-gradcam.png")]
    assert named_like_an_output.read_bytes() == before  # both inputs as they were


@pytest.mark.parametrize("command", ["explain", "predict"])
def test_an_output_name_linked_to_an_input_is_not_written_through(command, image, tmp_path, capsys):
    """out/a-gradcam.png -> elsewhere/real.png, with real.png an input: the link's name was free
    by name, and the heat map replaced the input through it."""
    (tmp_path / "elsewhere").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "out").mkdir()
    real, other = tmp_path / "elsewhere" / "real.png", tmp_path / "b" / "a.png"
    real.write_bytes(image.read_bytes())
    other.write_bytes(image.read_bytes())
    link = tmp_path / "out" / ("a-gradcam.png" if command == "explain" else "a.png")
    link.symlink_to(real)
    before = real.read_bytes()
    extra = [*DIGITS, "-o", str(tmp_path / "out")] if command == "explain" else ["-o", str(tmp_path / "out")]
    model = "cnn_cam" if command == "explain" else "unet"
    assert main([command, model, str(real), str(other), *extra]) == 0
    assert real.read_bytes() == before
    written = [Path(p).name for p in capsys.readouterr().out.split()]
    assert written == (["real-gradcam.png", "a-2-gradcam.png"] if command == "explain" else ["real.png", "a-2.png"])
