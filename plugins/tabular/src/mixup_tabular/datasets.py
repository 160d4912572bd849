"""Raw readers of the tabular plugin: the typed columns of a table, and the encoder fitted on training rows.

A table (read by `mixup_core.data.read_table`) becomes typed columns with `typed_columns`: a
column is **numeric** when every value that is present reads as a finite number (``"3.5"``,
``"1e3"``, ``7``), **categorical** when it holds text (or when it is listed as categorical). Cells
equal to one of ``missing_values`` (and JSON ``null``, Parquet nulls, NaN) are missing.

`TableEncoder.fit` learns, from the training rows only, the mean and standard deviation of every
numeric column and the categories of every categorical column; `TableEncoder.transform` turns any
rows into a float matrix ``(N, F)``:

* a numeric column becomes ``(x − mean) / std`` (``std`` 0 is taken as 1); when the column has
  missing values anywhere in the table, a missing value becomes the training mean (0 after
  standardisation) and the column gains a **missing indicator** ``<column>=missing`` (1 where the
  value was missing, else 0), placed right after it;
* a categorical column becomes a one-hot block with one slot per training category (sorted; a
  missing value is the category ``(missing)``); a category that the training rows do not hold
  encodes as **all zeros** (no "other" slot), and the encoder counts those values.

Features keep the order of the table's columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mixup_core.data import DataError

__all__ = [
    "DEFAULT_MISSING_VALUES",
    "MISSING_CATEGORY",
    "CategoricalFeature",
    "Column",
    "NumericFeature",
    "TableEncoder",
    "parse_number",
    "quote_cells",
    "typed_columns",
]

DEFAULT_MISSING_VALUES: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?")
"""Cell texts read as missing values (compared after stripping spaces)."""

MISSING_CATEGORY = "(missing)"
"""The category of a missing value in a categorical column."""

_SHOWN = 5  # bad cells quoted in one message
_NUMERIC_SHARE = 0.5  # a column with at least this share of numbers, but not only numbers, is refused


@dataclass
class Column:
    """One typed column of a table.

    Args:
        name: the column's name in the table.
        kind: ``"numeric"`` or ``"categorical"``.
        values: numeric: float64 ``(N,)`` with NaN where missing; categorical: object ``(N,)`` of
            ``str``, with `MISSING_CATEGORY` where missing.
        missing: boolean ``(N,)``, True where the cell is missing.
    """

    name: str
    kind: Literal["numeric", "categorical"]
    values: np.ndarray
    missing: np.ndarray


def parse_number(value: object, missing_values: Sequence[str] = DEFAULT_MISSING_VALUES) -> float | None:
    """The number a cell holds: a float, NaN for a missing cell, or ``None`` when it is not a number.

    Booleans are not numbers (they are categories). Infinite values are returned as they are (the
    caller refuses them).

    Examples:
        >>> parse_number(" 3.5 "), parse_number("NA"), parse_number("pump"), parse_number(7)
        (3.5, nan, None, 7.0)
    """
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value).strip()
    if text in missing_values:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _is_missing(value: object, missing_values: Sequence[str]) -> bool:
    if value is None:
        return True
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in missing_values


def quote_cells(cells: Sequence[tuple[int, object]]) -> str:
    """Bad cells for a message: the first five as ``value (row n)``, rows counted from 1, then how many more.

    Examples:
        >>> quote_cells([(4, "12,5"), (8, "n/a")])
        "'12,5' (row 5), 'n/a' (row 9)"
    """
    shown = ", ".join(f"{v!r} (row {r + 1})" for r, v in cells[:_SHOWN])
    more = f" and {len(cells) - _SHOWN} more" if len(cells) > _SHOWN else ""
    return f"{shown}{more}"


def typed_columns(
    table: Mapping[str, Sequence[Any]],
    names: Sequence[str],
    *,
    path: str | Path,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    missing_values: Sequence[str] = DEFAULT_MISSING_VALUES,
) -> tuple[dict[str, Column], dict[str, list[tuple[int, object]]]]:
    """Type the feature columns ``names`` of ``table``.

    A column listed in ``categorical`` is categorical; one listed in ``numeric`` must hold numbers;
    any other column is numeric when every present value is a number and categorical when it holds
    text. A column that is mostly numbers but holds some text (``"12,5"``, ``"n/a"``) is refused
    rather than silently treated as categories.

    Args:
        table: ``{column: values}`` as `mixup_core.data.read_table` returns it.
        names: the feature columns, in order.
        path: the table's path (for messages).
        categorical: columns to treat as categorical whatever they hold.
        numeric: columns that must be numeric.
        missing_values: cell texts read as missing.

    Returns:
        ``(columns, bad)``: the typed columns by name, and for each column of ``numeric`` the
        ``(row, value)`` cells that are not finite numbers (those rows are the caller's to refuse
        or skip; their value is NaN in the column).

    Raises:
        DataError: a column without any value, a mostly numeric column holding text or infinite
            values (each quoted with its row), or a column listed as both numeric and categorical.

    Examples:
        >>> cols, bad = typed_columns({"t": ["1", "2", ""], "m": ["a", "b", "a"]}, ["t", "m"], path="x.csv")
        >>> cols["t"].kind, cols["m"].kind, cols["t"].missing.tolist(), bad
        ('numeric', 'categorical', [False, False, True], {})
    """
    path = Path(path)
    both = sorted(set(categorical) & set(numeric))
    if both:
        raise DataError(
            f"{path}: column{'s' if len(both) > 1 else ''} {both} listed under both categorical and numeric"
        )
    columns: dict[str, Column] = {}
    bad_numeric: dict[str, list[tuple[int, object]]] = {}
    for name in names:
        raw = table[name]
        missing = np.asarray([_is_missing(v, missing_values) for v in raw], dtype=bool)
        if missing.all():
            raise DataError(f"{path}: column {name!r} has no values (every cell is missing); drop it (drop: [{name}])")
        if name in categorical:
            columns[name] = _categorical(name, raw, missing)
            continue
        numbers = np.empty(len(raw), dtype=np.float64)
        text: list[tuple[int, object]] = []
        infinite: list[tuple[int, object]] = []
        for i, value in enumerate(raw):
            x = None if missing[i] else parse_number(value, missing_values)
            if missing[i] or (x is not None and math.isnan(x)):
                numbers[i] = math.nan
                missing[i] = True
            elif x is None:
                numbers[i] = math.nan
                text.append((i, value))
            elif not math.isfinite(x):
                numbers[i] = math.nan
                infinite.append((i, value))
            else:
                numbers[i] = x
        present = int((~missing).sum())
        if name in numeric:
            bad = sorted(text + infinite)
            if bad:
                bad_numeric[name] = bad
            columns[name] = Column(name, "numeric", numbers, missing)
            continue
        if infinite:
            raise DataError(f"{path}: column {name!r} holds infinite values: {quote_cells(infinite)}; "
                            "replace them, or mark them missing (missing_values)")
        if not text:
            columns[name] = Column(name, "numeric", numbers, missing)
            continue
        if present - len(text) >= _NUMERIC_SHARE * present:
            raise DataError(
                f"{path}: column {name!r} holds numbers in {present - len(text)} of {present} rows but also text: "
                f"{quote_cells(text)}; fix those cells, add the marker to missing_values, or list the column "
                "under categorical (or under numeric with on_error: skip to leave those rows out)"
            )
        columns[name] = _categorical(name, raw, missing)
    return columns, bad_numeric


def _categorical(name: str, raw: Sequence[Any], missing: np.ndarray) -> Column:
    values = np.empty(len(raw), dtype=object)
    for i, value in enumerate(raw):
        if missing[i]:
            values[i] = MISSING_CATEGORY
        elif isinstance(value, (float, np.floating)) and float(value).is_integer():
            values[i] = str(int(value))  # 3.0 from a Parquet float column reads as the category "3"
        else:
            values[i] = str(value).strip()
    return Column(name, "categorical", values, missing.copy())


@dataclass
class NumericFeature:
    """A standardised numeric column.

    Args:
        column: the column's name.
        index: its position among the encoded features.
        mean: the training rows' mean (missing values left out).
        std: the training rows' standard deviation (population; 1 when it is 0).
        indicator: the position of its missing indicator, or ``None`` when the column has no missing value.
    """

    column: str
    index: int
    mean: float
    std: float
    indicator: int | None = None


@dataclass
class CategoricalFeature:
    """A one-hot encoded categorical column.

    Args:
        column: the column's name.
        start: the position of its first slot among the encoded features.
        categories: the training rows' categories, sorted (one slot each).
    """

    column: str
    start: int
    categories: list[str]

    @property
    def stop(self) -> int:
        """One past the position of its last slot."""
        return self.start + len(self.categories)


@dataclass
class TableEncoder:
    """Numeric standardisation and one-hot encoding, fitted on the training rows (see the module docstring).

    Args:
        numeric: the numeric features.
        categorical: the categorical features.
        num_features: the width ``F`` of an encoded row.
        feature_names: the name of each of the ``F`` features (``temp``, ``temp=missing``, ``pump=A`` …).

    Examples:
        >>> cols, _ = typed_columns({"t": ["1", "3", "", "5"], "m": ["a", "b", "a", "c"]}, ["t", "m"], path="x.csv")
        >>> enc = TableEncoder.fit(cols, np.array([0, 1, 2]))
        >>> enc.feature_names
        ['t', 't=missing', 'm=a', 'm=b']
        >>> enc.transform(cols)[0].round(2).tolist()
        [[-1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0], [3.0, 0.0, 0.0, 0.0]]
    """

    numeric: list[NumericFeature] = field(default_factory=list)
    categorical: list[CategoricalFeature] = field(default_factory=list)
    num_features: int = 0
    feature_names: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, columns: Mapping[str, Column], train: np.ndarray) -> TableEncoder:
        """Learn means, standard deviations and categories from the rows ``train`` of ``columns``.

        Raises:
            DataError: a numeric column without any value in the training rows (its mean is unknown).
        """
        enc = cls()
        names: list[str] = []
        for col in columns.values():
            if col.kind == "numeric":
                x = col.values[train]
                present = x[~np.isnan(x)]
                if present.size == 0:
                    raise DataError(f"column {col.name!r} has no value in the training rows, so it cannot be "
                                    f"standardised; drop it (drop: [{col.name}]) or change the split")
                mean = float(present.mean())
                std = float(present.std())
                feature = NumericFeature(col.name, len(names), mean, std if std > 0 else 1.0)
                names.append(col.name)
                if col.missing.any():
                    feature.indicator = len(names)
                    names.append(f"{col.name}=missing")
                enc.numeric.append(feature)
            else:
                categories = sorted(set(col.values[train].tolist()))
                enc.categorical.append(CategoricalFeature(col.name, len(names), categories))
                names.extend(f"{col.name}={c}" for c in categories)
        enc.num_features = len(names)
        enc.feature_names = names
        return enc

    @property
    def categorical_slices(self) -> list[list[int]]:
        """``[start, stop]`` of every one-hot block, in feature order (what `RowMixup` takes)."""
        return [[c.start, c.stop] for c in self.categorical]

    def transform(
        self, columns: Mapping[str, Column], rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, int]]:
        """Encode ``rows`` (default: all) of ``columns``.

        Returns:
            ``(x, unseen)``: float32 ``(len(rows), F)``, and per categorical column the number of
            values whose category the training rows do not hold (encoded as all zeros).
        """
        n = len(next(iter(columns.values())).values)
        rows = np.arange(n) if rows is None else np.asarray(rows)
        x = np.zeros((rows.size, self.num_features), dtype=np.float32)
        for f in self.numeric:
            col = columns[f.column]
            values = col.values[rows]
            gone = np.isnan(values)
            x[:, f.index] = np.where(gone, 0.0, (values - f.mean) / f.std)
            if f.indicator is not None:
                x[:, f.indicator] = gone
        unseen: dict[str, int] = {}
        for c in self.categorical:
            slot = {category: c.start + k for k, category in enumerate(c.categories)}
            values = columns[c.column].values[rows]
            count = 0
            for i, value in enumerate(values):
                j = slot.get(value)
                if j is None:
                    count += 1
                else:
                    x[i, j] = 1.0
            unseen[c.column] = count
        return x, unseen

    def layout(self) -> dict[str, Any]:
        """The feature layout as plain data (for ``TaskData.info`` and reports)."""
        return {
            "num_features": self.num_features,
            "feature_names": list(self.feature_names),
            "numeric": [
                {"column": f.column, "index": f.index, "mean": f.mean, "std": f.std, "missing_indicator": f.indicator}
                for f in self.numeric
            ],
            "categorical": [
                {"column": c.column, "slice": [c.start, c.stop], "categories": list(c.categories)}
                for c in self.categorical
            ],
            "categorical_slices": self.categorical_slices,
        }
