"""``zoo explain``: heat maps of why a model predicts what it does, drawn over the images.

    zoo explain cnn_cam.digits seven.png --method gradcam --target 7 -o seven-gradcam.png
    zoo explain cnn_cam.digits a.png b.png --grid -o both.png
    zoo explain cnn_cam --weights model.safetensors a.png -m smoothgrad -O n_samples=16

Preprocessing (class names, mean/std, input size) follows the weights' ``config.json``, found
as ``zoo predict`` finds it (``--config``, beside ``--weights``, ``hubcards/<arch>.<tag>/``,
the Hub repo). Each PNG shows the map blended over the image, titled with the explained
class, its score (softmax probability) and the method.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import warnings
from pathlib import Path

from zoo.cli.exit_codes import EXIT_OK
from zoo.cli.model_options import add_model_options, check_model_options, load_model, resolve_model
from zoo.cli.output_names import OutputNames
from zoo.cli.usage_error import UsageError, refuse_file_as_folder, save_output
from zoo.explain import checked_maps

SUPPORTED_TASKS = ("classification", "semantic_segmentation")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "explain", help="draw explanation heat maps (Grad-CAM, saliency, ...) over images",
        description="Explain a classifier's (or segmenter's) prediction on images and write heat-map PNGs.")
    add_model_options(p, example="'cnn_cam.digits'", drawn="the heat map")
    p.add_argument("-m", "--method", default="gradcam", help="explainer name, see `zoo list` (default gradcam)")
    p.add_argument("-t", "--target", help="class index or class name to explain (default: the predicted class; "
                                          "for a segmenter, the class covering most pixels, often the background)")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="an image file (one image, or --grid; any suffix matplotlib writes: .png, .jpg, .pdf, ...), "
                        "or a folder for one PNG per image, named IMAGESTEM-METHOD.png (default: the current "
                        "folder); inputs sharing a file name get -2, -3, ... after the stem "
                        "(a/x.png b/x.png -> x-METHOD.png, x-2-METHOD.png), never overwriting each other")
    p.add_argument("--grid", action="store_true",
                   help="all images in one figure: the -o file, or explain-METHOD.png in the -o folder")
    p.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="explainer option, e.g. -O n_samples=16 -O target_layer=layer4 -O relu=false "
                        "(repeatable; VALUE is a Python literal, true/false/none, or a string)")
    p.add_argument("--cmap", help="matplotlib colormap (default: jet; bwr for signed maps such as "
                                   "integrated_gradients, zero in the middle)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    import zoo

    spec, tag = resolve_model(args, SUPPORTED_TASKS, "explains")
    _check_method_fits(args.method, spec.task)
    check_model_options(args)
    _check_output_suffix(args.output)
    if args.output and not _is_image_file(Path(args.output)):
        refuse_file_as_folder(Path(args.output), "the heat maps, or a file name ending .png")
    options = dict(_option(o) for o in args.option)
    if args.cmap is not None:
        import matplotlib

        if args.cmap not in matplotlib.colormaps:
            raise UsageError(f"--cmap {args.cmap!r} is not a matplotlib colormap, e.g. jet, viridis, inferno")

    loaded = load_model(args, spec, tag, untrained=", so the maps mean nothing")
    model, config, pre = loaded.model, loaded.config, loaded.preprocessing
    names = [str(n) for n in config.get("label_names") or []]
    target = _target(args.target, names)
    explainer = _explainer(args.method, model, options)

    panels = []
    for path in map(Path, args.images):
        original, x = pre.load(path)
        x = pre.normalise(x)[None].to(args.device)
        with torch.no_grad():
            output = model(x)
        if isinstance(output, dict) and isinstance(output.get("out"), torch.Tensor):
            output = output["out"]  # torchvision's segmenters, read as zoo predict and the explainers read them
        own_score = "score_fn" in options  # then the target means what the score_fn reads it as
        if target is not None and not own_score and not 0 <= target < output.shape[1]:
            known = f" ({', '.join(names)})" if names else ""
            raise UsageError(f"--target {target} is not a class of this model: it has {output.shape[1]} "
                             f"classes, 0 to {output.shape[1] - 1}{known}")
        with _warnings_naming(path):  # each file is explained alone: its warnings say which file
            result = explainer(x, target=target)
            maps = checked_maps(args.method, x, result, options)  # a plugin's bad maps: its error
        delta = _delta(result, options)
        cls = explained_class(explainer, output, target)
        if output.ndim >= 2 and 0 <= cls < output.shape[1]:
            label = names[cls] if cls < len(names) else f"class {cls}"
            score = _score(output, cls)
            title = f"{label} ({'predicted nowhere' if score is None else f'{score:.2f}'}) - {args.method}"
        else:  # an index only the caller's score_fn reads
            title = f"target {cls} - {args.method}"
        if delta is not None:
            title += f", delta {delta:.2g}"
        original.thumbnail((DRAWN_SIDE, DRAWN_SIDE))  # shrinks only; overlay resizes the map to it
        panels.append((path, zoo.overlay(original, maps[0], alpha=args.alpha, cmap=args.cmap), title))

    for written in _write(panels, args):
        print(written)
    return EXIT_OK


def _delta(result, options: dict) -> float | None:
    """The one image's convergence delta of ``-O return_delta=true`` (integrated gradients gives
    ``(maps, delta)``): drawn in the title, where it would otherwise be dropped."""
    import torch

    if not options.get("return_delta") or not isinstance(result, tuple) or len(result) != 2:
        return None
    try:
        return float(torch.as_tensor(result[1]).flatten()[0])
    except (TypeError, ValueError, IndexError, RuntimeError):
        return None


#: the largest side (px) of an image drawn under its map: a panel is 320-400 px wide, and blending
#: a photo of a hundred megapixels at full size cost gigabytes for nothing visible
DRAWN_SIDE = 1024

SPELLED_CONSTANTS = {"true": True, "false": False, "none": None}  # as a shell user writes them, any case


@contextlib.contextmanager
def _warnings_naming(path: Path):
    """Warnings raised inside, given again with the image file's name in front: explained one file at a
    time, an explainer's warning could only say "in the image", not which of the command's images."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # recorded here, filtered as the caller filters them below
            yield
    finally:
        for w in caught:
            warnings.warn_explicit(f"{path}: {w.message}", w.category, w.filename, w.lineno)


