"""Plugins that misbehave must not take the zoo down, and `zoo doctor` must say what is wrong
(issue 9, Plugins)."""

import time
import warnings

import pytest

import zoo
from zoo.registry import PluginWarning


@pytest.fixture
def garbage(plugin_packages):
    plugin_packages("sample-plugin", "broken-plugins", "garbage-plugin")


def test_garbage_specs_are_skipped_and_the_rest_keeps_working(garbage):
    with pytest.warns(PluginWarning) as caught:
        names = zoo.list_models()
    messages = "\n".join(str(w.message) for w in caught)
    assert "garbage_twice: registered twice by the same plugin" in messages
    assert "builder must be a callable or a 'module:function' string, got 42" in messages
    assert "hf_hub_id 'no-slash'" in messages and "sha256 'xyz'" in messages
    assert "got NoneType" in messages
    assert "zoo_explainers() must return a list of specs, got dict" in messages
    assert {"garbage_twice", "garbage_missing_builder", "garbage_not_module"} <= set(names)
    assert "garbage_bad_builder" not in names and "garbage_bad_tag" not in names
    assert zoo.create("sample_classifier") is not None


def test_unimportable_and_non_module_builders_fail_at_create(garbage):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        with pytest.raises(zoo.BuilderError, match="garbage_missing_builder.*cannot import builder") as error:
            zoo.create("garbage_missing_builder")
        assert isinstance(error.value, zoo.BuilderImportError)  # `except ImportError` around an optional model
        with pytest.raises(zoo.BuilderError, match="returned dict, not a torch.nn.Module"):
            zoo.create("garbage_not_module")


def test_doctor_says_exactly_what_is_wrong(garbage, run_zoo):
    result = run_zoo("doctor")
    assert result.returncode == 1
    out = result.stdout
    assert "garbage  [zoo-garbage-plugin 0.0.1]  partial" in out
    assert "garbage_missing_builder: builder module 'zoo_garbage_plugin.does_not_exist' not found" in out
    assert "registered twice by the same plugin" in out
    assert "sample  [zoo-sample-plugin 1.2.3]  ok" in out


def test_slow_model_module_is_not_paid_by_listing(plugin_packages, run_zoo):
    """The builder module sleeps 10 s on import; listing never imports it."""
    plugin_packages("slow-plugin")
    started = time.perf_counter()
    result = run_zoo("list", "slow*", "--names")
    elapsed = time.perf_counter() - started
    assert result.returncode == 0 and "slow_net" in result.stdout
    assert elapsed < 8, f"listing took {elapsed:.1f} s: it imported the slow builder module"


def test_slow_hook_module_is_reported_by_doctor(plugin_packages, run_zoo):
    plugin_packages("slow-plugin")
    result = run_zoo("doctor", env={"ZOO_SLOW_HOOKS_SECONDS": "1"})
    assert "slow: importing zoo_slow_plugin.slow_hooks took" in result.stdout


def test_a_slow_hook_call_is_reported_by_doctor_too(plugin_packages, run_zoo):
    """Only a slow import was reported: a hook that took 10 s left "all plugins healthy"."""
    plugin_packages("slow-plugin")
    result = run_zoo("doctor", env={"ZOO_SLOW_HOOK_CALL_SECONDS": "1"})
    assert "slow: its hooks took 1." in result.stdout, result.stdout


def test_what_a_plugin_prints_never_reaches_a_listings_output(plugin_packages, run_zoo):
    """`zoo list --names` is for scripts: a hook module's print() went into it."""
    plugin_packages("slow-plugin")
    result = run_zoo("list", "slow*", "--names", env={"ZOO_NOISY_HOOKS": "1"})
    assert result.returncode == 0 and result.stdout.split() == ["slow_hooks_net", "slow_net"], result.stdout
    assert "NOISE FROM A HOOK MODULE'S IMPORT" in result.stderr and "NOISE FROM A HOOK" in result.stderr
