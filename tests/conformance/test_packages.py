"""The suite accepts a well-behaved third-party package and rejects a contract-breaking one,
naming the broken clause. Both packages are pip-installed into private site directories."""

from __future__ import annotations

import pytest

from zoo.testing import FAIL, PASS, SKIP, get_check, run_check, run_subjects, select


def _subject(name):
    (subject,) = select([name]).subjects
    return subject


def test_good_package_passes_every_check(plugin_packages):
    plugin_packages("conformance-good")
    selection = select(plugins=["zoo-conformance-good"])
    assert {s.name for s in selection.subjects} == {
        "good_segmenter", "good_classifier", "good_maskrcnn", "good_cam", "good_saliency", "good_smoothgrad"}
    results = run_subjects(selection.subjects)
    failures = [f"{r.subject} {r.check}: {r.message}" for r in results if r.status == FAIL]
    assert not failures, "\n".join(failures)
    by_key = {(r.subject, r.check): r for r in results}
    export = by_key["model good_maskrcnn", "export"]
    assert export.status == SKIP and "data-dependent" in export.message
    assert by_key["model good_segmenter", "export"].status == PASS
    assert by_key["model good_segmenter", "segmentation_output"].status == PASS
    assert by_key["model good_segmenter", "pretrained_builds"].message == "2 configuration(s) built for 2 tag(s)"
    assert by_key["model good_maskrcnn", "detection_empty_targets"].status == PASS
    assert "stochastic" in by_key["explainer good_smoothgrad", "explainer_determinism"].message
    ran = {r.check for r in results if r.status == PASS}
    # the package ships no card, so the card checks have nothing to compare or load
    assert ran >= {c.name for c in __import__("zoo.testing").testing.all_checks()} - {"pretrained_tags",
                                                                                    "pretrained_weights"}


BROKEN = [
    ("half_segmenter", "segmentation_output", "semantic_segmentation: (N, C, H, W) -> logits (N, K, H, W)",
     "input (1, 3, 33, 47) gave tensor (1, 3, 17, 24)"),
    ("headless_classifier", "classification_features", "forward_features(x) returns the unpooled features",
     "has no forward_features() and no get_classifier()"),
    ("stubborn_classifier", "num_classes", "num_classes given to the builder", "expected dimension 1 to be 7"),
    ("idle_segmenter", "gradients", "every trainable parameter", "got no gradient: unused.weight, unused.bias"),
    ("unsorted_maskrcnn", "detection_eval", "scores (R,) sorted descending", "not sorted in descending order"),
    ("forgetful_segmenter", "safetensors_roundtrip", "bit-identical eval outputs",
     "is some state (a tensor attribute, a non-persistent buffer set at random) missing"),
    ("untagged_segmenter", "pretrained_tags", "pretrained tags are well formed", "sha256 None must be"),
    ("leaky_explainer", "explainer_hooks", "hooks live only during one call", "1 hook(s) left on module features"),
    ("blind_explainer", "explainer_sanity", "model-randomisation sanity check", "mean Spearman rank correlation 1.00"),
    ("blind_explainer", "explainer_targets", "each image's target is honoured", "its target was ignored"),
    ("messy_explainer", "explainer_state", "training flags", ".grad changed on"),
    ("lenient_explainer", "explainer_targets", "a list of the wrong length is rejected",
     "targets) was accepted; it must raise"),
    ("mutating_classifier", "input_unchanged", "forward leaves its input as it was",
     "a forward pass in eval mode modified the input tensor in place (input: max abs difference"),
    ("noisy_segmenter", "eval_determinism", "the same input gives the same output", "two eval passes"),
    ("noisy_segmenter", "safetensors_roundtrip", "bit-identical eval outputs",
     "it is not deterministic in eval mode (see eval_determinism)"),
    ("first_only_segmenter", "segmentation_output", "batch 3 where each image's logits equal its logits alone",
     "input (3, 3, 33, 47) gave tensor (1, 3, 33, 47) float32; expected (3, 3, 33, 47)"),
    ("batchmix_classifier", "classification_output", "each image's logits in a batch equal its logits alone",
     "image 0's output in the batch differs from its output alone"),
    ("tagged_segmenter", "pretrained_builds", "each pretrained tag's configuration builds",
     "tagged_segmenter.toy: building with {'num_classes': 5, 'in_chans': 3, 'width': 16} and running it raised "
     "TypeError"),
    ("quiet_xywh_maskrcnn", "detection_eval", "boxes (R, 4) inside the image", "is not inside the image"),
    ("patching_explainer", "explainer_hooks", "no forward replaced on an instance",
     "forward set on the instance of module features and left there"),
    ("tolerant_segmenter", "in_chans", "in_chans given to the builder sets the number of input channels",
     "the first convolution (Conv2d) takes 3 channels (3 with in_chans=3): its width does not grow with C"),
    ("blind_seg_explainer", "explainer_targets", "the class whose pixels are explained changes the maps",
     "the maps for target=0 to 2 are all the same"),
    ("two_faced_segmenter", "export", "exported program matches eager", "max abs difference"),
    ("fragile_explainer", "explainer_hooks", "also after a call that raised",
     "after a call with the model raising in its forward pass: 1 hook(s) left on module features"),
    ("careless_explainer", "explainer_state", "also after a call that raised",
     "after a call with the model raising in its forward pass: requires_grad"),
    ("grad_leaking_explainer", "explainer_no_grad", "grad mode stays disabled",
     "grad mode was left enabled inside torch.no_grad()"),
    ("overflowing_explainer", "explainer_output", "in [0, 1] when the explainer normalises",
     "normalised maps span [0, 2], expected within [0, 1]"),
    ("dividing_explainer", "explainer_output", "finite (no NaN) on a constant model",
     "reference model with constant output: maps are not finite"),
    ("detached_maskrcnn", "detection_train", "dict of finite scalar losses",
     "no loss requires grad, nothing to train"),
    ("objects_required_maskrcnn", "detection_empty_targets", "give finite losses",
     "targets without objects raised ValueError: every image needs at least one box"),
    ("mask_logits_maskrcnn", "detection_eval", "masks", "mask values outside [0, 1]"),
]


