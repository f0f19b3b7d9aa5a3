"""visionzoo: a plugin-based model zoo for PyTorch.

Importing ``zoo`` and listing models never imports torch or any plugin's model code.
"""

from __future__ import annotations

from zoo.errors import (
    AmbiguousNameError,
    ArgumentError,
    BuilderError,
    BuilderImportError,
    ChecksumError,
    ExplainerOutputError,
    HubAuthError,
    HubDownloadError,
    HubEntryNotFoundError,
    HubError,
    HubNotFoundError,
    HubOfflineError,
    HubRevisionNotFoundError,
    HubUnavailableError,
    ImageFileError,
    MissingExtraError,
    MissingOptionError,
    ModelConfigError,
    TargetError,
    UnknownExplainerError,
    UnknownModelError,
    UnknownNameError,
    UnknownOptionError,
    UnknownTagError,
    WeightsError,
    WeightsFileNotFoundError,
    WeightsMismatchError,
    WeightsMismatchWarning,
    ZooError,
)
from zoo.explain import Explainer, create_explainer, explain
from zoo.factory import create
from zoo.hookspecs import hookimpl
from zoo.inputs import InputError
from zoo.registry import PluginWarning, get_registry
from zoo.specs import ArchitectureSpec, ExplainerSpec, ModelInfo, PretrainedCfg

__version__ = "0.1.0"  # also the distribution's version (pyproject.toml reads it)



def list_models(pattern="*", *, pretrained: bool = False, task: str | None = None) -> list[str]:
    """Names of registered architectures matching an fnmatch ``pattern`` (or a list of them).

    With ``pretrained=True``, lists ``"arch.tag"`` names, one per pretrained weight set; as in
    timm, a pattern without a tag part matches every tag (``"resnet18"`` -> ``"resnet18.*"``).
    """
    return get_registry().list_models(pattern, pretrained=pretrained, task=task)


def list_explainers(pattern="*") -> list[str]:
    """Names of registered explainers matching an fnmatch ``pattern`` (or a list of them)."""
    return get_registry().list_explainers(pattern)


def model_info(name: str) -> ModelInfo:
    """The spec of ``name`` plus the plugin and distribution it came from."""
    return get_registry().model_info(name)


def __getattr__(name: str):
    """Lazy names, so importing ``zoo`` stays cheap: ``zoo.overlay`` imports its module (and
    Pillow/matplotlib) on first use; ``zoo.hub``, ``zoo.weights``, ``zoo.hub_server``... (as the
    README writes them after a plain ``import zoo``) import that submodule on first use."""
    import importlib
    import importlib.util

    if name == "overlay":
        from zoo.heatmap import overlay

        return overlay
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AmbiguousNameError", "ArchitectureSpec", "ArgumentError", "BuilderError", "BuilderImportError", "ChecksumError",
    "Explainer", "ExplainerOutputError", "ExplainerSpec", "HubAuthError", "HubDownloadError", "HubEntryNotFoundError",
    "HubError", "HubNotFoundError", "HubOfflineError", "HubRevisionNotFoundError", "HubUnavailableError",
    "ImageFileError", "InputError", "MissingExtraError", "MissingOptionError", "ModelConfigError", "ModelInfo",
    "PluginWarning", "PretrainedCfg", "TargetError", "UnknownExplainerError", "UnknownModelError", "UnknownNameError",
    "UnknownOptionError", "UnknownTagError", "WeightsError", "WeightsFileNotFoundError", "WeightsMismatchError",
    "WeightsMismatchWarning", "ZooError", "create", "create_explainer", "explain", "hookimpl", "list_explainers",
    "list_models", "model_info", "overlay",
]
