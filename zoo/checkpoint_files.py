"""Recognising a pickle-based checkpoint in a hub card by its bytes, whatever its name.

Unpickling runs code, so the zoo never publishes such a file: ``zoo hub push`` and
``zoo hub serve`` refuse a card holding one. Nothing here unpickles: protocol 0 and 1 pickles
(text opcodes with no magic number) are recognised by walking their opcodes with
:mod:`pickletools`, which only parses, and a compressed file (joblib's, ``.pkl.gz``) by what
its first decompressed bytes say. It recognises what pickle, torch.save and joblib write: a guard
against publishing a checkpoint by mistake, not against a pickle crafted to look like something
else (the zoo's loaders refuse anything that is not safetensors anyway).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import pickletools
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from zoo.safetensors_file import pickle_kind

# Refused by name in a card; .bin and .tar, which safetensors_file.PICKLE_SUFFIXES refuses as weights=
# files, may be data here (ONNX external data, an archive) and are judged by their bytes.
CHECKPOINT_SUFFIXES = {".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib"}
# The opcodes a protocol 0/1 pickle of a state dict, list or object starts with: MARK,
# EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, GLOBAL. A text file rarely does, and then fails the walk.
_OLD_PICKLE_STARTS = b"(}])c"
_OLD_PICKLE_STARTS_SET = {bytes([b]) for b in _OLD_PICKLE_STARTS}
_JOBLIB_ARRAY = "joblib.numpy_pickle NumpyArrayWrapper"
# Magic numbers: gzip, bzip2, xz, and the legacy .lzma format (joblib's "lzma").
_COMPRESSED = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open, b"]\x00\x00": lzma.open}


def checkpoint_kind(path: Path) -> str | None:
    """What a pickle-based checkpoint is (by its suffix, else by its bytes: ``pytorch_model.bin``,
    ``model_best.pth.tar``, a zip renamed ``.safetensors``, a protocol-0 pickle, a gzipped one, a
    NumPy array of Python objects); None for anything else (ONNX data, an example ``.npy`` of
    numbers, an ordinary zip or gzip archive)."""
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return f"a pickle checkpoint ({path.suffix})"
    with open(path, "rb") as f:
        kind = _stream_kind(f, size=os.fstat(f.fileno()).st_size)
    if kind and kind.startswith("a zip") and not _zip_holds_pickle(path):
        kind = _npz_kind(path)
    if kind is None:
        kind = _compressed_kind(path)
    return f"{kind}, a checkpoint" if kind else None


def _zip_holds_pickle(path: Path) -> bool:
    """Whether a zip archive holds a ``.pkl`` (torch.save's ``data.pkl``); other zips are data."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith(".pkl") for name in archive.namelist())
    except Exception:  # noqa: BLE001 - a zip Python cannot list (undecodable names, a newer version)
        return False


def _first_entry_is_pickle(stream: BinaryIO) -> bool:
    """Whether the first entry of the zip in ``stream`` (a compressed one, which cannot be listed
    without reading it whole) is a ``.pkl``: torch.save writes ``data.pkl`` first."""
    stream.seek(0)
    local_header = stream.read(30)
    name_length = int.from_bytes(local_header[26:28], "little")
    return len(local_header) == 30 and stream.read(name_length).endswith(b".pkl")


def _npz_kind(path: Path) -> str | None:
    """What an ``.npz`` archive is when one of its arrays holds Python objects; None otherwise."""
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".npy"):
                    with archive.open(name) as member:
                        if _object_array(member):
                            return f"a NumPy archive whose {name[:-4]!r} holds Python objects (pickled)"
    except Exception:  # noqa: BLE001 - an archive Python cannot read holds nothing np.load reads either
        return None
    return None


def _object_array(stream: BinaryIO) -> bool:
    """Whether the ``.npy`` data in ``stream`` is an array of Python objects, which NumPy pickles
    (``np.load(allow_pickle=True)`` would unpickle it)."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(stream)
        header = npy.read_array_header_1_0(stream) if version == (1, 0) else npy.read_array_header_2_0(stream)
    except (ValueError, OSError):
        return False
    return header[2].hasobject


def _stream_kind(stream: BinaryIO, size: int | None = None) -> str | None:
    """What ``stream`` holds, when it is a pickle (or a NumPy array of objects, which holds one);
    ``size`` (when known) bounds the walk's reads."""
    head = stream.read(8)
    if head.startswith(b"\x93NUMPY"):
        stream.seek(0)
        return "a NumPy array of Python objects (pickled)" if _object_array(stream) else None
    kind = pickle_kind(head)
    if kind is None and head[:1] and head[:1] in _OLD_PICKLE_STARTS:
        stream.seek(0)
        if _walks_to_stop(_Bounded(stream, size)):
            kind = "a Python pickle (protocol 0 or 1)"
    return kind


