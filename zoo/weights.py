"""Loading safetensors weights into a freshly built model: strictly, safely, all or nothing.

Why so careful: a weights file comes from the network. Pickle-based formats (``.pt``,
``.pth``, ``.bin``) run code when loaded, so the zoo reads safetensors only, and it checks
the file's header (sizes, offsets, dtypes, keys, shapes) *before* reading any tensor data,
so a lying or truncated file fails with a message naming the file instead of deep inside a
library, and a model is never returned half-loaded.

Decisions (documented in the user docs):
- a floating tensor may be stored in another floating dtype (float16/bfloat16/float64): it is
  cast to the model's dtype; a change of kind (int where float is expected...) is refused;
- NaN or Inf anywhere in the file is refused (a model full of NaN fails silently later);
- when ``num_classes``/``in_chans`` differ from what the weights were trained with, the
  class-dependent tensors are re-initialised and the first conv is adapted (summed for one
  channel, repeated and rescaled for more), with a :class:`WeightsMismatchWarning`.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from zoo import aligned_copies, checked_files
from zoo.errors import WeightsError, WeightsFileNotFoundError

PICKLE_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".tar", ".npy", ".npz"}
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit
# First opcodes of a protocol 0/1 pickle (which has no \x80 PROTO marker): MARK, EMPTY_DICT,
# EMPTY_LIST, GLOBAL, DICT, LIST, NONE. Only looked at in a file whose header length is impossible.
PROTOCOL_0_1_PICKLE_STARTS = {b"(", b"}", b"]", b"c", b"d", b"l", b"N"}
# torch.save(..., _use_new_zipfile_serialization=False) at pickle protocol 0 or 1 begins with its
# magic number 119547037146038801333356 as a text LONG; its end is raw storage bytes, not a STOP.
LEGACY_TORCH_SAVE_START = b"L1195470"

# safetensors dtype name -> (bytes per element, kind); kinds must match between file and model.
DTYPES = {
    "F64": (8, "float"), "F32": (4, "float"), "F16": (2, "float"), "BF16": (2, "float"),
    "F8_E4M3": (1, "float"), "F8_E5M2": (1, "float"),
    "I64": (8, "int"), "I32": (4, "int"), "I16": (2, "int"), "I8": (1, "int"),
    "U64": (8, "int"), "U32": (4, "int"), "U16": (2, "int"), "U8": (1, "int"),
    "BOOL": (1, "bool"),
    "C64": (8, "complex"), "C128": (16, "complex"),
}


class WeightsMismatchWarning(UserWarning):
    """Layers were re-initialised or adapted because num_classes / in_chans differ from the weights."""


class TensorEntry(NamedTuple):
    """One tensor as the file's header describes it (no data read). A named tuple: a header
    holds hundreds of these, made on every first load of a file in a process."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def kind(self) -> str:
        return DTYPES[self.dtype][1]


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


