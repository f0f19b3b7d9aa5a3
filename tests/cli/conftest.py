"""Fixtures of the command-line tests."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def image(tmp_path) -> Path:
    """A 48x40 RGB PNG of noise."""
    path = tmp_path / "image.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(path)
    return path
