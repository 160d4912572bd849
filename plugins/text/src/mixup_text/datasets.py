"""Labelled text: the user's own tables of texts, and text that ships in Debian packages (WordNet, fortunes).

- `read_text_table`: a CSV, TSV, JSONL or Parquet table with a text column and a label column (and
  optionally a group and a split column), every row checked; `sniff_text_table` recognises such a
  table from its first rows (for ``mixup init``).

Both load from plain files, with no network and no extra Python dependency, and return plain
lists (texts, labels, label names) split into train and test deterministically by a seed. The
split is stratified: every class contributes ``round(test_fraction · n_class)`` of its items to
the test set.

- `load_wordnet_supersenses`: 82,115 noun definitions (glosses up to the first ``;``) of WordNet 3.0,
  labelled by their lexicographer file (26 supersenses: ``noun.artifact``, ``noun.person`` …), from
  ``/usr/share/wordnet/data.noun`` (Debian ``wordnet-base``, WordNet 3.0 licence, BSD-like).
- `load_fortunes`: 4,271 fortunes (``fortune-mod``, BSD) longer than 20 characters, labelled by
  their file, from ``/usr/share/games/fortunes/<category>`` (Debian ``fortunes``); the default six
  categories are computers, politics, science, songs-poems, men-women and work.

Install both with ``apt-get install -y --no-install-recommends wordnet-base fortunes``
(``--no-install-recommends`` keeps WordNet's Tk browser out).
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import random
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "FORTUNES_DIR",
    "FORTUNES_INSTALL",
    "FORTUNE_CATEGORIES",
    "LABEL_COLUMNS",
    "SUPERSENSES",
    "TEXT_COLUMNS",
    "WORDNET_INSTALL",
    "WORDNET_NOUNS",
    "TableSniff",
    "TextClassificationData",
    "TextTable",
    "load_fortunes",
    "load_wordnet_supersenses",
    "read_fortunes",
    "read_text_table",
    "sniff_text_table",
    "sort_class_names",
]

WORDNET_NOUNS = Path("/usr/share/wordnet/data.noun")
"""Where Debian's ``wordnet-base`` puts the WordNet 3.0 noun synsets."""

FORTUNES_DIR = Path("/usr/share/games/fortunes")
"""Where Debian's ``fortunes`` puts the fortune files (one file per category)."""

WORDNET_INSTALL = "apt-get install -y --no-install-recommends wordnet-base"
"""The command that installs the WordNet data on Debian and Ubuntu."""

FORTUNES_INSTALL = "apt-get install -y --no-install-recommends fortunes"
"""The command that installs the fortune files on Debian and Ubuntu."""

SUPERSENSES: tuple[str, ...] = tuple(
    ["Tops", "act", "animal", "artifact", "attribute", "body", "cognition", "communication", "event", "feeling",
     "food", "group", "location", "motive", "object", "person", "phenomenon", "plant", "possession", "process",
     "quantity", "relation", "shape", "state", "substance", "time"]
)
"""The 26 noun supersenses, in the order of their lexicographer files 03 (``noun.Tops``) … 28 (``noun.time``)."""

FORTUNE_CATEGORIES: tuple[str, ...] = ("computers", "politics", "science", "songs-poems", "men-women", "work")
"""The default topic task: six categories of similar size whose format does not give the class away
(``definitions`` and ``zippy`` are recognisable by their layout alone)."""

_FIRST_LEX_FILE = 3  # noun.Tops


@dataclass(frozen=True)
class TextClassificationData:
    """A text classification set split into train and test, as plain lists.

    Unpacks as ``train_texts, train_labels, test_texts, test_labels, label_names``.

    Args:
        train_texts: the training texts.
        train_labels: their class ids, in ``range(len(label_names))``.
        test_texts: the test texts.
        test_labels: their class ids.
        label_names: the name of each class id.

    Examples:
        >>> data = TextClassificationData(["a", "b"], [0, 1], ["c"], [1], ("x", "y"))
        >>> train_texts, train_labels, test_texts, test_labels, names = data
        >>> data.num_labels, names[test_labels[0]]
        (2, 'y')
    """

    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]
    label_names: tuple[str, ...]

    @property
    def num_labels(self) -> int:
        """The number of classes."""
        return len(self.label_names)

    def __iter__(self) -> Iterator[object]:
        return iter((self.train_texts, self.train_labels, self.test_texts, self.test_labels, self.label_names))

    def __repr__(self) -> str:
        return (
            f"TextClassificationData(train={len(self.train_texts)}, test={len(self.test_texts)}, "
            f"labels={len(self.label_names)}: {', '.join(self.label_names)})"
        )