# ----------------------------------------------------------------------------- reading
def check_suffix(path: str | Path) -> Path:
    """Refuse pickle-based checkpoint formats by name, before opening anything."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise WeightsError(
            f"{path}: {path.suffix} files are pickles, which the zoo never loads (unpickling runs "
            "arbitrary code). Convert it to safetensors once, in a trusted environment: "
            "safetensors.torch.save_file(state_dict, 'model.safetensors'), then pass that file."
        )
    return path


def read_header(path: str | Path, *, shown: str | Path | None = None) -> dict[str, TensorEntry]:
    """Parse and validate a safetensors header; read no tensor data.

    Checks: the file exists and is not empty, is not a pickle or zip checkpoint in disguise,
    the header length fits in the file, the header is JSON of known dtypes, every tensor's
    byte range matches its dtype and shape, the ranges tile the data section exactly, and
    the data section is exactly as long as the header says (no truncation, no trailing bytes).
    A header that passed is not parsed again while the file is unchanged; the entries are
    remembered on disk for later processes (:mod:`zoo.checked_files`).

    ``shown``: the name messages give (and whose suffix is checked), when ``path`` is the file a
    link the caller was given resolved to.
    """
    shown = check_suffix(path if shown is None else shown)
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise WeightsError(f"{shown}: is a directory; pass the .safetensors file inside it")
    if mode is not None and not stat.S_ISREG(mode):  # never opened: a pipe would block, a device never end
        raise WeightsError(f"{shown}: not a regular file (a device, a pipe or a socket); pass a .safetensors file")
    if mode is None:
        raise WeightsFileNotFoundError(f"{shown}: no such weights file (resolved to {path.resolve()}); check the "
                                       "path, or drop weights= and pass pretrained=True to fetch the tag's file "
                                       "from the Hub", filename=str(shown))
    before = checked_files.identity(path)
    known = checked_files.recall(before, "safetensors header")
    if known is not None:
        return dict(known)
    rows = checked_files.recall(before, "valid header", durable=True)  # validated by an earlier process
    if rows is not None:
        entries = {row[0]: TensorEntry(row[0], row[1], tuple(row[2]), row[3], row[4]) for row in rows}
        checked_files.remember(path, before, "safetensors header", dict(entries))
        return entries
    size = before[2]
    if size == 0:
        raise WeightsError(f"{shown}: the file is empty (0 bytes); it was not written completely. "
                           "Delete it and fetch or save it again.")
    with open(path, "rb") as f:
        head = f.read(8)
        _refuse_disguised_pickle(shown, head)
        if len(head) < 8:
            raise WeightsError(f"{shown}: truncated: {size} bytes, shorter than a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES or n > size - 8:
            first = f.read(1)  # a safetensors header starts with '{'
            f.seek(-1, os.SEEK_END)
            if first != b"{" and head[:1] in PROTOCOL_0_1_PICKLE_STARTS and f.read(1) == b".":  # pickle's STOP
                _refuse_pickle(shown, "a Python pickle (protocol 0 or 1)")
            raise WeightsError(
                f"{shown}: not a valid safetensors file: its header claims {n} bytes but the file has "
                f"{size} bytes in all (truncated, or not safetensors). Delete it and fetch it again.")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{shown}: the safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{shown}: the safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    entries = {name: _entry(shown, name, info) for name, info in header.items()}
    _check_layout(shown, entries, data_size=size - 8 - n)
    checked_files.remember(path, before, "safetensors header", dict(entries))
    rows = [[e.name, e.dtype, list(e.shape), e.begin, e.end] for e in entries.values()]
    checked_files.remember(path, before, "valid header", rows, durable=True)
    return entries


def _refuse_disguised_pickle(path: Path, head: bytes) -> None:
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        _refuse_pickle(path, "a Python pickle")
    elif head[:4] == b"PK\x03\x04":
        _refuse_pickle(path, "a zip archive (a torch.save checkpoint)")
    elif head == LEGACY_TORCH_SAVE_START:
        _refuse_pickle(path, "a legacy torch.save checkpoint (pickle protocol 0 or 1)")


def _refuse_pickle(path: Path, kind: str) -> None:
    raise WeightsError(
        f"{path}: this is {kind} renamed to {path.suffix or 'no suffix'}, not safetensors. The zoo "
        "never unpickles. Convert it to safetensors in a trusted environment with "
        "safetensors.torch.save_file(state_dict, 'model.safetensors').")


def _entry(path: Path, name: str, info: object) -> TensorEntry:
    if not isinstance(info, dict):
        raise WeightsError(f"{path}: header entry {name!r} is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in DTYPES:
        raise WeightsError(f"{path}: tensor {name!r} has unknown dtype {dtype!r}")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise WeightsError(f"{path}: tensor {name!r} has an invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise WeightsError(f"{path}: tensor {name!r} has invalid data_offsets {offsets!r}")
    entry = TensorEntry(name, dtype, tuple(shape), offsets[0], offsets[1])
    nbytes = math.prod(entry.shape) * DTYPES[dtype][0]
    if entry.end - entry.begin != nbytes:
        raise WeightsError(
            f"{path}: the header lies about tensor {name!r}: {dtype} {list(shape)} needs {nbytes} bytes "
            f"but its offsets span {entry.end - entry.begin}. The file is corrupt; fetch it again.")
    return entry


def _check_layout(path: Path, entries: dict[str, TensorEntry], data_size: int) -> None:
    position = 0
    for e in sorted(entries.values(), key=lambda e: (e.begin, e.end)):
        if e.begin != position:
            what = "overlaps the previous tensor" if e.begin < position else "leaves a gap"
            raise WeightsError(f"{path}: the header lies: tensor {e.name!r} at byte {e.begin} {what} "
                               f"(expected {position}). The file is corrupt; fetch it again.")
        position = e.end
    if position > data_size:
        raise WeightsError(f"{path}: truncated: the header describes {position} bytes of tensor data "
                           f"but the file holds {data_size}. Delete it and fetch it again.")
    if position < data_size:
        raise WeightsError(f"{path}: the file is {data_size - position} bytes larger than its header "
                           f"describes ({data_size} bytes of data, {position} described); it was "
                           "tampered with or badly written. Fetch it again.")


def load_file(path: str | Path, *, allow_nonfinite: bool = False, aligned_copy: bool = False) -> dict:
    """Read a safetensors file into a CPU state dict, after validating its header; never unpickles.

    NaN/Inf values are refused unless ``allow_nonfinite``. While the file stays unchanged, its
    header check and NaN/Inf scan are done once, and remembered on disk for later processes
    (:mod:`zoo.checked_files`).

    Tensors come back in 64-byte aligned memory: a tensor read from a file starts at the
    file's own offset, and some CPU kernels take a different, not bit-identical, path on
    unaligned memory. Aligned tensors are used as mapped from the file; the others are copied.
    With ``aligned_copy`` (meant for immutable files loaded again and again: Hub downloads), a
    file with many of them gets an aligned copy in the zoo cache that later loads map instead
    (:mod:`zoo.aligned_copies`).
    """
    # One file throughout, even when ``path`` is a link that moves meanwhile (a trainer's
    # latest.safetensors): what was checked and remembered is what was read.
    return _load_resolved(os.path.realpath(path), path, allow_nonfinite=allow_nonfinite, aligned_copy=aligned_copy)


def _load_resolved(real: str, shown: str | Path, *, allow_nonfinite: bool = False, aligned_copy: bool = False) -> dict:
    """:func:`load_file` of ``real`` (what the name given resolved to), naming ``shown`` in messages."""
    entries = read_header(real, shown=shown)
    before = checked_files.identity(real)
    # a file smaller than that threshold cannot have a copy (checked first: a look-up costs stats)
    big = aligned_copy and before[2] >= aligned_copies.MIN_UNALIGNED_BYTES
    copy = _usable_aligned_copy(before, entries) if big else None
    state = _read_tensors(copy or real, shown=shown)
    if checked_files.identity(real) != before:  # rewritten while read: not the file the header describes
        raise WeightsError(f"{shown}: the file changed while it was read (a writer still at work?); load it again "
                           "once it is complete")
    if not allow_nonfinite and not checked_files.recall(before, "all finite", durable=True):
        _check_finite(shown, state)
        checked_files.remember(real, before, "all finite", True, durable=True)
    unaligned = {k for k, v in state.items() if v.data_ptr() % 64}
    if big and copy is None and sum(state[k].nbytes for k in unaligned) >= aligned_copies.MIN_UNALIGNED_BYTES:
        aligned_copies.make(real, before, state)
    return {k: v.clone() if k in unaligned else v for k, v in state.items()}


def _read_tensors(path: str | Path, shown: str | Path) -> dict:
    import safetensors.torch

    try:
        return safetensors.torch.load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for bad files
        raise WeightsError(f"{shown}: not a readable safetensors file ({exc}). "
                           "Delete it and fetch it again.") from None


def _usable_aligned_copy(source: checked_files.Identity, entries: dict[str, TensorEntry]) -> Path | None:
    """The source's aligned copy if there is one holding the same tensors (names, dtypes, shapes)."""
    copy = aligned_copies.find(source)
    if copy is None:
        return None
    try:
        same = _layout(read_header(copy)) == _layout(entries)
    except WeightsError:
        same = False
    if not same:
        aligned_copies.discard(copy)
        return None
    return copy


