"""ZOO_PLUGINS / ZOO_DISABLE_PLUGINS naming a plugin that is not installed (a typo, an
uninstalled package) is said out loud, naming the installed ones, instead of loading or
disabling nothing in silence."""

import pytest

from zoo.registry import PluginWarning, Registry


def test_an_unknown_name_in_the_allow_or_deny_list_is_warned_about(plugin_packages, monkeypatch):
    plugin_packages("sample-plugin")
    monkeypatch.setenv("ZOO_PLUGINS", "zoo-sample-plugin,zoo-sampel-plugin")
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "sample,nothing-here")
    with pytest.warns(PluginWarning) as caught:
        registry = Registry.from_entry_points()
    messages = [str(w.message) for w in caught]
    allow = next(m for m in messages if m.startswith("ZOO_PLUGINS"))
    assert "'zoo-sampel-plugin'" in allow and "'zoo-sample-plugin'" not in allow
    assert "installed:" in allow and "zoo-sample-plugin (sample)" in allow
    deny = next(m for m in messages if m.startswith("ZOO_DISABLE_PLUGINS"))
    assert "'nothing-here'" in deny and "'sample'" not in deny
    assert len(registry.problems) == 2


def test_known_names_and_an_empty_allow_list_are_quiet(plugin_packages, monkeypatch, recwarn):
    plugin_packages("sample-plugin")
    for value in ("Zoo_Sample_Plugin", "sample", ""):
        monkeypatch.setenv("ZOO_PLUGINS", value)
        assert Registry.from_entry_points().problems == []
    assert not [w for w in recwarn if issubclass(w.category, PluginWarning)]


def test_doctor_reports_an_unknown_plugin_name(plugin_packages, run_zoo):
    plugin_packages("sample-plugin")
    result = run_zoo("doctor", env={"ZOO_PLUGINS": "zoo-sampel-plugin"})
    assert result.returncode == 1, result.stdout
    assert "error: ZOO_PLUGINS names 'zoo-sampel-plugin', which no installed zoo plugin is" in result.stdout
    assert "zoo-sample-plugin (sample)" in result.stdout and "all plugins healthy" not in result.stdout


def test_plugins_left_out_by_the_settings_are_named_by_doctor_and_unknown_names(plugin_packages, run_zoo,
                                                                               monkeypatch):
    """Left out on purpose is not "nothing installed": doctor says which, and an unknown name says
    it may belong to one of them (AmbiguousNameError advises ZOO_DISABLE_PLUGINS)."""
    import zoo
    from zoo.registry import reset_registry

    plugin_packages("sample-plugin")
    result = run_zoo("doctor", env={"ZOO_PLUGINS": "sample", "ZOO_DISABLE_PLUGINS": "zoo-sample-plugin"})
    line = next(x for x in result.stdout.splitlines() if x.startswith("not loaded (ZOO_PLUGINS / ZOO_DISABLE_PLUGINS):"))
    assert "zoo-sample-plugin:sample" in line
    assert "every installed one is left out" in result.stdout and "no plugins found" not in result.stdout
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "zoo-sample-plugin")
    reset_registry()
    with pytest.raises(zoo.UnknownModelError, match="leave out 1 installed plugin .*zoo-sample-plugin:sample"):
        zoo.create("sample_segmenter")


def test_the_form_doctor_prints_for_a_left_out_plugin_selects_it(plugin_packages, monkeypatch, recwarn):
    """``zoo doctor`` lists left-out plugins as ``dist:entry-point``; pasting that into
    ZOO_PLUGINS (or ZOO_DISABLE_PLUGINS) must name the same plugin, not warn of a typo."""
    plugin_packages("sample-plugin")
    monkeypatch.setenv("ZOO_PLUGINS", "visionzoo-classification")
    left_out = next(p for p in Registry.from_entry_points().left_out if p.startswith("zoo-sample-plugin:"))
    monkeypatch.setenv("ZOO_PLUGINS", left_out)
    registry = Registry.from_entry_points()
    assert registry.problems == [] and [p.distribution for p in registry.plugins] == ["zoo-sample-plugin"]
    monkeypatch.setenv("ZOO_PLUGINS", "")
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", left_out.upper())
    assert Registry.from_entry_points().problems == []
    assert not [w for w in recwarn if issubclass(w.category, PluginWarning)]


def test_a_plugin_left_out_on_purpose_is_not_called_missing(plugin_packages, run_zoo):
    """`zoo check --plugin X` with X disabled said "no installed zoo plugin is named X"; doctor
    said "no plugins loaded" and then "all plugins healthy"."""
    plugin_packages("sample-plugin")
    disabled = run_zoo("check", "--plugin", "zoo-sample-plugin", env={"ZOO_DISABLE_PLUGINS": "zoo-sample-plugin"})
    assert disabled.returncode == 2
    assert "zoo-sample-plugin:sample is installed but left out by ZOO_PLUGINS / ZOO_DISABLE_PLUGINS" in disabled.stderr
    nothing = run_zoo("doctor", env={"ZOO_PLUGINS": ""})
    assert nothing.returncode == 0 and "all plugins healthy" not in nothing.stdout
    assert "nothing loaded, on purpose" in nothing.stdout
