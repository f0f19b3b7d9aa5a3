"""The classification checks follow timm's convention, not one layout: a channels-last map that
the model declares, tokens with a forward_head, a conv head between pooling and classifier, and
an input size the model declares all pass; CAM's own requirements are reported apart, by
classification_cam_head, as PASS or a SKIP that says why CAM does not apply."""

from __future__ import annotations

import torch
import torch.nn as nn

import zoo
from zoo.testing import FAIL, PASS, SKIP, ModelSubject, get_check, run_check


def _run(check, builder):
    spec = zoo.ArchitectureSpec(name="subject", task="classification", builder=builder)
    return run_check(get_check(check), ModelSubject(spec=spec))


class _ChannelsLast(nn.Module):
    """A GAP + linear classifier whose forward_features returns (N, h, w, C), as timm's Swin."""

    def __init__(self, num_classes=3, in_chans=3, declare=True):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 5, 3, stride=4)
        self.fc = nn.Linear(5, num_classes)
        if declare:
            self.output_fmt = "NHWC"

    def forward_features(self, x):
        return self.conv(x).permute(0, 2, 3, 1)

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(self.forward_features(x).mean((1, 2)))


class _Tokens(nn.Module):
    """A token model: forward_features gives (N, L, C), forward_head pools the tokens."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.patch = nn.Conv2d(in_chans, 6, 8, stride=8)
        self.fc = nn.Linear(6, num_classes)

    def forward_features(self, x):
        return self.patch(x).flatten(2).transpose(1, 2)

    def forward_head(self, tokens):
        return self.fc(tokens.mean(1))

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


class _ConvHead(_Tokens):
    """timm's MobileNetV3 layout: pool, then a 1x1 conv head, then the classifier."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__(num_classes, in_chans)
        self.conv_head = nn.Conv2d(6, 10, 1)
        self.fc = nn.Linear(10, num_classes)

    def forward_features(self, x):
        return self.patch(x)

    def forward_head(self, features):
        return self.fc(self.conv_head(features.mean((2, 3), keepdim=True)).flatten(1))


class _Pooled(_Tokens):
    """forward_features pools: (N, C), no map left for CAM or Grad-CAM."""

    def forward_features(self, x):
        return self.patch(x).mean((2, 3))

    def forward_head(self, pooled):
        return self.fc(pooled)


class _NoClassifierModule(_Tokens):
    def get_classifier(self):
        return None


class _DeclaredLarge(nn.Module):
    """Takes only inputs of 80 px or more, and says so as timm does (min_input_size), with 2 channels."""

    def __init__(self, num_classes=3, in_chans=2):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 4, 3)
        self.fc = nn.Linear(4, num_classes)
        self.pretrained_cfg = {"input_size": (in_chans, 224, 224), "min_input_size": (in_chans, 80, 80)}

    def forward_features(self, x):
        if min(x.shape[-2:]) < 80:
            raise ValueError(f"input {tuple(x.shape)} is smaller than 80 px")
        return self.conv(x)

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(self.forward_features(x).mean((2, 3)))


def test_a_declared_channels_last_map_passes_and_cam_applies():
    features = _run("classification_features", _ChannelsLast)
    assert features.status == PASS and "(N, h, w, C')" in features.message, features.message
    assert _run("classification_cam_head", _ChannelsLast).status == PASS


def test_an_undeclared_channels_last_map_fails():
    result = _run("classification_features", lambda **kw: _ChannelsLast(declare=False, **kw))
    assert result.status == FAIL and "get_classifier()(forward_features(x) averaged over h, w)" in result.message


class _ClassToken(_Tokens):
    """ViT's layout: a class token first, read alone by the head."""

    num_prefix_tokens = 1

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__(num_classes, in_chans)
        self.cls = nn.Parameter(torch.randn(1, 1, 6))

    def forward_features(self, x):
        tokens = super().forward_features(x)
        return torch.cat([self.cls.expand(len(tokens), -1, -1), tokens], 1)

    def forward_head(self, tokens):
        return self.fc(tokens[:, 0])


