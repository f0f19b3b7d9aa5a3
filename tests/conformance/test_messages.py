"""Failure messages say what is wrong where: the plugin's own line, both shapes of a mismatch."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn as nn

import zoo
from zoo.inputs import check_image_batch
from zoo.testing import FAIL, ModelSubject, get_check, run_check


class _Picky(nn.Module):
    """Validates its input for 5 channels although it was built for 3."""

    def __init__(self, num_classes=2, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, num_classes, 1)

    def forward(self, x):
        check_image_batch(x, in_chans=5)  # the line the message must point at
        return self.conv(x)


class _SpatialLogits(nn.Module):
    """A classifier whose forward returns (N, K, 1, 1) while forward_head returns (N, K)."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 4, 3, padding=1)
        self.fc = nn.Linear(4, num_classes)

    def forward_features(self, x):
        return self.conv(x)

    def get_classifier(self):
        return self.fc

    def forward_head(self, features):
        return self.fc(features.mean((2, 3)))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))[:, :, None, None]


def _run(check, builder, task="semantic_segmentation"):
    spec = zoo.ArchitectureSpec(name="subject", task=task, builder=builder)
    return run_check(get_check(check), ModelSubject(spec=spec))


def test_an_error_raised_through_zoo_helpers_points_at_the_plugins_line():
    result = _run("eval_determinism", _Picky)
    assert result.status == FAIL and "raised InputError" in result.message
    lines, first = inspect.getsourcelines(_Picky.forward)
    line = first + next(i for i, text in enumerate(lines) if "check_image_batch" in text)
    assert f"test_messages.py:{line})" in result.message, result.message
    assert "zoo/inputs.py" not in result.message


class _NeedsSixtyFour(_SpatialLogits):
    """A classifier that refuses images under 64x64, not saying so in a pretrained_cfg."""

    def forward(self, x):
        check_image_batch(x, in_chans=self.conv.in_channels, min_size=64)
        return self.forward_head(self.forward_features(x))


def test_a_classifier_refusing_small_images_is_told_how_to_declare_its_size():
    result = _run("eval_determinism", _NeedsSixtyFour, task="classification")
    assert result.status == FAIL and "expected images of at least 64x64" in result.message
    assert "'min_input_size': (C, h, w)" in result.message, result.message
    declared = type("_Declared", (_NeedsSixtyFour,), {"pretrained_cfg": {"input_size": (3, 96, 96),
                                                                         "min_input_size": (3, 64, 64)}})
    assert _run("eval_determinism", declared, task="classification").status != FAIL


def test_a_shape_mismatch_shows_both_shapes():
    result = _run("classification_features", _SpatialLogits, task="classification")
    assert result.status == FAIL
    assert "forward_head(forward_features(x)) gave tensor (2, 3) float32 but forward(x) gave tensor (2, 3, 1, 1)" \
        in result.message, result.message


class _HeadDeclaredFirst(nn.Module):
    """A correct segmenter whose head is registered before its stem (attribute order is free)."""

    def __init__(self, num_classes=2, in_chans=3):
        super().__init__()
        self.head = nn.Conv2d(8, num_classes, 1)
        self.stem = nn.Conv2d(in_chans, 8, 3, padding=1)

    def forward(self, x):
        return self.head(self.stem(x))


def test_the_first_convolution_is_the_first_to_run_not_the_first_declared():
    from zoo.testing import PASS

    result = _run("in_chans", _HeadDeclaredFirst)
    assert result.status == PASS, result.message


class _SpaceToDepthStem(nn.Module):
    """timm's TResNet stem: space-to-depth first, so the first conv takes 4 x in_chans channels."""

    def __init__(self, num_classes=2, in_chans=3):
        super().__init__()
        self.stem = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(4 * in_chans, num_classes, 1))

    def forward(self, x):
        return nn.functional.interpolate(self.stem(x), size=x.shape[-2:])


