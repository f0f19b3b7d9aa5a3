"""A plugin's import must not change the process for everyone else: warning filters it sets end
with its import, and torch defaults it changes are put back and reported (DESIGN: one plugin
never breaks the others)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch

import zoo
from zoo.registry import PluginWarning, get_registry


def test_warning_filters_a_plugin_sets_at_import_end_with_its_import(plugin_packages):
    """A hook module calling warnings.simplefilter("error") turned the registry's own warnings about
    another broken plugin into exceptions: `zoo list` and every create failed."""
    plugin_packages("meddling-plugin", "broken-plugins", "sample-plugin")
    filters = list(warnings.filters)
    with pytest.warns(PluginWarning, match="broken_import"):
        names = zoo.list_models()
    assert warnings.filters == filters
    assert {"meddling_filter_net", "sample_classifier"} <= set(names)
    assert zoo.create("sample_classifier") is not None


def test_torch_defaults_a_plugin_changes_at_import_are_put_back_and_reported(plugin_packages, monkeypatch):
    monkeypatch.delitem(sys.modules, "zoo_meddling_plugin.torch_state", raising=False)  # imported afresh
    plugin_packages("meddling-plugin")
    hooks = dict(torch.nn.modules.module._global_forward_hooks)
    with pytest.warns(PluginWarning, match=r"changed torch's global state \(grad mode left disabled .*; default dtype "
                                           r"left torch.float64 \(was torch.float32\); 1 global nn.Module hook\(s\) "
                                           r"left in _global_forward_hooks\)"):
        zoo.list_models()
    assert torch.get_default_dtype() == torch.float32 and torch.is_grad_enabled()
    assert torch.nn.modules.module._global_forward_hooks == hooks  # a hook on every model, removed
    (record,) = [p for p in get_registry().plugins if p.name == "torch_state"]
    assert any("the zoo put it back" in e for e in record.errors)
    assert "meddling_torch_net" in zoo.list_models()  # reported, still registered


def test_doctor_names_a_hook_module_that_imports_torch(plugin_packages):
    """Listing must not import torch (DESIGN); only a fresh process can tell who did."""
    (site,) = plugin_packages("meddling-plugin")
    env = {**os.environ, "ZOO_PLUGINS": "zoo-meddling-plugin,visionzoo-classification"}
    out = subprocess.run([sys.executable, "-m", "zoo", "doctor"], capture_output=True, text=True, env=env,
                         timeout=120).stdout
    assert "importing zoo_meddling_plugin.torch_state imported torch, paid by every listing" in out
    assert "zoo_classification.plugin imported torch" not in out
