"""A wall-clock budget for ``mixup compare``: calibrate, plan epochs × arms × seeds, and stop before overrunning.

``train.budget`` (or ``mixup compare --budget 10m``) replaces ``train.epochs`` by a plan made on this
machine, now:

1. **Calibration**: after an untimed warm-up pass of every arm, every arm trains two epochs on a few
   batches of the training split (the whole split when an epoch is that short), with the study's
   model, optimiser and mixer, and is evaluated on the whole test split. The second epoch's wall time,
   scaled to a full epoch, is the arm's *seconds per epoch*; the rest (model set-up, the first epoch's
   warm-up, evaluation) is its *seconds per run*.
2. **Plan**: the most epochs ``E`` (at most `MAX_EPOCHS`) such that every arm × seed, at ``E`` epochs,
   fits in 90 % of what is left of the budget after calibration. Every arm gets the same ``E``. When not
   even one epoch fits, seeds are dropped down to 2 (the fewest a paired verdict needs); when that does
   not fit either, the study stops before training and says the smallest budget that would.
3. **Run**: the runs go seed by seed (every arm of seed 0, then of seed 1 …). Before a seed starts, its
   runs' planned time, scaled by how the finished runs compared with their plan (the machine's load now),
   must fit in what is left, and so must each later run of the seed; otherwise the study stops there
   and the report is labelled partial.

The budget covers calibration, training and evaluation; loading the data before it and writing the
report after it are not counted. ``budget.json`` in the study folder keeps the plan and what happened.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Subset

from mixup_core import ConfigError

__all__ = ["MAX_EPOCHS", "ArmTiming", "BudgetClock", "BudgetPlan", "calibrate", "parse_budget", "plan_budget"]

MAX_EPOCHS = 500
"""The most epochs a budget plans, however short an epoch is."""

BUDGET_FILE = "budget.json"
_SAFETY = 0.9  # share of the remaining budget the plan fills: the rest absorbs timing noise
_CAL_BATCHES = 4
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_budget(value: Any) -> float:
    """Seconds of a budget: a number of seconds, or text such as ``"90s"``, ``"10m"``, ``"1.5h"``, ``"1h30m"``.

    Raises:
        ConfigError: anything else, or a budget that is not positive.

    Examples:
        >>> parse_budget("10m"), parse_budget("1h30m"), parse_budget(45)
        (600.0, 5400.0, 45.0)
    """
    if isinstance(value, bool):
        raise ConfigError(f"train.budget: a duration such as 90s, 10m or 1h (got {value!r})")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*(\d+(\.\d+)?\s*[smh]?\s*)+", value.lower()):
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smh]?)", value.lower())
        if len(parts) > 1 and any(not unit for _, unit in parts):
            raise ConfigError(f"train.budget: a duration such as 90s, 10m or 1h30m (got {value!r})")
        seconds = sum(float(n) * _UNITS[unit or "s"] for n, unit in parts)
    else:
        raise ConfigError(f"train.budget: a duration such as 90s, 10m or 1h30m (got {value!r})")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"train.budget: must be positive (got {value!r})")
    return seconds


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class ArmTiming:
    """How long one arm takes on this machine, from the calibration.

    Args:
        arm: the arm's name.
        epoch_seconds: one full epoch of training (with the validation pass when there is one).
        run_seconds: the rest of a run: model set-up, the first epoch's warm-up, evaluation.
    """

    arm: str
    epoch_seconds: float
    run_seconds: float

    def seconds(self, epochs: int) -> float:
        """The planned wall time of one run of ``epochs`` epochs."""
        return self.run_seconds + epochs * self.epoch_seconds


@dataclass
class BudgetPlan:
    """The plan of a budgeted study.

    Args:
        budget: the budget in seconds.
        epochs: the epochs of every run.
        seeds: the seeds planned (the config's, or its first ones when they do not all fit).
        arms: the arms, in run order.
        timings: each arm's calibration.
        calibration_seconds: the wall time the calibration took (part of the budget).
        planned_seconds: calibration plus every planned run.
        dropped_seeds: the config's seeds left out to fit.
        capped: ``True`` when `MAX_EPOCHS` (not the budget) bounded the epochs.
        fixed: ``True`` when the epochs were fixed by the study folder (a resumed study), not planned.
    """

    budget: float
    epochs: int
    seeds: list[int]
    arms: list[str]
    timings: dict[str, ArmTiming]
    calibration_seconds: float
    planned_seconds: float
    dropped_seeds: list[int] = field(default_factory=list)
    capped: bool = False
    fixed: bool = False

    def describe(self) -> str:
        """``"baseline + 2 mixers × 3 seeds, 6 epochs each, about 9 min (budget 10 min)"``."""
        mixers = len(self.arms) - 1
        arms = (f"{self.arms[0]} + {mixers} mixer{'s' if mixers != 1 else ''}" if mixers else self.arms[0])
        text = (f"{arms} × {len(self.seeds)} seed{'s' if len(self.seeds) != 1 else ''}, {self.epochs} epoch"
                f"{'s' if self.epochs != 1 else ''} each, about {_minutes(self.planned_seconds)} "
                f"(budget {_minutes(self.budget)}, calibration {self.calibration_seconds:.1f} s included)")
        if self.dropped_seeds:
            text += f"; seeds {', '.join(map(str, self.dropped_seeds))} left out to fit"
        if self.capped:
            text += f"; {MAX_EPOCHS} epochs is the most a budget plans"
        if self.fixed:
            text += "; epochs fixed by the study folder"
        return text

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (`BudgetPlan.from_json` reads it back)."""
        out = asdict(self)
        out["timings"] = {k: asdict(v) for k, v in self.timings.items()}
        out["description"] = self.describe()
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> BudgetPlan:
        """The plan stored by `to_json`."""
        keep = {k: raw[k] for k in ("budget", "epochs", "seeds", "arms", "calibration_seconds", "planned_seconds",
                                    "dropped_seeds", "capped", "fixed") if k in raw}
        return cls(timings={k: ArmTiming(**v) for k, v in raw.get("timings", {}).items()}, **keep)


def plan_budget(
    budget: float,
    timings: dict[str, ArmTiming],
    *,
    arms: Sequence[str],
    seeds: Sequence[int],
    elapsed: float,
    finished: set[tuple[str, int]] | None = None,
    fixed_epochs: int | None = None,
) -> BudgetPlan:
    """Plan epochs and seeds so that every unfinished arm × seed fits in the budget (see the module docstring).

    Args:
        budget: seconds in all.
        timings: each arm's `ArmTiming`.
        arms: the arms to run.
        seeds: the seeds asked for, in order (dropped from the end, down to 2, when they do not fit).
        elapsed: seconds of the budget already spent (the calibration).
        finished: ``(arm, seed)`` runs already in the study folder (not planned again).
        fixed_epochs: the epochs of a study folder that already has runs (only the seeds are planned).

    Raises:
        ConfigError: not even one epoch of every arm over 2 seeds fits; the message gives the budget that would.
    """
    done = finished or set()
    left = max(0.0, budget - elapsed) * _SAFETY

    def cost(epochs: int, planned: Sequence[int]) -> float:
        return sum(timings[a].seconds(epochs) for s in planned for a in arms if (a, s) not in done)

    def unit(planned: Sequence[int]) -> tuple[float, float]:  # (seconds per epoch, seconds per run) over the todo
        todo = [(a, s) for s in planned for a in arms if (a, s) not in done]
        return sum(timings[a].epoch_seconds for a, _ in todo), sum(timings[a].run_seconds for a, _ in todo)

    counts = list(range(len(seeds), min(2, len(seeds)) - 1, -1))
    for count in counts:
        planned = list(seeds[:count])
        per_epoch, per_run = unit(planned)
        if fixed_epochs is not None:
            epochs = fixed_epochs
            fits = cost(epochs, planned) <= left
        elif per_epoch <= 0:
            epochs, fits = 1, True
        else:
            epochs = int(min(MAX_EPOCHS, math.floor((left - per_run) / per_epoch)))
            fits = epochs >= 1
        if fits or (count == counts[-1] and fixed_epochs is not None):
            capped = fixed_epochs is None and epochs == MAX_EPOCHS and per_epoch > 0
            return BudgetPlan(budget, max(1, epochs), planned, list(arms), dict(timings), elapsed,
                              elapsed + cost(max(1, epochs), planned), [s for s in seeds if s not in planned],
                              capped, fixed_epochs is not None)
    one = cost(1, list(seeds[: counts[-1]]))
    need = elapsed + one / _SAFETY
    raise ConfigError(f"train.budget: one epoch of every arm over {counts[-1]} seed{'s' if counts[-1] != 1 else ''} "
                      f"takes about {one:.0f} s on this machine (measured), over the budget of "
                      f"{_minutes(budget)}; give at least {math.ceil(need)}s, a smaller model or fewer arms "
                      f"(got {_minutes(budget)})")


def _stamp(marks: list[float]) -> Callable[..., None]:
    """An epoch callback that appends the time at the end of each epoch to ``marks``."""
    return lambda *_: marks.append(time.perf_counter())


def calibrate(
    cfg: Any, study: Any, arms: Sequence[Any], *, train: Callable[..., Any] | None = None, batches: int = _CAL_BATCHES
) -> dict[str, ArmTiming]:
    """Time every arm on this machine: two epochs on ``batches`` batches of training data, then evaluation.

    Args:
        cfg: the study (`StudyConfig`).
        study: its loaded data (`StudyData`).
        arms: the arms (`ArmConfig`).
        train: the training function (default `mixup_lab._runner.train_and_evaluate`).
        batches: training batches per calibration epoch (the whole split when an epoch has no more).
    """
    if train is None:
        from ._runner import train_and_evaluate

        train = train_and_evaluate
    from ._runner import StudyData

    data = study.data
    n = len(data.train)
    bs = min(cfg.train.batch_size, n)
    held = 1 - (cfg.train.val_fraction or 0.0)
    full_batches = max(1, math.ceil(n * held / bs))
    if full_batches <= batches:
        sub, scale = data, 1.0
    else:
        keep = np.sort(np.random.default_rng(0).permutation(n)[: math.ceil(batches * bs / held)])
        sub = replace(data, train=Subset(data.train, keep.tolist()), train_groups=None)
        scale = full_batches / max(1, math.ceil(len(keep) * held / bs))
    short = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 2, "checkpoint": "none"})})
    sub_study = StudyData(sub, study.critical_classes, None)
    timings: dict[str, ArmTiming] = {}
    # one untimed pass of every arm first, on a few test examples: the process's and each mixer's one-time costs
    # (imports, first kernels) are not a run's
    warm = cfg.model_copy(update={"train": short.train.model_copy(update={"epochs": 1})})
    few = StudyData(
        replace(sub, test=Subset(sub.test, list(range(min(len(sub.test), bs))))), study.critical_classes, None
    )
    for arm in arms:
        train(warm, arm, 0, few)
    for arm in arms:
        marks: list[float] = []
        start = time.perf_counter()
        train(short, arm, 0, sub_study, epoch_callback=_stamp(marks))
        end = time.perf_counter()
        epoch = (marks[1] - marks[0]) if len(marks) >= 2 else (end - start) / 2
        rest = max(0.0, (end - start) - 2 * epoch)
        timings[arm.name] = ArmTiming(arm.name, epoch * scale, rest)
    return timings


