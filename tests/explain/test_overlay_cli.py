"""``zoo.overlay`` and ``zoo explain`` with real files."""

import json
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.cli import main


def test_import_zoo_stays_light():
    code = "import sys, zoo; zoo.overlay; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]  # overlay resolves lazily, imports only on use


def test_overlay_inputs_and_blending():
    image = np.zeros((10, 20, 3), dtype=np.uint8)
    heat = torch.zeros(5, 10)
    heat[0, 0] = 1.0
    out = zoo.overlay(image, heat, alpha=1.0, cmap="gray")
    assert isinstance(out, Image.Image) and out.size == (20, 10) and out.mode == "RGB"
    assert out.getpixel((0, 0))[0] > 100 and out.getpixel((19, 9)) == (0, 0, 0)  # resized bilinearly
    only_image = zoo.overlay(torch.full((3, 4, 4), 0.5), torch.rand(4, 4), alpha=0.0)
    assert only_image.getpixel((1, 1)) == (128, 128, 128)
    grey = zoo.overlay(Image.new("L", (4, 4), 200), np.ones((4, 4)), alpha=0.0)
    assert grey.getpixel((0, 0)) == (200, 200, 200)
    constant = zoo.overlay(image, np.full((10, 20), 7.0), alpha=1.0, cmap="gray")
    assert constant.getpixel((3, 3)) == (0, 0, 0)  # constant map -> zeros, no NaN
    signed = torch.tensor([[-2.0, 0.0], [1.0, 2.0]])  # zero sits mid-colormap, +-2 at the ends
    drawn = zoo.overlay(np.zeros((2, 2, 3), np.uint8), signed, alpha=1.0, cmap="gray")
    assert [drawn.getpixel((x, y))[0] for y in range(2) for x in range(2)] == [0, 128, 192, 255]
    assert zoo.overlay(np.zeros((2, 2, 3), np.uint8), signed, alpha=1.0).getpixel((1, 0)) == \
        zoo.overlay(np.zeros((2, 2, 3), np.uint8), signed, alpha=1.0, cmap="bwr").getpixel((1, 0))
    with pytest.raises(zoo.ArgumentError, match="colormap"):
        zoo.overlay(image, heat, cmap="nope")
    with pytest.raises(zoo.ArgumentError, match=r"\(H, W\)"):
        zoo.overlay(image, torch.rand(2, 5, 10))


def test_overlay_takes_every_image_form_its_docstring_names():
    def drawn(image, size=(6, 4)):
        out = zoo.overlay(image, np.zeros((size[1], size[0])), alpha=0.0)
        assert out.size == size and out.mode == "RGB"
        return out.getpixel((0, 0))

    assert drawn(torch.full((1, 4, 6), 0.5)) == (128, 128, 128)  # a one-channel (C, H, W) tensor
    assert drawn(np.full((4, 6, 1), 200, np.uint8)) == (200, 200, 200)  # (H, W, 1)
    assert drawn(np.full((4, 6, 4), 100, np.uint8)) == (100, 100, 100)  # RGBA
    assert drawn(np.zeros((3, 5, 3), np.uint8), size=(5, 3)) == (0, 0, 0)  # an array 3 high is (H, W, C), not (C, H, W)
    peak = torch.zeros(3, 4, 6)
    peak[:, 0, 0] = 1.0  # a float image whose brightest value is exactly 1.0 is in [0, 1]
    assert drawn(peak) == (255, 255, 255)
    assert drawn(np.full((4, 6, 3), 200)) == (200, 200, 200)  # integers 0-255 in numpy's default int64
    overshoot = torch.zeros(3, 16, 16)
    overshoot[0, 0, 0] = -0.02  # bicubic ringing, under 1% of the values: clipped to black, not wrapped to white
    assert drawn(overshoot, size=(16, 16)) == (0, 0, 0)
    with pytest.raises(zoo.ArgumentError, match="NaN or Inf"):
        drawn(torch.full((3, 4, 6), float("nan")))


