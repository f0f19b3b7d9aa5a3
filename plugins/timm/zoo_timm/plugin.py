"""The zoo hook module: every timm architecture as ``timm/<arch>``, from the shipped index.

Imports only ``zoo``, the stdlib, ``zoo_timm.index`` and ``zoo_timm.errors`` (stdlib and zoo
only): never torch or timm.
Names and pretrained configs come from ``timm_index.json``; models are built by
``zoo_timm.models`` when ``zoo.create`` asks for one.
"""

from __future__ import annotations

import warnings

import zoo
from zoo_timm.errors import TimmIndexError, TimmIndexWarning, TimmNotInstalledError
from zoo_timm.index import REGENERATE, default_hub_id, index_note, index_path, installed_timm_version, load_index

NAMESPACE = "timm/"
# Every tag's PretrainedCfg.upstream: the weights are timm's, published without a file hash or a
# measured metric, so the zoo can pin and report neither.
UPSTREAM = "timm's own Hub weights; timm publishes no sha256 or measured metric with them"


@zoo.hookimpl
def zoo_architectures() -> list[zoo.ArchitectureSpec]:
    installed = installed_timm_version()
    if installed is None:
        raise TimmNotInstalledError("timm is not installed; `pip install timm` (or uninstall visionzoo-timm)")
    try:
        index = load_index()
    except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise TimmIndexError(f"cannot read the timm index {index_path()}: {exc}. "
                             f"Regenerate it with `{REGENERATE}`.") from exc
    note = index_note(index, installed)
    if note:
        warnings.warn(note, TimmIndexWarning, stacklevel=2)
        note = " NOTE: " + note
    Spec, Cfg = zoo.ArchitectureSpec, zoo.PretrainedCfg
    not_offered: dict[str, list[str]] = {}  # arch -> "tag (why)" for timm weights the zoo cannot load as they are
    for name, why in index.get("skipped", {}).items():
        arch, _, tag = name.partition(".")
        not_offered.setdefault(arch, []).append(f"{tag} ({why})")
    specs = []
    # Checking every timm model takes hours; timm tests its own. `zoo check timm/NAME` checks one.
    left_out_of_check_all = (f"one of timm's {len(index['architectures'])} architectures: checked when named "
                             "(zoo check timm/resnet18, or a pattern such as 'timm/resnet*')")
    for arch, rows in index["architectures"].items():
        pretrained = {
            tag: Cfg(hf_hub_id=hub_id or default_hub_id(arch, tag), num_classes=num_classes,
                     in_chans=in_chans, license=license_, default=bool(is_default),
                     model_kwargs={"pretrained_tag": tag}, upstream=UPSTREAM)
            for tag, num_classes, in_chans, license_, is_default, hub_id in rows
        }
        specs.append(Spec(
            name=NAMESPACE + arch,
            task="classification",
            builder=f"zoo_timm.models:architectures.{arch}",
            pretrained=pretrained,
            check_all=left_out_of_check_all,
            description=f"timm {arch}, built by timm.create_model (timm {index['timm_version']} index)."
                        + (f" timm weights not offered here: {'; '.join(not_offered[arch])}; use "
                           "timm.create_model(..., pretrained=True) for those." if arch in not_offered else "")
                        + note,
        ))
    return specs
