"""Minimal explainers that keep the contract: hooks never used, state restored in finally."""

import torch
import torch.nn.functional as F

import zoo
from zoo.inputs import check_image_batch

MIN_SIZE = 32  # the contract's minimum image size: the suite must never feed anything smaller


def _targets(target, n, scores):
    if target is None:
        return scores.argmax(1)
    if isinstance(target, int):
        return torch.full((n,), target, dtype=torch.long)
    if len(target) != n:
        raise ValueError(f"got {len(target)} targets for {n} images; give one per image")
    return torch.as_tensor(list(target), dtype=torch.long)


def _normalise(maps):
    flat = maps.flatten(1)
    low, high = flat.min(1, keepdim=True)[0], flat.max(1, keepdim=True)[0]
    return ((flat - low) / (high - low).clamp_min(1e-12)).view_as(maps)


class _EvalMode:
    """Put every module in eval mode for one call and restore each module's own flag after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc):
        for module, flag in self.flags:
            module.training = flag


def _class_scores(logits):
    """Classifier logits as they are; segmentation logits summed over the pixels."""
    return logits if logits.ndim == 2 else logits.flatten(2).sum(2)


class CAM(zoo.Explainer):
    normalize = True

    @torch.no_grad()
    def __call__(self, images, target=None):
        check_image_batch(images, in_chans=images.shape[1], min_size=MIN_SIZE, owner="good_cam")
        with _EvalMode(self.model):
            features = self.model.forward_features(images)
            weights = self.model.get_classifier().weight
            logits = self.model.get_classifier()(features.mean((2, 3)))
            classes = _targets(target, len(images), logits)
            maps = torch.einsum("nc,nchw->nhw", weights[classes], features).relu()
            maps = F.interpolate(maps[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
            return _normalise(maps)


class Saliency(zoo.Explainer):
    normalize = True

    def _gradients(self, images, target):
        x = images.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            scores = _class_scores(self.model(x))
            classes = _targets(target, len(images), scores)
            (grad,) = torch.autograd.grad(scores.gather(1, classes[:, None]).sum(), x)
        return grad

    def __call__(self, images, target=None):
        check_image_batch(images, in_chans=images.shape[1], min_size=MIN_SIZE, owner="good_saliency")
        with _EvalMode(self.model):
            return _normalise(self._gradients(images, target).abs().amax(1))


class SmoothGrad(Saliency):
    def __init__(self, model, n_samples=8, sigma=0.1):
        super().__init__(model)
        self.n_samples, self.sigma = n_samples, sigma

    def __call__(self, images, target=None):
        with _EvalMode(self.model):
            if target is None:
                with torch.no_grad():
                    target = self.model(images).argmax(1).tolist()
            total = torch.zeros(images.shape[0], *images.shape[2:])
            for _ in range(self.n_samples):
                noisy = images + self.sigma * torch.randn_like(images)
                total += self._gradients(noisy, target).abs().amax(1)
            return _normalise(total)
