"""Each check fails the broken behaviour its clause names, right at the edge: an off-by-one label,
a gradient that is there but not finite, a defect seen only in train mode or only past image 0."""

from __future__ import annotations

import torch
import torch.nn as nn

import zoo
from zoo.testing import FAIL, PASS, ModelSubject, get_check, run_check


def _run(check, builder, task="semantic_segmentation", **spec):
    return run_check(get_check(check), ModelSubject(spec=zoo.ArchitectureSpec(
        name="subject", task=task, builder=builder, **spec)))


def _assert_fails(result, *says, check=""):
    """The check failed, and its message says each of ``says``."""
    assert result.status == FAIL and all(s in result.message for s in says), (check, result.message)


class _Segmenter(nn.Module):
    def __init__(self, num_classes=2, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, num_classes, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class _SqrtOffset(_Segmenter):
    """Adds sqrt(offset) with offset starting at 0: the output is finite, the gradient is inf."""

    def __init__(self, num_classes=2, in_chans=3):
        super().__init__(num_classes, in_chans)
        self.offset = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.conv(x) + self.offset.sqrt()


def test_a_non_finite_gradient_fails_gradients():
    result = _run("gradients", _SqrtOffset)
    _assert_fails(result, "non-finite gradients in offset")


class _FrozenStem(_Segmenter):
    """A frozen stem (requires_grad=False, as for a fine-tuned backbone): no gradient is its due."""

    def __init__(self, num_classes=2, in_chans=3):
        super().__init__(num_classes, in_chans)
        self.stem = nn.Conv2d(in_chans, in_chans, 1).requires_grad_(False)

    def forward(self, x):
        return self.conv(self.stem(x))


def test_frozen_parameters_are_not_asked_for_a_gradient():
    result = _run("gradients", _FrozenStem)
    assert result.status == PASS and result.message == "2 trainable tensors", result.message


class _AugmentsInPlaceWhenTraining(_Segmenter):
    """Adds noise to the caller's images in place, in train mode only."""

    def forward(self, x):
        if self.training:
            x.add_(0.1)
        return self.conv(x)


def test_an_input_modified_in_train_mode_only_fails_input_unchanged():
    result = _run("input_unchanged", _AugmentsInPlaceWhenTraining)
    _assert_fails(result, "a forward pass in train mode modified the input")


class _PoolsWhenExported(_Segmenter):
    """Returns pooled logits while torch.export traces it: the exported program's shape is wrong."""

    def forward(self, x):
        out = self.conv(x)
        return out.mean((2, 3), keepdim=True) if torch.compiler.is_exporting() else out


def test_an_exported_program_of_another_shape_is_named_by_its_shapes():
    result = _run("export", _PoolsWhenExported)
    assert result.status == FAIL, result.message
    assert "exported program disagrees with eager: exported tensor (1, 2, 1, 1)" in result.message, result.message


class _ExportFails(_Segmenter):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.export refuses it
            return self.conv(x)
        return -self.conv(x)


def test_the_export_check_gives_torchs_loggers_back_as_it_found_them():
    """It mutes torch's loggers while exporting; a pytest session must not stay muted after it."""
    import logging

    loggers = [logging.getLogger("torch")] + [logger for name, logger in logging.Logger.manager.loggerDict.items()
                                              if name.startswith("torch.") and isinstance(logger, logging.Logger)]
    was = {logger.name: logger.disabled for logger in loggers}
    assert _run("export", _ExportFails).status == FAIL
    assert _run("export", _Segmenter).status == PASS
    assert {logger.name: logger.disabled for logger in loggers} == was


class _SpatialLogits(nn.Module):
    """A classifier whose logits come out as (N, K, 1, 1)."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, num_classes, 3, padding=1)

    def forward(self, x):
        return self.conv(x).mean((2, 3), keepdim=True)


def test_classification_logits_of_another_rank_fail_classification_output():
    result = _run("classification_output", _SpatialLogits, task="classification")
    _assert_fails(result, "gave tensor (1, 3, 1, 1) float32; expected (1, 3)")


class _Detector(nn.Module):
    """torchvision's detection contract, with two detections per image; subclasses break one part."""

    label_dtype = torch.int64

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.num_classes = num_classes
        self.conv = nn.Conv2d(in_chans, 1, 1)

    def boxes(self, h, w):
        # the second box reaches past min(h, w): boxes are (x1, y1, x2, y2), x along the width
        return torch.tensor([[1.0, 2.0, w / 2, h / 2], [0.0, 0.0, w - 1.0, h - 1.0]])

    def labels(self):
        return torch.tensor([1, self.num_classes - 1], dtype=self.label_dtype)

    def losses(self, images):
        return {"loss": sum(self.conv(image[None]).mean() for image in images)}

    def detections(self, images):
        return [self.detection(*image.shape[-2:]) for image in images]

    def detection(self, h, w):
        return {"boxes": self.boxes(h, w), "labels": self.labels(), "scores": torch.tensor([0.9, 0.5]),
                "masks": torch.zeros(2, 1, h, w)}

    def forward(self, images, targets=None):
        return self.losses(images) if self.training else self.detections(images)


def _run_detector(check, builder):
    return _run(check, builder, task="instance_segmentation", defaults={"num_classes": 3},
                export="torchvision detection contract")


def test_a_well_behaved_detector_passes_with_boxes_wider_than_the_image_is_high():
    for check in ("num_classes", "detection_eval", "detection_train", "detection_empty_targets", "input_unchanged"):
        result = _run_detector(check, _Detector)
        assert result.status == PASS, (check, result.message)


class _MasksFromAHalfSizeMap(_Detector):
    """Masks upsampled 2x from a stride-2 map: right on even sizes, one pixel too many on odd ones."""

    def detection(self, h, w):
        return {**super().detection(h, w), "masks": torch.zeros(2, 1, 2 * ((h + 1) // 2), 2 * ((w + 1) // 2))}


def test_masks_one_pixel_off_on_an_odd_size_fail_detection_eval():
    _assert_fails(_run_detector("detection_eval", _MasksFromAHalfSizeMap), "image 0 (65x81)", "masks")


class _BoxesToFractionsInPlace(_Detector):
    """Divides the caller's target boxes by the image size, in place, in train mode."""

    def forward(self, images, targets=None):
        if self.training:
            for image, target in zip(images, targets):
                h, w = image.shape[-2:]
                target["boxes"] /= torch.tensor([w, h, w, h])
        return super().forward(images, targets)


def test_targets_changed_in_place_fail_input_unchanged():
    _assert_fails(_run_detector("input_unchanged", _BoxesToFractionsInPlace),
                  "a forward pass in train mode modified the caller's targets (targets[0]['boxes']: max abs")


class _LabelK(_Detector):
    """Labels one past the last class: K itself."""

    def labels(self):
        return torch.tensor([1, self.num_classes], dtype=self.label_dtype)


def test_a_detector_returning_label_k_fails_num_classes_and_detection_eval():
    result = _run_detector("num_classes", _LabelK)
    _assert_fails(result, "built with num_classes=7, eval returned label 7")
    result = _run_detector("detection_eval", _LabelK)
    _assert_fails(result, "labels [1, 3] outside [0, 3)")


class _Int32Labels(_Detector):
    label_dtype = torch.int32


def test_int32_labels_fail_detection_eval():
    result = _run_detector("detection_eval", _Int32Labels)
    _assert_fails(result, "labels are torch.int32, expected torch.int64")


class _ReversedBox(_Detector):
    """A box inside the image whose corners are given the wrong way round (x2 < x1)."""

    def boxes(self, h, w):
        return torch.tensor([[10.0, 2.0, 5.0, h / 2], [0.0, 0.0, w - 1.0, h - 1.0]])


def test_a_box_with_x2_before_x1_fails_detection_eval():
    result = _run_detector("detection_eval", _ReversedBox)
    _assert_fails(result, "box [10.0, 2.0, 5.0, ", "is not inside the image")


class _NaNLoss(_Detector):
    def losses(self, images):
        return {"loss": super().losses(images)["loss"] * float("nan")}


def test_a_nan_loss_fails_detection_train():
    result = _run_detector("detection_train", _NaNLoss)
    _assert_fails(result, "loss 'loss' is nan")


class _VectorLoss(_Detector):
    def losses(self, images):
        return {"loss": super().losses(images)["loss"].reshape(1)}


def test_a_loss_that_is_no_scalar_fails_detection_train():
    result = _run_detector("detection_train", _VectorLoss)
    _assert_fails(result, "loss 'loss' is tensor (1,)", "expected a scalar tensor")


class _FirstImageOnly(_Detector):
    def detections(self, images):
        return super().detections(images)[:1]


def test_one_dict_for_two_images_fails_detection_eval():
    result = _run_detector("detection_eval", _FirstImageOnly)
    _assert_fails(result, "2 images gave list", "expected a list of 2 dicts")


class _IntegerLogits(_SpatialLogits):
    def forward(self, x):
        return (super().forward(x).flatten(1) * 100).long()


def test_integer_logits_fail_classification_output():
    result = _run("classification_output", _IntegerLogits, task="classification")
    _assert_fails(result, "logits must be floating point, got torch.int64")


class _FirstImageForAll(_SpatialLogits):
    """Computes image 0 and repeats its logits for the whole batch."""

    def forward(self, x):
        return super().forward(x[:1]).flatten(1).expand(len(x), -1)


def test_a_batch_whose_later_images_are_wrong_fails_classification_output():
    result = _run("classification_output", _FirstImageForAll, task="classification")
    _assert_fails(result, "image 1's output in the batch differs from its output alone")


class _BatchCentred(_Segmenter):
    """Subtracts the batch's mean image in eval mode too: each image's logits depend on the others."""

    def forward(self, x):
        return self.conv(x - x.mean(0, keepdim=True) + 0.5)


def test_a_segmenter_mixing_the_images_of_a_batch_fails_segmentation_output():
    result = _run("segmentation_output", _BatchCentred)
    _assert_fails(result, "input (3, 3, 33, 47): image 0's output in the batch differs")


# Explainers: gradient saliency that honours the contract; each subclass breaks one clause.

def _targets(target, logits):
    if target is None:
        return logits.argmax(1)
    targets = torch.as_tensor(target if isinstance(target, list) else [target] * len(logits))
    if len(targets) != len(logits):
        raise ValueError(f"{len(targets)} targets for {len(logits)} images")
    return targets


class _Saliency:
    normalize = False

    def __init__(self, model, **kwargs):
        self.model = model

    def gradient(self, images, target):
        x = images.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model(x)
            targets = _targets(target, logits)
            (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), x)
        return grad

    def __call__(self, images, target=None):
        return self.gradient(images, target).abs().amax(1)


def _explainer_result(check, builder):
    from zoo.testing import ExplainerSubject

    subject = ExplainerSubject(spec=zoo.ExplainerSpec(name="subject", builder=builder, tasks=("classification",)))
    return run_check(get_check(check), subject)


def test_the_saliency_the_next_tests_break_passes():
    for check in ("explainer_output", "explainer_determinism", "explainer_batch", "explainer_targets",
                  "explainer_hooks", "explainer_state", "explainer_no_grad"):
        result = _explainer_result(check, _Saliency)
        assert result.status == PASS, (check, result.message)


class _HalfSize(_Saliency):
    def __call__(self, images, target=None):
        return super().__call__(images, target)[:, ::2, ::2]


def test_maps_not_at_the_input_size_fail_explainer_output():
    result = _explainer_result("explainer_output", _HalfSize)
    _assert_fails(result, "maps (3, 17, 23), expected (3, 33, 45)")


class _NumpyMaps(_Saliency):
    def __call__(self, images, target=None):
        return super().__call__(images, target).numpy()


def test_numpy_maps_fail_explainer_output_saying_how_to_convert():
    _assert_fails(_explainer_result("explainer_output", _NumpyMaps),
                  "maps are a ndarray, expected a torch.Tensor of shape (3, 33, 45) (return torch.from_numpy(maps))")


class _Attached(_Saliency):
    def __call__(self, images, target=None):
        return super().__call__(images, target) * self.model.fc.weight.sum() ** 0


def test_maps_carrying_a_graph_fail_explainer_output():
    result = _explainer_result("explainer_output", _Attached)
    _assert_fails(result, "maps carry an autograd graph")


class _UnseededNoise(_Saliency):
    """SmoothGrad drawing its noise from a generator of its own, seeded from the clock."""

    def __call__(self, images, target=None):
        import time

        noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(time.perf_counter_ns()))
        return super().__call__(images + 0.1 * noise, target)


def test_noise_outside_torchs_rng_fails_explainer_determinism():
    result = _explainer_result("explainer_determinism", _UnseededNoise)
    _assert_fails(result, "two calls under torch.manual_seed(0) differ")


class _OwnGeneratorUnlessSeeded(_Saliency):
    """SmoothGrad with its own generator: seeded by its seed= option, else from the clock."""

    def __init__(self, model, seed=None, **kwargs):
        super().__init__(model, **kwargs)
        self.seed = seed

    def __call__(self, images, target=None):
        import time

        seed = self.seed if self.seed is not None else time.perf_counter_ns()
        noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
        return super().__call__(images + 0.1 * noise, target)


def test_noise_reproducible_only_through_its_seed_option_fails_explainer_determinism():
    """It passed ("reproducible with seed="), then failed explainer_targets and explainer_no_grad,
    blamed on target handling and no_grad: those compare calls under torch.manual_seed."""
    result = _explainer_result("explainer_determinism", _OwnGeneratorUnlessSeeded)
    _assert_fails(result, "it is reproducible only with seed=; with seed=None draw noise from torch's RNG")


class _SeededByDefault(_OwnGeneratorUnlessSeeded):
    """SmoothGrad whose own generator has a fixed default seed: reproducible, but its noise is drawn
    for the whole batch, so an image's map in a batch is not its map alone."""

    def __init__(self, model, seed=0, **kwargs):
        super().__init__(model, seed=seed, **kwargs)

    def __call__(self, images, target=None):
        noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(self.seed))
        return _Saliency.__call__(self, images + 0.02 * noise, target)


def test_noise_fixed_by_a_default_seed_option_is_compared_as_noise_in_batches():
    """Unchanged by torch's seed, it was taken for deterministic and its batch maps compared exactly
    (off by 0.03), where noise explainers are compared by correlation."""
    for check in ("explainer_determinism", "explainer_batch"):
        result = _explainer_result(check, _SeededByDefault)
        assert result.status == PASS, (check, result.message)
    assert "stochastic" in _explainer_result("explainer_batch", _SeededByDefault).message


class _OptionsToEachCall(_Saliency):
    """Deterministic; its builder takes **options and hands them to each call, which takes none:
    a seed= the suite slipped in made every call raise."""

    def __init__(self, model, **options):
        super().__init__(model)
        self.options = options

    def __call__(self, images, target=None):
        return super().__call__(images, target, **self.options)


def test_a_builder_not_declaring_seed_is_never_given_one():
    for check in ("explainer_determinism", "explainer_batch"):
        result = _explainer_result(check, _OptionsToEachCall)
        assert result.status == PASS, (check, result.message)


class _NormalisedByTheBatch(_Saliency):
    """Divides by the batch's mean, not each map's: an image's map depends on the others."""

    def __call__(self, images, target=None):
        maps = super().__call__(images, target)
        return maps / maps.mean()


def test_maps_normalised_over_the_batch_fail_explainer_batch_and_explainer_targets():
    result = _explainer_result("explainer_batch", _NormalisedByTheBatch)
    _assert_fails(result, "map in a batch of 3 differs from its map alone")
    result = _explainer_result("explainer_targets", _NormalisedByTheBatch)
    _assert_fails(result, "changing image 1's target ([0, 0, 0] -> [0, 1, 0]) changed image 0's map")


class _FirstTargetForAll(_Saliency):
    """Given a list of targets, explains the first one for every image."""

    def __call__(self, images, target=None):
        if isinstance(target, list):
            _targets(target, images[:, 0, 0, :1])  # the length is still checked
            target = target[0]
        return super().__call__(images, target)


def test_per_sample_targets_applied_as_one_fail_explainer_batch():
    result = _explainer_result("explainer_batch", _FirstTargetForAll)
    _assert_fails(result, "target=[0, 3, 1]")


class _RejectsOnlyTooFewTargets(_Saliency):
    def __call__(self, images, target=None):
        if isinstance(target, list) and len(target) > len(images):
            target = target[:len(images)]
        return super().__call__(images, target)


def test_a_target_list_longer_than_the_batch_must_be_refused_too():
    result = _explainer_result("explainer_targets", _RejectsOnlyTooFewTargets)
    _assert_fails(result, "target=[0, 0, 0, 0] (4 targets) was accepted")


class _NoneIsClassZero(_Saliency):
    def __call__(self, images, target=None):
        return super().__call__(images, 0 if target is None else target)


def test_target_none_must_mean_the_predicted_class():
    result = _explainer_result("explainer_targets", _NoneIsClassZero)
    _assert_fails(result, "target=None differs from target=predicted classes")


class _SwallowsErrors(_Saliency):
    """Returns empty maps when the model raises, hiding the user's error."""

    def __call__(self, images, target=None):
        try:
            return super().__call__(images, target)
        except Exception:  # noqa: BLE001
            return torch.zeros(images.shape[0], *images.shape[2:])


def test_an_explainer_hiding_the_models_error_fails_explainer_hooks_and_state():
    for check in ("explainer_hooks", "explainer_state"):
        result = _explainer_result(check, _SwallowsErrors)
        _assert_fails(result, "a call with the model raising in its forward pass: the model was made to raise, yet "
                              "the explainer returned maps", check=check)


class _RestoresOnlyTheRootsFlag(_Saliency):
    def __call__(self, images, target=None):
        was = self.model.training
        self.model.eval()
        try:
            return super().__call__(images, target)
        finally:
            self.model.train(was)


def test_restoring_only_the_roots_training_flag_fails_explainer_state():
    result = _explainer_result("explainer_state", _RestoresOnlyTheRootsFlag)
    _assert_fails(result, "training flag changed on features.0 (was True)")


class _RequiresGradEverywhere(_Saliency):
    """Turns requires_grad on for every parameter, and "restores" it by turning it on again."""

    def __call__(self, images, target=None):
        for p in self.model.parameters():
            p.requires_grad_(True)
        return super().__call__(images, target)


def test_a_frozen_parameter_left_trainable_fails_explainer_state():
    result = _explainer_result("explainer_state", _RequiresGradEverywhere)
    _assert_fails(result, "requires_grad changed on features.0.weight (was False)")


class _BackpropagatesIntoTheCallersTensor(_Saliency):
    """Uses the caller's tensor as the leaf when it already requires grad, filling its .grad."""

    def __call__(self, images, target=None):
        if not images.requires_grad:
            return super().__call__(images, target)
        with torch.enable_grad():
            logits = self.model(images)
            logits.gather(1, _targets(target, logits)[:, None]).sum().backward()
        return images.grad.abs().amax(1).detach().clone()


def test_an_input_that_requires_grad_must_come_back_without_a_grad():
    result = _explainer_result("explainer_state", _BackpropagatesIntoTheCallersTensor)
    _assert_fails(result, "input with requires_grad=True: the input's .grad changed (was None)")


class _HooksTheCallersTensor(_Saliency):
    """Watches the gradient through a hook on the caller's tensor when it requires grad, and leaves it."""

    def __call__(self, images, target=None):
        if images.requires_grad:
            images.register_hook(lambda grad: grad)
        return super().__call__(images, target)


def test_a_hook_left_on_the_callers_tensor_fails_explainer_state():
    result = _explainer_result("explainer_state", _HooksTheCallersTensor)
    _assert_fails(result, "input with requires_grad=True: 1 hook(s) left on the input tensor")


class _ZerosUnderNoGrad(_Saliency):
    def __call__(self, images, target=None):
        if not torch.is_grad_enabled():
            return torch.zeros(images.shape[0], *images.shape[2:])
        return super().__call__(images, target)


def test_maps_that_change_under_no_grad_fail_explainer_no_grad():
    result = _explainer_result("explainer_no_grad", _ZerosUnderNoGrad)
    _assert_fails(result, "maps under torch.no_grad() differ from maps outside it")


class _PartlyUnsorted(_Detector):
    """Scores sorted but for one pair: [0.9, 0.5, 0.7]."""

    def detection(self, h, w):
        out = super().detection(h, w)
        return {"boxes": torch.cat([out["boxes"], out["boxes"][:1]]),
                "labels": torch.cat([out["labels"], out["labels"][:1]]), "scores": torch.tensor([0.9, 0.5, 0.7]),
                "masks": torch.cat([out["masks"], out["masks"][:1]])}


def test_scores_out_of_order_in_one_place_fail_detection_eval():
    result = _run_detector("detection_eval", _PartlyUnsorted)
    _assert_fails(result, "image 0 (65x81): scores are not sorted in descending order")


class _NormalisesOnlyThePredictedClass(_Saliency):
    """Says it normalises, but only the target=None path does."""

    normalize = True

    def __call__(self, images, target=None):
        maps = super().__call__(images, target)
        if target is None:
            return maps / maps.amax((1, 2), keepdim=True)
        return maps * 10 / maps.amax((1, 2), keepdim=True)


def test_maps_for_a_given_target_are_checked_too():
    result = _explainer_result("explainer_output", _NormalisesOnlyThePredictedClass)
    _assert_fails(result, "target=1: normalised maps span [")


class _ClearsEveryForwardHook(_Saliency):
    """"Cleans up" by clearing every module's forward hooks, the user's own among them."""

    def __call__(self, images, target=None):
        try:
            return super().__call__(images, target)
        finally:
            for module in self.model.modules():
                module._forward_hooks.clear()


def test_removing_a_users_hook_fails_explainer_hooks():
    result = _explainer_result("explainer_hooks", _ClearsEveryForwardHook)
    _assert_fails(result, "1 pre-existing hook(s) removed from module features.0 _forward_hooks")


class _SwitchesATrainingModelToEval(_Saliency):
    """Explains a model in train mode in eval mode, and leaves it there."""

    def __call__(self, images, target=None):
        if self.model.training:
            self.model.eval()
        return super().__call__(images, target)


def test_a_model_in_train_mode_must_stay_in_train_mode():
    result = _explainer_result("explainer_state", _SwitchesATrainingModelToEval)
    _assert_fails(result, "reference model (train mode), after a call: training flag changed")


def test_a_sanity_check_opt_out_is_a_skip_that_gives_the_reason():
    from zoo.testing import SKIP, ExplainerSubject

    subject = ExplainerSubject(spec=zoo.ExplainerSpec(name="subject", builder=_Saliency, tasks=("classification",),
                                                      sanity_check="edge detector: ignores the weights"))
    result = run_check(get_check("explainer_sanity"), subject)
    assert result.status == SKIP and result.message == "spec declares it fails: edge detector: ignores the weights", \
        result.message


class _Crashes(_Saliency):
    def __call__(self, images, target=None):
        raise RuntimeError("boom")


def test_an_explainer_that_always_raises_fails_the_hygiene_checks_too():
    for check in ("explainer_hooks", "explainer_state"):
        result = _explainer_result(check, _Crashes)
        _assert_fails(result, "raised RuntimeError: boom", check=check)


def test_a_run_narrowed_to_skipped_checks_adds_no_nothing_verified_row():
    """NOTHING VERIFIED is said of a subject whose every check skipped; a run asking for some checks
    only (zoo check --checks, -k) does not know that."""
    from zoo.testing import SKIP, run_subjects

    subject = ModelSubject(spec=zoo.ArchitectureSpec(name="subject", task="semantic_segmentation",
                                                     builder=_Segmenter, export="not exportable"))
    results = run_subjects([subject], ["export"])
    assert [(r.check, r.status) for r in results] == [("export", SKIP)]


def test_a_check_gets_a_private_copy_of_the_model_so_its_changes_do_not_reach_the_next_check():
    subject = ModelSubject(spec=zoo.ArchitectureSpec(name="subject", task="semantic_segmentation",
                                                     builder=_Segmenter))
    assert run_check(get_check("gradients"), subject).status == PASS  # trains: mode, .grad
    model = subject.model()
    assert model.training and all(p.grad is None for p in model.parameters())
    model.eval()
    assert subject.model().training


class _BlindInEval(_Segmenter):
    """Ignores its input in eval mode: every image gets the output of a black one."""

    def forward(self, x):
        return self.conv(x if self.training else torch.zeros_like(x))


class _SmallLogits(nn.Module):
    """A GAP + linear classifier with logits below 0.4 (a random timm resnet18's are about 0.1),
    whose images leak into each other by 5% of the batch mean. On images of noise alone its logits
    differ so little between images that the leak stayed inside the comparison's tolerance."""

    def __init__(self, num_classes=4, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)
        with torch.no_grad():
            self.fc.weight.mul_(0.3)

    def forward_features(self, x):
        return self.conv(x).relu()

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        y = self.fc(self.forward_features(x).mean((2, 3)))
        return y + 0.05 * y.mean(0)


def test_a_model_blind_in_eval_mode_is_a_skip_saying_the_output_comparisons_verified_nothing():
    from zoo.testing import SKIP

    blind = _run("input_dependence", _BlindInEval)
    assert blind.status == SKIP and blind.message.startswith("NOTHING VERIFIED by the output comparisons"), blind
    assert "eval_determinism" in blind.message
    seeing = _run("input_dependence", _Segmenter)
    assert seeing.status == PASS and "outputs differ by up to" in seeing.message, seeing.message


def test_a_five_percent_batch_leak_in_small_logits_fails_classification_output():
    torch.manual_seed(0)
    result = _run("classification_output", _SmallLogits, task="classification")
    _assert_fails(result, "differs from its output alone")
