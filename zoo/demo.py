"""The README's main job, end to end on a machine with no internet: serve ``hubcards/`` as the
embedded hub, create every shipped model with ``pretrained=True`` through it (a fresh cache, so
the weights really travel over HTTP and are sha256-checked), and draw what the models do on
held-out test images: prediction overlays next to the ground truth for the segmentation and
instance models (also through ``zoo predict``), and explanation maps for the classifiers.

Everything lands in one folder of PNGs a person can check by eye; ``index.md`` lists the files
this run wrote (a re-run into the same folder does not list the previous run's leftovers). The
stochastic explainers (SmoothGrad, RISE) are seeded, so two runs write identical files.

With ``serve=False`` (``zoo demo --no-serve``) nothing of the environment is touched: the models
come from the user's ``HF_ENDPOINT``, Hugging Face cache and ``HF_HUB_OFFLINE`` setting.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from zoo.errors import ZooError
from zoo.names import parse_name

DEFAULT_METHODS = ("cam", "gradcam", "gradcam_pp", "saliency", "smoothgrad", "integrated_gradients")
SCALE = 4  # sample images are tiny (64 / 32 px); PNGs are drawn this many times larger
SEED = 0  # for the stochastic explainers (SmoothGrad noise, RISE masks): re-runs give the same files


class DemoOutputError(ZooError, ValueError):
    """``-o`` names something the demo cannot write its folder of PNGs into (a usage error)."""


@contextlib.contextmanager
def embedded_hub(hubcards: Path, workdir: Path, *, serve: bool = True, log=print):
    """Serve ``hubcards`` (olah on loopback) with a fresh HF cache; restore the environment after.
    With ``serve=False`` the user's environment is used as it is."""
    if not serve:
        yield os.environ.get("HF_ENDPOINT")
        return
    from zoo.hub import OFFLINE_VARIABLES

    # every name the zoo reads a cache folder or offline mode from: all go to the fresh cache
    cleared = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", *OFFLINE_VARIABLES)
    saved = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HF_HOME", *cleared)}
    os.environ["HF_HOME"] = str(workdir / "hf-home")
    for key in cleared:
        os.environ.pop(key, None)
    try:
        from zoo.hub_server import HubServer

        with HubServer(hubcards, cache_dir=workdir / "hub-serve") as server:
            os.environ["HF_ENDPOINT"] = server.endpoint
            log(f"embedded hub: {len(server.repos)} repos from {hubcards} at HF_ENDPOINT={server.endpoint}")
            yield server.endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def shipped_models(hubcards: Path) -> list[tuple[str, str]]:
    """(``arch.tag``, task) of each registered pretrained tag that has a card in ``hubcards``."""
    import zoo

    out = []
    for name in zoo.list_models(pretrained=True):
        card = parse_name(name).bare  # "dist:arch.tag" where plugins clash (creating arch.tag then says so)
        if (hubcards / card / "config.json").is_file():
            out.append((card, zoo.model_info(name).task))
    return out


