"""How the report writes numbers: percentages, differences, intervals and p-values (markdown and HTML alike)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._metrics import METRIC_LABELS, PERCENT_METRICS

__all__: list[str] = []


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
