"""Every shipped pretrained tag, through the served hub: the weights equal the card's file.

Data-driven: for each ``zoo.list_models(pretrained=True)`` tag whose ``hubcards/<arch>.<tag>/``
folder holds its weights file, create the model with ``pretrained=True`` through olah, compare
its state dict with the file, then again with ``HF_HUB_OFFLINE=1`` from the cache alone.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo.registry import reset_registry
from zoo.testing.hub_fixture import source_hubcards


def _shipped() -> tuple[list[str], str]:
    cards = source_hubcards()
    reset_registry()
    try:
        names = zoo.list_models(pretrained=True)
        with_weights, without = [], []
        for name in names:
            if (cards / name).is_dir():
                cfg = zoo.model_info(name.split(".")[0]).pretrained[name.split(".", 1)[1]]
                (with_weights if (cards / name / cfg.filename).is_file() else without).append(name)
    finally:
        reset_registry()
    reason = (f"no pretrained tag has its weights in {cards}/<arch>.<tag>/ yet"
              + (f" (card folders without weights: {', '.join(without)})" if without else "")
              + f"; registered tags: {', '.join(names) or 'none'}")
    return with_weights, reason


SHIPPED, NO_CARDS_REASON = _shipped()


@pytest.mark.parametrize("name", SHIPPED or [pytest.param(None, marks=pytest.mark.skip(reason=NO_CARDS_REASON))])
def test_shipped_weights_through_the_served_hub_then_offline(name, served_hubcards, monkeypatch):
    arch, tag = name.split(".", 1)
    cfg = zoo.model_info(arch).pretrained[tag]
    reference = load_file(str(source_hubcards() / name / cfg.filename))

    def check(model):
        assert not model.training
        state = model.state_dict()
        assert set(reference) <= set(state)
        for key, value in reference.items():
            assert torch.equal(state[key].to(value.dtype), value), f"{name}: {key} differs from the card"

    check(zoo.create(name, pretrained=True))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    check(zoo.create(name, pretrained=True))


def test_evaluate_pretrained_measures_the_weights_the_hub_serves(served_hubcards, tmp_path, capsys):
    """``zoo evaluate --pretrained`` loads through zoo.create(pretrained=True): a card folder without
    its weights file is measured all the same, on the served file."""
    import json
    import shutil

    from zoo.cli import main

    card = tmp_path / "cards" / "cnn_cam.digits"
    card.mkdir(parents=True)
    shutil.copy(source_hubcards() / "cnn_cam.digits" / "config.json", card / "config.json")
    args = ["evaluate", "cnn_cam.digits", "--hubcards", str(tmp_path / "cards"), "--json"]
    assert main(args) == 3  # the card's own file is missing
    capsys.readouterr()
    assert main([*args, "--pretrained"]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert measured == json.loads((card / "config.json").read_text())["metrics"]
