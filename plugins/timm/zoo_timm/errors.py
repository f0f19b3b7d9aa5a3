"""Typed errors (and the warning) of the timm bridge; imports zoo's errors only, so the hook
module can raise them while listing."""

from zoo.errors import ModelConfigError as ZooModelConfigError
from zoo.errors import ZooError


class ModelConfigError(ZooModelConfigError):
    """A ``timm/`` model was asked for ``num_classes`` or ``in_chans`` that timm would build into
    a broken model without complaint (``in_chans=0``, a negative ``num_classes``), or for a tag
    the index lists but the installed timm lacks."""


class TimmNotInstalledError(ZooError, ImportError):
    """The bridge is installed but timm is not, so none of its models could be built."""


class TimmIndexError(ZooError, ValueError):
    """The index file is missing or unreadable."""


class TimmIndexWarning(UserWarning):
    """The shipped index was built from another timm version than the installed one."""
