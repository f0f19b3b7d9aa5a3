"""RISE (Petsiuk et al. 2018): a black-box saliency map from randomly masked copies.

Each mask is a random coarse binary grid (cells kept with probability ``p``), upsampled
bilinearly and shifted by a random sub-cell offset; the map is the average of the masks
weighted by the target's probability on the masked image: ``sum_i P(c | x * M_i) M_i / (n p)``.
Needs only forward passes, so it works on any model, but it costs ``n_masks`` of them.

One change from the paper, for variance only: the scores are centred on their mean over the
masks before weighting (``sum_i (P_i - mean P) M_i / (n p)``). In expectation this subtracts
the constant ``E[P]`` from every pixel, so the ranking is RISE's, but the sampling noise of
the masks' own average, identical for any model given the same masks, no longer dominates.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo_explainers.base import EMPTY_MAPS, BaseExplainer
from zoo_explainers.errors import OptionError
from zoo_explainers.generators import call_generator
from zoo_explainers.options import check_chunk_size, check_count, check_flag, check_number, check_seed
from zoo_explainers.hygiene import HookBag
from zoo_explainers.maps import minmax
from zoo_explainers.stacking import each_pass
from zoo_explainers.targets import (
    ScoreFn,
    class_probability,
    explained_output,
    resolve_classes,
    stacked_scores,
    target_region,
    warn_empty_regions,
)


def random_masks(n: int, size: tuple[int, int], cells: int, p: float, generator: torch.Generator,
                 device=None, dtype=torch.float32) -> torch.Tensor:
    """(n, H, W) smooth masks in [0, 1]: RISE's upsampled and shifted coarse grids."""
    h, w = size
    cell_h, cell_w = math.ceil(h / cells), math.ceil(w / cells)
    grid = (torch.rand((n, 1, cells, cells), generator=generator, device=device) < p).to(dtype)
    up = F.interpolate(grid, size=((cells + 1) * cell_h, (cells + 1) * cell_w), mode="bilinear",
                       align_corners=False)[:, 0]
    dy = torch.randint(0, cell_h, (n,), generator=generator, device=device)
    dx = torch.randint(0, cell_w, (n,), generator=generator, device=device)
    rows = (dy[:, None] + torch.arange(h, device=device)[None])[:, :, None].expand(n, h, w)
    cols = (dx[:, None] + torch.arange(w, device=device)[None])[:, None, :].expand(n, h, w)
    return up[torch.arange(n, device=device)[:, None, None], rows, cols].clamp_(0, 1)


class RISE(BaseExplainer):
    """RISE saliency: probability-weighted average of random masks, centred (raw values by
    default; positive where keeping the pixel raises the class probability).

    Args:
        n_masks: random masks (forward passes per image); more gives smoother maps.
        cells: the coarse grid is ``cells x cells`` before upsampling.
        p: probability that a cell is kept.
        seed: seeds the masks (None: drawn from torch's global RNG); every image gets the same masks.
        chunk_size: at most this many model inputs (masks x images) per forward pass; None: all
            masks in one pass; ``"auto"``: about 2 MiB of input per pass on the CPU, elsewhere all
            at once, halved while the device runs out of memory (as SmoothGrad's).
    """

    name = "rise"

    def __init__(self, model: nn.Module, *, n_masks: int = 1000, cells: int = 7, p: float = 0.5,
                 seed: int | None = None, chunk_size: int | str | None = 256, normalize: bool = False,
                 score_fn: ScoreFn | None = None) -> None:
        super().__init__(model, score_fn=score_fn)
        n_masks, cells, p = check_count("n_masks", n_masks), check_count("cells", cells), check_number("p", p)
        if not 0 < p < 1:  # p=1 keeps every cell of every mask: each map is constant, blank
            raise OptionError(f"RISE needs 0 < p < 1 (the share of cells each mask keeps), got p={p}")
        self.n_masks, self.cells, self.p, self.seed = n_masks, cells, p, check_seed(seed)
        self.chunk_size, self.normalize = check_chunk_size(chunk_size), check_flag("normalize", normalize)

    def attribute(self, images, target, bag: HookBag):

        n = images.shape[0]
        generator = call_generator(self.seed, images.device)
        masks = random_masks(self.n_masks, tuple(images.shape[-2:]), self.cells, self.p, generator,
                             device=images.device, dtype=images.dtype)
        with torch.no_grad():
            output = explained_output(self.model(images.clone()))  # a copy: the model may work in place on its input
            classes = resolve_classes(target, output, own_score_fn=self.score_fn is not None)
            self.last_classes = classes
            region = output.argmax(1) == classes[:, None, None] if output.ndim == 4 else None
            warn_empty_regions(region if self.score_fn is None else target_region(self.score_fn, output, classes),
                               classes, EMPTY_MAPS)
            total = torch.zeros_like(images[:, 0])
            score_sum = torch.zeros(n, dtype=images.dtype, device=images.device)
            score_low, score_high = torch.full_like(score_sum, float("inf")), torch.full_like(score_sum, -float("inf"))

            def one_pass(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
                m = masks[start:stop]  # (k, H, W)
                x = (images[None] * m[:, None, None]).flatten(0, 1)  # row j * N + i: mask j, image i
                out = explained_output(self.model(x))
                if self.score_fn is not None:  # once per mask, on that mask's N rows in image order
                    scores = stacked_scores(self.score_fn, out, classes)
                else:
                    scores = class_probability(out, classes.repeat(len(m)),
                                            None if region is None else region.repeat(len(m), 1, 1))
                scores = scores.view(len(m), n).to(m.dtype)
                return torch.einsum("kn,khw->nhw", scores, m), scores.sum(0), scores


            if isinstance(self.chunk_size, int):  # fixed passes of chunk_size // N masks, the last one shorter
                per_pass = max(1, self.chunk_size // n)
                ranges = ((start, min(self.n_masks, start + per_pass)) for start in range(0, self.n_masks, per_pass))
                results = (one_pass(start, stop) for start, stop in ranges)
            else:
                results = each_pass(self.n_masks, images, self.chunk_size, one_pass)
            for part, part_sum, scores in results:
                total += part
                score_sum += part_sum
                score_low = torch.minimum(score_low, scores.amin(0))
                score_high = torch.maximum(score_high, scores.amax(0))
            # centre: subtract mean(P) * sum_i M_i (computed once, over all masks)
            total -= (score_sum / self.n_masks)[:, None, None] * masks.sum(0)[None]
            # a score no mask changes: the map is zero, not rounding noise that normalising would blow up
            total[score_low == score_high] = 0
        maps = (total / (self.n_masks * self.p)).float()
        return minmax(maps) if self.normalize else maps
