"""maskrcnn_mini with its predictors swapped for torchvision's, as torchvision's fine-tuning
tutorial does: the label check follows the heads the model has now, and the tutorial's attribute
paths (``box_predictor.cls_score``, ``mask_predictor.conv5_mask``) exist."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

import zoo
from zoo.inputs import InputError
from zoo.testing.hub_fixture import source_hubcards
from zoo_detection.maskrcnn_mini import MaskPredictor, head_classes, maskrcnn_mini

SHIPPED = source_hubcards() / "maskrcnn_mini.shapes" / "model.safetensors"
needs_shipped = pytest.mark.skipif(not SHIPPED.is_file(), reason=f"{SHIPPED} is missing (the shipped card)")


def _finetune_heads(model, num_classes: int):
    """The tutorial's lines, verbatim apart from the mask head's width (256 there too)."""
    in_features = model.roi_heads.box_predictor.cls_score.in_features
    model.roi_heads.box_predictor = FastRCNNPredictor(in_features, num_classes)
    in_features_mask = model.roi_heads.mask_predictor.conv5_mask.in_channels
    hidden_layer = 256
    model.roi_heads.mask_predictor = MaskRCNNPredictor(in_features_mask, hidden_layer, num_classes)
    return model


def _train_steps(model, images, targets, steps: int = 2) -> dict[str, float]:
    model.train()
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    for _ in range(steps):
        losses = model(images, targets)
        optimiser.zero_grad()
        sum(losses.values()).backward()
        optimiser.step()
    return {k: v.item() for k, v in losses.items()}


@needs_shipped
def test_torchvision_finetuning_tutorial_with_more_classes(sample):
    # Before, the tutorial's conv5_mask line raised AttributeError, and labels 4 and 5 were refused
    # ("must lie in [1, 3]") because the check used the num_classes the model was built with.
    torch.manual_seed(0)
    model = _finetune_heads(zoo.create("maskrcnn_mini", weights=SHIPPED), num_classes=6)
    assert model.num_classes == 6
    data = [sample(64, [(5, 20, 20, 8), (4, 44, 44, 9)], seed=0), sample(64, [(1, 16, 44, 7), (2, 44, 18, 8)], seed=1)]
    images, targets = [d[0] for d in data], [d[1] for d in data]
    losses = _train_steps(model, images, targets)
    assert all(math.isfinite(v) for v in losses.values())
    assert model.roi_heads.mask_predictor.mask_fcn_logits.weight.grad is not None
    model.eval()
    with torch.no_grad():
        out = model(images)
    for det, image in zip(out, images):
        assert ((det["labels"] >= 1) & (det["labels"] <= 5)).all()
        assert det["masks"].shape == (len(det["labels"]), 1, *image.shape[-2:])


def test_shrunk_heads_bound_the_labels(sample):
    # Before, label 3 passed the check (built with 4 classes) and torch raised an IndexError.
    torch.manual_seed(0)
    model = _finetune_heads(maskrcnn_mini(), num_classes=3)
    image, target = sample(64, [(1, 20, 20, 8), (2, 44, 44, 9)])
    with pytest.raises(InputError, match=r"target 0\['labels'\] must lie in \[1, 2\].*num_classes=3"):
        model([image], [{**target, "labels": torch.tensor([1, 3])}])
    losses = _train_steps(model, [image], [target], steps=1)
    assert all(math.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        det = model([image])[0]
    assert ((det["labels"] >= 1) & (det["labels"] <= 2)).all()


def test_num_classes_follows_the_heads_and_says_so_when_set():
    model = maskrcnn_mini()
    with pytest.raises(AttributeError, match="num_classes follows the predictors .4 now.*replace roi_heads"):
        model.num_classes = 6


def test_predictors_that_disagree_bound_the_labels_by_the_smaller(sample):
    model = maskrcnn_mini()  # 4 classes
    model.roi_heads.box_predictor = FastRCNNPredictor(model.roi_heads.box_predictor.cls_score.in_features, 6)
    assert head_classes(model.roi_heads) == {"box predictor": 6, "mask predictor": 4}
    image, target = sample(64, [(5, 20, 20, 8)])
    with pytest.raises(InputError, match=r"must lie in \[1, 3\].*box predictor 6, mask predictor 4"):
        model([image], [target])


@needs_shipped
def test_mask_predictor_answers_to_torchvision_names_with_the_shipped_keys():
    predictor = MaskPredictor(48, 4)
    assert predictor.conv5_mask is predictor[0] and predictor.relu is predictor[1]
    assert predictor.mask_fcn_logits is predictor[2]
    assert list(predictor.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    predictor.mask_fcn_logits = torch.nn.Conv2d(48, 7, 1)  # replaces the layer forward() runs
    assert predictor(torch.rand(2, 48, 14, 14)).shape == (2, 7, 28, 28)
    with pytest.raises(AttributeError, match="conv6_mask"):
        predictor.conv6_mask
    del predictor.relu  # deletes the layer it names, as for a torchvision predictor
    assert list(predictor._modules) == ["0", "2"]

    # the shipped weights still load, every tensor bit for bit
    model = zoo.create("maskrcnn_mini", weights=SHIPPED)
    shipped, loaded = load_file(str(SHIPPED)), model.state_dict()
    assert set(shipped) == set(loaded)
    assert all(torch.equal(shipped[k], loaded[k]) for k in shipped)
