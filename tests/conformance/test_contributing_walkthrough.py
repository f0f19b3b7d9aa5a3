"""CONTRIBUTING.md's walk-through, copied verbatim into a package, installs, passes `zoo check`
and its committed conformance tests: the documentation a plugin author starts from works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CONTRIBUTING = Path(__file__).resolve().parents[2] / "CONTRIBUTING.md"

# where each file of the package is shown: the text just before its code block
FILES = {
    "pyproject.toml": "`pyproject.toml`:\n",
    "my_zoo_plugin/plugin.py": "`my_zoo_plugin/plugin.py`:\n",
    "my_zoo_plugin/models.py": "`my_zoo_plugin/models.py`:\n",
    "my_zoo_plugin/explain.py": "`my_zoo_plugin/explain.py`:",
    "tests/test_conformance.py": "```python\n# tests/test_conformance.py\n",
}


def _block(text: str, marker: str) -> str:
    start = text.index(marker)
    match = re.compile(r"```(?:python|toml)\n(.*?)```", re.S).search(text, start)
    return match.group(1)


def test_the_walkthrough_works_as_written(tmp_path):
    text = CONTRIBUTING.read_text()
    package = tmp_path / "my-zoo-plugin"
    for name, marker in FILES.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_block(text, marker))
    (package / "my_zoo_plugin" / "__init__.py").write_text("")
    (package / "hubcards").mkdir()  # the tree it shows: with it beside the package, setuptools refused to guess
    (package / "hubcards" / "README.md").write_text("cards of the weights this package publishes\n")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(package)], check=True, capture_output=True)
    # the package's site first, ahead of whatever PYTHONPATH already finds zoo on (kept, not replaced)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    check = subprocess.run([sys.executable, "-m", "zoo.cli", "check", "--plugin", "my-zoo-plugin"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "model my_segmenter" in check.stdout and "explainer my_cam" in check.stdout
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                           capture_output=True, text=True, env=env, cwd=package)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "error" not in tests.stdout and "failed" not in tests.stdout, tests.stdout


def test_every_pyproject_it_shows_declares_what_pip_needs():
    """The first example lacked `version` (and a build system): `pip install -e .` refused it."""
    import tomllib

    blocks = [tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", CONTRIBUTING.read_text(), re.S)]
    projects = [b for b in blocks if "project" in b]
    assert len(projects) >= 2
    for data in projects:
        assert {"name", "version"} <= data["project"].keys() and "build-backend" in data["build-system"], data