class _CoordConvStem(nn.Module):
    """CoordConv: two coordinate channels joined to the image, so the stem takes C + 2."""

    def __init__(self, num_classes=2, in_chans=3):
        super().__init__()
        self.stem = nn.Conv2d(in_chans + 2, num_classes, 1)

    def forward(self, x):
        n, _, h, w = x.shape
        ys = torch.linspace(-1, 1, h).view(1, 1, h, 1).expand(n, 1, h, w)
        xs = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(n, 1, h, w)
        return self.stem(torch.cat([x, ys, xs], 1))


class _FixedStem(nn.Module):
    """Repeats a 1-channel image to fit a 3-channel stem whatever in_chans says."""

    def __init__(self, num_classes=2, in_chans=3):
        super().__init__()
        self.stem = nn.Conv2d(3, num_classes, 1)

    def forward(self, x):
        return self.stem(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)


def test_a_stem_that_grows_with_in_chans_passes_and_a_fixed_one_fails():
    from zoo.testing import PASS

    assert _run("in_chans", _CoordConvStem).status == PASS
    result = _run("in_chans", _FixedStem)
    assert result.status == FAIL and "takes 3 channels (3 with in_chans=3): its width does not grow with C" \
        in result.message, result.message


def test_a_space_to_depth_stem_honours_in_chans():
    from zoo.testing import PASS

    result = _run("in_chans", _SpaceToDepthStem)
    assert result.status == PASS, result.message


class _EvenPaddedSpaceToDepth(_SpaceToDepthStem):
    """Pads odd sizes for its space-to-depth stem: a correct segmenter at every size."""

    def forward(self, x):
        h, w = x.shape[-2:]
        out = super().forward(nn.functional.pad(x, (0, w % 2, 0, h % 2)))
        return out[..., :h, :w]


@pytest.mark.parametrize("builder", [_HeadDeclaredFirst, _EvenPaddedSpaceToDepth])
def test_every_check_feeds_the_channels_the_builder_defaults_to(builder):
    """Not the first registered conv's: the head's 8, or the stem's 4 x 3, would fail them all."""
    from zoo.testing import PASS, SKIP, checks_for

    subject = ModelSubject(spec=zoo.ArchitectureSpec(name="subject", task="semantic_segmentation", builder=builder))
    assert subject.in_chans() == 3
    for check in checks_for(subject):
        result = run_check(check, subject)
        assert result.status in (PASS, SKIP), (check.name, result.message)


class _OneChannelByDefault(_HeadDeclaredFirst):
    def __init__(self, num_classes=2, in_chans=1):
        super().__init__(num_classes, in_chans)


class _StaleTimmCfg(_OneChannelByDefault):
    """timm leaves pretrained_cfg's input_size at (3, 224, 224) whatever in_chans built the model."""

    def __init__(self, num_classes=2, in_chans=1):
        super().__init__(num_classes, in_chans)
        self.pretrained_cfg = {"input_size": (3, 224, 224)}


def _requires_in_chans(num_classes, in_chans):
    return _HeadDeclaredFirst(num_classes, in_chans)


def _kwargs_only(**kwargs):
    return _OneChannelByDefault(**kwargs)


@pytest.mark.parametrize("builder, defaults, expected", [
    (_OneChannelByDefault, {}, 1),                    # the builder's own default
    (_StaleTimmCfg, {}, 1),                           # ... over a declared input that timm never updates
    (_requires_in_chans, {"num_classes": 2}, 3),      # required: zoo.create gives 3
    (_HeadDeclaredFirst, {"in_chans": 4}, 4),         # the spec's default wins
    (_kwargs_only, {}, 8),                            # a signature that says nothing: the first conv's guess
])
def test_the_suites_channel_count_is_what_zoo_create_builds_with(builder, defaults, expected):
    spec = zoo.ArchitectureSpec(name="subject", task="semantic_segmentation", builder=builder, defaults=defaults)
    assert ModelSubject(spec=spec).in_chans() == expected


