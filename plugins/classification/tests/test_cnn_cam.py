"""Unit tests of cnn_cam: the timm convention, shapes, CAM identity and input checks."""

import pytest
import torch

import zoo
from zoo.inputs import InputError


@pytest.fixture
def model():
    torch.manual_seed(0)
    return zoo.create("cnn_cam", num_classes=5, in_chans=1, widths=(4, 8), depth=1).eval()


def test_registered_without_importing_model_code():
    assert "cnn_cam" in zoo.list_models(task="classification")
    assert zoo.model_info("cnn_cam").distribution == "visionzoo-classification"
    assert zoo.model_info("cnn_cam").defaults == {"num_classes": 10, "in_chans": 3}  # the digits tag says 1


def test_shapes_and_timm_convention(model):
    x = torch.rand(2, 1, 20, 28)
    feats = model.forward_features(x)
    assert feats.shape == (2, 8, 10, 14)
    head = model.get_classifier()
    assert isinstance(head, torch.nn.Linear) and head.out_features == 5
    assert torch.allclose(model(x), head(feats.mean(dim=(2, 3))), atol=1e-6)
    embeddings = model.eval().forward_head(feats, pre_logits=True)  # timm's way to the pooled features
    assert torch.equal(embeddings, feats.mean(dim=(2, 3))) and embeddings.shape == (2, 8)
    assert model.num_features == model.head_hidden_size == 8  # what timm users size a new head by


def test_logits_are_the_mean_of_the_class_activation_map(model):
    # The identity CAM rests on: logit_c = mean_xy(sum_k w_ck F_k) + b_c.
    x = torch.rand(3, 1, 16, 16)
    feats = model.forward_features(x)
    w, b = model.get_classifier().weight, model.get_classifier().bias
    cam = torch.einsum("ck,nkhw->nchw", w, feats)
    assert torch.allclose(cam.mean(dim=(2, 3)) + b, model(x), atol=1e-5)


def test_reset_classifier(model):
    model.reset_classifier(3)
    assert model(torch.rand(1, 1, 8, 8)).shape == (1, 3)


def test_reset_classifier_keeps_the_models_dtype_and_device(model):
    """The new head was float32 on the CPU whatever the model: a float64 model's next forward failed."""
    model.double().reset_classifier(4)
    assert model.get_classifier().weight.dtype == torch.float64
    assert model(torch.rand(1, 1, 8, 8, dtype=torch.float64)).shape == (1, 4)
    with torch.device("meta"):
        on_meta = zoo.create("cnn_cam", num_classes=3, in_chans=1)
    on_meta.reset_classifier(5)  # stands in for a GPU: the head follows the model, not the default device
    assert on_meta.get_classifier().weight.is_meta


@pytest.mark.parametrize("bad, message", [
    (torch.rand(1, 3, 16, 16), "in_chans=3"),
    (torch.rand(1, 16, 16), "unsqueeze"),
    (torch.zeros(1, 1, 16, 16, dtype=torch.uint8), "float"),
    (torch.rand(1, 1, 1, 1), "at least 2x2"),
])
def test_bad_inputs_raise_clear_errors(model, bad, message):
    with pytest.raises(InputError, match=message):
        model(bad)


@pytest.mark.parametrize("kwargs, name", [
    ({"depth": 0}, "depth"),
    ({"widths": (16, 0)}, "widths"),
    ({"widths": ()}, "widths"),
    ({"num_classes": -1}, "num_classes"),
    ({"in_chans": 0}, "in_chans"),
    ({"drop_rate": 1.0}, "drop_rate"),
    ({"widths": 16}, "widths"),  # this and the next were TypeError tracebacks
    ({"drop_rate": "high"}, "drop_rate"),
    ({"widths": "wide"}, "widths"),
])
def test_bad_builder_arguments_raise_a_config_error_naming_them(kwargs, name):
    from zoo_classification.errors import ModelConfigError

    with pytest.raises(ModelConfigError, match=f"cnn_cam: {name}"):
        zoo.create("cnn_cam", **kwargs)


def test_a_range_is_a_sequence_of_stages():
    """widths is a Sequence[int], as the signature says; a range was refused."""
    model = zoo.create("cnn_cam", widths=range(8, 40, 8)).eval()
    assert [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)][::2] == [8, 16, 24, 32]
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 10)


def test_num_classes_zero_means_no_head_as_in_timm():
    model = zoo.create("cnn_cam", num_classes=0, in_chans=1, widths=(4, 8), depth=1).eval()
    assert isinstance(model.get_classifier(), torch.nn.Identity)
    assert model(torch.rand(2, 1, 16, 16)).shape == (2, 8)


def test_reset_classifier_takes_timms_signature(model):
    from zoo_classification.errors import ModelConfigError

    model.reset_classifier(3, global_pool="avg")
    assert model.get_classifier().out_features == 3 and model.num_classes == 3
    model.reset_classifier(0, None)
    assert isinstance(model.get_classifier(), torch.nn.Identity)
    with pytest.raises(ModelConfigError, match="global_pool='max' is not supported"):
        model.reset_classifier(3, global_pool="max")
    with pytest.raises(ModelConfigError, match="num_classes"):
        model.reset_classifier(-2)


