"""maskrcnn_mini: registration, torchvision's detection contract in both modes, training, errors."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

import zoo
from zoo.inputs import InputError
from zoo_detection.maskrcnn_mini import MaskRCNNMini, maskrcnn_mini

LOSS_KEYS = {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}


@pytest.fixture
def model():
    torch.manual_seed(0)
    return maskrcnn_mini()


def test_registered_as_instance_segmentation_without_importing_torch():
    info = zoo.model_info("maskrcnn_mini")
    assert info.task == "instance_segmentation"
    assert info.distribution == "visionzoo-detection"
    assert info.defaults == {"num_classes": 4, "in_chans": 3}
    assert "data-dependent shapes" in info.export  # the conformance suite skips torch.export, saying why
    code = "import sys, zoo_detection.plugin; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_create_builds_the_model():
    model = zoo.create("maskrcnn_mini", num_classes=3, in_chans=1)
    assert isinstance(model, MaskRCNNMini)
    assert model.roi_heads.box_predictor.cls_score.out_features == 3
    assert model.roi_heads.mask_predictor[-1].out_channels == 3
    assert model.backbone.stem[0].in_channels == 1


def test_eval_contract(model):
    model.eval()
    sizes = [(64, 64), (96, 72), (50, 130)]  # not multiples of 32 on purpose
    with torch.no_grad():
        out = model([torch.rand(3, h, w) for h, w in sizes])
    assert isinstance(out, list) and len(out) == len(sizes)
    for det, (h, w) in zip(out, sizes):
        assert set(det) == {"boxes", "labels", "scores", "masks"}
        n = det["boxes"].shape[0]
        assert n > 0  # an untrained model still scores every class above 0.05
        assert det["boxes"].shape == (n, 4) and det["boxes"].dtype == torch.float32
        assert det["labels"].shape == (n,) and det["labels"].dtype == torch.int64
        assert det["scores"].shape == (n,) and det["scores"].dtype == torch.float32
        assert det["masks"].shape == (n, 1, h, w) and det["masks"].dtype == torch.float32
        boxes = det["boxes"]
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
        assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
        assert (boxes[:, 2:] >= boxes[:, :2]).all()
        assert ((det["labels"] >= 1) & (det["labels"] < 4)).all()
        assert (det["scores"][:-1] >= det["scores"][1:]).all()
        assert det["masks"].min() >= 0 and det["masks"].max() <= 1


def test_eval_accepts_a_batch_tensor(model):
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    assert len(out) == 2 and out[0]["masks"].shape[-2:] == (64, 64)


def test_train_returns_scalar_losses(model, sample):
    data = [sample(64, [(1, 20, 20, 8), (2, 44, 40, 10)], seed=0), sample(80, [(3, 40, 40, 12)], seed=1)]
    losses = model([d[0] for d in data], [d[1] for d in data])
    assert set(losses) == LOSS_KEYS
    for name, value in losses.items():
        assert value.ndim == 0 and value.dtype == torch.float32 and math.isfinite(value.item()), name
    sum(losses.values()).backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]  # every layer trains


def test_empty_targets_train(model, sample):
    empty = sample(64, [], seed=2)
    full = sample(64, [(1, 30, 30, 10)], seed=3)
    for batch in ([empty, full], [empty]):
        losses = model([b[0] for b in batch], [b[1] for b in batch])
        assert set(losses) == LOSS_KEYS
        assert all(math.isfinite(v.item()) for v in losses.values())
        model.zero_grad()
        sum(losses.values()).backward()


def test_with_its_mask_branch_removed_it_trains_on_boxes_and_labels(model, sample):
    """torchvision's RoIHeads without a mask branch (has_mask() False) is a Faster R-CNN: it
    trains without masks, as torchvision's own check_targets allows."""
    image, target = sample(64, [(1, 20, 20, 8)])
    model.roi_heads.mask_roi_pool = model.roi_heads.mask_head = model.roi_heads.mask_predictor = None
    boxes_only = {"boxes": target["boxes"], "labels": target["labels"]}
    losses = model([image], [boxes_only])
    assert set(losses) == LOSS_KEYS - {"loss_mask"}
    with pytest.raises(InputError, match="lacks labels; .* boxes and labels \\(its mask branch is removed\\)"):
        model([image], [{"boxes": target["boxes"]}])
    with pytest.raises(InputError, match=r"\['masks'\] must have shape"):  # masks given are still checked
        model([image], [{**target, "masks": target["masks"][:, :32]}])
    model.eval()
    assert set(model([image])[0]) == {"boxes", "labels", "scores"}


