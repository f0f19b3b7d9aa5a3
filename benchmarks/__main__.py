"""``python -m benchmarks [--quick] [--only NAME ...] [--threads N] [--device DEV] [--output FILE]``

Runs each benchmark module's ``run(quick)`` and prints its rows as a markdown table. A module
that cannot run here (a peer such as captum or pytorch-grad-cam missing, a plugin not
installed) is reported as ``skipped: <why>`` and does not fail the run; an unexpected error
is printed with its traceback and makes the exit status 1, so CI notices a broken benchmark.
``--device cuda`` runs the benchmarks whose ``run`` takes a ``device`` (explainers) on the GPU and
reports the others as skipped.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import platform
import sys
import time
import traceback

from benchmarks.common import Skipped, markdown_table

# Order of the report. Each is a module of this package exposing run(quick) -> list[dict].
BENCHMARKS = {
    "listing": "cold listing: fresh process, list models + pretrained + explainers (zoo vs timm)",
    "create": "warm create: pretrained model from a warm cache (zoo vs floor vs timm)",
    "explainers": "explainers on the same model and batch (zoo vs captum / pytorch-grad-cam)",
    "architectures": "architectures: parameters and images/s",
    "inference": "inference: images/s, plain eager vs inference_mode (+ channels_last)",
}


def machine_summary(device: str = "cpu") -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    import torch

    gpu = f", {device}: {torch.cuda.get_device_name(device)}" if torch.device(device).type == "cuda" else ""
    return (f"{os.cpu_count()} CPUs ({cpu}), torch {torch.__version__} "
            f"({torch.get_num_threads()} intra-op thread(s)), Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}{gpu}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help="fewer runs and sizes (CI: proves it still runs)")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads in this process and its workers (default 1: "
                             "steadier on a shared machine)")
    parser.add_argument("--device", default="cpu",
                        help="torch device for the benchmarks that take one (explainers), e.g. cuda; "
                             "the others are skipped when it is not cpu")
    parser.add_argument("--output", metavar="FILE", help="also write the markdown report to FILE")
    args = parser.parse_args(argv)

    # Workers (subprocesses) inherit this; set before torch is imported anywhere.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ["ZOO_BENCH_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)

    command = "python -m benchmarks" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    report = [f"Command: `{command}`", f"Machine: {machine_summary(args.device)}", ""]
    print("\n".join(report), flush=True)
    status = 0
    for name in args.only or BENCHMARKS:
        started = time.perf_counter()
        section = [f"## {name}: {BENCHMARKS[name]}", ""]
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            if "device" in inspect.signature(module.run).parameters:
                rows = module.run(quick=args.quick, device=args.device)
            elif torch.device(args.device).type != "cpu":
                raise Skipped(f"runs on the CPU only (--device {args.device})")
            else:
                rows = module.run(quick=args.quick)
            section.append(markdown_table(rows))
        except Skipped as exc:  # a module says why it cannot run here (a peer or plugin missing)
            section.append(f"skipped: {exc}")
        except Exception:  # noqa: BLE001 - report and go on with the other benchmarks
            status = 1
            section.append("FAILED:\n```\n" + traceback.format_exc() + "```")
        section.append(f"\n({time.perf_counter() - started:.0f} s)\n")
        print("\n".join(section), flush=True)
        report += section
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write("\n".join(report) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
