"""Details of reading safetensors files: loaded tensors sit in 64-byte aligned memory, so a round trip is bit-identical
(unaligned views into the file's buffer send some CPU kernels down another path)."""

import types

import pytest
import torch
from safetensors.torch import save_file

from zoo.safetensors_file import load_file


def test_loaded_tensors_are_aligned(tmp_path):
    # odd-sized tensors push the following ones to offsets that are not multiples of 64
    state = {f"t{i}": torch.randn(3 + i, 5) for i in range(8)}
    state["odd"] = torch.arange(3, dtype=torch.int8)
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    loaded = load_file(path)
    for key, tensor in loaded.items():
        assert tensor.data_ptr() % 64 == 0, key
        assert torch.equal(tensor, state[key])


def test_float8_tensors_are_checked_for_non_finite_values(tmp_path):
    import pytest

    from zoo.weights import WeightsError

    good = tmp_path / "good.safetensors"
    save_file({"w": torch.tensor([0.5, -1.0]).to(torch.float8_e4m3fn)}, str(good))
    assert load_file(good)["w"].dtype == torch.float8_e4m3fn
    bad = tmp_path / "bad.safetensors"
    save_file({"w": torch.tensor([0.5, float("nan")]).to(torch.float8_e4m3fn)}, str(bad))
    with pytest.raises(WeightsError, match="NaN or Inf"):
        load_file(bad)


def test_stored_copies_of_computed_buffers_are_ignored(tmp_path):
    """Older files (e.g. timm's Hub uploads of swin/levit) still hold buffers the model now
    computes itself (non-persistent): they are not 'unexpected weights', they are skipped."""
    import torch.nn as nn

    from zoo.weights import build_with_weights

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.register_buffer("index", torch.arange(4), persistent=False)

        def forward(self, x):
            return self.conv(x)[:, self.index]

    source = Net()
    path = tmp_path / "model.safetensors"
    save_file({**source.state_dict(), "index": torch.arange(4)}, str(path))
    loaded = build_with_weights(Net, path)
    assert torch.equal(loaded.index, torch.arange(4)) and not loaded.index.is_meta
    x = torch.rand(1, 3, 5, 5)
    assert torch.equal(loaded(x), source(x))
    # a key that is neither a parameter nor a computed buffer is still refused
    save_file({**source.state_dict(), "stray": torch.zeros(1)}, str(path))
    import pytest

    from zoo.weights import WeightsError

    with pytest.raises(WeightsError, match="unexpected.*stray"):
        build_with_weights(Net, path)


def test_a_tensor_kept_as_a_plain_attribute_gets_its_value(tmp_path):
    """``self.scale = torch.ones(1)`` is neither a parameter nor a buffer: no file holds it, and the
    meta build left it on the meta device, so the loaded model failed at its first forward pass
    ("Tensor on device meta is not on the expected device cpu")."""
    import torch.nn as nn

    from zoo.weights import build_with_weights

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)
            self.scale = torch.full((1,), 2.0)

        def forward(self, x):
            return self.conv(x) * self.scale

    class Anchored(Scaled):  # kept in a list, as torchvision's AnchorGenerator keeps its cell anchors
        def __init__(self):
            super().__init__()
            self.anchors = [torch.full((1,), 3.0)]

        def forward(self, x):
            return super().forward(x) + self.anchors[0]

    class InAClosure(nn.Module):  # normalisation constants captured by a function attribute
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)
            mean = torch.full((1, 3, 1, 1), 0.45)
            self.pre = lambda x: x - mean

        def forward(self, x):
            return self.conv(self.pre(x))

    class InAPlainObject(InAClosure):  # constants held in a small config object
        def __init__(self):
            super().__init__()
            self.pre = None
            self.cfg = types.SimpleNamespace(mean=torch.full((1, 3, 1, 1), 0.45), std=0.25)

        def forward(self, x):
            return self.conv((x - self.cfg.mean) / self.cfg.std)

    for model_class in (Scaled, Anchored, InAClosure, InAPlainObject):
        source = model_class()
        path = tmp_path / "model.safetensors"
        save_file(source.state_dict(), str(path))
        loaded = build_with_weights(model_class, path)
        x = torch.rand(1, 3, 4, 4)
        assert torch.equal(loaded(x), source(x)), model_class


