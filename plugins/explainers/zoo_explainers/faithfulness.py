"""Is a map faithful to the model? Deletion/insertion AUC (RISE, Petsiuk et al. 2018) and the
model-randomisation sanity check (Adebayo et al. 2018).

- Deletion: replace the most important pixels first (by the map) with a baseline and follow
  the target class probability; a faithful map makes it fall fast (lower AUC is better).
- Insertion: start from a blurred image and restore the most important pixels first; a
  faithful map makes the probability rise fast (higher AUC is better).
- Randomisation: re-initialise the weights; an explanation of the model must change (low rank
  correlation between the maps of the trained and the randomised model). For a method that
  fails, the cascading variant (layers re-initialised one by one from the output end) shows
  from which layer on the map stops changing.

Both are compared against a random map, the floor any method must beat.
Each function seeds its own draws and leaves the caller's random state (CPU and CUDA) as it was.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import nn

import zoo
from zoo.seeding import cuda_devices, seeded
from zoo.correlation import rank_correlation as spearman
from zoo_explainers.errors import OptionError
from zoo_explainers.hygiene import explaining
from zoo_explainers.layers import LayerError
from zoo_explainers.targets import (
    SegmentationClassSum,
    TargetError,
    class_probability,
    empty_images,
    explained_output,
    resolve_classes,
    target_region,
    warn_empty_regions,
)

#: a method passes the model-randomisation check when its maps' mean rank correlation with a
#: re-initialised model's is below this (the hub cards' reports use it)
SANITY_THRESHOLD = 0.5
#: what an empty segmentation region means here (:class:`~zoo_explainers.targets.EmptyTargetWarning`)
EMPTY_AUC = "the curves and deletion/insertion AUCs are NaN there (torch.nanmean averages the other images)"
#: how to get a non-empty region, for these metrics (the curves also take a given one)
SCORE_ANOTHER_CLASS = "score a class the model predicts in the image (target=None: the one covering most pixels)"
SCORE_ANOTHER_REGION = f"{SCORE_ANOTHER_CLASS}, or pass score_fn=SegmentationClassSum(mask) with the region you mean"


def blur_kernel(height: int, width: int) -> tuple[int, float]:
    """(kernel size, sigma) of the insertion baseline's Gaussian blur: a quarter of the shorter
    side, odd, sigma half of it (9 px, 4.5 at 32 px; reflect padding). RISE uses 11 px, sigma 5
    at 224 px; relatively more blur here, for small images."""
    k = max(3, (min(height, width) // 4) | 1)
    return k, k / 2


def _blur(images: torch.Tensor) -> torch.Tensor:
    from torchvision.transforms.functional import gaussian_blur

    k, sigma = blur_kernel(*images.shape[-2:])
    return gaussian_blur(images, [k, k], [sigma, sigma])


def importance_order(maps: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Each map's pixel indices by decreasing value, equal values in a seeded random order.

    A sort leaves ties in whatever order its algorithm gives (raster order, or memory order), so a
    constant map would score like that order rather than like the random map it is worth.
    """
    flat = maps.detach().flatten(1)
    perm = torch.randperm(flat.shape[1], generator=torch.Generator().manual_seed(seed), device="cpu").to(flat.device)
    return perm[flat[:, perm].argsort(dim=1, descending=True, stable=True)]


