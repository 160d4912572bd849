"""Helpers for data-set loaders registered through ``mixup_register_datasets``.

Shared by the modality plugins' loaders (and available to third-party ones): an error for missing
data, a tensor data set of ``(input, class index)`` items, a class-stratified subset, checks of
integer loader parameters that name the parameter in a `mixup_core.ConfigError`, the cache folder of
generated or processed data (`cache_root`), and the pieces of
every "your own data" loader: reading a table (CSV, TSV, JSONL, Parquet), finding the files of a
class-folder tree or a manifest (`scan_files`), and splitting train from test by class and by group
(`split_indices`).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ._components import DataGuess
from ._errors import ConfigError, MixupError

__all__ = [
    "CACHE_ENV",
    "TABLE_SUFFIXES",
    "DataError",
    "DataGuess",
    "DataNotFoundError",
    "FileRecords",
    "LabeledTensors",
    "cache_root",
    "class_counts",
    "column_param",
    "int_param",
    "optional_int_param",
    "read_table",
    "scan_files",
    "split_indices",
    "stratified_subset",
]


class DataNotFoundError(MixupError, FileNotFoundError):
    """The files (or programs) a data set needs are missing; the message says what to install or where to point.

    A `FileNotFoundError` (so ``except FileNotFoundError`` works) and a `mixup_core.MixupError`
    (so the ``mixup`` command line prints it as ``mixup: error: …``).
    """


class LabeledTensors(Dataset[tuple[torch.Tensor, int]]):
    """Examples held as one tensor of inputs and one of class indices; item ``i`` is ``(inputs[i], int)``.

    Args:
        inputs: ``(N, ...)`` float tensor.
        labels: ``(N,)`` integer class indices.

    Attributes:
        inputs: the ``(N, ...)`` inputs.
        labels: the ``(N,)`` int64 labels (e.g. for class counts without iterating).

    Examples:
        >>> ds = LabeledTensors(torch.zeros(3, 1, 2, 2), torch.tensor([2, 0, 1]))
        >>> x, y = ds[0]
        >>> tuple(x.shape), y, len(ds)
        ((1, 2, 2), 2, 3)
    """

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        if inputs.shape[0] != labels.shape[0] or labels.ndim != 1:
            raise ValueError(
                f"inputs and labels must have the same length N and labels the shape (N,), got inputs.shape="
                f"{tuple(inputs.shape)} and labels.shape={tuple(labels.shape)}"
            )
        self.inputs = inputs
        self.labels = labels.to(torch.int64)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.inputs[index], int(self.labels[index])


def int_param(name: str, value: object, minimum: int) -> int:
    """``value`` as an int ``>= minimum``, or a `ConfigError` naming the parameter ``name``.

    Examples:
        >>> int_param("train_size", 10, 1)
        10
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {name}={value!r}")
    return int(value)


def column_param(name: str, value: object, *, optional: bool = False) -> str | None:
    """``value`` as a column name (a non-empty string), ``None`` passing through when ``optional``.

    Raises:
        ConfigError: naming the parameter ``name`` and quoting the value.

    Examples:
        >>> column_param("label_column", "label"), column_param("group_column", None, optional=True)
        ('label', None)
    """
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a column name{' or null' if optional else ''}, got {name}={value!r}")
    return value


CACHE_ENV = "MIXUP_CACHE"
"""The environment variable that moves the cache root of every plugin (default ``~/.cache/mixup``)."""


def cache_root(root: str | os.PathLike[str] | None = None, subfolder: str | None = None) -> Path:
    """The folder where a loader keeps data it generates or processes, to load them from there afterwards.

    Args:
        root: the caller's choice; when given it is used as it is (``~`` expanded, ``subfolder`` not added).
        subfolder: the plugin's folder under the default root (``"graph"`` gives ``~/.cache/mixup/graph``).

    Returns:
        ``root``, else ``$MIXUP_CACHE/<subfolder>`` when the variable is set, else
        ``~/.cache/mixup/<subfolder>``. Nothing is created.

    Examples:
        >>> cache_root("/data/cache", "graph").as_posix()
        '/data/cache'
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(CACHE_ENV)
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "mixup"
    return base / subfolder if subfolder else base


def optional_int_param(name: str, value: object, minimum: int) -> int | None:
    """Like `int_param`, but ``None`` passes through."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an int or None, got {type(value).__name__} {value!r}")
    return int_param(name, value, minimum)