def test_overlay_takes_a_map_with_any_leading_ones_and_refuses_an_alpha_outside_0_1():
    image = np.zeros((4, 6, 3), np.uint8)
    assert zoo.overlay(image, torch.rand(1, 1, 4, 6)).size == (6, 4)  # one map of zoo.explain's (N, H, W) kept 4-D
    for alpha in (-0.1, 1.5):
        with pytest.raises(zoo.ArgumentError, match=r"alpha must be in \[0, 1\]"):
            zoo.overlay(image, np.zeros((4, 6)), alpha=alpha)


def test_overlay_scales_maps_as_its_docstring_says():
    def row(heatmap, width=2, **kwargs):
        out = zoo.overlay(np.zeros((1, width, 3), np.uint8), np.asarray([heatmap], np.float32), alpha=1.0, **kwargs)
        return [out.getpixel((x, 0))[0] for x in range(width)]

    assert row([1.0, 3.0], cmap="gray") == [0, 255]  # min-max: the lowest value is the bottom of the colormap
    assert row([-2.0, 0.5], cmap="gray", normalize=False) == [0, 128]  # clipped, not scaled symmetrically
    assert row([0.0, 0.0], cmap="gray", symmetric=True) == [128, 128]  # zero sits mid-colormap, even alone
    assert row([0.0, 4.0], width=4, cmap="gray", normalize=False) == [0, 64, 192, 255]  # clipped, then bilinear
    assert row([0.0, 1.0]) == row([0.0, 1.0], cmap="jet")  # the default colormap of an unsigned map


@pytest.fixture
def digits_weights(tmp_path):
    if "cnn_cam" not in zoo.list_models("cnn_cam"):
        pytest.skip("the classification plugin (cnn_cam) is not installed")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = zoo.create("cnn_cam", num_classes=3, in_chans=1)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    (tmp_path / "config.json").write_text(json.dumps({
        "label_names": ["zero", "one", "two"], "mean": [0.5], "std": [0.25], "input_size": [1, 16, 16],
        "num_classes": 3, "in_chans": 1}))
    images = []
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        Image.fromarray((np.random.default_rng(i).random((24, 20)) * 255).astype(np.uint8)).save(p)
        images.append(str(p))
    return path, images


@pytest.mark.parametrize("height, width", [(1, 7), (7, 1), (1, 1)])
def test_an_image_one_pixel_high_or_wide_is_overlaid(height, width):
    """The map was squeezed whole: a (1, 7) map lost its H, and `zoo explain` of a 7x1 image said
    "heatmap must be (H, W), got shape (7,)"."""
    for heatmap in (torch.rand(height, width), torch.rand(1, height, width), torch.rand(height, width, 1)):
        assert zoo.overlay(torch.rand(3, height, width), heatmap).size == (width, height)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_map_with_nan_or_inf_is_refused_not_drawn(bad):
    """NaN was drawn as the lowest colour, and one Inf flattened the rest of the map."""
    heatmap = torch.rand(40, 30)
    heatmap[3, 3] = bad
    with pytest.raises(zoo.ArgumentError, match="heatmap holds 1 NaN/Inf value"):
        zoo.overlay(torch.ones(3, 40, 30), heatmap)


def test_an_image_normalised_by_mean_and_std_is_refused_not_drawn_black():
    """The model's input was drawn as a nearly black picture without a word (pytorch-grad-cam refuses it)."""
    picture = torch.rand(3, 16, 16)
    mean, std = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with pytest.raises(zoo.ArgumentError, match="looks normalised by mean/std.*pass the image before normalisation"):
        zoo.overlay((picture - mean) / std, torch.rand(16, 16))
    overshoot = picture.clone()
    overshoot[0, 0, 0] = -0.02  # bicubic resizing's ringing: a pixel or two, clipped
    assert zoo.overlay(overshoot, torch.rand(16, 16)).size == (16, 16)


def test_cli_one_png_per_image(digits_weights, tmp_path, capsys):
    weights, images = digits_weights
    out = tmp_path / "maps"
    assert main(["explain", "cnn_cam", *images, "--weights", str(weights), "-m", "gradcam",
                 "--target", "two", "-o", str(out)]) == 0
    written = sorted(out.glob("*.png"))
    assert [p.name for p in written] == ["img0-gradcam.png", "img1-gradcam.png"]
    assert Image.open(written[0]).size[0] > 100
    assert str(written[0]) in capsys.readouterr().out


