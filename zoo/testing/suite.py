"""The class-based pytest suite, in the style of pandas' extension-array base tests.

A plugin author subclasses and names the model or explainer under test::

    from zoo.testing import ModelTests, ExplainerTests

    class TestMySegmenter(ModelTests):
        name = "my_segmenter"          # a registered name ("dist:name" if ambiguous)

    class TestMyExplainer(ExplainerTests):
        name = "my_cam"

Every check of the suite becomes one test method (``test_segmentation_output``, ...); checks
that do not apply to the subject's task are skipped. Override the ``zoo_subject`` fixture to test
a spec that is not installed (``ModelSubject(spec=zoo.ArchitectureSpec(...))``), or override a
single ``test_*`` method to mark it ``xfail`` while you fix it.
"""

from __future__ import annotations

import pytest

from zoo.testing.checks import EXPLAINER, MODEL, Check, all_checks
from zoo.testing.results import FAIL, SKIP, CheckResult
from zoo.testing.runner import checks_for, nothing_verified, run_check_unless_blocked
from zoo.testing.subjects import ExplainerSubject, ModelSubject


def subject_for(kind: str, name: str):
    """The registered model or explainer ``name`` as a suite subject. A name the registry
    rejected raises UnknownNameError saying which plugin rejected it and why."""
    from zoo.errors import UnknownNameError
    from zoo.names import parse_name
    from zoo.testing.discovery import suite_registry
    from zoo.testing.subjects import rejected

    registry = suite_registry()  # someone else's broken plugin must not error this class (-W error)
    try:
        if kind == MODEL:
            spec, plugin, _ = registry.resolve(name)
            return ModelSubject(spec=spec, plugin=plugin)
        spec, plugin = registry.explainer(name)
        return ExplainerSubject(spec=spec, plugin=plugin)
    except UnknownNameError as exc:
        parsed = parse_name(name)
        causes = [f"plugin {p.name!r} ({p.distribution}): {e}"
                  for p in rejected(parsed.arch, registry, parsed.qualifier) for e in p.errors]
        if causes:
            raise type(exc)(f"{name!r} is not registered: the registry rejected its spec.\n  "
                            + "\n  ".join(causes)) from None
        raise


# Per spec, the blocking failure (zoo.testing.results.CheckResult.blocking) after which its later
# checks skip. Keyed by the spec, not the subject object, since an overridden zoo_subject fixture
# may make a new one per test.
_BLOCKED: dict = {}


# Every result of this session, per spec: `zoo check`'s "NOTHING VERIFIED" verdict, for pytest's summary.
_RESULTS: dict = {}


def run_as_test(check: Check, subject) -> None:
    """Run ``check`` on ``subject`` with pytest's outcomes: skip, or fail naming the clause."""
    if not check.applies_to(subject):
        pytest.skip(f"{check.name} does not apply to {', '.join(subject.tasks)}")
    key = (subject.kind, subject.distribution, subject.spec.name)
    result = run_check_unless_blocked(check, subject, _BLOCKED.get(key))
    if result.blocking:
        _BLOCKED.setdefault(key, result)
    _RESULTS.setdefault(key, (subject, {}))[1][check.name] = result
    if result.status == SKIP:
        pytest.skip(result.message)
    if result.status == FAIL:
        pytest.fail(f"{result.subject} breaks the contract ({check.name}).\n  clause: {result.clause}\n"
                    f"  {result.message}", pytrace=False)


def unverified() -> list[CheckResult]:
    """The ``coverage`` verdicts of this session: subjects whose every applicable check ran, and
    every check of what they do was skipped (``zoo check`` shows the same row)."""
    verdicts = []
    for subject, results in _RESULTS.values():
        if {check.name for check in checks_for(subject)} <= set(results):  # not narrowed by -k
            verdict = nothing_verified(list(results.values()))
            if verdict is not None:
                verdicts.append(verdict)
    return verdicts


_CURRENT: dict = {}  # the one subject whose model is cached: a class's tests share it


class _SuiteBase:
    kind: str = ""
    name: str | None = None

    @pytest.fixture
    def zoo_subject(self):
        """The subject under test; built once per class (override to test an unregistered spec)."""
        cls = type(self)
        if not cls.name:
            pytest.skip(f"set `name = ...` on {cls.__name__} to the registered name to check")
        key = (cls, cls.kind, cls.name)
        if _CURRENT.get("key") != key:
            from zoo.errors import ZooError

            previous = _CURRENT.get("subject")
            if previous is not None and hasattr(previous, "release"):
                previous.release()  # at most one cached model alive
            _CURRENT.update(key=key, subject=None)
            try:
                _CURRENT["subject"] = subject_for(cls.kind, cls.name)
            except ZooError as exc:  # unknown or ambiguous name: reported once, the class's other tests skip
                failure = str(exc)
            else:
                failure = None
            if failure is not None:  # outside the except: pytest would print the message twice, chained
                pytest.fail(failure, pytrace=False)
        if _CURRENT["subject"] is None:
            pytest.skip(f"{cls.name!r} could not be loaded (see the first failing test of {cls.__name__})")
        return _CURRENT["subject"]


def _test_method(check: Check):
    def test(self, zoo_subject):
        run_as_test(check, zoo_subject)

    test.__name__ = test.__qualname__ = f"test_{check.name}"
    test.__doc__ = check.clause
    return test


class ModelTests(_SuiteBase):
    """Every architecture check; subclass as ``TestX(ModelTests)`` and set ``name``."""

    kind = MODEL


class ExplainerTests(_SuiteBase):
    """Every explainer check; subclass as ``TestX(ExplainerTests)`` and set ``name``."""

    kind = EXPLAINER


for _cls, _kind in ((ModelTests, MODEL), (ExplainerTests, EXPLAINER)):
    for _check in all_checks(_kind):
        setattr(_cls, f"test_{_check.name}", _test_method(_check))
