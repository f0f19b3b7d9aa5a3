"""What ``python -m benchmarks --only explainers`` reports (issue #8): each row compares the zoo and
its peer on the same model, inputs and targets, so their maps agree (correlation > 0.999 where
the two define the method the same way), and its ratio and verdict are those of its medians.
CI runs the benchmarks only to see that they still run; these tests pin what they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the benchmarks are a package of the checkout, not of the installed zoo
    sys.path.insert(0, str(ROOT))

from benchmarks.common import alternate, goal_row, median  # noqa: E402
from benchmarks.explainers import correlation  # noqa: E402


def test_map_correlation_is_pearsons_per_image_averaged():
    a = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert correlation(a, a) == pytest.approx(1.0)
    assert correlation(a, 2 * a + 5) == pytest.approx(1.0)  # offset and scale do not count
    assert correlation(a, -a) == pytest.approx(-1.0)
    mixed = torch.stack([a[0], -a[1], a[2]])
    assert correlation(a, mixed) == pytest.approx(1 / 3)


def test_two_equal_constant_maps_agree_and_unequal_ones_do_not():
    """Grad-CAM's all-zero map (no location supports the class) on both sides is agreement."""
    zeros, ones = torch.zeros(2, 4, 4), torch.ones(2, 4, 4)
    assert correlation(zeros, zeros) == 1.0
    assert correlation(zeros, ones) == 0.0


def test_a_row_reports_zoo_over_peer_and_meets_a_goal_it_equals():
    row = goal_row("gradcam", "zoo", 0.004, "peer", 0.010, 0.4, 5)
    assert (row["zoo median ms"], row["peer median ms"]) == ("4.0", "10.0")
    assert row["ratio zoo/peer"] == "0.40x" and row["goal"] == "<= 0.4x" and row["met"] == "yes"
    assert goal_row("gradcam", "zoo", 0.0041, "peer", 0.010, 0.4, 5)["met"] == "no"


def test_sides_alternate_in_a_new_order_every_round_and_report_medians():
    calls = []
    times = alternate({name: (lambda name=name: calls.append(name)) for name in "abc"}, runs=6, warmup=1)
    assert calls[:3] == ["a", "b", "c"] and sorted(calls[3:6]) == ["a", "b", "c"]  # the warm-up, then a round
    rounds = {tuple(calls[i:i + 3]) for i in range(3, len(calls), 3)}
    assert len(rounds) > 1  # shuffled: no side always runs after the same other side
    assert {name: len(t) for name, t in times.items()} == {"a": 6, "b": 6, "c": 6}
    assert median([0.001, 0.002, 0.030]) == 0.002  # one slow outlier does not move it


def test_a_benchmark_that_fails_fails_the_run(monkeypatch, capsys):
    import benchmarks.__main__ as runner

    threads = torch.get_num_threads()
    monkeypatch.setitem(runner.BENCHMARKS, "missing", "a benchmark module that is not there")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # main() sets both for its workers
    monkeypatch.setenv("ZOO_BENCH_THREADS", "1")
    try:
        assert runner.main(["--only", "missing"]) == 1
    finally:
        torch.set_num_threads(threads)
    assert "FAILED" in capsys.readouterr().out

def _rows(table: str) -> dict[str, dict[str, str]]:
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split(" | ")]
    rows = [dict(zip(header, (cell.strip().replace("\\|", "|") for cell in line.strip("|").split(" | "))))
            for line in lines[1:]]
    return {row["comparison"]: row for row in rows}


@pytest.mark.slow
def test_the_explainers_benchmark_compares_like_with_like(tmp_path):
    report = tmp_path / "report.md"
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "explainers", "--output",
                             str(report)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(report.read_text())
    assert set(rows) == {"smoothgrad n=32", "gradcam", "integrated_gradients n_steps=64"}, rows
    assert rows["smoothgrad n=32"]["peer side"] == "captum NoiseTunnel(Saliency)"
    assert rows["gradcam"]["peer side"] == "pytorch-grad-cam GradCAM"
    assert {name: row["goal"] for name, row in rows.items()} == {  # the goals
        "smoothgrad n=32": "<= 0.8x", "gradcam": "<= 1x", "integrated_gradients n_steps=64": "<= 0.8x"}
    # Defined the same way: the same maps, up to float rounding.
    for name in ("gradcam", "integrated_gradients n_steps=64"):
        assert float(rows[name]["map corr"]) > 0.999
        max_diff = float(rows[name]["notes"].split("max |diff| ")[1].split(";")[0])
        assert max_diff < 1e-5, rows[name]  # equal, not merely proportional
    # SmoothGrad: each side draws its own noise, so its maps only resemble each other's; fed the
    # zoo's noise, captum's Saliency gives the zoo's maps.
    smoothgrad = rows["smoothgrad n=32"]
    assert 0.95 < float(smoothgrad["map corr"]) < 1
    assert float(smoothgrad["notes"].rsplit(" ", 1)[1]) > 0.999
    for row in rows.values():
        ratio = float(row["zoo median ms"]) / float(row["peer median ms"])
        assert float(row["ratio zoo/peer"].rstrip("x")) == pytest.approx(ratio, abs=0.01)
        goal = float(row["goal"].removeprefix("<= ").rstrip("x"))
        if abs(ratio - goal) > 0.01:
            assert row["met"] == ("yes" if ratio < goal else "no"), row
