"""What recording the audit trail costs: train a study's mixer arms with and without it, and time it directly.

Usage::

    .venv/bin/python benchmarks/bench_audit.py examples/configs/digits.yaml [--set KEY.PATH=VALUE ...] [--repeats 3]
        [--quick] [--device cuda]

For every mixer arm and seed of the config (runs alternate: with, without, with, …) it prints the
fastest training time with and without recording, the time spent in the recorder itself (``record``
on every step, then building and writing ``audit.npz``) as a share of the training time, and the
size of the file. The direct measure is the one to trust on a busy machine: the difference of two
training times is within their noise there.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mixup_lab import _audit
from mixup_lab._cli import read_study
from mixup_lab._runner import load_study_data, train_and_evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run: one repeat, one epoch, one seed")
    parser.add_argument("--device", default=None, help="train.device (default: the config's)")
    args = parser.parse_args()
    overrides = list(args.set)
    if args.quick:
        args.repeats = 1
        overrides += ["train.epochs=1", f"seeds=[{read_study(args.config).seeds[0]}]"]
    if args.device:
        overrides.append(f"train.device={args.device}")
    cfg = read_study(args.config, overrides)
    study = load_study_data(cfg)
    spent = {"seconds": 0.0}

    def timed(fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent["seconds"] += time.perf_counter() - t0

        return wrapper

    _audit.AuditRecorder.record = timed(_audit.AuditRecorder.record)  # type: ignore[method-assign]
    _audit.AuditRecorder.arrays = timed(_audit.AuditRecorder.arrays)  # type: ignore[method-assign]
    print(
        f"{cfg.name}: {len(study.data.train)} training examples, {cfg.train.epochs} epochs, "
        f"batch {cfg.train.batch_size}"
    )
    print("arm        seed  train s (with)  train s (without)  recorder s  recorder %  audit.npz")
    for arm in [a for a in cfg.arms if a.mixer_config() is not None]:
        for seed in cfg.seeds:
            with_s, without_s, own = [], [], []
            size = 0
            for _ in range(args.repeats):
                spent["seconds"] = 0.0
                result = train_and_evaluate(cfg, arm, seed, study)
                assert result.audit is not None
                with tempfile.TemporaryDirectory() as tmp:
                    t0 = time.perf_counter()
                    path = _audit.write_audit(Path(tmp) / _audit.AUDIT_FILE, result.audit)
                    spent["seconds"] += time.perf_counter() - t0
                    size = path.stat().st_size
                with_s.append(result.metrics["train_seconds"])
                own.append(spent["seconds"])
                without_s.append(train_and_evaluate(cfg, arm, seed, study, audit=False).metrics["train_seconds"])
            w, wo, o = min(with_s), min(without_s), statistics.median(own)
            print(f"{arm.name:<10} {seed:>4}  {w:>14.2f}  {wo:>17.2f}  {o:>10.3f}  {100 * o / wo:>9.2f}%  "
                  f"{size / 1000:.1f} kB")


if __name__ == "__main__":
    main()
