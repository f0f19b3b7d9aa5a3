"""The CAM family on timm classifiers whose features are not NCHW: Swin (NHWC) and ViTs (tokens).

References are computed by hand from timm's own ``forward_features`` / ``forward_head`` (the
definition of Grad-CAM and CAM), and for the class-token ViT also by pytorch-grad-cam with the
token reshape its documentation gives for ViTs (as is torchvision's ViT, whose class token is
not declared). Models are tiny and randomly initialised.
"""

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F

import zoo
from zoo_explainers.cam import HeadWarning
from zoo_explainers.feature_layout import detect, token_grid
from zoo_explainers.gradcam import GradCAM
from zoo_explainers.layers import LayerError


def tiny(name, **kwargs):
    torch.manual_seed(0)
    return timm.create_model(name, num_classes=4, **kwargs).eval()


def swin():
    return tiny("swin_tiny_patch4_window7_224", embed_dim=16, depths=(1, 1), num_heads=(1, 2), img_size=64,
                window_size=4)


def vit(**kwargs):
    return tiny("vit_tiny_patch16_224", img_size=64, depth=2, embed_dim=32, num_heads=2, **kwargs)


def images(height=64, width=64):
    return torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(3))


def minmax(maps):
    flat = maps.flatten(1)
    low, high = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    return (maps - low) / (high - low)


def hand_gradcam(features_nchw, logits_of, classes, size):
    """Grad-CAM by its definition: mean gradient per channel times the map, ReLU, upsample, scale."""
    features_nchw = features_nchw.detach().requires_grad_(True)
    logits = logits_of(features_nchw)
    grads, = torch.autograd.grad(logits[torch.arange(len(classes)), classes].sum(), features_nchw)
    cam = torch.einsum("nc,nchw->nhw", grads.mean((2, 3)), features_nchw.detach()).clamp_min(0)
    return minmax(F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0])


def test_swin_nhwc_features_are_read_as_nhwc():
    model, x, classes = swin(), images(), torch.tensor([1, 3])
    with torch.no_grad():
        features = model.forward_features(x)  # (N, h, w, C), model.output_fmt == "NHWC"
    assert features.shape[-1] == model.num_features and model.output_fmt == "NHWC"
    expected = hand_gradcam(features.permute(0, 3, 1, 2), lambda f: model.forward_head(f.permute(0, 2, 3, 1)),
                            classes, (64, 64))
    maps = zoo.explain(model, x, "gradcam", target=classes.tolist())
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5)
    # a GAP + linear head: CAM is valid and Grad-CAM equals ReLU(CAM) after scaling
    cam = zoo.explain(model, x, "cam", target=classes.tolist(), relu=True)
    torch.testing.assert_close(cam, maps, rtol=1e-4, atol=1e-5)


def test_swin_intermediate_stage_follows_the_declared_layout():
    model, x = swin(), images()
    maps = GradCAM(model, target_layer="layers.0")(x, target=2)
    with torch.no_grad():
        stage0 = model.layers[0](model.patch_embed(x))  # NHWC, 16x16

    def rest(f):
        return model.forward_head(model.norm(model.layers[1](f.permute(0, 2, 3, 1))))

    expected = hand_gradcam(stage0.permute(0, 3, 1, 2), rest, torch.tensor([2, 2]), (64, 64))
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5)
    # the patch embedding's convolution is NCHW inside this NHWC model (C == h == w here: only the
    # values tell the layouts apart)
    with torch.no_grad():
        projected = model.patch_embed.proj(x)  # (N, C, h, w)
    assert projected.shape == (2, 16, 16, 16)

    def after_proj(f):
        return model.forward_head(model.norm(model.layers(model.patch_embed.norm(f.permute(0, 2, 3, 1)))))

    expected = hand_gradcam(projected, after_proj, torch.tensor([2, 2]), (64, 64))
    torch.testing.assert_close(GradCAM(model, target_layer="patch_embed.proj")(x, target=2), expected,
                               rtol=1e-4, atol=1e-5)


def test_class_token_vit_uses_the_last_blocks_first_norm(caplog):
    model, x, classes = vit(), images(), torch.tensor([0, 2])
    assert model.global_pool == "token"
    with caplog.at_level("INFO", logger="zoo.explain"):
        explainer = GradCAM(model)
    maps = explainer(x, target=classes)
    assert explainer.layer_name == "blocks.1.norm1" and "class token" in caplog.text

    seen = {}  # the last block's input (for its residual) and its first norm's output
    block = model.blocks[1]
    handles = [block.register_forward_pre_hook(lambda m, args: seen.update(input=args[0])),
               block.norm1.register_forward_hook(lambda m, args, out: seen.update(tokens=out))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    block_input, tokens = seen["input"], seen["tokens"]  # (N, 1 + 4*4, C)

    def rest_from_input(grid):
        patched = torch.cat([tokens[:, :1], grid.flatten(2).transpose(1, 2)], 1)
        inner = block_input + block.ls1(block.attn(patched))
        inner = inner + block.ls2(block.mlp(block.norm2(inner)))
        return model.forward_head(model.norm(inner))

    grid = tokens[:, 1:].transpose(1, 2).reshape(2, -1, 4, 4)
    expected = hand_gradcam(grid, rest_from_input, classes, (64, 64))
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5)


