"""pytest plugin (entry point ``pytest11``): ``pytest --zoo-check=NAME``, ``--zoo-check-all``,
``--zoo-check-plugin=DIST`` (or the ini options ``zoo_check_plugins`` / ``zoo_check``) add one test
item per conformance check. Without them it does nothing and imports nothing heavy.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser) -> None:
    group = parser.getgroup("zoo", "visionzoo conformance suite")
    group.addoption("--zoo-check", action="append", default=[], metavar="NAME",
                    help="run the conformance checks on a registered model or explainer (name or fnmatch "
                         "pattern; repeatable)")
    group.addoption("--zoo-check-all", action="store_true", default=False,
                    help="run the conformance checks on every registered model and explainer (but those their "
                         "plugin leaves out of it, such as timm/*, unless named)")
    group.addoption("--zoo-check-plugin", action="append", default=[], metavar="DIST",
                    help="run the conformance checks on everything a distribution registers (repeatable)")
    parser.addini("zoo_check_plugins", type="linelist", default=[],
                  help="distributions whose models and explainers are checked on every run, as with "
                       "--zoo-check-plugin (e.g. your own package)")
    parser.addini("zoo_check", type="linelist", default=[],
                  help="names or patterns checked on every run, as with --zoo-check")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "zoo_check: a conformance check added by --zoo-check* (select with -m zoo_check)")


def _names(config) -> list[str]:
    return list(config.getoption("zoo_check")) + list(config.getini("zoo_check"))


def _plugins(config) -> list[str]:
    return list(config.getoption("zoo_check_plugin")) + list(config.getini("zoo_check_plugins"))


def _requested(config) -> bool:
    return bool(_names(config) or config.getoption("zoo_check_all") or _plugins(config))


class ZooCheckCollector(pytest.Collector):
    """Parent node of the generated items (``zoo-check::<subject>::<check>``), and, one level down,
    of each subject's: one node per level, as pytest parses node ids (an item named
    ``<subject>::<check>`` never matched its own id in ``--lf``/``--ff``/``--sw``)."""

    def collect(self):
        return []


class ZooCheckItem(pytest.Item):
    def __init__(self, *, subject, check, last: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.subject, self.check, self.last = subject, check, last
        self.add_marker("zoo_check")

    def runtest(self) -> None:
        from zoo.testing.suite import run_as_test

        try:
            run_as_test(self.check, self.subject)
        finally:
            if self.last and hasattr(self.subject, "release"):
                self.subject.release()

    def reportinfo(self):
        return self.path, None, f"zoo check {self.subject.kind} {self.subject.label}: {self.check.name}"


class BrokenPluginItem(pytest.Item):
    def __init__(self, *, plugin, **kwargs) -> None:
        super().__init__(**kwargs)
        self.plugin = plugin
        self.add_marker("zoo_check")

    def runtest(self) -> None:
        pytest.fail(f"plugin {self.plugin.name!r} ({self.plugin.distribution}) is broken:\n  "
                    + "\n  ".join(self.plugin.errors), pytrace=False)

    def reportinfo(self):
        return self.path, None, f"zoo check plugin {self.plugin.name}"


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so those select among our items too
def pytest_collection_modifyitems(session, config, items) -> None:
    if not _requested(config):
        return
    from zoo.errors import UnknownNameError
    from zoo.testing.discovery import suite_registry
    from zoo.testing.runner import checks_for
    from zoo.testing.subjects import select

    try:
        selection = select(_names(config), all=config.getoption("zoo_check_all"), plugins=_plugins(config),
                           registry=suite_registry())
    except UnknownNameError as exc:
        raise pytest.UsageError(str(exc)) from exc
    parent = ZooCheckCollector.from_parent(session, name="zoo-check", nodeid="zoo-check")
    new = [BrokenPluginItem.from_parent(parent, name=f"plugin:{plugin.name}", plugin=plugin)
           for plugin in selection.broken_plugins]
    subjects = []
    for subject in selection.subjects:
        node = ZooCheckCollector.from_parent(parent, name=subject.label)
        checks = checks_for(subject)
        generated = [ZooCheckItem.from_parent(node, name=check.name, subject=subject, check=check,
                                              last=i == len(checks) - 1) for i, check in enumerate(checks)]
        subjects.append((node, generated))
        new += generated
    # reported like any collected node, so pytest's "collected N items" counts them
    config.hook.pytest_collectreport(report=pytest.CollectReport(
        parent.nodeid, "passed", None, [item for item in new if isinstance(item, BrokenPluginItem)]
        + [node for node, _ in subjects]))
    for node, generated in subjects:
        config.hook.pytest_collectreport(report=pytest.CollectReport(node.nodeid, "passed", None, generated))
    items.extend(new)


def pytest_terminal_summary(terminalreporter) -> None:
    """Plugins found broken while the suite discovered plugins: shown, never turned into errors
    of this run (they may be someone else's; checks of the selected ones fail on their own).
    And subjects the suite could not check at all (every check of what they do skipped), as
    `zoo check`'s "NOTHING VERIFIED" row says: not failures, never a silent pass."""
    import sys

    discovery = sys.modules.get("zoo.testing.discovery")  # imported only if the suite ran
    lines = discovery.summary_lines() if discovery else []
    if lines:
        terminalreporter.write_sep("=", "zoo: broken plugins found by discovery (see `zoo doctor`)", yellow=True)
        for line in lines:
            terminalreporter.write_line(line)
    suite = sys.modules.get("zoo.testing.suite")
    verdicts = suite.unverified() if suite else []
    if verdicts:
        terminalreporter.write_sep("=", "zoo: conformance unknown (every check of what they do was skipped)",
                                   yellow=True)
        for verdict in verdicts:
            terminalreporter.write_line(f"{verdict.subject}: {verdict.message}")
