"""The list of conformance checks: one function per contract clause, shared by both front
ends (``zoo check`` and the pytest suite).

A check is a function ``check(subject) -> str | None`` that raises :class:`ContractViolation`
when the clause is broken, :class:`CheckSkipped` when it does not apply, and may return a
short note (e.g. "0 detections: box checks vacuous").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from zoo.testing.results import ContractViolation

MODEL, EXPLAINER = "model", "explainer"
BUILD_CHECK = "build"  # the model check the others need: after it fails, they skip (zoo.testing.runner)


@dataclass(frozen=True)
class Check:
    name: str
    kind: str                       # MODEL or EXPLAINER
    clause: str                     # the contract clause, as a reader would quote it
    func: Callable
    tasks: tuple[str, ...] | None   # model tasks it applies to; None: every task

    def applies_to(self, subject) -> bool:
        if subject.kind != self.kind:
            return False
        return self.tasks is None or bool(set(subject.tasks) & set(self.tasks))


_CHECKS: dict[str, Check] = {}


def check(name: str, kind: str, clause: str, tasks: tuple[str, ...] | None = None):
    """Register the decorated function as the check ``name`` of ``clause``."""

    def decorate(func: Callable) -> Callable:
        if name in _CHECKS:
            raise ValueError(f"conformance check {name!r} defined twice")
        _CHECKS[name] = Check(name, kind, clause, func, tasks)
        return func

    return decorate


def all_checks(kind: str | None = None) -> list[Check]:
    """Every check, in definition order (loading the modules that define them): registration
    first, then the generic ones, then the task-specific and pretrained-tag checks."""
    from zoo.testing import (  # noqa: F401 - importing registers the checks, in this order
        registration_checks,
        explainer_checks,
        model_checks,
        task_checks,
        pretrained_checks,
    )

    return [c for c in _CHECKS.values() if kind is None or c.kind == kind]


def get_check(name: str) -> Check:
    checks = {c.name: c for c in all_checks()}
    if name not in checks:
        raise KeyError(f"no conformance check {name!r}; known: {', '.join(checks)}")
    return checks[name]


def broken(detail: str) -> ContractViolation:
    """The violation a check raises; the runner fills in the check's clause."""
    return ContractViolation("", detail)
