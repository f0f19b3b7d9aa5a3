"""Loading safetensors weights into a freshly built model: strictly, all or nothing.

The file is read by :mod:`zoo.safetensors_file` (header checked before any data, never a
pickle); this module matches it against the model's keys, shapes and dtypes before loading, so
a model is never returned half-loaded.

Decisions (documented in the user docs):
- a floating tensor may be stored in another floating dtype (float16/bfloat16/float64): it is
  cast to the model's dtype; a change of kind (int where float is expected...) is refused;
- when ``num_classes``/``in_chans`` differ from what the weights were trained with, the
  class-dependent tensors are re-initialised and the first conv is adapted (summed for one
  channel, repeated and rescaled for more), with a :class:`WeightsMismatchWarning`.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from zoo import checked_files
from zoo.errors import WeightsError, WeightsMismatchError, WeightsMismatchWarning
from zoo.safetensors_file import TensorEntry, all_finite, listing, load_resolved, read_header

@dataclass(frozen=True)
class HeadChange:
    """What the weights were trained with versus what the caller asked for."""

    pretrained_num_classes: int | None = None
    num_classes: int | None = None
    pretrained_in_chans: int | None = None
    in_chans: int | None = None

    @property
    def classes_differ(self) -> bool:
        return None not in (self.pretrained_num_classes, self.num_classes) and \
            self.pretrained_num_classes != self.num_classes

    @property
    def chans_differ(self) -> bool:
        return None not in (self.pretrained_in_chans, self.in_chans) and \
            self.pretrained_in_chans != self.in_chans


def build_with_weights(build: Callable[[], object], source: str | Path | Callable[[], Path], *,
                       change: HeadChange | None = None, aligned_copy: bool = False):
    """Build a model and load the file's tensors into it, strictly; all or nothing.

    The model is first built on the meta device, its initialisers skipped (zoo.meta), to
    learn its keys, shapes and dtypes; the file's header is matched against them before any
    data is read. Missing, unexpected, mis-shaped and wrong-kind keys are listed together.
    ``source`` may be a function giving the file (a download): it is called once the model is
    built, so a builder's error (an unknown option) comes before a download, as in timm.
    ``aligned_copy`` is passed to :func:`zoo.safetensors_file.load_resolved`. The model ends on
    the caller's default device (``with torch.device(...)``, ``torch.set_default_device``), as a
    random build does, whichever way it is loaded.
    """
    import torch

    from zoo.meta import on_meta_without_init  # imports torch; listing models never gets here

    ambient = torch.empty(0).device  # before anything runs under the meta device: what a random build gets
    try:
        with on_meta_without_init():
            model = build()
    except Exception:  # noqa: BLE001 - a builder that cannot run on meta: build for real
        model = None
    reference = model if model is not None else build()
    source = Path(source() if callable(source) else source)
    real = os.path.realpath(source)  # one file for the plan and the load, even if a link to it moves
    try:
        planned = checked_files.identity(real)
    except OSError:
        planned = None  # no such file: read_header says so
    entries = read_header(real, shown=source)
    expected = reference.state_dict()
    computed = _computed_buffers(reference)
    tied = _tied_keys(reference)
    plan = _plan(source, expected, entries, change or HeadChange(), computed, _classifier_keys(reference),
                 feature_extractor=_is_feature_extractor(reference), tied=tied)

    state = load_resolved(real, source, aligned_copy=aligned_copy)
    if checked_files.identity(real) != planned:  # rewritten in place since the plan was made
        raise WeightsError(f"{source}: the file changed while it was loaded; load it again once it is complete")
    state = _in_model_dtypes(source, state, expected, skip=plan.drop + plan.computed)
    for key, partner in plan.tied.items():  # saved once, by save_model: the model ties them again
        state[key] = state[partner]
    for key in plan.counters:
        state[key] = _zero_counter()
    if plan.reinit or plan.adapt or model is None:
        model = reference if model is None else build()  # re-initialised layers need real initial values
        own = model.state_dict()
        for key in plan.reinit:
            state[key] = own[key]
        for key in plan.adapt:
            state[key] = adapt_input_conv(state[key], change.in_chans)
        model.load_state_dict(state, strict=True)
    elif computed or _keeps_meta_tensors(model):
        # Non-persistent buffers are in no file, nor are tensors kept as plain attributes (both would stay
        # on meta): build for real, copy the weights in.
        model = build()
        model.load_state_dict(state, strict=True)
    else:
        if ambient.type != "cpu":  # the file's tensors are on the CPU; assigned, they would stay there
            state = {key: tensor.to(ambient) for key, tensor in state.items()}
        model.load_state_dict(_in_model_layout(state, expected), strict=True, assign=True)
        _tie_again(model, tied)
    if plan.reinit or plan.adapt:  # a head dropped (num_classes=0: features) asked for nothing to learn
        _warn_changes(source, plan, change)
    return model


def _in_model_layout(state: dict, expected: dict) -> dict:
    """The file's (contiguous) tensors laid out as the model built its own: a channels_last or
    transposed parameter stays so, as torch's copying ``load_state_dict`` keeps it, where
    assigning would make it contiguous (and some kernels round differently on it)."""
    import torch

    for key, own in expected.items():
        # (a stride of 0, an expanded view, is no layout to copy into: it stays as loaded)
        if key in state and not own.is_contiguous() and state[key].shape == own.shape and 0 not in own.stride():
            laid_out = torch.empty_strided(own.shape, own.stride(), dtype=state[key].dtype, device=state[key].device)
            state[key] = laid_out.copy_(state[key])
    return state


@dataclass
class _Plan:
    reinit: list[str]
    adapt: list[str]
    drop: list[str]
    computed: list[str]
    tied: dict[str, str]  # a key the file lacks -> the key of the same (shared) tensor it has
    counters: list[str]  # BatchNorm's num_batches_tracked, absent from the file: 0, as torch fills it in


def _zero_counter():
    import torch

    return torch.zeros((), dtype=torch.long)


def _tied_keys(model) -> dict[str, str]:
    """State keys that name the same tensor as an earlier key (tied weights): key -> that key.
    ``safetensors.torch.save_model`` stores such a tensor once, under one of its names."""
    first: dict[int, str] = {}
    tied = {}
    for key, tensor in model.state_dict(keep_vars=True).items():
        tied_to = first.setdefault(id(tensor), key)
        if tied_to != key:
            tied[key] = tied_to
    return tied


def _tie_again(model, tied: dict[str, str]) -> None:
    """``load_state_dict(assign=True)`` gives every key a tensor of its own, so weights the builder
    tied (one Parameter under two names) would train apart, and ``parameters()`` would count them
    twice; make each such name hold its partner's tensor again, as built."""
    for key, tied_to in tied.items():
        owner, _, name = key.rpartition(".")
        partner_owner, _, partner_name = tied_to.rpartition(".")
        module, partner = model.get_submodule(owner), model.get_submodule(partner_owner)
        for slots, partner_slots in ((module._parameters, partner._parameters), (module._buffers, partner._buffers)):
            if name in slots and partner_name in partner_slots:
                slots[name] = partner_slots[partner_name]


