"""A hook that returns None (a forgotten ``return``) registers nothing: it is reported like a
hook returning a dict, not shown as a healthy plugin."""

import pytest

import zoo
from zoo.registry import PluginWarning, Registry


def test_a_hook_returning_none_is_reported():
    class Forgetful:
        @zoo.hookimpl
        def zoo_explainers(self):
            zoo.ExplainerSpec("lost", builder="m:f")  # no return

    with pytest.warns(PluginWarning, match=r"zoo_explainers\(\) returned None.*`return` missing"):
        record = Registry().register(Forgetful(), name="forgetful")
    assert record.errors and record.explainers == []


def test_returning_an_empty_list_on_purpose_is_fine():
    class Empty:
        @zoo.hookimpl
        def zoo_architectures(self):
            return []

    record = Registry().register(Empty(), name="empty")
    assert record.errors == []


def test_doctor_shows_a_forgotten_return_as_failed(plugin_packages, run_zoo):
    plugin_packages("broken-plugins")
    result = run_zoo("doctor", env={"ZOO_PLUGINS": "forgotten_return"})
    assert result.returncode == 1, result.stdout
    assert "forgotten_return  [zoo-broken-plugins 0.0.1]  FAILED" in result.stdout
    assert "zoo_architectures() returned None" in result.stdout


def test_a_hooks_warning_reaches_the_caller_and_zoo_doctor(monkeypatch, capsys):
    """The timm bridge warns when its index was built for another timm (names will fail to build):
    the warning was printed once and zoo doctor then said "all plugins healthy"."""
    import warnings

    from zoo.cli.doctor import run as doctor
    from zoo.registry import Registry

    class Warns:
        @zoo.hookimpl
        def zoo_architectures(self):
            warnings.warn("index built for another version", UserWarning)
            return [zoo.ArchitectureSpec("warned_net", "classification", "x:y")]

    registry = Registry()
    with pytest.warns(UserWarning, match="index built for another version"):
        record = registry.register(Warns(), name="warns", distribution="zoo-warns")
    assert record.warnings == ["UserWarning: index built for another version"]
    assert registry.list_models() == ["warned_net"]
    monkeypatch.setattr("zoo.cli.doctor.get_registry_quietly", lambda: registry)
    monkeypatch.setattr("zoo.cli.doctor.builder_problems", lambda registry: {})
    assert doctor(None) == 0
    out = capsys.readouterr().out
    assert "warning: UserWarning: index built for another version" in out
    assert "all plugins loaded, with 1 warning (above)" in out and "all plugins healthy" not in out
