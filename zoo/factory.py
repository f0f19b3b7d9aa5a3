"""``zoo.create``: name -> spec -> builder -> (weights) -> ``nn.Module``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from zoo.builders import import_builder, keyword_parameter
from zoo.errors import ArgumentError, BuilderError
from zoo.registry import get_registry
from zoo.specs import ArchitectureSpec

DEFAULT_IN_CHANS = 3  # what a builder that requires in_chans gets when nothing says otherwise


def create(name: str, pretrained: bool = False, *, num_classes: int | None = None,
           in_chans: int | None = None, revision: str | None = None,
           weights: str | Path | None = None, **kwargs: Any):
    """Build a registered model, optionally with weights.

    Args:
        name: ``"arch"`` or ``"arch.tag"`` (``"dist:arch"`` picks one of two plugins that
            register the same name). A tag selects that pretrained config (its
            ``num_classes``/``in_chans``); weights are loaded only with ``pretrained=True``.
        pretrained: load the tag's weights from the Hub (a bare arch takes its default tag;
            with ``weights=``, the default tag's configuration is built for the local file).
        num_classes, in_chans: override the head / input channels. When they differ from
            the pretrained weights, the mismatched layers are re-initialised with a warning,
            as timm does.
        revision: a Hub revision (branch, tag or commit) overriding the pinned one; the
            pinned sha256 is still checked where the revision is the pinned commit (in full,
            short, or another name the cache resolved to it), not for other commits, which may
            legitimately hold other bytes.
        weights: a local ``.safetensors`` file to load instead of the Hub.
        **kwargs: passed to the architecture's builder.

    Returns the model; in eval mode when weights were loaded, as built otherwise.
    """
    _check_arguments(name, pretrained, revision, weights)
    if revision is not None and not (pretrained and weights is None):
        fix = ("drop one of them: a local file has no revision" if weights is not None
               else "drop it, or pass pretrained=True")
        raise ArgumentError(f"revision={revision!r} selects a Hub revision, so it needs pretrained=True "
                            f"and no weights= file; {fix}.")
    # pretrained=True with a local file: a bare architecture is built as its default tag where it has
    # one (the file then fits as the tag's weights do), as the spec's defaults where it has none.
    # Without pretrained=True, a bare architecture is always the spec's defaults.
    spec, plugin, tag = get_registry().resolve(name, pretrained=pretrained and weights is None)
    if pretrained and tag is None:
        tag = spec.default_tag
    cfg = spec.pretrained[tag] if tag else None

    # Precedence: spec defaults < the tag's head and model_kwargs < caller kwargs < explicit arguments.
    # A caller's None means "not given" (as in timm), so it never takes a default or the tag's value away.
    build_kwargs = dict(spec.defaults)
    if cfg is not None:
        build_kwargs.update(cfg.builder_kwargs())
    trained_with = dict(build_kwargs)  # what the tag's weights fit
    build_kwargs.update({key: value for key, value in kwargs.items() if value is not None})
    if num_classes is not None:
        build_kwargs["num_classes"] = num_classes
    if in_chans is not None:
        build_kwargs["in_chans"] = in_chans
    build = ModelBuild.of(spec, plugin.distribution, build_kwargs)

    if weights is not None:
        source = Path(weights)
        _refuse_a_weights_name(source, spec)
    elif pretrained and cfg is not None:
        from zoo import hub  # huggingface_hub is imported only when weights are needed

        def source():  # fetched once the model is built: a builder's error comes before a download
            return hub.fetch(cfg, revision=revision)
    else:
        return build()

    from zoo.weights import HeadChange, build_with_weights

    change = None if cfg is None else HeadChange(trained_with.get("num_classes"), build_kwargs.get("num_classes"),
                                                 trained_with.get("in_chans"), build_kwargs.get("in_chans"))
    # Hub files never change once downloaded: worth an aligned copy if they need one (zoo.aligned_copies).
    return build_with_weights(build, source, change=change, aligned_copy=weights is None).eval()


def _check_arguments(name: str, pretrained: object, revision: object, weights: object) -> None:
    """Refuse what is truthy or path-like by accident: ``pretrained="False"`` or a tag name (which
    loaded the default tag's weights), an empty revision (which took the pinned one), and a
    ``weights=`` that is no path (torchvision's enum, a state dict: pathlib's bare TypeError)."""
    if isinstance(pretrained, str):
        raise ArgumentError(f"pretrained={pretrained!r}: pretrained is True or False; a weight set is chosen by the "
                            f"name's tag, as in zoo.create('{name.partition('.')[0]}.TAG', pretrained=True) "
                            "(`zoo info` lists the tags)")
    if revision is not None and not (isinstance(revision, str) and revision.strip()):
        raise ArgumentError(f"revision={revision!r}: a revision is a non-empty branch, tag or commit name; "
                            "drop it for the pinned one")
    if weights is not None and not (isinstance(weights, (str, os.PathLike)) and str(weights).strip()):
        raise ArgumentError(f"weights={weights!r:.60}: weights= takes the path of a .safetensors file. For a tag's "
                            "weights pass pretrained=True with the tag in the name; for a state dict in hand, call "
                            "load_state_dict on the created model (or save it with safetensors.torch.save_file)")


def _refuse_a_weights_name(source: Path, spec: ArchitectureSpec) -> None:
    """``weights="DEFAULT"`` (torchvision's enum name) or ``weights="shapes"`` (a tag) where no such
    file exists: say how the zoo names weights, not only "no such file"."""
    if source.exists() or source.parent != Path("."):
        return
    if source.name.upper() == "DEFAULT" or source.name in spec.pretrained:
        from zoo.errors import WeightsFileNotFoundError

        tag = source.name if source.name in spec.pretrained else spec.default_tag
        instead = (f"the zoo picks a weight set by the name's tag, with pretrained=True: "
                   f"zoo.create({spec.name + '.' + tag!r}, pretrained=True)" if tag
                   else f"{spec.name} has no pretrained weights, so drop weights= for random ones")
        raise WeightsFileNotFoundError(f"weights={str(source)!r} names no file: weights= takes a .safetensors path; "
                                       f"{instead}", filename=str(source))


@dataclass(frozen=True)
class ModelBuild:
    """One build of a spec's model: its builder, imported, and the arguments it is called with.
    Calling it builds the model, checked to be an ``nn.Module``; a builder's own error is kept
    as it is, with a note of the plugin and the arguments. ``zoo.create`` and the conformance
    suite both build through it, so the suite checks what users get."""

    owner: str  # "distribution:name"
    builder: Callable[..., Any]
    kwargs: dict[str, Any]

    @classmethod
    def of(cls, spec: ArchitectureSpec, distribution: str, kwargs: dict[str, Any]) -> "ModelBuild":
        """``kwargs`` (the caller merges the spec's defaults in) without its None values, and with
        the contract's arguments the builder requires completed (:func:`complete_builder_kwargs`)."""
        owner = f"{distribution}:{spec.name}"
        builder = import_builder(spec.builder, owner)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        return cls(owner, builder, complete_builder_kwargs(builder, kwargs, owner))

    def __call__(self):
        try:
            model = self.builder(**self.kwargs)
        except Exception as exc:  # the plugin's own error, kept as it is, with where it happened
            exc.add_note(f"(while building {self.owner} as builder(**{self.kwargs!r}))")
            raise
        check_is_module(model, self.owner)
        return model


def complete_builder_kwargs(builder: Any, kwargs: dict[str, Any], owner: str) -> dict[str, Any]:
    """Fill in what a builder requires (no default of its own) and nothing else gave.

    Builders are called as ``builder(num_classes=..., in_chans=..., **kwargs)``, yet a spec need
    not list either in its ``defaults``. A required ``in_chans`` then gets 3 (RGB, as
    ``PretrainedCfg.in_chans``); a required ``num_classes`` has no such default and is a
    :class:`BuilderError` saying where to give it.
    """
    def required(name: str) -> bool:  # no signature to read: nothing is required, call it as it is
        param = keyword_parameter(builder, name)
        return param is not None and param.default is param.empty

    if "in_chans" not in kwargs and required("in_chans"):
        kwargs = {**kwargs, "in_chans": DEFAULT_IN_CHANS}
    if "num_classes" not in kwargs and required("num_classes"):
        raise BuilderError(f"{owner}: the builder requires num_classes and nothing gives it: pass num_classes= "
                           "to zoo.create, or (as the plugin's author) put it in ArchitectureSpec.defaults or "
                           "give the builder's parameter a default")
    return kwargs


def check_is_module(model: object, owner: str) -> None:
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise BuilderError(f"{owner}: builder returned {type(model).__name__}, not a torch.nn.Module")
