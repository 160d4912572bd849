""""Why is mixup worse here?": the usual causes the stored runs can confirm or rule out, each with its figure.

When an arm is *worse* than the baseline on a headline metric, `diagnose` reads the study folder and
checks three causes, each from numbers the runs stored, never from a rule of thumb alone:

- **too few epochs** (``history.json``): the arm's training loss still fell by more than
  `STILL_FALLING` over the last quarter of its epochs (mean over seeds), or the runs trained one epoch,
  so no trend can be read. Regularisers such as mixup trade a slower fit for better generalisation; their
  gains grow with training length (Zhang et al., 2018, trained 200 epochs on CIFAR-10).
- **a model that does not memorise** (``history.json`` of the baseline): the baseline's training accuracy
  in its last epoch is below `MEMORISE`. A regulariser prevents over-fitting; a model that cannot fit the
  training set has little over-fitting to prevent.
- **critical or small classes hurt** (per-class recall of ``metrics.json``): a critical class, or a class
  with at most half the median number of training examples, whose recall fell, with its paired Δ.

Each finding carries the figure it came from; when none of the three shows, the report says which
figures ruled them out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MEMORISE", "STILL_FALLING", "diagnose", "diagnosis_lines"]

STILL_FALLING = 0.02
"""A relative fall of the training loss over the last quarter of the epochs above this: still learning."""
MEMORISE = 0.90
"""Baseline training accuracy below this in the last epoch: the model does not memorise the training set."""
_RECALL_DROP = 0.05  # a fall in a class's recall reported even within noise (with its verdict)
_WORSE_ON = ("error_rate", "accuracy", "macro_f1", "nll", "critical_recall", "cost_per_1000")


def _history(run: Any) -> list[dict[str, Any]]:
    try:
        raw = json.loads((run.folder / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []


def _loss_trend(runs: Sequence[Any]) -> dict[str, Any] | None:
    falls, first, last, epochs = [], [], [], []
    for run in runs:
        losses = [float(r["train_loss"]) for r in _history(run) if isinstance(r.get("train_loss"), (int, float))]
        if not losses:
            continue
        epochs.append(len(losses))
        if len(losses) < 2:
            continue
        k = max(1, len(losses) // 4)
        before, end = losses[-1 - k], losses[-1]
        falls.append((before - end) / before if before > 0 else 0.0)
        first.append(before)
        last.append(end)
    if not epochs:
        return None
    e = round(float(np.mean(epochs)))
    if not falls:
        return {"epochs": e, "fall": None, "window": 0, "from": None, "to": None, "seeds": len(epochs)}
    return {"epochs": e, "window": max(1, e // 4), "fall": float(np.mean(falls)), "from": float(np.mean(first)),
            "to": float(np.mean(last)), "seeds": len(falls)}


def _train_accuracy(runs: Sequence[Any]) -> dict[str, Any] | None:
    values = []
    for run in runs:
        hist = _history(run)
        if hist and isinstance(hist[-1].get("train_accuracy"), (int, float)):
            values.append(float(hist[-1]["train_accuracy"]))
    return {"mean": float(np.mean(values)), "seeds": len(values)} if values else None


def _small_classes(summary: Mapping[str, Any]) -> list[int]:
    counts = ((summary["study"].get("dataset_info") or {}).get("counts") or {}).get("train")
    names = summary["study"]["class_names"]
    if not isinstance(counts, Mapping) or not counts:
        return []
    n = np.asarray([float(counts.get(name, 0)) for name in names])
    return [k for k in range(len(names)) if n[k] <= 0.5 * float(np.median(n))]


def _class_drops(summary: Mapping[str, Any], arm: str, base: str, classes: Sequence[int]) -> list[dict[str, Any]]:
    from ._stats import paired_comparison

    a, b = summary["arms"][arm], summary["arms"][base]
    names = summary["study"]["class_names"]
    out = []
    for k in classes:
        av = {s: row[k] for s, row in zip(a["seeds"], a["per_class_recall"]["values"], strict=True) if k < len(row)}
        bv = {s: row[k] for s, row in zip(b["seeds"], b["per_class_recall"]["values"], strict=True) if k < len(row)}
        c = paired_comparison(av, bv, metric="critical_recall")
        if c["mean_diff"] is None or c["n"] < 1:
            continue
        if c["verdict"] == "worse" or c["mean_diff"] <= -_RECALL_DROP:
            out.append(
                {
                    "class": names[k] if k < len(names) else str(k),
                    "index": k,
                    "baseline": b["per_class_recall"]["mean"][k],
                    "arm": a["per_class_recall"]["mean"][k],
                    "mean_diff": c["mean_diff"],
                    "verdict": c["verdict"],
                    "n": c["n"],
                }
            )
    return out


def diagnose(study: Any, summary: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """``{arm: [finding, ...]}`` for every arm *worse* than the baseline on a headline metric.

    Each finding is ``{"cause": "epochs" | "capacity" | "classes" | "none", "text": ..., "figure": {...}}``.

    Args:
        study: the loaded study folder (`mixup_lab._report.load_study`).
        summary: its `mixup_lab._report.summarise` mapping (without the diagnosis).
    """
    base = summary.get("baseline")
    if base is None:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    crit = list(summary["study"]["critical_classes"])
    small = _small_classes(summary)
    base_acc = _train_accuracy(study.runs_of(base))
    for arm, comps in summary["comparisons"].items():
        worse = [m for m in _WORSE_ON if (comps.get(m) or {}).get("verdict") == "worse"]
        if not worse:
            continue
        found: list[dict[str, Any]] = []
        trend = _loss_trend(study.runs_of(arm))
        if trend is not None and trend["fall"] is None:
            found.append({"cause": "epochs", "figure": trend, "text": (
                f"too few epochs to tell: every run trained {trend['epochs']} epoch, so no trend of the training loss "
                "can be read; mixup's gains grow with training length, so try more epochs before deciding")})
        elif trend is not None and trend["fall"] > STILL_FALLING:
            found.append({"cause": "epochs", "figure": trend, "text": (
                f"too few epochs: {arm}'s training loss still fell {100 * trend['fall']:.1f} % over its last "
                f"{trend['window']} of {trend['epochs']} epochs ({trend['from']:.3f} → {trend['to']:.3f}, mean of "
                f"{trend['seeds']} seeds); a regulariser's gains grow with training length, so try more epochs")})
        if base_acc is not None and base_acc["mean"] < MEMORISE:
            found.append({"cause": "capacity", "figure": base_acc, "text": (
                f"the model does not memorise the training set: {base}'s training accuracy in its last epoch was "
                f"{100 * base_acc['mean']:.1f} % (mean of {base_acc['seeds']} seeds, below {100 * MEMORISE:.0f} %), so "
                "there is little over-fitting for mixup to prevent; try a larger model or more epochs")})
        drops = _class_drops(summary, arm, base, sorted(set(crit) | set(small)))
        if drops:
            parts = [f"{d['class']}{' (critical)' if d['index'] in crit else ' (small)'} "
                     f"{100 * d['baseline']:.1f} % → {100 * d['arm']:.1f} % ({100 * d['mean_diff']:+.1f} pp, "
                     f"{d['verdict']}, {d['n']} seeds)" for d in drops]
            found.append({"cause": "classes", "figure": drops, "text": (
                "critical or small classes lose recall: " + "; ".join(parts)
                + "; protect them while mixing (critical.protect: true) or lower the mixer's alpha")})
        if not found:
            ruled = []
            if trend is not None and trend["fall"] is not None:
                ruled.append(f"training loss flat ({100 * trend['fall']:+.1f} % over the last {trend['window']} of "
                             f"{trend['epochs']} epochs)")
            if base_acc is not None:
                ruled.append(f"{base}'s training accuracy {100 * base_acc['mean']:.1f} %")
            ruled.append("no critical or small class lost recall" if crit or small else "no critical or small class")
            found.append({"cause": "none", "figure": {}, "text": (
                "none of the checked causes shows in the stored runs (" + "; ".join(ruled) + "); the mixer may not "
                "suit this data: try a smaller alpha or another mixer")})
        out[arm] = [{**f, "worse_on": worse} for f in found]
    return out


def diagnosis_lines(diagnosis: Mapping[str, Sequence[Mapping[str, Any]]], *, base: str | None) -> list[str]:
    """The report's section "Why is <arm> worse here?" (none when no arm is worse)."""
    lines: list[str] = []
    for arm, findings in diagnosis.items():
        if not findings:
            continue
        metrics = ", ".join(findings[0].get("worse_on", []))
        lines += [f"## Why is {arm} worse here?", "",
                  f"{arm} is worse than {base} on {metrics}. What the stored runs show:",
                  ""]
        lines += [f"- {f['text']}." for f in findings]
        lines.append("")
    return lines