def stratified_subset(labels: np.ndarray | Sequence[int], size: int, seed: int | Sequence[int] = 0) -> np.ndarray:
    """Indices of a class-stratified random subset of ``size`` examples, sorted ascending.

    Each class gets ``size · n_k / N`` examples rounded by the largest-remainder rule (ties to the
    lower class index), so the counts sum to ``size`` exactly and follow the class proportions; the
    examples of each class are drawn without replacement by ``numpy.random.default_rng(seed)``. The
    result depends only on ``labels``, ``size`` and ``seed``.

    Args:
        labels: ``(N,)`` class indices.
        size: number of examples to keep, ``0 <= size <= N``.
        seed: seed (or seed sequence) of the draw.

    Raises:
        ConfigError: ``size`` is out of range.

    Examples:
        >>> idx = stratified_subset([0, 0, 0, 0, 1, 1, 1, 1, 2, 2], 5, seed=0)
        >>> np.bincount(np.asarray([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])[idx]).tolist()
        [2, 2, 1]
    """
    y = np.asarray(labels, dtype=np.int64)
    if y.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {y.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 0 <= size <= y.size:
        raise ConfigError(f"size must be an int in [0, {y.size}] (the number of examples), got size={size!r}")
    if size == y.size:
        return np.arange(y.size)
    counts = np.bincount(y)
    quota = size * counts / y.size
    take = np.floor(quota).astype(np.int64)
    remainder = int(size - take.sum())
    order = np.argsort(-(quota - take), kind="stable")
    take[order[:remainder]] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(y == k), int(n), replace=False) for k, n in enumerate(take) if n > 0]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


# ---------------------------------------------------------------------------------------------- own data
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
"""The table formats `read_table` reads (manifests, text tables, tabular data)."""

_SHOWN = 10  # bad files listed in one error message


class DataError(ConfigError):
    """The user's data are unusable as given: the message names the file, column or class and what is wrong.

    A `mixup_core.ConfigError`, so ``mixup compare`` reports it as ``mixup: error: dataset: …`` before it
    writes anything.
    """


