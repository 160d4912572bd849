"""Metrics of an evaluated classifier, as used by ``mixup compare`` and ``mixup tune``.

`compute_metrics` turns softmax probabilities ``(N, C)`` and labels ``(N,)`` into JSON-ready
accuracy, error rate, macro-F1, NLL, expected calibration error (ECE), Brier score, per-class
recall and the recall of critical classes; `reliability_bins` gives the per-bin confidence and
accuracy of a reliability diagram; `metric_direction` says whether larger is better.

Examples:
    >>> import numpy as np
    >>> from mixup_lab.metrics import compute_metrics
    >>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    >>> m = compute_metrics(probs, np.array([0, 1, 1, 1]))
    >>> m["accuracy"], round(m["nll"], 4), round(m["ece"], 2)
    (0.75, 0.4004, 0.3)
"""

from __future__ import annotations

from ._metrics import (
    METRIC_DIRECTIONS,
    NLL_EPS,
    ReliabilityBins,
    compute_metrics,
    metric_direction,
    reliability_bins,
)

__all__ = [
    "METRIC_DIRECTIONS",
    "NLL_EPS",
    "ReliabilityBins",
    "compute_metrics",
    "metric_direction",
    "reliability_bins",
]
