"""The score_fn contract: a user's ``score_fn(output, classes) -> (N,)`` always sees the N rows of
one batch in image order, also for the methods that stack copies of the batch (SmoothGrad,
Integrated Gradients, RISE), whatever ``chunk_size`` is."""

import re

import pytest
import torch

import zoo
from zoo_explainers.targets import SegmentationClassSum, TargetError

STACKING = [("smoothgrad", dict(n_samples=4, seed=0)), ("integrated_gradients", dict(n_steps=4)),
            ("rise", dict(n_masks=8, seed=0))]
ALL = [("saliency", {}), ("gradcam", {}), ("guided_backprop", {})] + STACKING


def _region_masks():
    masks = torch.zeros(3, 12, 12, dtype=torch.bool)
    masks[0, :6] = True
    masks[1, 6:] = True
    masks[2, :, :4] = True
    return masks


@pytest.mark.parametrize("chunk_size", [3, 6, None, "auto"])
@pytest.mark.parametrize("method,options", STACKING)
def test_per_image_segmentation_mask_with_stacked_copies(method, options, chunk_size, segmenter, images):
    masks = _region_masks()
    maps = zoo.explain(segmenter, images, method=method, target=1, score_fn=SegmentationClassSum(masks),
                       chunk_size=chunk_size, **options)
    one_by_one = torch.cat([zoo.explain(segmenter, images[i:i + 1], method=method, target=1,
                                        score_fn=SegmentationClassSum(masks[i]), chunk_size=chunk_size, **options)
                            for i in range(3)])
    torch.testing.assert_close(maps, one_by_one, rtol=1e-4, atol=1e-6)
    assert maps.abs().flatten(1).amax(1).gt(0).all()


