"""Every error the explainers raise on purpose is a zoo.ZooError and a ValueError (a TypeError
for a non-model): bad options of the methods and faithfulness metrics, and guided_backprop on a
model it cannot guide."""

import pytest
import torch
from torch import nn

import zoo
from zoo.errors import ArgumentError, ZooError
from zoo_explainers import faithfulness as fa
from zoo_explainers.errors import NotAModelError, OptionError, UnsupportedModelError
from zoo_explainers.layers import LayerError


@pytest.mark.parametrize("method,options,message", [
    ("smoothgrad", dict(n_samples=0), "n_samples must be a whole number >= 1"),
    ("smoothgrad", dict(n_samples=2.5), "n_samples must be a whole number >= 1, got 2.5"),  # was torch's TypeError
    ("smoothgrad", dict(n_samples=True), "n_samples must be a whole number"),
    ("smoothgrad", dict(sigma=-0.1), "noise level"),
    ("smoothgrad", dict(stdev=-0.1), "noise level"),
    ("smoothgrad", dict(sigma=0.9, stdev=0.05), r"one noise level: sigma=0.9 \(a fraction of each image's "
                                                r"range\) or stdev=0.05 \(absolute\), not both"),  # sigma was ignored
    ("smoothgrad", dict(sigma="0.1"), "sigma must be a finite number"),
    ("smoothgrad", dict(sigma=float("nan")), "sigma must be a finite number"),
    ("smoothgrad", dict(chunk_size=0), "chunk_size must be"),
    ("integrated_gradients", dict(n_steps=0), "n_steps must be a whole number >= 1"),
    ("integrated_gradients", dict(n_steps=2.5), "n_steps must be a whole number"),
    ("integrated_gradients", dict(method="riemann_left"), "unknown integration method"),
    ("integrated_gradients", dict(method="riemann_trapezoid", n_steps=1), "riemann_trapezoid needs"),
    ("integrated_gradients", dict(chunk_size="big"), "chunk_size must be"),
    ("integrated_gradients", dict(baseline=float("nan")), "baseline must be a finite number"),  # NaN maps before
    ("integrated_gradients", dict(baseline=torch.tensor([0.0, float("inf")])), "baseline holds NaN or Inf"),
    ("integrated_gradients", dict(baseline="zeros"), "baseline must be a number or a tensor"),
    ("gradcam", dict(relu="false"), "relu must be True or False, got 'false'"),  # truthy: silently the default
    ("gradcam", dict(normalize="no"), "normalize must be True or False"),
    ("saliency", dict(normalize=1), "normalize must be True or False"),
    ("integrated_gradients", dict(return_delta="yes"), "return_delta must be True or False"),
    ("rise", dict(p=0), r"RISE needs 0 < p < 1"),
    ("rise", dict(p=1.0), r"RISE needs 0 < p < 1"),  # every mask keeps everything: blank maps
    ("smoothgrad", dict(seed="abc"), "seed must be a whole number"),  # torch's error at the first call
    ("smoothgrad", dict(seed=1.5), "seed must be a whole number"),
    ("rise", dict(seed=True), "seed must be a whole number"),
    ("rise", dict(p="0.5"), "p must be a finite number"),
    ("rise", dict(n_masks=0), "n_masks must be a whole number >= 1"),
    ("rise", dict(n_masks=2.5), "n_masks must be a whole number"),
    ("rise", dict(chunk_size=-1), "chunk_size must be"),
])
def test_bad_options_are_typed_value_errors(method, options, message, gap_model):
    with pytest.raises(OptionError, match=message) as info:
        zoo.create_explainer(method, gap_model, **options)
    assert isinstance(info.value, ZooError) and isinstance(info.value, ValueError)
    assert isinstance(info.value, ArgumentError)


def test_a_baseline_that_does_not_broadcast_names_the_shapes_it_takes(gap_model, images):
    """A per-channel (3,) baseline was broadcast against the width: a raw torch RuntimeError."""
    explainer = zoo.create_explainer("integrated_gradients", gap_model, n_steps=4, baseline=torch.zeros(3))
    with pytest.raises(OptionError, match=r"baseline of shape \(3,\) does not broadcast .*\(1, C, 1, 1\)"):
        explainer(images, target=0)


