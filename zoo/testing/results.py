"""What a conformance check reports: a violation names the contract clause it broke."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.errors import ZooError

PASS, FAIL, SKIP = "pass", "fail", "skip"


class ContractViolation(ZooError, AssertionError):
    """A model or explainer does not do what its task's contract says.

    Derives from AssertionError so pytest reports it as a test failure, not an error.
    """

    def __init__(self, clause: str, detail: str) -> None:
        self.clause = clause
        self.detail = detail
        super().__init__(f"[{clause}] {detail}")


class CheckSkipped(ZooError):
    """A check does not apply (or is opted out by the spec); the message says why."""


@dataclass(frozen=True)
class CheckResult:
    """One check run on one subject (a model or an explainer)."""

    subject: str
    check: str
    status: str  # PASS, FAIL or SKIP
    message: str = ""
    clause: str = ""
    seconds: float = 0.0
    # A failure every later check of the subject would repeat (the model does not build, a builder
    # cannot be imported): those checks are skipped, pointing here (zoo.testing.runner).
    blocking: bool = False

    @property
    def failed(self) -> bool:
        return self.status == FAIL
