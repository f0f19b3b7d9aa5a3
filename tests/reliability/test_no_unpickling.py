"""No code path may unpickle: a weights file is data, never code (issue 9, Security)."""

import pickle
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import zoo

ROOT = Path(__file__).resolve().parents[2]
UNPICKLING = re.compile(r"\b(torch\.load|pickle\.loads?|cPickle|dill\.|joblib\.load|torch\.hub\.load|"
                        r"_pickle|pickle\.Unpickler|numpy\.load|np\.load)\b")


def test_no_unpickling_call_in_the_package_or_plugins():
    offenders = []
    for path in [*ROOT.joinpath("zoo").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")]:
        if "tests" in path.relative_to(ROOT).parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if UNPICKLING.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "unpickling code found:\n" + "\n".join(offenders)


@pytest.fixture
def forbid_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an unpickling function was called")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


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
