"""The `zoo` command line: list, info, doctor, exit codes (issue 2)."""


def test_list_shows_models_and_explainers(plugin_packages, run_zoo):
    plugin_packages("sample-plugin")
    result = run_zoo("list")
    assert result.returncode == 0, result.stderr
    assert "sample_segmenter" in result.stdout and "semantic_segmentation" in result.stdout
    assert "zoo-sample-plugin" in result.stdout and "sample_ones" in result.stdout


def test_list_filters(plugin_packages, run_zoo):
    plugin_packages("sample-plugin")
    out = run_zoo("list", "sample_*", "--pretrained", "--names").stdout.split()
    assert out == ["sample_segmenter.other", "sample_segmenter.toy"]
    out = run_zoo("list", "sample_*", "--task", "classification", "--names").stdout.split()
    assert out == ["sample_classifier"]


def test_list_names_never_mixes_models_and_explainers(plugin_packages, run_zoo):
    plugin_packages("sample-plugin")
    out = run_zoo("list", "sample_*", "--names").stdout.split()
    assert "sample_segmenter" in out and "sample_ones" not in out
    assert run_zoo("list", "sample_*", "--explainers", "--names").stdout.split() == ["sample_ones"]
    table = run_zoo("list", "sample_*", "--explainers").stdout
    assert "sample_ones" in table and "sample_segmenter" not in table
    assert run_zoo("list", "sample_seg*", "sample_cla*", "--names").stdout.split() == \
        ["sample_classifier", "sample_segmenter"]
    refused = run_zoo("list", "--explainers", "--pretrained")
    assert refused.returncode == 2 and "does not combine" in refused.stderr


def test_info(plugin_packages, run_zoo):
    plugin_packages("sample-plugin")
    result = run_zoo("info", "sample_segmenter")
    assert result.returncode == 0
    assert "zoo-sample-plugin 1.2.3" in result.stdout
    assert "sample_segmenter.other (default)" in result.stdout
    assert "sample-org/sample_segmenter.toy@main/model.safetensors" in result.stdout


def test_info_of_an_explainer(plugin_packages, run_zoo):
    """`zoo info sample_ones` said 'Unknown model' though `zoo list` shows the explainer."""
    plugin_packages("sample-plugin")
    result = run_zoo("info", "sample_ones")
    assert result.returncode == 0, result.stderr
    assert "tasks:        classification" in result.stdout
    assert "plugin:       sample (zoo-sample-plugin 1.2.3)" in result.stdout
    assert "builder:      zoo_sample_plugin.models:OnesExplainer" in result.stdout
    builtin = run_zoo("info", "gradcam")
    # it printed the name; then only the options' names, not what they default to
    assert "options:      target_layer=None, relu=True, normalize=True, score_fn=None" in builtin.stdout
    misspelt = run_zoo("info", "sample_onez")
    assert misspelt.returncode == 2 and "Explainers with a close name: sample_ones" in misspelt.stderr


def test_info_of_a_shared_explainer_prints_the_name_that_creates_it(plugin_packages, run_zoo):
    plugin_packages("sample-plugin", "sample-duplicate")
    result = run_zoo("info", "zoo-sample-duplicate:sample_ones")
    assert result.returncode == 0, result.stderr
    assert "name:         zoo-sample-duplicate:sample_ones (explainer" in result.stdout  # bare, it is ambiguous
    assert run_zoo("info", "sample_ones").returncode == 2


def test_info_of_a_shared_name_prints_the_names_that_create_it(plugin_packages, run_zoo):
    """It printed 'sample_segmenter.other', which zoo.create refuses as ambiguous."""
    plugin_packages("sample-plugin", "sample-duplicate")
    result = run_zoo("info", "zoo-sample-plugin:sample_segmenter")
    assert result.returncode == 0, result.stderr
    assert "name:         zoo-sample-plugin:sample_segmenter" in result.stdout
    assert "pretrained:   zoo-sample-plugin:sample_segmenter.other (default)" in result.stdout


