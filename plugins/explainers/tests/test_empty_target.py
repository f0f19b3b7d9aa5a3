"""A segmentation target with no pixel in an image: the maps stay zeros (pytorch-grad-cam does the
same) but an EmptyTargetWarning names the images; the faithfulness metrics give NaN for them
instead of a 'perfect' deletion AUC of 0, and evaluate leaves them out."""

import warnings

import pytest
import torch

import zoo
from zoo_explainers import faithfulness as fa
from zoo_explainers.targets import EmptyTargetWarning, SegmentationClassSum, TargetError, predicted_classes

METHODS = [("saliency", {}), ("gradcam", {}), ("gradcam_pp", {}), ("hirescam", {}), ("guided_backprop", {}),
           ("smoothgrad", dict(n_samples=3, seed=0)), ("integrated_gradients", dict(n_steps=4)),
           ("rise", dict(n_masks=8, seed=0))]
ABSENT = 2


@pytest.fixture
def never_class_2(segmenter):
    with torch.no_grad():
        segmenter[-1].bias[ABSENT] = -100.0  # class 2 is predicted on no pixel of any image
    return segmenter


def _targets(model, images):
    present = int(predicted_classes(model(images))[1])
    assert present != ABSENT
    return [ABSENT, present, ABSENT]


@pytest.mark.parametrize("method,options", METHODS)
def test_absent_class_gives_zero_maps_and_a_warning_naming_the_images(method, options, never_class_2, images):
    target = _targets(never_class_2, images)
    with pytest.warns(EmptyTargetWarning, match=r"empty in image\(s\) 0 \(class 2\), 2 \(class 2\), of 3") as record:
        maps = zoo.explain(never_class_2, images, method=method, target=target, **options)
    assert len([w for w in record if issubclass(w.category, EmptyTargetWarning)]) == 1
    assert maps[0].abs().max() == 0 and maps[2].abs().max() == 0
    assert maps[1].abs().max() > 0


def test_one_image_is_not_given_an_index(never_class_2, images):
    """"image(s) 0 (class 2), of 1" told a caller explaining one image nothing an index could add."""
    with pytest.warns(EmptyTargetWarning, match=r"empty in the image \(class 2\): ") as record:
        zoo.explain(never_class_2, images[:1], method="gradcam", target=ABSENT)
    assert "image(s)" not in str(record[0].message)


@pytest.mark.parametrize("method,options", [("saliency", {}), ("smoothgrad", dict(n_samples=3, seed=0)),
                                            ("rise", dict(n_masks=8, seed=0))])
def test_an_empty_given_mask_warns(method, options, segmenter, images):
    masks = torch.ones(3, 12, 12, dtype=torch.bool)
    masks[1] = False
    with pytest.warns(EmptyTargetWarning, match=r"image\(s\) 1 \(class 0\), of 3"):
        zoo.explain(segmenter, images, method=method, target=0, score_fn=SegmentationClassSum(masks), **options)


def test_present_classes_and_classifiers_do_not_warn(segmenter, gap_model, images):
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptyTargetWarning)
        zoo.explain(segmenter, images, method="gradcam", target=None)
        zoo.explain(gap_model, images, method="smoothgrad", target=None, n_samples=2)
        fa.deletion_auc(gap_model, images, fa.random_maps(images), None, steps=4)


@pytest.mark.parametrize("metric", [fa.deletion_auc, fa.insertion_auc])
def test_faithfulness_metrics_give_nan_for_images_without_a_region(metric, never_class_2, images):
    target = _targets(never_class_2, images)
    with pytest.warns(EmptyTargetWarning, match=r"0 \(class 2\), 2 \(class 2\).*AUCs are NaN"):
        scores = metric(never_class_2, images, fa.random_maps(images), target, steps=4)
    assert scores[0].isnan() and scores[2].isnan()
    assert torch.isfinite(scores[1])


def test_evaluate_leaves_out_images_without_a_region(never_class_2, images):
    target = _targets(never_class_2, images)
    with pytest.warns(EmptyTargetWarning, match="left out of this evaluation"):
        report, = fa.evaluate(never_class_2, images, ["saliency"], target, steps=4, n_random=1, n_randomizations=1)
    only = fa.evaluate(never_class_2, images[1:2], ["saliency"], target[1:2], steps=4, n_random=1,
                       n_randomizations=1)[0]
    assert report == only
    with pytest.raises(TargetError, match="no image of the batch has a pixel predicted as its target class"):
        fa.evaluate(never_class_2, images, ["saliency"], ABSENT, steps=4, n_random=1, n_randomizations=1)