class BudgetClock:
    """Admits the runs of a budgeted study seed by seed while they fit, and records what happened.

    Args:
        plan: the plan.
        start: ``time.perf_counter()`` when the budget started (before the calibration).
    """

    def __init__(self, plan: BudgetPlan, start: float) -> None:
        self.plan = plan
        self.start = start
        self.planned_done = 0.0
        self.actual_done = 0.0
        self.admitted_seed: int | None = None
        self.runs: list[dict[str, Any]] = []
        self.stopped: dict[str, Any] | None = None

    @property
    def load(self) -> float:
        """Actual over planned seconds of the finished runs (1 before any): how the machine runs now."""
        return self.actual_done / self.planned_done if self.planned_done > 0 else 1.0

    def admit(self, todo: Sequence[tuple[str, int]], index: int) -> bool:
        """Whether run ``todo[index]`` may start: at the first run of a seed every run of that seed must fit,
        later only this run (with the load measured so far)."""
        arm, seed = todo[index]
        group = [arm] if seed == self.admitted_seed else [a for a, s in todo[index:] if s == seed]
        need = sum(self.plan.timings[a].seconds(self.plan.epochs) for a in group) * self.load
        elapsed = time.perf_counter() - self.start
        if elapsed + need > self.plan.budget:
            left = len(todo) - index
            self.stopped = {"at": {"arm": arm, "seed": seed}, "elapsed": elapsed, "needed": need, "runs_left": left}
            return False
        self.admitted_seed = seed
        return True

    def record(self, arm: str, seed: int, seconds: float) -> None:
        """A finished run and its wall time."""
        planned = self.plan.timings[arm].seconds(self.plan.epochs)
        self.planned_done += planned
        self.actual_done += seconds
        self.runs.append({"arm": arm, "seed": seed, "planned": planned, "actual": seconds})

    def outcome(self) -> dict[str, Any]:
        """The plan and what happened, as stored in ``budget.json``."""
        return {"plan": self.plan.to_json(), "actual_seconds": time.perf_counter() - self.start, "runs": self.runs,
                "stopped": self.stopped, "partial": self.stopped is not None}


