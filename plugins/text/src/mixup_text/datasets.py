"""Labelled text that ships in Debian packages: WordNet noun supersenses and fortunes by topic.

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

import os
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FORTUNES_DIR",
    "FORTUNES_INSTALL",
    "FORTUNE_CATEGORIES",
    "SUPERSENSES",
    "WORDNET_INSTALL",
    "WORDNET_NOUNS",
    "TextClassificationData",
    "load_fortunes",
    "load_wordnet_supersenses",
    "read_fortunes",
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
    ["Tops", "act", "animal", "artifact", "attribute", "body", "cognition", "communication", "event", "feeling", "food", "group", "location", "motive", "object", "person", "phenomenon", "plant", "possession", "process", "quantity", "relation", "shape", "state", "substance", "time"]
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
        raise FileNotFoundError(f"the WordNet noun file {file} is missing: install it with `{WORDNET_INSTALL}` (Debian/Ubuntu, as root)")
    texts, lex = _read_supersenses(file)
    counts = Counter(lex)
    kept = sorted(counts) if top_k is None else sorted(sorted(counts, key=lambda c: (-counts[c], c))[:top_k])
    new_id = {c: i for i, c in enumerate(kept)}
    names = tuple(SUPERSENSES[c] if 0 <= c < len(SUPERSENSES) else f"lex{c + _FIRST_LEX_FILE:02d}" for c in kept)
    rows = [(t, new_id[c]) for t, c in zip(texts, lex, strict=True) if c in new_id]
    return _split(
        [t for t, _ in rows], [y for _, y in rows], names, test_fraction=fraction, max_per_class=max_per_class, seed=seed
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
            raise FileNotFoundError(f"the fortune files are missing ({folder}): install them with `{FORTUNES_INSTALL}` (Debian/Ubuntu, as root)")
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
    line ``%``; see `read_fortunes` for the encoding), stripped; entries of ``min_chars`` characters or fewer are dropped.
    Median length about 111 characters; the default classes hold 1,023 / 697 / 621 / 720 / 582 / 628
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