def _check_fraction(test_fraction: float) -> float:
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in [0, 1), got {test_fraction!r}")
    return float(test_fraction)


def _check_positive(name: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return value


def _split(
    texts: Sequence[str],
    labels: Sequence[int],
    label_names: tuple[str, ...],
    *,
    test_fraction: float,
    max_per_class: int | None,
    seed: int,
) -> TextClassificationData:
    """Stratified, seeded split: per class, shuffle, cap at ``max_per_class``, cut off the test share."""
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    train: list[int] = []
    test: list[int] = []
    for label in sorted(by_class):
        rows = by_class[label]
        rng.shuffle(rows)
        if max_per_class is not None:
            rows = rows[:max_per_class]
        n_test = round(len(rows) * test_fraction)
        test.extend(rows[:n_test])
        train.extend(rows[n_test:])
    rng.shuffle(train)
    rng.shuffle(test)
    return TextClassificationData(
        train_texts=[texts[i] for i in train],
        train_labels=[labels[i] for i in train],
        test_texts=[texts[i] for i in test],
        test_labels=[labels[i] for i in test],
        label_names=label_names,
    )


def _read_supersenses(path: Path) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    lex_files: list[int] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):  # the licence header
                continue
            fields = line.split(" ", 2)
            if len(fields) < 3 or " | " not in line:
                raise ValueError(f"{path}: not a WordNet data file (unexpected line {line[:80]!r})")
            definition = line.split(" | ", 1)[1].split(";", 1)[0].strip()
            if definition:
                texts.append(definition)
                lex_files.append(int(fields[1]) - _FIRST_LEX_FILE)
    return texts, lex_files


def load_wordnet_supersenses(
    *,
    top_k: int | None = None,
    max_per_class: int | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    path: str | os.PathLike[str] | None = None,
) -> TextClassificationData:
    """WordNet 3.0 noun definitions labelled by supersense (lexicographer file): 82,115 texts, 26 classes.

    The text of a synset is its definition, the gloss up to the first ``;`` (the examples that follow
    are dropped), e.g. "electrostatic printer that focuses a laser beam to form images that are
    transferred to paper electrostatically" → ``artifact``. The classes are very unequal (artifact
    11.6k … motive 42); ``top_k`` keeps the most frequent ones and ``max_per_class`` caps each one
    (before the split), which gives a balanced task such as top-10 × 400.

    Args:
        top_k: keep the ``top_k`` most frequent supersenses (ties by file order); ``None`` keeps all 26.
        max_per_class: at most this many texts per class (a seeded random subset); ``None`` keeps all.
        test_fraction: the share of each class that goes to the test set (0.2).
        seed: seed of the shuffles (subset and split).
        path: the ``data.noun`` file; ``None`` uses `WORDNET_NOUNS`.

    Returns:
        A `TextClassificationData`; class ids follow the file order of the kept supersenses
        (`SUPERSENSES` order), and ``label_names`` are the supersense names (``"artifact"`` …).

    Raises:
        FileNotFoundError: the file is missing; the message gives the ``apt-get`` command.

    Examples:
        >>> data = load_wordnet_supersenses(top_k=10, max_per_class=400, seed=0)   # doctest: +SKIP
        >>> len(data.train_texts), len(data.test_texts), data.num_labels          # doctest: +SKIP
        (3200, 800, 10)
    """
    _check_positive("top_k", top_k)
    _check_positive("max_per_class", max_per_class)
    fraction = _check_fraction(test_fraction)
    file = Path(path) if path is not None else WORDNET_NOUNS
    if not file.is_file():
        raise FileNotFoundError(
            f"the WordNet noun file {file} is missing: install it with `{WORDNET_INSTALL}` (Debian/Ubuntu, as root)"
        )
    texts, lex = _read_supersenses(file)
    counts = Counter(lex)
    kept = sorted(counts) if top_k is None else sorted(sorted(counts, key=lambda c: (-counts[c], c))[:top_k])
    new_id = {c: i for i, c in enumerate(kept)}
    names = tuple(SUPERSENSES[c] if 0 <= c < len(SUPERSENSES) else f"lex{c + _FIRST_LEX_FILE:02d}" for c in kept)
    rows = [(t, new_id[c]) for t, c in zip(texts, lex, strict=True) if c in new_id]
    return _split(
        [t for t, _ in rows], [y for _, y in rows], names, test_fraction=fraction, max_per_class=max_per_class,
        seed=seed,
    )


