"""Wall time of a study trained in one process vs by N worker processes, and what starting a worker costs.

Usage::

    nice -n -10 .venv/bin/python benchmarks/bench_workers.py [examples/configs/digits.yaml] [--workers 2]
        [--repeats 3] [--epochs E] [--set KEY.PATH=VALUE ...] [--quick] [--device cuda] [--devices 0,0]

Each round runs ``mixup compare CONFIG --quiet`` twice into fresh folders, as the user would, in a
fresh order each round: once sequentially and once with ``--workers N``; both include starting
Python, loading the data and writing the report. The default study is the digits config with seeds
[0, 1] (6 runs) and ``train.threads=1``, so that N workers on N cores do not compete for threads.
It prints the wall time of both, their ratio (sequential ÷ parallel, per round, then the median),
each worker's start-up cost (from its spawn to its data being loaded, recorded in
``<out>/.workers/``), the same cost for one process alone, the load average of the machine before
and after, and how many cores N busy processes really got then (N × the time of a fixed loop ÷ its
time when N copies run at once: N on an idle machine with N free cores). With ``--device cuda
--devices 0`` it compares one process on the GPU with N workers sharing GPU 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _compare(config: str, out: Path, overrides: list[str], extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "mixup_core", "compare", config, "--out", str(out), "--quiet", *extra]
    for item in overrides:
        cmd += ["--set", item]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


_SPIN = (
    "import time\nt = time.perf_counter()\nx = 0\nfor i in range(20_000_000):\n    x += i\n"
    "print(time.perf_counter() - t)"
)

_STARTUP = """
import sys, time
t = time.perf_counter()
from mixup_lab._cli import read_study
from mixup_lab._train import load_study_data
load_study_data(read_study(sys.argv[1], sys.argv[2:]))
print(time.perf_counter() - t)
"""


def _spin(n: int) -> float:
    """Seconds of a fixed pure-Python loop when ``n`` copies run at once (the slowest copy)."""
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN], stdout=subprocess.PIPE, text=True) for _ in range(n)]
    return max(float(p.communicate()[0]) for p in procs)


def _capacity(workers: int) -> float:
    """How many cores ``workers`` processes really get now: ``workers`` × t(1 copy) ÷ t(``workers`` copies at once)."""
    return workers * _spin(1) / _spin(workers)


def _standalone_startup(config: str, overrides: list[str]) -> float:
    """Seconds for one process alone to import the lab and load the study's data (after Python's own start)."""
    out = subprocess.run(
        [sys.executable, "-c", _STARTUP, config, *overrides], check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "examples" / "configs" / "digits.yaml"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="train.epochs (default: the config's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    parser.add_argument("--quick", action="store_true", help="a smoke run: one round, one epoch")
    parser.add_argument("--device", default=None, help="train.device (default: the config's)")
    parser.add_argument("--devices", default=None, help="passed to --devices of the parallel call")
    args = parser.parse_args()
    overrides = ["seeds=[0, 1]", "train.threads=1", "examples=0", *args.set]
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    if args.quick:
        args.repeats = 1
        overrides.append("train.epochs=1")
    if args.device:
        overrides.append(f"train.device={args.device}")
    parallel_extra = ["--workers", str(args.workers)] + (["--devices", args.devices] if args.devices else [])
    load_before = os.getloadavg()
    capacity_before = _capacity(args.workers)
    alone = [_standalone_startup(args.config, overrides) for _ in range(2)]
    times: dict[str, list[float]] = {"sequential": [], "parallel": []}
    ratios, startups = [], []
    order = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            round_times = {}
            for case in order.sample(["sequential", "parallel"], 2):
                out = Path(tmp) / f"{case}-{r}"
                extra = parallel_extra if case == "parallel" else []
                round_times[case] = _compare(args.config, out, overrides, extra)
                if case == "parallel":
                    for record in (out / ".workers").glob("*.json"):
                        startups.append(json.loads(record.read_text())["startup_s"])
            for case, t in round_times.items():
                times[case].append(t)
            ratios.append(round_times["sequential"] / round_times["parallel"])
            print(f"round {r + 1}: sequential {round_times['sequential']:.1f} s, --workers {args.workers} "
                  f"{round_times['parallel']:.1f} s, ratio {ratios[-1]:.2f}x", flush=True)
    load_after = os.getloadavg()
    capacity_after = _capacity(args.workers)
    print()
    print(f"config {args.config}, overrides {overrides}, {os.cpu_count()} CPU cores, {args.repeats} rounds")
    print(f"load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {', '.join(f'{x:.2f}' for x in load_after)}")
    print(f"cores that {args.workers} busy processes really got (1.00 per core: {args.workers} × t(one spin loop) ÷ "
          f"t({args.workers} at once)): before {capacity_before:.2f}, after {capacity_after:.2f}")
    print()
    print("| case | median wall s | min–max s |")
    print("|---|---:|---:|")
    for case, values in times.items():
        name = "sequential (one process)" if case == "sequential" else f"--workers {args.workers}"
        print(f"| {name} | {statistics.median(values):.1f} | {min(values):.1f}–{max(values):.1f} |")
    print()
    print(f"speed-up (sequential ÷ parallel, per round): median {statistics.median(ratios):.2f}x, "
          f"min–max {min(ratios):.2f}–{max(ratios):.2f}x")
    print(f"worker start-up (spawn → data loaded), {len(startups)} workers: median {statistics.median(startups):.1f} "
          f"s, min–max {min(startups):.1f}–{max(startups):.1f} s (the workers and the coordinator start at once)")
    print(f"one process alone, import the lab and load the data: {min(alone):.1f} s")


if __name__ == "__main__":
    main()
