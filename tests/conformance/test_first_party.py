"""`zoo check --all` over the project's own plugins: every installed first-party model and
explainer passes every check of its contract. Data-driven from the registry, so a new model or
explainer in plugins/ is checked without touching this file (timm/* is left out, as in --all)."""

from __future__ import annotations

import warnings

import pytest

from zoo.testing import FAIL, SKIP, run_subjects, select

FIRST_PARTY_PREFIX = "visionzoo-"


def _first_party_subjects():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        selection = select(all=True)
    return [s for s in selection.subjects if s.distribution.startswith(FIRST_PARTY_PREFIX)]


SUBJECTS = _first_party_subjects()


@pytest.mark.parametrize("subject", SUBJECTS, ids=[f"{s.kind}:{s.name}" for s in SUBJECTS])
def test_first_party_plugin_conforms(subject):
    results = run_subjects([subject])
    failures = [f"{r.check} [{r.clause}]\n    {r.message}" for r in results if r.status == FAIL]
    assert not failures, f"{subject.kind} {subject.name} ({subject.distribution}):\n  " + "\n  ".join(failures)
    unverified = [r.message for r in results if r.check == "coverage" and r.status == SKIP]
    assert not unverified, unverified  # all skips and no failure is not a pass for the project's own plugins


def test_every_first_party_plugin_is_checked():
    """Computed at import, an empty list would be one 'empty parameter set' skip, not a failure."""
    assert {s.distribution for s in SUBJECTS} >= {"visionzoo-classification", "visionzoo-segmentation",
                                                  "visionzoo-detection", "visionzoo-explainers"}


def test_first_party_plugins_load_cleanly():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        broken = [p for p in select(all=True).broken_plugins if p.distribution.startswith(FIRST_PARTY_PREFIX)]
    assert not broken, "; ".join(f"{p.distribution}: {p.errors}" for p in broken)
