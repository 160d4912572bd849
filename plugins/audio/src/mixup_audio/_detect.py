"""``mixup init`` on sound clips: recognise class folders or a manifest of audio files (names and a few headers)."""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

from mixup_core.data import TABLE_SUFFIXES, DataError, DataGuess, read_table

from ._files import AUDIO_EXTENSIONS, AudioInfo, audio_info

__all__ = ["detect_audio"]

_HEADERS_PER_CLASS = 4  # headers read per class folder (sample rate and length of the study's clips)
_HEADERS_MANIFEST = 16
_WALK_LIMIT = 2000  # names looked at per class folder
_LABEL_NAMES = ("label", "class", "category", "target")
_GROUP_NAMES = ("group", "speaker", "session", "site", "recording")
_ARMS: list[dict[str, Any]] = [
    # dB log-mel features: spectrogram mixup that mixes in power (the physical mixture), and SpecMix
    {"name": "mixup-power", "mixer": {"name": "audio:spectrogram", "domain": "db", "alpha": 0.4}},
    {"name": "specmix", "mixer": {"name": "audio:specmix"}},
]


def _is_audio(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def _files_of(folder: Path) -> tuple[list[Path], int]:
    """Up to `_WALK_LIMIT` names under ``folder``: (audio files, count of other files)."""
    audio: list[Path] = []
    other = 0
    for parent, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            if _is_audio(name):
                audio.append(Path(parent) / name)
            else:
                other += 1
            if len(audio) + other >= _WALK_LIMIT:
                return audio, other
    return audio, other


def _headers(paths: list[Path]) -> list[AudioInfo]:
    infos = []
    for p in paths:
        try:
            infos.append(audio_info(p))
        except Exception:  # a bad file is reported by the loader with its path; the guess only samples
            continue
    return infos


def _dataset(root: Path, infos: list[AudioInfo], extra: dict[str, Any]) -> dict[str, Any]:
    dataset: dict[str, Any] = {"name": "audio:folder", "root": str(root)}
    if infos:
        rates = Counter(i.sample_rate for i in infos)
        dataset["sample_rate"] = max(rates, key=lambda r: (rates[r], r))  # the most common (ties: the highest)
        longest = max(i.seconds for i in infos)
        dataset["seconds"] = math.ceil(longest * 100 - 1e-6) / 100
    dataset.update({"channels": "mono", "features": "log-mel", **extra})
    return dataset


def _kinds(paths: list[Path]) -> str:
    return ", ".join(sorted({p.suffix.lower().lstrip(".").upper() for p in paths}))


def _detect_manifest(path: Path) -> DataGuess | None:
    try:
        table = read_table(path)
    except (DataError, ImportError, OSError):
        return None

    def audio_share(values: list[Any]) -> float:
        return sum(isinstance(v, str) and _is_audio(v.strip()) for v in values) / max(len(values), 1)

    path_column = "path" if "path" in table and audio_share(table["path"]) > 0 else None
    if path_column is None:
        path_column = next((c for c in table if audio_share(table[c]) >= 0.9), None)
    if path_column is None:
        return None
    label_column = next((c for c in _LABEL_NAMES if c in table and c != path_column), None)
    certain = label_column is not None
    if label_column is None:  # another column with a few repeated values: the first such is taken for the label
        rows = len(table[path_column])
        label_column = next((c for c in table if c not in (path_column, "split", *_GROUP_NAMES)
                             and 2 <= len({str(v) for v in table[c]}) <= rows / 2), None)
    if label_column is None:
        return None
    share = audio_share(table[path_column]) * (1.0 if certain else 0.9)
    base = path.parent
    sample = [base / str(v).strip() for v in table[path_column] if isinstance(v, str) and _is_audio(v.strip())]
    infos = _headers([p for p in sample[:_HEADERS_MANIFEST] if p.is_file()])
    extra: dict[str, Any] = {}
    if path_column != "path":
        extra["path_column"] = path_column
    if label_column != "label":
        extra["label_column"] = label_column
    group = next((c for c in _GROUP_NAMES if c in table), None)
    if group is not None and group != "group":
        extra["group_column"] = group
    classes = sorted({str(v).strip() for v in table[label_column] if v is not None and str(v).strip()})
    described = f"grouped by {group!r}, " if group else ""
    split = ", with a train/test split column" if "split" in table else ""
    return DataGuess(
        "audio", _dataset(path, infos, extra), {"name": "audio:audio-cnn"}, [dict(a) for a in _ARMS],
        f"{len(classes)} classes, {len(sample)} audio files ({_kinds(sample)}) listed in {path.name}, {described}"
        f"log-mel features{split}",
        classes, score=round(share, 3),
    )


def detect_audio(path: Path) -> DataGuess | None:
    """A `DataGuess` for ``audio:folder`` when ``path`` holds sound clips in class folders or a manifest of them.

    Looks at names only, plus the headers of a few files per class (to write the study's
    ``sample_rate``, the most common rate seen, and ``seconds``, the longest clip seen). A folder
    holding a manifest table of audio files at its top level is read as that manifest.

    Args:
        path: the path given to ``mixup init`` (absolute).

    Examples:
        >>> import tempfile, pathlib
        >>> detect_audio(pathlib.Path(tempfile.mkdtemp())) is None
        True
    """
    if path.is_file():
        return _detect_manifest(path) if path.suffix.lower() in TABLE_SUFFIXES else None
    if not path.is_dir():
        return None
    for table in sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES):
        guess = _detect_manifest(table)
        if guess is not None and guess.score >= 0.8:
            return guess
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = {f: _files_of(f) for f in folders}
    audio = [p for files, _ in found.values() for p in files]
    other = sum(n for _, n in found.values())
    if not audio:
        return None
    infos = _headers([p for files, _ in found.values() for p in files[:_HEADERS_PER_CLASS]])
    classes = [f.name for f in folders]
    share = len(audio) / (len(audio) + other)
    with_audio = sum(1 for files, _ in found.values() if files)
    return DataGuess(
        "audio", _dataset(path, infos, {}), {"name": "audio:audio-cnn"}, [dict(a) for a in _ARMS],
        f"{len(classes)} classes, "
        f"{len(audio)}{'+' if any(len(f) + n >= _WALK_LIMIT for f, n in found.values()) else ''}"
        f" audio files ({_kinds(audio)}) in class folders, log-mel features",
        classes, score=round(share * with_audio / len(folders), 3),
    )