def test_a_baseline_and_a_noise_level_may_be_tensors(gap_model, images):
    """An nn.Parameter baseline failed deep in torch ("out=... don't support automatic
    differentiation"); stdev=torch.tensor(0.1) was "not a finite number"."""
    baseline = nn.Parameter(torch.full((1, images.shape[1], 1, 1), 0.25))
    as_parameter = zoo.explain(gap_model, images, "integrated_gradients", target=0, n_steps=8, baseline=baseline)
    as_number = zoo.explain(gap_model, images, "integrated_gradients", target=0, n_steps=8, baseline=0.25)
    torch.testing.assert_close(as_parameter, as_number)
    assert baseline.grad is None
    torch.manual_seed(0)
    tensor = zoo.explain(gap_model, images, "smoothgrad", target=0, n_samples=4, stdev=torch.tensor(0.1))
    torch.manual_seed(0)
    number = zoo.explain(gap_model, images, "smoothgrad", target=0, n_samples=4, stdev=0.1)
    torch.testing.assert_close(tensor, number)


def test_sigma_none_beside_stdev_is_sigma_not_given(gap_model, images):
    """`-O sigma=None -O stdev=0.1` was refused as two noise levels."""
    torch.manual_seed(0)
    expected = zoo.explain(gap_model, images, "smoothgrad", target=0, n_samples=4, stdev=0.1)
    torch.manual_seed(0)
    got = zoo.explain(gap_model, images, "smoothgrad", target=0, n_samples=4, sigma=None, stdev=0.1)
    torch.testing.assert_close(got, expected)
    torch.manual_seed(0)
    default = zoo.explain(gap_model, images, "smoothgrad", target=0, n_samples=4)
    torch.manual_seed(0)
    torch.testing.assert_close(zoo.explain(gap_model, images, "smoothgrad", target=0, n_samples=4, sigma=None), default)


@pytest.mark.parametrize("kwargs,message", [
    (dict(mode="sideways"), "mode must be"),
    (dict(steps=0), "steps must be"),
    (dict(baseline="noise"), "baseline must be"),
    (dict(chunk_size=0), "chunk_size must be"),
])
def test_bad_faithfulness_options_are_typed_value_errors(kwargs, message, gap_model, images):
    with pytest.raises(OptionError, match=message) as info:
        fa.perturbation_curve(gap_model, images, fa.random_maps(images), 0, **kwargs)
    assert isinstance(info.value, ZooError) and isinstance(info.value, ValueError)


def test_bad_faithfulness_maps_are_typed_value_errors(gap_model, images):
    with pytest.raises(OptionError, match="maps must be"):
        fa.deletion_auc(gap_model, images, torch.rand(3, 6, 6), 0)
    maps = fa.random_maps(images)
    maps[0, 0, 0] = float("nan")
    with pytest.raises(OptionError, match="NaN/Inf") as info:
        fa.insertion_auc(gap_model, images, maps, 0)
    assert isinstance(info.value, ZooError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("activation", [nn.GELU, nn.SiLU])
def test_guided_backprop_without_relu_is_a_typed_value_error(activation, images):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), activation(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 2)).eval()
    with pytest.raises(UnsupportedModelError, match="no nn.ReLU modules") as info:
        zoo.explain(model, images, method="guided_backprop", target=0)
    assert isinstance(info.value, ZooError) and isinstance(info.value, ValueError)


def test_a_non_model_is_a_typed_type_error():
    with pytest.raises(NotAModelError, match="explains a torch.nn.Module") as info:
        zoo.create_explainer("saliency", lambda x: x)
    assert isinstance(info.value, ZooError) and isinstance(info.value, TypeError)


@pytest.mark.parametrize("method, options, unknown", [
    ("saliency", dict(target_layer="features"), "'target_layer'"),
    ("smoothgrad", dict(n_sample=8), "'n_sample'"),
    ("integrated_gradients", dict(baselines=0.0), "'baselines'"),  # captum's spelling
])
def test_an_option_the_method_does_not_take_names_those_it_does(method, options, unknown, gap_model):
    """It was Python's bare TypeError from deep in the builder; the command line listed the options."""
    with pytest.raises(zoo.UnknownOptionError, match=f"explainer {method!r} takes no option {unknown}; its "
                                                     "options: ") as caught:
        zoo.create_explainer(method, gap_model, **options)
    assert isinstance(caught.value, TypeError) and caught.value.unknown == list(options)
    assert "normalize" in caught.value.accepted or "n_steps" in caught.value.accepted