def test_losses_fall_on_a_tiny_batch(model, sample):
    data = [sample(64, [(1, 20, 20, 8), (2, 44, 40, 10)], seed=0), sample(64, [(2, 30, 34, 12)], seed=1)]
    images, targets = [d[0] for d in data], [d[1] for d in data]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(20):
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    assert sum(history[-3:]) / 3 < 0.6 * history[0], history


def test_one_channel_images(sample):
    model = maskrcnn_mini(num_classes=2, in_chans=1)
    image, target = sample(64, [(1, 30, 30, 10)])
    target["labels"][:] = 1
    losses = model([image[:1]], [target])
    assert set(losses) == LOSS_KEYS
    model.eval()
    with torch.no_grad():
        assert model([image[:1]])[0]["masks"].shape[1:] == (1, 64, 64)


def test_normalisation_follows_in_chans():
    assert maskrcnn_mini(in_chans=5).transform.image_mean == [0.5] * 5
    with pytest.raises(ValueError, match="one value per channel"):
        maskrcnn_mini(in_chans=1, image_mean=[0.4, 0.4, 0.4])
    with pytest.raises(ValueError, match="background"):
        maskrcnn_mini(num_classes=1)


@pytest.mark.parametrize("kwargs, problem", [
    ({"num_classes": 1}, "num_classes counts the background"), ({"num_classes": 2.0}, "num_classes"),
    ({"num_classes": "3"}, "num_classes"), ({"in_chans": 0}, "in_chans must be an int >= 1"),
    ({"in_chans": -3}, "in_chans must be an int >= 1"),
    ({"widths": (8, 16, 32, 64)}, "three backbone stages"), ({"anchor_sizes": (8, 16, 32)}, "four"),
])
def test_bad_build_arguments_are_a_zoo_error_naming_the_argument(kwargs, problem):
    # Before, in_chans=0 built a model that failed at its first forward pass, and num_classes=2.0
    # or "3" gave raw TypeErrors from deep inside torch.
    with pytest.raises(zoo.ZooError, match=problem):
        zoo.create("maskrcnn_mini", **kwargs)


def test_weights_round_trip_through_zoo_create(model, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file(model.state_dict(), str(path))
    loaded = zoo.create("maskrcnn_mini", weights=path)  # built on the meta device, then assigned
    model.eval()
    image = torch.rand(3, 64, 64)
    with torch.no_grad():
        a, b = model([image])[0], loaded([image])[0]
    for key in a:
        torch.testing.assert_close(a[key], b[key])


@pytest.mark.parametrize("images, message", [
    ([], "empty list"),
    ([torch.rand(1, 64, 64)], "image 0: expected 3 input channels, got 1"),
    ([torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)], "floating-point"),
    ([torch.rand(1, 3, 64, 64)], "must be 3-D"),
    ([torch.rand(64, 64)], "must be 3-D"),
    ([torch.rand(3, 64, 64), "image.png"], "image 1 must be a torch.Tensor"),
    (torch.rand(3, 64, 64), "list of"),
    ([torch.rand(3, 4, 64)], "at least"),
])
def test_bad_images_raise_input_error(model, images, message):
    model.eval()
    with pytest.raises(InputError, match=message):
        model(images)


def test_bad_targets_raise_input_error(model, sample):
    image, target = sample(64, [(1, 20, 20, 8)])
    with pytest.raises(InputError, match="needs targets"):
        model([image])
    with pytest.raises(InputError, match="one target dict per image"):
        model([image, image], [target])
    with pytest.raises(InputError, match="lacks masks"):
        model([image], [{"boxes": target["boxes"], "labels": target["labels"]}])
    with pytest.raises(InputError, match=r"\[1, 3\]"):
        model([image], [{**target, "labels": torch.tensor([4])}])
    with pytest.raises(InputError, match=r"\[1, 3\] \(0 is the background"):  # would train as background
        model([image], [{**target, "labels": torch.tensor([0])}])
    with pytest.raises(InputError, match=r"\(1, H, W\)"):
        model([image], [{**target, "masks": target["masks"][:, :32]}])
    with pytest.raises(InputError, match="no width or height"):
        model([image], [{**target, "boxes": torch.tensor([[10.0, 10.0, 10.0, 20.0]])}])
    with pytest.raises(InputError, match=r"\['labels'\] must be an int64"):
        model([image], [{**target, "labels": torch.tensor([True])}])
    with pytest.raises(InputError, match=r"\['boxes'\] must be a float"):
        model([image], [{**target, "boxes": target["boxes"].long()}])
    with pytest.raises(ValueError):  # InputError is a ValueError too
        model([image], [{**target, "boxes": target["boxes"][:, :2]}])