def test_cli_titles_each_map_with_the_class_name_its_score_and_the_method(digits_weights, tmp_path, monkeypatch):
    """The issue's "with the class name and score in the title": the tests looked at files and sizes."""
    import matplotlib.axes

    from zoo.preprocessing import Preprocessing

    weights, images = digits_weights
    titles = []
    real = matplotlib.axes.Axes.set_title
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", lambda ax, text, *a, **k: titles.append(text) or
                        real(ax, text, *a, **k))
    for extra in ([], ["--grid"]):
        assert main(["explain", "cnn_cam", *images, "--weights", str(weights), "-m", "gradcam", "--target", "two",
                     "-o", str(tmp_path / f"maps{len(extra)}"), *extra]) == 0
    config = json.loads((weights.parent / "config.json").read_text())
    model = zoo.create("cnn_cam", num_classes=3, in_chans=1, weights=weights)
    pre = Preprocessing.from_config(config, 1)
    expected = []
    for path in images:
        with torch.no_grad():
            probability = model(pre.normalise(pre.load(path)[1])[None]).softmax(1)[0, 2].item()
        expected.append(f"two ({probability:.2f}) - gradcam")
    assert titles == expected * 2  # one figure per image, then the grid


def test_a_qualified_or_org_method_name_makes_a_plain_file_name(digits_weights, tmp_path):
    """A plugin's 'org/name' method made `-o folder/` write into a sub-folder that did not exist
    (a traceback), and --grid into a new sub-folder."""
    weights, images = digits_weights
    out = tmp_path / "maps"
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "-m", "visionzoo-explainers:gradcam",
                 "-o", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["img0-visionzoo-explainers-gradcam.png"]
    assert main(["explain", "cnn_cam", *images, "--weights", str(weights), "-m", "visionzoo-explainers:gradcam",
                 "--grid", "-o", str(out)]) == 0
    assert (out / "explain-visionzoo-explainers-gradcam.png").is_file()


def test_a_weights_file_without_a_config_takes_num_classes_and_in_chans_from_the_command(digits_weights, tmp_path,
                                                                                         capsys):
    """As zoo predict does: a fine-tune saved without a config.json could not be explained."""
    weights, images = digits_weights
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "w.safetensors").write_bytes(weights.read_bytes())
    args = ["explain", "cnn_cam", images[0], "--weights", str(bare / "w.safetensors"), "-o", str(tmp_path / "o.png")]
    assert main(args) == 3  # built with the default 10 classes and 3 channels: the file does not fit
    assert "weights do not match the model" in capsys.readouterr().err
    assert main([*args, "--num-classes", "3", "--in-chans", "1"]) == 0
    assert (tmp_path / "o.png").is_file()


def test_cli_grid_and_options(digits_weights, tmp_path):
    weights, images = digits_weights
    out = tmp_path / "grid.png"
    assert main(["explain", "cnn_cam", *images, "--weights", str(weights), "-m", "smoothgrad", "-O",
                 "n_samples=2", "--grid", "-o", str(out)]) == 0
    assert out.is_file()
    single = tmp_path / "one.png"
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "--target", "1",
                 "-o", str(single)]) == 0
    assert single.is_file()


def test_cli_true_and_false_are_spelled_as_a_shell_user_spells_them(digits_weights, tmp_path):
    """-O relu=false reached the explainer as the string "false": truthy, so silently the default."""
    weights, images = digits_weights
    drawn = {}
    for spelled in ("false", "False", "FALSE", "true"):
        out = tmp_path / f"{spelled}.png"
        assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "-O", f"relu={spelled}",
                     "-O", f"normalize={spelled}", "-o", str(out)]) == 0
        drawn[spelled] = out.read_bytes()
    assert drawn["false"] == drawn["False"] == drawn["FALSE"] != drawn["true"]


