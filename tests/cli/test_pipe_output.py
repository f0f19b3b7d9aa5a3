"""A reader that goes away (`zoo predict ... | head -1`) stops the output, never the work: the
command stopped at its next print and exited 0, leaving files unwritten (downloads unfetched)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

WEIGHTS = Path(__file__).resolve().parents[2] / "hubcards" / "unet.shapes" / "model.safetensors"


def test_predict_writes_every_image_after_its_reader_has_gone(tmp_path):
    images = []
    for i in range(4):
        images.append(tmp_path / f"scene{i}.png")
        Image.fromarray(np.full((40, 40, 3), 40 * i, np.uint8)).save(images[-1])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "zoo.cli", "predict", "unet", *map(str, images), "--weights", str(WEIGHTS),
               "-o", str(out)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        first = process.stdout.readline()  # `| head -1`
        process.stdout.close()
        stderr = process.stderr.read()
        assert process.wait(timeout=600) == 0, stderr
    assert first.strip().endswith("scene0.png")
    assert sorted(p.name for p in out.iterdir()) == [f"scene{i}.png" for i in range(4)]
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_a_listing_cut_short_exits_quietly():
    command = [sys.executable, "-m", "zoo.cli", "list", "--names"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read()
        assert process.wait(timeout=600) == 0, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr


def test_an_ascii_output_prints_a_non_ascii_path_escaped_and_no_output_at_all_is_fine(tmp_path):
    """The PNG was written, then `print(path)` raised UnicodeEncodeError (a traceback, exit 1) where
    stdout is not UTF-8; with stdout closed (`>&-`, a daemon) it raised AttributeError."""
    import os

    image = tmp_path / "scene.png"
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(image)
    out = tmp_path / "ünïcødé"
    command = [sys.executable, "-m", "zoo.cli", "predict", "unet", str(image), "--weights", str(WEIGHTS), "-o",
               str(out)]
    ascii_env = dict(os.environ, PYTHONIOENCODING="ascii")
    result = subprocess.run(command, capture_output=True, env=ascii_env)
    assert result.returncode == 0, result.stderr.decode()
    assert b"\\xfcn\\xefc\\xf8d\\xe9" in result.stdout and (out / "scene.png").is_file()
    (out / "scene.png").unlink()
    closed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.close(1))
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr
    assert (out / "scene.png").is_file()
