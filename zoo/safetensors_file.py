"""Reading safetensors files safely: the header checked before any data, never a pickle.

Why so careful: a weights file comes from the network. Pickle-based formats (``.pt``,
``.pth``, ``.bin``) run code when loaded, so the zoo reads safetensors only, and it checks
the file's header (sizes, offsets, dtypes, keys) *before* reading any tensor data, so a lying
or truncated file fails with a message naming the file instead of deep inside a library.
NaN or Inf anywhere in the file is refused (a model full of NaN fails silently later).
What is known about a file is remembered while it stays the same (:mod:`zoo.checked_files`).
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from pathlib import Path
from typing import NamedTuple

from zoo import aligned_copies, checked_files
from zoo.errors import WeightsError, WeightsFileNotFoundError

# Refused by name as weights= files. A hub card is judged by checkpoint_files.CHECKPOINT_SUFFIXES
# instead, without .bin and .tar: there they may be data (ONNX external data, an archive), told by their bytes.
PICKLE_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".joblib", ".tar"}
NUMPY_SUFFIXES = {".npy", ".npz"}  # arrays of numbers, or of Python objects, which np.load unpickles
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit (its Rust loader refuses a larger header)
# First opcodes of a protocol 0/1 pickle (which has no \x80 PROTO marker): MARK, EMPTY_DICT,
# EMPTY_LIST, GLOBAL, DICT, LIST, NONE. Only looked at in a file whose header length is impossible,
# and taken for a pickle only if it also ends in STOP: a cheap guess where checkpoint_files, judging
# any file of a card, walks the opcodes from a narrower set of starts.
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


def check_suffix(path: str | Path) -> Path:
    """Refuse pickle-based checkpoint formats (and NumPy's) by name, before opening anything."""
    path = Path(path)
    if path.suffix.lower() in NUMPY_SUFFIXES:
        raise WeightsError(
            f"{path}: {path.suffix} is NumPy's format, not safetensors, the only one the zoo loads (NumPy files "
            "may hold pickled objects). Convert it to safetensors once: safetensors.numpy.save_file({name: array, ...}, "
            "'model.safetensors') with the model's state-dict names, then pass that file."
        )
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
            if first == b"{" and n <= size - 8:
                raise WeightsError(f"{shown}: its safetensors header is {n} bytes, more than the {MAX_HEADER_BYTES} "
                                   "bytes safetensors reads; it cannot be loaded (save the tensors in fewer, larger "
                                   "ones, or in several files)")
            raise WeightsError(
                f"{shown}: not a valid safetensors file: its header claims {n} bytes but the file has "
                f"{size} bytes in all (truncated, or not safetensors). Check that the path names the weights "
                "file; if it is a download, delete it and fetch it again.")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, an int past Python's digit limit, deep nesting
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


def pickle_kind(head: bytes) -> str | None:
    """What a file's first 8 bytes say it is, when they say pickle or torch.save (else None)."""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    if head[:4] == b"PK\x03\x04":
        return "a zip archive (a torch.save checkpoint)"
    if head == LEGACY_TORCH_SAVE_START:
        return "a legacy torch.save checkpoint (pickle protocol 0 or 1)"
    return None


def _refuse_disguised_pickle(path: Path, head: bytes) -> None:
    kind = pickle_kind(head)
    if kind is not None:
        _refuse_pickle(path, kind)


def _refuse_pickle(path: Path, kind: str) -> None:
    raise WeightsError(
        f"{path}: this is {kind} renamed to {path.suffix or 'no suffix'}, not safetensors. The zoo "
        "never unpickles. Convert it to safetensors in a trusted environment with "
        "safetensors.torch.save_file(state_dict, 'model.safetensors').")


def _entry(path: Path, name: str, info: object) -> TensorEntry:
    if not isinstance(info, dict):
        raise WeightsError(f"{path}: header entry {name!r} is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPES:  # a list or an object is no dtype (nor hashable)
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
    unaligned memory. ``aligned_copy`` is meant for immutable files loaded again and again (Hub
    downloads: huggingface_hub never rewrites a file in place): their aligned tensors are used as
    mapped from the file, the others copied, and a file with many unaligned ones gets an aligned
    copy in the zoo cache that later loads map instead (:mod:`zoo.aligned_copies`). Any other
    file may be rewritten in place (a trainer saving to the same path), so every tensor is read
    into memory: one mapped from it would change with the file, or fault (SIGBUS) where it shrinks.
    """
    # One file throughout, even when ``path`` is a link that moves meanwhile (a trainer's
    # latest.safetensors): what was checked and remembered is what was read.
    return load_resolved(os.path.realpath(path), path, allow_nonfinite=allow_nonfinite, aligned_copy=aligned_copy)


def load_resolved(real: str, shown: str | Path, *, allow_nonfinite: bool = False, aligned_copy: bool = False) -> dict:
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
    copied = unaligned if aligned_copy else set(state)  # see load_file: only Hub downloads stay mapped
    return {k: v.clone() if k in copied else v for k, v in state.items()}


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


def listing(items: list[str], limit: int = 20) -> str:
    """The first ``limit`` items of a message's list. Tensor names in them are quoted (``{k!r}``),
    so an empty or odd name stays visible."""
    return ", ".join(items[:limit]) + (" ..." if len(items) > limit else "")


def _check_finite(path: str | Path, state: dict) -> None:
    bad = [k for k, t in state.items() if t.is_floating_point() and not all_finite(t)]
    if bad:
        raise WeightsError(
            f"{path}: {len(bad)} tensor(s) contain NaN or Inf values: {listing([repr(k) for k in sorted(bad)])}. "
            "Weights like these give garbage outputs; the zoo refuses them. Re-export the weights "
            "from a healthy checkpoint.")


def all_finite(tensor) -> bool:
    import torch

    # A sum is NaN or Inf whenever any element is (IEEE propagation), and one sum is ~7x faster
    # than isfinite(t).all(), which allocates a bool tensor (benchmarks/README.md, warm create).
    # Only a non-finite sum (a NaN/Inf, or large finite values overflowing) needs the exact test.
    if tensor.dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        tensor = tensor.float()  # float8 types have no isfinite/sum kernels
    elif bool(torch.isfinite(tensor.sum())):
        return True
    return bool(torch.isfinite(tensor).all())
