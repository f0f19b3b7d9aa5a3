"""The two front ends over the same checks: `zoo check` and the pytest plugin / base classes,
run as a plugin author would, in subprocesses against installed packages."""

from __future__ import annotations

import subprocess
import sys
import textwrap

ZOO = [sys.executable, "-m", "zoo.cli"]


def _run(args, cwd=None):
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=600)


def test_zoo_check_table_and_exit_codes(plugin_packages):
    plugin_packages("conformance-good", "conformance-bad")
    bad = _run(ZOO + ["check", "good_segmenter", "half_segmenter", "leaky_explainer"])
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "model good_segmenter       segmentation_output      PASS" in bad.stdout
    assert "FAILED model half_segmenter: segmentation_output" in bad.stdout
    assert "clause: semantic_segmentation: (N, C, H, W) -> logits (N, K, H, W)" in bad.stdout
    assert "input (1, 3, 33, 47) gave tensor (1, 3, 17, 24) float32; expected (1, 3, 33, 47)" in bad.stdout
    assert "FAILED explainer leaky_explainer: explainer_hooks" in bad.stdout
    assert "2 failed" in bad.stdout

    good = _run(ZOO + ["check", "--plugin", "zoo-conformance-good", "--checks", "build", "--checks", "export"])
    assert good.returncode == 0, good.stdout + good.stderr
    assert "SKIP" in good.stdout and "spec opts out: torchvision's detection heads" in good.stdout

    unknown = _run(ZOO + ["check", "good_segmentr"])
    assert unknown.returncode == 2 and "Did you mean: good_segmenter" in unknown.stderr


def test_pytest_base_classes(plugin_packages, tmp_path):
    plugin_packages("conformance-good", "conformance-bad")
    (tmp_path / "test_mine.py").write_text(textwrap.dedent("""
        from zoo.testing import ExplainerTests, ModelTests

        class TestGoodClassifier(ModelTests):
            name = "good_classifier"

        class TestGoodCam(ExplainerTests):
            name = "good_cam"
    """))
    subclassed = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py"], cwd=tmp_path)
    assert subclassed.returncode == 0, subclassed.stdout + subclassed.stderr
    assert "passed" in subclassed.stdout and "failed" not in subclassed.stdout


def test_pytest_options(plugin_packages, tmp_path):
    plugin_packages("conformance-good", "conformance-bad")
    plugin = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf",
                   "--zoo-check=good_segmenter", "--zoo-check=half_segmenter"], cwd=tmp_path)
    assert plugin.returncode == 1, plugin.stdout + plugin.stderr
    assert "FAILED zoo-check::half_segmenter::segmentation_output" in plugin.stdout
    assert "clause: semantic_segmentation: (N, C, H, W) -> logits (N, K, H, W)" in plugin.stdout
    assert "1 failed" in plugin.stdout

    off = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path)
    assert "no tests ran" in off.stdout  # inert unless asked for


def test_last_failed_reruns_only_the_failed_checks(plugin_packages, tmp_path):
    """Items named "<subject>::<check>" under one collector never matched their own ids in pytest's
    cache, so --lf reported "known failures not in selected tests" and ran everything again."""
    plugin_packages("conformance-good", "conformance-bad")
    args = [sys.executable, "-m", "pytest", "-q", "--zoo-check=good_segmenter", "--zoo-check=half_segmenter"]
    first = _run(args, cwd=tmp_path)
    assert first.returncode == 1 and "1 failed" in first.stdout, first.stdout + first.stderr
    again = _run([*args, "--lf"], cwd=tmp_path)
    summary = again.stdout.splitlines()[-1]
    assert summary.startswith("1 failed, ") and "deselected" in summary and "passed" not in summary, again.stdout