def test_an_explainer_returning_a_tuple_fails_every_comparing_check_with_what_it_returned():
    import torch

    from zoo.testing import ExplainerSubject

    class TupleMaps(zoo.Explainer):
        def __call__(self, images, target=None):
            return torch.zeros(images.shape[0], *images.shape[2:]), {"extra": 1}

    subject = ExplainerSubject(spec=zoo.ExplainerSpec("tuple_maps", TupleMaps, tasks=("classification",)))
    for check in ("explainer_determinism", "explainer_batch", "explainer_targets"):
        result = run_check(get_check(check), subject)
        assert result.status == FAIL, result
        assert "returned tuple[tensor" in result.message and "not a float tensor (N, H, W)" in result.message, \
            result.message


class _AuxInTraining(nn.Module):
    """Inception's way: (logits, aux logits) in train mode, the logits alone in eval mode."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 4, 3, padding=1)
        self.head, self.aux = nn.Linear(4, num_classes), nn.Linear(4, num_classes)

    def forward(self, x):
        pooled = self.conv(x).relu().mean((2, 3))
        return (self.head(pooled), self.aux(pooled)) if self.training else self.head(pooled)


def test_a_tuple_returned_in_train_mode_only_is_named_by_the_gradients_check():
    """It was "AttributeError: 'tuple' object has no attribute 'shape'"; the pointed message came only
    for an eval-mode tuple."""
    spec = zoo.ArchitectureSpec("aux_net", "classification", _AuxInTraining)
    result = run_check(get_check("gradients"), ModelSubject(spec=spec))
    assert result.status == FAIL and "in train mode; the classification contract is" in result.message, result.message
    assert "model(x)[0]" in result.message


def _builder_with_a_required_option(model, *, layer):
    return lambda images, target=None: images.mean(1)


def _builder_that_forgot_its_return(model):
    lambda images, target=None: images.mean(1)  # noqa: B018 - the mistake under test


@pytest.mark.parametrize("builder, says", [
    (_builder_with_a_required_option, "the explainer builder requires layer with no default"),
    (_builder_that_forgot_its_return, "the explainer builder returned NoneType, not an explainer"),
])
def test_an_explainer_builder_mistake_fails_once_naming_it(builder, says):
    """A required option failed all 8 checks with one TypeError, a missing return with "'NoneType'
    object is not callable", and neither said what to change."""
    from zoo.testing import SKIP, ExplainerSubject, run_subjects

    spec = zoo.ExplainerSpec("mistaken", builder=builder, tasks=("classification",))
    results = [r for r in run_subjects([ExplainerSubject(spec=spec)]) if r.check != "explainer_registration"]
    failed = [r for r in results if r.status == FAIL]
    assert len(failed) == 1 and says in failed[0].message, [(r.check, r.status, r.message) for r in results]
    assert all(r.status == SKIP for r in results if r not in failed)


def _only_explainer(monkeypatch, spec) -> None:
    """The process registry holds just ``spec`` for the test."""
    import zoo.registry

    class Plugin:
        @zoo.hookimpl
        def zoo_explainers(self):
            return [spec]

    registry = zoo.registry.Registry()
    registry.register(Plugin(), name="one-explainer")
    monkeypatch.setattr(zoo.registry, "_registry", registry)


def test_an_explainer_builders_first_parameter_is_the_model_whatever_its_name(monkeypatch):
    """`def build(net, *, alpha=1.0)`: 'net' was listed among its options (only 'model' and 'self'
    were skipped), so `-O net=...` looked valid and a typo list named it."""
    def build(net, *, alpha=1.0):
        return lambda images, target=None: images.mean(1) * alpha

    _only_explainer(monkeypatch, zoo.ExplainerSpec("named_net", builder=build))
    with pytest.raises(zoo.UnknownOptionError, match="takes no option 'alfa'; its options: alpha$") as info:
        zoo.create_explainer("named_net", nn.Linear(2, 2), alfa=2.0)
    assert info.value.accepted == ["alpha"]


def test_create_explainer_refuses_a_builder_result_that_cannot_explain(monkeypatch):
    _only_explainer(monkeypatch, zoo.ExplainerSpec("mistaken", builder=_builder_that_forgot_its_return))
    with pytest.raises(zoo.BuilderError, match="returned NoneType, not an explainer .* does it lack a return"):
        zoo.create_explainer("mistaken", nn.Linear(2, 2))


