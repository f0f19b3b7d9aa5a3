"""Cold listing: a fresh Python process that lists every model, pretrained tag and explainer.

zoo: ``import zoo; zoo.list_models(); zoo.list_models(pretrained=True); zoo.list_explainers()``
timm: ``import timm; timm.list_models(); timm.list_pretrained()``

This is what a user pays for ``zoo list`` or a first look in a notebook. Both sides run in
fresh interpreters launched alternately from this process; the wall time of the whole process
(interpreter start-up included) is timed from outside, and each child also reports the time of
its own import + listing, measured from inside, so start-up noise can be told apart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from benchmarks.common import alternate, goal_row, median

GOAL = 0.25

_CHILD = """
import json, time
t0 = time.perf_counter()
{body}
t1 = time.perf_counter()
print(json.dumps({{"inside": t1 - t0, "names": n_models, "pretrained": n_pretrained,
                   "explainers": n_explainers, "torch_imported": "torch" in __import__("sys").modules}}))
"""

ZOO_BODY = """
import zoo
n_models = len(zoo.list_models())
n_pretrained = len(zoo.list_models(pretrained=True))
n_explainers = len(zoo.list_explainers())
"""

TIMM_BODY = """
import timm
n_models = len(timm.list_models())
n_pretrained = len(timm.list_pretrained())
n_explainers = 0
"""


def _child(body: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD.format(body=body)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[dict]:
    runs = 3 if quick else 10
    last: dict[str, dict] = {}
    inside: dict[str, list[float]] = {"zoo": [], "timm": []}

    def side(name: str, body: str):
        def call():
            result = _child(body)
            last[name] = result
            inside[name].append(result["inside"])
        return call

    warmup = 0 if quick else 1  # a warm-up round fills the OS file cache; quick mode skips it
    wall = alternate({"zoo": side("zoo", ZOO_BODY), "timm": side("timm", TIMM_BODY)}, runs=runs, warmup=warmup)
    for values in inside.values():
        del values[:warmup]
    z, t = last["zoo"], last["timm"]
    listed = (f"zoo listed {z['names']} models, {z['pretrained']} pretrained, {z['explainers']} explainers"
              f"{' (imported torch!)' if z['torch_imported'] else ', torch not imported'}; "
              f"timm listed {t['names']} models, {t['pretrained']} pretrained")
    return [
        goal_row("cold listing, whole process", "python -c 'import zoo; list...'", median(wall["zoo"]),
                 "python -c 'import timm; list...'", median(wall["timm"]), GOAL, runs, listed),
        goal_row("cold listing, import + list only", "inside the child", median(inside["zoo"]),
                 "inside the child", median(inside["timm"]), GOAL, runs,
                 "excludes interpreter start-up (same for both)"),
    ]


if __name__ == "__main__":
    from benchmarks.common import markdown_table

    started = time.perf_counter()
    print(markdown_table(run(quick="--quick" in sys.argv)))
    print(f"({time.perf_counter() - started:.0f} s)")