def test_a_builder_that_cannot_run_on_meta_loads_without_a_warning(tmp_path):
    """Such a builder is built for real instead; nothing was re-initialised, adapted or dropped,
    so there is nothing to warn about (there used to be an empty WeightsMismatchWarning)."""
    import warnings

    import torch.nn as nn

    from zoo.weights import build_with_weights

    builds = []

    class NeedsRealTensors(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 2)
            if self.linear.weight.is_meta:
                raise RuntimeError("needs real tensors at build time")
            builds.append(self)

    source = NeedsRealTensors()
    path = tmp_path / "model.safetensors"
    save_file(source.state_dict(), str(path))
    builds.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = build_with_weights(NeedsRealTensors, path)
    assert torch.equal(loaded.linear.weight, source.linear.weight)
    assert len(builds) == 1  # the real build that learnt the keys is the one returned


def test_a_file_without_batchnorm_counters_loads_as_torch_strict_loading_accepts_it(tmp_path):
    """Converted and older checkpoints lack BatchNorm's num_batches_tracked; torch's strict
    load_state_dict and timm fill in 0, the zoo refused the file as 'missing' keys."""
    import pytest
    import torch.nn as nn

    from zoo.weights import WeightsError, build_with_weights

    def net():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))

    torch.manual_seed(0)
    source = net()
    source.train()(torch.rand(2, 3, 8, 8))  # running statistics and a counter of 1
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    loaded = build_with_weights(net, path).eval()
    assert int(loaded[1].num_batches_tracked) == 0 and not loaded[1].num_batches_tracked.is_meta
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(loaded(x), source.eval()(x))
    del state["1.running_var"]  # any other missing buffer is still an error
    save_file(state, str(path))
    with pytest.raises(WeightsError, match=r"missing \(1\): '1.running_var'"):
        build_with_weights(net, path)


def test_a_complete_file_with_a_header_past_safetensors_limit_says_so_not_truncated(tmp_path, monkeypatch):
    """It was "truncated, or not safetensors"; and the zoo's cap (100 MiB) was above safetensors'
    own (100 MB), so a header between them was parsed, then refused by the loader as unreadable."""
    import pytest

    from zoo import safetensors_file
    from zoo.weights import WeightsError

    assert safetensors_file.MAX_HEADER_BYTES == 100_000_000
    path = tmp_path / "model.safetensors"
    save_file({f"t{i}": torch.zeros(1) for i in range(50)}, str(path))
    monkeypatch.setattr(safetensors_file, "MAX_HEADER_BYTES", 200)  # this file's header is larger
    with pytest.raises(WeightsError, match="safetensors header is .* bytes, more than the 200 bytes safetensors reads"):
        safetensors_file.read_header(path)


def test_a_mismatch_error_lists_every_key_as_attributes_as_load_state_dict_does(tmp_path):
    """The message names the first 20 keys of each kind; code that repairs a file (renames keys,
    drops extras) needs all of them, as torch's load_state_dict returns them."""
    import pytest
    import torch.nn as nn

    import zoo
    from zoo.weights import build_with_weights

    def net():
        return nn.Sequential(*[nn.Linear(2, 2) for _ in range(25)])

    state = {f"wrapped.{k}": v for k, v in net().state_dict().items()}  # 50 keys under another name
    state["wrapped.0.weight"] = torch.zeros(3, 2)
    state["wrapped.0.bias"] = torch.zeros(2, dtype=torch.int64)
    state["0.weight"] = torch.zeros(2, 5)  # present, mis-shaped
    state["0.bias"] = torch.zeros(2, dtype=torch.int64)  # present, wrong kind
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    with pytest.raises(zoo.WeightsMismatchError) as caught:
        build_with_weights(net, path)
    error = caught.value
    assert isinstance(error, zoo.WeightsError) and "missing (48)" in str(error)
    assert error.missing_keys == sorted(set(net().state_dict()) - {"0.weight", "0.bias"})
    assert error.unexpected_keys == sorted(k for k in state if k.startswith("wrapped."))
    assert error.mismatched_shapes == {"0.weight": ((2, 5), (2, 2))}
    assert error.mismatched_dtypes == {"0.bias": ("I64", "float32")}