def test_a_rejected_spec_fails_by_pattern_and_once_in_a_test_class(plugin_packages, tmp_path):
    plugin_packages("conformance-bad")
    by_pattern = _run(ZOO + ["check", "rejected_*", "--checks", "build"])
    assert by_pattern.returncode == 1, by_pattern.stdout + by_pattern.stderr
    assert "plugin_loads" in by_pattern.stdout and "hf_hub_id 'just-a-name' is not of the form" in by_pattern.stdout

    (tmp_path / "test_rejected.py").write_text(textwrap.dedent("""
        from zoo.testing import ModelTests

        class TestRejected(ModelTests):
            name = "rejected_segmenter"
    """))
    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", "test_rejected.py"],
               cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 error" in out.stdout and "skipped" in out.stdout, out.stdout
    assert "the registry rejected its spec" in out.stdout and "just-a-name" in out.stdout


def test_an_unbuildable_model_fails_once_in_both_front_ends(plugin_packages, tmp_path):
    plugin_packages("conformance-bad")
    cli = _run(ZOO + ["check", "unbuildable_segmenter"])
    via_pytest = _run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-W", "ignore",
                       "--zoo-check=unbuildable_segmenter"], cwd=tmp_path)
    skipped = cli.stdout.count("SKIP")
    assert "1 failed" in cli.stdout and skipped > 5, cli.stdout
    assert f"1 failed, 1 passed, {skipped} skipped" in via_pytest.stdout, via_pytest.stdout  # registration passes
    assert "this builder always fails" in via_pytest.stdout
    for front_end in (cli, via_pytest):  # one rule, one message: both
        assert "the model does not build (see its build check)" in front_end.stdout, front_end.stdout


def test_an_ini_option_checks_my_package_on_every_run(plugin_packages, tmp_path):
    plugin_packages("conformance-good")
    (tmp_path / "pytest.ini").write_text("[pytest]\nzoo_check_plugins = zoo-conformance-good\n")
    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "build and not pretrained"],
               cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 passed" in out.stdout, out.stdout  # the build check of its three models


def test_an_unimportable_local_spec_fails_once(tmp_path):
    """The 'test before installing' recipe with a builder that cannot be imported: one failure
    naming the import error, the other checks skipped, even though the fixture makes a new
    subject for every test."""
    (tmp_path / "test_local.py").write_text(textwrap.dedent("""
        import pytest
        import zoo
        from zoo.testing import ModelSubject, ModelTests

        class TestLocal(ModelTests):
            @pytest.fixture
            def zoo_subject(self):
                return ModelSubject(spec=zoo.ArchitectureSpec(
                    name="local_seg", task="semantic_segmentation", builder="not_installed_pkg.models:Seg"))
    """))
    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_local.py"], cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 failed" in out.stdout and "skipped" in out.stdout, out.stdout
    assert "No module named 'not_installed_pkg'" in out.stdout and "<frozen" not in out.stdout
    assert "run `python -m pytest` from its root" in out.stdout  # the usual cause, testing in place


def test_pytest_says_when_the_suite_could_verify_nothing_as_zoo_check_does(plugin_packages, tmp_path):
    """An explainer for instance segmentation only: every check of what it does skips (no reference
    detector). `zoo check` adds a "NOTHING VERIFIED" row; pytest's summary says the same, in both
    front ends, and not when -k ran only some checks."""
    plugin_packages("conformance-bad")
    (tmp_path / "test_mine.py").write_text(textwrap.dedent("""
        from zoo.testing import ExplainerTests

        class TestInstanceOnly(ExplainerTests):
            name = "instance_only_explainer"
    """))
    pytest_ = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    for args in (["test_mine.py"], ["--zoo-check=instance_only_explainer"]):
        out = _run(pytest_ + args, cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "zoo: conformance unknown" in out.stdout, out.stdout
        assert "explainer instance_only_explainer: NOTHING VERIFIED" in out.stdout
    narrowed = _run(pytest_ + ["test_mine.py", "-k", "explainer_output"], cwd=tmp_path)
    assert "NOTHING VERIFIED" not in narrowed.stdout
