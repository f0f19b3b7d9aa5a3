"""What the commands' help texts and docstrings promise, one test each: defaults (score threshold,
alpha), boundaries (a score of exactly S, --target K), what is drawn where (boxes and masks at the
drawing's size, the legend's names), warnings and messages (random weights, every missing image at
once), and the tables of `zoo list`, `zoo info`, `zoo check` and `zoo doctor`.

Each was missing: a mutation of the command's code that broke it left every other test passing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from zoo.cli import main

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"
DIGITS = ["--weights", str(HUBCARDS / "cnn_cam.digits" / "model.safetensors")]


class _FakeDetector(torch.nn.Module):
    """torchvision's instance contract: a list of images in, a list of dicts out."""

    def __init__(self, scores):
        super().__init__()
        self.scores = torch.tensor(scores)

    def forward(self, images):
        n = len(self.scores)
        h, w = images[0].shape[-2:]
        return [{"boxes": torch.tensor([[2.0, 2.0, 10.0, 10.0]] * n), "labels": torch.ones(n, dtype=torch.long),
                 "scores": self.scores, "masks": torch.zeros(n, 1, h, w)}]


def _drawn_instances(monkeypatch, scores, original_size, input_size, threshold):
    import zoo.visualize
    from zoo.cli import predict

    seen = {}

    def fake_draw(original, pred, names, **kw):
        seen.update(pred=pred, names=names, **kw)
        return original

    monkeypatch.setattr(zoo.visualize, "draw_instances", fake_draw)
    original = Image.new("RGB", original_size)
    x = torch.zeros(3, input_size[1], input_size[0])
    predict._predict_instances(_FakeDetector(scores), original, x, {}, 2, threshold, 0.5)
    return seen


def test_predict_score_threshold_keeps_detections_scoring_exactly_s(monkeypatch):
    """--score-threshold's help: 'draw detections scoring at least S'."""
    seen = _drawn_instances(monkeypatch, [0.5, 0.4999], (32, 32), (32, 32), 0.5)
    assert seen["pred"]["scores"].tolist() == [0.5]


def test_predict_boxes_are_mapped_to_the_drawing_when_drawn_larger(monkeypatch):
    """--scale (or an input_size) draws on an image of another size than the model saw: boxes follow."""
    seen = _drawn_instances(monkeypatch, [0.9], (64, 96), (32, 32), 0.5)
    assert seen["pred"]["boxes"].tolist() == [[4.0, 6.0, 20.0, 30.0]]
    assert tuple(seen["pred"]["masks"].shape[-2:]) == (96, 64)


def test_predict_draws_instances_at_the_documented_default_threshold(tmp_path, monkeypatch):
    """--score-threshold's help: '(default 0.5)'; with no option the run must use 0.5."""
    pytest.importorskip("zoo_detection")
    import zoo
    import zoo.visualize
    from safetensors.torch import save_file

    seen = []
    real = zoo.visualize.draw_instances
    monkeypatch.setattr(zoo.visualize, "draw_instances",
                        lambda *a, **k: seen.append((a[1]["scores"].clone(), k["score_threshold"])) or real(*a, **k))
    torch.manual_seed(0)
    save_file(zoo.create("maskrcnn_mini").state_dict(), str(tmp_path / "m.safetensors"))
    Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / "scene.png")
    assert main(["predict", "maskrcnn_mini", str(tmp_path / "scene.png"), "-o", str(tmp_path / "out"),
                 "--weights", str(tmp_path / "m.safetensors")]) == 0
    (scores, threshold), = seen
    assert threshold == 0.5 and bool((scores >= 0.5).all())


@pytest.fixture
def sample_plugin(plugin_packages):
    plugin_packages("sample-plugin")


def test_predict_scale_below_one_never_draws_an_empty_image(sample_plugin, tmp_path):
    """--scale shrinks too; a side rounding to 0 px is drawn at 1 px, not a Pillow error."""
    Image.new("RGB", (3, 20), (200, 30, 30)).save(tmp_path / "thin.png")
    assert main(["predict", "sample_segmenter", str(tmp_path / "thin.png"), "-o", str(tmp_path / "out"),
                 "--scale", "0.1"]) == 0
    with Image.open(tmp_path / "out" / "thin.png") as im:
        assert im.size == (1, 2)


def test_explain_target_equal_to_the_class_count_is_a_usage_error(image, capsys):
    """cnn_cam.digits has 10 classes, 0 to 9: --target 10 is one past the end."""
    assert main(["explain", "cnn_cam", str(image), *DIGITS, "--target", "10"]) == 2
    assert "--target 10 is not a class of this model: it has 10 classes, 0 to 9" in capsys.readouterr().err