def test_info_shows_the_builder_arguments_a_tag_was_trained_with(run_zoo):
    result = run_zoo("info", "unet.shapes")
    assert result.returncode == 0, result.stderr
    assert "kwargs:     {'base_width': 8, 'depth': 4, 'upsample': 'transposed'}" in result.stdout


def test_info_and_the_pretrained_listing_show_the_cards_metrics(run_zoo):
    """The issue's "info NAME (spec, plugin, tags, card metrics)": the tests used tags without metrics."""
    import json
    from pathlib import Path

    miou = json.loads((Path(__file__).resolve().parents[2] / "hubcards/unet.shapes/config.json").read_text())[
        "metrics"]["miou"]
    info = run_zoo("info", "unet.shapes")
    assert info.returncode == 0, info.stderr
    assert f"metrics:    miou={miou:.4g}" in info.stdout
    listing = run_zoo("list", "unet", "--pretrained")
    row = next(line for line in listing.stdout.splitlines() if line.startswith("unet.shapes"))
    assert f"miou={miou:.4g}" in row


def test_unknown_name_exits_2_with_suggestion(plugin_packages, run_zoo):
    plugin_packages("sample-plugin")
    result = run_zoo("info", "sample_segmentr")
    assert result.returncode == 2
    assert "Did you mean: sample_segmenter" in result.stderr


def test_usage_error_exits_2(run_zoo):
    assert run_zoo("no-such-command").returncode == 2
    assert run_zoo().returncode == 2


def test_doctor_reports_every_plugin_and_failure(plugin_packages, run_zoo):
    plugin_packages("sample-plugin", "broken-plugins", "sample-duplicate")
    result = run_zoo("doctor")
    assert result.returncode == 1
    out = result.stdout
    assert "sample  [zoo-sample-plugin 1.2.3]  ok" in out
    assert "broken_import  [zoo-broken-plugins 0.0.1]  FAILED" in out
    assert "No module named 'zoo_a_module_that_does_not_exist'" in out
    assert "hook exploded on purpose" in out
    assert "misspelled_hook  [zoo-broken-plugins 0.0.1]  FAILED" in out  # registered nothing: not "partial"
    assert "conflict: model sample_segmenter is registered by" in out
    conflict_line = next(line for line in out.splitlines() if line.startswith("conflict:"))
    assert "zoo-sample-plugin" in conflict_line and "zoo-sample-duplicate" in conflict_line
    assert "or keep one (ZOO_DISABLE_PLUGINS=zoo-sample-" in conflict_line  # a value to set, not just the variable


def test_doctor_healthy_exits_0(plugin_packages, monkeypatch, run_zoo):
    plugin_packages("sample-plugin")
    monkeypatch.setenv("ZOO_PLUGINS", "zoo-sample-plugin")
    result = run_zoo("doctor")
    assert result.returncode == 0, result.stdout
    assert "all plugins healthy" in result.stdout


def test_list_survives_a_name_conflict(plugin_packages, run_zoo):
    """Each claim of a clashing name is a row of its own, named as it can be created (dist:name),
    with its own task and tags; --pretrained lists each claim's tags (it used to raise KeyError
    looking a tag up in the first claim only)."""
    plugin_packages("sample-plugin", "sample-duplicate")
    result = run_zoo("list", "sample_seg*")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if ":sample_segmenter" in line]
    assert sorted(rows) == [["zoo-sample-duplicate:sample_segmenter", "semantic_segmentation", "zoo-sample-duplicate",
                             "dup"],
                            ["zoo-sample-plugin:sample_segmenter", "semantic_segmentation", "zoo-sample-plugin",
                             "toy,", "other"]]
    result = run_zoo("list", "sample_seg*", "--pretrained")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[2:]]
    assert names == ["zoo-sample-duplicate:sample_segmenter.dup", "zoo-sample-plugin:sample_segmenter.other",
                     "zoo-sample-plugin:sample_segmenter.toy"]
    assert run_zoo("list", "sample_seg*", "--pretrained", "--names").stdout.split() == names
    result = run_zoo("list", "sample_*")  # a clashing explainer name as well
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if ":sample_ones" in line]
    assert sorted(row[0] for row in rows) == ["zoo-sample-duplicate:sample_ones", "zoo-sample-plugin:sample_ones"]
    assert all(row[0].split(":")[0] in row[1:] for row in rows)  # each row shows its own plugin


