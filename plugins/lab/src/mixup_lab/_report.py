"""Read a study folder, aggregate its runs over seeds, compare every arm with the baseline, write the report.

The study folder (written by ``mixup compare``)::

    <out>/study.json                          config, class names, critical classes, data-set facts
    <out>/runs/<arm>/seed-<s>/predictions.npz test-split softmax ``probs`` (N, C) and ``labels`` (N,)
    <out>/runs/<arm>/seed-<s>/metrics.json    the run's metrics (written last: marks the run finished)
    <out>/runs/<arm>/seed-<s>/history.json    per-epoch training loss and seconds
    <out>/report.md, report.html, report.json, plots/  written by `write_report`
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._metrics import METRIC_LABELS, PERCENT_METRICS, metric_direction

__all__ = [
    "BUSINESS_METRICS",
    "SUMMARY_METRICS",
    "StoredRun",
    "Study",
    "headline_lines",
    "load_study",
    "paired_comparison",
    "summarise",
    "verdict_lines",
    "write_report",
]

SUMMARY_METRICS: tuple[str, ...] = ("accuracy", "error_rate", "macro_f1", "nll", "ece", "brier", "critical_recall")
"""The scalar metrics aggregated over seeds and compared with the baseline."""

# the verdict sentence leaves out error_rate: it is 1 − accuracy
_VERDICT_METRICS = ("accuracy", "macro_f1", "nll", "ece", "brier", "critical_recall")
_PLOT_METRICS = ("accuracy", "macro_f1", "nll", "ece", "critical_recall")

Verdict = Literal["better", "worse", "within noise", "too few seeds to tell", "too few distinct seeds to tell"]
BUSINESS_METRICS: tuple[str, ...] = ("cost_per_1000", "coverage", "deferred_per_1000", "selective_accuracy")
"""Business measures the report computes from the stored predictions when the config's ``business`` asks."""


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


# --------------------------------------------------------------------------------------------- statistics


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def _stats(values: Sequence[float | None]) -> dict[str, Any]:
    vals = np.array([v for v in values if v is not None], dtype=np.float64)
    n = int(vals.size)
    return {
        "mean": float(vals.mean()) if n else None,
        "sd": float(vals.std(ddof=1)) if n >= 2 else None,
        "n": n,
    }


