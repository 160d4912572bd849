"""The plugin's hooks: registration, what `mixup init` recognises as a table, and `mixup preview`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mixup_core import get_registry
from mixup_core.cli import main
from mixup_tabular._detect import detect_table

from .conftest import log_rows, write_table


def test_registry_lists_the_plugin() -> None:
    info = get_registry().get("tabular:row-mixup")
    assert info.modality == "tabular"
    assert info.distribution == "mixup-tabular"
    assert "2106.01342" in info.paper


def test_import_is_lazy() -> None:
    code = (
        "import sys, mixup_tabular; print('mixup_tabular.lab' in sys.modules, 'mixup_tabular.rowmixup' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    import mixup_tabular

    assert sorted(mixup_tabular.__all__) == sorted(dir(mixup_tabular))
    assert all(getattr(mixup_tabular, name) is not None for name in mixup_tabular.__all__)


@pytest.mark.parametrize(
    ("rename", "label"),
    [({"status": "target"}, "target"), ({"status": "Class"}, "Class"), ({"status": "label"}, "label"), ({}, "status")],
)
def test_the_label_column(tmp_path: Path, rename: dict[str, str], label: str) -> None:
    rows = [{rename.get(k, k): v for k, v in r.items()} for r in log_rows()]
    guess = detect_table(write_table(tmp_path / "t.csv", rows))
    assert guess is not None
    assert guess.modality == "tabular"
    assert guess.score == 0.9
    assert guess.dataset.get("label_column", "label") == label
    assert guess.class_names == ["fault", "ok"]
    assert guess.model == {"name": "tabular:mlp"}
    assert [a["name"] for a in guess.arms] == ["row-mixup", "mixup"]


def test_the_label_column_is_named_first(tmp_path: Path) -> None:
    rows = [{"label": r["status"], **r} for r in log_rows()]  # 'label' wins over a last column
    guess = detect_table(write_table(tmp_path / "t.csv", rows))
    assert guess is not None
    assert "label_column" not in guess.dataset
    assert guess.dataset == {"name": "tabular:table", "root": str(tmp_path / "t.csv")}


def test_identifiers_and_free_text_columns_are_left_out(tmp_path: Path) -> None:
    rows = log_rows(120)
    for i, r in enumerate(rows):
        r["ID"] = i
        r["logged"] = f"2024-03-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}"  # 120 distinct timestamps
        r["status"] = r.pop("status")
    guess = detect_table(write_table(tmp_path / "t.csv", rows))
    assert guess is not None
    assert guess.dataset["drop"] == ["ID", "logged"]
    assert guess.summary.endswith("left out: ID, logged")


def test_numeric_only_tables_get_one_arm(tmp_path: Path) -> None:
    rows = [{"temp": r["temp"], "vibration": r["vibration"], "status": r["status"]} for r in log_rows()]
    guess = detect_table(write_table(tmp_path / "t.csv", rows))
    assert guess is not None
    assert guess.arms == [{"name": "row-mixup", "mixer": {"name": "tabular:row-mixup", "alpha": 0.2,
                                                          "categorical_slices": [], "num_features": 2}}]


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        ([{"path": f"img{i}.png", "label": "ab"[i % 2]} for i in range(20)], "a manifest (path column)"),
        ([{"clip_name": f"c/{i}.wav", "label": "ab"[i % 2]} for i in range(20)], "a manifest (file names)"),
        ([{"x": float(i), "y": float(i) / 3} for i in range(20)], "no label column, a real-valued last column"),
        ([{"x": float(i), "split": "train" if i % 4 else "test"} for i in range(20)], "no label column, a split last"),
    ],
)
def test_not_a_table_of_features(tmp_path: Path, rows: list[dict[str, Any]], why: str) -> None:
    assert detect_table(write_table(tmp_path / "t.csv", rows)) is None, why


def test_not_a_table_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    assert detect_table(tmp_path / "notes.txt") is None
    assert detect_table(tmp_path) is None


def test_a_text_table_scores_low(tmp_path: Path) -> None:
    words = ["the", "pump", "on", "line", "three", "shows", "a", "slow", "rise", "in", "bearing", "temperature",
             "after", "each", "restart"]
    rows = [{"text": " ".join(words[i % 5 : i % 5 + 8]), "shift": "day", "label": "ab"[i % 2]} for i in range(40)]
    guess = detect_table(write_table(tmp_path / "t.csv", rows))
    assert guess is not None
    assert guess.score == 0.3
    rows = [{"text": f"note {i}: " + " ".join(words[i % 7 :]), "label": "ab"[i % 2]} for i in range(150)]
    assert detect_table(write_table(tmp_path / "u.csv", rows)) is None  # free text only: nothing left to learn from


def test_preview_draws_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str], pump_log: Callable[..., Path]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "preview.png"
    assert main(["preview", "tabular:row-mixup", "--out", str(out), "--param", "alpha=1.0"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pump_log()
    out2 = tmp_path / "table.png"
    assert main(["preview", "row-mixup", "--inputs", str(table), "--out", str(out2), "--batch-size", "3"]) == 0
    assert out2.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["preview", "row-mixup", "--inputs", str(tmp_path), "--out", str(out2)]) == 2
    assert "--inputs: not a table of numeric and categorical columns" in capsys.readouterr().err