@pytest.mark.parametrize("name, check, clause, detail", BROKEN, ids=[f"{n}-{c}" for n, c, *_ in BROKEN])
def test_bad_package_is_rejected_naming_the_clause(plugin_packages, name, check, clause, detail):
    plugin_packages("conformance-bad")
    result = run_check(get_check(check), _subject(name))
    assert result.status == FAIL, result
    assert clause in result.clause
    assert detail in result.message


def test_a_model_writing_into_its_input_fails_only_input_unchanged(plugin_packages):
    """The in-place edit is named once, by its own check; the checks that compare outputs feed
    each pass a fresh copy, so they do not misreport it as nondeterminism or missing state."""
    plugin_packages("conformance-bad")
    results = run_subjects([_subject("mutating_classifier")])
    assert {r.check for r in results if r.status == FAIL} == {"input_unchanged"}


def test_bad_package_also_passes_what_it_keeps(plugin_packages):
    """A broken clause does not drag the others down: the half-size segmenter still builds,
    round-trips and exports, and only segmentation_output fails."""
    plugin_packages("conformance-bad")
    results = run_subjects([_subject("half_segmenter")])
    assert {r.check for r in results if r.status == FAIL} == {"segmentation_output"}


def test_explicit_export_opt_out_is_a_skip_with_reason(plugin_packages):
    plugin_packages("conformance-bad")
    result = run_check(get_check("export"), _subject("unsorted_maskrcnn"))
    assert result.status == SKIP and result.message == "spec opts out: torchvision detection heads"


def test_zero_detections_are_a_skip_not_a_pass(plugin_packages):
    plugin_packages("conformance-bad")
    result = run_check(get_check("detection_eval"), _subject("empty_maskrcnn"))
    assert result.status == SKIP, result
    assert result.message.startswith("0 detections: the output's structure was checked"), result.message


def test_an_explainer_whose_every_check_skips_is_reported_as_unverified(plugin_packages):
    plugin_packages("conformance-bad")
    results = run_subjects([_subject("instance_only_explainer")])
    assert results[0].check == "explainer_registration" and results[0].status == PASS
    assert {r.status for r in results[1:-1]} == {SKIP}
    assert results[1].message == ("this check needs a reference model for classification or semantic_segmentation, "
                                  "and the explainer declares only instance_segmentation")
    coverage = results[-1]
    assert coverage.check == "coverage" and coverage.status == SKIP  # the suite's gap, not the plugin's fault
    assert coverage.message.startswith("NOTHING VERIFIED: every check of what it does was skipped")


def test_a_head_that_is_more_than_get_classifier_is_not_a_silent_pass(plugin_packages):
    plugin_packages("conformance-bad")
    subject = _subject("mlphead_classifier")
    assert run_check(get_check("classification_features"), subject).status == PASS
    result = run_check(get_check("classification_cam_head"), subject)
    assert result.status == SKIP and "CAM through get_classifier() is approximate" in result.message
