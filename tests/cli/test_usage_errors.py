"""One style of usage error for the ``zoo`` commands: a command raises
zoo.cli.usage_error.UsageError where it finds the bad usage, and zoo.cli.main alone reports it as
one line, ``zoo <command>: error: <message>``, with exit 2. The options `zoo predict` and
`zoo explain` share are checked by one function, so the same mistake reads the same in both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.cli import build_parser, main
from zoo.cli.usage_error import UsageError

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"
WEIGHTS = {"predict": HUBCARDS / "unet.shapes" / "model.safetensors",
           "explain": HUBCARDS / "cnn_cam.digits" / "model.safetensors"}


@pytest.fixture
def image(tmp_path, monkeypatch) -> str:
    """A real image in the current folder, named relative to it as a user types it."""
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "image.png")
    return "./image.png"


def _argv(command: str, images: list[str], *extra: str) -> list[str]:
    name = {"predict": "unet", "explain": "cnn_cam"}[command]
    out = ["-o", "out"] if command == "predict" else ["-o", "map.png"]
    return [command, name, *images, "--weights", str(WEIGHTS[command]), *out, *extra]


BAD_SHARED_USAGE = [
    (["./missing.png"], [], "no such image file: ./missing.png"),  # named as typed, by both
    (["."], [], ". is a folder, not an image file; pass the images in it"),
    (["/dev/zero"], [], "/dev/zero is not a regular file (a device, a pipe or a socket)"),  # was "no such image file"
    ([], ["--alpha", "1.5"], "--alpha must be in [0, 1], got 1.5"),
    ([], ["--device", "gpu"], "--device 'gpu' is not a torch device"),
]


@pytest.mark.parametrize("images, extra, says", BAD_SHARED_USAGE)
def test_the_same_mistake_reads_the_same_in_predict_and_explain(image, capsys, images, extra, says):
    lines = {}
    for command in ("predict", "explain"):
        assert main(_argv(command, images or [image], *extra)) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        lines[command] = captured.err.strip().splitlines()
        assert len(lines[command]) == 1 and lines[command][0].startswith(f"zoo {command}: error: {says}")
    assert lines["predict"][0].removeprefix("zoo predict") == lines["explain"][0].removeprefix("zoo explain")
    assert not Path("out").exists() and not Path("map.png").exists()


@pytest.mark.parametrize("command, extra", [
    ("predict", ["--scale", "0"]),             # an option of predict's own
    ("explain", ["--target", "seven"]),        # an option of explain's own, found after the model is built
    ("explain", ["-O", "novalue"]),
])
def test_a_command_raises_its_usage_errors_and_main_reports_them(image, capsys, command, extra):
    args = build_parser().parse_args(_argv(command, [image], *extra))
    with pytest.raises(UsageError) as info:
        args.func(args)  # raised, not printed: the command leaves the reporting to zoo.cli.main
    assert isinstance(info.value, ValueError)
    assert capsys.readouterr().err == ""
    assert main(_argv(command, [image], *extra)) == 2
    assert capsys.readouterr().err == f"zoo {command}: error: {info.value}\n"


@pytest.mark.parametrize("argv, says", [
    (["list", "--explainers", "--pretrained"], "--explainers lists explainers only"),  # was "zoo: error:"
    (["check"], "name models or explainers, or use --all or --plugin DIST"),  # had no "error:"
    (["demo", "-o", "taken", "--hubcards", str(HUBCARDS)], "-o taken: exists and is not a folder"),
])
def test_other_commands_report_their_usage_errors_alike(tmp_path, monkeypatch, capsys, argv, says):
    monkeypatch.chdir(tmp_path)
    Path("taken").write_text("a file, not a folder")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"zoo {argv[0]}: error: {says}") and err.count("\n") == 1


def test_an_output_the_system_refuses_is_a_usage_error_in_both_commands(image, capsys, tmp_path):
    """A folder -o could not create was a usage error (exit 2); a file that could not be written
    there was an OSError line with no advice (exit 3)."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, so no folder can be made under it")
    for command, output in (("predict", blocked / "out"), ("explain", blocked / "map.png")):
        argv = _argv(command, [image])
        argv[argv.index("-o") + 1] = str(output)
        assert main(argv) == 2
        assert capsys.readouterr().err.startswith(f"zoo {command}: error: cannot ")
    (tmp_path / "taken.png").mkdir()  # a folder where the heat map's file should go
    argv = _argv("explain", [image])
    argv[argv.index("-o") + 1] = str(tmp_path / "taken.png")
    assert main(argv) == 2
    assert f"zoo explain: error: cannot write {tmp_path / 'taken.png'}: Is a directory; pass -o a place you " in (
        capsys.readouterr().err)


def test_a_scale_drawing_above_the_largest_side_is_refused_before_anything_is_drawn(image, capsys):
    """--scale 1000 on a 32x32 image asked torch for 65 GB, a traceback; then, checked per image,
    it came after the earlier images' drawings were written."""
    Image.fromarray(np.zeros((300, 300, 3), np.uint8)).save("large.png")
    assert main(_argv("predict", [image, "./large.png"], "--scale", "30")) == 2
    assert "zoo predict: error: --scale 30 would draw ./large.png at 9000x9000 px, above 8192 px a side" in (
        capsys.readouterr().err)
    assert not Path("out").exists()


def test_a_large_image_at_its_own_size_is_not_refused(image, capsys):
    """The --scale check ran at the default scale too: an image over 8192 px wide was refused for a
    --scale the user never gave."""
    Image.fromarray(np.zeros((32, 8200, 3), np.uint8)).save("wide.png")
    assert main(_argv("predict", ["./wide.png"])) == 0


def test_an_error_the_zoo_raises_is_one_zoo_error_line(tmp_path, capsys):
    """Unknown names (exit 2) and failed work (exit 3) read `zoo: error: ...`, not a command's prefix."""
    assert main(["info", "no_such_model"]) == 2
    assert capsys.readouterr().err.startswith("zoo: error: ")
    assert main(["demo", "-o", str(tmp_path / "out"), "--hubcards", str(tmp_path / "none")]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"zoo: error: no hub-cards folder {tmp_path / 'none'}") and err.count("\n") == 1


@pytest.mark.parametrize("alpha", ["0", "1"])
def test_alpha_takes_both_ends_of_0_1(image, alpha):
    assert main(_argv("predict", [image], "--alpha", alpha)) == 0


def test_pretrained_and_weights_do_not_combine(image, capsys):
    with pytest.raises(SystemExit) as info:
        main(_argv("explain", [image], "--pretrained"))
    assert info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
