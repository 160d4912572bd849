"""The report of a study: markdown and the files beside it (``report.md``, ``report.json``, ``report.html``, plots).

`write_report` reads the study folder (`mixup_lab._store`), computes the statistics
(`mixup_lab._stats`) and renders them: markdown here, the self-contained page in `mixup_lab._html`.
The loading and statistics names are re-exported here for the callers that import them from this module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._advice import advice_markdown
from ._format import _fmt_ci, _fmt_diff, _fmt_mean_sd, _fmt_p, _fmt_value, _header, _metrics_shown
from ._metrics import METRIC_LABELS
from ._stats import (
    BUSINESS_METRICS,
    SUMMARY_METRICS,
    headline_lines,
    paired_comparison,
    summarise,
    verdict_lines,
)
from ._store import StoredRun, Study, load_study

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

_PLOT_METRICS = ("accuracy", "macro_f1", "nll", "ece", "critical_recall")


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
    lines = [f"# {summary['study']['name']}: mixup compare report", ""]
    lines += _md_setup(summary)
    lines += advice_markdown(summary, "top")
    lines += _md_headline(summary)
    lines += _md_verdict(summary)
    lines += advice_markdown(summary, "after_verdict")
    lines += _md_metrics(summary)
    lines += _md_comparison(summary)
    lines += _md_critical(summary)
    lines += _md_per_class(summary)
    lines += _md_seeds(summary)
    lines += _md_plots(plots, out)
    lines += _md_layout()
    return "\n".join(lines)


def _md_setup(summary: Mapping[str, Any]) -> list[str]:
    """The report's setup section."""
    st = summary["study"]
    arms = summary["arms"]
    base = summary["baseline"]
    names = summary["study"]["class_names"]
    crit = summary["study"]["critical_classes"]
    lines: list[str] = []
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
            f"{tr.get('schedule')} schedule, weight decay {tr.get('weight_decay')}, label smoothing "
            f"{tr.get('label_smoothing')}"
        )
        lines.append(f"- **Budget** (the same for every arm): {budget}")
    runs = summary["runs"]
    lines.append(
        f"- **Seeds**: {', '.join(str(s) for s in st['seeds']) or '—'} — {runs['finished']} of "
        f"{runs['expected']} runs finished"
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
    failed = runs.get("failed") or []
    if failed:
        listed = "; ".join(f"{f['arm']} seed {f['seed']} ({f['error']}, `{f['folder']}/failed.json`)" for f in failed)
        lines += ["", f"**Failed runs**: {listed}. Running `mixup compare` again retries them."]
    failed_keys = {(f["arm"], f["seed"]) for f in failed}
    pending = [m for m in runs["missing"] if (m["arm"], m["seed"]) not in failed_keys]
    if pending:
        miss = ", ".join(f"{m['arm']} seed {m['seed']}" for m in pending)
        lines += ["", f"Not finished yet: {miss}. Run `mixup compare` on the same config again to finish them."]
    differs = summary.get("provenance_differs") or {}
    if differs:
        facts = "; ".join(f"{k}: {', '.join(v)}" for k, v in differs.items())
        lines += ["", (f"**Warning**: the runs of this study differ in {facts}. Results then differ in the last bits; "
                  "rerun the odd ones out with the same settings for an exact comparison.")]
    lines.append("")
    return lines


def _md_headline(summary: Mapping[str, Any]) -> list[str]:
    """The report's headline section."""
    lines: list[str] = []
    if summary.get("headline"):
        lines += ["## Headline", ""]
        lines += [f"- {h}" for h in summary["headline"]]
        lines.append("")
    lines += _business_lines(summary)
    lines += _group_lines(summary)
    lines += _protection_lines(summary)
    return lines


def _md_verdict(summary: Mapping[str, Any]) -> list[str]:
    """The report's verdict section."""
    lines = ["## Verdict", ""]
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
    return lines


def _md_metrics(summary: Mapping[str, Any]) -> list[str]:
    """The report's metrics table section."""
    arms = summary["arms"]
    shown = _metrics_shown(summary)
    lines = ["## Metrics (mean ± sd over seeds)", ""]
    header = ["arm", "n", *(_header(m) for m in shown), "train time (s)"]
    rows = []
    for arm, a in arms.items():
        rows.append(
            [arm, str(a["n_runs"]), *(_fmt_mean_sd(m, a["metrics"][m]) for m in shown),
             f"{a['train_seconds']['mean']:.1f}" if a["train_seconds"]["mean"] is not None else "—"]
        )
    lines += _table(header, rows)
    lines += ["", "sd is the sample standard deviation over seeds (— with a single seed).", ""]
    return lines


def _md_comparison(summary: Mapping[str, Any]) -> list[str]:
    """The report's paired comparison section."""
    base = summary["baseline"]
    shown = _metrics_shown(summary)
    lines = ["## Paired comparison with the baseline", ""]
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
        lines += _table(
            ["arm", "metric", "paired seeds", "Δ vs " + base, "95% CI of Δ", "p (paired t)", "verdict"], rows
        )
        lines += [
            "",
            (
                "Δ = arm − baseline, averaged over the seeds both have (percentage points for the % metrics). "
                "Higher is better for accuracy, macro-F1 and recall; lower for error rate, NLL, ECE and Brier."
            ),
            "",
        ]
    return lines


def _md_critical(summary: Mapping[str, Any]) -> list[str]:
    """The report's critical classes section."""
    arms = summary["arms"]
    names = summary["study"]["class_names"]
    crit = summary["study"]["critical_classes"]
    lines = ["## Recall of the critical classes (%)", ""]
    if not crit:
        lines += ["No critical classes in this study (`critical.classes` in the config).", ""]
    else:
        header = ["arm", *(f"{names[k] if k < len(names) else k} ({k})" for k in crit), "all critical"]
        rows = []
        for arm, a in arms.items():
            cells = [_fmt_mean_sd("critical_recall", a["critical_class_recall"][str(k)]) for k in crit]
            rows.append([arm, *cells, _fmt_mean_sd("critical_recall", a["metrics"]["critical_recall"])])
        lines += _table(header, rows)
        lines += [
            "",
            "Mean ± sd over seeds; *all critical* is the recall over every example of the critical classes together.",
            "",
        ]
    return lines


def _md_per_class(summary: Mapping[str, Any]) -> list[str]:
    """The report's per-class recall section."""
    arms = summary["arms"]
    names = summary["study"]["class_names"]
    crit = summary["study"]["critical_classes"]
    lines = ["## Per-class recall (%, mean over seeds)", ""]
    header = ["class", *arms.keys()]
    rows = []
    for k, name in enumerate(names):
        label = f"{name} ({k})" + (" ★" if k in crit else "")
        rows.append([label, *(_fmt_value("critical_recall", a["per_class_recall"]["mean"][k]) for a in arms.values())])
    lines += _table(header, rows)
    note = ("★ marks a critical class. — : no test example of the class (recall undefined; `null` in report.json) "
            "or no finished run.")
    lines += ["", note, ""]
    return lines


def _md_seeds(summary: Mapping[str, Any]) -> list[str]:
    """The report's seed level section."""
    arms = summary["arms"]
    shown = _metrics_shown(summary)
    lines = ["## Seed-level numbers", ""]
    rows = []
    for arm, a in arms.items():
        for i, seed in enumerate(a["seeds"]):
            rows.append([arm, str(seed), *(_fmt_value(m, a["metrics"][m]["values"][i]) for m in shown)])
    if rows:
        lines += _table(["arm", "seed", *(_header(m) for m in shown)], rows)
    else:
        lines.append("No finished runs yet.")
    lines.append("")
    return lines


def _md_plots(plots: Sequence[Path], out: Path) -> list[str]:
    """The report's plots section."""
    lines = ["## Plots", ""]
    if plots:
        for p in plots:
            rel = p.relative_to(out).as_posix()
            lines.append(f"- [{p.stem.replace('_', ' ')}]({rel})")
        lines.append("")
        for p in plots:
            lines += [f"![{p.stem.replace('_', ' ')}]({p.relative_to(out).as_posix()})", ""]
    else:
        lines += ["No plots (no finished runs yet).", ""]
    return lines


def _md_layout() -> list[str]:
    """The report's layout section."""
    lines = [
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
    return lines

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
