"""zoo.meta: a meta build that skips initialisers has exactly the keys, shapes and dtypes of a
normal meta build, touches no real tensor, and does not leak outside its ``with`` block."""

import threading

import torch
import torch.nn as nn

from zoo.meta import on_meta_without_init


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 5)
        self.emb = nn.Embedding(10, 4, padding_idx=0)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        self.head.bias.data.uniform_(-1, 1).mul_(2).add_(1).clamp_(-1, 1)
        self.register_buffer("table", torch.arange(6).float().reshape(2, 3))  # made from values


def test_same_keys_shapes_dtypes_as_a_plain_meta_build():
    with torch.device("meta"):
        plain = Net().state_dict()
    with on_meta_without_init():
        fast = Net().state_dict()
    assert list(plain) == list(fast)
    for key in plain:
        assert fast[key].is_meta
        assert (fast[key].shape, fast[key].dtype) == (plain[key].shape, plain[key].dtype), key


def test_real_tensors_and_code_after_the_block_are_untouched():
    real = torch.zeros(3)
    with on_meta_without_init():
        real.add_(1)  # not a meta tensor: runs
        Net()
    assert real.tolist() == [1.0, 1.0, 1.0]
    w = torch.empty(4, 4)
    nn.init.constant_(w, 2.0)
    assert w.eq(2.0).all()


def test_another_thread_initialises_normally_meanwhile():
    seen = {}
    inside, done = threading.Event(), threading.Event()

    def other():
        inside.wait(10)
        w = torch.empty(3)
        nn.init.constant_(w, 7.0)
        seen["values"] = w.tolist()
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with on_meta_without_init():
        inside.set()
        done.wait(10)
    t.join(10)
    assert seen["values"] == [7.0, 7.0, 7.0]


def _python_meta_kernels_run(build) -> int:
    """How many random-fill kernels (uniform, normal) run during ``build()``: on meta, torch
    implements them as Python decompositions/prims, so a profile hook sees each one."""
    import sys

    calls = 0

    def profile(frame, event, arg):
        nonlocal calls
        name = frame.f_code.co_filename.replace("\\", "/")
        in_torch_python_kernels = any(f"torch/{d}/" in name for d in ("_decomp", "_prims", "_refs"))
        if event == "call" and in_torch_python_kernels and any(
                fill in frame.f_code.co_name for fill in ("uniform", "normal")):
            calls += 1

    sys.setprofile(profile)
    try:
        build()
    finally:
        sys.setprofile(None)
    return calls


def test_initialisers_are_skipped_including_torch_nn_init_called_with_keywords():
    # torch.nn.init functions hand the tensor to torch-function modes as ``tensor=``, not positionally
    def plain():
        with torch.device("meta"):
            Net()

    def fast():
        with on_meta_without_init():
            Net()

    assert _python_meta_kernels_run(plain) > 0  # the probe sees initialisers when they run
    assert _python_meta_kernels_run(fast) == 0
