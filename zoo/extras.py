"""Optional dependencies, grouped in the ``visionzoo[...]`` extras of pyproject.toml.

A command that needs one asks :func:`require` first, so a missing package is a
:class:`~zoo.errors.MissingExtraError` naming the extra to install (exit 3 from the CLI), not a
``ModuleNotFoundError`` traceback from deep inside.
"""

from __future__ import annotations

import importlib.util

from zoo.errors import MissingExtraError


# import name -> the name pip installs it by, where they differ
DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "PyYAML"}


def require(extra: str, *modules: str, purpose: str) -> None:
    """Raise :class:`MissingExtraError` unless every module (import names) can be imported."""
    missing = [DISTRIBUTIONS.get(m, m) for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(f"{purpose} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                                f"not installed: pip install 'visionzoo[{extra}]'")