def _is_feature_extractor(model) -> bool:
    """timm's ``features_only=True`` wrappers: their ``feature_info`` is a FeatureInfo object
    (``.channels()``...); a classifier's is a plain list of dicts."""
    return callable(getattr(getattr(model, "feature_info", None), "channels", None))


def _classifier_keys(model) -> set[str]:
    """State keys of the model's classifier (timm's ``get_classifier()``), if it has one."""
    get_classifier = getattr(model, "get_classifier", None)
    head = get_classifier() if callable(get_classifier) else None
    for prefix, module in model.named_modules():
        if module is head and prefix:
            return {f"{prefix}.{key}" for key in module.state_dict()}
    return set()


def _computed_buffers(model) -> set[str]:
    """Names of the model's non-persistent buffers: values it computes itself (index tables,
    attention masks). Older files may still hold them; they are ignored, not loaded."""
    return {f"{prefix}.{name}" if prefix else name
            for prefix, module in model.named_modules() for name in module._non_persistent_buffers_set}


def _keeps_meta_tensors(model) -> bool:
    """Whether a module of the meta-built ``model`` keeps a tensor outside its parameters and buffers
    (``self.scale = torch.ones(1)``, a list of anchors like torchvision's ``AnchorGenerator``, a
    constant a function attribute closes over, one in a plain config object): no state dict holds
    it, so it stays on the meta device, without a value. Looks three levels deep."""
    import functools
    import types

    import torch

    def metas(value, depth=0) -> bool:
        if isinstance(value, torch.Tensor):
            return value.is_meta
        if depth >= 3 or isinstance(value, (torch.nn.Module, type, types.ModuleType)):
            return False  # each module is visited on its own
        if isinstance(value, (list, tuple, set, frozenset)):
            items = value
        elif isinstance(value, dict):
            items = value.values()
        elif isinstance(value, types.FunctionType):  # self.pre = lambda x: x - mean
            items = [cell.cell_contents for cell in value.__closure__ or () if _filled(cell)]
        elif isinstance(value, functools.partial):
            items = (*value.args, *value.keywords.values())
        else:  # a plain object: types.SimpleNamespace(mean=...)
            try:
                items = vars(value).values()
            except Exception:  # noqa: BLE001 - no __dict__, or one that refuses to be read
                return False
        return any(metas(item, depth + 1) for item in items)

    return any(metas(value) for module in model.modules() for name, value in vars(module).items()
               if name not in _MODULE_STATE)


