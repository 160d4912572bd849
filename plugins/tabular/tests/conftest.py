"""Small equipment-log tables written by the tests themselves (no files are shipped)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

COLUMNS = ["temp", "vibration", "pump", "shift", "line", "status"]


def log_rows(n: int = 60, *, seed: int = 0, lines: int = 6) -> list[dict[str, Any]]:
    """Rows of a pump log: two numeric and two categorical columns, a group (the line) and a label.

    The status depends on the temperature and the pump type, so a model can learn it.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pump = "ABC"[i % 3]
        temp = float(np.round(rng.normal(60, 10), 2))
        vibration = float(np.round(rng.normal(1.0, 0.3), 3))
        fault = temp + (8 if pump == "C" else 0) > 62
        rows.append({"temp": temp, "vibration": vibration, "pump": pump, "shift": "day" if i % 2 else "night",
                     "line": f"L{i % lines}", "status": "fault" if fault else "ok"})
    return rows


def write_table(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    """Write ``rows`` as CSV, TSV or JSONL (by suffix); ``None`` values become empty cells (CSV, TSV) or null."""
    columns = columns or list(rows[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({c: r.get(c) for c in columns}) + "\n" for r in rows))
        return path
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter="\t" if path.suffix == ".tsv" else ",")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return path


@pytest.fixture
def pump_log(tmp_path: Path) -> Callable[..., Path]:
    """A factory: ``pump_log(name="log.csv", n=60, edit=None)`` writes a pump log and returns its path."""

    def make(name: str = "log.csv", n: int = 60, edit: Callable[[list[dict[str, Any]]], Any] | None = None,
             columns: list[str] | None = None) -> Path:
        rows = log_rows(n)
        if edit is not None:
            edit(rows)
        return write_table(tmp_path / name, rows, columns)

    return make