def _layout(entries: dict[str, TensorEntry]) -> dict[str, tuple]:
    return {name: (e.dtype, e.shape) for name, e in entries.items()}


def _listing(items: list[str], limit: int = 20) -> str:
    """The first ``limit`` items of a message's list. Tensor names in them are quoted (``{k!r}``),
    so an empty or odd name stays visible."""
    return ", ".join(items[:limit]) + (" ..." if len(items) > limit else "")


def _check_finite(path: str | Path, state: dict) -> None:
    bad = [k for k, t in state.items() if t.is_floating_point() and not _all_finite(t)]
    if bad:
        raise WeightsError(
            f"{path}: {len(bad)} tensor(s) contain NaN or Inf values: {_listing([repr(k) for k in sorted(bad)])}. "
            "Weights like these give garbage outputs; the zoo refuses them. Re-export the weights "
            "from a healthy checkpoint.")


def _all_finite(tensor) -> bool:
    import torch

    # A sum is NaN or Inf whenever any element is (IEEE propagation), and one sum is ~7x faster
    # than isfinite(t).all(), which allocates a bool tensor (benchmarks/README.md, warm create).
    # Only a non-finite sum (a NaN/Inf, or large finite values overflowing) needs the exact test.
    if tensor.dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        tensor = tensor.float()  # float8 types have no isfinite/sum kernels
    elif bool(torch.isfinite(tensor.sum())):
        return True
    return bool(torch.isfinite(tensor).all())


