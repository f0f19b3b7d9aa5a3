"""Segmenters laid out as torchvision's: a dict ``{"out": logits, "aux": logits}``, the auxiliary
head computed last (in eval mode too). The explainers explain ``"out"``, and the CAM family's
automatic layer is on the way to it, not the auxiliary head that merely ran last."""

import pytest
import torch
from torch import nn

import zoo
from zoo_explainers.faithfulness import deletion_auc
from zoo_explainers.layers import LayerError

METHODS = ["gradcam", "gradcam_pp", "hirescam", "saliency", "smoothgrad", "integrated_gradients",
           "guided_backprop", "rise"]
FAST = {"smoothgrad": {"n_samples": 4, "seed": 0}, "integrated_gradients": {"n_steps": 8},
        "rise": {"n_masks": 40, "seed": 0}}


class AuxSegmenter(nn.Module):
    """torchvision's segmentation layout in miniature: backbone, classifier, then aux_classifier."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU(inplace=True))
        self.classifier = nn.Conv2d(8, num_classes, 1)
        self.aux_classifier = nn.Conv2d(8, num_classes, 1)

    def forward(self, x):
        features = self.backbone(x)
        size = x.shape[-2:]
        out = nn.functional.interpolate(self.classifier(features), size=size, mode="bilinear", align_corners=False)
        aux = nn.functional.interpolate(self.aux_classifier(features), size=size, mode="bilinear",
                                        align_corners=False)
        return {"out": out, "aux": aux}


class OutOnly(nn.Module):
    """The wrapper pytorch-grad-cam's segmentation tutorial writes: forward returns ``["out"]``
    (the auxiliary head still runs, last)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


@pytest.fixture
def aux_segmenter():
    torch.manual_seed(0)
    return AuxSegmenter().eval()


@pytest.fixture
def seg_images():
    return torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))


def _present_class(model, images):
    """A class each image predicts on some pixels, so the maps are not empty."""
    with torch.no_grad():
        predicted = model(images)["out"].argmax(1)
    return [int(p.flatten().bincount().argmax()) for p in predicted]


@pytest.mark.parametrize("method", METHODS)
def test_a_dict_output_is_explained_on_its_out_tensor(method, aux_segmenter, seg_images):
    target = _present_class(aux_segmenter, seg_images)
    maps = zoo.explain(aux_segmenter, seg_images, method=method, target=target, **FAST.get(method, {}))
    wrapped = zoo.explain(OutOnly(aux_segmenter), seg_images, method=method, target=target, **FAST.get(method, {}))
    assert maps.shape == (2, 16, 16) and maps.abs().sum() > 0
    torch.testing.assert_close(maps, wrapped)


@pytest.mark.parametrize("model", [lambda m: m, OutOnly], ids=["dict", "wrapped"])
def test_the_automatic_layer_leads_to_the_output_not_the_auxiliary_head(model, aux_segmenter, seg_images):
    """The aux head ran last, so it was chosen, and the explanation then blamed the model's forward."""
    explainer = zoo.create_explainer("gradcam", model(aux_segmenter))
    maps = explainer(seg_images, target=_present_class(aux_segmenter, seg_images))
    assert explainer.layer_name.endswith("classifier") and "aux" not in explainer.layer_name
    assert maps.abs().sum() > 0


def test_a_target_layer_the_output_does_not_use_is_named(aux_segmenter, seg_images):
    explainer = zoo.create_explainer("gradcam", aux_segmenter, target_layer="aux_classifier")
    with pytest.raises(LayerError, match="does not depend on the target layer aux_classifier.*target_layer="):
        explainer(seg_images, target=0)


def test_faithfulness_reads_the_out_tensor(aux_segmenter, seg_images):
    target = _present_class(aux_segmenter, seg_images)
    maps = zoo.explain(aux_segmenter, seg_images, method="gradcam", target=target)
    torch.testing.assert_close(deletion_auc(aux_segmenter, seg_images, maps, target=target, steps=8),
                               deletion_auc(OutOnly(aux_segmenter), seg_images, maps, target=target, steps=8))


def test_torchvision_fcn_equals_pytorch_grad_cam():
    """An independent reference on torchvision's own model, with its aux head: pytorch-grad-cam's
    SemanticSegmentationTarget over the pixels predicted as the class, on the layer we choose."""
    torchvision = pytest.importorskip("torchvision")
    pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    torch.manual_seed(0)
    model = torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=3,
                                                         aux_loss=True).eval()
    images = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        predicted = model(images)["out"].argmax(1)
    classes = [int(p.flatten().bincount().argmax()) for p in predicted]
    explainer = zoo.create_explainer("gradcam", model)
    maps = explainer(images, target=classes)
    assert explainer.layer_name == "classifier"
    targets = [SemanticSegmentationTarget(c, (p == c).float().numpy()) for c, p in zip(classes, predicted)]
    reference = GradCAM(model=OutOnly(model), target_layers=[model.classifier])(images, targets=targets)
    torch.testing.assert_close(maps, torch.from_numpy(reference), atol=1e-5, rtol=0)


class NumpyPreprocessing(nn.Module):
    """A forward that reads its input as NumPy first (a wrapper around an OpenCV-style step)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.from_numpy(x.numpy().clip(0, 1))
        return self.fc(self.body(x).mean((2, 3)))


def test_a_forward_that_cannot_be_traced_still_gets_a_layer_chosen_on_shapes(seg_images):
    """The traced layer search gave the model an input requiring grad, which x.numpy() refuses: the
    explanation failed before it started, where it had worked (only the captured map needs grad)."""
    torch.manual_seed(0)
    explainer = zoo.create_explainer("gradcam", NumpyPreprocessing().eval())
    assert explainer(seg_images, target=1).shape == (2, 16, 16)
    assert explainer.layer_name == "body"  # the last module to finish with a spatial output


def test_the_layer_search_saves_no_activations_for_a_backward_pass():
    """Traced with gradients, the search pass saved every op's tensors for a backward pass it never
    runs: 2-4x the peak memory of an explanation on one large image."""
    from zoo_explainers.layers import _probe

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    finished, nodes = _probe(model, torch.rand(1, 3, 8, 8), traced=True)
    assert [name for name, _, _ in finished] == ["0", "1"]
    conv = next(node for node in nodes if type(node).__name__ == "ConvolutionBackward0")
    with pytest.raises(RuntimeError, match="never differentiated"):
        conv._saved_input  # what a backward pass would need: never kept
