"""``mixup init`` on image files: recognise class folders or a manifest of image files (names and a few headers)."""

from __future__ import annotations

from pathlib import Path

from mixup_core.data import TABLE_SUFFIXES, DataError, DataGuess, read_table

from .datasets import IMAGE_EXTENSIONS, read_header

__all__ = ["detect_images"]

_PATH_COLUMNS = ("path", "file", "filename", "filepath", "file_path", "image", "image_path", "img")
_LABEL_COLUMNS = ("label", "class", "category", "target", "labels", "y")
_ARMS = [
    {"name": "mixup", "mixer": {"name": "mixup", "alpha": 0.2}},
    {"name": "cutmix", "mixer": {"name": "image:cutmix", "alpha": 1.0}},
]
_TRAIN = {"batch_size": 32}
_CACHE_MB = 1024  # image:folder's default cache_mb
_SAMPLE_ROWS = 20
_SAMPLES_PER_CLASS = 5  # headers read per class folder for the size written into the config
_SIZE_CAP = 224


def _is_image(name: object) -> bool:
    return isinstance(name, str) and Path(name.strip()).suffix.lower() in IMAGE_EXTENSIONS


def _guess(dataset: dict[str, object], summary: str, classes: list[str], score: float, files: int) -> DataGuess:
    return DataGuess("image", dataset, {"name": "image:small-cnn"}, [dict(a) for a in _ARMS], summary, classes,
                     score=score, train={**_TRAIN, "workers": _workers(dataset.get("size"), files)})


def _workers(size: object, files: int) -> int:
    """0 when ``cache: auto`` will hold the decoded images (RGB at ``size``, an upper bound), else 2.

    benchmarks/bench_folder.py: images decoded once need no worker (1.03x the in-memory rate with none);
    streamed images want workers to decode beside training.
    """
    if not (isinstance(size, list) and len(size) == 2):
        return 2
    return 0 if files * 3 * int(size[0]) * int(size[1]) <= _CACHE_MB * 2**20 else 2


def _size_of(samples: list[Path]) -> list[int] | None:
    """The ``size`` to write: the files' one size, or the median shorter side (at most 224); from a few headers."""
    sizes = []
    for f in samples:
        try:
            header = read_header(f)
        except Exception:  # unreadable files are the loader's to report, with their paths
            continue
        sizes.append((header.height, header.width))
    if not sizes:
        return None
    if len(set(sizes)) == 1:
        return list(sizes[0])
    side = int(min(_SIZE_CAP, sorted(min(s) for s in sizes)[len(sizes) // 2]))
    return [side, side]


def _detect_folders(path: Path) -> DataGuess | None:
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes, images, others = [], 0, 0
    suffixes: dict[str, int] = {}
    samples: list[Path] = []
    for folder in folders:
        found = 0
        for f in folder.rglob("*"):
            if f.name.startswith(".") or not f.is_file():
                continue
            if f.suffix.lower() in IMAGE_EXTENSIONS:
                found += 1
                if found <= _SAMPLES_PER_CLASS:
                    samples.append(f)
                key = f.suffix.lower().lstrip(".").replace("jpeg", "jpg").replace("tiff", "tif").upper()
                suffixes[key] = suffixes.get(key, 0) + 1
            else:
                others += 1
        images += found
        if found:
            classes.append(folder.name)
    if not images or others > images:
        return None
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(suffixes.items(), key=lambda kv: -kv[1]))
    summary = f"{len(classes)} classes, {images} image files ({kinds}) in class folders"
    # certain when every class folder holds images and nothing else
    score = 1.0 if len(classes) == len(folders) and not others else 0.7
    dataset: dict[str, object] = {"name": "image:folder", "root": str(path)}
    size = _size_of(samples)
    if size is not None:
        dataset["size"] = size
    dataset["channels"] = "auto"
    return _guess(dataset, summary, classes, score, images)


def _detect_manifest(path: Path) -> DataGuess | None:
    try:
        table = read_table(path)
    except (DataError, ImportError, OSError):
        return None
    path_column = next((c for c in _PATH_COLUMNS if c in table and all(_is_image(v) for v in table[c][:_SAMPLE_ROWS])),
                       None)
    if path_column is None:  # any column whose values are image file names
        path_column = next((c for c, v in table.items() if all(_is_image(x) for x in v[:_SAMPLE_ROWS])), None)
    label_column = next((c for c in _LABEL_COLUMNS if c in table), None)
    if path_column is None or label_column is None:
        return None
    classes = sorted({str(v).strip() for v in table[label_column] if v is not None and str(v).strip()})
    dataset: dict[str, object] = {"name": "image:folder", "root": str(path)}
    if path_column != "path":
        dataset["path_column"] = path_column
    if label_column != "label":
        dataset["label_column"] = label_column
    base = path.parent.resolve()
    samples = [base / str(v).strip() for v in table[path_column][: _SAMPLES_PER_CLASS * 4]]
    size = _size_of([f for f in samples if f.resolve().is_relative_to(base) and f.is_file()])
    if size is not None:
        dataset["size"] = size
    dataset["channels"] = "auto"
    extra = [c for c in ("group", "split") if c in table]
    summary = (f"{len(classes)} classes, {len(table[path_column])} image files listed in {path.name}"
               + (f" (with {' and '.join(extra)} columns)" if extra else ""))
    return _guess(dataset, summary, classes, 1.0, len(table[path_column]))


def detect_images(path: Path) -> DataGuess | None:
    """Recognise class folders of image files, or a manifest whose paths are image files, as ``image:folder``.

    A folder whose top level holds such a manifest is read as that manifest. The guess writes the
    ``size`` read from a few files' headers and ``channels: auto`` into the config.
    """
    if path.is_dir():
        for table in sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES):
            guess = _detect_manifest(table)
            if guess is not None:
                return guess
        return _detect_folders(path)
    if path.is_file() and path.suffix.lower() in TABLE_SUFFIXES:
        return _detect_manifest(path)
    return None