def test_predict_scale_with_an_unreadable_image_says_what_is_wrong_with_it(sample_plugin, tmp_path, capsys):
    """_check_scale skips an unreadable file: reading it for the model says what is wrong (exit 3, one line)."""
    (tmp_path / "notes.png").write_text("not an image")
    assert main(["predict", "sample_segmenter", str(tmp_path / "notes.png"), "-o", str(tmp_path / "out"),
                 "--scale", "2"]) == 3
    err = capsys.readouterr().err
    assert "not an image Pillow can read" in err and "Traceback" not in err


def _legend_names(monkeypatch, argv):
    import zoo.visualize

    seen = []
    real = zoo.visualize.overlay_segmentation
    monkeypatch.setattr(zoo.visualize, "overlay_segmentation",
                        lambda original, mask, names, **k: seen.append(list(names)) or real(original, mask, names, **k))
    assert main(argv) == 0
    return seen


def test_predict_legend_uses_the_configs_label_names(sample_plugin, tmp_path, monkeypatch):
    """Module doc: class names come from the config; without one, "class 0".."class K-1"."""
    Image.new("RGB", (20, 16), (200, 30, 30)).save(tmp_path / "a.png")
    argv = ["predict", "sample_segmenter", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")]
    assert _legend_names(monkeypatch, argv) == [["class 0", "class 1", "class 2"]]
    (tmp_path / "c.json").write_text(json.dumps({"label_names": ["bg", "red", "blue"]}))
    assert _legend_names(monkeypatch, [*argv, "--config", str(tmp_path / "c.json")]) == [["bg", "red", "blue"]]


class _DictSegmenter(torch.nn.Module):
    """torchvision's segmentation layout: forward returns {"out": logits, "aux": logits}."""

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 3, *x.shape[-2:])
        logits[:, 1] = 1.0
        return {"out": logits, "aux": -logits}


def test_predict_reads_torchvisions_out_logits(monkeypatch):
    """torchvision's segmentation models return {"out": logits, ...}: predict reads "out", as explain does."""
    import zoo.visualize
    from zoo.cli import predict

    seen = {}
    monkeypatch.setattr(zoo.visualize, "overlay_segmentation",
                        lambda original, mask, names, **k: seen.update(mask=mask, names=names) or original)
    predict._predict_semantic(_DictSegmenter(), Image.new("RGB", (12, 10)), torch.zeros(3, 5, 6), {}, None, 0.5)
    assert seen["mask"].shape == (10, 12) and bool((seen["mask"] == 1).all())
    assert seen["names"] == ["class 0", "class 1", "class 2"]


def test_predict_instance_legend_covers_the_highest_label_without_a_class_count(monkeypatch):
    """num_classes unknown (no config, the model has no num_classes): labels 0..max are named."""
    import zoo.visualize
    from zoo.cli import predict

    seen = {}
    monkeypatch.setattr(zoo.visualize, "draw_instances",
                        lambda original, pred, names, **k: seen.update(names=names) or original)
    predict._predict_instances(_FakeDetector([0.9]), Image.new("RGB", (16, 16)), torch.zeros(3, 16, 16), {}, None,
                               0.5, 0.5)
    assert seen["names"] == ["class 0", "class 1"]  # _FakeDetector's label is 1


def test_explain_option_without_a_key_is_refused_as_key_value(image, capsys):
    """_option: '--option takes KEY=VALUE' for '=5' as for 'novalue' (an empty key reached the explainer)."""
    assert main(["explain", "cnn_cam", str(image), *DIGITS, "-O", "=5"]) == 2
    assert "--option takes KEY=VALUE, got '=5'" in capsys.readouterr().err


def test_explain_output_folder_named_like_an_image_is_used_as_a_folder(image, tmp_path, capsys):
    """-o names an existing folder: one PNG per image inside it, whatever the folder's name (maps.bmp)."""
    folder = tmp_path / "maps.bmp"
    folder.mkdir()
    assert main(["explain", "cnn_cam", str(image), *DIGITS, "-o", str(folder)]) == 0
    assert (folder / "image-gradcam.png").is_file()


def _out(capsys, argv, rc=0):
    assert main(argv) == rc
    return capsys.readouterr().out


def test_list_task_filter_lists_models_only(sample_plugin, capsys):
    """Explainers have no task: --task filters models, and (as with --pretrained) the explainer table goes."""
    out = _out(capsys, ["list", "sample_*", "--task", "classification"])
    assert "sample_classifier" in out and "sample_ones" not in out and "explainer" not in out


