"""Warm create: a pretrained model from a warm local cache, zoo vs the floor vs timm.

What is compared, all in one worker process, alternated (``HF_HUB_OFFLINE=1``, a private
``HF_HUB_CACHE`` in a temporary folder, so nothing touches the network or the user's cache):

- the weights: timm's ``resnet18`` initialised once and saved as safetensors (no internet here,
  so not the published bytes; the size and keys are those of ``timm/resnet18.a1_in1k``). The
  file is placed in a Hugging Face cache layout under ``timm/resnet18.a1_in1k`` (a snapshot with
  ``refs/main``), exactly where ``hf_hub_download`` looks, and also kept as a plain file;
- zoo: ``zoo.create("timm/resnet18", pretrained=True)`` (default tag, through the hub cache)
  and ``zoo.create("timm/resnet18", weights=path)`` (the local file);
- floor: what any loader must do at least: ``safetensors.torch.load_file(path)``, build
  ``timm.create_model("resnet18")`` on the meta device, ``load_state_dict(sd, assign=True)``,
  ``eval()``;
- timm: ``timm.create_model("resnet18.a1_in1k", pretrained=True)`` from the same warm cache, and
  ``timm.create_model("resnet18", pretrained=True, pretrained_cfg_overlay=dict(file=path))``.

Before every timed call, garbage is collected and freed heap memory handed back to the OS
(``benchmarks.common.fresh_memory``), so every call pays for fresh pages, as the one create of
a new process does; without it the timings of the sides that copy tens of MB are bimodal.

For each first-party tag with a card in ``hubcards/<arch>.<tag>/model.safetensors`` (the first
one found, all of them without --quick), the same cache layout is built under its
``hf_hub_id`` and ``zoo.create("<arch>.<tag>", pretrained=True)`` is compared with its floor.

The zoo side comes three times: as a repeated create in one process, where what the zoo
checked about the unchanged file (sha256, header, NaN/Inf scan) is remembered in memory
(``zoo.checked_files``); as the first create of a process, with that in-memory record emptied
before each call (the header, sha256 and scan come from the on-disk record, resnet18's tensors
from its aligned copy, ``zoo.aligned_copies``, as for any create after the file's first one); and as the
first load of a file that just arrived, with the on-disk record and aligned copies switched off
too, so the file is hashed, scanned and its unaligned tensors copied in memory: a once-per-file
cost, shown without a goal. The zoo's own cache (``ZOO_CACHE_DIR``) is a temporary folder.

``python -m benchmarks.create --before-after`` measures the optimisations made for this
benchmark (see :func:`before_after` and benchmarks/README.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Skipped, alternate, fresh_memory, goal_row, median
from zoo.checked_files import RACY_SECONDS

GOAL_FLOOR = 1.1
GOAL_TIMM = 0.5
# a process's first create as it finds the checks: in-process memo cleared, on-disk record kept
DISK_CHECKS_SIDE = "zoo.create(pretrained=True), checks only in the on-disk record (modules imported)"
ROOT = Path(__file__).resolve().parents[1]
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def place_in_hf_cache(cache: Path, repo_id: str, filename: str, source: Path, revision: str = "main") -> Path:
    """Put ``source`` where ``hf_hub_download(repo_id, filename, revision)`` finds it offline."""
    folder = cache / ("models--" + repo_id.replace("/", "--"))
    commit = revision if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision) else FAKE_COMMIT
    if commit != revision:
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        (folder / "refs" / revision).write_text(commit)
    target = folder / "snapshots" / commit / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.link(source, target) if _same_device(source, target.parent) else target.write_bytes(source.read_bytes())
    return target


def floor_resnet18(path) -> "object":
    """The floor of warm create: read the file, build on the meta device, assign the tensors."""
    import safetensors.torch
    import timm
    import torch

    sd = safetensors.torch.load_file(path)
    with torch.device("meta"):
        model = timm.create_model("resnet18")
    model.load_state_dict(sd, assign=True)
    return model.eval()


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def first_party_tags(quick: bool) -> list[tuple[str, str]]:
    """("arch.tag", path of its card's safetensors) for registered tags that have a hub card."""
    import zoo

    found = []
    for name in zoo.list_models(pretrained=True):
        if name.startswith("timm/"):
            continue
        card = ROOT / "hubcards" / name / "model.safetensors"
        if card.is_file():
            found.append((name, str(card)))
    return found[:1] if quick else found


# ------------------------------------------------------------------------------ worker
def _worker(spec: dict) -> dict:
    """Runs in a fresh process whose environment already points huggingface_hub at the cache."""
    import safetensors.torch
    import timm
    import torch

    import zoo
    from zoo import checked_files
    from zoo.builders import import_builder
    from zoo.registry import get_registry

    torch.set_num_threads(int(os.environ.get("ZOO_BENCH_THREADS", "1")))
    path = spec["timm_file"]

    def floor_timm():
        return floor_resnet18(path)

    def first_create(name, **kwargs):
        # as the first create of a new process: the in-memory record is empty, the disk one kept
        checked_files.forget_all()
        return zoo.create(name, **kwargs)

    def first_load_ever(name, **kwargs):
        # as the first load of a file that just arrived: nothing remembered, no aligned copy yet
        checked_files.forget_all()
        os.environ.update(ZOO_REMEMBER_CHECKS="0", ZOO_ALIGNED_COPIES="0")
        try:
            return zoo.create(name, **kwargs)
        finally:
            del os.environ["ZOO_REMEMBER_CHECKS"], os.environ["ZOO_ALIGNED_COPIES"]

    sides = {
        "zoo hub cache": lambda: zoo.create("timm/resnet18", pretrained=True),
        "zoo hub cache, first create": lambda: first_create("timm/resnet18", pretrained=True),
        "zoo hub cache, first load ever": lambda: first_load_ever("timm/resnet18", pretrained=True),
        "zoo weights=path": lambda: zoo.create("timm/resnet18", weights=path),
        "floor": floor_timm,
        "timm hub cache": lambda: timm.create_model("resnet18.a1_in1k", pretrained=True),
        "timm overlay file": lambda: timm.create_model("resnet18", pretrained=True,
                                                       pretrained_cfg_overlay=dict(file=path)),
    }
    # Same weights on every side (not a benchmark of different work).
    reference = safetensors.torch.load_file(path)
    for name, fn in sides.items():
        state = fn().state_dict()
        bad = [k for k, v in reference.items() if not torch.equal(state[k], v)]
        if bad or set(state) != set(reference):
            raise AssertionError(f"{name}: weights differ from the file ({bad[:3]})")
    import gc

    gc.collect()
    gc.freeze()  # imports are done: later collections (fresh_memory) scan only new objects (0.3 s -> ms)
    result = {"timm": alternate(sides, runs=spec["runs"], warmup=1, setup=fresh_memory), "first_party": {}}

    for name, card in spec["first_party"]:
        spec_, _, tag = get_registry().resolve(name, pretrained=True)
        cfg = spec_.pretrained[tag]
        kwargs = dict(spec_.defaults)
        kwargs.update({k: v for k, v in (("num_classes", cfg.num_classes), ("in_chans", cfg.in_chans)) if v is not None})
        kwargs.update(cfg.model_kwargs)
        builder = import_builder(spec_.builder, name)

        def floor(card=card, builder=builder, kwargs=kwargs):
            sd = safetensors.torch.load_file(card)
            with torch.device("meta"):
                model = builder(**kwargs)
            model.load_state_dict(sd, assign=True)
            return model.eval()

        result["first_party"][name] = {
            "times": alternate({"zoo": lambda name=name: zoo.create(name, pretrained=True),
                                "zoo first create": lambda name=name: first_create(name, pretrained=True),
                                "zoo first load ever": lambda name=name: first_load_ever(name, pretrained=True),
                                "floor": floor},
                               runs=spec["runs"], warmup=1, setup=fresh_memory),
            "sha256": bool(cfg.sha256),
        }
    return result


# ------------------------------------------------------------------------------ parent
def run(quick: bool) -> list[dict]:
    import zoo

    if "timm/resnet18" not in zoo.list_models("timm/resnet18"):
        raise Skipped("the timm bridge (visionzoo-timm) is not installed, so timm/resnet18 is not registered")
    runs = 5 if quick else 20
    with tempfile.TemporaryDirectory(prefix="zoo-bench-create-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "hub"
        timm_file = tmp / "resnet18.safetensors"
        _make_resnet18_file(timm_file)
        place_in_hf_cache(cache, "timm/resnet18.a1_in1k", "model.safetensors", timm_file)
        first_party = first_party_tags(quick)
        for name, card in first_party:
            info = zoo.model_info(name)
            cfg = info.pretrained[name.split(".", 1)[1]]
            place_in_hf_cache(cache, cfg.hf_hub_id, cfg.filename, Path(card), cfg.revision)
        spec = {"timm_file": str(timm_file), "runs": runs, "first_party": first_party}
        env = dict(os.environ, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
                   HF_HUB_DISABLE_PROGRESS_BARS="1", ZOO_CACHE_DIR=str(tmp / "zoo-cache"))
        env.pop("HF_HOME", None)
        for switch in ("ZOO_REMEMBER_CHECKS", "ZOO_ALIGNED_COPIES"):
            env.pop(switch, None)
        # Files changed within the racy window are not remembered (zoo.checked_files): let the
        # links just made settle, so every timed call sees the state a warm cache is in.
        time.sleep(RACY_SECONDS)
        out = subprocess.run([sys.executable, "-m", "benchmarks.create", "--worker", json.dumps(spec)],
                             env=env, cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"create worker failed:\n{out.stderr[-4000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])

    t = {k: median(v) for k, v in result["timm"].items()}
    rows = [
        goal_row("warm create timm/resnet18 vs floor", "zoo.create(pretrained=True), hub cache", t["zoo hub cache"],
                 "load_file + meta build + assign", t["floor"], GOAL_FLOOR, runs),
        goal_row("local file timm/resnet18 vs floor", "zoo.create(weights=path)", t["zoo weights=path"],
                 "load_file + meta build + assign", t["floor"], None, runs,
                 "no goal (it is set for the Hub cache); a local file gets no aligned copy (zoo.aligned_copies): "
                 "its unaligned tensors are copied in memory on every create"),
        goal_row("warm create timm/resnet18 vs floor", DISK_CHECKS_SIDE,
                 t["zoo hub cache, first create"], "load_file + meta build + assign", t["floor"], GOAL_FLOOR, runs,
                 "header and NaN/Inf scan from the on-disk record; tensors from the aligned copy"),
        goal_row("first load of a new file timm/resnet18 vs floor", "zoo.create(pretrained=True), nothing "
                 "remembered yet", t["zoo hub cache, first load ever"], "load_file + meta build + assign",
                 t["floor"], None, runs, "once per file: NaN/Inf scan, unaligned tensors copied in memory"),
        goal_row("warm create timm/resnet18 vs timm", "zoo.create(pretrained=True), hub cache", t["zoo hub cache"],
                 "timm.create_model(pretrained=True), hub cache", t["timm hub cache"], GOAL_TIMM, runs),
        goal_row("warm create timm/resnet18 vs timm", "zoo.create(weights=path)", t["zoo weights=path"],
                 "timm.create_model(pretrained_cfg_overlay=dict(file=path))", t["timm overlay file"],
                 GOAL_TIMM, runs),
    ]
    for name, entry in result["first_party"].items():
        m = {k: median(v) for k, v in entry["times"].items()}
        rows.append(goal_row(f"warm create {name} vs floor", "zoo.create(pretrained=True), hub cache", m["zoo"],
                             "load_file + meta build + assign", m["floor"], GOAL_FLOOR, runs,
                             "checks remembered from an earlier create of this process"))
        rows.append(goal_row(f"warm create {name} vs floor", DISK_CHECKS_SIDE,
                             m["zoo first create"], "load_file + meta build + assign", m["floor"], GOAL_FLOOR, runs,
                             "header, sha256 and NaN/Inf scan from the on-disk record"))
        rows.append(goal_row(f"first load of a new file {name} vs floor", "zoo.create(pretrained=True), nothing "
                             "remembered yet", m["zoo first load ever"], "load_file + meta build + assign",
                             m["floor"], None, runs, "once per file: " + ("sha256 hashed for the pin, "
                                                                          if entry["sha256"] else "")
                             + "NaN/Inf scan"))
    if not result["first_party"]:
        rows.append({"comparison": "first-party pretrained tag", "notes": "skipped: no hubcards/<arch>.<tag>/"
                     "model.safetensors for a registered tag yet"})
    return rows


def before_after(runs: int = 15) -> list[dict]:
    """The optimisations of warm create, undone and redone one by one in one process, alternated.

    Each zoo side is ``zoo.create("timm/resnet18", pretrained=True)`` from a Hub cache (offline):

    - before: nothing remembered between creates (each create scans the file for NaN/Inf and
      copies its unaligned tensors in memory), the scan by ``isfinite(t).all()`` per tensor, and
      a plain ``torch.device("meta")`` build that still runs every initialiser;
    - sum check: the scan is one sum per tensor, the exact test only if that sum is not finite;
    - meta without init: initialisers skipped on meta (``zoo.meta``);
    - after: the library as it is: the scan remembered (``zoo.checked_files``) and the tensors
      mapped from the file's aligned copy (``zoo.aligned_copies``).
    """
    import contextlib

    import torch

    import zoo
    import zoo.meta
    import zoo.safetensors_file
    from zoo import checked_files

    with tempfile.TemporaryDirectory(prefix="zoo-bench-create-") as tmp:
        path = Path(tmp) / "resnet18.safetensors"
        _make_resnet18_file(path)
        place_in_hf_cache(Path(tmp) / "hub", "timm/resnet18.a1_in1k", "model.safetensors", path)
        saved_env = dict(os.environ)
        os.environ.update(ZOO_CACHE_DIR=str(Path(tmp) / "zoo-cache"), HF_HUB_CACHE=str(Path(tmp) / "hub"),
                          HF_HUB_OFFLINE="1")
        time.sleep(RACY_SECONDS)  # let the new file settle, as a cached file has (zoo.checked_files)
        after_finite, after_meta = zoo.safetensors_file.all_finite, zoo.meta.on_meta_without_init

        def before_finite(t):
            return bool(torch.isfinite(t).all())

        @contextlib.contextmanager
        def before_meta():
            with torch.device("meta"):
                yield

        def variant(finite, meta, remember):
            def call():
                zoo.safetensors_file.all_finite, zoo.meta.on_meta_without_init = finite, meta
                if not remember:
                    checked_files.forget_all()
                    os.environ.update(ZOO_REMEMBER_CHECKS="0", ZOO_ALIGNED_COPIES="0")
                try:
                    return zoo.create("timm/resnet18", pretrained=True)
                finally:
                    zoo.safetensors_file.all_finite, zoo.meta.on_meta_without_init = after_finite, after_meta
                    os.environ.pop("ZOO_REMEMBER_CHECKS", None)
                    os.environ.pop("ZOO_ALIGNED_COPIES", None)
            return call

        def floor():
            return floor_resnet18(path)

        import gc

        gc.collect()
        gc.freeze()  # keep fresh_memory's collections cheap (see _worker)
        t = alternate({
            "before": variant(before_finite, before_meta, remember=False),
            "sum check": variant(after_finite, before_meta, remember=False),
            "sum check, meta without init": variant(after_finite, after_meta, remember=False),
            "after": variant(after_finite, after_meta, remember=True),
            "floor": floor,
        }, runs=runs, warmup=1, setup=fresh_memory)
        os.environ.clear()
        os.environ.update(saved_env)
    m = {k: median(v) for k, v in t.items()}
    return [goal_row("warm create timm/resnet18 vs floor", f"zoo.create(pretrained=True), {k}", m[k],
                     "load_file + meta build + assign", m["floor"], GOAL_FLOOR, runs)
            for k in ("before", "sum check", "sum check, meta without init", "after")]


def _make_resnet18_file(path: Path) -> None:
    code = ("import sys, torch, timm, safetensors.torch; torch.manual_seed(0); "
            "m = timm.create_model('resnet18'); "
            "safetensors.torch.save_file({k: v.contiguous() for k, v in m.state_dict().items()}, sys.argv[1])")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(_worker(json.loads(sys.argv[2]))))
    else:
        import torch

        from benchmarks.common import markdown_table

        torch.set_num_threads(1)
        rows = before_after() if "--before-after" in sys.argv else run(quick="--quick" in sys.argv)
        print(markdown_table(rows))
