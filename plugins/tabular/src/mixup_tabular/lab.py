"""The ``tabular:table`` data set (your own table) and the ``tabular:mlp`` model, registered by the tabular plugin.

``tabular:table`` (`load_table_task`) reads a CSV, TSV, JSONL or Parquet table with one row per
example, a label column, optional ``group`` and ``split`` columns, and any number of numeric and
categorical feature columns; it encodes the rows as float vectors ``(F,)`` with
`mixup_tabular.datasets.TableEncoder` fitted on the training split only. ``tabular:mlp`` (`mlp`)
is a multilayer perceptron on those rows that carries the data set's feature layout, so that
``tabular:row-mixup`` can check its categorical blocks against it.

Examples:
    >>> data = load_table_task(root="pumps.csv", label_column="status")   # doctest: +SKIP
    >>> data.info["categorical_slices"], data.input_shape                  # doctest: +SKIP
    ([[3, 6]], (7,))
    >>> model = mlp(data)                                                  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mixup_core import ConfigError, TaskData
from mixup_core.data import (
    TABLE_SUFFIXES,
    DataError,
    LabeledTensors,
    class_counts,
    int_param,
    read_table,
    split_indices,
)

from .datasets import DEFAULT_MISSING_VALUES, TableEncoder, parse_number, quote_cells, typed_columns

__all__ = ["TabularMLP", "load_table_task", "mlp"]

_SHOWN = 5


# ---------------------------------------------------------------------- parameter checks
def _name_param(name: str, value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        kind = "a column name or null" if optional else "a column name"
        raise ConfigError(f"{name} must be {kind}, got {value!r}")
    return value


def _names_param(name: str, value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name} must be a list of column names, got {name}={value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{name} lists a column twice: {name}={list(value)!r}")
    return list(value)


def _choice_param(name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, got {name}={value!r}")
    return str(value)


def _rows(rows: Sequence[int]) -> str:
    shown = ", ".join(str(r + 1) for r in rows[:_SHOWN])
    return f"row{'s' if len(rows) > 1 else ''} {shown}" + (
        f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    )


def _class_order(names: set[str]) -> list[str]:
    """Classes sorted by value when every one is a number (``2`` before ``10``), else as text."""
    numbers = {n: parse_number(n, ()) for n in names}
    if all(v is not None and math.isfinite(v) for v in numbers.values()):
        return sorted(names, key=lambda n: (numbers[n], n))
    return sorted(names)


# ---------------------------------------------------------------------- the data set
def load_table_task(
    *,
    root: str | os.PathLike[str],
    label_column: str = "label",
    group_column: str | None = "group",
    split_column: str | None = "split",
    columns: Sequence[str] | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    missing: str = "impute",
    missing_values: Sequence[str] = DEFAULT_MISSING_VALUES,
    max_categories: int = 100,
    on_error: str = "stop",
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> TaskData:
    """Your own table as a classification task: one row per example, numeric and categorical columns.

    The table (CSV, TSV, JSONL or Parquet; read by `mixup_core.data.read_table`) has a label
    column, optionally a group column (machine, line, site …: a group is never split across
    train and test) and a split column (``train``/``test``), and feature columns. Feature columns
    are every other column, or those of ``columns``, less those of ``drop``. A column is
    numeric when all its present values are numbers, categorical when it holds text; list
    number-coded categories (machine type 1, 2, 3) under ``categorical``. The split is the given
    one, else group-aware, else stratified (`mixup_core.data.split_indices`).

    Encoding (fitted on the training split only, applied to both splits; see
    `mixup_tabular.datasets`): numeric columns are standardised with the training mean and
    standard deviation; categorical columns become one-hot blocks of the training categories; a
    category absent from the training split encodes as all zeros (counted in
    ``info["unseen_categories"]``). Missing values (empty cells, ``NA``, ``null`` … see
    ``missing_values``): with ``missing="impute"`` (default) a numeric value is replaced by the
    training mean and the column gains a 0/1 missing-indicator feature, and a categorical value
    is the category ``(missing)``; with ``missing="error"`` any missing feature value is refused.

    Args:
        root: the table file.
        label_column: the column of class labels.
        group_column: the group column, used when the table has it (``None``: never).
        split_column: the split column, used when the table has it (``None``: never).
        columns: the feature columns (default: every column but the label, group and split).
        drop: columns left out of the features (identifiers, timestamps, free text).
        categorical: columns encoded as categories whatever they hold.
        numeric: columns that must hold numbers (a cell that does not is an error, or with
            ``on_error="skip"`` its row is left out).
        missing: ``"impute"`` or ``"error"``, as above.
        missing_values: cell texts read as missing (compared after stripping spaces).
        max_categories: the most categories a categorical column may have (more usually means
            free text or an identifier, which should be dropped).
        on_error: ``"stop"`` (default) refuses rows without a label or with a non-number in a
            ``numeric`` column; ``"skip"`` leaves them out (counted in ``info["skipped"]``).
        test_fraction: the share of rows held out when the table has no split column.
        split_seed: seed of the split.

    Returns:
        A `mixup_core.TaskData` with ``modality="tabular"``, items ``(float tensor (F,), class
        index)``, ``input_shape=(F,)``, and ``info`` holding the source, counts, the feature
        layout (``feature_names``, ``numeric`` with each column's mean, std and indicator,
        ``categorical`` with each block's slice and categories, ``categorical_slices``,
        ``num_features``), missing and unseen counts.

    Raises:
        mixup_core.ConfigError: a parameter is malformed (named, with its value).
        mixup_core.data.DataError: the file is not a table; a named column is missing; a label is
            empty; fewer than two classes; real-valued labels; a column mixing numbers and text, a
            non-number in a ``numeric`` column, an infinite value, a missing value with
            ``missing="error"``; too many categories; a group in both given splits; an empty split.
        mixup_core.data.DataNotFoundError: ``root`` does not exist.

    Examples:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "pumps.csv"
        >>> rows = [f"{t},{'AB'[i % 2]},{'ok' if t < 50 else 'fault'}" for i, t in enumerate(range(10, 90, 4))]
        >>> _ = f.write_text("temp,pump,label\\n" + "\\n".join(rows) + "\\n")
        >>> data = load_table_task(root=f)
        >>> data.class_names, data.input_shape, data.info["categorical_slices"]
        (['fault', 'ok'], (3,), [[1, 3]])
    """
    label_column = _name_param("label_column", label_column)  # type: ignore[assignment]  # not optional: a str
    group_column = _name_param("group_column", group_column, optional=True)
    split_column = _name_param("split_column", split_column, optional=True)
    chosen = None if columns is None else _names_param("columns", columns)
    drop = _names_param("drop", drop)
    categorical = _names_param("categorical", categorical)
    numeric = _names_param("numeric", numeric)
    missing = _choice_param("missing", missing, ("impute", "error"))
    on_error = _choice_param("on_error", on_error, ("stop", "skip"))
    if isinstance(missing_values, str) or not isinstance(missing_values, Sequence) or not all(
        isinstance(v, str) for v in missing_values
    ):
        raise ConfigError(f"missing_values must be a list of cell texts, got missing_values={missing_values!r}")
    missing_values = [v.strip() for v in missing_values]
    int_param("max_categories", max_categories, 2)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be a number in (0, 1), got test_fraction={test_fraction!r}")
    int_param("split_seed", split_seed, 0)
    if not isinstance(root, (str, os.PathLike)):
        raise ConfigError(f"root must be the path of a table file, got root={root!r}")
    path = Path(root).expanduser()
    if path.is_dir():
        raise DataError(f"{path}: a folder; tabular:table reads one table file ({', '.join(TABLE_SUFFIXES)})")

    table = read_table(path)
    present = list(table)
    n = len(next(iter(table.values())))

    def need(column: str, what: str) -> None:
        if column not in table:
            raise DataError(f"{path}: no {what} column {column!r} (the columns are {present})")

    need(label_column, "label")
    groups_col = group_column if group_column is not None and group_column in table else None
    if group_column is not None and groups_col is None and group_column != "group":
        need(group_column, "group")
    splits_col = split_column if split_column is not None and split_column in table else None
    if split_column is not None and splits_col is None and split_column != "split":
        need(split_column, "split")
    reserved = [c for c in (label_column, groups_col, splits_col) if c is not None]
    if len(set(reserved)) != len(reserved):
        raise ConfigError(f"label_column, group_column and split_column must be different columns, got {reserved}")
    for name, listed in (("columns", chosen or []), ("drop", drop), ("categorical", categorical), ("numeric", numeric)):
        unknown = [c for c in listed if c not in table]
        if unknown:
            raise DataError(f"{path}: {name} names column{'s' if len(unknown) > 1 else ''} {unknown}, which the table "
                            f"does not have (the columns are {present})")
    features = [c for c in (chosen if chosen is not None else present) if c not in drop]
    clash = [c for c in features if c in reserved]
    if chosen is not None and clash:
        raise DataError(f"{path}: columns lists {clash}, the label, group or split column; it cannot be a feature too")
    features = [c for c in features if c not in reserved]
    if not features:
        raise DataError(f"{path}: no feature column left (the columns are {present}; label, group and split columns "
                        "and those of drop are not features)")
    for name, listed in (("categorical", categorical), ("numeric", numeric)):
        stray = [c for c in listed if c not in features]
        if stray:
            raise DataError(f"{path}: {name} names {stray}, which {'are' if len(stray) > 1 else 'is'} not among the "
                            f"feature columns {features}")

    # -- labels, groups, splits: rows without a label, with an unknown split, are refused (or skipped)
    raw_labels = table[label_column]
    labels = ["" if v is None else str(v).strip() for v in raw_labels]
    no_label = [i for i, v in enumerate(labels) if v in ("", *missing_values) or v.lower() == "nan"]
    cols, bad_numeric = typed_columns(table, features, path=path, categorical=categorical, numeric=numeric,
                                      missing_values=missing_values)
    problems = []
    if no_label:
        problems.append(f"{len(no_label)} row{'s' if len(no_label) > 1 else ''} without a label in column "
                        f"{label_column!r} ({_rows(no_label)})")
    for name, cells in bad_numeric.items():
        problems.append(f"column {name!r} is declared numeric but holds {quote_cells(cells)}")
    bad_rows = sorted(set(no_label) | {r for cells in bad_numeric.values() for r, _ in cells})
    if problems and on_error == "stop":
        raise DataError(f"{path}: {'; '.join(problems)}. Fix the table, or set on_error: skip to leave those rows out")
    keep = np.setdiff1d(np.arange(n), np.asarray(bad_rows, dtype=np.int64))
    if keep.size == 0:
        raise DataError(f"{path}: no row is left once the rows without a label or with bad numbers are skipped")
    for col in cols.values():
        col.values, col.missing = col.values[keep], col.missing[keep]
    labels = [labels[i] for i in keep]
    groups = None if groups_col is None else [str(table[groups_col][i]).strip() for i in keep]
    splits = None
    if splits_col is not None:
        splits = [str(table[splits_col][i]).strip().lower() for i in keep]
        wrong = [(int(keep[j]), table[splits_col][keep[j]]) for j, s in enumerate(splits) if s not in ("train", "test")]
        if wrong:
            raise DataError(f"{path}: column {splits_col!r} must hold 'train' or 'test', got {quote_cells(wrong)}")

    # -- missing values and categories
    gaps = {name: int(col.missing.sum()) for name, col in cols.items() if col.missing.any()}
    if gaps and missing == "error":
        name = next(iter(gaps))
        rows = np.flatnonzero(cols[name].missing).tolist()
        raise DataError(f"{path}: column {name!r} has {gaps[name]} missing value{'s' if gaps[name] > 1 else ''} "
                        f"({_rows(rows)}) and missing is 'error'; fill them, drop the column, or set missing: impute")
    for name, col in cols.items():
        if col.kind == "categorical":
            distinct = len(set(col.values.tolist()))
            if distinct > max_categories:
                raise DataError(f"{path}: column {name!r} has {distinct} distinct values, more than max_categories="
                                f"{max_categories}: is it free text or an identifier? Drop it (drop: [{name}]) or "
                                "raise max_categories")

    # -- classes
    classes = _class_order(set(labels))
    if len(classes) < 2:
        raise DataError(f"{path}: column {label_column!r} holds one class only ({classes}); a classification study "
                        "needs at least two")
    values = [parse_number(c, ()) for c in classes]  # float(v) below: after the check that none is None
    if all(v is not None and math.isfinite(v) for v in values) and not all(float(v).is_integer() for v in values):  # type: ignore[arg-type]
        real = next(c for c, v in zip(classes, values, strict=True) if not float(v).is_integer())  # type: ignore[arg-type]
        raise DataError(f"{path}: column {label_column!r} holds real numbers (e.g. {real!r}), not classes; a "
                        "classification study needs class labels (bin the values into classes first)")
    index = {c: k for k, c in enumerate(classes)}
    y = np.asarray([index[v] for v in labels], dtype=np.int64)

    try:
        train, test = split_indices(
            y, groups=groups, splits=splits, test_fraction=float(test_fraction), seed=split_seed
        )
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from exc
    encoder = TableEncoder.fit(cols, train)
    x_train, _ = encoder.transform(cols, train)
    x_test, unseen = encoder.transform(cols, test)

    layout = encoder.layout()
    info: dict[str, Any] = {
        "source": str(path.resolve()),
        "layout": "table",
        "format": path.suffix.lower().lstrip("."),
        "rows": n,
        "label_column": label_column,
        "group_column": groups_col,
        "split": "given" if splits is not None else ("group-aware" if groups is not None else "stratified"),
        "counts": {"train": class_counts(y[train], classes), "test": class_counts(y[test], classes)},
        "skipped": n - int(keep.size),
        "skipped_rows": [r + 1 for r in bad_rows[:20]],
        **layout,
        "missing": gaps,
        "unseen_categories": {"test": {k: v for k, v in unseen.items() if v}},
    }
    train_set = LabeledTensors(torch.from_numpy(x_train), torch.from_numpy(y[train]))
    test_set = LabeledTensors(torch.from_numpy(x_test), torch.from_numpy(y[test]))
    # where each example comes from, for the data checks' messages (data rows numbered from 1, as above); an
    # attribute of these two data sets only
    train_set.sources = [f"{path.name} row {int(keep[i]) + 1}" for i in train]  # type: ignore[attr-defined]
    test_set.sources = [f"{path.name} row {int(keep[i]) + 1}" for i in test]  # type: ignore[attr-defined]
    return TaskData(
        train=train_set,
        test=test_set,
        num_classes=len(classes),
        class_names=classes,
        modality="tabular",
        input_shape=(encoder.num_features,),
        info=info,
        train_groups=None if groups is None else [groups[i] for i in train],
        test_groups=None if groups is None else [groups[i] for i in test],
    )


# ---------------------------------------------------------------------- the model
class TabularMLP(nn.Module):
    """A multilayer perceptron on encoded table rows: (Linear, ReLU, Dropout) per hidden layer, then a linear head.

    Args:
        num_features: the row width ``F``.
        num_classes: the number of classes.
        hidden: widths of the hidden layers (``[]`` for a linear classifier).
        dropout: dropout after each hidden layer, in [0, 1).
        feature_layout: the data set's layout (``num_features``, ``categorical_slices``), kept as
            the attribute ``feature_layout`` for `mixup_tabular.RowMixup.check_layout`.

    Examples:
        >>> TabularMLP(7, 3, hidden=[16])(torch.zeros(4, 7)).shape
        torch.Size([4, 3])
    """

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        *,
        hidden: Sequence[int] = (128, 128),
        dropout: float = 0.1,
        feature_layout: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = num_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)
        self.feature_layout = feature_layout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of rows ``(B, F)``."""
        return self.net(x)