def test_masks_that_are_not_binary_raise_input_error_and_binary_ones_of_any_dtype_train(model, sample):
    """0/255 masks (an image file's) trained to a loss_mask of -845 without a word."""
    image, target = sample(64, [(1, 20, 20, 8)])
    model.train()
    for masks, says in ((target["masks"].to(torch.uint8) * 255, "from 0 to 255"),
                        (target["masks"].float() * 3, "an instance-id map")):
        with pytest.raises(InputError, match=rf"\['masks'\] must be binary .*{says}"):
            model([image], [{**target, "masks": masks}])
    for dtype in (torch.bool, torch.uint8, torch.float32):
        losses = model([image], [{**target, "masks": target["masks"].to(dtype)}])
        assert losses["loss_mask"].item() >= 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_boxes_raise_input_error(model, sample, bad):
    # NaN compares False with everything, so the width/height check alone lets it through and
    # training returns NaN losses.
    image, target = sample(64, [(1, 20, 20, 8)])
    boxes = target["boxes"].clone()
    boxes[0, 1 if bad != bad else 2] = bad
    with pytest.raises(InputError, match=r"target 0\['boxes'\] has a non-finite coordinate"):
        model([image], [{**target, "boxes": boxes}])


def test_the_documented_configuration(model):
    """The module docstring's (and, where it keeps them, the paper's) choices."""
    rpn, heads = model.rpn, model.roi_heads
    # RPN: anchors 8..64 px, one size per level, ratios 0.5/1/2; IoU >= 0.7 positive, < 0.3
    # negative; 64 anchors per image, half positive at most; NMS at 0.7
    assert rpn.anchor_generator.sizes == ((8,), (16,), (32,), (64,))
    assert rpn.anchor_generator.aspect_ratios == ((0.5, 1.0, 2.0),) * 4
    assert (rpn.proposal_matcher.high_threshold, rpn.proposal_matcher.low_threshold) == (0.7, 0.3)
    assert (rpn.fg_bg_sampler.batch_size_per_image, rpn.fg_bg_sampler.positive_fraction) == (64, 0.5)
    assert rpn.nms_thresh == 0.7
    assert rpn._pre_nms_top_n == {"training": 600, "testing": 300}
    assert rpn._post_nms_top_n == {"training": 300, "testing": 100}
    # RoI heads: IoU >= 0.5 foreground; 128 RoIs per image, a quarter foreground at most;
    # Fast R-CNN's box coding (10, 10, 5, 5)
    assert (heads.proposal_matcher.high_threshold, heads.proposal_matcher.low_threshold) == (0.5, 0.5)
    assert (heads.fg_bg_sampler.batch_size_per_image, heads.fg_bg_sampler.positive_fraction) == (128, 0.25)
    assert heads.box_coder.weights == (10.0, 10.0, 5.0, 5.0)
    assert (heads.score_thresh, heads.nms_thresh, heads.detections_per_img) == (0.05, 0.5, 50)
    # RoIAlign: 7x7 boxes and 14x14 masks from the stride-4/8/16 levels, a 64 px box at stride 16
    for pool, size in ((heads.box_roi_pool, 7), (heads.mask_roi_pool, 14)):
        assert pool.featmap_names == ["0", "1", "2"] and pool.output_size == (size, size)
        assert (pool.sampling_ratio, pool.canonical_scale, pool.canonical_level) == (2, 64, 4)
    assert model.transform.image_mean == [0.5] * 3 and model.transform.image_std == [0.25] * 3
    assert model.transform.size_divisible == 32