def test_an_explainer_whose_builder_cannot_be_imported_fails_once():
    """Every explainer check failed with the same BuilderError (8 identical failures); a model's
    build failure already failed once, its later checks skipping."""
    from zoo.testing import PASS, SKIP, ExplainerSubject, run_subjects

    spec = zoo.ExplainerSpec("lost", builder="zoo_no_such_module_anywhere:Lost", tasks=("classification",))
    results = run_subjects([ExplainerSubject(spec=spec)])
    failed = [r for r in results if r.status == FAIL]
    assert len(failed) == 1 and "zoo_no_such_module_anywhere" in failed[0].message
    assert "BuilderImportError" in failed[0].message  # a BuilderError that is also an ImportError
    later = [r for r in results if r.status != FAIL and r.check != "explainer_registration"]
    assert later and all(r.status == SKIP and r.message == f"its builder cannot be used (see its {failed[0].check} "
                         "check)" for r in later), [(r.check, r.status, r.message) for r in later]
    assert [r.status for r in results if r.check == "explainer_registration"] == [PASS]


def test_a_builder_without_an_in_chans_parameter_is_told_the_calling_convention():
    def no_in_chans(num_classes=3):
        return nn.Conv2d(3, num_classes, 1)

    spec = zoo.ArchitectureSpec("no_in_chans", "semantic_segmentation", no_in_chans)
    result = run_check(get_check("in_chans"), ModelSubject(spec=spec))
    assert result.status == FAIL, result.message
    assert "the builder takes no in_chans" in result.message
    assert "builder(num_classes=..., in_chans=..., **kwargs), so add in_chans= to its parameters" in result.message


class _Noisy(nn.Module):
    """Random in eval mode: the comparing checks blamed batch statistics, export and timm's convention."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 6, 3)
        self.fc = nn.Linear(6, num_classes)

    def forward_features(self, x):
        features = self.conv(x)
        return features + torch.randn_like(features)

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(self.forward_features(x).mean((2, 3)))


def test_a_model_random_in_eval_mode_is_blamed_for_that_by_every_comparing_check():
    subject = ModelSubject(spec=zoo.ArchitectureSpec("noisy", "classification", _Noisy))
    assert run_check(get_check("eval_determinism"), subject).status == FAIL
    for name in ("classification_output", "classification_features", "export", "safetensors_roundtrip"):
        result = run_check(get_check(name), subject)
        assert result.status == FAIL and "not deterministic in eval mode (see eval_determinism)" in result.message, \
            (name, result.message)


class _SkipsAtStride2(nn.Module):
    """An encoder-decoder that concatenates a skip without matching sizes: works only at even sizes."""

    def __init__(self, num_classes=2, in_chans=3):
        super().__init__()
        self.down = nn.Conv2d(in_chans, 4, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)
        self.head = nn.Conv2d(4 + in_chans, num_classes, 1)

    def forward(self, x):
        return self.head(torch.cat([self.up(self.down(x)), x], 1))


def test_a_segmenter_working_only_at_multiples_of_its_stride_is_told_the_usual_fixes():
    subject = ModelSubject(spec=zoo.ArchitectureSpec("even_only", "semantic_segmentation", _SkipsAtStride2))
    result = run_check(get_check("segmentation_output"), subject)
    assert result.status == FAIL and "input (1, 3, 33, 47) raised RuntimeError" in result.message
    assert "It runs at 64x64: pad the input to a multiple of the network's stride" in result.message, result.message


class _NaNLogits(_SpatialLogits):
    """Deterministic, but its logits are NaN (a broken weight): the output check must say so."""

    def forward(self, x):
        return self.forward_head(self.forward_features(x)) * float("nan")


def test_nan_logits_are_named_as_such_not_as_nondeterminism():
    """NaN != NaN made eval_determinism fail, and other checks then said "cannot be judged"."""
    subject = ModelSubject(spec=zoo.ArchitectureSpec("nan_logits", "classification", _NaNLogits))
    assert run_check(get_check("eval_determinism"), subject).status != FAIL
    output = run_check(get_check("classification_output"), subject)
    assert output.status == FAIL and "non-finite" in output.message and "deterministic" not in output.message


class _ClampsItsInput(nn.Module):
    """Clamps the caller's images in place: invisible on images in [0, 1), ruinous on normalised ones."""

    def __init__(self, num_classes=2, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, num_classes, 1)

    def forward(self, x):
        return self.conv(x.clamp_(0, 1)).mean((2, 3))


