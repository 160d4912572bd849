"""Statistics of a study: every arm aggregated over seeds and compared with the baseline, paired by seed.

The results are typed (`SeedStats`, `Comparison`); `summarise` gathers them, with the business
measures, groups and protection facts, into the JSON-ready summary that the report renders and
``report.json`` stores, and adds the plain-language verdict and headline sentences.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._format import _fmt_ci, _fmt_diff, _fmt_p, _has_critical
from ._metrics import METRIC_LABELS, metric_direction
from ._store import StoredRun, Study, load_study

__all__ = [
    "BUSINESS_METRICS",
    "SUMMARY_METRICS",
    "Comparison",
    "SeedStats",
    "headline_lines",
    "paired_comparison",
    "paired_test",
    "seed_stats",
    "summarise",
    "verdict_lines",
]

SUMMARY_METRICS: tuple[str, ...] = ("accuracy", "error_rate", "macro_f1", "nll", "ece", "brier", "critical_recall")
"""The scalar metrics aggregated over seeds and compared with the baseline."""

# the verdict sentence leaves out error_rate: it is 1 − accuracy
_VERDICT_METRICS = ("accuracy", "macro_f1", "nll", "ece", "brier", "critical_recall")

Verdict = Literal["better", "worse", "within noise", "too few seeds to tell", "too few distinct seeds to tell"]
BUSINESS_METRICS: tuple[str, ...] = ("cost_per_1000", "coverage", "deferred_per_1000", "selective_accuracy")
"""Business measures the report computes from the stored predictions when the config's ``business`` asks."""


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


@dataclass(frozen=True)
class SeedStats:
    """A metric over seeds: the mean, the sample standard deviation and how many values there were.

    Args:
        mean: the mean, ``None`` without values.
        sd: the sample standard deviation (``ddof=1``), ``None`` below 2 values.
        n: the number of values (``None`` values left out).
    """

    mean: float | None
    sd: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        """``{"mean", "sd", "n"}``, as ``report.json`` stores it."""
        return asdict(self)


def seed_stats(values: Sequence[float | None]) -> SeedStats:
    """`SeedStats` of the values that are not ``None``.

    Examples:
        >>> seed_stats([0.5, None, 0.7])
        SeedStats(mean=0.6, sd=0.1414213562373095, n=2)
    """
    vals = np.array([v for v in values if v is not None], dtype=np.float64)
    n = int(vals.size)
    return SeedStats(float(vals.mean()) if n else None, float(vals.std(ddof=1)) if n >= 2 else None, n)


def _stats(values: Sequence[float | None]) -> dict[str, Any]:
    return seed_stats(values).as_dict()


@dataclass(frozen=True)
class Comparison:
    """An arm against the baseline on one metric, over the seeds both have (see `paired_test`).

    Args:
        metric: the metric's name.
        direction: ``"maximize"`` or ``"minimize"`` (`mixup_lab.metrics.metric_direction`).
        n: the number of paired seeds.
        seeds: the paired seeds, sorted.
        differences: ``arm − baseline`` per paired seed.
        mean_diff: their mean (``None`` without paired seeds).
        sd_diff: their sample standard deviation.
        t: the paired t statistic.
        p_value: the two-sided paired t-test's p-value.
        ci_low: the lower end of the confidence interval of the mean difference.
        ci_high: its upper end.
        confidence: the confidence level of the interval.
        verdict: ``"better"``, ``"worse"``, ``"within noise"``, ``"too few seeds to tell"`` or
            ``"too few distinct seeds to tell"``.
    """

    metric: str
    direction: str
    n: int
    seeds: list[int]
    differences: list[float]
    mean_diff: float | None
    sd_diff: float | None
    t: float | None
    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        """The fields as a mapping in this order, as ``report.json`` stores them."""
        return asdict(self)


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
    return paired_test(values, baseline_values, metric=metric, confidence=confidence).as_dict()