@pytest.mark.parametrize("method", ["saliency", "gradcam", "integrated_gradients"])
def test_a_model_or_images_on_the_meta_device_are_input_errors(method, gap_model):
    """torch's own error came from deep inside the first layer (or a bool() of a meta tensor)."""
    from zoo.inputs import InputError

    images = torch.rand(2, 3, 12, 12)
    with pytest.raises(InputError, match="the images are on the meta device, which holds no values"):
        zoo.explain(gap_model, images.to("meta"), method=method)
    with pytest.raises(InputError, match="the model is on the meta device, which holds no values"):
        zoo.explain(gap_model.to("meta"), images, method=method)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device: CUDA")
def test_images_on_another_device_than_the_model_are_an_input_error(gap_model):
    from zoo.inputs import InputError

    with pytest.raises(InputError, match=r"the images are on cpu but the model on cuda:0; move them with "
                                         r"images.to\('cuda:0'\)"):
        zoo.explain(gap_model.to("cuda"), torch.rand(2, 3, 12, 12), method="saliency")


def test_a_model_built_under_inference_mode_is_refused_and_left_as_found(gap_model, images):
    """The restore failed part-way with a confusing error, leaving every parameter without
    requires_grad; torch's own message about inference tensors was hidden."""
    with torch.inference_mode():
        frozen = type(gap_model)()
    flags = [p.requires_grad for p in frozen.parameters()]
    for method in ("saliency", "gradcam"):
        with pytest.raises(UnsupportedModelError, match="inference tensors .* build or load it outside inference_mode"):
            zoo.explain(frozen, images, method=method)
    assert [p.requires_grad for p in frozen.parameters()] == flags
    frozen.load_state_dict({k: v.clone() for k, v in frozen.state_dict().items()}, assign=True)  # the advice
    assert zoo.explain(frozen, images, method="saliency").shape == (3, 12, 12)


@pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:FutureWarning")
@pytest.mark.parametrize("method", ["gradcam", "cam", "guided_backprop"])
def test_a_torchscript_model_is_refused_by_the_methods_that_hook_its_layers(method, gap_model, images):
    """A raw "register_forward_hook is not supported" (scripted), or advice to pass a target_layer
    that could not work (traced)."""
    for scripted in (torch.jit.script(gap_model), torch.jit.trace(gap_model, images)):
        with pytest.raises(UnsupportedModelError, match="TorchScript module .* explain the eager model"):
            zoo.explain(scripted, images, method=method)
    traced = torch.jit.trace(gap_model, images)
    assert torch.allclose(zoo.explain(traced, images, "saliency"), zoo.explain(gap_model, images, "saliency"))


@pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:FutureWarning")
def test_a_scripted_layer_inside_an_eager_model_is_named_when_hooked(images):
    """An eager model holding a scripted backbone got torch's raw 'register_forward_hook is not
    supported on ScriptModules' from gradcam."""
    torch.manual_seed(0)
    backbone = torch.jit.script(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()))
    model = nn.Sequential(backbone, nn.Conv2d(4, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    with pytest.raises(UnsupportedModelError, match="is TorchScript, which runs no Python hooks; pass target_layer="):
        zoo.explain(model, images, method="gradcam", target_layer="0")
    assert zoo.explain(model, images, method="gradcam").shape == (3, 12, 12)  # the search passes over it


class _EditedOutput(nn.Module):
    """``base`` with its output passed through ``edit``: a model whose logits are broken or masked."""

    def __init__(self, base, edit):
        super().__init__()
        self.base, self.edit = base, edit

    def forward(self, x):
        return self.edit(self.base(x))


def _nan_for_image_1(out):  # a float16 overflow, broken weights
    poison = torch.zeros_like(out)
    poison[1:2] = float("nan")
    return out + poison


def _rule_class_2_out(out):  # as masked_fill(mask, -inf) does: softmax takes it
    return out.masked_fill(torch.arange(out.shape[1]) == 2, float("-inf"))


@pytest.mark.parametrize("method", ["saliency", "gradcam", "smoothgrad", "integrated_gradients", "rise"])
def test_a_nan_output_from_finite_images_is_refused_naming_the_image(method, gap_model, images):
    """saliency drew a plausible map of 'class 0' for an all-NaN prediction, Grad-CAM zeros."""
    options = {"smoothgrad": dict(n_samples=2), "integrated_gradients": dict(n_steps=2), "rise": dict(n_masks=4)}
    with pytest.raises(UnsupportedModelError, match=r"output holds NaN or \+Inf for image\(s\) 1 of the batch"):
        zoo.explain(_EditedOutput(gap_model, _nan_for_image_1), images, method=method, **options.get(method, {}))


@pytest.mark.parametrize("method", ["saliency", "gradcam", "rise"])
def test_a_class_ruled_out_with_minus_inf_still_lets_the_others_be_explained(method, gap_model, images):
    maps = zoo.explain(_EditedOutput(gap_model, _rule_class_2_out), images, method=method, target=0,
                       **({"n_masks": 8} if method == "rise" else {}))
    assert maps.shape == (3, 12, 12) and torch.isfinite(maps).all()


class _FrozenBackbone(nn.Module):
    """Runs its backbone under torch.no_grad(), as a 'frozen features' shortcut does."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def forward(self, x):
        with torch.no_grad():
            return self.base(x)


@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "integrated_gradients", "gradcam"])
def test_a_model_that_cuts_the_gradient_is_refused_saying_where_to_look(method, gap_model, images):
    """autograd's "element 0 of tensors does not require grad" named neither the model nor a way out."""
    options = {"smoothgrad": dict(n_samples=2), "integrated_gradients": dict(n_steps=2)}
    with pytest.raises(UnsupportedModelError, match=r"does not depend on its input through autograd .*use rise"):
        zoo.explain(_FrozenBackbone(gap_model), images, method=method, **options.get(method, {}))
    assert zoo.explain(_FrozenBackbone(gap_model), images, method="rise", n_masks=8).shape == (3, 12, 12)


def test_gradcam_pp_of_a_half_model_with_small_gradients_is_not_blank():
    """Its g**2 and g**3 were computed in float16 and underflowed to 0: a blank map where float32
    gives one (small gradients over a large feature map)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 2))
    with torch.no_grad():
        model[-1].weight.mul_(1e-2)
    images = torch.rand(1, 3, 64, 64)
    full = zoo.explain(model.eval(), images, method="gradcam_pp", target=0, target_layer="1")
    half = zoo.explain(model.half().eval(), images.half(), method="gradcam_pp", target=0, target_layer="1")
    assert full.abs().max() > 0 and half.abs().max() > 0
    assert torch.allclose(half.float(), full, atol=0.05)


@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "gradcam"])
def test_a_score_fn_that_is_not_differentiable_is_named_not_the_model(method, gap_model, images):
    """It was blamed on the model ("its forward runs under torch.no_grad()"), which was fine."""
    def hit(output, classes):
        return (output.argmax(1) == classes).float()

    with pytest.raises(UnsupportedModelError, match="the score_fn is not differentiable"):
        zoo.explain(gap_model, images, method=method, target=0, score_fn=hit,
                    **({"n_samples": 2} if method == "smoothgrad" else {}))


class ConvHead(nn.Module):
    """timm's convention, with the head a convolution over the feature map, then averaged."""

    def __init__(self, kernel_size):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, 4, kernel_size, padding=kernel_size // 2)

    def forward_features(self, x):
        return self.features(x)

    def get_classifier(self):
        return self.head

    def forward(self, x):
        return self.head(self.forward_features(x)).mean((2, 3))


def test_cam_takes_a_1x1_conv_head_and_refuses_a_wider_one(images):
    """A 1x1 convolution is a linear layer at each location; a 3x3 one has no per-class row of
    channel weights (it failed deep inside torch)."""
    torch.manual_seed(0)
    assert zoo.explain(ConvHead(1).eval(), images, "cam", target=1).shape == (3, 12, 12)
    with pytest.raises(LayerError, match="nn.Linear or a 1x1 nn.Conv2d, got Conv2d"):
        zoo.explain(ConvHead(3).eval(), images, "cam", target=1)