def test_class_token_vit_refuses_forward_features_by_name():
    with pytest.raises(LayerError, match="reads only its class token.*leave target_layer unset"):
        GradCAM(vit(), target_layer="forward_features")


def test_class_token_vit_matches_pytorch_grad_cam():
    from pytorch_grad_cam import GradCAM as ReferenceGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, x = vit(), images()

    def tokens_to_grid(tokens):  # the reshape pytorch-grad-cam documents for ViTs
        return tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], 4, 4)

    with ReferenceGradCAM(model=model, target_layers=[model.blocks[-1].norm1],
                          reshape_transform=tokens_to_grid) as reference:
        theirs = reference(input_tensor=x, targets=[ClassifierOutputTarget(1), ClassifierOutputTarget(3)])
    ours = zoo.explain(model, x, "gradcam", target=[1, 3]).numpy()
    assert ours[0].max() == 1  # a map with something in it (the second is negative before the ReLU: blank)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_averaging_vit_on_a_non_square_input():
    """Tokens of an averaging ViT read as a 3x4 grid for a 48x64 input: CAM is valid, Grad-CAM == ReLU(CAM)."""
    model = vit(global_pool="avg", fc_norm=False, dynamic_img_size=True)
    x = images(48, 64)
    cam = zoo.explain(model, x, "cam", target=[1, 2], normalize=False)
    with torch.no_grad():
        tokens = model.forward_features(x)
        grid = tokens[:, 1:].transpose(1, 2).reshape(2, -1, 3, 4)
        hand = torch.einsum("nc,nchw->nhw", model.head.weight[[1, 2]], grid)
    torch.testing.assert_close(cam, F.interpolate(hand[:, None], size=(48, 64), mode="bilinear",
                                                  align_corners=False)[:, 0], rtol=1e-4, atol=1e-5)
    gradcam = zoo.explain(model, x, "gradcam", target=[1, 2])
    torch.testing.assert_close(gradcam, zoo.explain(model, x, "cam", target=[1, 2], relu=True),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: tiny("convnext_atto"),  # the pooled features go through a LayerNorm first
    lambda: vit(global_pool="avg"),  # average of the patch tokens, then fc_norm
], ids=["convnext", "vit-avg-fc_norm"])
def test_cam_warns_when_the_head_is_not_gap_linear(make):
    model, x = make(), images()
    with pytest.warns(HeadWarning, match="not a decomposition of the logit"):
        maps = zoo.explain(model, x, "cam", target=1, normalize=False)
    with torch.no_grad():  # still the class map W_c * A, as the issue defines it
        features = model.forward_features(x)
        if features.ndim == 3:
            features = features[:, model.num_prefix_tokens:].transpose(1, 2).reshape(2, -1, 4, 4)
        hand = torch.einsum("c,nchw->nhw", model.get_classifier().weight[1], features)
    torch.testing.assert_close(maps, F.interpolate(hand[:, None], size=(64, 64), mode="bilinear",
                                                   align_corners=False)[:, 0], rtol=1e-4, atol=1e-5)


def test_cam_stays_silent_on_gap_linear_heads(recwarn):
    for model in (tiny("resnet18"), swin(), vit(global_pool="avg", fc_norm=False)):
        zoo.explain(model, images(), "cam", target=1)
    assert not [w for w in recwarn if issubclass(w.category, HeadWarning)]


@pytest.mark.parametrize("make, why", [
    (lambda: vit(), "reads only its class token"),
    (lambda: tiny("mobilenetv3_small_050"), "1024 features"),  # conv_head between pool and classifier
], ids=["vit-class-token", "mobilenetv3"])
def test_cam_refuses_heads_it_cannot_map(make, why):
    model = make()
    with pytest.raises(LayerError, match=f"{why}.*use gradcam"):
        zoo.explain(model, images(), "cam", target=1)
    assert zoo.explain(model, images(), "gradcam", target=1).shape == (2, 64, 64)


def test_tokens_that_form_no_grid_are_a_clear_error():
    model = vit()
    with pytest.raises(LayerError, match="blocks.1 returned 8 tokens .1 prefix tokens. that do not form a grid"):
        detect(model, model.blocks[1], torch.zeros(1, 1 + 7, 32), "blocks.1", (64, 64))