_MODULE_STATE = ("_parameters", "_buffers", "_modules")  # nn.Module's own tables, loaded from the file


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # a closure variable not bound yet
        return False
    return True


def _plan(source: Path, expected: dict, entries: dict[str, TensorEntry], change: HeadChange,
          computed: set[str], classifier: set[str], *, feature_extractor: bool, tied: dict[str, str]) -> _Plan:
    plan = _Plan([], [], [], [], {}, [])
    missing = []
    names_of = {}  # each tensor the model ties: all its keys
    for key, tied_to in tied.items():
        names_of.setdefault(tied_to, {tied_to}).add(key)
    for key in sorted(set(expected) - set(entries)):
        stored = sorted(k for k in names_of.get(tied.get(key, key), ()) if k in entries)
        if stored:
            plan.tied[key] = stored[0]  # the file holds the tensor under another of its names
        elif change.pretrained_num_classes == 0 and change.num_classes and key in classifier:
            plan.reinit.append(key)  # a feature extractor's weights (no head in the file), a new head
        elif key.rpartition(".")[2] == "num_batches_tracked" and expected[key].ndim == 0:
            # older and converted checkpoints lack it; torch's strict load_state_dict (and timm) fill in 0
            plan.counters.append(key)
        else:
            missing.append(key)
    unexpected = []
    for key in sorted(set(entries) - set(expected)):
        if key in computed:
            plan.computed.append(key)
        elif change.classes_differ and _classes_dim(entries[key].shape[:1], (0,), change):
            plan.drop.append(key)  # e.g. num_classes=0: the model has no head, the file has one
        else:
            unexpected.append(key)
    mis_shaped, wrong_kind = {}, {}
    for key in sorted(set(expected) & set(entries)):
        file_shape, model_shape = entries[key].shape, tuple(expected[key].shape)
        if entries[key].kind != _kind(expected[key].dtype):
            wrong_kind[key] = (entries[key].dtype, str(expected[key].dtype).removeprefix("torch."))
        if file_shape == model_shape:
            continue
        if change.classes_differ and _classes_dim(file_shape, model_shape, change):
            plan.reinit.append(key)
        elif change.chans_differ and _is_input_conv(file_shape, model_shape, change):
            plan.adapt.append(key)
        else:
            mis_shaped[key] = (tuple(file_shape), model_shape)
    if missing or unexpected or mis_shaped or wrong_kind:
        raise _mismatch_error(source, missing, unexpected, mis_shaped, wrong_kind, classifier,
                              feature_extractor=feature_extractor)
    return plan


