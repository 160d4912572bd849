"""Light helpers of the ``graph:folder`` data set: finding and reading TU-format files, and ``mixup init``'s guess.

Nothing here imports torch-geometric, so that ``mixup init`` asks this plugin about any path cheaply;
`mixup_graph.datasets` builds the graphs from what is read here. Every check raises a one-line
`mixup_core.data.DataError` that names the file (and the line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mixup_core.data import DataError, DataGuess

__all__ = ["TUSet", "check_labels", "detect_graph_data", "find_tu_sets", "read_numbers", "read_strings", "tu_set"]

TU_REQUIRED = ("A", "graph_indicator", "graph_labels")
"""Files of every TU-format data set: ``<NAME>_A.txt``, ``<NAME>_graph_indicator.txt``, ``<NAME>_graph_labels.txt``."""

TU_OPTIONAL = ("node_labels", "node_attributes", "edge_labels", "edge_attributes", "graph_groups")
"""Optional files read by ``graph:folder`` (``graph_groups`` is this project's addition: one group per graph)."""

PICKLE_SUFFIXES = (".pt", ".pth")
"""Suffixes of files written by ``torch.save`` that ``graph:folder`` reads."""

_SEARCH_DEPTH = 2  # a TU folder may sit one or two levels below the path given (NAME/, NAME/raw/)


@dataclass(frozen=True)
class TUSet:
    """One TU-format data set: the folder holding its files and their common prefix ``<NAME>``.

    Args:
        folder: the folder of ``<NAME>_A.txt`` and the other files.
        prefix: ``<NAME>``.
    """

    folder: Path
    prefix: str

    def file(self, part: str) -> Path:
        """The path of ``<NAME>_<part>.txt`` (whether it exists or not)."""
        return self.folder / f"{self.prefix}_{part}.txt"

    def has(self, part: str) -> bool:
        """Whether ``<NAME>_<part>.txt`` exists."""
        return self.file(part).is_file()


def _prefixes(folder: Path) -> list[str]:
    """The ``<NAME>`` of every TU data set in ``folder``: a prefix that two of the three required files share."""
    found: set[str] = set()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    for entry in entries:
        for part in TU_REQUIRED:
            suffix = f"_{part}.txt"
            if entry.name.endswith(suffix) and len(entry.name) > len(suffix) and entry.is_file():
                found.add(entry.name[: -len(suffix)])
    # two of the three required files make a set, so that a stray "notes_A.txt" is not taken for one
    return sorted(p for p in found if sum((folder / f"{p}_{part}.txt").is_file() for part in TU_REQUIRED) >= 2)


def find_tu_sets(root: Path) -> list[TUSet]:
    """The TU-format data sets in ``root`` or in its sub-folders up to two levels down, in path order.

    A set is recognised by at least two of its three required files (so that a missing one can be
    named); hidden folders are not searched.
    """
    sets: list[TUSet] = []
    level = [root]
    for depth in range(_SEARCH_DEPTH + 1):
        below: list[Path] = []
        for folder in level:
            sets.extend(TUSet(folder, p) for p in _prefixes(folder))
            if depth < _SEARCH_DEPTH:
                try:
                    below.extend(sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")))
                except OSError:
                    continue
        if sets:  # the shallowest level that holds a set wins
            return sets
        level = below
    return sets


def tu_set(root: Path, prefix: str | None = None) -> TUSet:
    """The one TU-format data set at ``root`` (``prefix`` picks one when there are several).

    Raises:
        DataError: no set, several sets and no ``prefix``, an unknown ``prefix``, or a required file missing.
    """
    sets = find_tu_sets(root)
    if prefix is not None:
        chosen = [s for s in sets if s.prefix == prefix]
        if not chosen and any(TUSet(root, prefix).has(part) for part in TU_REQUIRED):
            chosen = [TUSet(root, prefix)]
        if not chosen:
            names = sorted({s.prefix for s in sets})
            raise DataError(f"{root}: no TU-format data set with the prefix {prefix!r} (files {prefix}_A.txt …); "
                            f"found {names or 'none'}")
        sets = chosen
    if not sets:
        raise DataError(f"{root}: no TU-format graph data set (<NAME>_A.txt, <NAME>_graph_indicator.txt, "
                        "<NAME>_graph_labels.txt) here or up to two folders down, and not a .pt file")
    if len(sets) > 1:
        listed = ", ".join(f"{s.prefix} ({s.folder})" for s in sets[:5])
        raise DataError(f"{root}: holds {len(sets)} TU-format data sets: {listed}; point at the folder of one of "
                        "them, or set dataset.prefix in the study config")
    found = sets[0]
    for part in TU_REQUIRED:
        if not found.has(part):
            raise DataError(f"{found.file(part)}: no such file; a TU-format data set needs {found.prefix}_A.txt, "
                            f"{found.prefix}_graph_indicator.txt and {found.prefix}_graph_labels.txt")
    return found


# --------------------------------------------------------------------------------------------- reading
def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from exc
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_numbers(path: Path, kind: Literal["int", "float"], *, columns: int | None = None) -> np.ndarray:
    """The comma-separated numbers of a TU-format file as a ``(lines, columns)`` array (int64 or float64).

    Stricter than PyG's reader, which drops a last line that lacks its newline and takes any shape:
    every line must hold the same number of values (``columns`` when given), integers where
    ``kind="int"``, finite numbers where ``"float"``; blank lines are refused except at the end.

    Raises:
        DataError: naming the file and the first bad line.
    """
    lines = _lines(path)
    dtype = np.int64 if kind == "int" else np.float64
    if not lines:
        return np.zeros((0, columns or 1), dtype=dtype)
    try:
        array = np.loadtxt(lines, delimiter=",", dtype=dtype, comments=None, ndmin=2)
    except ValueError:
        array = None
    if (
        array is not None
        and array.shape[0] == len(lines)
        and (columns is None or array.shape[1] == columns)
        and (kind == "int" or bool(np.isfinite(array).all()))
    ):
        return array
    # slow path: find the first bad line and say what is wrong with it
    width = columns
    what = "an integer" if kind == "int" else "a number"
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataError(f"{path}: line {n} is empty")
        cells = line.split(",")
        if width is None:
            width = len(cells)
        if len(cells) != width:
            expected = f"{width} (as line 1)" if columns is None else str(width)
            raise DataError(f"{path}: line {n} has {len(cells)} comma-separated value{'s' if len(cells) != 1 else ''}, "
                            f"expected {expected}")
        for cell in cells:
            try:
                value = int(cell) if kind == "int" else float(cell)
            except ValueError:
                raise DataError(f"{path}: line {n}: {cell.strip()!r} is not {what}") from None
            if kind == "float" and not np.isfinite(value):
                raise DataError(f"{path}: line {n}: {cell.strip()!r} is not a finite number")
    raise DataError(f"{path}: cannot be read as comma-separated {kind}s")  # not reached for well-formed checks


def read_strings(path: Path) -> list[str]:
    """One non-empty value per line (surrounding spaces removed), e.g. a groups file.

    Raises:
        DataError: a missing file or an empty line, naming the file and line.
    """
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    lines = _lines(path)
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataError(f"{path}: line {n} is empty")
    return [line.strip() for line in lines]


def check_labels(labels: np.ndarray | Sequence[int], where: Path | str) -> list[int]:
    """The sorted distinct graph labels; at least two, or a `DataError` naming ``where``."""
    distinct = sorted({int(v) for v in np.asarray(labels).reshape(-1).tolist()})
    if len(distinct) < 2:
        shown = distinct[0] if distinct else "none"
        raise DataError(
            f"{where}: every graph has the label {shown}; a classification study needs at least two classes"
        )
    return distinct


# --------------------------------------------------------------------------------------------- mixup init
_ARMS: list[dict[str, Any]] = [
    {"name": "embedding", "mixer": {"name": "graph:embedding", "alpha": 0.2}},
    {"name": "gmixup", "mixer": {"name": "graph:gmixup"}},
]


def _guess(dataset: dict[str, Any], labels: list[int], summary: str) -> DataGuess:
    names = [str(v) for v in check_labels(labels, dataset["root"])]
    return DataGuess(
        modality="graph",
        dataset=dataset,
        model={"name": "graph:gin"},
        arms=[{**arm, "mixer": dict(arm["mixer"])} for arm in _ARMS],
        summary=summary,
        class_names=names,
        score=1.0,
        train={"lr": 0.01},
    )


def detect_graph_data(path: Path) -> DataGuess | None:
    """``mixup init``'s guess for a TU-format folder (or a folder holding one) or a ``torch.save`` file of graphs.

    A folder: only file names and ``<NAME>_graph_labels.txt`` are read. A ``.pt``/``.pth`` file named
    by the user is loaded (see `mixup_graph.datasets.read_graph_file`: this may run code from the
    file); a file that holds no PyG graphs gives ``None``.

    Raises:
        DataError: the data are recognised but unusable (a missing required file, one class, …).
    """
    if path.is_dir():
        if not find_tu_sets(path):
            return None
        found = tu_set(path)
        labels = read_numbers(found.file("graph_labels"), "int", columns=1)[:, 0]
        check_labels(labels, found.file("graph_labels"))
        extras = [part.replace("_", " ") for part in TU_OPTIONAL if found.has(part)]
        summary = (f"{labels.size} graphs in {len(set(labels.tolist()))} classes, TU-format files {found.prefix}_*.txt"
                   + (f" with {', '.join(extras)}" if extras else ""))
        return _guess({"name": "graph:folder", "root": str(found.folder), "prefix": found.prefix},
                      labels.tolist(), summary)
    if path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES:
        from .datasets import _graph_list, _load_saved, _saved_graphs

        obj, _ = _load_saved(path)
        items = _graph_list(obj, path)
        if items is None:  # not graphs: another plugin's file
            return None
        saved_labels = _saved_graphs(items, path).labels
        summary = (f"{len(saved_labels)} graphs in {len(set(saved_labels))} classes, "
                   "PyG Data objects saved with torch.save")
        return _guess({"name": "graph:folder", "root": str(path)}, saved_labels, summary)
    return None
