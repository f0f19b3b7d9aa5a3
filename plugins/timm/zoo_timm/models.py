"""Builders for ``timm/<arch>``: plain ``timm.create_model`` calls, never with timm's own download.

The zoo fetches and loads the weights itself (``zoo.factory`` -> ``zoo.hub`` ->
``zoo.weights``), so the model is always built with ``pretrained=False``; the Hub files of
``timm/`` repos are in timm's key format and load strictly as they are.

The plugin names builders ``"zoo_timm.models:architectures.<arch>"``: ``architectures`` turns
an attribute look-up into a builder for that architecture, so a thousand names need no thousand
functions, and an architecture missing from the installed timm fails with a clear message.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import timm

from zoo.inputs import InputError, check_image_batch, weights_dtype
from zoo_timm.dry_run import SizeCheck, pair
from zoo_timm.errors import ModelConfigError
from zoo_timm.index import REGENERATE


def create_model(arch: str, num_classes: int | None = None, in_chans: int | None = None, **kwargs: Any):
    """``timm.create_model(arch, pretrained=False, ...)``; None leaves timm's default.

    ``arch`` may carry a timm tag (``"resnet18.a1_in1k"``) so that ``model.pretrained_cfg``
    describes that tag's preprocessing (mean, std, crop); the architecture is the same.
    """
    if kwargs.get("pretrained"):
        raise TypeError("zoo_timm builds with pretrained=False; use zoo.create(name, pretrained=True) "
                        "or weights='file.safetensors', which load the weights through the zoo")
    kwargs.pop("pretrained", None)
    if kwargs.get("checkpoint_path"):
        raise ModelConfigError(
            f"timm/{arch}: checkpoint_path= makes timm unpickle a checkpoint with torch.load, which the zoo "
            "never does; save the state dict with safetensors.torch.save_file and pass weights='file.safetensors'")
    _refuse_weight_choices(arch, kwargs)
    _check_counts(arch, num_classes, in_chans)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if in_chans is not None:
        kwargs["in_chans"] = in_chans
    model = timm.create_model(arch, pretrained=False, **kwargs)
    # timm's models do not check their input: wrong channels or a 3-D tensor would fail deep
    # inside a conv. The zoo's contract is a clear InputError at the door.
    handle = model.register_forward_pre_hook(_InputCheck(in_chans or 3, f"timm/{arch}",
                                                         _input_patch_embed(model, in_chans or 3),
                                                         _first_convs(model, in_chans or 3),
                                                         pair(kwargs.get("img_size"))))
    # TorchScript compiles every hook and rejects this Python one; torch.jit.script calls
    # __prepare_scriptable__ first, which hands it a copy without the check.
    model.__prepare_scriptable__ = _WithoutInputCheck(model, handle.id)
    return model


# pretrained_cfg_overlay keys that tell timm where its weights come from (timm's _PRETRAINED_SOURCE_KEYS)
WEIGHT_SOURCE_KEYS = ("file", "url", "hf_hub_id", "hf_hub_filename", "state_dict")


def _refuse_weight_choices(arch: str, kwargs: dict[str, Any]) -> None:
    """timm's ways of choosing weights do nothing here (the zoo loads the weights, by the name's
    tag or ``weights=``), so the tag's weights would load silently in their place: refused."""
    overlay = kwargs.get("pretrained_cfg_overlay") or {}
    sources = [key for key in WEIGHT_SOURCE_KEYS if isinstance(overlay, dict) and overlay.get(key)]
    if sources or kwargs.get("cache_dir"):
        given = ", ".join([f"pretrained_cfg_overlay[{key!r}]" for key in sources]
                          + (["cache_dir"] if kwargs.get("cache_dir") else []))
        raise ModelConfigError(
            f"timm/{arch}: {given} choose where timm reads its weights, which the zoo never lets timm do (it "
            "downloads and checks them itself); pass weights='file.safetensors' for a local file, or name a tag "
            "(zoo list 'timm/ARCH' --pretrained); the Hub cache is set by HF_HOME / HF_HUB_CACHE")
    if kwargs.get("pretrained_cfg") is not None:
        raise ModelConfigError(
            f"timm/{arch}: pretrained_cfg= picks timm's weight set by another road than the zoo's name, so the "
            f"weights loaded and the preprocessing described could belong to two tags; name the tag instead: "
            f"zoo.create('timm/{arch}.TAG', ...) (its pretrained_cfg comes with it; pretrained_cfg_overlay= "
            "still adjusts mean, std or sizes)")


def _check_counts(arch: str, num_classes, in_chans) -> None:
    """timm builds ``in_chans=0`` (a conv with no input) and ``num_classes=-1`` (no head) silently."""
    def is_int(value):
        return isinstance(value, int) and not isinstance(value, bool)

    if num_classes is not None and not (is_int(num_classes) and num_classes >= 0):
        raise ModelConfigError(f"timm/{arch}: num_classes must be an int >= 0 (0: no head, pooled features), "
                               f"got {num_classes!r}")
    if in_chans is not None and not (is_int(in_chans) and in_chans >= 1):
        raise ModelConfigError(f"timm/{arch}: in_chans must be an int >= 1, got {in_chans!r}")