def mlp(data: TaskData, *, hidden: int | Sequence[int] = (128, 128), dropout: float = 0.1) -> TabularMLP:
    """A multilayer perceptron for the rows of ``data`` (``input_shape`` must be ``(F,)``); see `TabularMLP`.

    Args:
        data: the experiment's data (`load_table_task`, or any `TaskData` of float rows ``(F,)``).
        hidden: widths of the hidden layers (default ``[128, 128]``; one int for one layer; ``[]``
            for a linear classifier).
        dropout: dropout after each hidden layer, in [0, 1) (default 0.1).

    Raises:
        ConfigError: a bad parameter, or inputs that are not rows ``(F,)``.

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> x, y = torch.zeros(4, 5), torch.tensor([0, 1, 2, 0])
        >>> data = TaskData(TensorDataset(x, y), TensorDataset(x, y), 3, ["a", "b", "c"], "tabular", input_shape=(5,))
        >>> mlp(data, hidden=[8])(x).shape
        torch.Size([4, 3])
    """
    shape = data.input_shape
    if shape is None or len(shape) != 1:
        raise ConfigError(f"model tabular:mlp needs rows of shape (F,), got input_shape={shape!r} "
                          f"(data set of modality {data.modality!r})")
    widths: object = [hidden] if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool) else hidden
    if isinstance(widths, str) or not isinstance(widths, Sequence) or not all(
        isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1 for h in widths
    ):
        raise ConfigError(f"hidden must be a positive int or a list of positive ints, got hidden={hidden!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ConfigError(f"dropout must be a number in [0, 1), got dropout={dropout!r}")
    layout = None
    if "categorical_slices" in data.info:
        layout = {
            "num_features": int(shape[0]),
            "categorical_slices": [list(s) for s in data.info["categorical_slices"]],
        }
    return TabularMLP(int(shape[0]), data.num_classes, hidden=[int(h) for h in widths], dropout=float(dropout),
                      feature_layout=layout)