def perturbation_curve(model: nn.Module, images: torch.Tensor, maps: torch.Tensor, target: Any = None, *,
                       mode: str = "deletion", steps: int = 32, baseline: Any = None,
                       chunk_size: int | str | None = 256,
                       score_fn: SegmentationClassSum | None = None) -> torch.Tensor:
    """Class probability after removing (``deletion``) or inserting (``insertion``) the top
    0, 1/steps, ..., all pixels of each map: (N, steps + 1).

    ``baseline`` is what removed pixels become (a number, a tensor, or ``"blur"``); the default
    is 0 for deletion and a Gaussian blur of the image for insertion (:func:`blur_kernel`), as in
    RISE. Pixels of equal value are taken in a seeded random order (:func:`importance_order`).
    ``chunk_size`` caps model inputs per pass, as for the explainers. For a segmentation model the
    probability is the mean over the pixels predicted as the class on the clean image, or over
    the mask of ``score_fn=SegmentationClassSum(mask)``, the region a map was explained over; an
    image where that region is empty gives a row of NaN and an
    :class:`~zoo_explainers.targets.EmptyTargetWarning` (its probability would stay 0: the best
    deletion score, for a map of nothing).
    """
    from zoo_explainers.options import check_chunk_size
    from zoo_explainers.stacking import passes

    if mode not in ("deletion", "insertion"):
        raise OptionError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise OptionError(f"steps must be a positive int (the curve has steps + 1 points), got {steps!r}")
    if isinstance(baseline, str) and baseline != "blur":
        raise OptionError(f"baseline must be a number, a tensor or 'blur', got {baseline!r}")
    chunk_size = check_chunk_size(chunk_size)
    if maps.shape != (images.shape[0], *images.shape[-2:]):
        raise OptionError(f"maps must be (N, H, W) = {(images.shape[0], *images.shape[-2:])} for images of shape "
                         f"{tuple(images.shape)}, got {tuple(maps.shape)}")
    if not torch.isfinite(maps).all():
        raise OptionError(f"maps hold {int((~torch.isfinite(maps)).sum())} NaN/Inf values: no pixel order to follow")
    images = images.detach()
    with explaining(model), torch.no_grad():
        output = explained_output(model(images.clone()))  # a copy: the model may work in place on its input
        classes = resolve_classes(target, output)
        mask = _scored_region(score_fn, output, classes)
        warn_empty_regions(mask, classes, EMPTY_AUC, SCORE_ANOTHER_REGION)
        if baseline is None:
            baseline = 0.0 if mode == "deletion" else "blur"
        fill = _blur(images) if isinstance(baseline, str) and baseline == "blur" else \
            torch.as_tensor(baseline, dtype=images.dtype, device=images.device).expand_as(images)
        n, hw = images.shape[0], images.shape[-1] * images.shape[-2]
        order = importance_order(maps)
        ranks = torch.empty_like(order).scatter_(1, order, torch.arange(hw, device=order.device).expand(n, -1))
        counts = torch.linspace(0, hw, steps + 1, device=images.device).round().long()
        if chunk_size == "auto":
            ranges = list(passes(steps + 1, images, chunk_size))
        else:
            per_pass = steps + 1 if chunk_size is None else max(1, chunk_size // n)
            ranges = [(start, min(steps + 1, start + per_pass)) for start in range(0, steps + 1, per_pass)]
        curve = []
        for start, stop in ranges:
            k = counts[start:stop]
            chosen = (ranks[None] < k[:, None, None]).view(len(k), n, 1, *images.shape[-2:])  # top-k pixels
            first, second = (fill, images) if mode == "deletion" else (images, fill)
            x = torch.where(chosen, first[None], second[None]).flatten(0, 1)
            probs = class_probability(explained_output(model(x)), classes.repeat(len(k)),
                                      None if mask is None else mask.repeat(len(k), 1, 1))
            curve.append(probs.view(len(k), n).T)
    curve = torch.cat(curve, dim=1)
    empty = empty_images(mask)
    if empty is not None:  # no region: no probability to follow (it would read 0, the best deletion score)
        curve[empty] = float("nan")
    return curve


def _scored_region(score_fn: Any, output: torch.Tensor, classes: torch.Tensor) -> torch.Tensor | None:
    """The (N, H, W) pixels whose class probability a curve follows (None for a classifier): those
    predicted as each image's class, or a :class:`SegmentationClassSum`'s mask."""
    if score_fn is None:
        return output.argmax(1) == classes[:, None, None] if output.ndim == 4 else None
    if not isinstance(score_fn, SegmentationClassSum) or output.ndim != 4:
        raise OptionError(f"score_fn={score_fn!r:.80}: the metrics follow a class probability, so score_fn may only "
                          "be a SegmentationClassSum(mask) for a segmentation model (the region its probability is "
                          "averaged over); leave it out for the class's predicted pixels or a classifier")
    score_fn(output, classes)  # its own check that the mask fits the output (a TargetError)
    return target_region(score_fn, output, classes) != 0


def auc(curve: torch.Tensor) -> torch.Tensor:
    """Trapezoidal area under (N, steps + 1) curves sampled uniformly on [0, 1]."""
    return ((curve[:, 1:] + curve[:, :-1]) / 2).mean(dim=1)


def deletion_auc(model, images, maps, target=None, **kwargs) -> torch.Tensor:
    """Per-image deletion AUC (lower is better). See :func:`perturbation_curve`."""
    return auc(perturbation_curve(model, images, maps, target, mode="deletion", **kwargs))


def insertion_auc(model, images, maps, target=None, **kwargs) -> torch.Tensor:
    """Per-image insertion AUC (higher is better). See :func:`perturbation_curve`."""
    return auc(perturbation_curve(model, images, maps, target, mode="insertion", **kwargs))


def random_maps(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Uniform random maps (N, H, W): the baseline a method must beat."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand((images.shape[0], *images.shape[-2:]), generator=g, device="cpu").to(images.device)


def randomize_weights(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every parameter re-initialised (``reset_parameters`` where a
    module has it, else a normal draw with the parameter's own std); the original is untouched.

    An untrained model built under the same seed would be re-drawn identically; then the
    copy is re-drawn under another seed, so the copy always differs from the model. The
    caller's random state is left as it was.
    """
    for attempt in (seed, seed + 7919):
        clone = copy.deepcopy(model)
        done: set[int] = set()
        with seeded(attempt, clone), torch.no_grad():
            for module in clone.modules():
                if callable(getattr(module, "reset_parameters", None)):
                    module.reset_parameters()
                    done.update(id(p) for p in module.parameters())
            for p in clone.parameters():
                if id(p) not in done:
                    _redraw(p)
        if any(not torch.equal(a, b) for a, b in zip(model.parameters(), clone.parameters())):
            break
    return clone


def _redraw(p: nn.Parameter) -> None:
    p.normal_(0, float(p.std()) if p.numel() > 1 else 0.02)


def cascading_randomization(model: nn.Module, images: torch.Tensor, method: str, target: Any = None, *,
                            seed: int = 0, **kwargs: Any) -> list[tuple[str, float]]:
    """Adebayo et al.'s cascading test: re-initialise the layers of a copy of ``model`` one at
    a time, from the output end (modules holding parameters, in reverse definition order), and
    after each step give the mean Spearman correlation between the maps of ``model`` and of the
    partly re-initialised copy, for the same classes: ``[(layer name, correlation), ...]``.

    A map that explains the model changes once its top layers are random; one that stays
    correlated after the head alone is re-drawn does not depend on what the classifier learnt.
    """
    explainer = zoo.create_explainer(method, model, **kwargs)
    with seeded(seed, model, images):
        maps = explainer(images, target)
    classes = explainer.last_classes.tolist() if getattr(explainer, "last_classes", None) is not None else target
    kwargs = _on_the_trained_region(model, images, method, classes, kwargs)
    clone = copy.deepcopy(model)
    layers = [(name, module) for name, module in clone.named_modules()
              if next(module.parameters(recurse=False), None) is not None][::-1]
    devices = cuda_devices(clone, images)
    steps = []
    with seeded(seed, clone, images):
        weight_draws = _random_state(devices)  # one stream of weight draws, layer after layer
        for name, module in layers:
            _set_random_state(weight_draws, devices)
            with torch.no_grad():
                if callable(getattr(module, "reset_parameters", None)):
                    module.reset_parameters()
                else:
                    for p in module.parameters(recurse=False):
                        _redraw(p)
            weight_draws = _random_state(devices)
            with seeded(seed, clone, images):  # the explainer's own draws (noise, masks) as for the trained model
                randomized = zoo.create_explainer(method, clone, **kwargs)(images, classes)
            steps.append((name, float(rank_correlation(maps, randomized).mean())))
    return steps


def _random_state(devices: list[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    return torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in devices]


def _set_random_state(state: tuple[torch.Tensor, list[torch.Tensor]], devices: list[int]) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    for d, device_state in zip(devices, cuda):
        torch.cuda.set_rng_state(device_state, d)


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation per image between (N, H, W) maps (ties get average ranks; two
    constant maps correlate 1, a constant map with a varying one 0), as the conformance suite's
    sanity check computes it (:mod:`zoo.correlation`)."""
    return torch.tensor([spearman(x, y) for x, y in zip(a.detach().cpu(), b.detach().cpu())], device="cpu")


@dataclass
class MethodReport:
    """Faithfulness of one method on one batch (means over the images)."""

    method: str
    rank_corr_randomized: float  # mean over re-initialised copies, of the maps as returned (signed for IG); decides the pass
    sanity_passed: bool
    deletion_auc: float
    random_deletion_auc: float
    insertion_auc: float
    random_insertion_auc: float
    notes: list[str] = field(default_factory=list)
    cascade: list[tuple[str, float]] = field(default_factory=list)  # cascading_randomization, for failing methods
    rank_corr_randomized_abs: float = float("nan")  # of |maps|: input-dominated for IG (x * grad)
    rank_corr_randomized_range: tuple[float, float] = (float("nan"), float("nan"))  # over the re-initialised copies

    @property
    def beats_random(self) -> bool:
        return self.deletion_auc < self.random_deletion_auc


def sanity_check(model: nn.Module, images: torch.Tensor, method: str, target: Any = None, *, seed: int = 0,
                 threshold: float = SANITY_THRESHOLD, absolute: bool = False,
                 **kwargs: Any) -> tuple[torch.Tensor, bool]:
    """Model-randomisation check: Spearman correlation per image between the maps of ``model``
    and of a re-initialised copy, for the same classes; passes when the mean is below
    ``threshold``. ``absolute`` compares |maps| instead of the maps as returned."""
    trained, randomized = _trained_and_randomized(model, images, method, target, seed, **kwargs)
    if absolute:
        trained, randomized = trained.abs(), randomized.abs()
    corr = rank_correlation(trained, randomized)
    return corr, bool(corr.mean() < threshold)


def _trained_and_randomized(model, images, method, target, seed, maps=None, weights_seed=None, **kwargs):
    """Maps of ``model`` and of a re-initialised copy (drawn with ``weights_seed``, default ``seed``);
    both explainer calls run under ``seed``, so stochastic methods draw the same noise."""
    explainer = zoo.create_explainer(method, model, **kwargs)
    if maps is None:
        with seeded(seed, model, images):
            maps = explainer(images, target)
    classes = explainer.last_classes.tolist() if getattr(explainer, "last_classes", None) is not None else target
    randomized_model = randomize_weights(model, seed if weights_seed is None else weights_seed)
    copy_kwargs = _on_the_trained_region(model, images, method, classes, kwargs)
    with seeded(seed, randomized_model, images):
        randomized = zoo.create_explainer(method, randomized_model, **copy_kwargs)(images, classes)
    return maps, randomized


def _on_the_trained_region(model: nn.Module, images: torch.Tensor, method: str, classes: Any,
                           kwargs: dict) -> dict:
    """The options for explaining a re-initialised copy of a segmenter: the same target as for the
    trained model, i.e. each class's logits summed over the pixels the *trained* model predicts as
    that class. The copy's own argmax would pick another region, often an empty one, whose zero
    maps would pass the comparison trivially. Unchanged for classifiers, for a caller's own
    ``score_fn``, and for an explainer that takes no ``score_fn``."""
    import inspect

    from zoo.registry import get_registry

    if "score_fn" in kwargs or classes is None:
        return kwargs
    if "score_fn" not in inspect.signature(get_registry().explainer_builder(method)).parameters:
        return kwargs
    with explaining(model), torch.no_grad():  # in eval mode, as explained: a model in train mode kept its statistics
        output = explained_output(model(images.clone()))
    if not isinstance(output, torch.Tensor) or output.ndim != 4:
        return kwargs
    wanted = torch.as_tensor(classes, device=output.device).reshape(-1).expand(output.shape[0])
    return {**kwargs, "score_fn": SegmentationClassSum(output.argmax(1) == wanted[:, None, None])}


def evaluate(model: nn.Module, images: torch.Tensor, methods: Sequence[str] = (
        "saliency", "smoothgrad", "integrated_gradients", "gradcam", "gradcam_pp", "cam", "guided_backprop"),
        target: Any = None, *, steps: int = 32, n_random: int = 3, seed: int = 0,
        threshold: float = SANITY_THRESHOLD,
        n_randomizations: int = 5, deletion_baseline: Any = None, insertion_baseline: Any = None,
        method_kwargs: dict[str, dict] | None = None) -> list[MethodReport]:
    """Sanity check + deletion/insertion AUC of each method against random maps, on one batch.

    ``target`` defaults to the model's predictions; pass the true labels to explain those.
    The sanity check compares the maps with those of ``n_randomizations`` re-initialised copies
    (weight seeds ``seed``, ``seed + 1``...) and decides on the mean correlation: one draw alone
    can land on either side of the threshold (on the digits classifier SmoothGrad measured
    0.25-0.60 over five draws).
    The baselines default to RISE's (zeros for deletion, a blur for insertion; a blur keeps
    colour evidence, so pass 0.0 for models that classify by colour). Methods that do not
    apply to the model (e.g. ``cam`` without a linear head) are skipped with a note. For a
    segmentation model, images where no pixel is predicted as their class are left out with an
    :class:`~zoo_explainers.targets.EmptyTargetWarning` (a ``TargetError`` if that is all of them).
    """
    method_kwargs = method_kwargs or {}
    with explaining(model), torch.no_grad():
        output = explained_output(model(images.detach().clone()))  # a copy: the model may write its input
        classes = resolve_classes(target, output)
    region = output.argmax(1) == classes[:, None, None] if output.ndim == 4 else None
    empty = empty_images(region)
    if empty is not None and empty.any():
        if empty.all():
            raise TargetError("evaluate: no image of the batch has a pixel predicted as its target class, so there "
                              "is nothing to explain or score; pass classes the model predicts (target=None "
                              "picks the class covering most pixels of each image)")
        warn_empty_regions(region, classes, "those images are left out of this evaluation (maps, sanity check "
                                            "and AUCs)", SCORE_ANOTHER_CLASS)
        images, classes = images[~empty], classes[~empty]
    classes = classes.tolist()
    rand = [random_maps(images, seed + i) for i in range(n_random)]
    dele = dict(steps=steps, baseline=deletion_baseline)
    ins = dict(steps=steps, baseline=insertion_baseline)
    rand_del = torch.stack([deletion_auc(model, images, r, classes, **dele) for r in rand]).mean().item()
    rand_ins = torch.stack([insertion_auc(model, images, r, classes, **ins) for r in rand]).mean().item()
    reports = []
    for method in methods:
        kwargs = method_kwargs.get(method, {})
        maps, corrs, corrs_abs = None, [], []
        try:
            for weights_seed in range(seed, seed + n_randomizations):
                maps, randomized = _trained_and_randomized(model, images, method, classes, seed, maps=maps,
                                                           weights_seed=weights_seed, **kwargs)
                # the pass is decided on the maps as returned (what deletion/insertion also use); the
                # correlation of |maps| is reported beside it (Adebayo et al. report both)
                corrs.append(float(rank_correlation(maps, randomized).mean()))
                corrs_abs.append(float(rank_correlation(maps.abs(), randomized.abs()).mean()))
        except LayerError as exc:
            warnings.warn(f"{method} skipped: {exc}", stacklevel=2)
            continue
        corr, corr_abs = sum(corrs) / len(corrs), sum(corrs_abs) / len(corrs_abs)
        # a failure is explained further by Adebayo et al.'s cascading test: where does the map stop changing?
        cascade = cascading_randomization(model, images, method, classes, seed=seed, **kwargs) \
            if corr >= threshold else []
        reports.append(MethodReport(
            method=method, rank_corr_randomized=corr, sanity_passed=corr < threshold,
            rank_corr_randomized_abs=corr_abs, rank_corr_randomized_range=(min(corrs), max(corrs)),
            deletion_auc=deletion_auc(model, images, maps, classes, **dele).mean().item(),
            random_deletion_auc=rand_del,
            insertion_auc=insertion_auc(model, images, maps, classes, **ins).mean().item(),
            random_insertion_auc=rand_ins,
            notes=_notes(method, corr, corr_abs, threshold, cascade),
            cascade=cascade,
        ))
    return reports


def _notes(method: str, corr: float, corr_abs: float, threshold: float,
           cascade: Sequence[tuple[str, float]] = ()) -> list[str]:
    notes = []
    if method == "guided_backprop":
        notes.append("known to fail the sanity check (Adebayo et al. 2018)")
    if method == "gradcam_pp" and corr >= threshold:
        notes.append("its weights keep only positive gradients: on a GAP + linear head the map is close to CAM "
                     "over the positively weighted channels, a non-negative sum of non-negative features that "
                     "follows where activations are large, which a re-initialised model shares (Binder et al. "
                     "2022 discuss this weakness of the check)")
    if corr < threshold <= corr_abs:
        why = "(x * gradient), as Adebayo et al. report for gradient-times-input methods" \
            if method == "integrated_gradients" else "more than the model"
        notes.append(f"signed map passes, |map| does not ({corr_abs:.2f}): its magnitude follows the input {why}")
    if cascade:
        (top, first), (_, last) = cascade[0], cascade[-1]
        notes.append(f"cascading randomisation (layers re-initialised from the output end): rank corr {first:.2f} "
                     f"after `{top}` alone, {last:.2f} after all {len(cascade)} layers")
    return notes


def format_reports(reports: Sequence[MethodReport]) -> str:
    """A markdown table of :func:`evaluate`'s results, for a hub card."""
    lines = ["| method | rank corr. vs randomised models: mean [range] (of abs. values) | sanity check | "
             "deletion AUC (random) | insertion AUC (random) | beats random |",
             "|---|---|---|---|---|---|"]
    for r in reports:
        low, high = r.rank_corr_randomized_range
        lines.append(f"| {r.method} | {r.rank_corr_randomized:.3f} [{low:.2f}, {high:.2f}] "
                     f"({r.rank_corr_randomized_abs:.3f}) | "
                     f"{'pass' if r.sanity_passed else 'FAIL'} | "
                     f"{r.deletion_auc:.3f} ({r.random_deletion_auc:.3f}) | "
                     f"{r.insertion_auc:.3f} ({r.random_insertion_auc:.3f}) | "
                     f"{'yes' if r.beats_random else 'no'} |")
    return "\n".join(lines)