def _input_patch_embed(model, in_chans: int) -> str | None:
    """Dotted name of the timm ``PatchEmbed`` that embeds the input image itself (it takes the
    image's channels; Visformer's, say, embed a stem's features), if any. One built with
    ``strict_img_size=True`` (ViT, DeiT, BEiT, Swin, MLP-Mixer... unless ``dynamic_img_size``)
    takes one image size only; the input check reads that at each call."""
    from timm.layers import PatchEmbed

    return next((name for name, m in model.named_modules() if isinstance(m, PatchEmbed)
                 and getattr(getattr(m, "proj", None), "in_channels", None) == in_chans), None)


def _first_convs(model, in_chans: int) -> tuple[str, ...]:
    """Dotted names of the layers that take the input image (timm's ``pretrained_cfg["first_conv"]``:
    one name, or several for a stem of parallel branches), where they take ``in_chans``."""
    names = (getattr(model, "pretrained_cfg", None) or {}).get("first_conv") or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    try:
        convs = [model.get_submodule(name) for name in names]
    except AttributeError:
        return ()
    return names if convs and all(getattr(c, "in_channels", None) == in_chans for c in convs) else ()


class _InputCheck:
    """Forward pre-hook validating the image batch (a class, so models stay deep-copyable).

    The channel count expected is the first conv's, read at each call, so a model whose stem a
    user replaced (``model.conv1 = nn.Conv2d(1, 64, ...)``, as with any timm model) takes what
    its new stem takes."""

    def __init__(self, in_chans: int, owner: str, patch_embed: str | None = None,
                 first_convs: tuple[str, ...] = (), made_for: tuple[int, int] | None = None) -> None:
        self.in_chans, self.owner, self.patch_embed, self.first_convs = in_chans, owner, patch_embed, first_convs
        self.check_runs = SizeCheck(owner, made_for)

    def __call__(self, module, args) -> None:
        if args:
            check_image_batch(args[0], in_chans=self._in_chans(module), owner=self.owner,
                              dtype=weights_dtype(module))
            self._check_size(module, args[0])
            self.check_runs(module, args[0])

    def _in_chans(self, module) -> int:
        for name in self.first_convs:
            try:
                return int(module.get_submodule(name).in_channels)
            except (AttributeError, TypeError, ValueError):  # replaced by something without in_channels
                return self.in_chans
        return self.in_chans

    def _check_size(self, module, x) -> None:
        """A strict patch embedding asserts deep inside timm; the size it takes is known up front."""
        if self.patch_embed is None:
            return
        embed = module.get_submodule(self.patch_embed)
        size = tuple(embed.img_size) if getattr(embed, "strict_img_size", False) and embed.img_size else None
        if size is not None and tuple(x.shape[-2:]) != size:
            raise InputError(f"{self.owner} takes {size[0]}x{size[1]} images only (its fixed input size), got "
                             f"{x.shape[-2]}x{x.shape[-1]}: resize them, or create the model with "
                             f"img_size=({x.shape[-2]}, {x.shape[-1]}) (or dynamic_img_size=True where timm offers it)")


class _WithoutInputCheck:
    """``model.__prepare_scriptable__``: a shallow copy of the model (same submodules and
    parameters) without the input-check hook, for ``torch.jit.script``; the model itself keeps
    the check in eager mode. A class holding the model, so deepcopy and pickling still work."""

    def __init__(self, model, hook_id: int) -> None:
        self.model, self.hook_id = model, hook_id

    def __call__(self):
        clone = copy.copy(self.model)
        del clone.__dict__["__prepare_scriptable__"]
        for name in ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_pre_hooks_always_called"):
            hooks = getattr(self.model, name, None)
            if hooks is not None:
                clone.__dict__[name] = type(hooks)((k, v) for k, v in hooks.items() if k != self.hook_id)
        return clone


class _Architectures:
    """``architectures.resnet18`` -> a builder ``(num_classes=None, in_chans=None, pretrained_tag=None, **kw)``.

    ``pretrained_tag`` (set by each tag's ``PretrainedCfg.model_kwargs``) makes timm build with
    that tag's pretrained_cfg: the same layers, but ``model.pretrained_cfg`` then carries the
    tag's own preprocessing (mean, std, input size, crop) and any tag-specific model arguments.
    """

    def __getattr__(self, arch: str) -> Callable[..., Any]:
        if arch.startswith("__"):
            raise AttributeError(arch)
        if not timm.is_model(arch):
            raise AttributeError(
                f"timm {timm.__version__} has no architecture {arch!r} (the zoo_timm index lists it: "
                f"regenerate the index with `{REGENERATE}`, or install the timm it was built from)"
            )

        def build(num_classes: int | None = None, in_chans: int | None = None,
                  pretrained_tag: str | None = None, **kwargs: Any):
            name = f"{arch}.{pretrained_tag}" if pretrained_tag else arch
            if pretrained_tag and name not in timm.list_pretrained(name):  # timm's own error names no fix
                raise ModelConfigError(
                    f"timm {timm.__version__} has no tag {pretrained_tag!r} for {arch} (the zoo_timm index lists "
                    f"timm/{name}: regenerate the index with `{REGENERATE}`, or install the timm it was built from)")
            return create_model(name, num_classes=num_classes, in_chans=in_chans, **kwargs)

        build.__name__ = build.__qualname__ = arch
        build.__doc__ = f"Build timm's {arch} with timm.create_model(pretrained=False)."
        return build


architectures = _Architectures()
