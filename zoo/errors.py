"""Typed errors raised by the zoo.

Every error derives from :class:`ZooError`, and also from the built-in exception a caller
would naturally catch (``KeyError`` for an unknown name, ``ValueError`` for bad data), so
``except KeyError`` keeps working for code written against timm or torchvision.
:class:`WeightsMismatchWarning`, a warning, lives here too: ``zoo`` exports it without importing torch.
"""

from __future__ import annotations

import errno
import os


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class _MessageKeyError(KeyError):
    # KeyError's str() quotes its argument; a message should read as a message.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownNameError(ZooError, _MessageKeyError):
    """A model, tag or explainer name the registry does not know."""


class UnknownModelError(UnknownNameError):
    """No registered architecture has this name."""


class UnknownTagError(UnknownNameError):
    """The architecture exists but has no pretrained tag of this name."""


class UnknownExplainerError(UnknownNameError):
    """No registered explainer has this name."""


class AmbiguousNameError(ZooError, ValueError):
    """Two plugins registered the same name and nothing says which one to use."""


class ArgumentError(ZooError, ValueError):
    """An argument that cannot apply: ``revision=`` without a Hub download, an unknown ``task=``,
    an image or map of the wrong shape for an overlay."""


class UnknownOptionError(ArgumentError, TypeError):
    """An option the explainer does not take (``n_sample=`` for ``n_samples=``, captum's
    ``baselines=``); also the ``TypeError`` Python raises for an unexpected keyword. ``unknown``
    lists the options given that it does not take, ``accepted`` those it does."""

    def __init__(self, message: str, *, unknown: list[str], accepted: list[str]):
        super().__init__(message)
        self.unknown, self.accepted = unknown, accepted


class MissingOptionError(ArgumentError, TypeError):
    """An option the explainer requires, with no default of its own, was not given (``zoo.explain``
    without it fails for every caller); also the ``TypeError`` Python raises for a missing keyword.
    ``missing`` lists them."""

    def __init__(self, message: str, *, missing: list[str]):
        super().__init__(message)
        self.missing = missing


class BuilderError(ZooError, TypeError):
    """A spec's builder could not be imported, or returned the wrong kind of object."""


class BuilderImportError(BuilderError, ImportError):
    """A builder's module failed to import (a missing optional dependency, say): also an
    ``ImportError``, so ``except ImportError`` around an optional model keeps working."""


class ModelConfigError(ZooError, ValueError):
    """A model configuration cannot be used: a ``config.json`` (``zoo predict``, ``explain``,
    ``evaluate``), or builder options a model cannot be built with (the first-party plugins'
    ``ModelConfigError`` subclasses this one)."""


class ImageFileError(ZooError, ValueError):
    """An image file cannot be read as a model's input (not an image, or too many pixels)."""


class ExplainerOutputError(ZooError, RuntimeError):
    """An explainer returned maps that break the contract: not (N, H, W) at the images' size."""


class TargetError(ZooError, ValueError):
    """An explanation target is not a class index, a list of them (one per image) or None, or
    does not fit the batch or the model's classes."""


# --------------------------------------------------------------------------- weights and hub
class WeightsError(ZooError, ValueError):
    """A weights file cannot be used: not safetensors, corrupt, or not matching the model."""


class WeightsFileNotFoundError(WeightsError, FileNotFoundError):
    """``weights=`` names no file: also a FileNotFoundError, as ``open`` and ``torch.load`` raise,
    with their ``errno`` (ENOENT) and ``filename``; the message is the zoo's."""

    def __init__(self, message: str, filename: str | None = None):
        super().__init__(message)
        self.errno, self.strerror, self.filename = errno.ENOENT, os.strerror(errno.ENOENT), filename

    def __str__(self) -> str:
        return self.args[0]


class WeightsMismatchError(WeightsError):
    """A weights file's keys do not match the model's state dict. As torch's
    ``load_state_dict`` reports them, the keys are also attributes, each list sorted and complete
    (the message names the first 20 of each): ``missing_keys``, ``unexpected_keys``,
    ``mismatched_shapes`` (key -> (file shape, model shape)) and ``mismatched_dtypes``
    (key -> (the file's safetensors dtype, the model's torch dtype), e.g. ``('I64', 'float32')``,
    where the kind differs: float, integer or bool)."""

    def __init__(self, message: str, *, missing_keys: list[str], unexpected_keys: list[str],
                 mismatched_shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]],
                 mismatched_dtypes: dict[str, tuple[str, str]]):
        super().__init__(message)
        self.missing_keys, self.unexpected_keys = missing_keys, unexpected_keys
        self.mismatched_shapes, self.mismatched_dtypes = mismatched_shapes, mismatched_dtypes


class WeightsMismatchWarning(UserWarning):
    """Layers were re-initialised or adapted because num_classes / in_chans differ from the weights
    (expected when fine-tuning for another head or input; a warning, not a ZooError)."""


class ChecksumError(WeightsError):
    """A downloaded file's sha256 differs from the one pinned in its PretrainedCfg."""


class HubError(ZooError, OSError):
    """Weights could not be obtained from the Hub (or an HF-compatible mirror)."""


class HubUnavailableError(HubError):
    """The endpoint could not be reached (refused, timed out, 5xx) and nothing usable is cached."""


class HubOfflineError(HubUnavailableError):
    """``HF_HUB_OFFLINE`` is set and the file is not in the local cache."""


class HubNotFoundError(HubError):
    """The endpoint answered, but the repository, revision or file does not exist there."""


class HubEntryNotFoundError(HubNotFoundError):
    """The repository and revision exist but hold no such file."""


class HubRevisionNotFoundError(HubNotFoundError):
    """The repository exists but has no such branch, tag or commit."""


class HubAuthError(HubError):
    """The endpoint refused access (401/403): a token is missing, wrong, or not allowed."""


class HubDownloadError(HubError):
    """The transfer started but did not complete (connection lost, size mismatch)."""


class MissingExtraError(ZooError, ImportError):
    """A command needs an optional dependency that is not installed; the message names the
    ``visionzoo[...]`` extra that brings it (see :func:`zoo.extras.require`)."""