def prepare_output_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` (and its parents); a :class:`DemoOutputError` when it names a file or
    cannot be created."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DemoOutputError(f"-o {out_dir}: exists and is not a folder; name a new or existing folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoOutputError(f"-o {out_dir}: cannot create the folder ({exc.strerror or exc})") from None
    return out_dir


def check_methods(methods: Sequence[str]) -> list[str]:
    """The methods, all registered; an ``UnknownExplainerError`` (exit 2) listing what exists."""
    import zoo
    from zoo.errors import UnknownExplainerError

    known = zoo.list_explainers()
    unknown = [m for m in methods if m not in known and not any(k.endswith(f":{m}") for k in known)]
    if unknown:
        raise UnknownExplainerError(f"unknown explainer{'s' if len(unknown) > 1 else ''} "
                                    f"{', '.join(map(repr, unknown))} in --methods; registered: {', '.join(known)}")
    return list(methods)


def run_demo(out_dir: str | Path, *, hubcards: str | Path | None = None, n_images: int = 4,
             methods: Sequence[str] = DEFAULT_METHODS, serve: bool = True,
             log: Callable[[str], None] = print,
             stop_requested: Callable[[], bool] = lambda: False) -> list[Path]:
    """Write the demo PNGs into ``out_dir``; returns the paths this run wrote.

    ``hubcards`` defaults to :func:`zoo.card_folders.default_hubcards_dir`; the cards' ``config.json``
    (label names, preprocessing) is the one in that folder, also for the ``zoo predict`` /
    ``zoo explain`` calls. ``stop_requested`` is asked before each model; when it says so, the demo
    stops as on Ctrl-C (KeyboardInterrupt, after stopping the embedded hub)."""
    from zoo.card_folders import default_hubcards_dir, missing_hubcards_message

    hubcards = Path(hubcards) if hubcards is not None else default_hubcards_dir()
    if int(n_images) < 1:
        raise DemoOutputError(f"n_images must be at least 1, got {n_images}")
    methods = check_methods(methods)
    if not hubcards.is_dir():
        raise ZooError(missing_hubcards_message(hubcards))
    models = shipped_models(hubcards)
    if not models:
        raise ZooError(f"no registered pretrained tag has a card (<arch>.<tag>/config.json) under {hubcards}; "
                       "pass --hubcards DIR naming the folder that holds them")
    out_dir = prepare_output_dir(out_dir)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="zoo-demo-") as tmp, embedded_hub(hubcards, Path(tmp), serve=serve, log=log):
        for name, task in models:
            if stop_requested():
                raise KeyboardInterrupt("stop requested")
            log(f"{name}: zoo.create({name!r}, pretrained=True)")
            if task == "classification":
                written += _explain_classifier(name, hubcards, out_dir, n_images, methods, log)
            else:
                written += _segmenter(name, task, hubcards, out_dir, n_images, log)
    index = out_dir / "index.md"
    index.write_text("# zoo demo\n\n" + "\n".join(f"- [{p.relative_to(out_dir)}]({p.relative_to(out_dir)})"
                                                  for p in written) + "\n")
    log(f"wrote {len(written)} PNGs to {out_dir} (see {index})")
    return written


def _run_zoo_command(argv: list[str], folder: Path) -> tuple[int, list[Path]]:
    """Run ``zoo ARGV`` in-process; (exit code, the PNGs under ``folder`` it wrote or rewrote).
    Files left there by an earlier run are not counted: they are not this run's output."""
    from zoo.cli import main as zoo_main
    from zoo.cli.exit_codes import EXIT_INTERRUPTED, ReportedInterrupt

    def stamps() -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in folder.glob("*.png")} if folder.is_dir() else {}

    before = stamps()
    code = zoo_main(argv)
    if code == EXIT_INTERRUPTED:  # the nested command caught Ctrl-C: stop the demo too (olah, temp folder)
        raise ReportedInterrupt(f"zoo {argv[0]} interrupted")
    after = stamps()
    return code, sorted(p for p, t in after.items() if before.get(p) != t)


# --------------------------------------------------------------------------- data
def _config(hubcards: Path, name: str) -> dict:
    from zoo.card_models import read_card_config

    return read_card_config(hubcards / name)


def _test_items(config: dict, n: int) -> list[dict]:
    from zoo.data import get_dataset

    ds = get_dataset(config["dataset"]["name"], "test", **config["dataset"].get("kwargs", {}))
    return [ds[i] for i in range(min(n, len(ds)))]


def _to_pil(image, scale: int = SCALE):
    """(C, H, W) float [0, 1] tensor -> RGB PIL image, enlarged ``scale`` times (nearest)."""
    from PIL import Image

    from zoo.picture import to_rgb

    pil = to_rgb(image.clamp(0, 1))
    return pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)


def _save_samples(items: list[dict], folder: Path, prefix: str) -> list[Path]:
    """Test images as PNG files (enlarged), the inputs of ``zoo predict`` / ``zoo explain``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, item in enumerate(items):
        path = folder / f"{prefix}-test{i}.png"
        _to_pil(item["image"]).save(path)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- segmentation / instances
def _segmenter(name: str, task: str, hubcards: Path, out_dir: Path, n: int, log) -> list[Path]:
    import torch

    import zoo
    from zoo.visualize import draw_instances, overlay_segmentation

    config = _config(hubcards, name)
    names = config["label_names"]
    items = _test_items(config, n)
    model = zoo.create(name, pretrained=True)
    rows = []
    with torch.no_grad():
        for item in items:
            image = _to_pil(item["image"])
            if task == "semantic_segmentation":
                pred = model(item["image"][None])[0].argmax(0)
                truth = overlay_segmentation(image, _enlarge(item["mask"]), names, alpha=0.7, legend=False)
                drawn = overlay_segmentation(image, _enlarge(pred), names, alpha=0.7, legend=False)
            else:
                out = model([item["image"]])[0]
                gt = {"boxes": item["boxes"] * SCALE, "labels": item["labels"], "scores": torch.ones(len(item["labels"])),
                      "masks": _enlarge(item["masks"].float())}
                pred = {"boxes": out["boxes"] * SCALE, "labels": out["labels"], "scores": out["scores"],
                        "masks": _enlarge(out["masks"][:, 0]) if len(out["masks"]) else out["masks"][:, 0]}
                truth = draw_instances(image, gt, names)
                drawn = draw_instances(image, pred, names, score_threshold=0.5)
            rows.append([image, truth, drawn])
    sheet = out_dir / f"{name}.png"
    _contact_sheet(rows, ["input (test split)", "ground truth", f"{name} prediction"], sheet,
                   title=f"{name}: {_metric_line(config)}", legend=names[1:])
    written = [sheet]
    # The same images through the `zoo predict` command, as a user would run it.
    size = config["input_size"][-1]
    samples = _save_samples(items, out_dir / "samples", f"{config['dataset']['name']}{size}")
    predict_dir = out_dir / "predict" / name
    config_file = hubcards / name / "config.json"
    log(f"{name}: zoo predict {name} {len(samples)} images --config {config_file} -o {predict_dir}")
    code, files = _run_zoo_command(["predict", name, *map(str, samples), "--config", str(config_file),
                                    "-o", str(predict_dir)], predict_dir)
    if code == 0:
        written += files
    else:
        log(f"{name}: zoo predict exited with {code}")
    return written


def _enlarge(t):
    """Nearest-neighbour enlargement of an (H, W) or (K, H, W) tensor by SCALE."""
    import torch.nn.functional as F

    x = t[None] if t.ndim == 3 else t[None, None]
    y = F.interpolate(x.float(), scale_factor=SCALE, mode="nearest")
    y = y[0] if t.ndim == 3 else y[0, 0]
    return y.to(t.dtype)


def _metric_line(config: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in config["metrics"].items() if not k.startswith("iou_")) + " (test split)"


def _contact_sheet(rows, headers, path: Path, *, title: str, legend: Sequence[str] = ()) -> None:
    """A grid of PIL images with column headers, a title and a legend of the class colours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from zoo.visualize import class_colours

    n_rows, n_cols = len(rows), len(rows[0])
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols, 2.6 * n_rows + 0.5), squeeze=False)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            ax = axes[r][c]
            ax.imshow(cell)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(headers[c], fontsize=9)
    fig.suptitle(title, fontsize=9 if len(title) > 70 else 10)
    fig.tight_layout()
    if legend:
        colours = class_colours(len(legend) + 1)[1:]  # index 0 is the background
        fig.legend(handles=[Patch(color=[v / 255 for v in c], label=n) for n, c in zip(legend, colours)],
                   loc="lower center", ncol=len(legend), fontsize=9, frameon=False)
        fig.subplots_adjust(bottom=0.6 / (2.6 * len(rows) + 0.5) + 0.02)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------- classifiers
def _explain_classifier(name: str, hubcards: Path, out_dir: Path, n: int, methods: Sequence[str], log) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    import zoo

    config = _config(hubcards, name)
    items = _test_items(config, max(n, 6))
    model = zoo.create(name, pretrained=True)
    x = torch.stack([it["image"] for it in items])
    labels = [int(it["label"]) for it in items]
    with torch.no_grad():
        probs = model(x).softmax(1)
    maps = {}
    for m in methods:
        with torch.random.fork_rng():  # seeded per method, the caller's RNG state left as it was
            torch.manual_seed(SEED)
            maps[m] = zoo.explain(model, x, method=m)
    fig, axes = plt.subplots(len(items), len(methods) + 1, figsize=(1.9 * (len(methods) + 1), 2.0 * len(items) + 0.4),
                             squeeze=False)
    for r in range(len(items)):
        pred = int(probs[r].argmax())
        axes[r][0].imshow(x[r, 0].numpy(), cmap="gray")
        axes[r][0].set_title(f"true {labels[r]} / pred {pred} ({probs[r, pred]:.2f})", fontsize=8)
        for c, m in enumerate(methods, start=1):  # a signed map (integrated gradients) in bwr around 0
            axes[r][c].imshow(zoo.overlay(x[r], maps[m][r].detach()))
            if r == 0:
                axes[r][c].set_title(m, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{name}: explanations of the predicted class on test digits ({_metric_line(config)})", fontsize=10)
    fig.tight_layout()
    sheet = out_dir / f"{name}.explain.png"
    fig.savefig(sheet, dpi=100)
    plt.close(fig)
    written = [sheet]
    # Through the `zoo explain` command too, as a user would run it.
    samples = _save_samples(items[:n], out_dir / "samples", config["dataset"]["name"])
    config_file = hubcards / name / "config.json"
    for method in ("gradcam", "saliency"):
        target = out_dir / "explain" / name / method
        target.mkdir(parents=True, exist_ok=True)
        log(f"{name}: zoo explain {name} {len(samples)} images --method {method} --config {config_file} "
            f"-o {target}")
        with torch.random.fork_rng():
            torch.manual_seed(SEED)
            code, files = _run_zoo_command(["explain", name, *map(str, samples), "--method", method,
                                            "--config", str(config_file), "-o", str(target)], target)
        if code == 0:
            written += files
        else:
            log(f"{name}: zoo explain exited with {code}")
    return written
