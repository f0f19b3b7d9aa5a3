"""``zoo evaluate``: a hub card's metrics on its test split."""

from __future__ import annotations

import json
from pathlib import Path

from zoo.cli import main

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"


def test_evaluate_reproduces_the_cards_metric(capsys):
    assert main(["evaluate", "cnn_cam.digits", "--hubcards", str(HUBCARDS), "--device", "cpu", "--json"]) == 0
    card = json.loads((HUBCARDS / "cnn_cam.digits" / "config.json").read_text())
    assert json.loads(capsys.readouterr().out) == card["metrics"]


def test_a_broken_card_config_is_an_error_not_a_traceback(tmp_path, capsys):
    for name, text, problem in (("bad", '{"architecture": "unet",', "cannot read the model config"),
                                ("empty", "{}", "lacks 'architecture', 'tag'"),
                                ("partial", '{"architecture": "unet", "tag": "shapes"}', "lacks 'task', 'num_classes'")):
        card = tmp_path / name
        card.mkdir()
        (card / "config.json").write_text(text)
        assert main(["evaluate", str(card)]) == 3
        err = capsys.readouterr().err
        assert problem in err and "Traceback" not in err, err