def _mismatch_error(source: Path, missing: list[str], unexpected: list[str], mis_shaped: dict, wrong_kind: dict,
                    classifier: set[str], *, feature_extractor: bool) -> WeightsMismatchError:
    """Every key that does not fit, counted by kind, and what to do about the likely causes."""
    lines = [f"{source}: weights do not match the model."]
    shapes = [f"{k!r}: file {list(file)} vs model {list(model)}" for k, (file, model) in mis_shaped.items()]
    kinds = [f"{k!r}: file {file} vs model {model}" for k, (file, model) in wrong_kind.items()]
    for title, items in (("missing", [repr(k) for k in missing]), ("unexpected", [repr(k) for k in unexpected]),
                         ("mis-shaped", shapes), ("wrong dtype kind", kinds)):
        if items:
            lines.append(f"  {title} ({len(items)}): {listing(items)}")
    lines.append("  Check that the file belongs to this architecture, its num_classes/in_chans and the builder "
                 "arguments it was trained with (a pretrained tag's: `zoo info ARCH`, 'kwargs').")
    prefix = _extra_prefix(missing, unexpected)
    if prefix:
        lines.append(f"  Missing keys are in the file under the prefix {prefix!r} (a wrapper's name, e.g. "
                     "DistributedDataParallel's 'module.', torch.compile's '_orig_mod.'): save the file "
                     f"without it, e.g. {{k.removeprefix({prefix!r}): v for k, v in state_dict.items()}}.")
    if feature_extractor:
        lines.append("  This model is a feature extractor (features_only=True), whose layers are renamed and "
                     "head removed, so a classifier's weights do not load into it: create the classifier with "
                     "the weights and take its features with forward_intermediates(x, "
                     "intermediates_only=True) (timm) instead.")
    if _only_the_class_count_differs(mis_shaped, classifier) and not (missing or unexpected or wrong_kind):
        classes = next(iter(mis_shaped.values()))[0][0]
        lines.append(f"  Only the classifier differs: the file's head has {classes} classes. Pass "
                     f"num_classes={classes} to load it as saved; for a new head of your own classes, name a "
                     "pretrained tag of the architecture whose classes the file has (`zoo info ARCH`): "
                     "its mismatched head is then re-initialised, with a warning, as timm does.")
    return WeightsMismatchError("\n".join(lines), missing_keys=missing, unexpected_keys=unexpected,
                                mismatched_shapes=mis_shaped, mismatched_dtypes=wrong_kind)


def _only_the_class_count_differs(mis_shaped: dict, classifier: set[str]) -> bool:
    """Whether every mis-shaped key is the classifier's and differs only in its first dimension,
    the classes (not a head of another input width, e.g. timm's global_pool="catavgmax")."""
    return bool(mis_shaped) and set(mis_shaped) <= classifier and all(
        len(file) == len(model) and file[1:] == model[1:] for file, model in mis_shaped.values())


def _extra_prefix(missing: list[str], unexpected: list[str]) -> str | None:
    """The leading name components every unexpected key shares, when removing them yields most of
    the missing keys (a wrapper's 'module.', torch.compile's '_orig_mod.', or both nested; the
    file may lack a head besides)."""
    if not missing or not unexpected:
        return None
    parts = unexpected[0].split(".")
    for depth in range(1, len(parts)):
        prefix = ".".join(parts[:depth]) + "."
        if not all(key.startswith(prefix) for key in unexpected):
            return None
        found = set(missing) & {key[len(prefix):] for key in unexpected}
        if 2 * len(found) >= len(missing):
            return prefix
    return None