def test_an_undeclared_class_token_is_named_in_the_error_and_declaring_it_works():
    """torchvision's ViT has a class token but no ``num_prefix_tokens``: the error says what to set."""
    from pytorch_grad_cam import GradCAM as ReferenceGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torchvision.models.vision_transformer import VisionTransformer

    model = VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32,
                              mlp_dim=64, num_classes=4).eval()
    # Weights drawn here, not by torchvision's initialisers (which differ between its versions), so
    # that both maps below are non-trivial on any version (torchvision also starts the head at zero).
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            scale = 0.5 if parameter.dim() > 1 else 0.1
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    layer, x, target = "encoder.layers.encoder_layer_1.ln_1", images(), [0, 2]
    with pytest.raises(LayerError, match="num_prefix_tokens = 1 .* the other 16 would form a 4x4 grid"):
        zoo.explain(model, x, "gradcam", target=target, target_layer=layer)

    model.num_prefix_tokens = 1
    ours = zoo.explain(model, x, "gradcam", target=target, target_layer=layer).numpy()

    def tokens_to_grid(tokens):
        return tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], 4, 4)

    with ReferenceGradCAM(model=model, target_layers=[model.encoder.layers[-1].ln_1],
                          reshape_transform=tokens_to_grid) as reference:
        theirs = reference(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in target])
    assert ours.max(axis=(1, 2)).tolist() == [1, 1]
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


@pytest.mark.parametrize("declared", [False, True])
def test_torchvision_vit_without_target_layer_is_a_layer_error_not_the_patch_conv(declared):
    """With no target_layer, the last 4-D output of torchvision's ViT is its patch embedding:
    the automatic choice refuses it and names a token layer (and the prefix to declare)."""
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32,
                              mlp_dim=64, num_classes=4).eval()
    if declared:
        model.num_prefix_tokens = 1
    hint = "" if declared else ".*num_prefix_tokens = 1"
    for method in ("gradcam", "hirescam"):
        with pytest.raises(LayerError, match="works on tokens .* after its last spatial map .conv_proj.*"
                                             f"target_layer=.*'encoder.layers.encoder_layer_1.ln_1'{hint}"):
            zoo.explain(model, images(), method, target=1)


def test_token_grid_follows_the_aspect_ratio():
    assert token_grid(196, (224, 224)) == (14, 14)
    assert token_grid(12, (48, 64)) == (3, 4)
    assert token_grid(12, (64, 48)) == (4, 3)
    assert token_grid(7, (64, 64)) is None


def test_a_single_location_map_is_a_clear_error_not_a_blank_map():
    model = tiny("resnet18")  # stride 32: a 32x32 input leaves a 1x1 feature map
    with pytest.raises(LayerError, match="forward_features gives a 1x1 map for a 32x32 input"):
        zoo.explain(model, torch.rand(2, 3, 32, 32), "gradcam", target=1)
    assert GradCAM(model, target_layer="layer3")(torch.rand(2, 3, 32, 32), target=1).amax() == 1
    with pytest.raises(LayerError, match="1x1 map"):  # a class token alone (PiT's forward_features)
        detect(model, None, torch.zeros(1, 1, 8), "forward_features", (64, 64))


def test_an_undeclared_channels_last_layer_is_a_layer_error_and_declaring_it_works():
    """torchvision's Swin keeps its stages channels-last (N, h, w, C) and declares nothing: read as
    NCHW, target_layer="norm" would give a silently wrong map. The automatic choice is its
    ``permute`` to NCHW, which the declared NHWC ``norm`` must match."""
    from torchvision.models.swin_transformer import SwinTransformer

    torch.manual_seed(0)
    model = SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[1, 1], num_heads=[1, 1], window_size=[4, 4],
                            num_classes=4).eval()
    torch.nn.init.normal_(model.head.weight, std=0.5)  # torchvision starts the head at zero
    x, target = images(64, 48), [1, 2]
    automatic = zoo.explain(model, x, "gradcam", target=target)
    assert automatic.flatten(1).max(1).values.tolist() == [1, 1]
    with pytest.raises(LayerError, match=r"returned \(2, 8, 6, 32\): read as \(N, C, h, w\) that is a 6x32 map "
                                         r"for a 64x48 input.* it would be 8x6.*output_fmt = 'NHWC'"):
        zoo.explain(model, x, "gradcam", target=target, target_layer="norm")

    model.norm.output_fmt = "NHWC"
    declared = zoo.explain(model, x, "gradcam", target=target, target_layer="norm")
    torch.testing.assert_close(declared, automatic)