def write_outcome(out: Path, clock: BudgetClock) -> None:
    """Write ``budget.json`` (atomically)."""
    path = out / BUDGET_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(clock.outcome(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_outcome(out: Path) -> dict[str, Any] | None:
    """The stored ``budget.json`` of a study folder, or ``None``."""
    try:
        raw = json.loads((Path(out) / BUDGET_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def budget_lines(outcome: dict[str, Any] | None) -> list[str]:
    """The report's section on the budget (none without one)."""
    if not outcome:
        return []
    plan = outcome.get("plan") or {}
    lines = ["## Time budget", "", f"- Plan: {plan.get('description', '—')}."]
    actual, runs = outcome.get("actual_seconds"), outcome.get("runs") or []
    planned = (plan.get("calibration_seconds") or 0.0) + sum(r["planned"] for r in runs)
    if actual is not None and runs and planned:
        lines.append(f"- Wall time: {actual:.1f} s actual vs {planned:.1f} s planned for the {len(runs)} run"
                     f"{'s' if len(runs) != 1 else ''} done (calibration included; {100 * (actual / planned - 1):+.0f} "
                     f"%), budget {plan.get('budget', 0):.0f} s.")
    stop = outcome.get("stopped")
    if stop:
        lines.append(f"- **Partial**: stopped before arm {stop['at']['arm']!r}, seed {stop['at']['seed']} "
                     f"({stop['runs_left']} run{'s' if stop['runs_left'] != 1 else ''} left): {stop['elapsed']:.1f} s "
                     f"spent, and the next runs need about {stop['needed']:.1f} s at the speed measured, which would "
                     "overrun the budget. Run the same command again to finish them (the budget then applies "
                     "to the runs left).")
    return [*lines, ""]


def _stored_study(out: Path) -> dict[str, Any] | None:
    try:
        raw = json.loads((Path(out) / "study.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def with_stored_epochs(cfg: Any, out: Path) -> Any:
    """``cfg`` with the epochs of the study stored in ``out`` (a budgeted study resumes with its planned epochs)."""
    stored = _stored_study(out)
    epochs = ((stored or {}).get("config") or {}).get("train", {}).get("epochs")
    if not isinstance(epochs, int) or epochs == cfg.train.epochs:
        return cfg
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": epochs})})


def prepare(
    cfg: Any,
    study: Any,
    out: Path,
    arms: Sequence[Any],
    seeds: Sequence[int],
    *,
    finished: set[tuple[str, int]],
    announce: Callable[[str], None] | None = None,
) -> tuple[Any, list[int], BudgetClock]:
    """Calibrate (or reuse the stored calibration), plan, announce the plan, and return the planned study.

    Returns:
        ``(cfg, seeds, clock)``: the study with the planned epochs (and seeds), the seeds to run, and the
        `BudgetClock` that admits the runs.
    """
    budget = parse_budget(cfg.train.budget)
    start = time.perf_counter()
    names = [a.name for a in arms]
    stored_plan = (read_outcome(out) or {}).get("plan")
    timings: dict[str, ArmTiming] = {}
    if isinstance(stored_plan, dict):
        timings = {k: v for k, v in BudgetPlan.from_json(stored_plan).timings.items() if k in names}
    has_runs = _stored_study(out) is not None and bool(finished)
    if set(timings) != set(names):
        timings = calibrate(cfg, study, arms)
    plan = plan_budget(budget, timings, arms=names, seeds=list(seeds), elapsed=time.perf_counter() - start,
                       finished=finished, fixed_epochs=cfg.train.epochs if has_runs else None)
    if announce is not None:
        announce(f"plan: {plan.describe()}")
    planned = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": plan.epochs}),
                                     "seeds": [s for s in cfg.seeds if s not in plan.dropped_seeds] or plan.seeds})
    return planned, plan.seeds, BudgetClock(plan, start)
