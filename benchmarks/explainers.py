"""Explainers on the same model and batch: zoo vs captum and pytorch-grad-cam.

- ``smoothgrad`` (n=32, absolute noise stdev) vs captum ``NoiseTunnel(Saliency)`` (smoothgrad,
  nt_samples=32, same stdev, abs=True), both maps reduced with max over channels;
- ``gradcam`` vs pytorch-grad-cam ``GradCAM`` on ``layer4[-1]`` (zoo: ``forward_features``, the
  same tensor for a ResNet);
- ``integrated_gradients`` (n_steps=64, zero baseline, Gauss-Legendre) vs captum
  ``IntegratedGradients`` (same settings), both summed over channels.

Model: timm ``resnet18`` (random init: no internet here; timing and agreement do not need trained
weights), eval mode, inputs seeded. Sides alternate within each round; medians over the rounds.
``--device cuda`` runs both sides on the GPU, on a larger batch (16 x 224 x 224; the CPU's 2 x 96
x 96 measures little but kernel launches there), each timed call ending in a synchronize.
"map corr" is the mean per-image Pearson correlation of the two sides' maps (SmoothGrad's noise
draws differ between the two, so it is below 1 there by design; the row's notes add the
correlation with captum's ``Saliency`` fed the zoo's own noise, which must exceed 0.999).

"floor" (in the notes) is one plain forward/backward of the whole stacked batch (N x samples or
N x steps images, NCHW, one pass) for input gradients: what captum does, and what the zoo did
until it fed the stack as channels_last in passes sized for the CPU (see
``zoo_explainers.stacking`` and the README's before/after).

Goals (zoo time / peer time): smoothgrad and integrated_gradients <= 0.8x captum, gradcam <=
1.0x pytorch-grad-cam (set on the CPU). Run: ``python -m benchmarks --only explainers [--quick]
[--device cuda]`` or ``python benchmarks/explainers.py [--quick] [--device cuda]``.
"""

from __future__ import annotations

import os
import sys

if not __package__:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import Skipped, alternate, goal_row, median

GOALS = {"smoothgrad": 0.8, "gradcam": 1.0, "integrated_gradients": 0.8}


def correlation(a, b) -> float:
    """Mean over images of the Pearson correlation of two (N, H, W) maps; two constant maps
    (e.g. Grad-CAM's all-zero map when no location supports the class) that are equal count 1."""
    import torch

    a, b = _cpu_double(a).flatten(1), _cpu_double(b).flatten(1)
    same = (a - b).abs().amax(1) <= 1e-6
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    denom = a.norm(dim=1) * b.norm(dim=1)
    corr = torch.where(denom > 0, (a * b).sum(1) / denom.clamp_min(1e-30), same.double())
    return float(corr.mean())


def max_abs_diff(a, b) -> float:
    return float((_cpu_double(a) - _cpu_double(b)).abs().max())


