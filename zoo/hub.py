"""Fetching pretrained weight files from the Hugging Face Hub (or any HF-compatible mirror)."""

from __future__ import annotations

from pathlib import Path

from zoo.specs import PretrainedCfg


def fetch(cfg: PretrainedCfg, revision: str | None = None) -> Path:
    """Download (or reuse from the cache) the weights file of ``cfg``; return its local path."""
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(cfg.hf_hub_id, cfg.filename, revision=revision or cfg.revision))