def test_backbone_strides_and_head_shapes(model):
    model.eval()
    with torch.no_grad():
        features = model.backbone(torch.rand(1, 3, 64, 64))
        assert {k: tuple(v.shape[1:]) for k, v in features.items()} == {
            "0": (48, 16, 16), "1": (48, 8, 8), "2": (48, 4, 4), "pool": (48, 2, 2)}  # strides 4, 8, 16, 32
        # the RoI pooling reads the levels at the strides the backbone declares: they are these
        assert tuple(64 // features[str(i)].shape[-1] for i in range(3)) == model.backbone.STRIDES
        assert model.roi_heads.box_roi_pool.scales == [1 / s for s in model.backbone.STRIDES]
        representation = model.roi_heads.box_head(torch.randn(5, 48, 7, 7))
        assert representation.shape == (5, 128) and representation.min() >= 0  # fc6, fc7, each with ReLU
        mask_features = model.roi_heads.mask_head(torch.rand(5, 48, 14, 14))
        assert mask_features.shape == (5, 48, 14, 14)
        assert model.roi_heads.mask_predictor(mask_features).shape == (5, 4, 28, 28)  # 28x28 mask logits
    mask_convs = [m for m in model.roi_heads.mask_head.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(m.kernel_size, m.out_channels) for m in mask_convs] == [((3, 3), 48)] * 2
    up = model.roi_heads.mask_predictor.conv5_mask  # the paper's 2x2 deconvolution, stride 2
    assert isinstance(up, torch.nn.ConvTranspose2d) and up.kernel_size == up.stride == (2, 2)
    groups = {m.num_groups for m in model.backbone.modules() if isinstance(m, torch.nn.GroupNorm)}
    assert groups == {8}


def test_one_size_batches_run_torchvisions_generalized_rcnn(model, sample):
    """With images of one size nothing is special: the losses and detections are torchvision's own."""
    from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

    data = [sample(64, [(1, 20, 20, 8), (2, 44, 40, 10)], seed=0), sample(64, [(3, 30, 34, 12)], seed=1)]
    images, targets = [d[0] for d in data], [d[1] for d in data]
    torch.manual_seed(1)
    ours = model(images, targets)
    torch.manual_seed(1)
    theirs = GeneralizedRCNN.forward(model, images, targets)
    assert set(ours) == set(theirs) == LOSS_KEYS
    for key in LOSS_KEYS:
        torch.testing.assert_close(ours[key], theirs[key], msg=key)
    model.eval()
    with torch.no_grad():
        for a, b in zip(model(images), GeneralizedRCNN.forward(model, images)):
            for key in ("boxes", "labels", "scores", "masks"):
                torch.testing.assert_close(a[key], b[key], msg=key)


def test_images_keep_their_size_unless_resize_to_is_set():
    batch, _ = maskrcnn_mini().eval().transform([torch.rand(3, 50, 37)])
    assert batch.image_sizes == [(50, 37)] and tuple(batch.tensors.shape[-2:]) == (64, 64)  # padded to 32
    batch, _ = maskrcnn_mini(resize_to=96).eval().transform([torch.rand(3, 64, 48)])
    assert batch.image_sizes == [(128, 96)]  # short side 96
    # printed, the model says so (it showed torchvision's "Resize(min_size=(1,), max_size=4)")
    assert "no resize" in repr(maskrcnn_mini().transform) and "Resize(min_size=(96,)" in repr(maskrcnn_mini(
        resize_to=96).transform)


def test_resized_images_get_boxes_and_masks_at_their_own_size():
    torch.manual_seed(0)
    model = maskrcnn_mini(resize_to=96).eval()
    image = torch.rand(3, 64, 48)
    with torch.no_grad():
        det = model([image])[0]
    n = len(det["boxes"])
    assert n > 0 and det["masks"].shape == (n, 1, 64, 48)
    assert (det["boxes"][:, 2] <= 48).all() and (det["boxes"][:, 3] <= 64).all()


def test_int32_labels_train(model, sample):
    # check_targets takes any integer labels; torch's losses need int64
    image, target = sample(64, [(1, 20, 20, 8), (2, 44, 40, 10)])
    losses = model([image], [{**target, "labels": target["labels"].int()}])
    assert set(losses) == LOSS_KEYS and all(math.isfinite(v.item()) for v in losses.values())