def test_list_pretrained_table_has_a_metrics_column(sample_plugin, capsys):
    header = _out(capsys, ["list", "sample_*", "--pretrained"]).splitlines()[0].split()
    assert header == ["model", "task", "plugin", "metrics"]
    header = _out(capsys, ["list", "sample_*"]).splitlines()[0].split()
    assert header == ["model", "task", "plugin", "pretrained", "tags"]


def test_info_of_a_model_without_pretrained_weights_says_none(sample_plugin, capsys):
    assert "pretrained:   none" in _out(capsys, ["info", "sample_classifier"])


def test_info_of_an_explainer_says_whether_it_must_pass_the_sanity_check(capsys):
    assert "sanity check: must pass (zoo check)" in _out(capsys, ["info", "gradcam"])
    out = _out(capsys, ["info", "guided_backprop"])
    assert "sanity check: known to fail: guided backprop is known to fail" in out


def test_explain_without_weights_warns_that_the_maps_mean_nothing(image, tmp_path, capsys):
    """model_options.load_model: without weights it warns the model is random; explain adds what that means."""
    assert main(["explain", "cnn_cam", str(image), "-o", str(tmp_path / "m.png")]) == 0
    err = capsys.readouterr().err
    assert "zoo explain: warning: no weights given; cnn_cam is randomly initialised, so the maps mean nothing" in err


def test_predict_without_weights_warns_the_model_is_random(sample_plugin, tmp_path, capsys):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    assert main(["predict", "sample_segmenter", str(tmp_path / "a.png"), "-o", str(tmp_path / "o")]) == 0
    assert "zoo predict: warning: no weights given; sample_segmenter is randomly initialised" in \
        capsys.readouterr().err