# ----------------------------------------------------------------------------- loading
def build_with_weights(build: Callable[[], object], source: str | Path, *, change: HeadChange | None = None,
                       aligned_copy: bool = False):
    """Build a model and load the file's tensors into it, strictly; all or nothing.

    The model is first built on the meta device, its initialisers skipped (zoo.meta), to
    learn its keys, shapes and dtypes; the file's header is matched against them before any
    data is read. Missing, unexpected, mis-shaped and wrong-kind keys are listed together.
    ``aligned_copy`` is passed to :func:`load_file`.
    """
    from zoo.meta import on_meta_without_init  # imports torch; listing models never gets here

    source = Path(source)
    real = os.path.realpath(source)  # one file for the plan and the load, even if a link to it moves
    try:
        planned = checked_files.identity(real)
    except OSError:
        planned = None  # no such file: read_header says so
    entries = read_header(real, shown=source)
    try:
        with on_meta_without_init():
            model = build()
    except Exception:  # noqa: BLE001 - a builder that cannot run on meta: build for real
        model = None
    reference = model if model is not None else build()
    expected = reference.state_dict()
    computed = _computed_buffers(reference)
    tied = _tied_keys(reference) if expected.keys() - entries.keys() else {}  # only a file lacking keys needs it
    plan = _plan(source, expected, entries, change or HeadChange(), computed, _classifier_keys(reference),
                 feature_extractor=_is_feature_extractor(reference), tied=tied)

    state = _load_resolved(real, source, aligned_copy=aligned_copy)
    if checked_files.identity(real) != planned:  # rewritten in place since the plan was made
        raise WeightsError(f"{source}: the file changed while it was loaded; load it again once it is complete")
    state = _in_model_dtypes(source, state, expected, skip=plan.drop + plan.computed)
    for key, partner in plan.tied.items():  # saved once, by save_model: the model ties them again
        state[key] = state[partner]
    if plan.reinit or plan.adapt or model is None:
        model = reference if model is None else build()  # re-initialised layers need real initial values
        own = model.state_dict()
        for key in plan.reinit:
            state[key] = own[key]
        for key in plan.adapt:
            state[key] = adapt_input_conv(state[key], change.in_chans)
        model.load_state_dict(state, strict=True)
    elif computed:
        # Non-persistent buffers are in no file (they would stay on meta): build for real, copy the weights in.
        model = build()
        model.load_state_dict(state, strict=True)
    else:
        model.load_state_dict(state, strict=True, assign=True)
    if plan.reinit or plan.adapt or plan.drop:
        _warn_changes(source, plan, change)
    return model