def test_cli_an_output_file_matplotlib_cannot_write_is_a_usage_error(digits_weights, tmp_path, capsys):
    """-o x.bmp was taken as a folder and silently created one, named like an image."""
    weights, images = digits_weights
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "-o", str(tmp_path / "x.bmp")]) == 2
    assert "matplotlib, which cannot write .bmp files; use one of" in capsys.readouterr().err
    assert not (tmp_path / "x.bmp").exists()


def test_cli_errors(digits_weights, tmp_path, capsys):
    weights, images = digits_weights
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "--target", "seven"]) == 2
    assert "neither a class index nor a class name" in capsys.readouterr().err
    assert main(["explain", "cnn_cam", str(tmp_path / "missing.png"), "--weights", str(weights)]) == 2
    assert "no such image" in capsys.readouterr().err
    assert main(["explain", "cnn_cam", *images, "--weights", str(weights), "-o", str(tmp_path / "x.png")]) == 2
    assert "--grid" in capsys.readouterr().err
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "-O", "novalue"]) == 2
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "-m", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_cli_unknown_option_is_a_usage_error_naming_the_accepted_ones(digits_weights, capsys):
    weights, images = digits_weights
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "-m", "saliency",
                 "-O", "n_steps=3"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "'n_steps'" in err and "normalize" in err and "Traceback" not in err
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "-m", "smoothgrad",
                 "-O", "n_step=3"]) == 2
    assert "n_samples, sigma, stdev, seed, chunk_size, normalize" in capsys.readouterr().err


@pytest.mark.parametrize("suffix, fmt", [(".jpg", "JPEG"), (".webp", "WEBP"), (".tiff", "TIFF"), (".png", "PNG")])
def test_cli_one_image_to_a_file_of_any_image_format(digits_weights, tmp_path, suffix, fmt):
    weights, images = digits_weights
    out = tmp_path / f"one{suffix}"
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "-o", str(out)]) == 0
    assert out.is_file()
    with Image.open(out) as written:
        assert written.format == fmt and written.size[0] > 100
    assert main(["explain", "cnn_cam", *images, "--weights", str(weights), "-o", str(tmp_path / f"two{suffix}")]) == 2


def test_cli_inputs_sharing_a_file_name_do_not_overwrite_each_other(digits_weights, tmp_path, capsys):
    weights, images = digits_weights
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    Image.open(images[0]).save(a / "digit.png")
    Image.open(images[1]).save(b / "digit.png")
    out = tmp_path / "maps"
    assert main(["explain", "cnn_cam", str(a / "digit.png"), str(b / "digit.png"), str(a / "digit.png"),
                 "--weights", str(weights), "-o", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["digit-2-gradcam.png", "digit-3-gradcam.png", "digit-gradcam.png"]
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "digit-gradcam.png"), str(out / "digit-2-gradcam.png"),
                       str(out / "digit-3-gradcam.png")]
    assert not np.array_equal(np.asarray(Image.open(out / "digit-gradcam.png")),
                              np.asarray(Image.open(out / "digit-2-gradcam.png")))


