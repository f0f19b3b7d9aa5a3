"""Helpers and pytest fixtures for testing against the embedded hub (olah on loopback).

Importable from any test directory::

    from zoo.testing.hub_fixture import served_hubcards   # in a conftest.py or a test module

``served_hubcards`` points ``HF_ENDPOINT`` at a server for :func:`source_hubcards` (a plugin
author's ``./hubcards``, or the zoo's own) and ``HF_HUB_CACHE`` at a fresh per-test cache. ``make_card`` writes a hub-card folder for
any state dict, and ``tiny_segmenter`` is a small model for hub tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from zoo.card_folders import default_hubcards_dir, project_hubcards
from zoo.hookspecs import hookimpl
from zoo.hub_server import HubServer, build_mirrors, card_hub_id

def tiny_segmenter(num_classes: int = 3, in_chans: int = 3, width: int = 8, ballast: int = 0):
    """conv3x3-BN-ReLU-conv1x1; ``ballast`` adds a parameter of that many floats (big files)."""
    import torch
    import torch.nn as nn

    class TinySegmenter(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(in_chans, width, 3, padding=1)
            self.bn = nn.BatchNorm2d(width)
            self.head = nn.Conv2d(width, num_classes, 1)
            if ballast:
                self.ballast = nn.Parameter(torch.zeros(ballast))

        def forward(self, x):
            return self.head(torch.relu(self.bn(self.stem(x))))

    return TinySegmenter()


def seeded_state(seed: int = 0, **kwargs) -> dict:
    """A deterministic state dict of :func:`tiny_segmenter` (random values, not the init)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    state = tiny_segmenter(**kwargs).state_dict()
    state = {k: (torch.randn(v.shape, generator=generator, dtype=v.dtype) if v.is_floating_point() else v)
             for k, v in state.items()}
    return {k: (v.abs() + 0.5 if k.endswith("running_var") else v) for k, v in state.items()}


HUBTEST_ARCH = "hubtest_seg"


class HubTestPlugin:
    """An in-process plugin registering ``hubtest_seg`` with the given pretrained tags."""

    def __init__(self, tags: dict[str, dict]):
        self.tags = tags

    @hookimpl
    def zoo_architectures(self):
        import zoo

        pretrained = {tag: zoo.PretrainedCfg(**cfg) for tag, cfg in self.tags.items()}
        return [zoo.ArchitectureSpec(name=HUBTEST_ARCH, task="semantic_segmentation",
                                     builder="zoo.testing.hub_fixture:tiny_segmenter", defaults={"width": 8},
                                     pretrained=pretrained, description="tiny segmenter for hub tests")]


def register_hubtest(tags: dict[str, dict]):
    """Register :class:`HubTestPlugin` (``tags``: tag -> PretrainedCfg keyword arguments)."""
    from zoo.registry import get_registry

    return get_registry().register(HubTestPlugin(tags), name="hubtest", distribution="zoo-hub-tests")


def make_card(hubcards_dir: str | Path, name: str, state: dict, *, hf_hub_id: str | None = None,
              **config) -> tuple[Path, str]:
    """Write ``hubcards_dir/<name>/`` (model.safetensors, config.json, README.md); return (dir, sha256)."""
    from safetensors.torch import save_file

    from zoo.hub import sha256_of

    card = Path(hubcards_dir) / name
    card.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(card / "model.safetensors"))
    config = {"architecture": name.split(".")[0], **config}
    if hf_hub_id:
        config["hf_hub_id"] = hf_hub_id
    (card / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (card / "README.md").write_text(f"---\nlicense: apache-2.0\nlibrary_name: visionzoo\n---\n# {name}\n\nTest card.\n")
    return card, sha256_of(card / "model.safetensors")


def source_hubcards() -> Path:
    """The cards the tests serve: ``$ZOO_HUBCARDS_DIR``, else the project's own ``hubcards/`` (of the
    folder the tests run from or of the nearest one above it up to the project's root:
    :func:`zoo.card_folders.project_hubcards`, where the ``pretrained_tags`` check finds a plugin
    author's cards), else the zoo's source tree's."""
    project = None if os.environ.get("ZOO_HUBCARDS_DIR") else project_hubcards()
    return (project or default_hubcards_dir()).absolute()  # absolute: the session's server is kept by folder


def use_hub(monkeypatch, endpoint: str, cache: Path) -> None:
    """Point huggingface_hub (through the zoo's call-time settings) at ``endpoint`` and ``cache``."""
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def cache_files(cache: str | Path) -> list[str]:
    """Every file and link under a HF cache, relative, for assertions about what was left behind."""
    cache = Path(cache)
    if not cache.exists():
        return []
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file() or p.is_symlink())


def weight_files(cache: str | Path) -> list[str]:
    """Blobs, snapshot links and partial downloads in a HF cache (not locks or refs)."""
    return [p for p in cache_files(cache) if "/blobs/" in p or "/snapshots/" in p or p.endswith(".incomplete")]


_SOURCE_HUB: dict[str, HubServer] = {}


def _source_hub(request, tmp_path_factory) -> HubServer | None:
    """One server for :func:`source_hubcards` per pytest session, stopped when it ends."""
    cards = source_hubcards()
    if not cards.is_dir() or not any(p.is_dir() for p in cards.iterdir()):
        return None
    server = _SOURCE_HUB.get(str(cards))
    if server is None or not server.running:
        server = HubServer(cards, cache_dir=tmp_path_factory.mktemp("hub-serve")).start()
        _SOURCE_HUB[str(cards)] = server
        request.config.add_cleanup(server.stop)
    return server


@pytest.fixture
def served_hubcards(request, tmp_path_factory, tmp_path, monkeypatch) -> HubServer:
    """:func:`source_hubcards` served by olah, HF_ENDPOINT set, a fresh HF cache. Skips if no cards.

    Self-contained: importing this one name into a conftest.py (or a test module) is enough.
    """
    server = _source_hub(request, tmp_path_factory)
    if server is None:
        pytest.skip(f"no hub cards in {source_hubcards()}: nothing to serve")
    use_hub(monkeypatch, server.endpoint, tmp_path / "hf-cache")
    return server


__all__ = ["HubServer", "HubTestPlugin", "build_mirrors", "cache_files", "card_hub_id", "make_card", "register_hubtest",
           "seeded_state", "served_hubcards", "source_hubcards", "tiny_segmenter", "use_hub", "weight_files"]
