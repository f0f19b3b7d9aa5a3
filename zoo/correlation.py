"""Correlations of explanation maps, as the sanity checks compare them (the conformance suite's
and the explainers' faithfulness report): Pearson, and Spearman's rank correlation."""

from __future__ import annotations


def correlation(a, b) -> float:
    """Pearson correlation of two tensors' values: 1.0 when they are equal (the same blank map
    included), 0.0 when one is constant or they are different constants."""
    a, b = a.flatten().double(), b.flatten().double()
    if bool((a == b).all()):
        return 1.0
    a, b = a - a.mean(), b - b.mean()
    denom = (a.norm() * b.norm()).item()
    return float((a @ b).item() / denom) if denom > 0 else 0.0


def rank_correlation(a, b) -> float:
    """Spearman's rank correlation of two tensors' values (ties share their mean rank). Two
    constant tensors rank alike, so they correlate 1.0 (blank maps from both models: no sign of a
    difference); a constant one and a varying one 0.0."""
    return correlation(_ranks(a), _ranks(b))


def _ranks(x):
    import torch

    _, inverse, counts = torch.unique(x.flatten(), return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    return (ends - (counts.double() - 1) / 2)[inverse]
