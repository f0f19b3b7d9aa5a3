"""Checks every architecture must pass, whatever its task."""

from __future__ import annotations

import contextlib
import copy
import tempfile
from pathlib import Path

from zoo.testing.checks import BUILD_CHECK, MODEL, broken, check
from zoo.testing.subjects import SEED
from zoo.testing.results import CheckSkipped
from zoo.testing.tasks import INSTANCE, instance_targets, training_loss
from zoo.testing.tensors import describe, difference


def eval_output(model, inputs):
    import torch

    model.eval()
    with torch.no_grad():
        return model(inputs)


def default_num_classes(subject) -> int:
    """K of the default build: the spec's default, else read off an output."""
    if "num_classes" in subject.spec.defaults:
        return int(subject.spec.defaults["num_classes"])
    if subject.task == INSTANCE:
        return 2  # unknown; label 1 is valid for any detector with a class besides background
    return int(eval_output(subject.model(), subject.example()).shape[1])


def output_diagnosis(subject) -> str | None:
    """Why a dense-task model's checks crash, when it is the output's type: a dict or tuple where
    the contract wants a tensor fails many checks with an AttributeError on ``.shape`` that would
    not say so (the runner asks this after a check raised)."""
    from zoo.testing.tasks import output_problem

    if subject.task == INSTANCE:
        return None
    try:
        inputs = subject.example()
        out = eval_output(subject.model(), inputs)
    except Exception:  # noqa: BLE001 - the check's own error says more
        return None
    return output_problem(subject.task, out, f"input {tuple(inputs.shape)}")


@check(BUILD_CHECK, MODEL, "builder(num_classes=..., in_chans=..., **defaults) returns a torch.nn.Module")
def check_build(subject):
    model = subject.model()
    n = sum(p.numel() for p in model.parameters())
    return f"{type(model).__name__}, {n:,} parameters"


@check("num_classes", MODEL, "num_classes given to the builder sets the number of classes K of the output")
def check_num_classes(subject):
    import torch

    default = default_num_classes(subject)
    k = 5 if default == 7 else 7
    model = subject.build(num_classes=k)
    inputs = subject.example()
    if subject.task == INSTANCE:
        model.train()
        try:
            model(inputs, instance_targets(inputs, k))
        except Exception as exc:  # noqa: BLE001
            raise broken(f"built with num_classes={k}, training on label {k - 1} failed: "
                         f"{type(exc).__name__}: {exc}") from exc
        labels = torch.cat([d["labels"] for d in eval_output(model, inputs)])
        if len(labels) and int(labels.max()) >= k:
            raise broken(f"built with num_classes={k}, eval returned label {int(labels.max())}")
        return f"K={k} (default {default})"
    out = eval_output(model, inputs)
    if out.ndim < 2 or out.shape[1] != k:
        raise broken(f"built with num_classes={k}, input {tuple(inputs.shape)} gave {describe(out)}; "
                     f"expected dimension 1 to be {k}")
    return f"K={k} (default {default})"


def _run_noting_stem(model, inputs):
    """``(eval output, (class name, input channels) of the first convolution to run, or None)``."""
    with _first_to_run(model, lambda m: isinstance(getattr(m, "in_channels", None), int)) as first:
        out = eval_output(model, inputs)
    return out, ((type(first[0]).__name__, first[0].in_channels) if first else None)


@check("in_chans", MODEL, "in_chans given to the builder sets the number of input channels C")
def check_in_chans(subject):
    default = subject.in_chans()
    c = 1 if default != 1 else 3
    model = subject.build(in_chans=c)
    inputs = subject.example(in_chans=c)
    shape = [tuple(i.shape) for i in inputs] if subject.task == INSTANCE else tuple(inputs.shape)
    try:
        out, stem = _run_noting_stem(model, inputs)
    except Exception as exc:  # noqa: BLE001
        raise broken(f"built with in_chans={c}, input {shape} raised {type(exc).__name__}: {exc}"
                     + _ignored_in_chans(model, subject, c, default)) from exc
    if subject.task != INSTANCE and out.shape[0] != inputs.shape[0]:
        raise broken(f"built with in_chans={c}, input {shape} gave {describe(out)}")
    if stem and stem[1] != c:
        # It may still grow with C: a space-to-depth stem (timm's TResNet) takes C times a block,
        # a CoordConv stem C plus its coordinate channels.
        other = 3 if c == 1 else 1
        _, other_stem = _run_noting_stem(subject.build(in_chans=other), subject.example(in_chans=other))
        if other_stem is None or not _grows_with_channels({c: stem[1], other: other_stem[1]}):
            raise broken(f"built with in_chans={c}, the first convolution ({stem[0]}) takes {stem[1]} channels "
                         f"({other_stem[1] if other_stem else '?'} with in_chans={other}): its width does not grow "
                         f"with C (as C times a block, or C plus extra channels), so the input is adapted to a "
                         f"fixed stem: build the stem for in_chans channels")
    return f"C={c} (default {default})"