def test_an_in_place_clamp_of_the_input_is_caught_on_normalised_images():
    result = _run("input_unchanged", _ClampsItsInput, task="classification")
    assert result.status == FAIL and "modified the input tensor in place" in result.message, result.message


def test_an_explainer_giving_nan_on_a_blank_image_fails():
    from zoo.testing import ExplainerSubject

    class ContrastScaled(zoo.Explainer):
        """Divides by each image's standard deviation: NaN on an image with none."""

        normalize = False

        def __call__(self, images, target=None):
            maps = images.detach().abs().amax(1)
            return maps / images.detach().flatten(1).std(1)[:, None, None]

    subject = ExplainerSubject(spec=zoo.ExplainerSpec("contrast_scaled", ContrastScaled, tasks=("classification",)))
    result = run_check(get_check("explainer_output"), subject)
    assert result.status == FAIL and "a constant (all grey) image: maps are not finite" in result.message, \
        result.message


class _IgnoresInChans(nn.Module):
    """Takes in_chans and builds 3 input channels all the same."""

    def __init__(self, num_classes=2, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(3, num_classes, 1)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


def test_a_builder_ignoring_in_chans_is_told_so_not_only_the_input_error():
    """The failure read as the user's ("expected input to have 3 channels"), not the builder's."""
    result = _run("in_chans", _IgnoresInChans, task="classification")
    assert result.status == FAIL
    assert "yet it runs on 3-channel input, its first convolution (Conv2d) taking 3 channels: the builder ignores " \
           "in_chans=1" in result.message, result.message


def test_an_explainer_failing_on_one_reference_model_says_which():
    """An explainer declaring two tasks and raising on the segmenter only failed every check with
    "raised NotImplementedError: ..." and no word of which model."""
    from zoo.testing import ExplainerSubject

    class ClassifiersOnly(zoo.Explainer):
        def __call__(self, images, target=None):
            if self.model(images).ndim == 4:
                raise NotImplementedError("segmentation outputs")
            return images.detach().abs().amax(1)

    spec = zoo.ExplainerSpec("classifiers_only", ClassifiersOnly, tasks=("classification", "semantic_segmentation"))
    result = run_check(get_check("explainer_output"), ExplainerSubject(spec=spec))
    assert result.status == FAIL
    assert "raised NotImplementedError: segmentation outputs; on the suite's ReferenceSegmenter (input (" \
        in result.message, result.message


class _NaNDetector(nn.Module):
    """torchvision's detection contract, shaped right, but its boxes and masks are NaN."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, num_classes, 1)

    def forward(self, images, targets=None):
        if self.training:
            return {"loss": sum(self.conv(image[None]).mean() for image in images)}
        return [{"boxes": torch.full((1, 4), float("nan")),
                 "labels": torch.zeros(1, dtype=torch.int64), "scores": torch.ones(1),
                 "masks": torch.full((1, 1, *image.shape[-2:]), float("nan"))} for image in images]


def test_nan_boxes_and_masks_fail_detection_eval():
    """Every comparison with NaN is False, so NaN boxes passed "inside the image" and NaN masks
    "within [0, 1]"; only eval_determinism caught them, by mistaking NaN != NaN for randomness."""
    result = _run("detection_eval", _NaNDetector, task="instance_segmentation")
    assert result.status == FAIL and "boxes hold 4 non-finite values" in result.message, result.message
