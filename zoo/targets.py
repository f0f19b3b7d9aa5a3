"""Explanation targets in the forms the explainer contract names: None (the predicted class), a
class index, or a list of indices (one per image).

Users pass more than that: NumPy integers, whole floats (labels loaded as float), 0-d and 1-D
tensors and arrays, lists of these. :func:`zoo.explain` turns them into the contract's forms
before any explainer sees them, so a plugin's explainer handles ints and lists only. Whether an
index fits the model's classes, and a list the batch, is the explainer's to check: it knows both.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from zoo.errors import TargetError


def contract_target(target: Any) -> int | list[int] | None:
    """``target`` as None, an int or a list of ints; a :class:`~zoo.errors.TargetError` for a bool, a
    float that is not whole, a negative index, a string, or an array of more than one dimension."""
    if target is None:
        return None
    if is_array(target):
        target = array_values(target)
    if is_sequence(target):
        return [class_index(t) for t in target]
    if not (isinstance(target, float) or hasattr(target, "__index__")):  # a string, a dict, an object
        raise TargetError(f"target must be a class index, a list of indices or None, got {target!r}")
    return class_index(target)


def class_index(given: Any) -> int:
    """One class index from an int, a NumPy integer, a whole float or a 0-d tensor or array."""
    value = array_values(given) if is_array(given) else given
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a label loaded as a float: whole numbers count, as in float arrays and tensors
    try:
        index = None if isinstance(value, bool) else operator.index(value)  # not other floats
    except TypeError:
        index = None
    if index is None:
        raise TargetError(f"target {given!r} is not a class index (a whole number, 0 or more)")
    if index < 0:
        raise TargetError(f"target {given!r} is not a non-negative index (classes count from 0)")
    return index


def is_sequence(target: Any) -> bool:
    """A list, a tuple or another sequence of per-image targets (a string is not one)."""
    return isinstance(target, Sequence) and not isinstance(target, (str, bytes))


def is_array(target: Any) -> bool:
    """A tensor, or a NumPy (or other array-API) array, recognised without importing either."""
    return all(hasattr(target, attr) for attr in ("ndim", "dtype", "tolist")) and not isinstance(target, (str, bytes))


def array_values(target: Any) -> Any:
    """A tensor or array of class indices as a Python number (0-d) or a list of them (1-D).

    Integer-valued floats are accepted; any other float is a TargetError here, because ``int()``
    would silently truncate it.
    """
    values = target.tolist()
    flat = values if isinstance(values, list) else [values]
    if any(isinstance(v, list) for v in flat):
        raise TargetError(f"target must be a class index or a 1-D array of indices (one per image), got an "
                          f"array of shape {tuple(target.shape)}")
    bad = [v for v in flat if isinstance(v, float) and not v.is_integer()]
    if bad:
        raise TargetError(f"target {type(target).__name__} of dtype {target.dtype} holds non-integer values "
                          f"({', '.join(repr(v) for v in bad[:3])}); class indices must be whole numbers")
    ints = [int(v) if isinstance(v, float) else v for v in flat]
    return ints if isinstance(values, list) else ints[0]