def _grows_with_channels(width_at: dict[int, int]) -> bool:
    """Whether the stem widths at two channel counts fit width = a * C + b, a >= 1, b >= 0."""
    (c_low, w_low), (c_high, w_high) = sorted(width_at.items())
    a, rest = divmod(w_high - w_low, c_high - c_low)
    return rest == 0 and a >= 1 and w_low - a * c_low >= 0


def _ignored_in_chans(model, subject, c: int, default: int) -> str:
    """A hint where the model built with ``in_chans=c`` runs on ``default`` channels instead: its
    builder did not pass ``in_chans`` on (the error then reads as the user's input problem)."""
    try:
        _, stem = _run_noting_stem(model, subject.example(in_chans=default))
    except Exception:  # noqa: BLE001 - it fails with the default channels too: no hint to give
        return ""
    if stem is None or stem[1] != default:
        return ""
    return (f"; yet it runs on {default}-channel input, its first convolution ({stem[0]}) taking {stem[1]} "
            f"channels: the builder ignores in_chans={c} (pass it on to the model's stem)")


@contextlib.contextmanager
def _first_to_run(model, wanted):
    """Yields a list that ends up holding the first module matching ``wanted`` that runs in the
    forward pass inside the block (the order of execution, not of registration)."""
    first = []

    def hook(module, args):
        if not first:
            first.append(module)

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if wanted(m)]
    try:
        yield first
    finally:
        for handle in handles:
            handle.remove()


def _fresh(inputs):
    """A private copy of an example input, so a model that writes into its input cannot make
    the next pass see other values (that defect is input_unchanged's to report)."""
    return [x.clone() for x in inputs] if isinstance(inputs, list) else inputs.clone()


def _normalised(inputs):
    """The example images spread over [-2, 2), as mean/std normalisation leaves them: an in-place
    ``relu_()`` or ``clamp_(0, 1)`` changes nothing in [0, 1)."""
    return [x * 4 - 2 for x in inputs] if isinstance(inputs, list) else inputs * 4 - 2


NONDETERMINISTIC = ("but two eval passes of the model itself differ too: it is not deterministic in eval mode "
                    "(see eval_determinism), so this cannot be judged")


def mismatch(model, inputs, detail: str):
    """The violation for two outputs of ``model`` on ``inputs`` that should agree and do not
    (``detail``). Where two eval passes of the model itself differ, the comparison cannot be
    judged, and the violation says so and points at eval_determinism instead of guessing a cause."""
    if difference(eval_output(model, _fresh(inputs)), eval_output(model, _fresh(inputs))):
        return broken(f"{detail}; {NONDETERMINISTIC}")
    return broken(detail)


@check("eval_determinism", MODEL, "in eval mode the same input gives the same output")
def check_eval_determinism(subject):
    model = subject.model()
    inputs = subject.example()
    first, second = eval_output(model, _fresh(inputs)), eval_output(model, _fresh(inputs))
    diff = difference(first, second)
    if diff:
        raise broken(f"two eval passes on the same input differ: {diff}")


@check("input_unchanged", MODEL, "forward leaves its input as it was (eval and train mode): the caller's images, "
                                 "and a detector's training targets, are not modified in place")
def check_input_unchanged(subject):
    import torch

    model = subject.model()
    for mode, inputs in (("eval", _normalised(subject.example())), ("train", _normalised(subject.example(batch=2)))):
        original = _fresh(inputs)
        targets = original_targets = None
        with torch.no_grad():
            if mode == "eval":
                model.eval()(inputs)
            elif subject.task == INSTANCE:
                targets = instance_targets(inputs, default_num_classes(subject))
                original_targets = copy.deepcopy(targets)
                model.train()(inputs, targets)
            else:
                model.train()(inputs)
        diff = difference(original, inputs, path="input")
        if diff:
            raise broken(f"a forward pass in {mode} mode modified the input tensor in place ({diff}); "
                         f"compute on a copy (x = x - mean, not x.sub_(mean))")
        diff = difference(original_targets, targets, path="targets")
        if diff:
            raise broken(f"a forward pass in train mode modified the caller's targets ({diff}); torchvision's "
                         f"detection models leave them as given: work on copies (boxes = t['boxes'] * scale, "
                         f"a new dict per image)")


