"""explainer_sanity on segmentation: the suite trains a reference segmenter, so an explainer of
segmentation alone gets the model-randomisation check too (before, it was skipped)."""

from __future__ import annotations

import torch

import zoo
from zoo.testing import FAIL, PASS, ExplainerSubject, get_check, run_check
from zoo.testing.reference import (SEGMENTATION_CLASSES, segmentation_labels, square_scenes, trained_segmenter)

SEGMENTATION = ("semantic_segmentation",)


def _sanity(builder):
    spec = zoo.ExplainerSpec(name="subject", builder=builder, tasks=SEGMENTATION)
    return run_check(get_check("explainer_sanity"), ExplainerSubject(spec=spec))


class _Brightness:
    """Ignores the model: the map is the image's brightness, whatever the weights."""

    def __init__(self, model, **kwargs):
        self.model = model

    def __call__(self, images, target=None):
        maps = images.detach().mean(1)
        lo, hi = maps.amin((1, 2), keepdim=True), maps.amax((1, 2), keepdim=True)
        return (maps - lo) / (hi - lo)


class _BrightnessOfPredictedTargets(_Brightness):
    """Ignores the weights wherever the model predicts the target class at all; returns an empty map
    (rightly, for a segmenter) where it predicts none."""

    def __call__(self, images, target=None):
        with torch.no_grad():
            predicted = self.model(images).argmax(1)
        present = torch.stack([(predicted[i] == t).any() for i, t in enumerate(target)])
        return super().__call__(images) * present.view(-1, 1, 1)


def test_the_reference_segmenter_labels_the_squares():
    x, labels, masks = square_scenes(64, seed=3)
    with torch.no_grad():
        predicted = trained_segmenter()(x)
    assert predicted.shape == (64, SEGMENTATION_CLASSES, 32, 32)
    assert (predicted.argmax(1) == segmentation_labels(labels, masks))[masks].float().mean() > 0.9


def test_a_segmentation_explainer_blind_to_the_weights_fails():
    result = _sanity(_Brightness)
    assert result.status == FAIL, result.message
    assert "semantic_segmentation reference model: maps barely change" in result.message


def test_empty_maps_where_the_randomised_model_predicts_no_target_do_not_pass_it():
    # A re-initialised segmenter mostly predicts one class everywhere; the check uses only scenes
    # where it predicts the target somewhere, so the comparison is never of an empty map.
    result = _sanity(_BrightnessOfPredictedTargets)
    assert result.status == FAIL, result.message
    assert "maps barely change" in result.message


def test_a_segmentation_only_gradcam_passes():
    result = _sanity(lambda model, **kw: zoo.create_explainer("gradcam", model, **kw))
    assert result.status == PASS and "semantic_segmentation" in result.message, result.message


def test_the_reference_models_train_also_when_first_asked_for_under_no_grad():
    from zoo.testing import reference

    reference._trained_classifier.cache_clear()
    reference._trained_segmenter.cache_clear()
    with torch.no_grad():
        reference.trained_classifier()
        reference.trained_segmenter()