def read_table(path: str | Path) -> dict[str, list[Any]]:
    """The columns of a CSV, TSV, JSONL or Parquet file, as ``{column: values}``.

    CSV and TSV values are strings (``""`` for an empty cell); JSONL and Parquet keep their types.

    Args:
        path: the table; its suffix picks the format.

    Raises:
        DataError: the file is missing, empty, not valid for its format, or its rows differ in columns.
        ImportError: a Parquet file without pyarrow (the message gives the install command).

    Examples:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = f.write_text("text,label\\nhello,a\\nbye,b\\n")
        >>> read_table(f)
        {'text': ['hello', 'bye'], 'label': ['a', 'b']}
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: not a table (the formats are {', '.join(TABLE_SUFFIXES)}; got suffix {suffix!r})")
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ImportError(f"reading {path} needs pyarrow: pip install pyarrow") from exc
        try:
            columns: dict[str, list[Any]] = pq.read_table(path).to_pydict()
        except Exception as exc:  # pyarrow raises its own types for every kind of bad file
            raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc
    else:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
        rows = (
            _jsonl_rows(path, text) if suffix == ".jsonl" else _csv_rows(path, text, "\t" if suffix == ".tsv" else ",")
        )
        if not rows:
            raise DataError(f"{path}: the table has no rows")
        names = list(rows[0])
        for i, row in enumerate(rows):
            if list(row) != names and set(row) != set(names):
                raise DataError(f"{path}: row {i + 1} has the columns {sorted(row)}, the first row {sorted(names)}")
        columns = {name: [row[name] for row in rows] for name in names}
    if not columns or not len(next(iter(columns.values()))):
        raise DataError(f"{path}: the table has no rows")
    return columns


def _csv_rows(path: Path, text: str, delimiter: str) -> list[dict[str, Any]]:
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise DataError(f"{path}: the table has no header row")
    if len(set(header)) != len(header):
        raise DataError(f"{path}: repeated column names in the header {header}")
    rows = []
    for cells in reader:
        if not cells:
            continue
        if len(cells) != len(header):
            raise DataError(f"{path}: line {reader.line_num} has {len(cells)} cells where the header has {len(header)}")
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def _jsonl_rows(path: Path, text: str) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {n} is not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {n} is a JSON {type(row).__name__}, not an object")
        rows.append(row)
    return rows


def _column(table: Mapping[str, list[Any]], name: str, path: Path, what: str) -> list[Any]:
    if name not in table:
        raise DataError(f"{path}: no {what} column {name!r} (the columns are {sorted(table)})")
    return table[name]


@dataclass
class FileRecords:
    """The files of a data set on disk, with their labels, and the optional group and split of each.

    What `scan_files` returns; a loader then reads each file and splits with `split_indices`.

    Args:
        paths: absolute paths of the files that passed the checks.
        labels: the class name of each file.
        groups: the group of each file (production line, site, patient, speaker …), or ``None``.
        splits: ``"train"`` or ``"test"`` per file when the data say so, or ``None``.
        skipped: ``(path, reason)`` of each file left out (only with ``on_error="skip"``).
        layout: ``"folders"`` (one folder per class) or ``"manifest"`` (a table of paths and labels).
    """

    paths: list[Path]
    labels: list[str]
    groups: list[str] | None = None
    splits: list[str] | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    layout: Literal["folders", "manifest"] = "folders"

    @property
    def class_names(self) -> list[str]:
        """The classes, sorted (the class index of a name is its position here)."""
        return sorted(set(self.labels))

    def class_indices(self) -> np.ndarray:
        """``(N,)`` int64 class index of every file."""
        index = {name: i for i, name in enumerate(self.class_names)}
        return np.asarray([index[label] for label in self.labels], dtype=np.int64)


def _with_suffix(folder: Path, extensions: Sequence[str]) -> list[Path]:
    wanted = {e.lower() for e in extensions}
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in wanted and not p.name.startswith(".")
    )


def scan_files(
    root: str | os.PathLike[str],
    *,
    extensions: Sequence[str],
    path_column: str = "path",
    label_column: str = "label",
    group_column: str | None = "group",
    split_column: str | None = "split",
    on_error: Literal["stop", "skip"] = "stop",
    check: Callable[[Path], object] | None = None,
) -> FileRecords:
    """The labelled files of a class-folder tree or of a manifest table.

    Two layouts: ``root`` is a folder with one sub-folder per class (``root/<class>/**/<file>``, as
    torchvision's ``ImageFolder``), or ``root`` is a manifest (CSV, TSV, JSONL or Parquet) with a path
    column and a label column, and optionally a group column and a split column (``train``/``test``).
    Manifest paths are relative to the manifest's folder and must stay inside it.

    Every file is checked before anything trains: it must exist, have one of ``extensions``, and pass
    ``check`` (a reader's cheap header check, which raises on an unreadable file). With
    ``on_error="stop"`` (the default) any bad file stops the load with a `DataError` that lists the
    paths; with ``"skip"`` bad files are left out and recorded in ``skipped``.

    Args:
        root: the class-folder tree, or the manifest file.
        extensions: file suffixes of the modality (``(".png", ".jpg")`` …), case-insensitive.
        path_column: the manifest's path column.
        label_column: the manifest's label column.
        group_column: the manifest's group column, used when present (``None``: never).
        split_column: the manifest's split column, used when present (``None``: never).
        on_error: ``"stop"`` or ``"skip"`` for missing, mistyped or unreadable files.
        check: called with each path; any exception marks the file unreadable.

    Raises:
        DataNotFoundError: ``root`` does not exist.
        DataError: an empty class folder, fewer than two classes, a missing column or label, a path
            outside the manifest's folder, or bad files with ``on_error="stop"`` (each named).

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for c in ("cat", "dog"):
        ...     (root / c).mkdir()
        ...     _ = (root / c / "a.txt").write_text("x")
        >>> rec = scan_files(root, extensions=[".txt"])
        >>> rec.class_names, [p.name for p in rec.paths]
        (['cat', 'dog'], ['a.txt', 'a.txt'])
    """
    if on_error not in ("stop", "skip"):
        raise ConfigError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    root = Path(root).expanduser()
    if not root.exists():
        raise DataNotFoundError(f"{root}: no such file or folder")
    wanted = {e.lower() for e in extensions}
    if root.is_dir():
        records = _scan_folders(root, extensions)
    else:
        records = _scan_manifest(root, path_column, label_column, group_column, split_column)
    bad: list[tuple[str, str]] = []
    keep: list[int] = []
    for i, path in enumerate(records.paths):
        reason = None
        if not path.is_file():
            reason = "no such file"
        elif path.suffix.lower() not in wanted:
            reason = f"not one of {sorted(wanted)}"
        elif check is not None:
            try:
                check(path)
            except Exception as exc:  # a reader's own error types: all mean "cannot read this file"
                reason = f"unreadable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        if reason is None:
            keep.append(i)
        else:
            bad.append((str(path), reason))
    if bad and on_error == "stop":
        listed = "; ".join(f"{p}: {r}" for p, r in bad[:_SHOWN])
        more = f" (and {len(bad) - _SHOWN} more)" if len(bad) > _SHOWN else ""
        raise DataError(f"{len(bad)} of {len(records.paths)} files cannot be used: {listed}{more}. Fix them, or set "
                        "on_error: skip to leave them out")
    kept = FileRecords(
        paths=[records.paths[i] for i in keep],
        labels=[records.labels[i] for i in keep],
        groups=None if records.groups is None else [records.groups[i] for i in keep],
        splits=None if records.splits is None else [records.splits[i] for i in keep],
        skipped=bad,
        layout=records.layout,
    )
    classes = kept.class_names
    if len(classes) < 2:
        raise DataError(f"{root}: {len(classes)} class{'es' if len(classes) != 1 else ''} found ({classes}); a "
                        "classification study needs at least two")
    return kept


def _scan_folders(root: Path, extensions: Sequence[str]) -> FileRecords:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{root}: no class folders (expected {root}/<class>/<files>, or a manifest table)")
    paths: list[Path] = []
    labels: list[str] = []
    for folder in folders:
        files = _with_suffix(folder, extensions)
        if not files:
            raise DataError(f"{folder}: the class folder {folder.name!r} has no {'/'.join(extensions)} files")
        paths.extend(p.resolve() for p in files)
        labels.extend([folder.name] * len(files))
    return FileRecords(paths, labels, layout="folders")


def _scan_manifest(
    manifest: Path, path_column: str, label_column: str, group_column: str | None, split_column: str | None
) -> FileRecords:
    table = read_table(manifest)
    base = manifest.parent.resolve()
    raw_paths = _column(table, path_column, manifest, "path")
    raw_labels = _column(table, label_column, manifest, "label")
    paths: list[Path] = []
    for n, raw in enumerate(raw_paths, start=1):
        if not isinstance(raw, str) or not raw.strip():
            raise DataError(f"{manifest}: row {n}: empty path in column {path_column!r}")
        path = (base / raw).resolve()
        if not path.is_relative_to(base):
            raise DataError(f"{manifest}: row {n}: the path {raw!r} is outside the manifest's folder {base}")
        paths.append(path)
    labels = []
    for n, raw in enumerate(raw_labels, start=1):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise DataError(f"{manifest}: row {n}: empty label in column {label_column!r}")
        labels.append(str(raw).strip())
    groups = None
    if group_column is not None and group_column in table:
        groups = [str(g) for g in table[group_column]]
    splits = None
    if split_column is not None and split_column in table:
        splits = [str(v).strip().lower() for v in table[split_column]]
        wrong = sorted({v for v in splits if v not in ("train", "test")})
        if wrong:
            raise DataError(f"{manifest}: column {split_column!r} must hold 'train' or 'test', got {wrong[:5]}")
    return FileRecords(paths, labels, groups, splits, layout="manifest")


def split_indices(
    labels: Sequence[int] | np.ndarray,
    *,
    groups: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices: the given split, or a stratified one, never a group in both.

    * ``splits`` given (``"train"``/``"test"`` per example): used as is; with ``groups``, a group found
      in both splits is an error, since the test would then measure memory of that group.
    * ``groups`` given: whole groups go to the test split, in an order drawn from ``seed``, until it
      holds ``test_fraction`` of the examples (group-aware splitting, as scikit-learn's
      ``GroupShuffleSplit``); a class then missing from the training split is an error.
    * neither: each class contributes ``round(test_fraction · n_k)`` examples to the test split (at least
      one, and at least one stays for training), drawn by ``numpy.random.default_rng(seed)``.

    Args:
        labels: ``(N,)`` class indices.
        groups: the group of each example, or ``None``.
        splits: the given split of each example, or ``None``.
        test_fraction: the share of examples to hold out, in (0, 1).
        seed: seed of the draw.

    Returns:
        ``(train, test)``: sorted int64 index arrays.

    Raises:
        DataError: a group in both given splits, an empty split, or a class without training examples.

    Examples:
        >>> train, test = split_indices([0, 0, 0, 0, 1, 1, 1, 1], test_fraction=0.25, seed=0)
        >>> len(train), len(test)
        (6, 2)
        >>> g = ["a", "a", "b", "b"]
        >>> train, test = split_indices([0, 1, 0, 1], groups=g, test_fraction=0.5)
        >>> {g[i] for i in train} & {g[i] for i in test}
        set()
    """
    y = np.asarray(labels, dtype=np.int64)
    n = y.size
    if not 0 < float(test_fraction) < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    for name, values in (("groups", groups), ("splits", splits)):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries for {n} labels")
    if splits is not None:
        is_test = np.asarray([s == "test" for s in splits])
        if groups is not None:
            g = np.asarray(groups, dtype=object)
            both = sorted(set(g[is_test]) & set(g[~is_test]))
            if both:
                raise DataError(f"group{'s' if len(both) > 1 else ''} {both[:5]} in both the train and the test split; "
                                "a group (line, site, patient, speaker …) must be on one side only")
    elif groups is not None:
        rng = np.random.default_rng(seed)
        g = np.asarray(groups, dtype=object)
        names, inverse, sizes = np.unique(g.astype(str), return_inverse=True, return_counts=True)
        if names.size < 2:
            raise DataError(f"one group only ({names[0]!r}): a group-aware split needs at least two groups")
        order = rng.permutation(names.size)
        chosen = np.zeros(names.size, dtype=bool)
        held = 0
        for k in order:
            if held >= test_fraction * n or chosen.sum() == names.size - 1:
                break
            chosen[k] = True
            held += int(sizes[k])
        is_test = chosen[inverse]
    else:
        rng = np.random.default_rng(seed)
        is_test = np.zeros(n, dtype=bool)
        for k in np.unique(y):
            idx = np.flatnonzero(y == k)
            take = min(max(1, round(test_fraction * idx.size)), idx.size - 1)
            if take > 0:
                is_test[rng.choice(idx, take, replace=False)] = True
    train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    if not train.size or not test.size:
        raise DataError(f"the split leaves {train.size} training and {test.size} test examples; both must be non-empty")
    missing = sorted(set(np.unique(y).tolist()) - set(np.unique(y[train]).tolist()))
    if missing:
        raise DataError(f"class{'es' if len(missing) > 1 else ''} {missing} ha{'ve' if len(missing) > 1 else 's'} no "
                        "training example after the split; add examples or change the split")
    return train, test


def class_counts(labels: Sequence[int] | np.ndarray, class_names: Sequence[str]) -> dict[str, int]:
    """``{class name: count}`` of ``labels`` (every class listed, zeros included), for reports.

    Examples:
        >>> class_counts([0, 1, 1], ["a", "b", "c"])
        {'a': 1, 'b': 2, 'c': 0}
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    return {str(name): int(c) for name, c in zip(class_names, counts, strict=False)}


