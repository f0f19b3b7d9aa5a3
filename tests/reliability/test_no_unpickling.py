"""No code path may unpickle: a weights file is data, never code (issue 9, Security).

The static check reads every module of the package and the plugins with ``ast`` (not a text
search, which misses ``from torch import load``, ``import pickle as pk``, ``pd.read_pickle``
or a ``#`` inside a string): it refuses any import of an unpickling module and any reference to
an unpickling function, through whatever alias it was imported. The runtime guard makes every
unpickling entry point raise while weights are loaded.
"""

from __future__ import annotations

import _pickle
import ast
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import zoo

ROOT = Path(__file__).resolve().parents[2]
# Importing any of these at all is refused: each exists to (un)pickle. Not pickletools, which only
# parses opcodes (zoo.checkpoint_files walks them to recognise an old pickle in a hub card).
UNPICKLING_MODULES = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "joblib", "shelve"}
# Functions that unpickle, by their full dotted name (aliases resolved).
UNPICKLING_FUNCTIONS = {"torch.load", "torch.serialization.load", "torch.hub.load",
                        "torch.hub.load_state_dict_from_url", "numpy.load", "pandas.read_pickle"}
ANY_OBJECT_ATTRIBUTES = {"read_pickle"}  # df-like libraries: pd.read_pickle, polars, ...


def unpickling_uses(source: str, filename: str = "<string>") -> list[str]:
    """``"line: what"`` for each unpickling import or reference in ``source``."""
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}  # local name -> full dotted name
    found = []

    def dotted(node) -> str | None:
        if isinstance(node, ast.Name):
            return aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    for node in ast.walk(tree):  # imports first, so aliases are known wherever they are used
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in UNPICKLING_MODULES:
                    found.append(f"{node.lineno}: import {alias.name}")
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if node.module.split(".")[0] in UNPICKLING_MODULES or full in UNPICKLING_FUNCTIONS:
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
                aliases[alias.asname or alias.name] = full
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = dotted(node)
            if name in UNPICKLING_FUNCTIONS or node.attr in ANY_OBJECT_ATTRIBUTES:
                found.append(f"{node.lineno}: {name or node.attr}")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[-1], ast.Constant):
            func, arg = dotted(node.func), node.args[-1].value
            if func in {"__import__", "importlib.import_module"} and str(arg).split(".")[0] in UNPICKLING_MODULES:
                found.append(f"{node.lineno}: {func}({arg!r})")
            if func == "getattr" and len(node.args) == 2 and f"{dotted(node.args[0])}.{arg}" in UNPICKLING_FUNCTIONS:
                found.append(f"{node.lineno}: getattr(..., {arg!r})")
    return sorted(set(found), key=lambda s: int(s.split(":")[0]))


EVASIONS = [
    "import torch\nstate = torch.load(path)",
    "from torch import load\nstate = load(path)",
    "from torch import load as read\n",
    "import torch.serialization\nstate = torch.serialization.load(path)",
    "from torch.serialization import load\n",
    "import pickle as pk\npk.loads(data)",
    "from pickle import loads\n",
    "import _pickle\n",
    "import dill\n",
    "import joblib\n",
    "import shelve\n",
    "import pandas as pd\npd.read_pickle(path)",
    "import torch as T\nT.load(path)",
    "x = '#'; import torch; torch.load(path)",
    "import importlib\nimportlib.import_module('pickle')",
    "import torch\nread = getattr(torch, 'load')",
    "import numpy as np\nnp.load(path, allow_pickle=True)",
]
HARMLESS = [
    "# torch.load(path) in a comment\nimport json\njson.load(f)",
    "text = 'never call torch.load or pickle.loads'",
    "from safetensors.torch import load_file\nload_file(path)",
    "import safetensors.torch\nsafetensors.torch.load(data)",
    "import yaml\nyaml.safe_load(text)",
    "import torch\ntorch.load_state_dict = None if False else None",
]


@pytest.mark.parametrize("source", EVASIONS)
def test_the_scanner_sees_every_spelling(source):
    assert unpickling_uses(source), source


@pytest.mark.parametrize("source", HARMLESS)
def test_the_scanner_leaves_harmless_code_alone(source):
    assert unpickling_uses(source) == [], source


def test_no_unpickling_in_the_package_or_plugins():
    offenders = []
    for path in sorted([*ROOT.joinpath("zoo").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")]):
        if "tests" in path.relative_to(ROOT).parts:
            continue
        offenders += [f"{path.relative_to(ROOT)}:{use}" for use in unpickling_uses(path.read_text(), str(path))]
    assert not offenders, "unpickling code found:\n" + "\n".join(offenders)


@pytest.fixture
def forbid_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an unpickling function was called")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(torch.serialization, "load", refuse)
    for module in (pickle, _pickle):
        for name in ("load", "loads", "Unpickler"):
            monkeypatch.setattr(module, name, refuse)


def test_the_guard_covers_every_entry_point(forbid_unpickling):
    for fn in (torch.load, torch.serialization.load, pickle.loads, pickle.load, pickle.Unpickler, _pickle.loads,
               _pickle.Unpickler):
        with pytest.raises(AssertionError, match="unpickling"):
            fn(b"")


def test_loading_weights_never_reaches_torch_load(plugin_packages, forbid_unpickling, tmp_path):
    plugin_packages("sample-plugin")
    model = zoo.create("sample_segmenter")
    path = tmp_path / "model.safetensors"
    save_file(model.state_dict(), str(path))
    loaded = zoo.create("sample_segmenter", weights=path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_a_pickle_renamed_to_safetensors_is_refused_without_unpickling(plugin_packages, forbid_unpickling,
                                                                       tmp_path):
    plugin_packages("sample-plugin")
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"0.weight": [1, 2, 3]}))
    with pytest.raises(zoo.ZooError, match="model.safetensors"):
        zoo.create("sample_segmenter", weights=path)