def test_timm_resolves_the_models_own_preprocessing():
    # The digits card's config.json records input (1, 32, 32), mean 0, std 1: pixels in [0, 1].
    import json

    from timm.data import create_transform, resolve_data_config
    from PIL import Image

    from zoo.testing.hub_fixture import source_hubcards

    config = source_hubcards() / "cnn_cam.digits" / "config.json"
    if not config.is_file():
        pytest.skip(f"{config} is missing (the shipped cnn_cam.digits card)")
    card = json.loads(config.read_text())
    model = zoo.create("cnn_cam.digits")
    cfg = resolve_data_config(model=model)
    assert cfg["input_size"] == tuple(card["input_size"]) == (1, 32, 32)
    assert list(cfg["mean"]) == card["mean"] and list(cfg["std"]) == card["std"]
    assert model.default_cfg is model.pretrained_cfg and model.pretrained_cfg["num_classes"] == 10
    x = create_transform(**cfg)(Image.new("L", (40, 40), 255))
    assert x.shape == (1, 32, 32) and torch.allclose(x, torch.ones_like(x))
    assert model.eval()(x[None]).shape == (1, 10)


def test_a_lone_image_too_small_for_train_mode_batchnorm_is_an_input_error():
    # Before, torch's bare ValueError ("Expected more than 1 value per channel when training").
    model = zoo.create("cnn_cam", num_classes=3, in_chans=1).train()  # 3 stages: 1x1 below 8 px
    with pytest.raises(InputError, match="batches of >= 2 images or on images of >= 8 px"):
        model(torch.rand(1, 1, 4, 7))
    assert model(torch.rand(2, 1, 4, 4)).shape == (2, 3)
    assert model(torch.rand(1, 1, 4, 8)).shape == (1, 3)
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 1, 4, 4)).shape == (1, 3)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")  # timm's scripts still call it
def test_timms_torchscript_and_grad_checkpointing_switches_work(model):
    """timm's train/validate scripts call torch.jit.script (--torchscript) and
    set_grad_checkpointing (--grad-checkpointing): the input checks could not be compiled, and the
    method did not exist."""
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(torch.jit.script(model.eval())(x), model(x), atol=1e-6)
    grads, runs = [], []
    calls = []
    model.features[0].register_forward_pre_hook(lambda *_: calls.append(1))
    for enable in (True, False):
        model.set_grad_checkpointing(enable)
        model.zero_grad()
        calls.clear()
        model(x).logsumexp(1).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        runs.append(len(calls))
    assert runs == [2, 1]  # checkpointed: the stage runs again in the backward pass
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads))
    with pytest.raises(InputError, match="expected 1 input channels"):
        model(torch.rand(2, 3, 32, 32))  # eager keeps its input checks


def test_timm_cfg_names_the_first_conv_and_the_classifier():
    # timm adapts in_chans through first_conv and swaps heads through classifier: both must name
    # modules that exist
    model = zoo.create("cnn_cam", num_classes=4, in_chans=2)
    first_conv = model.get_submodule(model.pretrained_cfg["first_conv"])
    assert isinstance(first_conv, torch.nn.Conv2d) and first_conv.in_channels == 2
    assert model.get_submodule(model.pretrained_cfg["classifier"]) is model.get_classifier()


def test_timm_preprocessing_is_a_bilinear_resize_without_crop_at_any_input_size():
    from PIL import Image
    from timm.data import create_transform, resolve_data_config
    from torchvision.transforms.functional import to_tensor

    model = zoo.create("cnn_cam", in_chans=1)
    cfg = model.pretrained_cfg
    assert cfg["fixed_input_size"] is False and cfg["num_classes"] == 10
    ramp = torch.arange(64 * 64, dtype=torch.float32).reshape(64, 64) / (64 * 64) * 255
    image = Image.fromarray(ramp.to(torch.uint8).numpy(), mode="L")
    transform = create_transform(**resolve_data_config(model=model))
    assert torch.allclose(transform(image), to_tensor(image.resize((32, 32), Image.BILINEAR)), atol=1e-6)
    wide = image.resize((64, 32))  # not square: squashed to 32x32 as `zoo predict` does, not centre-cropped
    assert torch.allclose(transform(wide), to_tensor(wide.resize((32, 32), Image.BILINEAR)), atol=1e-6)


def test_dropout_acts_on_the_pooled_features_in_training_only():
    assert zoo.create("cnn_cam").drop.p == 0.0  # timm's default drop_rate
    torch.manual_seed(0)
    model = zoo.create("cnn_cam", num_classes=3, in_chans=1, widths=(8, 16), depth=1, drop_rate=0.5)
    features = torch.rand(4, 16, 5, 5) + 0.1
    pooled = model.train().forward_head(features, pre_logits=True)
    assert (pooled == 0).any() and torch.allclose(pooled[pooled != 0], 2 * features.mean((2, 3))[pooled != 0])
    assert torch.equal(model.eval().forward_head(features, pre_logits=True), features.mean((2, 3)))


def test_torchvisions_feature_extraction_traces_train_and_eval(model):
    """torch.fx met the input checks (InputError: got Proxy) and the train-mode size test."""
    from torchvision.models.feature_extraction import create_feature_extractor

    extractor = create_feature_extractor(model, {"features.1": "features"})
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    for mode in (True, False):
        model.train(mode)
        extractor.train(mode)
        assert extractor(x)["features"].shape[0] == 2
    traced = torch.fx.symbolic_trace(model.eval())
    assert torch.equal(traced(x), model(x))
