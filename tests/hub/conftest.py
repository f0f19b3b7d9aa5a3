"""Hub tests run the real huggingface_hub client against a real olah server on loopback.

Cards are generated here (small real safetensors files of ``hubtest_seg``, a tiny model from
``zoo.testing.hub_fixture``) and registered through an in-process plugin, so these tests do
not depend on trained weights existing in hubcards/.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from zoo.testing.hub_fixture import (  # noqa: F401 - fixtures re-exported for this directory
    HubServer,
    make_card,
    register_hubtest,
    seeded_state,
    served_hubcards,
    use_hub,
)

ORG = "zoo-tests"


@pytest.fixture(scope="session")
def hub_cards(tmp_path_factory):
    """tag -> PretrainedCfg kwargs, for cards written into one session hub-cards folder."""
    root = tmp_path_factory.mktemp("hubcards")
    tags = {}
    for seed, tag in enumerate(("toy", "tamper", "conc")):
        hub_id = f"{ORG}/hubtest_seg.{tag}"
        _, sha = make_card(root, f"hubtest_seg.{tag}", seeded_state(seed), hf_hub_id=hub_id)
        tags[tag] = dict(hf_hub_id=hub_id, sha256=sha, num_classes=3, in_chans=3, default=(tag == "toy"))
    tags["missing"] = dict(hf_hub_id=f"{ORG}/hubtest_seg.missing", num_classes=3)
    return SimpleNamespace(root=root, tags=tags)


@pytest.fixture(scope="session")
def test_hub(hub_cards, tmp_path_factory):
    with HubServer(hub_cards.root, cache_dir=tmp_path_factory.mktemp("serve")) as server:
        yield server


@pytest.fixture
def hub(test_hub, hub_cards, tmp_path, monkeypatch):
    """The session hub, HF_ENDPOINT pointing at it, a fresh HF cache, ``hubtest_seg`` registered."""
    cache = tmp_path / "hf-cache"
    use_hub(monkeypatch, test_hub.endpoint, cache)
    register_hubtest(hub_cards.tags)
    return SimpleNamespace(server=test_hub, cache=cache, tags=hub_cards.tags, cards=hub_cards.root,
                           card=lambda tag: hub_cards.root / f"hubtest_seg.{tag}")