def test_mean_pooled_tokens_pass_as_cam_explains_them_and_a_class_token_is_skipped():
    """The suite said "CAM does not apply" to token models that the cam explainer explains."""
    assert _run("classification_features", _Tokens).status == PASS
    assert _run("classification_cam_head", _Tokens).status == PASS
    images = torch.rand(2, 3, 40, 56)
    assert zoo.explain(_Tokens().eval(), images, method="cam").shape == (2, 40, 56)
    assert _run("classification_features", _ClassToken).status == PASS
    cam = _run("classification_cam_head", _ClassToken)
    assert cam.status == SKIP and "reads a class token" in cam.message and "CAM does not apply" in cam.message


def test_a_conv_head_passes_the_convention_and_cam_is_skipped_with_the_reason():
    assert _run("classification_features", _ConvHead).status == PASS
    cam = _run("classification_cam_head", _ConvHead)
    assert cam.status == SKIP and "Linear with weight (3, 10), not a Linear (3, 6)" in cam.message, cam.message


def test_pooled_features_fail():
    result = _run("classification_features", _Pooled)
    assert result.status == FAIL and "expected the unpooled features" in result.message, result.message


class _UnusedClassifier(_ChannelsLast):
    """forward uses fc; get_classifier() returns an auxiliary Linear of the same shape that never runs."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__(num_classes, in_chans)
        self.aux = nn.Linear(5, num_classes)

    def get_classifier(self):
        return self.aux


class _FunctionalHead(_ChannelsLast):
    """Uses its head's weights through F.linear, never calling the module: still its classifier."""

    def forward(self, x):
        return nn.functional.linear(self.forward_features(x).mean((1, 2)), self.fc.weight, self.fc.bias)


def test_get_classifier_must_return_the_head_forward_uses():
    result = _run("classification_features", _UnusedClassifier)
    assert result.status == FAIL and "get_classifier() returned a Linear whose weights forward(x) does not use" \
        in result.message, result.message
    assert _run("classification_features", _FunctionalHead).status == PASS


def test_get_classifier_must_return_a_module():
    result = _run("classification_features", _NoClassifierModule)
    assert result.status == FAIL and "get_classifier() returned NoneType" in result.message


def test_a_declared_input_size_and_channels_are_what_the_checks_feed():
    torch.manual_seed(0)
    for check in ("classification_output", "classification_features", "classification_cam_head", "in_chans"):
        result = _run(check, _DeclaredLarge)
        assert result.status == PASS, (check, result.message)
    output = _run("classification_output", _DeclaredLarge)
    assert "HxW in ((80, 80), (80, 160))" in output.message, output.message
    assert "C=1 (default 2)" in _run("in_chans", _DeclaredLarge).message


class _DeclaringSegmenter(nn.Module):
    """A segmenter that describes its training input timm's way (512 px), maybe as the only size."""

    def __init__(self, num_classes=2, in_chans=3, fixed=False):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, num_classes, 1)
        self.pretrained_cfg = {"input_size": (in_chans, 512, 512), "fixed_input_size": fixed}

    def forward(self, x):
        return self.conv(x)


def test_a_segmenters_declared_size_is_not_fed_only_a_fixed_one_would_be():
    def subject(**defaults):
        return ModelSubject(spec=zoo.ArchitectureSpec(name="subject", task="semantic_segmentation",
                                                      builder=_DeclaringSegmenter, defaults=defaults))

    assert subject().input_size() is None and subject().example().shape == (1, 3, 32, 32)
    assert subject(fixed=True).input_size() == (512, 512)


class _ClassTokenAveragedOut(_ClassToken):
    """timm's global_pool='avg' with a class token: the head averages the patch tokens only."""

    def forward_head(self, tokens):
        return self.fc(tokens[:, self.num_prefix_tokens:].mean(1))


def test_cam_applies_to_the_patch_tokens_after_the_prefix_tokens():
    result = _run("classification_cam_head", _ClassTokenAveragedOut)
    assert result.status == PASS, result.message
