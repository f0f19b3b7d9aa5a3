"""The core installed alone (no plugin distribution): every command says that models come in
plugins, instead of an empty listing that looks healthy and a bare "Unknown model"."""

from __future__ import annotations

import importlib.metadata

import pytest

import zoo
from zoo.cli import main
from zoo.registry import reset_registry


@pytest.fixture
def no_plugins_installed(monkeypatch):
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **kw: [] if kw.get("group") == "zoo" else real(**kw))
    monkeypatch.delenv("ZOO_PLUGINS", raising=False)
    monkeypatch.delenv("ZOO_DISABLE_PLUGINS", raising=False)
    reset_registry()
    yield
    reset_registry()


def test_create_says_no_plugin_is_installed(no_plugins_installed):
    with pytest.raises(zoo.UnknownModelError, match="No zoo plugin is installed .*plugin distributions"):
        zoo.create("unet")


def test_doctor_and_check_all_fail_when_nothing_is_installed(no_plugins_installed, capsys):
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "error: no zoo plugin is installed" in out and "all plugins healthy" not in out
    assert main(["check", "--all"]) == 1  # as pytest's exit 5: checking nothing must not pass a CI job
    assert "nothing was checked" in capsys.readouterr().out