def _option(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--option takes KEY=VALUE, got {text!r}")
    if key == "target_layer":  # a dotted name as written: nn.Sequential's layers are named 0, 1, ...
        return key, None if value.lower() == "none" else value  # none: the default, as `zoo info` shows it
    if value.lower() in SPELLED_CONSTANTS:  # relu=false was the string "false": truthy, the default
        return key, SPELLED_CONSTANTS[value.lower()]
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a plain string, e.g. target_layer=layer4


def _check_method_fits(method: str, task: str) -> None:
    """A method whose ExplainerSpec.tasks leaves out the model's task is a usage error naming those that fit."""
    from zoo.registry import get_registry

    registry = get_registry()
    tasks = registry.explainer(method)[0].tasks
    if task not in tasks:
        fitting = [name for name in registry.list_explainers() if task in registry.explainer(name)[0].tasks]
        raise UsageError(f"method {method!r} explains {' and '.join(tasks)} models (its ExplainerSpec.tasks), "
                         f"and this is a {task} model; methods for it: {', '.join(fitting) or 'none'}")


def _explainer(method: str, model, options: dict):
    """``zoo.create_explainer``, with an option the method does not take (or refuses) as a usage
    error that lists the ones it does, and one it requires as a usage error naming it."""
    import zoo
    from zoo.errors import MissingOptionError, UnknownOptionError

    if isinstance(options.get("score_fn"), str):
        options = {**options, "score_fn": _imported_callable("score_fn", options["score_fn"])}
    try:
        return zoo.create_explainer(method, model, **options)
    except UnknownOptionError as exc:  # checked on the builder's signature, before building
        raise UsageError(f"method {method!r} takes no option {', '.join(map(repr, exc.unknown))}; "
                         f"its options (-O KEY=VALUE): {', '.join(exc.accepted) or 'none'}") from None
    except MissingOptionError as exc:
        raise UsageError(f"method {method!r} requires {' '.join(f'-O {key}=VALUE' for key in exc.missing)} "
                         "(its plugin gives no default)") from None
    except (TypeError, ValueError) as exc:
        if not options or not _builds_without_options(method, model):
            raise  # about the model, not the options: a runtime error (exit 3)
        given = " ".join(f"-O {key}={value!r}" for key, value in options.items())
        raise UsageError(f"method {method!r} refused {given}: {exc}") from None


def _imported_callable(key: str, value: str):
    """``-O score_fn=package.module:function``: the callable it names, imported as a spec's
    builder string is (a command line cannot hold a Python function)."""
    from zoo.errors import BuilderError
    from zoo.builders import import_builder

    if ":" not in value:
        raise UsageError(f"-O {key}= takes a Python callable as package.module:function, got {value!r}")
    try:
        return import_builder(value, f"-O {key}", kind="callable")
    except BuilderError as exc:
        raise UsageError(str(exc)) from None


def _builds_without_options(method: str, model) -> bool:
    import zoo

    try:
        zoo.create_explainer(method, model)
    except Exception:  # noqa: BLE001 - whatever it is, the options are not its cause
        return False
    return True


def _target(text: str | None, names: list[str]):
    if text is None:
        return None
    if text in names:
        return names.index(text)
    try:
        return int(text)
    except ValueError:
        known = f"; known classes: {', '.join(names)}" if names else ""
        raise UsageError(f"--target {text!r} is neither a class index nor a class name{known}") from None


def explained_class(explainer, output, target: int | None) -> int:
    """The class the first image's map explains, for its title: the explainer's own record
    (``last_classes``, which the first-party explainers keep), else the target, else the
    predicted class: a classifier's argmax, or the class covering most of a segmentation's pixels
    (the rule of the first-party ``zoo_explainers.targets.predicted_classes``, which the core does
    not import: keep the two alike)."""
    classes = getattr(explainer, "last_classes", None)
    if classes is not None:
        return int(classes[0])
    if target is not None:
        return int(target)
    if output.ndim == 2:
        return int(output[0].argmax())
    return int(output[0].argmax(0).flatten().bincount(minlength=output.shape[1]).argmax())


def _score(output, cls: int) -> float | None:
    """Softmax probability of ``cls`` (sigmoid for a one-logit output, whose softmax is always 1);
    for segmentation, its mean over the pixels predicted as it, None where there are none."""
    probs = (output.float().sigmoid() if output.shape[1] == 1 else output.float().softmax(1))[0, cls]
    if probs.ndim == 0:
        return float(probs)
    mask = output[0].argmax(0) == cls
    return float(probs[mask].mean()) if mask.any() else None


def _is_image_file(path: Path | None) -> bool:
    """Whether ``path``'s suffix names a format matplotlib writes (.png, .jpg, .webp, .pdf, .svg, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return path is not None and path.suffix[1:].lower() in FigureCanvasBase.get_supported_filetypes()


def _check_output_suffix(output: str | None) -> None:
    """An ``-o`` named as an image of a format matplotlib cannot write (``out.bmp``) is a usage
    error: taken as a folder, it became one, with an image's name."""
    from PIL import Image

    path = Path(output) if output else None
    if path is None or path.is_dir() or _is_image_file(path):
        return
    Image.init()
    if path.suffix.lower() in Image.registered_extensions():
        from matplotlib.backend_bases import FigureCanvasBase

        writable = ", ".join(f".{s}" for s in sorted(FigureCanvasBase.get_supported_filetypes()))
        raise UsageError(f"-o {output}: heat maps are written by matplotlib, which cannot write "
                         f"{path.suffix} files; use one of {writable}, or a folder")


def _file_safe(method: str) -> str:
    """A method name as part of a file name: a plugin's ``org/name`` or ``dist:name`` would make a
    sub-folder (or an invalid name on Windows)."""
    return method.replace("/", "-").replace(":", "-")


def _write(panels, args) -> list[Path]:
    from matplotlib.figure import Figure

    out = Path(args.output) if args.output else None
    if args.grid or (len(panels) == 1 and _is_image_file(out)):
        # --grid with a folder (or no -o): explain-METHOD.png inside it
        target = out if _is_image_file(out) else (out or Path(".")) / f"explain-{_file_safe(args.method)}.png"
        cols = min(4, len(panels))
        rows = -(-len(panels) // cols)
        fig = Figure(figsize=(3.2 * cols, 3.4 * rows), layout="constrained")
        for i, (_, image, title) in enumerate(panels):
            ax = fig.add_subplot(rows, cols, i + 1)
            ax.imshow(image)
            ax.set_title(title, fontsize=10)
            ax.axis("off")
        _refuse_replacing_an_input(target, args.images)
        _make_folder(target.parent)
        save_output(lambda path: fig.savefig(path, dpi=100), target)
        return [target]
    folder = out if out is not None else Path(".")
    if _is_image_file(folder):
        raise UsageError(f"{len(panels)} images but one output file {folder}: pass --grid, or a folder")
    _make_folder(folder)
    names = OutputNames(folder, args.images)  # as zoo predict names its files: <stem>-2-METHOD.png...
    suffix = f"-{_file_safe(args.method)}.png"
    written = []
    for path, image, title in panels:
        fig = Figure(figsize=(4, 4.3), layout="constrained")
        ax = fig.add_subplot()
        ax.imshow(image)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
        target = names.path(path.stem, suffix)
        save_output(lambda path: fig.savefig(path, dpi=100), target)
        written.append(target)
    return written


def _refuse_replacing_an_input(target: Path, images: list[str]) -> None:
    if any(target.resolve() == Path(image).resolve() for image in images):
        raise UsageError(f"-o {target} is one of the input images, which the heat map would replace; "
                         "write it elsewhere (another file name, or a folder)")


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, no permission...
        raise UsageError(f"cannot write into {folder}: {exc.strerror or exc}") from None
