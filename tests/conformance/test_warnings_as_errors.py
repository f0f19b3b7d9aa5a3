"""A plugin author runs the suite with warnings as errors (``-W error``, ``filterwarnings =
error``): someone else's broken plugin installed beside theirs must not turn into INTERNALERROR
or an error in every test class; it is listed in pytest's terminal summary instead. And
discovery itself completes and is kept even where PluginWarning is an error."""

import os
import subprocess
import sys
import textwrap
import warnings

import pytest

import zoo
from zoo.registry import PluginWarning, get_registry


def _pytest(args, cwd):
    # The author's own run, not a pytest-xdist worker's (``pytest -n``): a worker's PYTEST_XDIST_*
    # variables, inherited, made pytest-benchmark, where installed, warn under -W error at start-up.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_XDIST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_the_suite_runs_under_warnings_as_errors_beside_a_broken_plugin(plugin_packages, tmp_path):
    plugin_packages("conformance-good", "broken-plugins")
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    (tmp_path / "test_mine.py").write_text(textwrap.dedent("""
        from zoo.testing import ExplainerTests, ModelTests

        class TestGood(ModelTests):
            name = "good_classifier"

        class TestGoodCam(ExplainerTests):
            name = "good_cam"
    """))
    classes = _pytest(["-k", "build and not pretrained or explainer_registration", "test_mine.py"], tmp_path)
    assert classes.returncode == 0, classes.stdout + classes.stderr
    assert "2 passed" in classes.stdout and "error" not in classes.stdout.lower().split("zoo: broken")[0]
    summary = classes.stdout.split("zoo: broken plugins found by discovery")[1]
    assert "plugin 'raising_hook' (zoo-broken-plugins 0.0.1): zoo_architectures() raised RuntimeError" in summary

    empty = tmp_path / "options"
    empty.mkdir()
    options = _pytest(["-W", "error", "--zoo-check=good_classifier", "-k", "build and not pretrained"], empty)
    assert options.returncode == 0, options.stdout + options.stderr
    assert "INTERNALERROR" not in options.stdout + options.stderr
    assert "1 passed" in options.stdout
    assert "raising_hook" in options.stdout.split("zoo: broken plugins found by discovery")[1]


def test_discovery_is_kept_when_plugin_warnings_are_errors(plugin_packages):
    plugin_packages("conformance-good", "broken-plugins")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        with pytest.raises(PluginWarning):
            get_registry()  # the first call reports, as the filter asks
        registry = get_registry()  # the same registry, complete, without rediscovering
        assert get_registry() is registry
        assert "good_classifier" in zoo.list_models() and "survivor" in zoo.list_models()
        assert {p.name for p in registry.plugins if p.errors} >= {"broken_import", "raising_hook", "invalid_spec"}