def test_explain_target_layer_is_taken_as_written(sample_plugin, image, tmp_path, capsys):
    """nn.Sequential's layers are named 0, 1, ...: -O target_layer=0 is the layer '0', not the int 0."""
    assert main(["explain", "sample_segmenter", str(image), "-O", "target_layer=0", "-o", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").is_file()
    # none, as `zoo info` shows the default (target_layer=None), is the default: not a layer named 'None'
    assert main(["explain", "sample_segmenter", str(image), "-O", "target_layer=None", "-o", str(tmp_path / "n.png")]) == 0
    assert (tmp_path / "n.png").is_file()


def test_check_list_checks_names_each_checks_tasks(capsys):
    out = _out(capsys, ["check", "--list-checks"])
    assert "classification_output  [model; classification]" in out
    assert "registration  [model; all]" in out


def test_check_verbose_shows_the_full_note(capsys):
    """-v/--verbose: 'show each check's full note' (without it, long notes are cut at 70 characters)."""
    def note(*extra):
        out = _out(capsys, ["check", "cnn_cam", "--checks", "classification_output", *extra])
        line = next(l for l in out.splitlines() if "classification_output" in l)
        return line.split("PASS", 1)[1].split("s  ", 1)[1]
    short, full = note(), note("-v")
    assert short.endswith("...") and len(short) == 70
    assert not full.endswith("...") and len(full) > 70 and full.startswith(short[:-3])


class _NoConvClassifier(torch.nn.Module):
    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(in_chans, num_classes)

    def forward(self, x):
        return self.fc(self.pool(x).flatten(1))


def test_explain_a_model_the_method_cannot_explain_is_not_blamed_on_the_options(image, tmp_path, capsys):
    """A builder error the options do not cause is a runtime error (exit 3), not 'refused -O ...' (exit 2)."""
    import zoo
    from safetensors.torch import save_file
    from zoo.registry import get_registry

    class Plugin:
        @zoo.hookimpl
        def zoo_architectures(self):
            return [zoo.ArchitectureSpec("no_conv_classifier", "classification", _NoConvClassifier)]

    get_registry().register(Plugin(), name="no-conv-classifier")
    save_file(_NoConvClassifier().state_dict(), str(tmp_path / "w.safetensors"))
    argv = ["explain", "no_conv_classifier", str(image), "--weights", str(tmp_path / "w.safetensors"),
            "-m", "cam", "-o", str(tmp_path / "m.png")]
    assert main(argv) == 3
    plain = capsys.readouterr().err
    assert main([*argv, "-O", "relu=false"]) == 3  # cam needs forward_features(): the options are not the cause
    err = capsys.readouterr().err
    assert "needs a classifier with forward_features()" in err, (plain, err)
    assert "refused -O" not in err and "Traceback" not in err


class _KwargsExplainer:
    def __init__(self, model, **kwargs):
        self.model = model

    def __call__(self, images, target=None):
        return torch.ones(images.shape[0], *images.shape[2:])


def _register(name, architectures=(), explainers=()):
    import zoo
    from zoo.registry import get_registry

    class Plugin:
        @zoo.hookimpl
        def zoo_architectures(self):
            return list(architectures)

        @zoo.hookimpl
        def zoo_explainers(self):
            return list(explainers)

    get_registry().register(Plugin(), name=name)


def test_info_of_an_explainer_taking_kwargs_or_not_importing(capsys):
    """A '**kwargs' builder takes any option; one that does not import still gets its info."""
    import zoo

    _register("probe-explainers", explainers=[
        zoo.ExplainerSpec("probe_kwargs", _KwargsExplainer, ("classification",), "takes anything"),
        zoo.ExplainerSpec("probe_missing", "probe_no_such_module:Explainer", ("classification",), "cannot import")])
    assert "options:      any (the builder takes **kwargs)" in _out(capsys, ["info", "probe_kwargs"])
    out = _out(capsys, ["info", "probe_missing"])
    assert "options:      unknown: " in out and "description:  cannot import" in out


def test_list_shows_four_tags_and_counts_the_rest():
    from zoo.cli.listing import _first

    assert _first(list("abcdef")) == "a, b, c, d (+2 more)"
    assert _first(list("abcd")) == "a, b, c, d"


def test_doctor_conflict_advice_keeps_one_plugin(plugin_packages, capsys):
    """'or keep one (ZOO_DISABLE_PLUGINS=...)': each value disables every claimant but one, and each
    claimant is offered (doctor offered only the first, where the name's own error offers each)."""
    plugin_packages("sample-plugin", "sample-duplicate")
    assert main(["doctor"]) == 1
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("conflict: model sample_segmenter"))
    labels = line.split(" is registered by ")[1].split("; use ")[0].split(", ")
    assert len(labels) == 2
    assert line.endswith(f"or keep one (ZOO_DISABLE_PLUGINS={labels[1]} keeps {labels[0]}; "
                         f"ZOO_DISABLE_PLUGINS={labels[0]} keeps {labels[1]})")


def test_explain_of_an_instance_model_names_the_tasks_it_explains(image, capsys):
    pytest.importorskip("zoo_detection")
    assert main(["explain", "maskrcnn_mini", str(image)]) == 2
    assert ("maskrcnn_mini is an instance_segmentation model; zoo explain explains classification and "
            "semantic_segmentation models") in capsys.readouterr().err


def test_check_a_failing_row_points_below_to_its_details(plugin_packages, capsys):
    """A FAIL row's note is 'see below'; the details follow under FAILED (never cut at 70 characters)."""
    plugin_packages("conformance-good", "conformance-bad")
    out = _out(capsys, ["check", "half_segmenter", "--checks", "segmentation_output"], rc=1)
    row = next(l for l in out.splitlines() if "segmentation_output" in l and " FAIL " in l)
    assert row.rstrip().endswith("see below")
    assert "FAILED model half_segmenter: segmentation_output" in out


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_every_missing_image_is_named_at_once(command, tmp_path, capsys):
    """model_options.check_model_options: all the IMAGE problems in one error, not one per run."""
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    argv = [command, "unet" if command == "predict" else "cnn_cam", str(a), str(b), "-o", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"no such image file: {a}; no such image file: {b}" in err


def test_alpha_defaults_to_the_documented_half(sample_plugin, tmp_path, monkeypatch):
    """--alpha's help: 'in [0, 1] (default 0.5)'."""
    import zoo.visualize

    seen = []
    real = zoo.visualize.overlay_segmentation
    monkeypatch.setattr(zoo.visualize, "overlay_segmentation",
                        lambda original, mask, names, **k: seen.append(k["alpha"]) or real(original, mask, names, **k))
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    assert main(["predict", "sample_segmenter", str(tmp_path / "a.png"), "-o", str(tmp_path / "o")]) == 0
    assert seen == [0.5]


def test_metrics_are_shown_to_four_significant_digits():
    from zoo.cli.listing import _metrics

    assert _metrics({"miou": 0.912345678, "epochs": 3}) == "miou=0.9123, epochs=3"


def test_list_says_when_nothing_matches_with_close_names(capsys):
    """An empty table and exit 0 looked like a broken listing; `zoo check` said what matched nothing."""
    assert main(["list", "uent*"]) == 0
    assert "zoo: no model or explainer matches 'uent*' (close: " in capsys.readouterr().err
    assert main(["list", "unet", "--task", "classification"]) == 0  # registered, but filtered out: says which
    assert "zoo: no model of task classification matches 'unet'" in capsys.readouterr().err
    assert main(["list", "--names", "uent*"]) == 0  # for scripts: nothing printed (it was one empty line), nothing said
    assert capsys.readouterr() == ("", "")
