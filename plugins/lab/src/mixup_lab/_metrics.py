"""Classification metrics of one evaluated run: accuracy, macro-F1, NLL, calibration, recalls.

Everything here works on plain numpy arrays of softmax probabilities ``(N, C)`` and class-index
labels ``(N,)``, so that a report can be recomputed from the stored ``predictions.npz`` alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "METRIC_DIRECTIONS",
    "NLL_EPS",
    "ReliabilityBins",
    "compute_metrics",
    "metric_direction",
    "reliability_bins",
]

NLL_EPS = 1e-12
"""Probabilities are clipped to ``[NLL_EPS, 1]`` before the logarithm of the NLL."""

_SUM_TOL = 1e-3

METRIC_LABELS: dict[str, str] = {
    "accuracy": "accuracy",
    "error_rate": "error rate",
    "macro_f1": "macro-F1",
    "nll": "NLL",
    "ece": "ECE",
    "brier": "Brier",
    "critical_recall": "critical recall",
    "cost_per_1000": "cost per 1,000",
    "coverage": "coverage",
    "deferred_per_1000": "left to a person per 1,000",
    "selective_accuracy": "accuracy when automated",
}
"""How reports and plots name the scalar metrics."""

PERCENT_METRICS = frozenset({"accuracy", "error_rate", "macro_f1", "ece", "critical_recall", "coverage",
                             "selective_accuracy"})
"""Metrics shown in percent (their differences in percentage points); the others as raw numbers."""

METRIC_DIRECTIONS: dict[str, Literal["maximize", "minimize"]] = {
    "accuracy": "maximize",
    "error_rate": "minimize",
    "macro_f1": "maximize",
    "nll": "minimize",
    "ece": "minimize",
    "brier": "minimize",
    "critical_recall": "maximize",
    "cost_per_1000": "minimize",
    "coverage": "maximize",
    "deferred_per_1000": "minimize",
    "selective_accuracy": "maximize",
}
"""Which way is better for each scalar metric of `compute_metrics`."""


def metric_direction(name: str) -> Literal["maximize", "minimize"]:
    """Whether a larger or a smaller value of a metric is better.

    Recalls (``critical_recall``, ``recall_*``) and F1 scores are maximised; losses and errors
    are minimised.

    Args:
        name: a scalar metric key of `compute_metrics` (``"accuracy"``, ``"nll"`` …).

    Raises:
        KeyError: an unknown metric name (the message lists the known ones).

    Examples:
        >>> metric_direction("nll")
        'minimize'
        >>> metric_direction("critical_recall")
        'maximize'
    """
    if name in METRIC_DIRECTIONS:
        return METRIC_DIRECTIONS[name]
    if name.startswith("recall") or name.endswith(("recall", "f1")):
        return "maximize"
    raise KeyError(f"unknown metric {name!r}; known: {sorted(METRIC_DIRECTIONS)}")


@dataclass(frozen=True)
class ReliabilityBins:
    """Top-1 confidence histogram of a classifier: what a reliability diagram draws.

    Bin ``b`` holds the examples whose top-1 confidence lies in ``(edges[b], edges[b + 1]]``
    (the first bin also holds a confidence of exactly 0).

    Args:
        edges: ``n_bins + 1`` equal-width bin edges over ``[0, 1]``.
        confidence: mean top-1 confidence per bin (NaN for an empty bin).
        accuracy: share of correct top-1 predictions per bin (NaN for an empty bin).
        count: number of examples per bin.
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: ``Σ_b (n_b / N) · |accuracy_b − confidence_b|``."""
        total = int(self.count.sum())
        if total == 0:
            return math.nan
        used = self.count > 0
        gaps = np.abs(self.accuracy[used] - self.confidence[used])
        return float(np.sum(self.count[used] / total * gaps))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready lists (``None`` for an empty bin's confidence and accuracy)."""
        return {
            "edges": [float(e) for e in self.edges],
            "confidence": [_none_if_nan(c) for c in self.confidence],
            "accuracy": [_none_if_nan(a) for a in self.accuracy],
            "count": [int(c) for c in self.count],
        }


