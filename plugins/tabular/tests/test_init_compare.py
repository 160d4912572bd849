"""`mixup init TABLE` then `mixup compare`, end to end; bad tables are one-line errors that write nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mixup_core.cli import main
from mixup_tabular.lab import load_table_task

pytestmark = pytest.mark.xdist_group("lab-compare")


def _log_with_ids_gaps_and_groups(rows: list[dict[str, Any]]) -> None:
    for i, r in enumerate(rows):
        r["id"] = 1000 + i
        r["group"] = r.pop("line")
        r["status"] = r.pop("status")  # keep the label last
    rows[3]["temp"] = None
    rows[8]["pump"] = None


def test_init_then_compare_runs_every_arm(
    pump_log: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pump_log("Pump Log.csv", edit=_log_with_ids_gaps_and_groups)
    monkeypatch.chdir(tmp_path)
    assert main(["init", str(table)]) == 0
    written = tmp_path / "pump-log.yaml"
    assert capsys.readouterr().out.splitlines()[0] == "pump-log.yaml"
    text = written.read_text()
    assert "Classes found: fault, ok" in text
    assert "label column 'status' with 2 classes, groups in 'group'; left out: id" in text
    raw = yaml.safe_load(text)
    assert raw["dataset"] == {"name": "tabular:table", "root": str(table), "label_column": "status", "drop": ["id"]}
    assert raw["model"] == {"name": "tabular:mlp"}
    assert raw["train"]["epochs"] == 30
    # the mixer's layout is the data set's: temp (+ missing indicator), vibration, then the pump and shift blocks
    info = load_table_task(root=table, label_column="status", drop=["id"]).info
    assert info["feature_names"][:3] == ["temp", "temp=missing", "vibration"]
    slices = info["categorical_slices"]
    assert [b - a for a, b in slices] in ([3, 2], [4, 2])  # (missing) is a pump slot when it falls in training
    assert raw["arms"] == [
        {"name": "baseline"},
        {"name": "row-mixup", "mixer": {"name": "tabular:row-mixup", "alpha": 0.2, "categorical_slices": slices,
                                        "num_features": info["num_features"]}},
        {"name": "mixup", "mixer": {"name": "core:mixup", "alpha": 0.2}},
    ]
    out = tmp_path / "study"
    assert main(["compare", str(written), "--seeds", "0", "--quiet", "--set", "train.epochs=1", "--out", str(out)]) == 0
    runs = sorted(out.glob("runs/*/seed-0/metrics.json"))
    assert sorted(json.loads(p.read_text())["arm"] for p in runs) == ["baseline", "mixup", "row-mixup"]
    for p in runs:
        metrics = json.loads(p.read_text())
        assert 0.0 <= metrics["accuracy"] <= 1.0
    study = json.loads((out / "study.json").read_text())
    assert study["dataset_info"]["categorical_slices"] == slices
    assert study["dataset_info"]["split"] == "group-aware"
    assert (out / "report.md").is_file()


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mixup: error:"), err
    assert "Traceback" not in captured.err
    return err


def _config(tmp_path: Path, table: Path, **dataset: Any) -> Path:
    config = {
        "name": "bad",
        "dataset": {"name": "tabular:table", "root": str(table), **dataset},
        "model": {"name": "tabular:mlp"},
        "train": {"epochs": 1, "batch_size": 16},
        "seeds": [0],
        "arms": [{"name": "baseline"}, {"name": "row-mixup", "mixer": {"name": "tabular:row-mixup"}}],
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _one_class(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        r["label"] = "ok"
        del r["status"]


def _declared_numeric(rows: list[dict[str, Any]]) -> None:
    rows[11]["temp"] = "hot"


def _group_in_both_splits(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        r["group"] = r.pop("line")
        r["split"] = "test" if r["group"] == "L0" else "train"
        r["status"] = r.pop("status")
    rows[6]["split"] = "train"  # line L0 now on both sides


@pytest.mark.parametrize(
    ("edit", "dataset", "message"),
    [
        (None, {"label_column": "state"}, r"no label column 'state' \(the columns are \['temp', 'vibration', 'pump'"),
        (_one_class, {}, r"column 'label' holds one class only \(\['ok'\]\)"),
        (_declared_numeric, {"label_column": "status", "numeric": ["temp"]},
         r"column 'temp' is declared numeric but holds 'hot' \(row 12\)"),
        (_group_in_both_splits, {"label_column": "status"}, r"group \['L0'\] in both the train and the test split"),
    ],
    ids=["missing-label-column", "one-class", "text-in-numeric-column", "group-in-both-splits"],
)
def test_bad_tables_stop_compare_with_one_line(
    pump_log: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    edit: Any, dataset: dict[str, Any], message: str,
) -> None:
    table = pump_log(edit=edit)
    out = tmp_path / "study"
    assert main(["compare", str(_config(tmp_path, table, **dataset)), "--quiet", "--out", str(out)]) == 2
    err = _error(capsys)
    assert str(table) in err
    assert re.search(message, err), err
    assert not out.exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_one_class, r"column 'label' holds one class only"),
        (_group_in_both_splits, r"group \['L0'\] in both the train and the test split"),
    ],
    ids=["one-class", "group-in-both-splits"],
)
def test_bad_tables_stop_init_with_one_line(
    pump_log: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any, message: str
) -> None:
    table = pump_log(edit=edit)
    config = tmp_path / "study.yaml"
    assert main(["init", str(table), "--out", str(config)]) == 2
    err = _error(capsys)
    assert re.search(message, err), err
    assert not config.exists()