def _kind(dtype) -> str:
    if dtype.is_floating_point:
        return "float"
    if dtype.is_complex:
        return "complex"
    return "bool" if str(dtype) == "torch.bool" else "int"


def _classes_dim(file_shape, model_shape, change: HeadChange) -> bool:
    """Whether every differing dim is k*pretrained_num_classes in the file and k*num_classes in the model."""
    if len(file_shape) != len(model_shape):
        return False
    before, after = change.pretrained_num_classes, change.num_classes
    dims = [i for i, (f, m) in enumerate(zip(file_shape, model_shape)) if f != m]
    if not dims or before == 0:
        return False
    for i in dims:
        f, m = file_shape[i], model_shape[i]
        if f % before or (after and (m % after or f // before != m // after)) or (not after and m):
            return False
    return True


def _is_input_conv(file_shape, model_shape, change: HeadChange) -> bool:
    return (len(file_shape) >= 2 and len(file_shape) == len(model_shape)
            and file_shape[1] == change.pretrained_in_chans and model_shape[1] == change.in_chans
            and file_shape[:1] + file_shape[2:] == model_shape[:1] + model_shape[2:])


def adapt_input_conv(weight, in_chans: int):
    """Adapt a first-layer weight ``(out, c, ...)`` to ``in_chans`` input channels.

    One channel: sum the pretrained channels (a grey image is their common part). More
    channels: repeat the pretrained filters cyclically and rescale by ``c / in_chans`` so the
    layer's output keeps its scale.
    """
    c = weight.shape[1]
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = [1] * weight.dim()
    repeats[1] = math.ceil(in_chans / c)
    return weight.repeat(*repeats)[:, :in_chans] * (c / in_chans)


def _in_model_dtypes(source: Path, state: dict, expected: dict, skip: list[str]) -> dict:
    """The file's tensors (but ``skip``) in the model's dtypes. A value the model's dtype cannot
    hold is refused like NaN/Inf in the file: 1e300 in a float64 file is Inf as float32."""
    cast = {k: _cast(v, expected[k].dtype) for k, v in state.items() if k not in skip}
    overflowed = sorted(k for k, v in cast.items()
                        if v is not state[k] and v.is_floating_point() and not all_finite(v))
    if overflowed:
        raise WeightsError(
            f"{source}: {len(overflowed)} tensor(s) hold values too large for the model's dtype (they would be "
            f"Inf): {listing([f'{k!r} ({state[k].dtype} -> {cast[k].dtype})' for k in overflowed])}. Re-export "
            "the weights from a healthy checkpoint, or build the model in the file's dtype.")
    return cast


def _cast(tensor, dtype):
    return tensor.to(dtype) if tensor.dtype != dtype else tensor


def _warn_changes(source: Path, plan: _Plan, change: HeadChange) -> None:
    parts = []
    if plan.reinit or plan.drop:
        parts.append(f"num_classes {change.pretrained_num_classes} -> {change.num_classes}: "
                     f"re-initialised {', '.join(plan.reinit) or 'nothing'}"
                     + (f"; dropped {', '.join(plan.drop)}" if plan.drop else ""))
    if plan.adapt:
        parts.append(f"in_chans {change.pretrained_in_chans} -> {change.in_chans}: adapted {', '.join(plan.adapt)}")
    # stacklevel: the line calling zoo.create (create -> build_with_weights -> here)
    warnings.warn(f"{source.name}: {'; '.join(parts)}. Fine-tune before use: like every model with loaded "
                  "weights it is returned in eval mode, so call model.train() to train it.", WeightsMismatchWarning,
                  stacklevel=4)
