"""Shared helpers: alternated timing, medians, ratios, markdown tables.

Why alternate: on a shared machine the load drifts over seconds, so timing side A ten
times and then side B ten times compares two different machines. Interleaving A and B, in a
shuffled order every round, exposes both sides to the same drift.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any, Callable, Iterable, Mapping


class Skipped(Exception):
    """A benchmark (or one comparison in it) cannot run here, e.g. a peer is not installed."""


def alternate(sides: Mapping[str, Callable[[], Any]], runs: int, warmup: int = 1,
              setup: Callable[[], Any] | None = None) -> dict[str, list[float]]:
    """Time each callable ``runs`` times, interleaved, after ``warmup`` untimed rounds.

    The order of the sides is shuffled every round (seeded, so reruns repeat it): with a fixed
    cyclic order each side would always follow the same other side and inherit its after-effects
    (caches, allocator state). ``setup``, if given, runs untimed before every
    call (e.g. :func:`fresh_memory`). A side's return value is dropped inside its timing, so
    freeing what it built is part of its cost. Returns name -> list of seconds.
    """
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            if setup is not None:
                setup()
            sides[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(0)
    for _ in range(runs):
        for name in order.sample(names, len(names)):
            fn = sides[name]
            if setup is not None:
                setup()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def fresh_memory() -> None:
    """Collect garbage and hand freed heap memory back to the OS (glibc ``malloc_trim``).

    Why: whether a large allocation reuses freed memory or takes fresh pages from the kernel
    (zero-filled on first touch, ~2 ms per 10 MB here) depends on what earlier runs freed, so
    timings of code that allocates tens of MB are bimodal without this. After it, every run
    pays for fresh pages, as the one ``zoo.create`` of a new process does.
    """
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}x"


def goal_row(comparison: str, zoo_side: str, zoo_s: float, peer_side: str, peer_s: float,
             goal: float | None, runs: int, notes: str = "") -> dict:
    """One 'zoo vs peer' row: medians in ms, their ratio, and whether the goal ratio is met."""
    r = ratio(zoo_s, peer_s)
    return {
        "comparison": comparison,
        "zoo side": zoo_side,
        "zoo median ms": fmt_ms(zoo_s),
        "peer side": peer_side,
        "peer median ms": fmt_ms(peer_s),
        "ratio zoo/peer": fmt_ratio(r),
        "goal": f"<= {goal:g}x" if goal is not None else "-",
        "met": ("yes" if r <= goal else "no") if goal is not None else "-",
        "runs": runs,
        "notes": notes,
    }


def markdown_table(rows: list[Mapping[str, Any]]) -> str:
    """Rows (dicts) as a markdown table; columns in order of first appearance."""
    if not rows:
        return "(no rows)"
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        value = f"{value:.3g}"
    return str(value).replace("|", "\\|").replace("\n", " ")
