"""Gradient-weighted class activation maps: Grad-CAM, Grad-CAM++ and HiResCAM.

Gradients of the target score with respect to the feature map A come from one batched
forward/backward pass (``torch.autograd.grad`` on the captured map: no backward hooks).
"""

from __future__ import annotations

import torch

from zoo_explainers.cam import FeatureMapExplainer


class GradCAM(FeatureMapExplainer):
    """Grad-CAM (Selvaraju et al. 2017): channel weights are the spatially averaged gradients,
    ``ReLU(sum_k mean_ij(dS/dA_k) * A_k)``. On a GAP + linear head this is ReLU(CAM) up to scale."""

    name = "gradcam"

    def combine(self, features, grads, classes):
        weights = grads.mean(dim=(2, 3))
        return torch.einsum("nc,nchw->nhw", weights, features)


class GradCAMPlusPlus(FeatureMapExplainer):
    """Grad-CAM++ (Chattopadhyay et al. 2018): weights sum the positive gradients with
    pixel-wise coefficients ``g^2 / (2 g^2 + sum_ij(A) g^3)`` (the exponential-score closed form)."""

    name = "gradcam_pp"

    def combine(self, features, grads, classes):
        # in float32 at least: squares and cubes of a half model's small gradients underflowed to 0
        dtype = torch.promote_types(features.dtype, torch.float32)
        features, grads = features.to(dtype), grads.to(dtype)
        g2 = grads.pow(2)
        denom = 2 * g2 + features.sum(dim=(2, 3), keepdim=True) * grads.pow(3)
        alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
        weights = (alpha * grads.clamp_min(0)).sum(dim=(2, 3))
        return torch.einsum("nc,nchw->nhw", weights, features)


class HiResCAM(FeatureMapExplainer):
    """HiResCAM (Draelos & Carin 2020): ``sum_k dS/dA_k * A_k`` element-wise, without averaging
    the gradients first, so the map reflects the locations the score actually used."""

    name = "hirescam"

    def combine(self, features, grads, classes):
        return (grads * features).sum(dim=1)
