"""explainer_targets judges a correct explainer correct whatever maps two classes happen to share.

Grad-CAM's ReLU gives an all-zero map for a class the image shows no evidence for, so two such
classes give the same map without the target being ignored. The reference classifier is trained by
the suite, and which classes end up evidence-free for its images varies with torch's version and
thread count: the check must not depend on it.
"""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.testing.checks import ContractViolation
from zoo.testing.explainer_checks import BATCH, SIZE, _classification_targets, _segmentation_targets
from zoo.testing.reference import fresh_classifier, fresh_segmenter, square_images
from zoo.testing.tensors import images


def test_two_classes_with_empty_grad_cam_maps_are_not_a_target_ignored():
    model = fresh_classifier(0).eval()
    with torch.no_grad():
        weight = model.fc.weight.abs()
        weight[0] *= -1  # the features are non-negative (after a ReLU), so classes 0 and 3 get
        weight[3] *= -1  # negative class maps everywhere: Grad-CAM's ReLU leaves zeros
        model.fc.weight.copy_(weight)
    x = square_images(BATCH, *SIZE, seed=5)[0]
    explainer = zoo.create_explainer("gradcam", model)
    maps = {c: explainer(x, target=[0, c, 0])[1] for c in range(4)}
    assert maps[0].abs().max() == 0 and torch.equal(maps[0], maps[3])
    assert maps[1].max() == 1

    _classification_targets(explainer, model, x)  # raises if it calls the target ignored


def test_two_classes_no_pixel_is_predicted_as_are_not_a_target_ignored():
    model = fresh_segmenter(0)
    with torch.no_grad():
        model.classifier.bias[1] = 100.0  # every pixel is class 1: classes 0 and 2 explain no pixel
    x = images(BATCH, 3, *SIZE, seed=5)
    explainer = zoo.create_explainer("gradcam", model)
    assert torch.equal(explainer(x, target=0), explainer(x, target=2))

    _segmentation_targets(explainer, model, x)


@pytest.mark.parametrize("task", ["classification", "segmentation"])
def test_a_target_ignoring_explainer_is_still_caught(task):
    model, x = ((fresh_classifier(0).eval(), square_images(BATCH, *SIZE, seed=5)[0]) if task == "classification"
                else (fresh_segmenter(0), images(BATCH, 3, *SIZE, seed=5)))
    gradcam = zoo.create_explainer("gradcam", model)

    def blind(images, target=None):
        return gradcam(images, target=None)

    with pytest.raises(ContractViolation, match="target was ignored|target class was ignored"):
        if task == "classification":
            _classification_targets(blind, model, x)
        else:
            _segmentation_targets(blind, model, x)


class _NaNOnFirstImage:
    """Gradient saliency that honours its targets, but whose first image's map is NaN."""

    normalize = False

    def __init__(self, model, **kwargs):
        self.model = model

    def __call__(self, images, target=None):
        import torch

        x = images.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model(x)
            if target is None:
                target = logits.argmax(1).tolist()
            targets = torch.as_tensor(target if isinstance(target, list) else [target] * len(x))
            if len(targets) != len(x):
                raise ValueError(f"{len(targets)} targets for {len(x)} images")
            grad, = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), x)
        maps = grad.abs().amax(1)
        maps[0] = float("nan")
        return maps


def test_nan_maps_are_blamed_on_nan_not_on_the_clause_a_check_compares():
    # Before: explainer_targets said "changing image 1's target changed image 0's map" and
    # explainer_batch "differs by up to nan": NaN != NaN.
    import zoo
    from zoo.testing import FAIL, ExplainerSubject, get_check, run_check

    subject = ExplainerSubject(spec=zoo.ExplainerSpec(name="nan_maps", builder=_NaNOnFirstImage,
                                                      tasks=("classification",)))
    output = run_check(get_check("explainer_output"), subject)
    assert output.status == FAIL and "non-finite values" in output.message, output.message
    for name in ("explainer_targets", "explainer_batch", "explainer_determinism"):
        result = run_check(get_check(name), subject)
        assert result.status == FAIL and "see explainer_output" in result.message, (name, result.message)


class _ScalesItsInput:
    """Correct maps, but it scales the caller's images in place."""

    normalize = False

    def __init__(self, model, **kwargs):
        self.model = model

    def __call__(self, images, target=None):
        images.mul_(0.5)
        return images.detach().abs().amax(1).clone()


def test_an_explainer_that_changes_its_input_is_told_so_by_the_determinism_check():
    # Before, the second call saw other images, and the message said to draw noise from torch's RNG.
    import zoo
    from zoo.testing import FAIL, ExplainerSubject, get_check, run_check

    subject = ExplainerSubject(spec=zoo.ExplainerSpec(name="in_place", builder=_ScalesItsInput,
                                                      tasks=("classification",)))
    result = run_check(get_check("explainer_determinism"), subject)
    assert result.status == FAIL and "changed its input in place" in result.message, result.message