@dataclass
class _Plan:
    reinit: list[str]
    adapt: list[str]
    drop: list[str]
    computed: list[str]
    tied: dict[str, str]  # a key the file lacks -> the key of the same (shared) tensor it has


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


def _plan(source: Path, expected: dict, entries: dict[str, TensorEntry], change: HeadChange,
          computed: set[str], classifier: set[str], *, feature_extractor: bool, tied: dict[str, str]) -> _Plan:
    plan = _Plan([], [], [], [], {})
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
        else:
            missing.append(key)
    unexpected = []
    for key in sorted(set(entries) - set(expected)):
        if key in computed:
            plan.computed.append(key)
        elif change.classes_differ and _classes_dim(entries[key].shape[:1], (0,), change) is not None:
            plan.drop.append(key)  # e.g. num_classes=0: the model has no head, the file has one
        else:
            unexpected.append(key)
    mis_shaped, wrong_kind = [], []
    for key in sorted(set(expected) & set(entries)):
        file_shape, model_shape = entries[key].shape, tuple(expected[key].shape)
        kind = _kind(expected[key].dtype)
        if entries[key].kind != kind:
            wrong_kind.append(f"{key!r}: file {entries[key].dtype} vs model {str(expected[key].dtype)[6:]}")
        if file_shape == model_shape:
            continue
        if change.classes_differ and _classes_dim(file_shape, model_shape, change):
            plan.reinit.append(key)
        elif change.chans_differ and _is_input_conv(file_shape, model_shape, change):
            plan.adapt.append(key)
        else:
            mis_shaped.append(f"{key!r}: file {list(file_shape)} vs model {list(model_shape)}")
    if missing or unexpected or mis_shaped or wrong_kind:
        lines = [f"{source}: weights do not match the model."]
        for title, items in (("missing", [repr(k) for k in missing]), ("unexpected", [repr(k) for k in unexpected]),
                             ("mis-shaped", mis_shaped), ("wrong dtype kind", wrong_kind)):
            if items:
                lines.append(f"  {title} ({len(items)}): {_listing(items)}")
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
        raise WeightsError("\n".join(lines))
    return plan


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


def _classes_dim(file_shape, model_shape, change: HeadChange):
    """True when every differing dim is k*pretrained_num_classes in the file and k*num_classes in the model."""
    if len(file_shape) != len(model_shape):
        return None
    before, after = change.pretrained_num_classes, change.num_classes
    dims = [i for i, (f, m) in enumerate(zip(file_shape, model_shape)) if f != m]
    if not dims or before == 0:
        return None
    for i in dims:
        f, m = file_shape[i], model_shape[i]
        if f % before or (after and (m % after or f // before != m // after)) or (not after and m):
            return None
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
                        if v is not state[k] and v.is_floating_point() and not _all_finite(v))
    if overflowed:
        raise WeightsError(
            f"{source}: {len(overflowed)} tensor(s) hold values too large for the model's dtype (they would be "
            f"Inf): {_listing([f'{k!r} ({state[k].dtype} -> {cast[k].dtype})' for k in overflowed])}. Re-export "
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
    warnings.warn(f"{source.name}: {'; '.join(parts)}. Fine-tune before use.", WeightsMismatchWarning,
                  stacklevel=3)