def test_a_file_rewritten_between_the_plan_and_the_load_is_refused(tmp_path, monkeypatch):
    """The header planned against and the tensors loaded must be one file: a writer that replaced
    it (same keys, other values) after the plan, before the read, was caught by no test."""
    import os

    import pytest
    import torch.nn as nn

    from zoo import weights
    from zoo.weights import WeightsError, build_with_weights

    path = tmp_path / "model.safetensors"
    save_file(nn.Linear(2, 2).state_dict(), str(path))
    stat = path.stat()
    read_header = weights.read_header

    def read_while_a_writer_replaces_the_file(*args, **kwargs):  # the header the plan is made from
        header = read_header(*args, **kwargs)
        save_file({k: v + 1 for k, v in nn.Linear(2, 2).state_dict().items()}, str(path))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later write, as a clock shows it
        return header

    monkeypatch.setattr(weights, "read_header", read_while_a_writer_replaces_the_file)
    with pytest.raises(WeightsError, match="the file changed while it was loaded"):
        build_with_weights(lambda: nn.Linear(2, 2), path)


def test_create_with_weights_builds_on_meta_without_initialising(tmp_path, monkeypatch):
    """DESIGN: build the model without paying for random initialisation when weights follow. A
    zoo.create that always built for real loaded the same weights, so nothing else noticed."""
    import torch.nn as nn

    import zoo

    path = tmp_path / "unet_small.safetensors"
    save_file(zoo.create("unet_small", num_classes=3).state_dict(), str(path))
    real_inits = []
    for name in ("kaiming_uniform_", "kaiming_normal_", "uniform_", "normal_", "constant_", "zeros_", "ones_"):
        original = getattr(nn.init, name)

        def counted(tensor, *args, _original=original, **kwargs):
            if not tensor.is_meta:
                real_inits.append(tensor.shape)
            return _original(tensor, *args, **kwargs)

        monkeypatch.setattr(nn.init, name, counted)
    zoo.create("unet_small", num_classes=3)
    assert real_inits  # the positive control: a random build initialises real tensors
    real_inits.clear()
    model = zoo.create("unet_small", num_classes=3, weights=path)
    assert real_inits == []
    assert all(not t.is_meta for t in model.state_dict().values())


def test_a_bool_buffer_stored_as_integers_is_a_change_of_kind_and_refused(tmp_path):
    """A mask saved as 0/1 bytes, or a count saved as bools, is no cast: refused like int for float."""
    import pytest
    import torch.nn as nn

    from zoo.weights import WeightsMismatchError, build_with_weights

    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.register_buffer("keep", torch.ones(4, dtype=torch.bool))

    state = Masked().state_dict()
    path = tmp_path / "model.safetensors"
    save_file({**state, "keep": state["keep"].to(torch.uint8)}, str(path))
    with pytest.raises(WeightsMismatchError, match=r"wrong dtype kind.*'keep': file U8 vs model bool"):
        build_with_weights(Masked, path)


def test_in_chans_adaptation_of_a_local_file_sums_or_repeats_the_first_conv(tmp_path):
    """As timm adapts: one channel sums the pretrained ones, more repeat them rescaled. Only a Hub
    test covered it; a first conv of another kernel is mis-shaped, never 'adapted'."""
    import pytest
    import torch.nn as nn

    from zoo.weights import HeadChange, WeightsMismatchError, WeightsMismatchWarning, build_with_weights

    rgb = nn.Conv2d(3, 4, 3)
    path = tmp_path / "rgb.safetensors"
    save_file(rgb.state_dict(), str(path))
    with pytest.warns(WeightsMismatchWarning):
        grey = build_with_weights(lambda: nn.Conv2d(1, 4, 3), path, change=HeadChange(None, None, 3, 1))
    torch.testing.assert_close(grey.weight, rgb.weight.detach().sum(1, keepdim=True))
    with pytest.warns(WeightsMismatchWarning):
        six = build_with_weights(lambda: nn.Conv2d(6, 4, 3), path, change=HeadChange(None, None, 3, 6))
    torch.testing.assert_close(six.weight, rgb.weight.detach().repeat(1, 2, 1, 1) * 3 / 6)
    with pytest.raises(WeightsMismatchError, match=r"mis-shaped.*'weight'"):
        build_with_weights(lambda: nn.Conv2d(1, 4, 5), path, change=HeadChange(None, None, 3, 1))


