"""Business measures of one run, from its predictions: cost of errors, work automated, metrics by group.

Pure functions of arrays (no training, no files), so every measure is tested against a hand-computed
value. The report applies them to the stored predictions of every run and compares the arms with the
baseline seed by seed, like every other metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "GroupMetrics",
    "cost_matrix",
    "cost_per_1000",
    "group_metrics",
    "risk_coverage",
    "selective_metrics",
    "selective_threshold",
]

GroupMetrics = dict[str, dict[str, Any]]


def cost_matrix(
    class_names: Sequence[str],
    *,
    matrix: Sequence[Sequence[float]] | Mapping[str, Mapping[str, float]] | None = None,
    error_cost: float = 1.0,
    miss_cost: Mapping[str, float] | None = None,
    false_alarm_cost: float | None = None,
    critical: Sequence[int] = (),
) -> np.ndarray:
    """The ``(C, C)`` cost of predicting column ``j`` for a case of true class ``i`` (0 on the diagonal).

    Either a full ``matrix`` (a list of rows in class order, or ``{true name: {predicted name: cost}}``
    where unnamed cells cost ``error_cost``), or the short forms: every error costs ``error_cost``,
    except missing a class of ``miss_cost`` (its row) and raising a false alarm, i.e. predicting a
    critical class for a case of a non-critical class (the critical columns of the other rows), which
    costs ``false_alarm_cost``.

    Examples:
        >>> cost_matrix(["ok", "crack"], miss_cost={"crack": 50.0}, false_alarm_cost=2.0, critical=[1]).tolist()
        [[0.0, 2.0], [50.0, 0.0]]
    """
    c = len(class_names)
    index = {str(n): k for k, n in enumerate(class_names)}
    if matrix is not None:
        if isinstance(matrix, Mapping):
            out = np.full((c, c), float(error_cost))
            for true, row in matrix.items():
                for pred, cost in row.items():
                    out[index[str(true)], index[str(pred)]] = float(cost)
        else:
            out = np.asarray(matrix, dtype=np.float64)
            if out.shape != (c, c):
                raise ValueError(
                    f"business.cost_matrix must be {c} x {c} (one row and column per class), got {out.shape}"
                )
    else:
        out = np.full((c, c), float(error_cost))
        if false_alarm_cost is not None:
            crit = [k for k in critical if 0 <= k < c]
            for k in crit:
                out[[i for i in range(c) if i not in crit], k] = float(false_alarm_cost)
        for name, cost in (miss_cost or {}).items():
            out[index[str(name)], :] = float(cost)
    np.fill_diagonal(out, 0.0)
    return out


def cost_per_1000(probs: np.ndarray, labels: np.ndarray, costs: np.ndarray) -> float:
    """Expected cost of the top-1 decisions per 1,000 cases: ``1000 · mean(costs[label, argmax])``.

    Examples:
        >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
        >>> cost_per_1000(p, np.array([0, 1, 1, 0]), np.array([[0.0, 2.0], [50.0, 0.0]]))
        13000.0
    """
    pred = np.argmax(probs, axis=1)
    return float(1000.0 * costs[labels, pred].mean())


def selective_threshold(probs: np.ndarray, labels: np.ndarray, target_accuracy: float) -> float:
    """The lowest top-1 confidence at which the cases the model decides alone reach ``target_accuracy``.

    The cases are sorted by confidence, highest first; the threshold is the confidence of the last
    case of the longest prefix whose accuracy is at least the target (a tie at the threshold takes every
    tied case, and the prefix is shortened until that still holds). ``inf`` when no prefix reaches it: the
    model then decides nothing alone. Choose it on a validation split, never on the test split.

    Examples:
        >>> p = np.array([[0.95, 0.05], [0.9, 0.1], [0.3, 0.7], [0.4, 0.6]])
        >>> selective_threshold(p, np.array([0, 0, 1, 1]), 1.0), selective_threshold(p, np.array([0, 1, 1, 1]), 1.0)
        (0.6, 0.95)
    """
    conf = probs.max(axis=1)
    correct = (np.argmax(probs, axis=1) == labels).astype(np.float64)
    order = np.argsort(-conf, kind="stable")
    conf_s, correct_s = conf[order], correct[order]
    acc = np.cumsum(correct_s) / np.arange(1, len(conf_s) + 1)
    for k in range(len(conf_s) - 1, -1, -1):
        t = conf_s[k]
        covered = conf >= t
        if acc[k] >= target_accuracy and correct[covered].mean() >= target_accuracy:
            return float(t)
    return float("inf")


def selective_metrics(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float | None]:
    """Coverage (share decided alone: confidence ≥ ``threshold``), cases per 1,000 left to a person, and
    the accuracy on the covered cases (``None`` when nothing is covered).

    Examples:
        >>> p = np.array([[0.95, 0.05], [0.9, 0.1], [0.3, 0.7], [0.4, 0.6]])
        >>> selective_metrics(p, np.array([0, 1, 1, 1]), 0.9)
        {'coverage': 0.5, 'deferred_per_1000': 500.0, 'selective_accuracy': 0.5}
    """
    conf = probs.max(axis=1)
    covered = conf >= threshold
    coverage = float(covered.mean())
    acc = float((np.argmax(probs[covered], axis=1) == labels[covered]).mean()) if covered.any() else None
    return {"coverage": coverage, "deferred_per_1000": 1000.0 * (1.0 - coverage), "selective_accuracy": acc}


def risk_coverage(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The risk-coverage curve: for the ``k`` most confident cases (``k = 1 … N``), coverage ``k/N`` and
    error rate among them.

    Examples:
        >>> cov, risk = risk_coverage(np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([0, 0]))
        >>> cov.tolist(), risk.tolist()
        ([0.5, 1.0], [0.0, 0.5])
    """
    conf = probs.max(axis=1)
    wrong = (np.argmax(probs, axis=1) != labels).astype(np.float64)
    order = np.argsort(-conf, kind="stable")
    k = np.arange(1, len(conf) + 1)
    return k / len(conf), np.cumsum(wrong[order]) / k


def group_metrics(probs: np.ndarray, labels: np.ndarray, groups: Sequence[str]) -> GroupMetrics:
    """Accuracy, error rate, log-loss and size of every group of the test cases.

    Examples:
        >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
        >>> g = group_metrics(p, np.array([0, 0, 1]), ["line-1", "line-1", "line-2"])
        >>> g["line-1"]["accuracy"], g["line-2"]["n"]
        (0.5, 1)
    """
    g = np.asarray([str(x) for x in groups])
    pred = np.argmax(probs, axis=1)
    out: GroupMetrics = {}
    for name in sorted(set(g.tolist())):
        m = g == name
        acc = float((pred[m] == labels[m]).mean())
        nll = float(-np.mean(np.log(np.clip(probs[m, labels[m]], 1e-12, None))))
        out[name] = {"n": int(m.sum()), "accuracy": acc, "error_rate": 1.0 - acc, "nll": nll}
    return out