def paired_comparison(
    values: Mapping[int, float | None],
    baseline_values: Mapping[int, float | None],
    *,
    metric: str,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Compare an arm with the baseline over the seeds both have (a paired design).

    The difference of each seed is ``arm − baseline``. With ``n ≥ 2`` paired seeds, the p-value
    is the two-sided paired t-test's (``scipy.stats.ttest_rel``) and the confidence interval of
    the mean difference uses the t distribution with ``n − 1`` degrees of freedom. The verdict is
    ``"within noise"`` when the interval contains 0, ``"too few seeds to tell"`` with fewer than
    2 paired seeds, else ``"better"`` or ``"worse"`` by the metric's direction (`metric_direction`).
    When every seed's difference is the same, the interval is that single value and p is 0 (or 1
    when the difference is 0).

    Args:
        values: the arm's value per seed (``None`` values are left out).
        baseline_values: the baseline's value per seed.
        metric: the metric's name (sets which direction is better).
        confidence: the confidence level of the interval.

    Returns:
        ``{"metric", "direction", "n", "seeds", "differences", "mean_diff", "sd_diff", "t",
        "p_value", "ci_low", "ci_high", "confidence", "verdict"}`` (``None`` where undefined).

    Examples:
        >>> c = paired_comparison({0: 0.85, 1: 0.87, 2: 0.86}, {0: 0.80, 1: 0.82, 2: 0.80}, metric="accuracy")
        >>> c["verdict"], round(c["mean_diff"], 4)
        ('better', 0.0533)
    """
    from scipy import stats

    direction = metric_direction(metric)
    seeds = sorted(s for s in values if _num(values[s]) is not None and _num(baseline_values.get(s)) is not None)
    a = np.array([_num(values[s]) for s in seeds], dtype=np.float64)
    b = np.array([_num(baseline_values[s]) for s in seeds], dtype=np.float64)
    d = a - b
    n = len(seeds)
    out: dict[str, Any] = {
        "metric": metric,
        "direction": direction,
        "n": n,
        "seeds": seeds,
        "differences": [float(x) for x in d],
        "mean_diff": float(d.mean()) if n else None,
        "sd_diff": None,
        "t": None,
        "p_value": None,
        "ci_low": None,
        "ci_high": None,
        "confidence": confidence,
        "verdict": "too few seeds to tell",
    }
    if n < 2:
        return out
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd <= 1e-9 * max(1.0, abs(mean)):  # every seed differs by the same amount (to rounding): no spread to judge by
        if abs(mean) <= 1e-12:
            out.update(sd_diff=0.0, t=0.0, p_value=1.0, ci_low=0.0, ci_high=0.0, verdict="within noise")
        else:
            out.update(sd_diff=0.0, verdict="too few distinct seeds to tell")
        return out
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sd / math.sqrt(n)
    if sd > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nearly equal differences: precision warning
            res = stats.ttest_rel(a, b)
        t, p = float(res.statistic), float(res.pvalue)
    else:
        t = math.copysign(math.inf, mean) if mean else 0.0
        p = 0.0 if mean else 1.0
    out.update(
        sd_diff=sd,
        t=t if math.isfinite(t) else None,
        p_value=p if math.isfinite(p) else None,
        ci_low=mean - half,
        ci_high=mean + half,
    )
    if mean - half <= 0 <= mean + half:
        out["verdict"] = "within noise"
    else:
        improved = mean > 0 if direction == "maximize" else mean < 0
        out["verdict"] = "better" if improved else "worse"
    return out


def _overview(study: Study) -> dict[str, Any]:
    cfg = study.config
    rec = study.record
    return {
        "name": cfg.get("name", study.out_dir.name),
        "folder": str(study.out_dir),
        "dataset": cfg.get("dataset"),
        "model": cfg.get("model"),
        "train": cfg.get("train"),
        "critical": cfg.get("critical"),
        "seeds": study.seeds,
        "setup_hash": rec.get("setup_hash"),
        "num_classes": study.num_classes,
        "class_names": study.class_names,
        "critical_classes": study.critical_classes,
        "critical_class_names": [study.class_names[k] if k < study.num_classes else str(k) for k in study.critical_classes],
        "dataset_info": rec.get("dataset_info", {}),
        "train_size": rec.get("train_size"),
        "test_size": rec.get("test_size"),
    }


def summarise(study: Study) -> dict[str, Any]:
    """Aggregate a study over seeds and compare every arm with the baseline.

    Args:
        study: a study folder read by `load_study`.

    Returns:
        A JSON-ready mapping:

        - ``study``: data set, model, budget, seeds, classes, critical classes.
        - ``baseline``: the baseline arm or ``None`` (then ``comparisons`` is empty).
        - ``runs``: ``{"finished", "expected", "missing": [{"arm", "seed"}]}``.
        - ``arms[arm]``: ``mixer``, ``seeds`` (finished, sorted), ``metrics[metric]`` with ``mean``, ``sd`` (sample standard deviation, ``None`` below 2 values), ``n`` and ``values`` (one per seed of ``seeds``, ``None`` where undefined), ``per_class_recall`` (``mean``, ``sd``, ``n`` lists over classes and per-seed ``values``), ``critical_class_recall[str(class)]`` and ``train_seconds``.
        - ``comparisons[arm][metric]``: `paired_comparison` against the baseline.
        - ``verdict``: the plain-language lines of `verdict_lines`.

    Examples:
        >>> summary = summarise(load_study("runs/digits"))   # doctest: +SKIP
        >>> summary["comparisons"]["mixup"]["accuracy"]["verdict"]   # doctest: +SKIP
        'within noise'
    """
    c = study.num_classes
    business = _apply_business(study)
    metric_names = [*SUMMARY_METRICS, *business["metrics"]]
    arms: dict[str, Any] = {}
    for arm in study.arms:
        runs = study.runs_of(arm)
        seeds = [r.seed for r in runs]
        metrics = {}
        for m in metric_names:
            vals = [_num(r.metrics.get(m)) for r in runs]
            metrics[m] = {**_stats(vals), "values": vals}
        per_seed = []
        for r in runs:
            rec = list(r.metrics.get("per_class_recall") or [])
            per_seed.append([_num(rec[k]) if k < len(rec) else None for k in range(c)])
        per_class = [_stats([row[k] for row in per_seed]) for k in range(c)]
        crit: dict[str, Any] = {}
        for k in study.critical_classes:
            vals = [_num((r.metrics.get("critical_class_recall") or {}).get(str(k))) for r in runs]
            if all(v is None for v in vals):  # older metrics: fall back to the per-class recall
                vals = [row[k] if k < c else None for row in per_seed]
            crit[str(k)] = {**_stats(vals), "values": vals}
        arms[arm] = {
            "mixer": study.mixers.get(arm),
            "is_baseline": arm == study.baseline,
            "n_runs": len(runs),
            "seeds": seeds,
            "metrics": metrics,
            "per_class_recall": {
                "mean": [s["mean"] for s in per_class],
                "sd": [s["sd"] for s in per_class],
                "n": [s["n"] for s in per_class],
                "values": per_seed,
            },
            "critical_class_recall": crit,
            "train_seconds": _stats([_num(r.metrics.get("train_seconds")) for r in runs]),
        }

    comparisons: dict[str, Any] = {}
    base = study.baseline
    if base is not None:
        bseeds = arms[base]["seeds"]
        for arm in study.arms:
            if arm == base:
                continue
            comparisons[arm] = {}
            for m in metric_names:
                a_vals = dict(zip(arms[arm]["seeds"], arms[arm]["metrics"][m]["values"], strict=True))
                b_vals = dict(zip(bseeds, arms[base]["metrics"][m]["values"], strict=True))
                comparisons[arm][m] = paired_comparison(a_vals, b_vals, metric=m)

    missing = study.missing()
    summary = {
        "study": _overview(study),
        "metrics": list(SUMMARY_METRICS),
        "directions": {m: metric_direction(m) for m in SUMMARY_METRICS},
        "baseline": base,
        "arm_order": list(study.arms),
        "runs": {
            "finished": len(study.runs),
            "expected": len(study.arms) * len(study.seeds),
            "missing": [{"arm": a, "seed": s} for a, s in missing],
        },
        "arms": arms,
        "comparisons": comparisons,
        "provenance_differs": _provenance_differences(study.runs),
        "business": {**business["settings"], "metrics": business["metrics"]},
        "groups": _group_summary(study, base),
        "protection": _protection_from_audits(study),
    }
    summary["metrics"] = metric_names
    if business["settings"].get("holm"):
        _holm(comparisons)
    summary["verdict"] = _verdict_lines(summary)
    summary["headline"] = _headlines(summary)
    summary.update(_advice(study, summary))
    return summary


def _advice(study: Study, summary: Mapping[str, Any]) -> dict[str, Any]:
    """What the study's own figures advise: seeds needed, why an arm is worse, the budget, the data checks."""
    from ._budget import read_outcome
    from ._datacheck import CHECKS_FILE
    from ._diagnose import diagnose
    from ._power import seed_advice

    primary = "cost_per_1000" if (summary.get("business") or {}).get("prices_errors") else "accuracy"
    advice = [seed_advice(arm, cs[primary]) for arm, cs in summary["comparisons"].items() if primary in cs]
    try:
        checks = json.loads((study.out_dir / CHECKS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        checks = []
    return {"seeds_advice": [a.to_json() for a in advice if a is not None], "diagnosis": diagnose(study, summary),
            "budget": read_outcome(study.out_dir), "data_checks": checks if isinstance(checks, list) else []}


def advice_markdown(summary: Mapping[str, Any], part: Literal["top", "after_verdict"]) -> list[str]:
    """The report's sections on the budget and data checks (``top``), or on seeds and worse arms (``after_verdict``)."""
    from ._budget import budget_lines
    from ._datacheck import finding_lines
    from ._diagnose import diagnosis_lines
    from ._power import advice_lines

    if part == "top":
        budget = summary.get("budget") or {}
        label = []
        if budget.get("partial"):
            runs = summary["runs"]
            label = [(f"**Partial report**: the time budget ran out after {runs['finished']} of {runs['expected']} "
                      "runs; the numbers below cover the finished runs only (see *Time budget*)."), ""]
        return [*label, *budget_lines(budget or None), *finding_lines(summary.get("data_checks") or [])]
    return [*advice_lines(summary.get("seeds_advice") or [], base=str(summary["baseline"]), percent=PERCENT_METRICS),
            *diagnosis_lines(summary.get("diagnosis") or {}, base=summary["baseline"])]


def headline_lines(out_dir: str | Path) -> list[str]:
    """The one-sentence headline of every arm of a study folder (what ``mixup compare`` prints)."""
    return list(summarise(load_study(out_dir))["headline"])


def _apply_business(study: Study) -> dict[str, Any]:
    """Add the business measures of the config to every run's metrics (in memory, from predictions.npz)."""
    from ._business import cost_matrix, cost_per_1000, group_metrics, selective_metrics, selective_threshold
    from ._config import BusinessConfig

    raw = study.config.get("business") or {}
    try:
        cfg = BusinessConfig.model_validate(raw)
    except Exception:  # a hand-edited study.json: report without business measures rather than fail
        cfg = BusinessConfig()
    names = [str(n) for n in study.class_names]
    metrics: list[str] = []
    if cfg.prices_errors:
        metrics.append("cost_per_1000")
    if cfg.target_accuracy is not None:
        metrics += ["coverage", "deferred_per_1000", "selective_accuracy"]
    costs = None
    if cfg.prices_errors:
        costs = cost_matrix(names, matrix=cfg.cost_matrix, error_cost=cfg.error_cost, miss_cost=cfg.miss_cost,
                            false_alarm_cost=cfg.false_alarm_cost, critical=study.critical_classes)
    groups = study.record.get("test_groups")
    for run in study.runs:
        if not run.has_predictions:
            continue
        probs, labels = run.predictions()
        probs = probs.astype(np.float64)
        if costs is not None:
            run.metrics["cost_per_1000"] = cost_per_1000(probs, labels, costs)
        if cfg.target_accuracy is not None:
            with np.load(run.folder / "predictions.npz") as npz:
                val = (npz["val_probs"].astype(np.float64), npz["val_labels"]) if "val_probs" in npz.files else None
            if val is not None:
                t = selective_threshold(val[0], val[1], cfg.target_accuracy)
                run.metrics.update(selective_metrics(probs, labels, t), selective_threshold=t)
        if isinstance(groups, list) and len(groups) == len(labels):
            run.metrics["group_metrics"] = group_metrics(probs, labels, groups)
    return {"metrics": metrics, "settings": {"target_accuracy": cfg.target_accuracy, "holm": cfg.holm,
                                             "prices_errors": cfg.prices_errors}}


def _protection_from_audits(study: Study) -> dict[str, dict[str, Any]]:
    """Per mixer arm, the critical cases' statistics of its audit trails (see ``mixup audit``)."""
    from ._audit import AUDIT_FILE, load_audit, summarise_audits

    out: dict[str, dict[str, Any]] = {}
    for arm in study.arms:
        files = [r.folder / AUDIT_FILE for r in study.runs_of(arm) if (r.folder / AUDIT_FILE).is_file()]
        if not files or study.mixers.get(arm) is None:
            continue
        try:
            out[arm] = summarise_audits([load_audit(f) for f in files], num_classes=study.num_classes).critical
        except (OSError, ValueError, KeyError):  # an unreadable audit must not cost the report
            continue
    return out


def _group_summary(study: Study, base: str | None) -> dict[str, Any]:
    """Accuracy per group and arm (mean over seeds), the worst group of each arm, and paired comparisons."""
    per_arm: dict[str, dict[str, dict[int, float]]] = {}
    for run in study.runs:
        for group, m in (run.metrics.get("group_metrics") or {}).items():
            per_arm.setdefault(run.arm, {}).setdefault(group, {})[run.seed] = m["accuracy"]
    if not per_arm:
        return {}
    groups = sorted({g for arm in per_arm.values() for g in arm})
    out: dict[str, Any] = {"groups": groups, "accuracy": {}, "worst": {}, "comparisons": {}}
    for arm, by_group in per_arm.items():
        means = {g: float(np.mean(list(v.values()))) for g, v in by_group.items()}
        out["accuracy"][arm] = means
        out["worst"][arm] = min(means, key=lambda g: means[g])
    if base is not None and base in per_arm:
        for arm, by_group in per_arm.items():
            if arm == base:
                continue
            out["comparisons"][arm] = {
                g: paired_comparison(by_group.get(g, {}), per_arm[base].get(g, {}), metric="accuracy") for g in groups
            }
    return out


def _holm(comparisons: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Holm's step-down adjustment over every arm × metric p-value; verdicts follow the adjusted values."""
    tests = [(arm, m, c["p_value"]) for arm, cs in comparisons.items() for m, c in cs.items() if c.get("p_value") is not None]
    tests.sort(key=lambda t: t[2])
    running = 0.0
    for rank, (arm, m, p) in enumerate(tests):
        running = max(running, min(1.0, (len(tests) - rank) * p))
        comp = comparisons[arm][m]
        comp["p_holm"] = running
        if comp["verdict"] in ("better", "worse") and running >= 1 - comp["confidence"]:
            comp["verdict"] = "within noise"
            comp["holm_changed"] = True


def _per_1000(metric: str, value: float) -> float:
    return value * 1000.0 if metric in ("error_rate", "coverage") else value


def _headlines(summary: Mapping[str, Any]) -> list[str]:
    """One sentence per arm in business terms, ending in a plain decision."""
    base = summary["baseline"]
    arms = summary["arms"]
    comps = summary["comparisons"]
    business = summary.get("business") or {}
    groups = summary.get("groups") or {}
    names = summary["study"]["class_names"]
    crit = summary["study"]["critical_classes"]
    out: list[str] = []
    if base is None or arms[base]["n_runs"] == 0:
        return out  # nothing to decide against: the verdict lines say why
    for arm, cs in comps.items():
        if arms[arm]["n_runs"] == 0 or cs["accuracy"]["n"] < 2:
            out.append(f"{arm}: too few paired seeds to decide (a decision needs at least 2).")
            continue
        primary = "cost_per_1000" if business.get("prices_errors") else "error_rate"
        parts, good, bad = [], False, False
        c = cs[primary]
        if c["mean_diff"] is not None:
            diff = _per_1000(primary, c["mean_diff"])
            unit = "cost per 1,000 cases" if primary == "cost_per_1000" else "errors per 1,000"
            word = "fewer" if diff < 0 else "more"
            interval = (f" (95% CI {_per_1000(primary, c['ci_low']):+.1f} to {_per_1000(primary, c['ci_high']):+.1f})"
                        if c["ci_low"] is not None else "")
            amount = f"{abs(diff):.1f} {word} {unit}" if primary == "error_rate" else f"{diff:+.1f} {unit}"
            parts.append(f"{amount}{interval}, {c['verdict']}")
            good |= c["verdict"] == "better"
            bad |= c["verdict"] == "worse"
        if business.get("target_accuracy") is not None and "coverage" in cs:
            cov = cs["coverage"]
            if cov["mean_diff"] is not None:
                d = cov["mean_diff"] * 1000.0
                parts.append(f"{abs(d):.0f} {'more' if d >= 0 else 'fewer'} cases per 1,000 automated at "
                             f"{100 * business['target_accuracy']:g} % accuracy ({cov['verdict']})")
                good |= cov["verdict"] == "better"
                bad |= cov["verdict"] == "worse"
        if crit and "critical_recall" in cs and cs["critical_recall"]["n"] >= 2:
            verdict = cs["critical_recall"]["verdict"]
            label = f"{names[crit[0]]} recall" if len(crit) == 1 and crit[0] < len(names) else "critical recall"
            parts.append(f"{label} {({'worse': 'down', 'better': 'up'}).get(verdict, 'unchanged')}")
            bad |= verdict == "worse"
        if groups.get("comparisons", {}).get(arm):
            worse = [g for g, gc in groups["comparisons"][arm].items() if gc["verdict"] == "worse"]
            parts.append(f"group{'s' if len(worse) > 1 else ''} {', '.join(worse)} worse" if worse else "no group worse")
            bad |= bool(worse)
        decision = "do not adopt" if bad else "adopt" if good else "no clear difference yet (more seeds or the real budget)"
        out.append(f"{arm}: {'; '.join(parts)} → {decision}.")
    return out


def _provenance_differences(runs: Sequence[StoredRun]) -> dict[str, list[str]]:
    """``{fact: distinct values}`` for the run facts (threads, device, versions) that differ between runs."""
    found: dict[str, set[str]] = {}
    for run in runs:
        m = run.metrics
        facts = {"threads": m.get("threads"), "device": m.get("device")}
        facts.update({f"{k} version": v for k, v in (m.get("versions") or {}).items()})
        for key, value in facts.items():
            if value is not None:
                found.setdefault(key, set()).add(str(value))
    return {k: sorted(v) for k, v in found.items() if len(v) > 1}


# --------------------------------------------------------------------------------------------- formatting


def _fmt_value(metric: str, v: float | None) -> str:
    if v is None:
        return "—"
    return f"{100 * v:.2f}" if metric in PERCENT_METRICS else f"{v:.4f}"


def _fmt_mean_sd(metric: str, stats: Mapping[str, Any]) -> str:
    if stats.get("mean") is None:
        return "—"
    text = _fmt_value(metric, stats["mean"])
    if stats.get("sd") is not None:
        text += " ± " + _fmt_value(metric, stats["sd"])
    return text


def _fmt_diff(metric: str, v: float | None) -> str:
    if v is None:
        return "—"
    return f"{100 * v:+.2f} pp" if metric in PERCENT_METRICS else f"{v:+.4f}"


def _fmt_ci(metric: str, lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return "—"
    if metric in PERCENT_METRICS:
        return f"{100 * lo:+.2f} to {100 * hi:+.2f}"
    return f"{lo:+.4f} to {hi:+.4f}"


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _header(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric) + (" (%)" if metric in PERCENT_METRICS else "")


def _has_critical(summary: Mapping[str, Any]) -> bool:
    return bool(summary["study"]["critical_classes"])


def _metrics_shown(summary: Mapping[str, Any]) -> list[str]:
    return [m for m in summary["metrics"] if m != "critical_recall" or _has_critical(summary)]


def _verdict_lines(summary: Mapping[str, Any]) -> list[str]:
    arms = summary["arms"]
    base = summary["baseline"]
    lines: list[str] = []
    if not any(a["n_runs"] for a in arms.values()):
        return ["No finished runs yet: nothing to report."]
    if base is None:
        lines.append("No baseline arm (an arm without a mixer): no paired comparison, only the per-arm numbers.")
        return lines
    if arms[base]["n_runs"] == 0:
        lines.append(f"The baseline arm {base!r} has no finished run yet: no paired comparison.")
        return lines
    if len(arms) == 1:
        lines.append(f"Only the baseline arm {base!r}: nothing to compare it with.")
        return lines
    shown = [m for m in _VERDICT_METRICS if m != "critical_recall" or _has_critical(summary)]
    for arm, comps in summary["comparisons"].items():
        if arms[arm]["n_runs"] == 0:
            lines.append(f"{arm}: no finished run yet.")
            continue
        n = comps["accuracy"]["n"]
        if n < 2:
            lines.append(f"{arm}: too few seeds to tell ({n} seed paired with {base}; a verdict needs at least 2).")
            continue
        differ, noise, tied = [], [], []
        for m in shown:
            comp = comps[m]
            if comp["verdict"] == "too few distinct seeds to tell":
                tied.append(METRIC_LABELS[m])
            elif comp["verdict"] in ("better", "worse"):
                lower_higher = "higher" if comp["mean_diff"] > 0 else "lower"
                differ.append(
                    f"{METRIC_LABELS[m]} {_fmt_diff(m, comp['mean_diff'])} (95% CI {_fmt_ci(m, comp['ci_low'], comp['ci_high'])},"
                    f" p {_fmt_p(comp['p_value'])}): {lower_higher}, {comp['verdict']}"
                )
            elif comp["n"] >= 2:
                noise.append(METRIC_LABELS[m])
        tie_note = (f" Too few distinct seeds to tell on {', '.join(tied)}: every seed differs by exactly the same "
                    "amount, so there is no spread to judge it by; run more seeds.") if tied else ""
        if not differ:
            if tied:
                lines.append(f"{arm}: no difference beyond noise shown ({n} paired seeds).{tie_note}")
            else:
                lines.append(f"{arm}: within noise of {base} on every metric ({n} paired seeds).")
            continue
        text = f"{arm} vs {base} ({n} paired seeds): " + "; ".join(differ)
        if noise:
            text += "; within noise: " + ", ".join(noise)
        lines.append(text + "." + tie_note)
    return lines


def verdict_lines(source: str | Path | Mapping[str, Any]) -> list[str]:
    """The plain-language verdict, one line per arm (what ``mixup compare`` prints at the end).

    Args:
        source: a study folder, or a summary from `summarise`.

    Examples:
        >>> for line in verdict_lines("runs/digits"):   # doctest: +SKIP
        ...     print(line)
        mixup: within noise of baseline on every metric (3 paired seeds).
    """
    if isinstance(source, Mapping):
        return list(source.get("verdict") or _verdict_lines(source))
    return summarise(load_study(source))["verdict"]


def _params(section: Any) -> str:
    if not isinstance(section, Mapping):
        return "—"
    name = section.get("name", "?")
    rest = {k: v for k, v in section.items() if k != "name"}
    return f"`{name}`" + (f" ({', '.join(f'{k}={v}' for k, v in rest.items())})" if rest else "")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _counts_table(counts: Any) -> list[str]:
    """Examples per class and split (``info["counts"]`` of the own-data loaders), as an indented table."""
    if not isinstance(counts, Mapping) or not counts or not all(isinstance(v, Mapping) for v in counts.values()):
        return []
    splits = list(counts)
    classes = list(dict.fromkeys(c for split in splits for c in counts[split]))
    out = ["", "  | class | " + " | ".join(splits) + " |", "  |---|" + "---:|" * len(splits)]
    out += [f"  | {c} | " + " | ".join(str(counts[s].get(c, 0)) for s in splits) + " |" for c in classes]
    out.append("  | **all** | " + " | ".join(str(sum(counts[s].values())) for s in splits) + " |")
    return [*out, ""]


def _business_lines(summary: Mapping[str, Any]) -> list[str]:
    business = summary.get("business") or {}
    shown = [m for m in business.get("metrics", []) if m != "selective_accuracy" or business.get("target_accuracy")]
    if not shown:
        return []
    lines = ["## Business measures", ""]
    if business.get("target_accuracy") is not None:
        lines.append(f"Automation at {100 * business['target_accuracy']:g} % accuracy: each run's confidence threshold "
                     "is chosen on its validation split (carved from training), then applied to the test split.")
        lines.append("")
    lines += ["| arm | " + " | ".join(METRIC_LABELS[m] for m in shown) + " |", "|---|" + "---|" * len(shown)]
    for arm, a in summary["arms"].items():
        cells = []
        for m in shown:
            st = a["metrics"][m]
            comp = (summary["comparisons"].get(arm) or {}).get(m)
            cell = _fmt_mean_sd(m, st)
            if comp and comp.get("mean_diff") is not None:
                cell += f" (Δ {_fmt_diff(m, comp['mean_diff'])}, {comp['verdict']})"
            cells.append(cell)
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _protection_lines(summary: Mapping[str, Any]) -> list[str]:
    prot = {arm: c for arm, c in (summary.get("protection") or {}).items() if c.get("examples")}
    if not prot:
        return []
    lines = ["## Critical cases in the mixes", "",
             "From each arm's audit trail (`mixup audit` shows more): how the critical cases were mixed.", "",
             "| arm | protection | critical examples | appearances in mixes | smallest share | as minority | held |",
             "|---|---|---:|---:|---:|---:|---|"]
    for arm, c in prot.items():
        mode = f"{c.get('protect_mode')} (floor {c.get('floor')})" if c.get("protected") else "off"
        share = "—" if c.get("min_share") is None else f"{c['min_share']:.3f}"
        lines.append(f"| {arm} | {mode} | {c.get('examples')} | {c.get('in_mixes')} | {share} | {c.get('minority')} | "
                     f"{c.get('check') or '—'} |")
    return [*lines, ""]


def _group_lines(summary: Mapping[str, Any]) -> list[str]:
    groups = summary.get("groups") or {}
    if not groups:
        return []
    arms = list(groups["accuracy"])
    note = "Accuracy (%) per group of the test split, mean over seeds; the worst group of each arm is in bold."
    lines = ["## Groups", "", note, "", "| group | " + " | ".join(arms) + " |", "|---|" + "---:|" * len(arms)]
    for g in groups["groups"]:
        cells = []
        for arm in arms:
            v = groups["accuracy"][arm].get(g)
            text = "—" if v is None else f"{100 * v:.2f}"
            comp = (groups["comparisons"].get(arm) or {}).get(g)
            if comp and comp["verdict"] in ("better", "worse"):
                text += f" ({comp['verdict']})"
            cells.append(f"**{text}**" if groups["worst"].get(arm) == g else text)
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _markdown(summary: Mapping[str, Any], plots: Sequence[Path], out: Path) -> str:
    st = summary["study"]
    arms = summary["arms"]
    base = summary["baseline"]
    names = st["class_names"]
    crit = st["critical_classes"]
    shown = _metrics_shown(summary)
    lines = [f"# {st['name']}: mixup compare report", ""]

    # --- setup
    info = st.get("dataset_info") or {}
    sizes = []
    if st.get("train_size") is not None:
        sizes.append(f"{st['train_size']} training / {st.get('test_size')} test examples")
    sizes.append(f"{st['num_classes']} classes")
    lines.append(f"- **Data set**: {_params(st.get('dataset'))} — {', '.join(sizes)}")
    lines += [f"  - {k}: {v}" for k, v in info.items() if not isinstance(v, (dict, list))]
    lines += _counts_table(info.get("counts"))
    lines.append(f"- **Model**: {_params(st.get('model'))}")
    tr = st.get("train") or {}
    if tr:
        budget = (
            f"{tr.get('epochs')} epochs, batch {tr.get('batch_size')}, {tr.get('optimizer')} lr {tr.get('lr')}, "
            f"{tr.get('schedule')} schedule, weight decay {tr.get('weight_decay')}, label smoothing {tr.get('label_smoothing')}"
        )
        lines.append(f"- **Budget** (the same for every arm): {budget}")
    runs = summary["runs"]
    lines.append(
        f"- **Seeds**: {', '.join(str(s) for s in st['seeds']) or '—'} — {runs['finished']} of {runs['expected']} runs finished"
    )
    arm_desc = []
    for arm, a in arms.items():
        mixer = a["mixer"]
        desc = "no mixer" + (", the reference" if arm == base else "") if mixer is None else f"`{json.dumps(mixer)}`"
        arm_desc.append(f"{arm} ({desc})")
    lines.append(f"- **Arms**: {'; '.join(arm_desc)}")
    if crit:
        protect = (st.get("critical") or {}).get("protect")
        lines.append(
            f"- **Critical classes**: {', '.join(f'{names[k] if k < len(names) else k} ({k})' for k in crit)}"
            + (f" — protected while mixing ({(st.get('critical') or {}).get('protect_mode')})" if protect else "")
        )
    if runs["missing"]:
        miss = ", ".join(f"{m['arm']} seed {m['seed']}" for m in runs["missing"])
        lines += ["", f"Not finished yet: {miss}. Run `mixup compare` on the same config again to finish them."]
    differs = summary.get("provenance_differs") or {}
    if differs:
        facts = "; ".join(f"{k}: {', '.join(v)}" for k, v in differs.items())
        lines += ["", (f"**Warning**: the runs of this study differ in {facts}. Results then differ in the last bits; "
                  "rerun the odd ones out with the same settings for an exact comparison.")]
    lines.append("")
    lines += advice_markdown(summary, "top")

    # --- headline: one sentence per arm in the terms the decision is made in
    if summary.get("headline"):
        lines += ["## Headline", ""]
        lines += [f"- {h}" for h in summary["headline"]]
        lines.append("")
    lines += _business_lines(summary)
    lines += _group_lines(summary)
    lines += _protection_lines(summary)

    # --- verdict
    lines += ["## Verdict", ""]
    lines += [f"- {v}" for v in summary["verdict"]]
    lines += [
        "",
        (
            "A difference is *within noise* when the 95% confidence interval of the mean paired difference (arm − "
            "baseline, seed by seed; t distribution) contains 0. Each arm and metric is tested on its own, without a "
            "correction for multiple comparisons, so with many arms an occasional *better* or *worse* can be chance; "
            "more seeds narrow the intervals."
        ),
        "",
    ]
    lines += advice_markdown(summary, "after_verdict")

    # --- metrics table
    lines += ["## Metrics (mean ± sd over seeds)", ""]
    header = ["arm", "n", *(_header(m) for m in shown), "train time (s)"]
    rows = []
    for arm, a in arms.items():
        rows.append(
            [arm, str(a["n_runs"]), *(_fmt_mean_sd(m, a["metrics"][m]) for m in shown),
             f"{a['train_seconds']['mean']:.1f}" if a["train_seconds"]["mean"] is not None else "—"]
        )
    lines += _table(header, rows)
    lines += ["", "sd is the sample standard deviation over seeds (— with a single seed).", ""]

    # --- paired comparison
    lines += ["## Paired comparison with the baseline", ""]
    if base is None:
        lines += ["No baseline arm (an arm without a mixer) in this study, so there is no paired comparison.", ""]
    elif not summary["comparisons"]:
        lines += [f"Only the baseline arm {base!r}: nothing to compare.", ""]
    else:
        rows = []
        for arm, comps in summary["comparisons"].items():
            for m in shown:
                c = comps[m]
                rows.append([arm, METRIC_LABELS[m], str(c["n"]), _fmt_diff(m, c["mean_diff"]),
                             _fmt_ci(m, c["ci_low"], c["ci_high"]), _fmt_p(c["p_value"]), c["verdict"]])
        lines += _table(["arm", "metric", "paired seeds", "Δ vs " + base, "95% CI of Δ", "p (paired t)", "verdict"], rows)
        lines += [
            "",
            (
                "Δ = arm − baseline, averaged over the seeds both have (percentage points for the % metrics). "
                "Higher is better for accuracy, macro-F1 and recall; lower for error rate, NLL, ECE and Brier."
            ),
            "",
        ]

    # --- critical classes
    lines += ["## Recall of the critical classes (%)", ""]
    if not crit:
        lines += ["No critical classes in this study (`critical.classes` in the config).", ""]
    else:
        header = ["arm", *(f"{names[k] if k < len(names) else k} ({k})" for k in crit), "all critical"]
        rows = []
        for arm, a in arms.items():
            cells = [_fmt_mean_sd("critical_recall", a["critical_class_recall"][str(k)]) for k in crit]
            rows.append([arm, *cells, _fmt_mean_sd("critical_recall", a["metrics"]["critical_recall"])])
        lines += _table(header, rows)
        lines += ["", "Mean ± sd over seeds; *all critical* is the recall over every example of the critical classes together.", ""]

    # --- per-class recall
    lines += ["## Per-class recall (%, mean over seeds)", ""]
    header = ["class", *arms.keys()]
    rows = []
    for k, name in enumerate(names):
        label = f"{name} ({k})" + (" ★" if k in crit else "")
        rows.append([label, *(_fmt_value("critical_recall", a["per_class_recall"]["mean"][k]) for a in arms.values())])
    lines += _table(header, rows)
    note = ("★ marks a critical class. — : no test example of the class (recall undefined; `null` in report.json) "
            "or no finished run.")
    lines += ["", note, ""]

    # --- seed level
    lines += ["## Seed-level numbers", ""]
    rows = []
    for arm, a in arms.items():
        for i, seed in enumerate(a["seeds"]):
            rows.append([arm, str(seed), *(_fmt_value(m, a["metrics"][m]["values"][i]) for m in shown)])
    if rows:
        lines += _table(["arm", "seed", *(_header(m) for m in shown)], rows)
    else:
        lines.append("No finished runs yet.")
    lines.append("")

    # --- plots
    lines += ["## Plots", ""]
    if plots:
        for p in plots:
            rel = p.relative_to(out).as_posix()
            lines.append(f"- [{p.stem.replace('_', ' ')}]({rel})")
        lines.append("")
        for p in plots:
            lines += [f"![{p.stem.replace('_', ' ')}]({p.relative_to(out).as_posix()})", ""]
    else:
        lines += ["No plots (no finished runs yet).", ""]

    # --- layout
    lines += [
        "## Folder layout",
        "",
        "```",
        "study.json                         the config, class names, critical classes, data-set facts",
        "runs/<arm>/seed-<s>/predictions.npz test-split softmax probabilities (probs, N × C) and labels (N)",
        "runs/<arm>/seed-<s>/metrics.json    the run's metrics; written last, so its presence marks a finished run",
        "runs/<arm>/seed-<s>/history.json    per-epoch training loss and seconds",
        "report.md, report.json             this report; report.json has every number, seed by seed",
        "plots/*.png                        the figures above",
        "```",
        "",
        (
            "Arm folders are the arm names made filesystem-safe. Running `mixup compare` again with the same config "
            "and output resumes: finished runs are kept, new arms and seeds are added. `mixup report FOLDER` rewrites "
            "this report from the stored runs."
        ),
        "",
    ]
    return "\n".join(lines)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def write_report(out_dir: str | Path) -> Path:
    """Write ``report.md``, ``report.html``, ``report.json`` and the plots of a study folder.

    The plots go to ``plots/``: ``<metric>.png`` (accuracy, macro-F1, NLL, ECE, and critical
    recall when the study has critical classes) with each seed's value, ``reliability.png``
    (pooled over seeds) and ``per_class_recall.png``; ``plots/examples.png`` (written by the
    runner) is linked when it is there. ``report.html`` holds the same tables with every plot
    embedded (one self-contained file, readable offline; see `mixup_lab._html`). Works with any
    subset of finished runs, with only a baseline and without one.

    Args:
        out_dir: the study folder.

    Returns:
        The path of ``report.md``.

    Raises:
        FileNotFoundError: the folder has no ``study.json``.

    Examples:
        >>> write_report("runs/digits")   # doctest: +SKIP
        PosixPath('runs/digits/report.md')
    """
    from ._plots import plot_metric_per_arm, plot_per_class_recall, plot_reliability, plot_risk_coverage

    out = Path(out_dir)
    study = load_study(out)
    summary = summarise(study)
    plots: list[Path] = []
    if study.runs:
        pdir = out / "plots"
        pdir.mkdir(parents=True, exist_ok=True)
        for m in _PLOT_METRICS:
            if any(a["metrics"][m]["n"] for a in summary["arms"].values()):
                plots.append(plot_metric_per_arm(summary, m, pdir / f"{m}.png"))
        if any(r.has_predictions for r in study.runs):
            plots.append(plot_reliability(study, pdir / "reliability.png"))
            plots.append(plot_risk_coverage(study, pdir / "risk_coverage.png"))
        plots.append(plot_per_class_recall(summary, study.class_names, pdir / "per_class_recall.png"))
    # a figure an earlier report wrote but this one does not (a metric with no values now) would
    # otherwise stay beside the report as if current; other files in plots/ are left alone
    owned = {f"{m}.png" for m in _PLOT_METRICS} | {"reliability.png", "per_class_recall.png", "risk_coverage.png"}
    for stale in sorted((out / "plots").glob("*.png")):
        if stale.name in owned and stale not in plots:
            stale.unlink()
    examples = out / "plots" / "examples.png"
    if examples.is_file():
        plots.append(examples)

    from . import __version__

    record = {
        "mixup_lab_version": __version__,
        "summary": summary,
        "runs": [{"arm": r.arm, "seed": r.seed, "folder": r.folder.relative_to(out).as_posix(), "metrics": r.metrics}
                 for r in study.runs],
        "plots": [p.relative_to(out).as_posix() for p in plots],
    }
    (out / "report.json").write_text(json.dumps(_jsonable(record), indent=2, allow_nan=False) + "\n")
    from ._html import write_html

    write_html(summary, plots, out / "report.html")
    path = out / "report.md"
    path.write_text(_markdown(summary, plots, out))
    return path
