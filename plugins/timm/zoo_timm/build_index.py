"""Regenerate ``timm_index.json`` from the installed timm: ``python -m zoo_timm.build_index``.

Run it after upgrading timm (the plugin warns when the installed timm differs from the one
the index was built from, and ``plugins/timm/tests`` fail until it is regenerated). Where
the package directory is read-only, write elsewhere (``-o PATH``) and set
``ZOO_TIMM_INDEX=PATH``: the plugin then reads that file instead of the packaged one.
``--check`` compares instead of writing and exits 1 when the shipped index is stale.

Which tags are offered: those whose weights timm itself fetches from a ``timm/`` Hub repo.
Those repos hold ``model.safetensors`` in timm's own key format, so the zoo loads them with
a plain strict ``load_state_dict``. Everything else is listed under ``"skipped"`` with the
reason: weights only at a URL, a third-party Hub repo (its file may need timm's
checkpoint filter to convert keys, e.g. open_clip or Florence-2 layouts), or a custom
filename or loader. Tag-specific model arguments (e.g. a fixed input size) need no entry:
each tag's ``model_kwargs`` carries ``pretrained_tag``, and timm builds that tag's model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zoo_timm.index import FORMAT, INDEX_ENV, REGENERATE, default_hub_id, index_path, load_index


def generate() -> dict:
    """Build the index dict from the installed timm (imports timm, hence torch)."""
    import timm
    from timm.models import get_arch_pretrained_cfgs, get_pretrained_cfg

    with_weights = set(timm.list_pretrained())
    architectures: dict[str, list] = {}
    skipped: dict[str, str] = {}
    for arch in timm.list_models():
        rows = []
        default = get_pretrained_cfg(arch)  # timm's default tag's cfg (None: no cfgs at all)
        for name, cfg in get_arch_pretrained_cfgs(arch).items():
            if name not in with_weights:
                continue  # a cfg without weights: timm does not list it as pretrained either
            tag = name.partition(".")[2]
            reason = _skip_reason(tag, cfg)
            if reason:
                skipped[name] = reason
                continue
            hub_id = None if cfg.hf_hub_id == default_hub_id(arch, tag) else cfg.hf_hub_id
            in_chans = cfg.input_size[0] if cfg.input_size else 3
            is_default = int(default is not None and tag == default.tag)
            rows.append([tag, cfg.num_classes, in_chans, cfg.license, is_default, hub_id])
        architectures[arch] = rows
    return {"format": FORMAT, "timm_version": timm.__version__, "generated_by": REGENERATE,
            "architectures": architectures, "skipped": skipped}


def _skip_reason(tag: str, cfg) -> str | None:
    hub_id = cfg.hf_hub_id
    if not tag:
        return "untagged weights (the zoo names weights arch.tag)"
    if not hub_id:
        return "no Hugging Face Hub repo (timm downloads these weights from a URL)"
    if "@" in hub_id:
        return f"Hub repo pinned to a revision ({hub_id})"
    if not hub_id.startswith("timm/"):
        return f"third-party Hub repo {hub_id} (file layout not guaranteed to be timm's own keys)"
    if cfg.hf_hub_filename:
        return f"custom Hub filename {cfg.hf_hub_filename}"
    if cfg.custom_load == "hf":
        return "custom Hub loader"
    return None


def dumps(index: dict) -> str:
    """Compact JSON with one architecture a line, so a regeneration diffs readably."""
    def one(value) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)

    lines = ["{" + ",".join(f"{one(k)}:{one(index[k])}" for k in ("format", "timm_version", "generated_by")) + ","]
    for key in ("architectures", "skipped"):
        items = [f"{one(k)}:{one(v)}" for k, v in index[key].items()]
        lines.append(f"{one(key)}:{{")
        lines.append(",\n".join(items))
        lines.append("}" + ("," if key == "architectures" else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo_timm.build_index", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=index_path(),
                        help=f"where to write (default: ${INDEX_ENV} if set, else the packaged index: {index_path()}); "
                             f"the plugin reads ${INDEX_ENV} when set")
    parser.add_argument("--check", action="store_true", help="compare with the shipped index; exit 1 if stale")
    args = parser.parse_args(argv)
    index = generate()
    if args.check:
        current = load_index(args.output)
        if current == index:
            print(f"{args.output} matches timm {index['timm_version']}")
            return 0
        print(f"{args.output} (timm {current.get('timm_version')}) is stale for timm {index['timm_version']}; "
              f"run `{REGENERATE}`", file=sys.stderr)
        return 1
    text = dumps(index)
    args.output.write_text(text, encoding="utf-8")
    n_tags = sum(len(rows) for rows in index["architectures"].values())
    print(f"wrote {args.output}: timm {index['timm_version']}, {len(index['architectures'])} architectures, "
          f"{n_tags} pretrained tags, {len(index['skipped'])} skipped, {len(text) // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