def test_a_plugin_looking_the_registry_up_while_loading_is_refused_not_hung(plugin_packages, run_zoo):
    """Discovery holds the registry lock; a hook calling zoo.model_info() used to wait on it forever."""
    plugin_packages("sample-plugin", "reentrant-plugin")
    result = run_zoo("list", "--names", timeout=120)  # a hang fails in 2 minutes, not in 10
    assert result.returncode == 0, result.stderr
    assert "sample_segmenter" in result.stdout and "alias_of_sample_segmenter" not in result.stdout
    assert "reentrant" in result.stderr and "cannot be called while plugins are being loaded" in result.stderr


def test_an_ambiguous_name_is_a_usage_error(plugin_packages, run_zoo):
    plugin_packages("sample-plugin", "sample-duplicate")
    result = run_zoo("info", "sample_segmenter")
    assert result.returncode == 2
    assert "zoo-sample-duplicate:sample_segmenter" in result.stderr or "zoo-sample-plugin:sample_segmenter" in result.stderr


def test_a_broken_plugin_under_pythonwarnings_error_is_a_warning_line_not_a_crash(plugin_packages, run_zoo):
    """CI often sets PYTHONWARNINGS=error: one broken plugin used to stop every command but doctor."""
    plugin_packages("sample-plugin", "broken-plugins")
    result = run_zoo("list", "sample_*", "--names", env={"PYTHONWARNINGS": "error"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["sample_classifier", "sample_segmenter"]
    assert "zoo: warning:" in result.stderr and "Traceback" not in result.stderr
    # commands that report plugins themselves (doctor, check) or use none (cache) print no such lines
    for args in (["check", "sample_classifier", "--checks", "registration"], ["cache"]):
        quiet = run_zoo(*args, env={"PYTHONWARNINGS": "error"})
        assert quiet.returncode == 0 and "zoo: warning:" not in quiet.stderr, args



def test_version_and_python_dash_m_zoo():
    import subprocess
    import sys
    from importlib.metadata import version

    out = subprocess.run([sys.executable, "-m", "zoo", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"visionzoo {version('visionzoo')}"


def test_info_escapes_control_characters_of_a_plugins_text(monkeypatch, capsys):
    """A description holding an escape sequence retitled and cleared the user's terminal."""
    import zoo
    import zoo.registry
    from zoo.cli import main

    class Plugin:
        @zoo.hookimpl
        def zoo_architectures(self):
            return [zoo.ArchitectureSpec("noisy_net", "classification", builder="m:f",
                                         description="desc\x1b]0;TITLE\x07\x1b[2J")]

    registry = zoo.registry.Registry()
    registry.register(Plugin(), name="noisy")
    monkeypatch.setattr(zoo.registry, "_registry", registry)
    assert main(["info", "noisy_net"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "description:  desc\\x1b]0;TITLE\\x07\\x1b[2J" in out


def test_main_shows_warnings_its_way_for_its_own_command_only():
    """main() set warnings.showwarning for good: after `zoo demo` (which runs commands in-process)
    or a notebook's main([...]), every warning lost its category and location."""
    import warnings

    import pytest

    from zoo.cli import main

    before = warnings.showwarning
    assert main(["list", "--names", "unet"]) == 0
    assert warnings.showwarning is before
    with pytest.raises(SystemExit):
        main(["list", "--no-such-option"])  # argparse exits: restored all the same
    assert warnings.showwarning is before