# The most one opcode of the walk may read: a protocol-0 pickle holds an array's bytes on one
# line, so an old checkpoint with a larger tensor goes unrecognised; a walk of random bytes (a
# gzip bomb's zeros, a weights file) stops there instead of reading all of them.
MAX_OPCODE_BYTES = 64 << 20
# The most bytes a walk reads in all (a gzip bomb of many 60 MB strings ends there).
MAX_WALK_BYTES = 256 << 20
# The most opcodes a walk takes (about a second): an old pickle of more goes unrecognised too,
# and a file of millions of one-byte opcodes ('(' repeated) ends there.
MAX_OPCODES = 2_000_000


class _Bounded:
    """A file for :mod:`pickletools` whose reads end the walk, unread, when one asks for more than
    :data:`MAX_OPCODE_BYTES` or (``size`` known) for more bytes than are left, and once the walk
    has read :data:`MAX_WALK_BYTES` in all."""

    def __init__(self, stream: BinaryIO, size: int | None) -> None:
        self.stream, self.size, self.total = stream, size, 0

    def read(self, n: int = -1) -> bytes:
        left = MAX_OPCODE_BYTES if self.size is None else min(MAX_OPCODE_BYTES, self.size - self.stream.tell())
        if n < 0 or n > left:
            raise EOFError("a length beyond the end of the file, or beyond what the walk reads")
        return self._counted(self.stream.read(n))

    def readline(self) -> bytes:
        line = self.stream.readline(MAX_OPCODE_BYTES + 1)
        if len(line) > MAX_OPCODE_BYTES:
            raise EOFError("a line longer than the walk reads")
        return self._counted(line)

    def peek_rest(self, n: int = 64) -> bytes:
        """Up to ``n`` of the bytes that follow, left unread."""
        position = self.stream.tell()
        following = self.stream.read(n)
        self.stream.seek(position)
        return following

    def _counted(self, data: bytes) -> bytes:
        self.total += len(data)
        if self.total > MAX_WALK_BYTES:
            raise EOFError("more bytes than the walk reads")
        return data


def _walks_to_stop(stream: _Bounded) -> bool:
    """Whether ``stream`` parses as protocol 0/1 pickles up to a STOP that ends the file (parsing
    executes nothing). A file may hold several pickles (``pickle.dump`` called again), each
    starting where the last stopped, and end with whitespace; a STOP amid text ("c...\n...\n0." in
    a CSV) is no end. The walk ends at the first opcode of a later protocol, which no such pickle
    holds. joblib writes an array's raw bytes (or, for an object array, a protocol-5 pickle) into
    the stream after a ``NumpyArrayWrapper`` object, so the walk of its pickles breaks there:
    having named that class is proof enough."""
    joblib_arrays, count = False, 0
    try:
        while True:
            for op, arg, _pos in pickletools.genops(stream):
                count += 1
                if op.proto > 1 or count > MAX_OPCODES:
                    return joblib_arrays
                joblib_arrays = joblib_arrays or (op.name == "GLOBAL" and str(arg).startswith(_JOBLIB_ARRAY))
            following = stream.peek_rest()  # after a STOP
            if not following.strip():
                return True
            if following[:1] not in _OLD_PICKLE_STARTS_SET:
                return False
    except Exception:  # noqa: BLE001 - a parse failure means: not a pickle, unless joblib's arrays broke it
        return joblib_arrays


def _compressed_kind(path: Path) -> str | None:
    """What a gzip, bzip2, xz or zlib stream holds, when it is a pickle (joblib compresses its
    pickles with any of them)."""
    with open(path, "rb") as f:
        head = f.read(6)
    try:
        if head[:1] == b"\x78" and int.from_bytes(head[:2], "big") % 31 == 0:  # a zlib header
            inner = io.BytesIO(_zlib_start(path, MAX_OPCODE_BYTES))
            kind = _inner_kind(inner, size=len(inner.getvalue()))
            return f"{kind} compressed with zlib" if kind else None
        for magic, opener in _COMPRESSED.items():
            if head.startswith(magic):
                with opener(path, "rb") as stream:
                    kind = _inner_kind(stream)
                return f"{kind} compressed with {opener.__module__}" if kind else None
    except (OSError, EOFError, zlib.error, lzma.LZMAError):  # not what its magic number says
        return None
    return None


def _inner_kind(stream: BinaryIO, size: int | None = None) -> str | None:
    """:func:`_stream_kind` of a decompressed stream, where a zip is a checkpoint only when its
    first entry is a pickle (a zipped folder of examples, gzipped, is data)."""
    kind = _stream_kind(stream, size)
    if kind and kind.startswith("a zip") and not _first_entry_is_pickle(stream):
        return None
    return kind


def _zlib_start(path: Path, limit: int) -> bytes:
    """Up to ``limit`` bytes of the zlib stream in ``path``, decompressed (zlib has no file object)."""
    decompressor, out = zlib.decompressobj(), bytearray()
    with open(path, "rb") as f:
        data = f.read(1 << 16)
        while data and len(out) < limit and not decompressor.eof:  # bytes after the stream are not its
            out += decompressor.decompress(data, limit - len(out))
            data = decompressor.unconsumed_tail or f.read(1 << 16)
    return bytes(out)
