"""One torch thread for the weights tests: on a shared, oversubscribed CPU two threads were an
order of magnitude slower than one (spin-waiting), and the metrics do not depend on it."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