def paired_test(
    values: Mapping[int, float | None],
    baseline_values: Mapping[int, float | None],
    *,
    metric: str,
    confidence: float = 0.95,
) -> Comparison:
    """`paired_comparison` as a typed `Comparison`.

    Examples:
        >>> paired_test({0: 0.85, 1: 0.87, 2: 0.86}, {0: 0.80, 1: 0.82, 2: 0.80}, metric="accuracy").verdict
        'better'
    """
    from scipy import stats

    direction = metric_direction(metric)
    seeds = sorted(s for s in values if _num(values[s]) is not None and _num(baseline_values.get(s)) is not None)
    a = np.array([_num(values[s]) for s in seeds], dtype=np.float64)
    b = np.array([_num(baseline_values[s]) for s in seeds], dtype=np.float64)
    d = a - b
    n = len(seeds)
    same: dict[str, Any] = {"metric": metric, "direction": direction, "n": n, "seeds": seeds,
                            "differences": [float(x) for x in d],
            "mean_diff": float(d.mean()) if n else None, "confidence": confidence}
    if n < 2:
        return Comparison(**same, sd_diff=None, t=None, p_value=None, ci_low=None, ci_high=None,
                          verdict="too few seeds to tell")
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd <= 1e-9 * max(1.0, abs(mean)):  # every seed differs by the same amount (to rounding): no spread to judge by
        if abs(mean) <= 1e-12:
            return Comparison(**same, sd_diff=0.0, t=0.0, p_value=1.0, ci_low=0.0, ci_high=0.0, verdict="within noise")
        return Comparison(**same, sd_diff=0.0, t=None, p_value=None, ci_low=None, ci_high=None,
                          verdict="too few distinct seeds to tell")
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sd / math.sqrt(n)
    if sd > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nearly equal differences: precision warning
            res = stats.ttest_rel(a, b)
        t, p = float(res.statistic), float(res.pvalue)
    else:
        t = math.copysign(math.inf, mean) if mean else 0.0
        p = 0.0 if mean else 1.0
    verdict: Verdict
    if mean - half <= 0 <= mean + half:
        verdict = "within noise"
    else:
        improved = mean > 0 if direction == "maximize" else mean < 0
        verdict = "better" if improved else "worse"
    return Comparison(
        **same,
        sd_diff=sd,
        t=t if math.isfinite(t) else None,
        p_value=p if math.isfinite(p) else None,
        ci_low=mean - half,
        ci_high=mean + half,
        verdict=verdict,
    )


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
        "critical_class_names": [
            study.class_names[k] if k < study.num_classes else str(k) for k in study.critical_classes
        ],
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
        - ``runs``: ``{"finished", "expected", "missing": [{"arm", "seed"}],
            "failed": [{"arm", "seed", "error", "folder"}]}`` (a failed run is missing too).
        - ``arms[arm]``: ``mixer``, ``seeds`` (finished, sorted), ``metrics[metric]`` with ``mean``, ``sd``
            (sample standard deviation, ``None`` below 2 values), ``n`` and ``values`` (one per seed of
            ``seeds``, ``None`` where undefined), ``per_class_recall`` (``mean``, ``sd``, ``n`` lists over
            classes and per-seed ``values``), ``critical_class_recall[str(class)]`` and ``train_seconds``.
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
            "failed": study.failed,
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
    from ._advice import study_advice  # seeds needed, why an arm is worse, budget, data checks

    summary.update(study_advice(study, summary))
    return summary


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
    tests = [
        (arm, m, c["p_value"]) for arm, cs in comparisons.items() for m, c in cs.items() if c.get("p_value") is not None
    ]
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
            parts.append(
                f"group{'s' if len(worse) > 1 else ''} {', '.join(worse)} worse" if worse else "no group worse"
            )
            bad |= bool(worse)
        decision = (
            "do not adopt" if bad else "adopt" if good else "no clear difference yet (more seeds or the real budget)"
        )
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
                    f"{METRIC_LABELS[m]} {_fmt_diff(m, comp['mean_diff'])} (95% CI "
                    f"{_fmt_ci(m, comp['ci_low'], comp['ci_high'])},"
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
