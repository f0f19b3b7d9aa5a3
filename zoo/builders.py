"""A spec's builder, given as a callable or as a lazy ``"module:function"`` string, made callable.

Strings keep model code out of discovery: a listing imports hook modules only, and a builder's
module is imported when the model (or explainer) is built.
"""

from __future__ import annotations

import importlib
from typing import Any

from zoo.errors import BuilderError, BuilderImportError


def import_builder(builder: Any, owner: str, kind: str = "builder") -> Any:
    """Turn a spec's ``builder`` (callable or ``"module:function"``) into a callable; ``kind``
    names it in errors (another ``"module:function"`` setting is imported the same way)."""
    if callable(builder):
        return builder
    module_name, _, attr = str(builder).partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001
        hint = ""
        if kind == "builder" and isinstance(exc, ModuleNotFoundError) and exc.name == module_name.split(".")[0]:
            hint = (f" ({exc.name!r} is not on sys.path: install its distribution, or, testing a package in "
                    "place, run `python -m pytest` from its root, which puts the current directory there)")
        error = BuilderImportError if isinstance(exc, ImportError) else BuilderError
        raise error(f"{owner}: cannot import {kind} {builder!r}: {type(exc).__name__}: {exc}{hint}") from exc
    if not callable(obj):
        raise BuilderError(f"{owner}: {kind} {builder!r} is not callable")
    return obj


def keyword_parameter(builder: Any, name: str):
    """The builder's parameter ``name`` where it can be passed by keyword (``inspect.Parameter``),
    else None: no such parameter (``**kwargs`` alone does not count), or no signature to read."""
    import inspect

    try:
        param = inspect.signature(builder).parameters.get(name)
    except (TypeError, ValueError):
        return None
    return param if param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) else None
