"""A test class naming a model the registry cannot give (ambiguous, or unknown because a plugin
failed to load) fails with a short message saying what to do, never a long traceback."""

import subprocess
import sys
import textwrap
import warnings

import pytest

import zoo
from zoo.registry import PluginWarning, Registry


def test_an_ambiguous_name_in_a_test_class_fails_with_the_reason_only(plugin_packages, tmp_path):
    plugin_packages("sample-plugin", "sample-duplicate")
    (tmp_path / "test_mine.py").write_text(textwrap.dedent("""
        from zoo.testing import ModelTests

        class TestClash(ModelTests):
            name = "sample_segmenter"
    """))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 error" in out.stdout and "skipped" in out.stdout, out.stdout
    assert "is registered by several plugins" in out.stdout and "zoo-sample-plugin:sample_segmenter" in out.stdout
    assert "registry.py" not in out.stdout and "raise AmbiguousNameError" not in out.stdout  # no traceback
    assert "During handling" not in out.stdout  # said once, not chained to itself
    report = out.stdout.split("short test summary info")[0]  # the summary line is cut to the terminal's width
    assert report.count("is registered by several plugins") == 1, out.stdout  # once, not chained to itself


def test_an_unknown_name_says_which_plugins_failed_to_load():
    class Raising:
        @zoo.hookimpl
        def zoo_architectures(self):
            raise RuntimeError("hook exploded")

    class Fine:
        @zoo.hookimpl
        def zoo_architectures(self):
            return [zoo.ArchitectureSpec("fine_net", "classification", builder="m:f")]

    registry = Registry()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        registry.register(Raising(), name="raising", distribution="acme-raising")
    registry.register(Fine(), name="fine", distribution="acme-fine")
    with pytest.raises(zoo.UnknownModelError, match=r"1 plugin failed to load \(raising from acme-raising\): "
                                                    r"the name may be its; run `zoo doctor`"):
        registry.resolve("acme_net")
    with pytest.raises(zoo.UnknownExplainerError, match="1 plugin failed to load"):
        registry.explainer("acme_cam")
    healthy = Registry()
    healthy.register(Fine(), name="fine", distribution="acme-fine")
    with pytest.raises(zoo.UnknownModelError) as excinfo:
        healthy.resolve("acme_net")
    assert "failed to load" not in str(excinfo.value)


def test_a_plugin_whose_only_fault_is_an_invalid_spec_is_not_blamed_for_an_unknown_name():
    """Its invalid spec is reported on its own (zoo doctor, a PluginWarning); every hook ran, so the
    name asked for is not "maybe its"."""
    class OneBadSpec:
        @zoo.hookimpl
        def zoo_architectures(self):
            return [zoo.ArchitectureSpec("good_net", "classification", builder="m:f"),
                    zoo.ArchitectureSpec("bad.net", "classification", builder="m:f")]

    registry = Registry()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        registry.register(OneBadSpec(), name="one-bad", distribution="acme-one-bad")
    assert registry.plugins[0].errors  # the invalid spec is on record
    with pytest.raises(zoo.UnknownModelError) as excinfo:
        registry.resolve("acme_net")
    assert "loaded with errors" not in str(excinfo.value) and "failed to load" not in str(excinfo.value)


def test_a_plugin_that_registered_part_of_its_specs_is_not_said_to_have_failed_to_load():
    class Partial:
        @zoo.hookimpl
        def zoo_architectures(self):
            return [zoo.ArchitectureSpec("half_net", "classification", builder="m:f")]

        @zoo.hookimpl
        def zoo_explainers(self):
            raise RuntimeError("hook exploded")

    registry = Registry()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        registry.register(Partial(), name="partial", distribution="acme-partial")
    with pytest.raises(zoo.UnknownExplainerError) as excinfo:
        registry.explainer("acme_cam")
    assert "1 plugin loaded with errors (partial from acme-partial): the name may be its" in str(excinfo.value)
    assert "failed to load" not in str(excinfo.value)
