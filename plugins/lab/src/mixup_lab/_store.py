"""The study folder as written by ``mixup compare``, read back: the study record and every finished run.

The study folder::

    <out>/study.json                          config, class names, critical classes, data-set facts
    <out>/runs/<arm>/seed-<s>/predictions.npz test-split softmax ``probs`` (N, C) and ``labels`` (N,)
    <out>/runs/<arm>/seed-<s>/metrics.json    the run's metrics (written last: marks the run finished)
    <out>/runs/<arm>/seed-<s>/history.json    per-epoch training loss and seconds

`load_study` reads it into a `Study` of `StoredRun`; the statistics are `mixup_lab._stats`, the
rendering `mixup_lab._report` and `mixup_lab._html`.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["StoredRun", "Study", "load_study"]


@dataclass(frozen=True)
class StoredRun:
    """One finished run of a study folder.

    Args:
        arm: the arm's name (from ``metrics.json``; the folder name when it is missing).
        seed: the run's seed.
        folder: ``<out>/runs/<arm>/seed-<s>``.
        metrics: the contents of ``metrics.json``.
    """

    arm: str
    seed: int
    folder: Path
    metrics: dict[str, Any]

    @property
    def has_predictions(self) -> bool:
        """Whether ``predictions.npz`` is there."""
        return (self.folder / "predictions.npz").is_file()

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """The stored test-split ``probs`` ``(N, C)`` and ``labels`` ``(N,)``.

        Raises:
            FileNotFoundError: the run folder has no ``predictions.npz``.
        """
        path = self.folder / "predictions.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the run of arm {self.arm!r}, seed {self.seed} has no stored predictions")
        with np.load(path) as npz:
            return np.asarray(npz["probs"]), np.asarray(npz["labels"])


@dataclass
class Study:
    """A study folder as read by `load_study`.

    Args:
        out_dir: the study folder.
        record: the contents of ``study.json``.
        arms: arm names, in config order (arms found only on disk last).
        baseline: the baseline arm (the first arm without a mixer), or ``None``.
        seeds: the seeds of the config (plus any found on disk).
        class_names: one name per class.
        critical_classes: indices of the critical classes.
        runs: the finished runs.
        mixers: each arm's mixer config (``None`` for the baseline).
    """

    out_dir: Path
    record: dict[str, Any]
    arms: list[str]
    baseline: str | None
    seeds: list[int]
    class_names: list[str]
    critical_classes: list[int]
    runs: list[StoredRun] = field(default_factory=list)
    mixers: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, Any]:
        """The study config as stored (a mapping)."""
        cfg = self.record.get("config")
        return cfg if isinstance(cfg, dict) else {}

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def runs_of(self, arm: str) -> list[StoredRun]:
        """The finished runs of an arm, by seed."""
        return sorted((r for r in self.runs if r.arm == arm), key=lambda r: r.seed)

    def missing(self) -> list[tuple[str, int]]:
        """``(arm, seed)`` pairs of the config that have no finished run."""
        done = {(r.arm, r.seed) for r in self.runs}
        return [(a, s) for a in self.arms for s in self.seeds if (a, s) not in done]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); delete the file to redo this part of the study") from None


def _seed_of(folder: Path) -> int | None:
    m = re.fullmatch(r"seed-(-?\d+)", folder.name)
    return int(m.group(1)) if m else None


def load_study(out_dir: str | Path) -> Study:
    """Read ``study.json`` and every finished run (``metrics.json`` present) of a study folder.

    Runs without ``metrics.json`` (interrupted or still running) are left out; `Study.missing`
    lists the arm × seed pairs of the config that have no finished run.

    Args:
        out_dir: the study folder written by ``mixup compare``.

    Raises:
        FileNotFoundError: the folder has no ``study.json``.
        ValueError: ``study.json`` or a ``metrics.json`` is not valid JSON (the message names the file).

    Examples:
        >>> study = load_study("runs/digits")   # doctest: +SKIP
        >>> [(r.arm, r.seed, r.metrics["accuracy"]) for r in study.runs]   # doctest: +SKIP
    """
    out = Path(out_dir)
    path = out / "study.json"
    if not path.is_file():
        raise FileNotFoundError(f"out_dir {str(out)!r} is not a study folder: it has no study.json (run `mixup compare` first)")
    record = _read_json(path)
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(record).__name__}")
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    arm_cfgs = [a for a in config.get("arms", []) if isinstance(a, dict) and "name" in a]
    arms = [str(a["name"]) for a in arm_cfgs]
    mixers: dict[str, Any] = {str(a["name"]): a.get("mixer") for a in arm_cfgs}
    seeds = [int(s) for s in config.get("seeds", [])]

    runs: list[StoredRun] = []
    seen: set[tuple[str, int]] = set()
    for mpath in sorted(out.glob("runs/*/seed-*/metrics.json")):
        metrics = _read_json(mpath)
        if not isinstance(metrics, dict):
            raise ValueError(f"{mpath}: expected a JSON object, got {type(metrics).__name__}")
        arm = str(metrics.get("arm", mpath.parent.parent.name))
        seed = metrics.get("seed", _seed_of(mpath.parent))
        if seed is None:
            continue
        key = (arm, int(seed))
        if key in seen:
            warnings.warn(f"{mpath}: a second finished run of arm {arm!r}, seed {seed}; ignored", stacklevel=2)
            continue
        seen.add(key)
        runs.append(StoredRun(arm, int(seed), mpath.parent, metrics))
        if arm not in arms:
            arms.append(arm)
        if "mixer" in metrics:  # an arm is labelled by what its runs stored, never by the latest call
            mixers[arm] = metrics["mixer"]
        elif arm not in mixers:
            mixers[arm] = None
        if int(seed) not in seeds:
            seeds.append(int(seed))

    baseline = next((a for a in arms if a in mixers and mixers[a] is None), None)
    names = record.get("class_names")
    num_classes = record.get("num_classes")
    if not names:
        if num_classes is None and runs:
            num_classes = runs[0].metrics.get("num_classes") or len(runs[0].metrics.get("per_class_recall") or [])
        names = [str(i) for i in range(int(num_classes or 0))]
    critical = record.get("critical_classes")
    if critical is None:
        critical = runs[0].metrics.get("critical_classes", []) if runs else []
    return Study(
        out_dir=out,
        record=record,
        arms=arms,
        baseline=baseline,
        seeds=seeds,
        class_names=[str(n) for n in names],
        critical_classes=[int(k) for k in critical],
        runs=sorted(runs, key=lambda r: (arms.index(r.arm), r.seed)),
        mixers=mixers,
    )