@pytest.mark.parametrize("method,options", ALL)
def test_custom_score_fn_sees_n_rows_in_image_order(method, options, gap_model, images):
    weights = torch.tensor([1.0, -1.0, 2.0])  # per-image data: only right if rows are images 0, 1, 2
    rows = []

    def weighted_logit(output, classes):
        rows.append(output.shape[0])
        return output.gather(1, classes[:, None])[:, 0] * weights[: output.shape[0]]

    extra = {"chunk_size": 6} if (method, options) in STACKING else {}  # two copies of the batch per pass
    maps = zoo.explain(gap_model, images, method=method, target=[0, 1, 2], score_fn=weighted_logit,
                       **options, **extra)
    assert set(rows) == {3}
    for i in range(3):
        w = weights[i]
        single = zoo.explain(gap_model, images[i:i + 1], method=method, target=i,
                             score_fn=lambda out, cls, w=w: out.gather(1, cls[:, None])[:, 0] * w, **options)
        torch.testing.assert_close(maps[i:i + 1], single, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method,options", ALL)
def test_score_fn_of_the_wrong_shape_is_a_target_error(method, options, gap_model, images):
    with pytest.raises(TargetError, match=r"score_fn must return one score per image.*\(3,\).*\(3, 1\)"):
        zoo.explain(gap_model, images, method=method, target=1, score_fn=lambda out, cls: out[:, :1], **options)


def test_mask_for_another_batch_size_is_a_target_error(segmenter, images):
    with pytest.raises(TargetError, match=r"mask of shape \(2, 12, 12\) does not fit a batch of 3"):
        zoo.explain(segmenter, images, method="saliency", target=1,
                    score_fn=SegmentationClassSum(torch.ones(2, 12, 12, dtype=torch.bool)))


@pytest.mark.parametrize("shape", [(6, 6), (12, 1)])  # (12, 1) would broadcast to one column repeated
def test_mask_of_another_size_than_the_output_is_a_target_error(shape, segmenter, images):
    with pytest.raises(TargetError, match=r"does not match the output's spatial size \(12, 12\)"):
        zoo.explain(segmenter, images, method="saliency", target=1,
                    score_fn=SegmentationClassSum(torch.ones(*shape, dtype=torch.bool)))


def test_with_its_own_score_fn_a_target_is_the_score_fns_to_read():
    """A depth model returning (N, H, W): target 45 was refused as "not a class index in [0, 40)"
    (40 is the image height), and None took the argmax over image rows as a class."""
    import torch
    from torch import nn

    import zoo
    from zoo_explainers.targets import TargetError

    class Depth(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 3, padding=1)

        def forward(self, x):
            return self.conv(x)[:, 0]  # (N, H, W)

    seen = []

    def mean_depth(output, classes):
        seen.append(classes.tolist())
        return output.flatten(1).mean(1)

    torch.manual_seed(0)
    model, images = Depth().eval(), torch.rand(2, 3, 40, 24)
    for method in ("saliency", "smoothgrad", "integrated_gradients"):
        maps = zoo.explain(model, images, method=method, target=45, score_fn=mean_depth)
        assert maps.shape == (2, 40, 24)
    assert seen and all(classes == [45, 45] for classes in seen)
    seen.clear()
    zoo.explain(model, images, method="saliency", score_fn=mean_depth)
    assert seen == [[0, 0]]
    with pytest.raises(TargetError, match="not a non-negative index"):
        zoo.explain(model, images, method="saliency", target=-1, score_fn=mean_depth)


def test_cam_refuses_a_target_its_head_has_no_row_for_even_with_a_score_fn(gap_model, images):
    """cam indexes the head's weights by the class: target 99 gave a bare IndexError."""
    from zoo_explainers.targets import TargetError

    with pytest.raises(TargetError, match=r"the head has 4; target\(s\) \[99\]"):
        zoo.explain(gap_model, images, method="cam", target=99, score_fn=lambda output, classes: output[:, 0])
    with pytest.raises(TargetError, match=r"the head has 4; target\(s\) \[4\]"):  # one past the last row
        zoo.explain(gap_model, images, method="cam", target=4, score_fn=lambda output, classes: output[:, 0])


@pytest.mark.parametrize("score_fn, says", [
    (SegmentationClassSum, "score_fn is the class SegmentationClassSum, not a score function: pass an instance"),
    (lambda output: output[:, 0], "cannot be called as score_fn(output, classes)"),
    ("logit", "score_fn must be a function score_fn(output, classes)"),
])
@pytest.mark.parametrize("method", [m for m, _ in ALL] + ["cam"])
def test_a_score_fn_that_cannot_be_one_is_refused_when_the_explainer_is_made(method, score_fn, says, gap_model):
    """A class or a one-argument function failed with a TypeError traceback at the first call."""
    from zoo_explainers.errors import OptionError

    with pytest.raises(OptionError, match=re.escape(says)):
        zoo.create_explainer(method, gap_model, score_fn=score_fn)


def test_a_callable_instance_and_a_function_with_extra_defaults_are_score_fns(gap_model, images):
    """Taken, and used: the gradients are those of the score each one computes."""
    def doubled_logit(output, classes, scale=2.0):
        return output.gather(1, classes[:, None])[:, 0] * scale

    class CountingLogit:
        calls = 0

        def __call__(self, output, classes):
            self.calls += 1
            return output.gather(1, classes[:, None])[:, 0]

    plain = zoo.explain(gap_model, images, method="saliency", target=0, normalize=False)
    counting = CountingLogit()
    torch.testing.assert_close(zoo.explain(gap_model, images, method="saliency", target=0, score_fn=counting,
                                           normalize=False), plain)
    assert counting.calls >= 1
    torch.testing.assert_close(zoo.explain(gap_model, images, method="saliency", target=0, score_fn=doubled_logit,
                                           normalize=False), 2 * plain)


def test_a_score_that_is_not_finite_is_refused(gap_model, images):
    """A noisy copy or a path point can overflow where the image did not: NaN scores gave NaN maps."""
    from zoo_explainers.errors import UnsupportedModelError

    def nan_logit(output, classes):
        return output.gather(1, classes[:, None])[:, 0] * float("nan")

    with pytest.raises(UnsupportedModelError, match=r"NaN or \+Inf"):
        zoo.explain(gap_model, images, method="saliency", target=1, score_fn=nan_logit)


def test_with_an_own_score_fn_no_target_still_explains_the_predicted_class(gap_model, images):
    explainer = zoo.create_explainer("saliency", gap_model, score_fn=lambda out, cls: out.gather(1, cls[:, None])[:, 0])
    explainer(images)
    assert explainer.last_classes.tolist() == gap_model(images).argmax(1).tolist()
    with pytest.raises(TargetError):  # an own score_fn reads any index, but a bool is none
        explainer(images, target=[True, False, True])


def test_with_an_own_score_fn_no_target_on_a_segmenter_is_the_class_covering_most_pixels(segmenter, images):
    with torch.no_grad():
        segmenter[-1].bias[2] += 1.0  # class 2 covers most pixels: not the zeros a non-logit output gets
    explainer = zoo.create_explainer("saliency", segmenter, score_fn=SegmentationClassSum())
    explainer(images)
    counts = torch.stack([torch.bincount(p.flatten(), minlength=3) for p in segmenter(images).argmax(1)])
    assert counts.argmax(1).ne(0).all()
    assert explainer.last_classes.tolist() == counts.argmax(1).tolist()


def test_the_faithfulness_curves_follow_a_given_regions_probability(segmenter, images):
    """A map explained over a given region (score_fn=SegmentationClassSum(mask)) could only be
    scored over the pixels predicted as its class, another region, or none at all (NaN)."""
    from zoo_explainers import faithfulness as fa

    masks, target = _region_masks(), [0, 1, 2]
    maps = zoo.explain(segmenter, images, method="saliency", target=target, score_fn=SegmentationClassSum(masks))
    curve = fa.perturbation_curve(segmenter, images, maps, target, steps=4, score_fn=SegmentationClassSum(masks))
    with torch.no_grad():
        probs = segmenter(images).softmax(1)
    untouched = [probs[n, c][masks[n]].mean() for n, c in enumerate(target)]  # nothing deleted yet
    torch.testing.assert_close(curve[:, 0], torch.stack(untouched))
    everywhere = fa.perturbation_curve(segmenter, images, maps, target, steps=4,
                                       score_fn=SegmentationClassSum(torch.ones(12, 12)))
    assert torch.isfinite(everywhere).all()
    torch.testing.assert_close(everywhere[:, 0], probs[torch.arange(3), target].mean((1, 2)))
    torch.testing.assert_close(fa.deletion_auc(segmenter, images, maps, target, steps=4,
                                               score_fn=SegmentationClassSum(masks)), fa.auc(curve))


def test_an_empty_given_region_gives_nan_and_the_metrics_refuse_other_score_fns(segmenter, gap_model, images):
    from zoo_explainers import faithfulness as fa
    from zoo_explainers.errors import OptionError
    from zoo_explainers.targets import EmptyTargetWarning

    masks = _region_masks()
    masks[1] = False
    with pytest.warns(EmptyTargetWarning, match=r"image\(s\) 1 \(class 0\), of 3.*AUCs are NaN"):
        aucs = fa.insertion_auc(segmenter, images, fa.random_maps(images), 0, steps=4,
                                score_fn=SegmentationClassSum(masks))
    assert aucs[1].isnan() and torch.isfinite(aucs[[0, 2]]).all()
    with pytest.raises(TargetError, match="does not match the output's spatial size"):
        fa.deletion_auc(segmenter, images, fa.random_maps(images), 0, score_fn=SegmentationClassSum(masks[:, :6]))
    for model, score_fn in ((gap_model, SegmentationClassSum()), (segmenter, lambda output, classes: output.sum())):
        with pytest.raises(OptionError, match="score_fn may only be a SegmentationClassSum"):
            fa.deletion_auc(model, images, fa.random_maps(images), 0, score_fn=score_fn)
