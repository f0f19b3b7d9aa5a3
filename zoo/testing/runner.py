"""Runs checks on subjects and turns every outcome into a :class:`CheckResult`."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import time
import traceback
import warnings
from typing import Callable, Iterable

from zoo.errors import BuilderError
from zoo.testing.checks import BUILD_CHECK, MODEL, Check, all_checks
from zoo.testing.registration_checks import REGISTRATION_CHECKS
from zoo.testing.results import FAIL, PASS, SKIP, CheckResult, CheckSkipped, ContractViolation


@contextlib.contextmanager
def _threads():
    """Run checks on ``$ZOO_CHECK_THREADS`` intra-op threads (default 1), then restore.

    The checks use tiny inputs, where extra threads buy little; on a shared or busy machine,
    OpenMP threads fighting for cores made the suite up to 7x slower in wall time.
    """
    import torch

    wanted = int(os.environ.get("ZOO_CHECK_THREADS", "1") or 1)
    previous = torch.get_num_threads()
    if wanted > 0 and wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


GLOBAL_STATE_CLAUSE = ("a model or explainer leaves torch's global state as found (grad and inference mode, "
                       "default dtype and device, deterministic algorithms, anomaly mode, global module hooks)")


COVERAGE_CLAUSE = "the suite can check it: at least one check of its kind and task runs (not all skipped)"


def run_check(check: Check, subject) -> CheckResult:
    """Run one check; never raises (a crash inside the model is a failure of the check's clause).

    torch's global state is put back after every check; a subject that changed it fails that
    check, so the change is blamed on it and not on whichever subject runs next."""
    from zoo import torch_state

    before = torch_state.snapshot()
    result = _run(check, subject)
    leftovers = torch_state.restore(before)
    if not leftovers:
        return result
    message = f"left torch's global state changed: {'; '.join(leftovers)} (the suite restored it)"
    if result.failed:
        message = f"{result.message}; also {message}"
    return CheckResult(result.subject, result.check, FAIL, message,
                       result.clause if result.failed else GLOBAL_STATE_CLAUSE, result.seconds,
                       blocking=result.blocking)  # a model that builds, leaving state changed, blocks nothing


#: checks that read the spec only (no model is built): a model that does not build blocks none of them
SPEC_CHECKS = (*REGISTRATION_CHECKS, "pretrained_tags")


def run_check_unless_blocked(check: Check, subject, blocked_by: CheckResult | None) -> CheckResult:
    """``check`` on ``subject``; a skip instead after a blocking failure of the subject (see
    :attr:`CheckResult.blocking`), which every later check would repeat (``zoo check`` and pytest
    both say so)."""
    if blocked_by is not None and check.name != blocked_by.check and check.name not in SPEC_CHECKS:
        why = ("the model does not build" if blocked_by.check == BUILD_CHECK
               else "its builder cannot be used")
        return CheckResult(f"{subject.kind} {subject.label}", check.name, SKIP,
                           f"{why} (see its {blocked_by.check} check)", check.clause)
    return run_check(check, subject)


def _run(check: Check, subject) -> CheckResult:
    start = time.perf_counter()
    label = f"{subject.kind} {subject.label}"
    try:
        with warnings.catch_warnings(), _threads():
            warnings.simplefilter("ignore")  # models' own warnings are not the suite's business
            note = check.func(subject)
    except CheckSkipped as exc:
        return CheckResult(label, check.name, SKIP, str(exc), check.clause, time.perf_counter() - start)
    except ContractViolation as exc:
        return CheckResult(label, check.name, FAIL, exc.detail, exc.clause or check.clause,
                           time.perf_counter() - start, blocking=_blocks(check, exc))
    except Exception as exc:  # noqa: BLE001 - the plugin's code raised: report where
        where = _plugin_frame(exc)
        notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))  # e.g. which reference model
        message = f"raised {type(exc).__name__}: {exc}{notes}" + (f" (at {where})" if where else "")
        message += _size_hint(exc, subject)
        diagnosis = _output_diagnosis(check, subject)
        if diagnosis:  # e.g. "'dict' object has no attribute 'shape'" means the output is no tensor
            message = f"{diagnosis} (the check {message})"
        return CheckResult(label, check.name, FAIL, message, check.clause, time.perf_counter() - start,
                           blocking=_blocks(check, exc))
    return CheckResult(label, check.name, PASS, note or "", check.clause, time.perf_counter() - start)


def _size_hint(exc: BaseException, subject) -> str:
    """For a classifier refusing the suite's small images through zoo.inputs: how to declare its
    size (segmenters have no such way: their contract is every size from 32 up)."""
    from zoo.inputs import InputError

    if getattr(subject, "task", None) != "classification" or not isinstance(exc, InputError) \
            or "expected images of at least" not in str(exc):
        return ""
    return ("; a model that needs larger images than the checks feed declares its sizes the timm way, on the "
            "model: pretrained_cfg = {'input_size': (C, H, W), 'min_input_size': (C, h, w)} (CONTRIBUTING.md, "
            "'What is checked')")


def _blocks(check: Check, exc: BaseException) -> bool:
    """Whether every later check would fail as this one did: the build check failed, or a builder
    cannot be imported or returns no Module (a BuilderError, also as what a check reports)."""
    return check.name == BUILD_CHECK or isinstance(exc, BuilderError) or isinstance(exc.__cause__, BuilderError)


def _output_diagnosis(check: Check, subject) -> str | None:
    if check.kind != MODEL or not hasattr(subject, "model"):
        return None
    from zoo.testing.model_checks import output_diagnosis

    with warnings.catch_warnings(), _threads():
        warnings.simplefilter("ignore")
        return output_diagnosis(subject)


def _plugin_frame(exc: BaseException) -> str:
    """The innermost frame outside the zoo package, torch and the standard library: the plugin's
    code (for an error raised by zoo's own helpers, e.g. zoo.inputs, the plugin line that called
    them). Causes are searched too: an import error wrapped by the registry points at the import."""
    import sysconfig
    from pathlib import Path

    import zoo

    skip = (str(Path(zoo.__file__).parent).replace("\\", "/") + "/", "/torch/", "/torchvision/",
            sysconfig.get_paths()["stdlib"].replace("\\", "/") + "/")
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            path = frame.filename.replace("\\", "/")
            if not path.startswith("<") and not any(part in path for part in skip):  # <frozen importlib...>
                return f"{frame.filename}:{frame.lineno}"
        exc = exc.__cause__ or exc.__context__
    return ""


def checks_for(subject, patterns: Iterable[str] | None = None) -> list[Check]:
    """The checks that apply to ``subject`` (optionally only those whose names match ``patterns``)."""
    patterns = list(patterns or [])
    return [c for c in all_checks(subject.kind) if c.applies_to(subject)
            and (not patterns or any(fnmatch.fnmatchcase(c.name, p) for p in patterns))]


def run_subjects(subjects, patterns: Iterable[str] | None = None,
                 on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Every applicable check on every subject, in order; ``on_result`` sees each as it ends."""
    results = []

    def report(result: CheckResult) -> None:
        results.append(result)
        if on_result:
            on_result(result)

    for subject in subjects:
        blocked_by = None
        ran = []
        for check in checks_for(subject, patterns):
            result = run_check_unless_blocked(check, subject, blocked_by)
            blocked_by = blocked_by or (result if result.blocking else None)
            ran.append(result)
            report(result)
        verdict = None if patterns else nothing_verified(ran)
        if verdict is not None:
            report(verdict)
        if hasattr(subject, "release"):
            subject.release()  # free the cached model before the next subject
    return results


def nothing_verified(results: list[CheckResult]) -> CheckResult | None:
    """The ``coverage`` row for a subject all of whose checks of what it does were skipped (the
    results of every applicable check); None when any of them passed or failed.

    Not the plugin's fault (the suite lacks a reference model for its task), so not a failure;
    but said out loud, never a silent pass.
    """
    behaviour = [r for r in results if r.check not in REGISTRATION_CHECKS]  # what the subject does
    if not behaviour or any(r.status != SKIP for r in behaviour):
        return None
    return CheckResult(behaviour[0].subject, "coverage", SKIP,
                       f"NOTHING VERIFIED: every check of what it does was skipped ({behaviour[0].message}); "
                       "the suite cannot check this subject yet, so conformance is unknown", COVERAGE_CLAUSE)


__all__ = ["FAIL", "PASS", "SKIP", "checks_for", "nothing_verified", "run_check", "run_check_unless_blocked",
           "run_subjects"]
