"""The registration checks: a spec tested before it is installed gets the registry's verdict, and
a name two installed plugins claim fails for both, under names that tell them apart."""

from __future__ import annotations

import torch.nn as nn

import zoo
from zoo.testing import FAIL, PASS, SKIP, ExplainerSubject, ModelSubject, get_check, run_check, select


def _segmenter(num_classes=2, in_chans=3):
    return nn.Conv2d(in_chans, num_classes, 1)


def test_an_uninstalled_spec_the_registry_would_reject_fails_registration():
    # Before, such a spec passed the generic checks and skipped every task check.
    for spec, problem in ((zoo.ArchitectureSpec(name="bad_task", task="segmentation", builder=_segmenter),
                           "task 'segmentation' is not one of"),
                          (zoo.ArchitectureSpec(name="bad.name", task="semantic_segmentation", builder=_segmenter),
                           "no dots")):
        result = run_check(get_check("registration"), ModelSubject(spec=spec))
        assert result.status == FAIL and problem in result.message, result.message
    result = run_check(get_check("registration"),
                       ModelSubject(spec=zoo.ArchitectureSpec(name="fine", task="semantic_segmentation",
                                                              builder=_segmenter)))
    assert result.status == PASS and "not installed" in result.message
    bad_tasks = zoo.ExplainerSpec(name="x", builder=lambda model: None, tasks="classification")
    result = run_check(get_check("explainer_registration"), ExplainerSubject(spec=bad_tasks))
    assert result.status == FAIL and "write ('classification',)" in result.message
    # the task checks skip naming the cause ("declares only c, l, a, s, s, ..." before)
    result = run_check(get_check("explainer_output"), ExplainerSubject(spec=bad_tasks))
    assert result.status == SKIP and "tasks is the string 'classification', not a tuple" in result.message


def test_a_name_two_plugins_claim_fails_registration_for_both_under_telling_labels(plugin_packages):
    plugin_packages("sample-plugin", "sample-duplicate")
    subjects = select(["sample_segmenter", "sample_ones"]).subjects
    assert sorted(s.label for s in subjects) == [
        "zoo-sample-duplicate:sample_ones", "zoo-sample-duplicate:sample_segmenter",
        "zoo-sample-plugin:sample_ones", "zoo-sample-plugin:sample_segmenter"]
    for subject in subjects:
        check = get_check("registration" if subject.kind == "model" else "explainer_registration")
        result = run_check(check, subject)
        assert result.status == FAIL and "AmbiguousNameError" in result.message, result.message
        other = "zoo-sample-duplicate" if subject.distribution == "zoo-sample-plugin" else "zoo-sample-plugin"
        assert other in result.message and subject.label in result.subject
    assert select(["sample_classifier"]).subjects[0].label == "sample_classifier"  # unique: unqualified


def test_a_name_one_distribution_claims_twice_is_said_to_clash_always(monkeypatch):
    """Not "for every user who has both installed": one package is enough."""
    import zoo.registry

    class Claim:
        @zoo.hookimpl
        def zoo_architectures(self):
            return [zoo.ArchitectureSpec("twice", "semantic_segmentation", _segmenter)]

    registry = zoo.registry.Registry()
    first = registry.register(Claim(), name="first", distribution="acme")
    registry.register(Claim(), name="second", distribution="acme")
    monkeypatch.setattr(zoo.registry, "_registry", registry)
    spec = registry.architecture_candidates("twice")[0][0]
    result = run_check(get_check("registration"), ModelSubject(spec=spec, plugin=first))
    assert result.status == FAIL and "raises AmbiguousNameError always (one distribution registers it twice)" \
        in result.message, result.message
    assert "'first:twice' picks this one" in result.message