def _cpu_double(a):
    """A map from either side (a numpy array, a tensor on any device) as a float64 CPU tensor."""
    import torch

    return torch.as_tensor(a).detach().cpu().double()


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    try:
        import captum.attr as ca
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError as exc:
        raise Skipped(f"a peer is not installed ({exc.name}); pip install captum grad-cam") from None
    import timm
    import torch

    import zoo

    if "gradcam" not in zoo.list_explainers():
        raise Skipped("the explainers plugin (visionzoo-explainers) is not installed")
    if torch.device(device).type != "cpu":
        n, size, runs = (4, 128, 3) if quick else (16, 224, 5)
    else:
        n, size, runs = (2, 64, 3) if quick else (2, 96, 5)
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=10).eval().to(device)
    x = torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1)).to(device)
    targets = [i % 10 for i in range(n)]
    stdev = 0.15 * float(x.max() - x.min())
    rows = []

    # --- SmoothGrad vs NoiseTunnel(Saliency)
    ours_sg = zoo.create_explainer("smoothgrad", model, n_samples=32, stdev=stdev, seed=0)
    tunnel = ca.NoiseTunnel(ca.Saliency(model))
    out = {}
    sides = {
        "floor": _floor(model, x, targets, 32),
        "zoo": lambda: out.__setitem__("zoo", ours_sg(x, targets)),
        "captum": lambda: out.__setitem__("captum", tunnel.attribute(
            x.clone().requires_grad_(True), nt_type="smoothgrad", nt_samples=32, stdevs=stdev,
            target=targets, abs=True).detach().amax(1)),
    }
    t = alternate(synced(sides, device), runs)
    same_noise = correlation(out["zoo"], _captum_smoothgrad_with_zoo_noise(ca, model, x, targets, stdev, 32, 0))
    rows.append(_row("smoothgrad n=32", "zoo smoothgrad", t["zoo"], "captum NoiseTunnel(Saliency)",
                     t["captum"], runs, correlation(out["zoo"], out["captum"]),
                     f"batch {n}x3x{size}x{size}; floor {median(t['floor']) * 1e3:.1f} ms; map corr with "
                     f"the zoo's own noise fed to captum Saliency {same_noise:.4f}"))

    # --- Grad-CAM vs pytorch-grad-cam
    ours_gc = zoo.create_explainer("gradcam", model)
    peer_gc = GradCAM(model=model, target_layers=[model.layer4[-1]])
    peer_targets = [ClassifierOutputTarget(c) for c in targets]
    sides = {
        "zoo": lambda: out.__setitem__("zoo", ours_gc(x, targets)),
        "grad-cam": lambda: out.__setitem__("grad-cam", peer_gc(input_tensor=x, targets=peer_targets)),
    }
    t = alternate(synced(sides, device), runs)
    model.zero_grad(set_to_none=True)  # pytorch-grad-cam backpropagates into the parameters
    rows.append(_row("gradcam", "zoo gradcam", t["zoo"], "pytorch-grad-cam GradCAM", t["grad-cam"], runs,
                     correlation(out["zoo"], out["grad-cam"]), f"batch {n}x3x{size}x{size}; max |diff| "
                     f"{max_abs_diff(out['zoo'], out['grad-cam']):.1e}"))

    # --- Integrated Gradients vs captum
    ours_ig = zoo.create_explainer("integrated_gradients", model, n_steps=64)
    peer_ig = ca.IntegratedGradients(model)
    sides = {
        "floor": _floor(model, x, targets, 64),
        "zoo": lambda: out.__setitem__("zoo", ours_ig(x, targets)),
        "captum": lambda: out.__setitem__("captum", peer_ig.attribute(
            x.clone(), target=targets, n_steps=64).detach().sum(1)),
    }
    t = alternate(synced(sides, device), runs)
    rows.append(_row("integrated_gradients n_steps=64", "zoo integrated_gradients", t["zoo"],
                     "captum IntegratedGradients", t["captum"], runs, correlation(out["zoo"], out["captum"]),
                     f"batch {n}x3x{size}x{size}; max |diff| {max_abs_diff(out['zoo'], out['captum']):.1e}; "
                     f"floor {median(t['floor']) * 1e3:.1f} ms"))
    return rows


def synced(sides: dict, device: str) -> dict:
    """The sides, each ending in a synchronize on a GPU: a call is timed until its work is done."""
    import torch

    if torch.device(device).type != "cuda":
        return sides

    def ending_in_sync(fn):
        def call():
            fn()
            torch.cuda.synchronize()
        return call

    return {name: ending_in_sync(fn) for name, fn in sides.items()}


def _floor(model, x, targets, copies):
    """One plain NCHW forward/backward of the whole stacked batch (``copies`` x N images) for
    input gradients, with frozen parameters: what captum does (the zoo goes below it)."""
    import torch

    stacked = x.repeat(copies, 1, 1, 1)
    rows = torch.arange(stacked.shape[0], device=x.device)
    classes = torch.tensor(targets, device=x.device).repeat(copies)

    def run_floor():
        flags = [p.requires_grad for p in model.parameters()]
        for p in model.parameters():
            p.requires_grad_(False)
        try:
            inp = stacked.clone().requires_grad_(True)
            torch.autograd.grad(model(inp)[rows, classes].sum(), inp)
        finally:
            for p, flag in zip(model.parameters(), flags):
                p.requires_grad_(flag)

    return run_floor


def _captum_smoothgrad_with_zoo_noise(ca, model, x, targets, stdev, n_samples, seed):
    """captum ``Saliency`` averaged over the noisy copies the zoo's smoothgrad draws for ``seed``
    (one seeded float32 normal draw of (n_samples, C, H, W), shared by the batch's images): the
    two are then the same computation, so their maps must agree (> 0.999), which the timed
    comparison, where each side draws its own noise, cannot show."""
    import torch

    generator = torch.Generator(device=x.device).manual_seed(seed)
    noise = torch.randn((n_samples, *x.shape[1:]), generator=generator, dtype=torch.float32,
                        device=x.device).to(x.dtype)
    saliency = ca.Saliency(model)
    total = sum(saliency.attribute((x + stdev * noise[k][None]).requires_grad_(True), target=targets,
                                   abs=True).detach() for k in range(n_samples))
    return (total / n_samples).amax(1)


def _row(comparison, zoo_side, zoo_times, peer_side, peer_times, runs, corr, notes) -> dict:
    goal = GOALS[comparison.split()[0]]
    row = goal_row(comparison, zoo_side, median(zoo_times), peer_side, median(peer_times), goal, runs, notes)
    row["map corr"] = f"{corr:.4f}"
    return row


if __name__ == "__main__":
    import argparse

    from benchmarks.common import markdown_table

    parser = argparse.ArgumentParser(description="zoo explainers vs captum / pytorch-grad-cam")
    parser.add_argument("--quick", action="store_true", help="smaller batch and images, fewer runs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="torch device for both sides, e.g. cuda")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(markdown_table(run(quick=args.quick, device=args.device)))
