"""What ``mixup init`` learns from a table: is it tabular data, which column is the label, and the study to run.

Rules (documented in docs/own-data.md, "Tables"):

* only a table file (``.csv``, ``.tsv``, ``.jsonl``, ``.parquet``) is considered; a manifest (a column
  ``path``, ``file`` … or of file names such as ``a.png``) belongs to the file-based plugins;
* the label is the column named ``label``, else ``target``, else ``class`` (case-insensitive, in that
  order), else the last column when it looks like classes (at most 100 distinct values, fewer
  than half the rows) and is not named ``group`` or ``split``;
* identifier columns (``id``, ``index``, ``row_id`` … with one value per row) and text columns of
  more than 100 distinct values (timestamps, serial numbers, notes) are put under ``drop``;
* a table with a column of long text (30 characters or 4 words on average) could be a text data
  set: it scores 0.3 (and is left to the text plugin when it cannot be read as a table); any other
  table scores 0.9, and a table that fails the loader's checks stops ``mixup init`` with that error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mixup_core.data import TABLE_SUFFIXES, DataError, DataGuess, read_table

from .datasets import DEFAULT_MISSING_VALUES, parse_number

_LABELS = ("label", "target", "class")
_IDS = {"id", "index", "idx", "row", "row_id", "rowid", "unnamed: 0", "record_id"}
_PATHS = {"path", "file", "filename", "filepath", "file_path", "image", "audio", "clip"}
_FILE = re.compile(r"\.(png|jpe?g|bmp|gif|tiff?|webp|wav|flac|mp3|ogg|opus|m4a|npy|pt|txt)$", re.I)
_MAX_CATEGORIES = 100
_TEXT_CHARS, _TEXT_WORDS = 30, 4
TRAIN = {"epochs": 30, "batch_size": 64}
"""The ``train`` overrides of a tabular guess: an MLP on a table is cheap, and mixup needs epochs to help."""


def _present(values: list[Any]) -> list[Any]:
    return [v for v in values if v is not None and not (isinstance(v, str) and v.strip() in DEFAULT_MISSING_VALUES)]


def _texts(values: list[Any]) -> list[str]:
    """The present values that are not numbers."""
    return [str(v) for v in _present(values) if parse_number(v) is None]


def _label_column(table: dict[str, list[Any]]) -> str | None:
    lower = {name.lower(): name for name in table}
    for name in _LABELS:
        if name in lower:
            return lower[name]
    last = list(table)[-1]
    if last.lower() in ("group", "split"):
        return None
    values = [str(v).strip() for v in _present(table[last])]
    distinct = len(set(values))
    if values and 2 <= distinct <= _MAX_CATEGORIES and distinct < len(values) / 2:
        return last
    return None


def detect_table(path: Path) -> DataGuess | None:
    """The `mixup_core.data.DataGuess` for a table file, or ``None`` when it is not tabular data (see the module docs).

    Raises:
        mixup_core.data.DataError: a table that is certainly tabular data fails the loader's checks
            (the message says what to fix).
    """
    if not path.is_file() or path.suffix.lower() not in TABLE_SUFFIXES:
        return None
    try:
        table = read_table(path)
    except (DataError, ImportError):
        return None
    if any(name.lower() in _PATHS for name in table):
        return None
    for values in table.values():
        texts = _texts(values)
        if texts and sum(bool(_FILE.search(t.strip())) for t in texts) >= 0.8 * len(texts):
            return None  # a manifest of files
    label = _label_column(table)
    if label is None:
        return None
    drop: list[str] = []
    textish = False
    for name, values in table.items():
        if name in (label, "group", "split"):
            continue
        present = _present(values)
        if name.lower() in _IDS and len({str(v) for v in present}) == len(values):
            drop.append(name)
            continue
        texts = _texts(values)
        if texts and len(texts) > len(present) / 2:
            mean_chars = sum(len(t) for t in texts) / len(texts)
            mean_words = sum(len(t.split()) for t in texts) / len(texts)
            textish = textish or mean_chars >= _TEXT_CHARS or mean_words >= _TEXT_WORDS
            if len(set(texts)) > _MAX_CATEGORIES:
                drop.append(name)
    from .lab import load_table_task

    params: dict[str, Any] = {"name": "tabular:table", "root": str(path)}
    if label != "label":
        params["label_column"] = label
    if drop:
        params["drop"] = drop
    try:
        data = load_table_task(**{k: v for k, v in params.items() if k != "name"})
    except DataError:
        if textish:
            return None
        raise
    info = data.info
    slices = info["categorical_slices"]
    width = int(info["num_features"])
    row_mixup: dict[str, Any] = {"name": "tabular:row-mixup", "alpha": 0.2, "categorical_slices": slices,
                                 "num_features": width}
    arms = [{"name": "row-mixup", "mixer": row_mixup}]
    if slices:  # with one-hot blocks, plain mixup (soft categories) is the comparison
        arms.append({"name": "mixup", "mixer": {"name": "core:mixup", "alpha": 0.2}})
    summary = (
        f"a table of {info['rows']} rows with {len(info['numeric'])} numeric and {len(info['categorical'])} "
        f"categorical feature columns ({width} features), label column {label!r} with {data.num_classes} classes"
    )
    if info["group_column"]:
        summary += f", groups in {info['group_column']!r}"
    if drop:
        summary += f"; left out: {', '.join(drop)}"
    return DataGuess("tabular", params, {"name": "tabular:mlp"}, arms, summary, list(data.class_names),
                     score=0.3 if textish else 0.9, train=dict(TRAIN))
