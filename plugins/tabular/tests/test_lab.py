"""tabular:table (load_table_task) and tabular:mlp on tables the tests write."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mixup_core import ConfigError, TaskData, get_datasets, get_models
from mixup_core.data import DataError, DataNotFoundError
from mixup_tabular.lab import load_table_task, mlp

from .conftest import log_rows, write_table


def _split_rows(rows: list[dict[str, Any]], test_lines: set[str]) -> None:
    for r in rows:
        r["split"] = "test" if r["line"] in test_lines else "train"


def test_registered_names_load() -> None:
    assert get_datasets().get("tabular:table").load() is load_table_task
    assert get_models().get("tabular:mlp").load() is mlp


def test_layout_types_and_items(pump_log: Callable[..., Path]) -> None:
    data = load_table_task(root=pump_log(), label_column="status", group_column="line")
    assert isinstance(data, TaskData)
    assert data.modality == "tabular"
    assert data.class_names == ["fault", "ok"]
    info = data.info
    # table order: temp, vibration (numeric, no missing values: no indicator), pump (3), shift (2)
    assert info["feature_names"] == ["temp", "vibration", "pump=A", "pump=B", "pump=C", "shift=day", "shift=night"]
    assert [f["column"] for f in info["numeric"]] == ["temp", "vibration"]
    assert [f["missing_indicator"] for f in info["numeric"]] == [None, None]
    assert info["categorical_slices"] == [[2, 5], [5, 7]]
    assert info["categorical"][0] == {"column": "pump", "slice": [2, 5], "categories": ["A", "B", "C"]}
    assert info["num_features"] == 7
    assert data.input_shape == (7,)
    assert info["layout"] == "table"
    assert info["format"] == "csv"
    assert info["skipped"] == 0
    assert info["split"] == "group-aware"
    assert info["group_column"] == "line"
    assert sum(info["counts"]["train"].values()) == len(data.train)
    x, y = data.train[0]
    assert x.dtype == torch.float32
    assert x.shape == (7,)
    assert isinstance(y, int)
    # every one-hot block of every row holds exactly one 1
    for split in (data.train, data.test):
        blocks = split.inputs[:, 2:5].sum(1), split.inputs[:, 5:7].sum(1)
        assert all(bool((b == 1).all()) for b in blocks)
    # group-aware: no line on both sides
    assert data.train_groups is not None
    assert data.test_groups is not None
    assert not set(data.train_groups) & set(data.test_groups)


def test_standardisation_uses_the_training_split_only(pump_log: Callable[..., Path]) -> None:
    def edit(rows: list[dict[str, Any]]) -> None:
        _split_rows(rows, {"L0"})
        for r in rows:
            if r["split"] == "test":
                r["temp"] += 1000.0  # a leak of test statistics would move the mean far away

    path = pump_log(edit=edit)
    rows = [r for r in log_rows() if r["line"] != "L0"]
    train_temp = np.asarray([r["temp"] for r in rows])
    data = load_table_task(root=path, label_column="status", group_column="line")
    temp = data.info["numeric"][0]
    assert data.info["split"] == "given"
    assert temp["mean"] == pytest.approx(train_temp.mean())
    assert temp["std"] == pytest.approx(train_temp.std())
    np.testing.assert_allclose(
        data.train.inputs[:, 0].numpy(), (train_temp - train_temp.mean()) / train_temp.std(), rtol=1e-5
    )
    test_temp = np.asarray([r["temp"] + 1000.0 for r in log_rows() if r["line"] == "L0"])
    np.testing.assert_allclose(
        data.test.inputs[:, 0].numpy(), (test_temp - train_temp.mean()) / train_temp.std(), rtol=1e-5
    )
    assert float(data.train.inputs[:, 0].mean()) == pytest.approx(0.0, abs=1e-5)


def test_one_hot_categories_come_from_the_training_split(pump_log: Callable[..., Path]) -> None:
    def edit(rows: list[dict[str, Any]]) -> None:
        _split_rows(rows, {"L0"})
        for r in rows:
            if r["split"] == "test" and r["pump"] == "A":
                r["pump"] = "D"  # a pump type the training rows never show

    data = load_table_task(root=pump_log(edit=edit), label_column="status", group_column="line")
    pump = data.info["categorical"][0]
    assert pump["categories"] == ["A", "B", "C"]  # D is not a slot
    assert data.info["num_features"] == 7
    rows = [r for r in log_rows() if r["line"] == "L0"]
    unseen = [i for i, r in enumerate(rows) if r["pump"] == "A"]
    assert data.info["unseen_categories"] == {"test": {"pump": len(unseen)}}
    block = data.test.inputs[:, 2:5]
    assert bool((block[unseen] == 0).all())  # an unseen category is all zeros
    seen = [i for i in range(len(rows)) if i not in unseen]
    assert bool((block[seen].sum(1) == 1).all())


def test_missing_values_are_imputed_with_an_indicator(pump_log: Callable[..., Path]) -> None:
    def edit(rows: list[dict[str, Any]]) -> None:
        _split_rows(rows, {"L0"})
        rows[1]["temp"] = None  # line L1: the first training row
        rows[6]["temp"] = "NA"  # line L0: the second test row
        rows[7]["pump"] = None  # a missing category (training)

    path = pump_log(edit=edit)
    data = load_table_task(root=path, label_column="status", group_column="line")
    info = data.info
    assert info["feature_names"][:3] == ["temp", "temp=missing", "vibration"]
    assert info["numeric"][0]["missing_indicator"] == 1
    assert info["missing"] == {"temp": 2, "pump": 1}
    assert info["categorical"][0]["categories"] == ["(missing)", "A", "B", "C"]
    train_rows = [r for r in log_rows() if r["line"] != "L0"]
    present = np.asarray([r["temp"] for r in train_rows[1:]])
    assert info["numeric"][0]["mean"] == pytest.approx(present.mean())  # the mean of the present values
    assert data.train.inputs[0, :2].tolist() == [0.0, 1.0]  # imputed with the mean (0 standardised) and flagged
    assert data.test.inputs[1, :2].tolist() == [0.0, 1.0]
    assert float(data.train.inputs[:, 1].sum()) == 1.0
    assert float(data.test.inputs[:, 1].sum()) == 1.0
    with pytest.raises(DataError, match=r"column 'temp' has 2 missing values \(rows 2, 7\) and missing is 'error'"):
        load_table_task(root=path, label_column="status", group_column="line", missing="error")


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl", ".parquet"])
def test_other_formats_give_the_same_rows(pump_log: Callable[..., Path], tmp_path: Path, suffix: str) -> None:
    csv_data = load_table_task(root=pump_log(), label_column="status", group_column="line")
    if suffix == ".parquet":
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        rows = log_rows()
        path = tmp_path / "log.parquet"
        pq.write_table(pa.table({c: [r[c] for r in rows] for c in rows[0]}), path)
    else:
        path = write_table(tmp_path / f"log{suffix}", log_rows())
    data = load_table_task(root=path, label_column="status", group_column="line")
    assert data.info["feature_names"] == csv_data.info["feature_names"]
    torch.testing.assert_close(data.train.inputs, csv_data.train.inputs)
    torch.testing.assert_close(data.test.labels, csv_data.test.labels)


def test_columns_drop_and_declared_categories(pump_log: Callable[..., Path]) -> None:
    def edit(rows: list[dict[str, Any]]) -> None:
        for i, r in enumerate(rows):
            r["machine"] = 1 + i % 2  # a number-coded category

    path = pump_log(edit=edit)
    data = load_table_task(root=path, label_column="status", columns=["temp", "pump", "machine"], drop=["pump"],
                           categorical=["machine"])
    assert data.info["feature_names"] == ["temp", "machine=1", "machine=2"]
    assert data.info["categorical_slices"] == [[1, 3]]
    assert data.info["group_column"] is None  # the table has no column named 'group'
    plain = load_table_task(root=path, label_column="status", drop=["line", "pump", "shift"])
    assert plain.info["feature_names"] == ["temp", "vibration", "machine"]  # numbers: numeric unless declared


def test_numeric_class_labels_sort_by_value(tmp_path: Path) -> None:
    rows = [{"x": float(i), "label": [2, 10, 1][i % 3]} for i in range(30)]
    data = load_table_task(root=write_table(tmp_path / "t.csv", rows))
    assert data.class_names == ["1", "2", "10"]


def test_on_error_skip_leaves_bad_rows_out(pump_log: Callable[..., Path]) -> None:
    def edit(rows: list[dict[str, Any]]) -> None:
        rows[3]["temp"] = "hot"
        rows[5]["status"] = ""

    path = pump_log(edit=edit)
    with pytest.raises(DataError, match=r"1 row without a label in column 'status' \(row 6\); column 'temp' is "
                                        r"declared numeric but holds 'hot' \(row 4\)"):
        load_table_task(root=path, label_column="status", numeric=["temp"])
    data = load_table_task(root=path, label_column="status", numeric=["temp"], on_error="skip")
    assert data.info["skipped"] == 2
    assert data.info["skipped_rows"] == [4, 6]
    assert len(data.train) + len(data.test) == 58


@pytest.mark.parametrize(
    ("edit", "params", "message"),
    [
        (None, {"label_column": "state"}, r"log.csv: no label column 'state' \(the columns are \['temp'"),
        (None, {"label_column": "status", "group_column": "site"}, r"no group column 'site'"),
        (None, {"label_column": "status", "drop": ["nope"]}, (r"drop names column \['nope'\], "
                                                              r"which the table does not have")),
        (None, {"label_column": "status", "numeric": ["pump"]}, (r"column 'pump' is declared "
                                                                 r"numeric but holds 'A' \(row 1\)")),
        (lambda rows: [r.update(status="ok") for r in rows], {"label_column": "status"},
         r"column 'status' holds one class only \(\['ok'\]\)"),
        (lambda rows: [r.update(status=r["temp"]) for r in rows], {"label_column": "status"},
         r"column 'status' holds real numbers \(e.g. '\d+\.\d+'\), not classes"),
        (lambda rows: rows[4].update(temp="12,5"), {"label_column": "status"},
         r"column 'temp' holds numbers in 59 of 60 rows but also text: '12,5' \(row 5\)"),
        (lambda rows: rows[2].update(vibration="inf"), {"label_column": "status"},
         r"column 'vibration' holds infinite values: 'inf' \(row 3\)"),
        (lambda rows: [r.update(note=f"n{i}") for i, r in enumerate(rows)],
         {"label_column": "status", "max_categories": 50},
         r"column 'note' has 60 distinct values, more than max_categories=50"),
        (lambda rows: [r.update(temp=None) for r in rows], {"label_column": "status"}, r"column 'temp' has no values"),
        (lambda rows: _split_rows(rows, {"L0"}) or rows[0].update(split="train"),
         {"label_column": "status", "group_column": "line"}, r"group \['L0'\] in both the train and the test split"),
        (lambda rows: [r.update(split="validation") for r in rows], {"label_column": "status"},
         r"column 'split' must hold 'train' or 'test', got 'validation' \(row 1\)"),
    ],
)
def test_bad_tables_are_refused_naming_the_column(
    pump_log: Callable[..., Path], edit: Any, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        load_table_task(root=pump_log(edit=edit), **params)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"drop": "line"}, r"drop must be a list of column names, got drop='line'"),
        ({"missing": "zero"}, r"missing must be one of \['impute', 'error'\], got missing='zero'"),
        ({"on_error": "ignore"}, r"on_error must be one of \['stop', 'skip'\]"),
        ({"test_fraction": 1.5}, r"test_fraction must be a number in \(0, 1\), got test_fraction=1.5"),
        ({"max_categories": 1}, r"max_categories must be >= 2, got max_categories=1"),
        ({"label_column": ""}, r"label_column must be a column name, got ''"),
        ({"categorical": ["pump"], "numeric": ["pump"]}, r"listed under both categorical and numeric"),
    ],
)
def test_bad_parameters_name_the_parameter(pump_log: Callable[..., Path], params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_table_task(root=pump_log(), **{"label_column": "status", **params})


def test_missing_or_wrong_files(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no such file"):
        load_table_task(root=tmp_path / "nope.csv")
    with pytest.raises(DataError, match="a folder; tabular:table reads one table file"):
        load_table_task(root=tmp_path)


def test_mlp_carries_the_feature_layout(pump_log: Callable[..., Path]) -> None:
    data = load_table_task(root=pump_log(), label_column="status")
    model = mlp(data, hidden=[16, 8], dropout=0.0)
    assert model.feature_layout == {"num_features": 13, "categorical_slices": [[2, 5], [5, 7], [7, 13]]}
    x = torch.stack([data.train[i][0] for i in range(4)])
    assert model(x).shape == (4, 2)
    assert math.isclose(sum(p.numel() for p in model.parameters()), 13 * 16 + 16 + 16 * 8 + 8 + 8 * 2 + 2)
    with pytest.raises(
        ConfigError, match=r"hidden must be a positive int or a list of positive ints, got hidden=\[0\]"
    ):
        mlp(data, hidden=[0])
    with pytest.raises(ConfigError, match=r"dropout must be a number in \[0, 1\), got dropout=1"):
        mlp(data, dropout=1)
    images = TaskData(data.train, data.test, 2, ["a", "b"], "image", input_shape=(1, 3, 3))
    with pytest.raises(ConfigError, match=r"tabular:mlp needs rows of shape \(F,\), got input_shape=\(1, 3, 3\)"):
        mlp(images)
