"""Fixtures for the segmentation plugin's tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run each test on one thread: the models here are tiny, and on a shared, loaded machine
    torch's thread pool costs far more in contention than it gains (3-4x slower wall time)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
