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

CHECKPOINT_SUFFIXES = {".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib"}
# The opcodes a protocol 0/1 pickle of a state dict, list or object starts with: MARK,
# EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, GLOBAL. A text file rarely does, and then fails the walk.
_OLD_PICKLE_STARTS = b"(}])c"
_JOBLIB_ARRAY = "joblib.numpy_pickle NumpyArrayWrapper"
# Magic numbers: gzip, bzip2, xz, and the legacy .lzma format (joblib's "lzma").
_COMPRESSED = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open, b"]\x00\x00": lzma.open}


def checkpoint_kind(path: Path) -> str | None:
    """What a pickle-based checkpoint is (by its suffix, else by its bytes: ``pytorch_model.bin``,
    ``model_best.pth.tar``, a zip renamed ``.safetensors``, a protocol-0 pickle, a gzipped one);
    None for anything else (ONNX data, an example ``.npy``, an ordinary zip or gzip archive)."""
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return f"a pickle checkpoint ({path.suffix})"
    with open(path, "rb") as f:
        kind = _stream_kind(f, size=os.fstat(f.fileno()).st_size)
    if kind and kind.startswith("a zip"):  # torch.save's zip holds a data.pkl; other zips are data
        try:
            with zipfile.ZipFile(path) as archive:
                kind = kind if any(n.endswith(".pkl") for n in archive.namelist()) else None
        except (zipfile.BadZipFile, OSError):
            kind = None
    if kind is None:
        kind = _compressed_kind(path)
    return f"{kind}, a checkpoint" if kind else None


def _stream_kind(stream: BinaryIO, size: int | None = None) -> str | None:
    """What ``stream`` holds, when it is a pickle; ``size`` (when known) bounds the walk's reads."""
    head = stream.read(8)
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
# The most opcodes a walk takes (about a second): an old pickle of more goes unrecognised too,
# and a file of millions of one-byte opcodes ('(' repeated) ends there.
MAX_OPCODES = 2_000_000


class _Bounded:
    """A file for :mod:`pickletools` whose reads end the walk, unread, when they ask for more
    than :data:`MAX_OPCODE_BYTES` or (``size`` known) for more bytes than are left."""

    def __init__(self, stream: BinaryIO, size: int | None) -> None:
        self.stream, self.size = stream, size

    def read(self, n: int = -1) -> bytes:
        left = MAX_OPCODE_BYTES if self.size is None else min(MAX_OPCODE_BYTES, self.size - self.stream.tell())
        if n < 0 or n > left:
            raise EOFError("a length beyond the end of the file, or beyond what the walk reads")
        return self.stream.read(n)

    def readline(self) -> bytes:
        line = self.stream.readline(MAX_OPCODE_BYTES + 1)
        if len(line) > MAX_OPCODE_BYTES:
            raise EOFError("a line longer than the walk reads")
        return line


def _walks_to_stop(stream: BinaryIO) -> bool:
    """Whether ``stream`` parses as protocol 0/1 pickle opcodes up to STOP (parsing executes
    nothing). The walk ends at the first opcode of a later protocol, which no such pickle holds.
    joblib writes an array's raw bytes into the stream after a ``NumpyArrayWrapper`` object, so the
    walk of its pickles breaks there: having named that class is proof enough."""
    joblib_arrays = False
    try:
        for count, (op, arg, _pos) in enumerate(pickletools.genops(stream)):
            if op.proto > 1 or count >= MAX_OPCODES:
                return False
            if op.name == "STOP":
                return True
            joblib_arrays = joblib_arrays or (op.name == "GLOBAL" and str(arg).startswith(_JOBLIB_ARRAY))
    except Exception:  # noqa: BLE001 - a parse failure means: not a pickle, unless joblib's arrays broke it
        return joblib_arrays
    return False


def _compressed_kind(path: Path) -> str | None:
    """What a gzip, bzip2, xz or zlib stream holds, when it is a pickle (joblib compresses its
    pickles with any of them)."""
    with open(path, "rb") as f:
        head = f.read(6)
    try:
        if head[:1] == b"\x78" and int.from_bytes(head[:2], "big") % 31 == 0:  # a zlib header
            inner = _zlib_start(path, MAX_OPCODE_BYTES)
            kind = _stream_kind(io.BytesIO(inner), size=len(inner))
            return f"{kind} compressed with zlib" if kind else None
        for magic, opener in _COMPRESSED.items():
            if head.startswith(magic):
                with opener(path, "rb") as stream:
                    kind = _stream_kind(stream)
                return f"{kind} compressed with {opener.__module__}" if kind else None
    except (OSError, EOFError, zlib.error, lzma.LZMAError):  # not what its magic number says
        return None
    return None


def _zlib_start(path: Path, limit: int) -> bytes:
    """Up to ``limit`` bytes of the zlib stream in ``path``, decompressed (zlib has no file object)."""
    decompressor, out = zlib.decompressobj(), bytearray()
    with open(path, "rb") as f:
        data = f.read(1 << 16)
        while data and len(out) < limit:
            out += decompressor.decompress(data, limit - len(out))
            data = decompressor.unconsumed_tail or f.read(1 << 16)
    return bytes(out)