def _none_if_nan(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _check_probs(probs: Any) -> np.ndarray:
    try:
        p = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"probs must be a numeric array of shape (N, C), got {type(probs).__name__}: {exc}") from None
    if p.ndim != 2:
        raise ValueError(f"probs must be a 2-D array of shape (N, C), got shape {tuple(p.shape)}")
    n, c = p.shape
    if n == 0:
        raise ValueError(f"probs must hold at least one example, got shape {tuple(p.shape)}")
    if c < 2:
        raise ValueError(f"probs must hold at least 2 classes (columns), got shape {tuple(p.shape)}")
    if not np.all(np.isfinite(p)):
        row = int(np.flatnonzero(~np.all(np.isfinite(p), axis=1))[0])
        raise ValueError(f"probs of shape {tuple(p.shape)} must be finite; row {row} is {p[row].tolist()}")
    low = float(p.min())
    high = float(p.max())
    if low < -_SUM_TOL or high > 1 + _SUM_TOL:
        bad = low if low < -_SUM_TOL else high
        raise ValueError(
            f"probs of shape {tuple(p.shape)} must be probabilities in [0, 1] (softmax outputs, "
            f"not logits); found {bad:g}"
        )
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > _SUM_TOL
    if np.any(off):
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"probs of shape {tuple(p.shape)} must have rows summing to 1 (tolerance {_SUM_TOL:g}); "
            f"row {row} sums to {sums[row]:.6g} ({int(off.sum())} rows off)"
        )
    return np.clip(p, 0.0, 1.0)


def _check_labels(labels: Any, shape: tuple[int, int]) -> np.ndarray:
    y = np.asarray(labels)
    n, c = shape
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(
            f"labels must have shape (N,) = ({n},) to match probs of shape {shape}, got shape {tuple(y.shape)}"
        )
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices, got dtype {y.dtype} (shape {tuple(y.shape)})")
    bad = (y < 0) | (y >= c)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"labels must be class indices in [0, {c}) for probs of shape {shape}; labels[{i}] = {int(y[i])}"
        )
    return y.astype(np.int64)


def _check_n_bins(n_bins: Any) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def _check_critical(critical_classes: Any, c: int) -> list[int]:
    if isinstance(critical_classes, (str, bytes)) or not isinstance(critical_classes, (Sequence, np.ndarray)):
        raise ValueError(f"critical_classes must be a sequence of class indices, got {critical_classes!r}")
    out: list[int] = []
    for i, k in enumerate(critical_classes):
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise ValueError(f"critical_classes[{i}] must be an integer class index, got {k!r}")
        if not 0 <= int(k) < c:
            raise ValueError(f"critical_classes[{i}] = {int(k)} is out of range [0, {c})")
        if int(k) not in out:
            out.append(int(k))
    return sorted(out)


def _bins(conf: np.ndarray, correct: np.ndarray, n_bins: int) -> ReliabilityBins:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin b holds edges[b] < conf <= edges[b + 1] (Guo et al. 2017); conf = 0 goes to bin 0
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(count > 0, conf_sum / np.maximum(count, 1), np.nan)
        accuracy = np.where(count > 0, acc_sum / np.maximum(count, 1), np.nan)
    return ReliabilityBins(edges=edges, confidence=confidence, accuracy=accuracy, count=count.astype(np.int64))


def reliability_bins(probs: Any, labels: Any, n_bins: int = 15) -> ReliabilityBins:
    """Bin the top-1 confidences into ``n_bins`` equal-width bins over ``[0, 1]``.

    Args:
        probs: ``(N, C)`` softmax probabilities (rows sum to 1 within 1e-3).
        labels: ``(N,)`` integer class indices in ``[0, C)``.
        n_bins: number of bins.

    Returns:
        A `ReliabilityBins` with per-bin mean confidence, accuracy and count; its ``ece`` is
        the expected calibration error.

    Raises:
        ValueError: a shape, a label or a probability row is wrong (the message quotes the shape).

    Examples:
        >>> import numpy as np
        >>> bins = reliability_bins(np.array([[0.9, 0.1], [0.9, 0.1]]), np.array([0, 1]), n_bins=10)
        >>> int(bins.count[8]), float(bins.accuracy[8]), round(bins.ece, 3)
        (2, 0.5, 0.4)
    """
    p = _check_probs(probs)
    y = _check_labels(labels, p.shape)
    n_bins = _check_n_bins(n_bins)
    pred = p.argmax(axis=1)
    return _bins(p.max(axis=1), pred == y, n_bins)