def read_fortunes(category: str, *, min_chars: int = 20, root: str | os.PathLike[str] | None = None) -> list[str]:
    """The fortunes of one category file, stripped, longer than ``min_chars`` characters.

    Entries are separated by a line ``%``. A file is read as UTF-8 when it is valid UTF-8 (as the
    six default files are; they are ASCII apart from a few typographic quotes) and as latin-1
    otherwise; entries whose UTF-8 was encoded twice are repaired.

    Args:
        category: the file name (``"computers"`` …).
        min_chars: drop entries of at most this many characters.
        root: the folder of the fortune files; ``None`` uses `FORTUNES_DIR`.
    """
    folder = Path(root) if root is not None else FORTUNES_DIR
    file = folder / category
    if not file.is_file():
        if not folder.is_dir() or not any(folder.iterdir()):
            raise FileNotFoundError(
                f"the fortune files are missing ({folder}): install them with `{FORTUNES_INSTALL}` "
                "(Debian/Ubuntu, as root)"
            )
        available = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.suffix)
        raise FileNotFoundError(f"no fortune category {category!r} in {folder}; available: {', '.join(available)}")
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # older files are latin-1
        text = raw.decode("latin-1")
    entries = (_repair(t.strip()) for t in text.replace("\r\n", "\n").split("\n%\n"))
    return [t for t in entries if len(t) > min_chars and t != "%"]


def _repair(text: str) -> str:
    """Undo UTF-8 text that was encoded twice (``â\x80\x99`` for ``’``): a few fortunes are stored so."""
    while any("\x80" <= ch <= "\x9f" for ch in text):
        try:
            text = text.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            break
    return text


def load_fortunes(
    categories: Sequence[str] = FORTUNE_CATEGORIES,
    *,
    min_chars: int = 20,
    max_per_class: int | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
) -> TextClassificationData:
    """Fortunes labelled by topic (their file): 4,271 texts in the six default categories.

    A fortune is one entry of a file under ``/usr/share/games/fortunes`` (entries separated by a
    line ``%``; see `read_fortunes` for the encoding), stripped; entries of ``min_chars`` characters or
    fewer are dropped. Median length about 111 characters; the default classes hold 1,023 / 697 / 621 / 720 / 582 / 628
    texts (majority 24 %). Labels are noisy (topics overlap), a good testbed for mixup and
    calibration. Some texts are dated; Debian's offensive files are not in this package.

    Args:
        categories: the category files, one class each, in label order (`FORTUNE_CATEGORIES`).
        min_chars: drop entries of at most this many characters (20).
        max_per_class: at most this many texts per class (a seeded random subset); ``None`` keeps all.
        test_fraction: the share of each class that goes to the test set (0.2).
        seed: seed of the shuffles (subset and split).
        root: the folder of the fortune files; ``None`` uses `FORTUNES_DIR`.

    Raises:
        FileNotFoundError: the files are missing (the message gives the ``apt-get`` command), or a
            category does not exist (the message lists the available ones).
        ValueError: no or repeated categories.

    Examples:
        >>> data = load_fortunes(seed=0)                              # doctest: +SKIP
        >>> data.label_names                                          # doctest: +SKIP
        ('computers', 'politics', 'science', 'songs-poems', 'men-women', 'work')
    """
    if isinstance(categories, str) or len(categories) == 0:
        raise ValueError(f"categories must be a non-empty sequence of category names, got {categories!r}")
    if len(set(categories)) != len(categories):
        raise ValueError(f"categories must not repeat, got {list(categories)!r}")
    if isinstance(min_chars, bool) or not isinstance(min_chars, int) or min_chars < 0:
        raise ValueError(f"min_chars must be a non-negative int, got {min_chars!r}")
    _check_positive("max_per_class", max_per_class)
    fraction = _check_fraction(test_fraction)
    texts: list[str] = []
    labels: list[int] = []
    for label, category in enumerate(categories):
        items = read_fortunes(category, min_chars=min_chars, root=root)
        texts.extend(items)
        labels.extend([label] * len(items))
    return _split(texts, labels, tuple(categories), test_fraction=fraction, max_per_class=max_per_class, seed=seed)