@check("gradients", MODEL, "in train mode a loss on the output sends a finite gradient to every trainable parameter")
def check_gradients(subject):
    import torch

    model = subject.model().train()
    inputs = subject.example(batch=2)  # train-mode BatchNorm needs 2
    k = default_num_classes(subject) if subject.task == INSTANCE else 0
    training_loss(subject.task, model, inputs, k).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = [n for n, p in trainable if p.grad is None]
    bad = [n for n, p in trainable if p.grad is not None and not torch.isfinite(p.grad).all()]
    if missing:
        raise broken(f"{len(missing)} of {len(trainable)} trainable parameters got no gradient: "
                     f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    if bad:
        raise broken(f"non-finite gradients in {', '.join(bad[:8])}")
    return f"{len(trainable)} trainable tensors"


@check("safetensors_roundtrip", MODEL,
       "the state dict saved with safetensors and loaded strictly into a fresh build (meta device, "
       "as zoo.create(weights=...) does) gives bit-identical eval outputs")
def check_safetensors_roundtrip(subject):
    import safetensors.torch

    from zoo.weights import build_with_weights

    model = subject.model().eval()
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    inputs = subject.example()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        safetensors.torch.save_file(state, str(path))
        try:
            loaded = build_with_weights(lambda: subject.build_seeded(SEED + 1), path).eval()
        except Exception as exc:  # noqa: BLE001
            raise broken(f"loading the saved state dict into a fresh build failed: {type(exc).__name__}: {exc}") from exc
    expected = eval_output(model, _fresh(inputs))
    diff = difference(expected, eval_output(loaded, _fresh(inputs)))
    if diff:
        if difference(expected, eval_output(model, _fresh(inputs))):
            raise broken(f"outputs after the round trip differ ({diff}); {NONDETERMINISTIC}")
        # Re-allocated copies tell a model whose state is not all in its state dict from
        # loaded tensors that are not 64-byte aligned (vectorised CPU kernels round differently).
        if difference(expected, eval_output(copy.deepcopy(loaded), _fresh(inputs))):
            raise broken(f"outputs after the round trip differ: {diff}; is some state (a tensor attribute, a "
                         f"non-persistent buffer set at random) missing from the state dict?")
        raise broken(f"outputs after the round trip differ: {diff}, but not once the loaded tensors are "
                     f"re-allocated: zoo.weights left them unaligned (a loader issue, not the model's)")
    return f"{len(state)} tensors"


@check("export", MODEL, "the model exports with torch.export and the exported program matches eager "
                        "(or the spec opts out with ArchitectureSpec(export='reason'))")
def check_export(subject):
    import torch

    opt_out = subject.spec.export
    if opt_out is not True:
        raise CheckSkipped(f"spec opts out: {opt_out if isinstance(opt_out, str) else 'no reason given'}")
    model = subject.model().eval()
    inputs = subject.example()
    try:
        with torch.no_grad(), _torch_logs_muted():
            program = torch.export.export(model, (_fresh(inputs),))
            exported = program.module()(_fresh(inputs))
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise broken(f"torch.export failed: {type(exc).__name__}: {first[:300]}. Make the model exportable "
                     f"or declare ArchitectureSpec(export='why it cannot be'); torch.export.export(model, (x,)) "
                     f"gives torch's full report") from exc
    eager = eval_output(model, _fresh(inputs))
    flat_a, flat_b = _flatten(eager), _flatten(exported)
    if len(flat_a) != len(flat_b) or any(a.shape != b.shape for a, b in zip(flat_a, flat_b)):
        raise broken(f"exported program disagrees with eager: exported {describe(exported)} vs eager {describe(eager)}")
    worst = max((float((a.float() - b.float()).abs().nan_to_num(float("inf")).max()) for a, b in zip(flat_a, flat_b)
                 if a.numel() and not torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-4, equal_nan=True)),
                default=None)
    if worst is not None:
        raise mismatch(model, inputs, f"exported program disagrees with eager ({describe(eager)}): max abs "
                                      f"difference {worst:.3g} (tolerance rtol=1e-4, atol=1e-4)")


@contextlib.contextmanager
def _torch_logs_muted():
    """Mute torch's loggers and stderr: a failing export logs warnings and prints its partial
    graph, twice, amid the check table."""
    import io
    import logging

    loggers = [logging.getLogger("torch")] + [logger for name, logger in logging.Logger.manager.loggerDict.items()
                                              if name.startswith("torch.") and isinstance(logger, logging.Logger)]
    was = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for logger, disabled in zip(loggers, was):
            logger.disabled = disabled


def _flatten(x) -> list:
    import torch

    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, dict):
        return [t for k in sorted(x) for t in _flatten(x[k])]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _flatten(v)]
    return []
