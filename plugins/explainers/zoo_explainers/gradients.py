"""Gradient attributions with respect to the input pixels.

- ``saliency``: ``max_c |dS/dx_c|`` (Simonyan et al. 2013).
- ``smoothgrad``: the same, with ``|dS/dx|`` averaged over noisy copies first (Smilkov et al. 2017).
- ``integrated_gradients``: ``sum_c (x - x') * mean_a dS/dx(x' + a (x - x'))``, signed, so the
  map sums to S(x) - S(x') (Sundararajan et al. 2017).
- ``guided_backprop``: gradients with negative signals zeroed at every ReLU (Springenberg et
  al. 2015). It FAILS the model-randomisation sanity check (Adebayo et al. 2018): its maps barely
  change when the weights are randomised, so it shows edges, not what the model uses.

Noisy copies and path points go through the model together: copies of the whole batch are
stacked into a few large forward/backward passes (``chunk_size``, model inputs per pass; by
default sized to the input on the CPU, see :mod:`zoo_explainers.stacking`), never one per copy.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo_explainers.base import EMPTY_MAPS, BaseExplainer, gradient
from zoo_explainers.errors import OptionError, UnsupportedModelError
from zoo_explainers.generators import call_generator
from zoo_explainers.options import (
    check_baseline,
    check_chunk_size,
    check_count,
    check_flag,
    check_number,
    check_seed,
)
from zoo_explainers.hygiene import HookBag
from zoo_explainers.maps import minmax
from zoo_explainers.stacking import StackedForward, each_pass
from zoo_explainers.targets import (
    ScoreFn,
    SegmentationClassSum,
    default_score_fn,
    explained_output,
    resolve_classes,
    stacked_scores,
    target_region,
    warn_empty_regions,
)


class _Targets:
    """Classes and a score function fixed on the clean images, applied to stacked copies.

    Copy j of image n sits at row ``j * N + n`` of a stacked batch; the score function is called
    once per copy on its N rows (:func:`~zoo_explainers.targets.stacked_scores`), so a user's
    ``score_fn`` with per-image data (an (N, H, W) mask) sees N rows in image order whatever
    ``chunk_size`` is. For segmentation the pixels explained are those predicted on the clean
    image, for every copy. A forward pass on the clean images is made only when needed
    (predicted classes, segmentation masks, a custom ``score_fn``); explicit classification
    targets need none.
    """

    def __init__(self, explainer: BaseExplainer, images: torch.Tensor, target: Any) -> None:
        self.explainer, self.images, self.target = explainer, images, target
        self.fn, self.classes = explainer.score_fn, None
        if target is None or self.fn is not None:
            self._setup(self._clean_output())

    def _clean_output(self) -> torch.Tensor:
        with torch.no_grad():  # a copy: the model may work in place on its input
            return explained_output(self.explainer.model(self.images.clone()))

    def _setup(self, output: torch.Tensor) -> None:
        self.classes = resolve_classes(self.target, output, own_score_fn=self.fn is not None)
        self.explainer.last_classes = self.classes
        self.fn = self.fn or default_score_fn(output)
        if isinstance(self.fn, SegmentationClassSum) and self.fn.mask is None:
            # the pixels predicted on the clean image, kept for every noisy copy / path point
            self.fn = SegmentationClassSum(output.argmax(1) == self.classes[:, None, None])
        warn_empty_regions(target_region(self.fn, output, self.classes), self.classes, EMPTY_MAPS)

    def clean_scores(self) -> torch.Tensor:
        return self(self._clean_output())

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        if self.classes is None:  # explicit targets: validate them against this output's classes
            self._setup(output[: self.images.shape[0]].detach()
                        if isinstance(output, torch.Tensor) and output.ndim == 2 else self._clean_output())
        return stacked_scores(self.fn, output, self.classes)


def _input_grads(forward: StackedForward, stacked: torch.Tensor, score) -> torch.Tensor:
    """dS/dx for a (S, N, C, H, W) stack (from ``forward.empty``), in one forward/backward pass."""
    x, output = forward(stacked)
    return gradient(score(output), x, output).reshape(stacked.shape)


class Saliency(BaseExplainer):
    """Vanilla gradients: ``max over channels of |dS/dx|`` (raw values; ``normalize=True`` scales
    each map to [0, 1])."""

    name = "saliency"

    def __init__(self, model: nn.Module, *, normalize: bool = False, score_fn: ScoreFn | None = None) -> None:
        super().__init__(model, score_fn=score_fn)
        self.normalize = check_flag("normalize", normalize)

    def attribute(self, images, target, bag: HookBag):
        x = images.clone().requires_grad_(True)
        output = explained_output(self.model(x.clone()))  # a non-leaf copy: see StackedForward._forward
        scores, _ = self.scores(output, target)
        return self.finish(gradient(scores, x, output).abs().amax(dim=1))

    def finish(self, maps: torch.Tensor) -> torch.Tensor:
        maps = maps.detach().float()
        return minmax(maps) if self.normalize else maps


DEFAULT_SIGMA = 0.15  # SmoothGrad's noise, as a fraction of each image's range


class SmoothGrad(Saliency):
    """SmoothGrad: ``max_c mean_j |dS/dx_c (x + e_j)|`` with Gaussian noise ``e_j``.

    Args:
        n_samples: noisy copies per image.
        sigma: noise standard deviation as a fraction of each image's value range (max - min),
            Smilkov et al.'s convention (they recommend 0.1-0.2). ``sigma=0`` gives saliency, and
            so does a constant image (its range is 0): use ``stdev`` there.
        stdev: an absolute standard deviation instead of ``sigma`` (captum's ``stdevs``); with
            another ``sigma`` than the default it is an ``OptionError`` (one would be ignored).
            ``sigma=None`` counts as not given.
        seed: seeds the noise; None draws the seed from torch's global generator, so
            ``torch.manual_seed`` makes calls repeatable. Every image of a call gets the same
            noise pattern (scaled to its range), so a batch gives what one-by-one calls give.
        chunk_size: at most this many model inputs per forward/backward pass; ``"auto"``: about
            2 MiB of input per pass on the CPU (see :mod:`zoo_explainers.stacking`), elsewhere all
            at once, halved while the device runs out of memory; None: all at once.
    """

    name = "smoothgrad"

    def __init__(self, model: nn.Module, *, n_samples: int = 32, sigma: float | None = DEFAULT_SIGMA,
                 stdev: float | None = None, seed: int | None = None, chunk_size: int | str | None = "auto",
                 normalize: bool = False, score_fn: ScoreFn | None = None) -> None:
        super().__init__(model, normalize=normalize, score_fn=score_fn)
        n_samples = check_count("n_samples", n_samples)
        if stdev is not None and sigma is not None and sigma != DEFAULT_SIGMA:  # one would be ignored without a word
            raise OptionError(f"smoothgrad takes one noise level: sigma={sigma!r} (a fraction of each image's range) "
                              f"or stdev={stdev!r} (absolute), not both")
        sigma = check_number("sigma", DEFAULT_SIGMA if sigma is None else sigma)
        stdev = None if stdev is None else check_number("stdev", stdev)
        if (stdev if stdev is not None else sigma) < 0:
            raise OptionError("the noise level (sigma / stdev) must be >= 0")
        self.n_samples, self.sigma, self.stdev = n_samples, sigma, stdev
        self.seed, self.chunk_size = check_seed(seed), check_chunk_size(chunk_size)

    def attribute(self, images, target, bag: HookBag):
        targets = _Targets(self, images, target)
        n = images.shape[0]
        if self.stdev is not None:
            scale = torch.full((n,), float(self.stdev), dtype=images.dtype, device=images.device)
        else:
            flat = images.flatten(1)
            scale = self.sigma * (flat.max(1).values - flat.min(1).values)
        generator = call_generator(self.seed, images.device)
        # drawn in float32 whatever the input's dtype, so one seed gives one noise pattern
        noise = torch.randn((self.n_samples, *images.shape[1:]), generator=generator,
                            dtype=torch.float32, device=images.device).to(images.dtype)
        forward = StackedForward(self.model, images)

        def one_pass(start: int, stop: int) -> torch.Tensor:
            stacked = forward.empty(stop - start)
            torch.mul(noise[start:stop, None], scale[None, :, None, None, None], out=stacked)
            return _input_grads(forward, stacked.add_(images[None]), targets).abs().sum(0)

        total = sum(each_pass(self.n_samples, images, self.chunk_size, one_pass))
        return self.finish((total / self.n_samples).amax(dim=1))


def _path_rule(method: str, n_steps: int) -> tuple[list[float], list[float]]:
    """Points in (0, 1] on the straight path and their quadrature weights (summing to 1)."""
    n_steps = check_count("n_steps", n_steps)
    if method == "gausslegendre":
        import numpy as np

        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return list((nodes + 1) / 2), list(weights / 2)
    if method == "riemann_middle":
        return [(k + 0.5) / n_steps for k in range(n_steps)], [1 / n_steps] * n_steps
    if method == "riemann_trapezoid":
        if n_steps < 2:
            raise OptionError("riemann_trapezoid needs n_steps >= 2")
        alphas = [k / (n_steps - 1) for k in range(n_steps)]
        weights = [1 / (n_steps - 1)] * n_steps
        weights[0] = weights[-1] = 0.5 / (n_steps - 1)
        return alphas, weights
    raise OptionError(f"unknown integration method {method!r}; choose gausslegendre, riemann_middle "
                     "or riemann_trapezoid")


class IntegratedGradients(BaseExplainer):
    """Integrated Gradients: signed attributions summed over channels (completeness: each map
    sums to S(x) - S(baseline), up to the integration error).

    Args:
        n_steps: points on the path from the baseline to the input.
        baseline: a number or a tensor broadcastable to the batch (default zeros).
        method: quadrature rule: ``gausslegendre`` (default), ``riemann_middle``, ``riemann_trapezoid``.
        chunk_size: at most this many model inputs per forward/backward pass; ``"auto"``: about
            2 MiB of input per pass on the CPU, elsewhere all at once, halved while the device runs
            out of memory; None: all steps at once.

        return_delta: the default for calls: return ``(maps, delta)``, delta = map sum -
            (S(x) - S(x')) per image, the convergence check. A call's own ``return_delta=``
            overrides it.
    """

    name = "integrated_gradients"

    def __init__(self, model: nn.Module, *, n_steps: int = 50, baseline: float | torch.Tensor = 0.0,
                 method: str = "gausslegendre", chunk_size: int | str | None = "auto", normalize: bool = False,
                 return_delta: bool = False, score_fn: ScoreFn | None = None) -> None:
        super().__init__(model, score_fn=score_fn)
        self.return_delta = check_flag("return_delta", return_delta)
        self.alphas, self.weights = _path_rule(method, n_steps)
        self.n_steps, self.method, self.baseline = n_steps, method, check_baseline(baseline)
        self.chunk_size, self.normalize = check_chunk_size(chunk_size), check_flag("normalize", normalize)

    def __call__(self, images: torch.Tensor, target: Any = None, *, return_delta: bool | None = None):
        return super().__call__(images, target,
                                return_delta=self.return_delta if return_delta is None
                                else check_flag("return_delta", return_delta))

    def attribute(self, images, target, bag: HookBag, return_delta: bool = False):
        targets = _Targets(self, images, target)
        baseline = torch.as_tensor(self.baseline, dtype=images.dtype, device=images.device)
        try:
            baseline = baseline.expand_as(images)
        except RuntimeError:
            raise OptionError(f"baseline of shape {tuple(baseline.shape)} does not broadcast to the images "
                              f"{tuple(images.shape)}: give a number, or a tensor broadcastable to (N, C, H, W), "
                              f"e.g. of shape (1, C, 1, 1) for one value per channel") from None
        diff = images - baseline
        alphas = torch.tensor(self.alphas, dtype=images.dtype, device=images.device)
        weights = torch.tensor(self.weights, dtype=images.dtype, device=images.device)
        forward = StackedForward(self.model, images)

        def one_pass(start: int, stop: int) -> torch.Tensor:
            stacked = forward.empty(stop - start)
            torch.mul(alphas[start:stop, None, None, None, None], diff[None], out=stacked)
            grads = _input_grads(forward, stacked.add_(baseline[None]), targets)
            return torch.einsum("s,snchw->nchw", weights[start:stop], grads)

        total = sum(each_pass(self.n_steps, images, self.chunk_size, one_pass))
        maps = (diff * total).sum(dim=1).detach().float()
        if return_delta:
            with torch.no_grad():
                base = baseline.clone(memory_format=torch.contiguous_format)
                base_scores = targets(explained_output(self.model(base)))
            delta = maps.sum(dim=(1, 2)) - (targets.clean_scores() - base_scores).float()
        if self.normalize:
            maps = minmax(maps)
        return (maps, delta) if return_delta else maps


class _GuidedReLU(torch.autograd.Function):
    """Identity forward on a ReLU's output; backward passes only positive gradients where the
    ReLU was active (combined with the ReLU's own backward: guided backpropagation)."""

    @staticmethod
    def forward(ctx, output):
        ctx.save_for_backward(output)
        return output.clone()

    @staticmethod
    def backward(ctx, grad):
        output, = ctx.saved_tensors
        return grad.clamp_min(0) * (output > 0).to(grad.dtype)


class GuidedBackprop(Saliency):
    """Guided backpropagation, as ``max_c |guided gradient|``. Patches the outputs of the
    model's ``nn.ReLU`` modules during the call (forward hooks; functional relu calls are not
    guided).

    WARNING: fails the model-randomisation sanity check (Adebayo et al. 2018); kept for
    comparison, not for explaining a model's decisions.
    """

    name = "guided_backprop"
    uses_module_hooks = True

    def attribute(self, images, target, bag: HookBag):
        relus = [m for m in self.model.modules() if isinstance(m, nn.ReLU)]
        if not relus:
            raise UnsupportedModelError("guided_backprop found no nn.ReLU modules in this model (functional relu "
                             "calls cannot be guided); use saliency or integrated_gradients")
        for relu in relus:
            bag.forward_hook(relu, lambda module, inputs, output: _GuidedReLU.apply(output))
        return super().attribute(images, target, bag)