# ---------------------------------------------------------------------- the user's own tables
TEXT_COLUMNS: tuple[str, ...] = (
    "text", "sentence", "review", "content", "body", "comment", "message", "document", "description", "question",
    "utterance", "title",
)
"""Column names that `sniff_text_table` takes for the text column first (case-insensitive), in this order."""

LABEL_COLUMNS: tuple[str, ...] = (
    "label", "labels", "class", "category", "target", "y", "sentiment", "topic", "intent", "tag", "stars", "rating",
)
"""Column names that `sniff_text_table` takes for the label column first (case-insensitive), in this order."""

_SHOWN = 5  # bad rows quoted in one message
_INT = re.compile(r"[+-]?\d+")


def sort_class_names(names: Sequence[str]) -> list[str]:
    """The distinct class names, sorted: by value when every name is an integer (``2`` before ``10``), else as text.

    Examples:
        >>> sort_class_names(["10", "2", "1", "2"])
        ['1', '2', '10']
        >>> sort_class_names(["pos", "neg"])
        ['neg', 'pos']
    """
    distinct = set(names)
    if distinct and all(_INT.fullmatch(n) for n in distinct):
        return sorted(distinct, key=lambda n: (int(n), n))
    return sorted(distinct)


def _missing(value: object) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _label_name(value: object) -> str:
    """A label cell as a class name: integral floats (a Parquet int column with gaps) lose their ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass
class TextTable:
    """The rows of a text table that passed the checks: texts, class names and the optional group and split.

    What `read_text_table` returns; the ``text:table`` loader splits it and tokenises it.

    Args:
        texts: the texts.
        labels: the class name of each text.
        groups: the group of each text (author, source, customer …), or ``None``.
        splits: ``"train"`` or ``"test"`` per text when the table says so, or ``None``.
        rows: the 1-based row number (header excluded) of each kept text in the table.
        skipped: ``(row, reason)`` of each row left out (only with ``on_error="skip"``).
    """

    texts: list[str]
    labels: list[str]
    groups: list[str] | None = None
    splits: list[str] | None = None
    rows: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    @property
    def class_names(self) -> list[str]:
        """The classes, sorted by `sort_class_names` (the class index of a name is its position here)."""
        return sort_class_names(self.labels)

    def class_indices(self) -> list[int]:
        """The class index of every text."""
        index = {name: i for i, name in enumerate(self.class_names)}
        return [index[label] for label in self.labels]


def _column(table: Mapping[str, list[Any]], name: object, path: Path, what: str, parameter: str) -> list[Any]:
    from mixup_core import ConfigError
    from mixup_core.data import DataError

    if not isinstance(name, str) or not name:
        raise ConfigError(f"{parameter} must be a column name (a non-empty string), got {name!r}")
    if name not in table:
        raise DataError(f"{path}: no {what} column {name!r} (the columns are {sorted(table)}); set {parameter} to the "
                        "column that holds it")
    return table[name]


def read_text_table(
    path: str | os.PathLike[str],
    *,
    text_column: str = "text",
    label_column: str = "label",
    group_column: str | None = "group",
    split_column: str | None = "split",
    on_error: Literal["stop", "skip"] = "stop",
) -> TextTable:
    """The labelled texts of a CSV, TSV, JSONL or Parquet table, every row checked.

    A row is usable when its text is a string with a non-blank character and its label is not
    empty. With ``on_error="stop"`` (the default) the first unusable rows stop the load with a
    `mixup_core.data.DataError` naming the file, the rows and the column; with ``"skip"`` they are
    left out and recorded in ``skipped``. Label values become class names (``1.0`` → ``"1"``). The
    group column and the split column are used when the table has them (``None``: never); a split
    holds ``train`` or ``test`` (any case).

    Args:
        path: the table (``.csv``, ``.tsv``, ``.jsonl`` or ``.parquet``; Parquet needs pyarrow).
        text_column: the column of the texts.
        label_column: the column of the class labels.
        group_column: the column of the groups, used when present.
        split_column: the column of the given split, used when present.
        on_error: ``"stop"`` or ``"skip"`` for rows with an empty or non-string text or an empty label.

    Raises:
        mixup_core.data.DataNotFoundError: the file does not exist.
        mixup_core.data.DataError: the table is unreadable, a column is missing, a row is unusable
            (with ``on_error="stop"``), a split value is not train/test, a group is empty, or fewer
            than two classes remain (each naming the file, and the column or rows).
        mixup_core.ConfigError: a parameter is invalid.

    Examples:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = f.write_text("text,label\\nso good,pos\\nawful stuff,neg\\n")
        >>> table = read_text_table(f)
        >>> table.class_names, table.class_indices()
        (['neg', 'pos'], [1, 0])
    """
    from mixup_core import ConfigError
    from mixup_core.data import DataError, read_table

    if on_error not in ("stop", "skip"):
        raise ConfigError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    for name, value in (("group_column", group_column), ("split_column", split_column)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{name} must be a column name or null, got {value!r}")
    path = Path(path).expanduser()
    table = read_table(path)
    raw_texts = _column(table, text_column, path, "text", "text_column")
    raw_labels = _column(table, label_column, path, "label", "label_column")
    bad: list[tuple[int, str]] = []
    keep: list[int] = []
    for i, (text, label) in enumerate(zip(raw_texts, raw_labels, strict=True)):
        row = i + 1
        if (
            text is None
            or (isinstance(text, str) and not text.strip())
            or (isinstance(text, float) and math.isnan(text))
        ):
            bad.append((row, f"empty text in column {text_column!r}"))
        elif not isinstance(text, str):
            bad.append((row, f"column {text_column!r} holds a {type(text).__name__} ({text!r:.40}), not a text"))
        elif _missing(label):
            bad.append((row, f"empty label in column {label_column!r}"))
        else:
            keep.append(i)
    if bad and on_error == "stop":
        listed = "; ".join(f"row {r}: {why}" for r, why in bad[:_SHOWN])
        more = f" (and {len(bad) - _SHOWN} more rows)" if len(bad) > _SHOWN else ""
        raise DataError(f"{path}: {len(bad)} of {len(raw_texts)} rows cannot be used: {listed}{more}. Fix them, or set "
                        "on_error: skip to leave them out")
    groups = None
    if group_column is not None and group_column in table:
        groups = []
        for i in keep:
            value = table[group_column][i]
            if _missing(value):
                raise DataError(f"{path}: row {i + 1}: empty group in column {group_column!r} (every row needs a "
                                "group, or set group_column: null)")
            groups.append(_label_name(value))
    splits = None
    if split_column is not None and split_column in table:
        splits = [str(table[split_column][i]).strip().lower() for i in keep]
        wrong = [
            (i + 1, table[split_column][i]) for i, s in zip(keep, splits, strict=True) if s not in ("train", "test")
        ]
        if wrong:
            shown = ", ".join(f"row {r}: {v!r}" for r, v in wrong[:_SHOWN])
            raise DataError(f"{path}: column {split_column!r} must hold 'train' or 'test', got {shown}")
    result = TextTable(
        texts=[str(raw_texts[i]) for i in keep],
        labels=[_label_name(raw_labels[i]) for i in keep],
        groups=groups,
        splits=splits,
        rows=[i + 1 for i in keep],
        skipped=bad,
    )
    classes = result.class_names
    if len(classes) < 2:
        found = f"one class only ({classes[0]!r})" if classes else "no class"
        raise DataError(f"{path}: column {label_column!r} holds {found} in {len(result.texts)} usable rows; a "
                        "classification study needs at least two classes")
    return result


@dataclass(frozen=True)
class TableSniff:
    """What `sniff_text_table` found: the text and label columns of a table and a few facts for ``mixup init``.

    Args:
        text_column: the column of the texts.
        label_column: the column of the labels.
        class_names: the classes found (in the rows read).
        rows: the number of rows read.
        mean_chars: the mean length of the texts read, in characters.
        named: whether the text column has one of the usual names (`TEXT_COLUMNS`).
        group_column: ``"group"`` when the table has that column, else ``None``.
        split_column: ``"split"`` when the table has that column, else ``None``.
        complete: whether every row was read (else the first ``rows`` only).
    """

    text_column: str
    label_column: str
    class_names: list[str]
    rows: int
    mean_chars: float
    named: bool
    group_column: str | None = None
    split_column: str | None = None
    complete: bool = True


_FILE_LIKE = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def _head(path: Path, rows: int) -> tuple[dict[str, list[Any]], bool]:
    """The first ``rows`` rows of a table as columns, and whether that is the whole table."""
    from mixup_core.data import read_table

    if path.stat().st_size <= 8 * 2**20:
        table = read_table(path)
        return table, True
    suffix = path.suffix.lower()
    records: list[dict[str, Any]] = []
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(path).iter_batches(batch_size=rows), None)
        return (batch.to_pydict() if batch is not None else {}), False
    with path.open(encoding="utf-8-sig", newline="") as f:
        if suffix == ".jsonl":
            for line in itertools.islice((ln for ln in f if ln.strip()), rows):
                row = json.loads(line)
                if not isinstance(row, dict):
                    return {}, False
                records.append(row)
        else:
            records = list(itertools.islice(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","), rows))
    names = list(records[0]) if records else []
    return {n: [r.get(n) for r in records] for n in names}, False


def sniff_text_table(path: str | os.PathLike[str], *, rows: int = 2000) -> TableSniff | None:
    """Recognise a table of labelled texts from its first rows, or ``None``.

    A text column holds strings, most of them with a space, longer than 12 characters on
    average and not file names (a manifest's paths are not texts); the first column named as in
    `TEXT_COLUMNS` that qualifies wins, else the qualifying column with the longest texts. The
    label column is the first other column named as in `LABEL_COLUMNS`, else another column
    with 2 to 100 distinct values that repeat (at most half as many values as rows); it must hold
    at least two classes. Tables up to 8 MiB are read whole, larger ones by their first ``rows`` rows.

    Args:
        path: a ``.csv``, ``.tsv``, ``.jsonl`` or ``.parquet`` file.
        rows: rows to read from a large table.

    Examples:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = f.write_text("id,review,stars\\n1,a truly fine product,5\\n2,broke after a day,1\\n"
        ...                  "3,works as it says,5\\n")
        >>> sniff = sniff_text_table(f)
        >>> sniff.text_column, sniff.label_column, sniff.class_names
        ('review', 'stars', ['1', '5'])
    """
    from mixup_core.data import TABLE_SUFFIXES

    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES or not path.is_file():
        return None
    try:
        table, complete = _head(path, rows)
    except Exception:  # any unreadable table is simply not recognised here; the loader reports why
        return None
    if not table:
        return None
    n = len(next(iter(table.values())))
    if n < 2:
        return None

    def text_like(values: list[Any]) -> float | None:
        strings = [v for v in values if isinstance(v, str) and v.strip()]
        if len(strings) < max(2, 0.9 * len(values)):
            return None
        spaced = sum(1 for v in strings if " " in v.strip())
        files = sum(1 for v in strings if _FILE_LIKE.search(v.strip()) and " " not in v.strip())
        mean = sum(len(v) for v in strings) / len(strings)
        if spaced < 0.5 * len(strings) or files > 0.5 * len(strings) or mean <= 12:
            return None
        return mean

    lengths = {name: text_like(values) for name, values in table.items()}
    candidates = [name for name, mean in lengths.items() if mean is not None]
    if not candidates:
        return None
    lower = {name.lower(): name for name in candidates}
    named = next((lower[c] for c in TEXT_COLUMNS if c in lower), None)
    text_column = named or max(candidates, key=lambda c: lengths[c] or 0.0)
    others = [c for c in table if c != text_column and c.lower() not in ("group", "split")]

    def classes(column: str) -> list[str] | None:
        values = [_label_name(v) for v in table[column] if not _missing(v)]
        distinct = set(values)
        if not 2 <= len(distinct) <= 100 or len(values) < 0.9 * n:
            return None
        return sort_class_names(values)

    label_column = None
    by_lower = {c.lower(): c for c in others}
    for wanted in LABEL_COLUMNS:
        if wanted in by_lower and classes(by_lower[wanted]) is not None:
            label_column = by_lower[wanted]
            break
    if label_column is None:
        for c in others:
            found = classes(c)
            if found is not None and lengths.get(c) is None and len(found) <= n / 2:
                label_column = c
                break
    if label_column is None:
        return None
    names = classes(label_column) or []
    return TableSniff(
        text_column=text_column,
        label_column=label_column,
        class_names=names,
        rows=n,
        mean_chars=round(float(lengths[text_column] or 0.0), 1),
        named=named is not None,
        group_column="group" if "group" in table else None,
        split_column="split" if "split" in table else None,
        complete=complete,
    )