def test_cli_a_method_that_does_not_declare_the_models_task_is_a_usage_error(digits_weights, capsys):
    # Before, cam on a segmenter failed inside the explainer with a traceback.
    _, images = digits_weights
    assert main(["explain", "unet", images[0], "--method", "cam"]) == 2
    err = capsys.readouterr().err
    assert "method 'cam' explains classification models" in err and "semantic_segmentation" in err
    assert "gradcam" in err and "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["--target", "12"], "--target 12 is not a class of this model: it has 3 classes, 0 to 2 (zero, one, two)"),
    (["-O", "target_layer=nosuch"], "refused -O target_layer='nosuch'"),
])
def test_cli_a_target_or_layer_the_model_lacks_is_a_usage_error(digits_weights, capsys, args, message):
    # Before, both exited 3 (a runtime error), unlike --target seven or -O n_samples=0.
    weights, images = digits_weights
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_score_fn_names_a_callable_as_module_function(digits_weights, tmp_path, monkeypatch, capsys):
    """The documented way to explain another model kind (README of the explainers) was refused on
    the command line as "takes no option 'score_fn'", though zoo.explain takes it."""
    weights, images = digits_weights
    (tmp_path / "my_scores.py").write_text(
        "calls = []\n"
        "def logit_of_one(output, classes):\n"
        "    calls.append(tuple(output.shape))\n"
        "    return output[:, 1]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_scores

    args = ["explain", "cnn_cam", images[0], "--weights", str(weights), "-m", "saliency", "-o", str(tmp_path / "o.png")]
    assert main([*args, "-O", "score_fn=my_scores:logit_of_one"]) == 0
    assert my_scores.calls and (tmp_path / "o.png").is_file()
    # its target is the score_fn's to read: not checked against the 3 logits, as in zoo.explain
    assert main([*args, "-O", "score_fn=my_scores:logit_of_one", "--target", "15"]) == 0
    assert main([*args, "-O", "score_fn=logit_of_one"]) == 2
    assert "takes a Python callable as package.module:function, got 'logit_of_one'" in capsys.readouterr().err
    assert main([*args, "-O", "score_fn=no_such_module_here:f"]) == 2
    err = capsys.readouterr().err
    assert "-O score_fn: cannot import callable 'no_such_module_here:f'" in err
    assert "pytest" not in err  # the builder hint (run pytest from the package root) is not for a command line


def test_the_title_names_the_class_a_segmentation_map_explains_without_the_explainers_record():
    """Without ``last_classes`` (a third-party explainer), the title took the class of pixel (0, 0)."""
    from types import SimpleNamespace

    from zoo.cli.explain import explained_class

    logits = torch.zeros(1, 3, 4, 4)
    logits[0, 0, 0, 0] = 5.0  # pixel (0, 0) is class 0
    logits[0, 2, 1:, :] = 5.0  # most pixels are class 2
    plain = SimpleNamespace()
    assert explained_class(plain, logits, None) == 2
    assert explained_class(plain, logits, 1) == 1
    assert explained_class(SimpleNamespace(last_classes=torch.tensor([0])), logits, None) == 0
    assert explained_class(plain, torch.tensor([[0.1, 0.9, 0.0]]), None) == 1


def test_the_titles_score_reads_one_logit_as_sigmoid_and_says_when_a_class_is_predicted_nowhere():
    """A one-logit model's title read softmax over one logit: (1.00) whatever the image; a
    segmentation class predicted nowhere read (0.00), as if predicted with no confidence."""
    from zoo.cli.explain import _score

    assert _score(torch.tensor([[0.0]]), 0) == pytest.approx(0.5)
    assert _score(torch.tensor([[2.0, 0.0]]), 0) == pytest.approx(torch.tensor([2.0, 0.0]).softmax(0)[0].item())
    logits = torch.zeros(1, 3, 4, 4)
    logits[0, 2] = 5.0  # every pixel is class 2
    assert _score(logits, 1) is None
    assert _score(logits, 2) == pytest.approx(torch.tensor([0.0, 0.0, 5.0]).softmax(0)[2].item())
    binary = torch.full((1, 1, 4, 4), -1.0)
    assert _score(binary, 0) == pytest.approx(torch.tensor(-1.0).sigmoid().item())


def test_cli_an_output_folder_that_is_a_file_is_refused_before_the_work(digits_weights, tmp_path, capsys):
    """-o /dev/null (or any existing file without an image suffix) said "File exists" after the
    model had run; predict says it up front, and so does explain now."""
    weights, images = digits_weights
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "-o", "/dev/null"]) == 2
    assert "-o /dev/null is a file, not a folder; give a folder for the heat maps" in capsys.readouterr().err
    notes = tmp_path / "notes"
    notes.write_text("kept")
    assert main(["explain", "cnn_cam", images[0], "--weights", str(weights), "-o", str(notes)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and notes.read_text() == "kept"


def test_cli_a_large_photo_is_drawn_from_a_shrunk_copy(digits_weights, tmp_path, monkeypatch):
    """Blending at full size cost gigabytes on a photo of a hundred megapixels, for a panel a few
    hundred pixels wide; the drawn copy keeps the photo's aspect ratio."""
    import zoo.heatmap
    from zoo.cli.explain import DRAWN_SIDE

    weights, _ = digits_weights
    photo = tmp_path / "wide.png"
    Image.new("L", (3 * DRAWN_SIDE, DRAWN_SIDE // 2), 90).save(photo)
    drawn = []
    real = zoo.heatmap.overlay
    monkeypatch.setattr(zoo.heatmap, "overlay", lambda image, *a, **k: drawn.append(image.size) or real(image, *a, **k))
    assert main(["explain", "cnn_cam", str(photo), "--weights", str(weights), "-o", str(tmp_path / "out")]) == 0
    assert drawn == [(DRAWN_SIDE, round(DRAWN_SIDE / 6))]


class _AuxHeadSegmenter(torch.nn.Module):
    """torchvision's segmentation layout: forward returns {"out": logits, "aux": logits}."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.body = torch.nn.Conv2d(in_chans, 8, 3, padding=1)
        self.classifier = torch.nn.Conv2d(8, num_classes, 1)
        self.aux_classifier = torch.nn.Conv2d(8, num_classes, 1)

    def forward(self, x):
        features = self.body(x).relu()
        return {"out": self.classifier(features), "aux": self.aux_classifier(features)}


def _registered_segmenter(name: str, model_class, folder):
    """Register ``model_class`` as the segmenter ``name`` (a plugin of this test) and save a weights
    file of a fresh instance in ``folder``; returns the file."""
    from safetensors.torch import save_file

    from zoo.registry import get_registry

    class Plugin:
        @zoo.hookimpl
        def zoo_architectures(self):
            return [zoo.ArchitectureSpec(name, "semantic_segmentation", model_class)]

    get_registry().register(Plugin(), name=name.replace("_", "-"))
    weights = folder / "model.safetensors"
    save_file(model_class().state_dict(), str(weights))
    return weights


def test_cli_explains_a_segmenter_returning_torchvisions_dict(tmp_path):
    """The explainers read "out", and so does zoo predict; zoo explain crashed after the explanation
    ("'dict' object has no attribute 'ndim'") reading the dict for the title."""
    weights = _registered_segmenter("aux_head_segmenter", _AuxHeadSegmenter, tmp_path)
    image = tmp_path / "image.png"
    Image.fromarray((np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)).save(image)
    for extra in ([], ["--target", "1"]):
        out = tmp_path / f"explained{len(extra)}.png"
        assert main(["explain", "aux_head_segmenter", str(image), "--weights", str(weights), "-m", "gradcam",
                     "-o", str(out), *extra]) == 0
        assert out.is_file()


class _NeverClassTwo(torch.nn.Module):
    """A segmenter whose class 2 wins on no pixel of any image."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.classifier = torch.nn.Conv2d(in_chans, num_classes, 1)
        with torch.no_grad():
            self.classifier.bias[2] = -100.0

    def forward(self, x):
        return self.classifier(x)


def test_cli_a_warning_about_one_of_the_images_names_its_file(tmp_path, capsys):
    """The command explains its images one at a time, so an explainer's warning said "image(s) 0 ...,
    of 1" for each of them, and which file it was about was left to guess."""
    from zoo_explainers.targets import EmptyTargetWarning

    weights = _registered_segmenter("never_class_two", _NeverClassTwo, tmp_path)
    images = []
    for name in ("first.png", "second.png"):
        images.append(tmp_path / name)
        pixels = (np.random.default_rng(len(images)).random((20, 24, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(images[-1])
    assert main(["explain", "never_class_two", *map(str, images), "--weights", str(weights), "--target", "2",
                 "-o", str(tmp_path / "out")]) == 0
    messages = [line for line in capsys.readouterr().err.splitlines() if "region explained is empty" in line]
    assert [m.split(": ")[:3] for m in messages] == [["zoo", "warning", str(image)] for image in images]
    assert all("empty in the image (class 2): " in m and "image(s)" not in m for m in messages)
    with warnings.catch_warnings():  # a caller's own filters still apply to the warnings given again
        warnings.simplefilter("error", EmptyTargetWarning)
        with pytest.raises(EmptyTargetWarning, match=f"^{re.escape(str(images[0]))}: segmentation target"):
            main(["explain", "never_class_two", str(images[0]), "--weights", str(weights), "--target", "2",
                  "-o", str(tmp_path / "out2")])