def test_a_local_file_rewritten_in_place_leaves_the_loaded_model_as_it_was(tmp_path):
    """The model's tensors were mapped from the file: a trainer saving to the same path changed a
    live model's weights (and a shorter file killed the process with SIGBUS). Hub downloads, never
    rewritten in place, stay mapped."""
    import torch.nn as nn

    from zoo import aligned_save
    from zoo.weights import build_with_weights

    torch.manual_seed(0)
    source = nn.Sequential(nn.Conv2d(3, 64, 3), nn.Conv2d(64, 64, 3))
    path = tmp_path / "latest.safetensors"
    aligned_save.save_file(source.state_dict(), path)  # every tensor 64-byte aligned: none copied for that
    loaded = build_with_weights(lambda: nn.Sequential(nn.Conv2d(3, 64, 3), nn.Conv2d(64, 64, 3)), path)
    inode = path.stat().st_ino
    with open(path, "r+b") as f:  # the same file, every tensor's bytes overwritten where they lie
        start = 8 + int.from_bytes(f.read(8), "little")  # past the header
        f.seek(start)
        f.write(b"\0" * (path.stat().st_size - start))
    assert path.stat().st_ino == inode
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


@pytest.mark.filterwarnings("ignore:for .*copying from a non-meta parameter")  # torch's own, for meta models
def test_a_loaded_model_is_on_the_callers_default_device_whichever_way_it_loads(tmp_path):
    """Under ``with torch.device(...)`` a random build followed it, and so did a load that adapted
    or re-initialised layers, but a plain load assigned the file's CPU tensors: the same call gave a
    model on another device depending on in_chans/num_classes (timm builds on the ambient device)."""
    import torch.nn as nn

    import zoo
    from zoo.weights import HeadChange, WeightsMismatchWarning, build_with_weights

    path = tmp_path / "unet_small.safetensors"
    save_file(zoo.create("unet_small", num_classes=3).state_dict(), str(path))
    conv = tmp_path / "conv.safetensors"
    save_file(nn.Conv2d(3, 4, 3).state_dict(), str(conv))
    with torch.device("meta"):  # stands in for a GPU: the same code paths, on any machine
        plain = zoo.create("unet_small", num_classes=3, weights=path)
        with pytest.warns(WeightsMismatchWarning):
            adapted = build_with_weights(lambda: nn.Conv2d(1, 4, 3), conv, change=HeadChange(None, None, 3, 1))
    for model in (plain, adapted):
        assert {t.device.type for t in model.state_dict().values()} == {"meta"}
    again = zoo.create("unet_small", num_classes=3, weights=path)
    assert {t.device.type for t in again.state_dict().values()} == {"cpu"}


def test_a_channels_last_or_transposed_parameter_keeps_its_layout_when_loaded(tmp_path):
    """Assigning the file's contiguous tensors made them contiguous, where torch's copying
    load_state_dict keeps the model's layout: a channels_last model's outputs moved by 2e-7 and it
    failed the conformance suite's bit-identical round trip."""
    import torch.nn as nn

    from zoo.weights import build_with_weights

    class Laid(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3).to(memory_format=torch.channels_last)
            self.proj = nn.Parameter(torch.randn(5, 4).t())  # a transposed view: strides (1, 4)

    path = tmp_path / "laid.safetensors"
    save_file({k: v.contiguous() for k, v in Laid().state_dict().items()}, str(path))
    loaded = build_with_weights(Laid, path)
    assert loaded.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert loaded.proj.stride() == (1, 4)
    torch.testing.assert_close(loaded.proj.contiguous(), load_file(str(path))["proj"], rtol=0, atol=0)
