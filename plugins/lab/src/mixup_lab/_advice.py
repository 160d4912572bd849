"""What a study's own figures advise, gathered for the report: seeds needed, why an arm is worse, budget, data checks.

`study_advice` adds four keys to a summary (statistics floor); `advice_markdown` renders them as plain
sections (``## title``, ``- item``) that ``report.md`` holds as they are and ``report.html`` converts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from ._budget import budget_lines, read_outcome
from ._datacheck import CHECKS_FILE, finding_lines
from ._metrics import PERCENT_METRICS
from ._power import advice_lines, seed_advice

__all__ = ["advice_markdown", "study_advice"]


def study_advice(study: Any, summary: Mapping[str, Any]) -> dict[str, Any]:
    """``seeds_advice``, ``diagnosis``, ``budget`` and ``data_checks`` of a loaded study and its summary."""
    from ._diagnose import diagnose

    primary = "cost_per_1000" if (summary.get("business") or {}).get("prices_errors") else "accuracy"
    advice = [seed_advice(arm, cs[primary]) for arm, cs in summary["comparisons"].items() if primary in cs]
    try:
        checks = json.loads((study.out_dir / CHECKS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        checks = []
    return {"seeds_advice": [a.to_json() for a in advice if a is not None], "diagnosis": diagnose(study, summary),
            "budget": read_outcome(study.out_dir), "data_checks": checks if isinstance(checks, list) else []}


def advice_markdown(summary: Mapping[str, Any], part: Literal["top", "after_verdict"]) -> list[str]:
    """The sections on the budget and the data checks (``top``), or on seeds and worse arms (``after_verdict``)."""
    from ._diagnose import diagnosis_lines

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
