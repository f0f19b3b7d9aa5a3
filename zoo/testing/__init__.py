"""The conformance suite: executable checks of the contract in DESIGN.md, for every registered
model and explainer, first-party or third-party.

One set of check functions, two front ends:

* ``zoo check NAME... | --all | --plugin DIST`` (``zoo.cli.check``), a pass/fail/skip table;
* pytest: ``pytest --zoo-check=NAME`` (the ``pytest11`` plugin in :mod:`zoo.testing.pytest_plugin`),
  or subclass :class:`ModelTests` / :class:`ExplainerTests` in your own test suite.

Importing this package does not import torch or pytest; the pytest classes load on first use.
"""

from __future__ import annotations

from zoo.testing.checks import Check, all_checks, get_check
from zoo.testing.results import FAIL, PASS, SKIP, CheckResult, CheckSkipped, ContractViolation
from zoo.testing.runner import checks_for, run_check, run_subjects
from zoo.testing.subjects import ExplainerSubject, ModelSubject, select

_PYTEST_NAMES = ("ModelTests", "ExplainerTests")


def __getattr__(name: str):
    if name in _PYTEST_NAMES:
        from zoo.testing import suite

        return getattr(suite, name)
    raise AttributeError(f"module 'zoo.testing' has no attribute {name!r}")


__all__ = [
    "Check", "CheckResult", "CheckSkipped", "ContractViolation", "ExplainerSubject",
    "ExplainerTests", "FAIL", "ModelSubject", "ModelTests", "PASS", "SKIP", "all_checks", "checks_for",
    "get_check", "run_check", "run_subjects", "select",
]
