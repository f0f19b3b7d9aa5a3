"""Entry-point discovery and plugin isolation (issue 2)."""

import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

import zoo
from zoo.plugin_record import normalize_distribution
from zoo.registry import PluginWarning, Registry, get_registry

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"


def test_sample_third_party_plugin_is_discovered(plugin_packages):
    plugin_packages("sample-plugin")
    assert "sample_segmenter" in zoo.list_models()
    assert "sample_ones" in zoo.list_explainers()
    info = zoo.model_info("sample_segmenter")
    assert (info.distribution, info.version, info.plugin) == ("zoo-sample-plugin", "1.2.3", "sample")
    assert info.task == "semantic_segmentation"
    assert set(info.pretrained) == {"toy", "other"}


def test_builtin_plugins_are_discovered_through_entry_points():
    """Every distribution under plugins/ is found like a third-party one, by its entry points."""
    declared = {}
    for pyproject in sorted(PLUGINS_DIR.glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        declared[project["name"]] = set(project["entry-points"]["zoo"])
    assert declared, f"no plugin distribution found under {PLUGINS_DIR}"
    registry = get_registry()
    for dist, entry_points in declared.items():
        records = [p for p in registry.plugins if normalize_distribution(p.distribution) == normalize_distribution(dist)]
        assert {r.name for r in records} == entry_points, f"{dist} is not installed: run the README's install command"
        for record in records:
            assert record.loaded and not record.errors, record
            assert record.architectures or record.explainers, record


def test_listing_does_not_import_torch(plugin_packages):
    plugin_packages("sample-plugin")
    code = ("import sys, zoo; zoo.list_models(); zoo.list_models(pretrained=True); zoo.list_explainers(); "
            "zoo.model_info('sample_segmenter'); "
            "bad = [m for m in ('torch', 'timm', 'torchvision', 'zoo_sample_plugin.models') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_submodules_are_reachable_after_a_plain_import_zoo_and_imported_only_then():
    """README writes zoo.hub_server.serve(...), zoo.safetensors_file.load_file(...) after `import zoo`."""
    code = ("import sys, zoo; assert 'zoo.safetensors_file' not in sys.modules; "
            "assert callable(zoo.safetensors_file.load_file) and callable(zoo.hub_server.serve)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with pytest.raises(AttributeError, match="has no attribute 'no_such_module'"):
        zoo.no_such_module  # noqa: B018


def test_builder_module_is_imported_only_when_building(plugin_packages):
    plugin_packages("sample-plugin")
    sys.modules.pop("zoo_sample_plugin.models", None)
    zoo.list_models()
    assert "zoo_sample_plugin.models" not in sys.modules
    zoo.create("sample_classifier")
    assert "zoo_sample_plugin.models" in sys.modules


def test_broken_plugins_are_skipped_with_a_warning_and_the_rest_works(plugin_packages):
    plugin_packages("sample-plugin", "broken-plugins")
    with pytest.warns(PluginWarning) as caught:
        names = zoo.list_models()
    messages = [str(w.message) for w in caught]
    assert any("broken_import" in m and "zoo-broken-plugins" in m and "zoo_a_module_that_does_not_exist" in m
               for m in messages)
    assert any("import of 'zoo_broken_plugins.broken_import' failed: ModuleNotFoundError" in m for m in messages)
    for cause in ("zoo_a_module_that_does_not_exist", "hook exploded on purpose", "painting"):
        assert sum(cause in m for m in messages) == 1, (cause, messages)  # one warning each, not one per look
    assert any("raising_hook" in m and "hook exploded on purpose" in m for m in messages)
    assert any("invalid_spec" in m and "painting" in m for m in messages)
    assert any("bad.name" in m for m in messages)
    assert "sample_segmenter" in names and "survivor" in names
    assert "bad_task" not in names and "bad.name" not in names
    assert any("unknown hook 'zoo_architecture'" in m and "Did you mean zoo_architectures?" in m
               for m in messages)
    assert any("string 'classification'" in m and "write ('classification',)" in m for m in messages)
    assert any("no_tasks: tasks must be a tuple of task names, got NoneType" in m for m in messages)
    assert "never_registered" not in names
    record = next(p for p in get_registry().plugins if p.name == "bare_string_tasks")
    assert set(record.rejected) == {"string_tasks", "no_tasks"}  # by name, for zoo check to report
    assert "string_tasks" not in zoo.list_explainers()
    zoo.create("sample_classifier")  # the well-behaved plugin still builds
    # the spec's own refusal, which the discovery warning said, also answers a create of its name
    with pytest.raises(zoo.UnknownModelError, match=r"registers a spec 'bad_task', which was not registered: "
                                                    r".*painting"):
        zoo.create("bad_task")
    with pytest.raises(zoo.UnknownModelError) as other_plugin:  # asked of another plugin: not that one's spec
        zoo.create("zoo-sample-plugin:bad_task")
    assert "painting" not in str(other_plugin.value)


def test_builder_returning_a_non_module_is_a_clear_error(plugin_packages):
    plugin_packages("broken-plugins")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        with pytest.raises(zoo.BuilderError, match="survivor.*not a torch.nn.Module"):
            zoo.create("survivor")


def test_duplicate_names_raise_naming_both_distributions(plugin_packages):
    plugin_packages("sample-plugin", "sample-duplicate")
    # listed as the qualified names that work (the bare one is ambiguous), each creatable
    assert zoo.list_models("sample_segmenter") == ["zoo-sample-duplicate:sample_segmenter",
                                                   "zoo-sample-plugin:sample_segmenter"]
    assert zoo.list_explainers("sample_ones") == ["zoo-sample-duplicate:sample_ones", "zoo-sample-plugin:sample_ones"]
    with pytest.raises(zoo.AmbiguousNameError) as excinfo:
        zoo.create("sample_segmenter")
    assert "zoo-sample-plugin" in str(excinfo.value) and "zoo-sample-duplicate" in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)
    conflicts = get_registry().conflicts()
    assert set(conflicts) == {"model sample_segmenter", "explainer sample_ones"}
    assert set(conflicts["model sample_segmenter"]) == {"zoo-sample-plugin", "zoo-sample-duplicate"}


def test_a_name_conflict_lists_every_claims_tags(plugin_packages):
    plugin_packages("sample-plugin", "sample-duplicate")
    names = zoo.list_models("sample_seg*", pretrained=True)
    assert names == ["zoo-sample-duplicate:sample_segmenter.dup", "zoo-sample-plugin:sample_segmenter.other",
                     "zoo-sample-plugin:sample_segmenter.toy"]
    assert zoo.list_models("zoo-sample-duplicate:*", pretrained=True) == names[:1]  # a qualified pattern too
    # ... for a name no other plugin claims as well, in any spelling of the plugin's names
    assert "sample_classifier" in zoo.list_models("zoo_sample_plugin:*")
    assert zoo.list_models("zoo-sample-plugin:sample_classifier") == ["sample_classifier"]
    assert zoo.model_info(names[0]).distribution == "zoo-sample-duplicate"
    for name in names:  # `for n in list_models(): create(n)` works, as in timm
        zoo.create(name)


def test_one_distribution_claiming_a_name_twice_is_told_apart_by_entry_point():
    registry = Registry()

    def plugin(tag):
        class Plugin:
            @zoo.hookimpl
            def zoo_architectures(self):
                return [zoo.ArchitectureSpec("twice", "classification", builder=lambda **kw: tag)]
        return Plugin()

    registry.register(plugin("first"), name="first", distribution="one-dist")
    registry.register(plugin("second"), name="second", distribution="one-dist")
    with pytest.raises(zoo.AmbiguousNameError, match="first, second.*first:twice.*ZOO_DISABLE_PLUGINS=second"):
        registry.resolve("twice")
    with pytest.raises(zoo.AmbiguousNameError):  # the distribution names both: never silently the first
        registry.resolve("one-dist:twice")
    assert registry.resolve("second:twice")[1].name == "second"


def test_qualified_name_chooses_between_duplicates(plugin_packages):
    plugin_packages("sample-plugin", "sample-duplicate")
    first = zoo.create("zoo-sample-plugin:sample_segmenter")
    second = zoo.create("zoo_sample_duplicate:sample_segmenter")  # any spelling of the distribution
    assert len(list(first.children())) == 3
    assert second.__class__.__name__ == "Conv2d"
    with pytest.raises(zoo.UnknownModelError, match="zoo-sample-plugin:sample_segmenter"):
        zoo.create("nobody:sample_segmenter")


def test_disable_and_allow_list_environment(plugin_packages, monkeypatch):
    plugin_packages("sample-plugin", "sample-duplicate")
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "zoo-sample-duplicate")
    assert Registry.from_entry_points().resolve("sample_segmenter")[1].distribution == "zoo-sample-plugin"
    monkeypatch.delenv("ZOO_DISABLE_PLUGINS")
    monkeypatch.setenv("ZOO_PLUGINS", "duplicate")  # entry-point names work as well as distributions
    registry = Registry.from_entry_points()
    assert [p.distribution for p in registry.plugins] == ["zoo-sample-duplicate"]
    monkeypatch.setenv("ZOO_PLUGINS", "")
    assert Registry.from_entry_points().plugins == []


def test_in_process_registration():
    registry = Registry()

    class Plugin:
        @zoo.hookimpl
        def zoo_architectures(self):
            return [zoo.ArchitectureSpec("local_net", "classification", builder=lambda **kw: kw)]

    record = registry.register(Plugin(), name="local")
    assert record.architectures == ["local_net"]
    assert registry.list_models() == ["local_net"]


def test_hookimpl_with_a_wrong_signature_is_reported():
    registry = Registry()

    class Plugin:
        @zoo.hookimpl
        def zoo_architectures(self, unexpected_argument):
            return []

    with pytest.warns(PluginWarning, match="hook validation failed"):
        record = registry.register(Plugin(), name="wrong")
    assert not record.loaded and record.errors


def test_a_hook_left_undecorated_beside_a_decorated_one_is_reported():
    registry = Registry()

    class HalfDecorated:
        def zoo_architectures(self):  # forgotten @zoo.hookimpl: registered nothing, silently
            return [zoo.ArchitectureSpec("never_seen", "classification", builder="m:f")]

        @zoo.hookimpl
        def zoo_explainers(self):
            return []

    with pytest.warns(PluginWarning, match=r"zoo_architectures\(\) is not decorated with @zoo.hookimpl"):
        record = registry.register(HalfDecorated(), name="half")
    assert record.errors and record.loaded


def test_a_plugin_with_no_zoo_hook_is_reported():
    registry = Registry()

    class Forgotten:
        def zoo_architectures(self):  # no @zoo.hookimpl
            return []

    with pytest.warns(PluginWarning, match=r"implements no zoo hook.*@zoo.hookimpl\? \(zoo_architectures is not\)"):
        record = registry.register(Forgotten(), name="forgotten")
    assert record.errors



def test_every_distribution_ships_the_projects_license():
    """Each plugin distribution is published on its own, so each carries a copy of the license
    (setuptools reads license-files from the distribution's own folder): the copies must not drift."""
    root = PLUGINS_DIR.parent
    license_text = (root / "LICENSE").read_text()
    for folder in [root, *sorted(p.parent for p in PLUGINS_DIR.glob("*/pyproject.toml"))]:
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"], folder
        assert (folder / "LICENSE").read_text() == license_text, f"{folder / 'LICENSE'} differs from {root / 'LICENSE'}"


def test_a_hooks_warnings_reach_zoo_doctor_even_under_an_ignore_filter():
    """Kept for `zoo doctor` whatever the caller's filters (PYTHONWARNINGS=ignore, -W ignore)."""
    import warnings

    from zoo.registry import Registry

    class Warns:
        @zoo.hookimpl
        def zoo_architectures(self):
            warnings.warn("index built for timm 0.9, 1.0 is installed", UserWarning)
            return [zoo.ArchitectureSpec("warned_net", "classification", builder="m:f")]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = Registry().register(Warns(), name="warning")
    assert record.warnings == ["UserWarning: index built for timm 0.9, 1.0 is installed"]


def test_ctrl_c_while_a_plugin_imports_stops_discovery_not_the_plugin():
    """A KeyboardInterrupt is the user's, not the plugin's failure: it was caught as 'failed to load'."""
    import types

    from zoo.registry import Registry

    def interrupted():
        raise KeyboardInterrupt

    entry_point = types.SimpleNamespace(name="slow", value="zoo_slow.plugin", load=interrupted)
    with pytest.raises(KeyboardInterrupt):
        Registry()._load_entry_point(entry_point, "acme-slow", "1.0")


def _in_a_forked_child(call, timeout: float = 60.0) -> int | None:
    """Run ``call`` in a child of ``os.fork()``; its exit status (0: returned), or None if it hung."""
    import os
    import signal
    import time

    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        try:
            call()
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_fork_while_another_thread_discovers_plugins_does_not_hang_the_child():
    """multiprocessing's fork or a DataLoader's workers, while a thread makes the first zoo call: the
    child inherited the discovery lock held, by a thread it does not have, and waited forever."""
    import zoo.registry

    held = zoo.registry._lock
    with held:  # as a thread in the middle of discovery holds it
        assert _in_a_forked_child(zoo.list_models, timeout=60) == 0


def test_only_the_discovering_threads_prints_go_to_stderr(capsys):
    """redirect_stdout swapped sys.stdout for every thread: an application thread printing its own
    output while another made the first zoo call lost lines into stderr."""
    import threading

    from zoo.plugin_import import prints_to_stderr

    other_done = threading.Event()

    def application():
        print("the application's line")
        other_done.set()

    with prints_to_stderr():
        print("a plugin's import noise")
        sys.stdout.writelines(["its lines\n"])  # went to the real stdout, as did its .buffer
        sys.stdout.flush()
        assert sys.stdout.buffer is sys.stderr.buffer
        thread = threading.Thread(target=application)
        thread.start()
        assert other_done.wait(30)
        thread.join()
    captured = capsys.readouterr()
    assert captured.out == "the application's line\n"
    assert captured.err == "a plugin's import noise\nits lines\n"