def _recall(pred: np.ndarray, y: np.ndarray, classes: Sequence[int]) -> float | None:
    mask = np.isin(y, classes)
    if not mask.any():
        return None
    return float(np.mean(pred[mask] == y[mask]))


def compute_metrics(
    probs: Any,
    labels: Any,
    *,
    critical_classes: Sequence[int] = (),
    n_bins: int = 15,
) -> dict[str, Any]:
    """The metrics of one evaluated run, as JSON-ready Python values.

    The prediction is the top-1 class (``argmax``; ties go to the lower index).

    - ``accuracy`` and ``error_rate = 1 − accuracy``.
    - ``macro_f1``: the unweighted mean of the per-class F1 scores over the classes that occur
      in the labels or in the predictions (scikit-learn's ``f1_score(average="macro")``); a class
      with no true positive has F1 0.
    - ``nll``: mean of ``−log p[label]``, with ``p`` clipped to ``[1e-12, 1]``.
    - ``ece``: expected calibration error of Guo et al. (2017): ``n_bins`` equal-width bins of
      the top-1 confidence, ``Σ_b (n_b / N) · |accuracy_b − confidence_b|``.
    - ``brier``: multi-class Brier score, mean over examples of ``Σ_c (p_c − 1[c = label])²``
      (0 is perfect, 2 is the worst).
    - ``per_class_recall``: a list of ``C`` recalls; ``None`` (``null`` in JSON) for a class with
      no example in the labels, listed in ``absent_classes``.
    - ``critical_recall``: recall over all examples of the critical classes together (the share
      of those examples predicted as their own class); ``None`` when there are no critical classes
      or none of them occurs in the labels.
    - ``critical_class_recall``: ``{str(class index): recall or None}`` for each critical class.

    Args:
        probs: ``(N, C)`` softmax probabilities (rows sum to 1 within 1e-3; not logits).
        labels: ``(N,)`` integer class indices in ``[0, C)``.
        critical_classes: indices of the classes whose recall is reported on its own.
        n_bins: bins of the ECE.

    Returns:
        A mapping with the keys above plus ``n_samples``, ``num_classes``, ``critical_classes``
        (sorted, unique), ``absent_classes`` and ``ece_bins``.

    Raises:
        ValueError: an argument has the wrong shape, dtype or range (the message names the
            argument and quotes the shape).

    Examples:
        >>> import numpy as np
        >>> m = compute_metrics(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]),
        ...                     np.array([0, 1, 1, 1]), critical_classes=[1])
        >>> m["accuracy"], round(m["macro_f1"], 4), round(m["critical_recall"], 4)
        (0.75, 0.7333, 0.6667)
    """
    p = _check_probs(probs)
    y = _check_labels(labels, p.shape)
    n_bins = _check_n_bins(n_bins)
    n, c = p.shape
    critical = _check_critical(critical_classes, c)

    pred = p.argmax(axis=1)
    correct = pred == y
    accuracy = float(correct.mean())

    true_count = np.bincount(y, minlength=c)
    pred_count = np.bincount(pred, minlength=c)
    tp = np.bincount(y[correct], minlength=c)
    present = (true_count + pred_count) > 0
    f1 = np.zeros(c)
    denom = true_count + pred_count  # 2TP + FP + FN
    f1[present] = 2 * tp[present] / denom[present]
    macro_f1 = float(f1[present].mean())

    recall = [float(tp[k] / true_count[k]) if true_count[k] > 0 else None for k in range(c)]
    absent = [k for k in range(c) if true_count[k] == 0]

    p_true = np.clip(p[np.arange(n), y], NLL_EPS, 1.0)
    nll = float(-np.mean(np.log(p_true)))

    onehot = np.zeros_like(p)
    onehot[np.arange(n), y] = 1.0
    brier = float(np.mean(np.sum((p - onehot) ** 2, axis=1)))

    ece = _bins(p.max(axis=1), correct, n_bins).ece

    return {
        "n_samples": int(n),
        "num_classes": int(c),
        "accuracy": accuracy,
        "error_rate": 1.0 - accuracy,
        "macro_f1": macro_f1,
        "nll": nll,
        "ece": float(ece),
        "ece_bins": n_bins,
        "brier": brier,
        "per_class_recall": recall,
        "absent_classes": absent,
        "critical_classes": critical,
        "critical_recall": _recall(pred, y, critical) if critical else None,
        "critical_class_recall": {str(k): recall[k] for k in critical},
    }
