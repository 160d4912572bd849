"""Data checks run on a study's loaded data before anything trains, each an error or a warning with paths and counts.

What is checked (`check_data`):

- **duplicates**: the same content in the training and the test split. Items that come from files
  (``paths`` of the own-data loaders) are compared by the SHA-256 of the file's bytes, and a copy is an
  error; other items (table rows, graphs, built-in tensors) by the SHA-256 of their input tensors (the
  label left out), and a repeat is a warning, since equal rows or graphs can be genuine. With ``perceptual=True`` image
  items are also compared by a 64-bit difference hash (dHash: the grey image scaled to 9 × 8, one bit per horizontal
  neighbour pair; Krawetz, "Kind of Like That", 2013) at a Hamming distance of at most
  ``perceptual_distance`` bits, which catches re-encoded or rescaled copies that byte hashes miss.
- **small classes**: a class with no training or no test example (its recall cannot be measured, or it
  cannot be learnt) is an error; one with fewer than `MIN_TEST_PER_CLASS` test examples is a warning
  (its recall moves in steps of ``1/n`` between seeds, so per-class verdicts on it are mostly noise);
  a class with fewer training examples than the validation split and the batch need is a warning.
- **imbalance**: the largest training class at least ``imbalance_ratio`` times the smallest (warning).
- **unreadable files**: files the own-data loaders skipped (``on_error: skip``) are listed (warning); with
  ``on_error: stop`` the loader has already refused them.
- **groups in both splits**: a group (line, site, patient, speaker …) with examples in both splits (error).

Errors stop the study before it writes anything (``checks.on_error: warn`` turns them into warnings).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Subset

from mixup_core import ConfigError, TaskData

__all__ = ["CHECKS_FILE", "MIN_TEST_PER_CLASS", "Finding", "check_data", "finding_lines", "raise_on_errors"]

MIN_TEST_PER_CLASS = 5
"""Fewer test examples than this in a class is a warning: its recall moves in steps of at least 20 pp."""

CHECKS_FILE = "data_checks.json"
"""The findings of the data checks, kept in the study folder for the report."""
_SHOWN = 5  # paths named per finding in a message (the report's JSON keeps up to 50)
_KEPT = 50


@dataclass(frozen=True)
class Finding:
    """One problem found in the data.

    Args:
        level: ``"error"`` (stops the study) or ``"warning"``.
        check: ``"duplicates"``, ``"small-class"``, ``"imbalance"``, ``"unreadable"`` or ``"group-leak"``.
        message: one sentence with the counts.
        paths: the files (or items) concerned, at most 50.
        count: how many items or pairs are concerned in all.
    """

    level: Literal["error", "warning"]
    check: str
    message: str
    paths: list[str] = field(default_factory=list)
    count: int = 0

    def line(self) -> str:
        """The message with the first paths named."""
        if not self.paths:
            return self.message
        more = f" and {self.count - _SHOWN} more" if self.count > _SHOWN else ""
        return f"{self.message}: {'; '.join(self.paths[:_SHOWN])}{more}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {"level": self.level, "check": self.check, "message": self.message, "paths": self.paths,
                "count": self.count}


# ------------------------------------------------------------------------------------------- item access


def _base(ds: Any) -> tuple[Any, np.ndarray]:
    """The innermost data set under ``Subset`` wrappers and the positions of ``ds``'s items in it."""
    idx = np.arange(len(ds))
    while isinstance(ds, Subset):
        idx = np.asarray(ds.indices, dtype=np.int64)[idx]
        ds = ds.dataset
    return ds, idx


def sources(ds: Any) -> list[str] | None:
    """Where each item comes from: the file of loaders with ``paths``, the table row of those with ``sources``."""
    base, idx = _base(ds)
    for attr in ("paths", "sources"):
        values = getattr(base, attr, None)
        if values is not None and len(values) == len(base) and not isinstance(values, str):
            return [str(values[int(i)]) for i in idx]
    return None


def labels_of(ds: Any) -> np.ndarray:
    """``(N,)`` class index of every item, from a ``labels``/``targets``/``tensors`` attribute when there is one."""
    base, idx = _base(ds)
    for attr in ("labels", "targets"):
        values = getattr(base, attr, None)
        if values is not None and not callable(values) and len(values) == len(base):
            return np.asarray(torch.as_tensor(np.asarray(values)).reshape(-1), dtype=np.int64)[idx]
    tensors = getattr(base, "tensors", None)
    if isinstance(tensors, tuple) and len(tensors) >= 2 and len(tensors[1]) == len(base):
        return np.asarray(tensors[1].reshape(-1), dtype=np.int64)[idx]
    out = []
    for i in range(len(ds)):
        item = ds[i]
        label = item[1] if isinstance(item, (tuple, list)) else getattr(item, "y", None)
        out.append(int(torch.as_tensor(label).reshape(-1)[0]))
    return np.asarray(out, dtype=np.int64)


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        h.update(str((obj.dtype, obj.shape)).encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            h.update(str(k).encode())
            _feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _feed(h, v)
    elif hasattr(obj, "to_dict") and callable(obj.to_dict):  # a PyG Data: every attribute but the label
        _feed(h, {k: v for k, v in obj.to_dict().items() if k != "y"})
    else:
        h.update(repr(obj).encode())


def _inputs(item: Any) -> Any:
    return item[0] if isinstance(item, (tuple, list)) else item


def content_hashes(ds: Any) -> list[str]:
    """SHA-256 of each item: of its file's bytes when the items come from files, else of its inputs."""
    paths = sources(ds)
    base, _ = _base(ds)
    if paths is not None and getattr(base, "paths", None) is not None:
        out = []
        for p in paths:
            try:
                out.append(hashlib.sha256(Path(p).read_bytes()).hexdigest())
            except OSError:  # unreadable here: the loader reports it; never equal to another file
                out.append(f"unreadable:{p}")
        return out
    hashes = []
    for i in range(len(ds)):
        h = hashlib.sha256()
        _feed(h, _inputs(ds[i]))
        hashes.append(h.hexdigest())
    return hashes


def dhash(image: torch.Tensor) -> int:
    """The 64-bit difference hash of an image ``(C, H, W)`` (any dtype): grey, 9 × 8, left < right per bit."""
    x = image.detach().to(torch.float32)
    if x.ndim == 3:
        x = x.mean(dim=0)
    small = torch.nn.functional.interpolate(x[None, None], size=(8, 9), mode="area")[0, 0]
    bits = (small[:, 1:] > small[:, :-1]).flatten().tolist()
    return int(sum(1 << k for k, b in enumerate(bits) if b))


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(axis=-1)


def _near_pairs(a: Sequence[int], b: Sequence[int], distance: int) -> list[tuple[int, int]]:
    """``(i, j)`` with ``a[i]`` and ``b[j]`` at most ``distance`` bits apart (blocks of rows, vectorised)."""
    av, bv = np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)
    out: list[tuple[int, int]] = []
    for start in range(0, av.size, 256):
        d = _popcount(np.bitwise_xor(av[start:start + 256, None], bv[None, :]))
        out += [(start + int(i), int(j)) for i, j in zip(*np.nonzero(d <= distance), strict=True)]
    return out


# ------------------------------------------------------------------------------------------- the checks


def _name(names: Sequence[str], where: list[str] | None, split: str, i: int) -> str:
    return where[i] if where is not None else f"{split} item {i}"


def _duplicates(data: TaskData, perceptual: bool, distance: int) -> list[Finding]:
    train_src, test_src = sources(data.train), sources(data.test)
    tr, te = content_hashes(data.train), content_hashes(data.test)
    first: dict[str, int] = {}
    for i, h in enumerate(tr):
        first.setdefault(h, i)
    pairs = [(first[h], j) for j, h in enumerate(te) if h in first]
    out = []
    if pairs:
        files = train_src is not None and getattr(_base(data.train)[0], "paths", None) is not None
        shown = [f"{_name([], train_src, 'train', i)} = {_name([], test_src, 'test', j)}" for i, j in pairs[:_KEPT]]
        plural = "s" if len(pairs) > 1 else ""
        if files:  # a copied file is a data mistake
            out.append(Finding("error", "duplicates", f"{len(pairs)} test file{plural} identical to a training file "
                               "(SHA-256 of the bytes): the test would measure memory, not generalisation; remove "
                               "one copy of each", shown, len(pairs)))
        else:  # equal rows or graphs can be genuine (few distinct values): reported, not refused
            out.append(Finding("warning", "duplicates", f"{len(pairs)} test example{plural} with the same inputs as a "
                               "training example (SHA-256 of the input tensors): if they are copies, the test partly "
                               "measures memory; remove them, or keep them if such repeats are genuine", shown,
                               len(pairs)))
    if perceptual and data.modality == "image":
        exact = {j for _, j in pairs}
        a = [dhash(_inputs(data.train[i])) for i in range(len(data.train))]
        b = [dhash(_inputs(data.test[j])) for j in range(len(data.test))]
        near = [(i, j) for i, j in _near_pairs(a, b, distance) if j not in exact]
        seen: set[int] = set()
        near = [(i, j) for i, j in near if not (j in seen or seen.add(j))]  # type: ignore[func-returns-value]
        if near:
            shown = [f"{_name([], train_src, 'train', i)} ≈ {_name([], test_src, 'test', j)}" for i, j in near[:_KEPT]]
            out.append(Finding("warning", "duplicates", f"{len(near)} test image{'s' if len(near) > 1 else ''} nearly "
                               f"identical to a training image (difference hash within {distance} of 64 bits): "
                               "check them for copies", shown, len(near)))
    return out


def _small_classes(data: TaskData, y_train: np.ndarray, y_test: np.ndarray, seeds: int,
                   val_fraction: float | None) -> list[Finding]:
    names = [str(n) for n in data.class_names]
    k = data.num_classes
    n_tr = np.bincount(y_train, minlength=k)
    n_te = np.bincount(y_test, minlength=k)
    train_src, test_src = sources(data.train), sources(data.test)
    out = []
    for c in range(k):
        where = ([_name(names, train_src, "train", int(i)) for i in np.flatnonzero(y_train == c)[:_KEPT]]
                 + [_name(names, test_src, "test", int(i)) for i in np.flatnonzero(y_test == c)[:_KEPT]])
        total = int(n_tr[c] + n_te[c])
        if n_te[c] == 0 or n_tr[c] == 0:
            side = "test" if n_te[c] == 0 else "training"
            consequence = ("its recall cannot be measured" if side == "test" else "the model cannot learn it")
            out.append(Finding("error", "small-class", f"class {names[c]!r} has {total} "
                                                       f"example{'s' if total != 1 else ''} "
                               f"({n_tr[c]} training, {n_te[c]} test), none in the {side} split, so {consequence}; "
                               "add examples of it or remove the class", where, total))
        if val_fraction is not None and n_tr[c] > 0 and round(val_fraction * n_tr[c]) < 1:
            out.append(Finding("warning", "small-class", f"class {names[c]!r} has {n_tr[c]} training example"
                               f"{'s' if n_tr[c] > 1 else ''}: train.val_fraction {val_fraction} still holds one out "
                               "for validation, which leaves fewer to learn from", where, total))
    few = [c for c in range(k) if 0 < n_te[c] < MIN_TEST_PER_CLASS and n_tr[c] > 0]
    if few:
        listed = ", ".join(f"{names[c]!r} {n_te[c]}" for c in few)
        step = 100.0 / max(int(n_te[c]) for c in few)
        where = [_name(names, test_src, "test", int(i)) for i in np.flatnonzero(np.isin(y_test, few))[:_KEPT]]
        out.append(Finding("warning", "small-class", f"{len(few)} class{'es have' if len(few) > 1 else ' has'} fewer "
                           f"than {MIN_TEST_PER_CLASS} test examples ({listed}): their recall moves in steps of "
                           f"{step:.0f} pp or more, so over {seeds} seed{'s' if seeds != 1 else ''} their per-class "
                           "verdicts are mostly noise", where, int(np.isin(y_test, few).sum())))
    return out


def _imbalance(data: TaskData, y_train: np.ndarray, ratio: float) -> list[Finding]:
    counts = np.bincount(y_train, minlength=data.num_classes)
    present = counts[counts > 0]
    if present.size < 2 or present.max() < ratio * present.min():
        return []
    names = [str(n) for n in data.class_names]
    big, small = int(np.argmax(counts)), int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
    listed = [f"{names[c]}: {int(counts[c])}" for c in np.argsort(-counts)]
    return [Finding("warning", "imbalance", f"heavy class imbalance in the training split: {names[big]!r} has "
                    f"{int(counts[big])} examples, {names[small]!r} {int(counts[small])} "
                    f"({counts[big] / counts[small]:.0f}:1, "
                    f"warned from {ratio:g}:1); accuracy then mostly reflects the large classes: read macro-F1 and "
                    "per-class recall, and consider critical.classes for the small ones", listed, len(listed))]


def _unreadable(data: TaskData) -> list[Finding]:
    info = data.info or {}
    skipped = info.get("skipped")
    if not isinstance(skipped, int) or skipped <= 0:
        return []
    listed = [str(s) for s in (info.get("skipped_files") or info.get("skipped_rows") or [])][:_KEPT]
    what = "rows" if info.get("skipped_rows") is not None and not info.get("skipped_files") else "files"
    if what == "rows":
        listed = [f"row {r}" for r in listed]
    return [Finding("warning", "unreadable", f"{skipped} {what} could not be read and were left out (on_error: skip)",
                    listed, skipped)]


def _group_leak(data: TaskData) -> list[Finding]:
    if data.train_groups is None or data.test_groups is None:
        return []
    tr, te = [str(g) for g in data.train_groups], [str(g) for g in data.test_groups]
    both = sorted(set(tr) & set(te))
    if not both:
        return []
    listed = [f"group {g!r}: {tr.count(g)} training, {te.count(g)} test" for g in both[:_KEPT]]
    return [Finding("error", "group-leak", f"{len(both)} group{'s' if len(both) > 1 else ''} in both the training and "
                    "the test split: the test would measure memory of the group (line, site, patient, speaker …); "
                    "split by group", listed, len(both))]


def check_data(
    data: TaskData,
    *,
    seeds: int = 1,
    val_fraction: float | None = None,
    perceptual: bool = False,
    perceptual_distance: int = 4,
    imbalance_ratio: float = 10.0,
) -> list[Finding]:
    """Every data check of the module docstring on a loaded study's data, errors first.

    Args:
        data: the loaded task.
        seeds: seeds the study will run (named in the small-class warnings).
        val_fraction: ``train.val_fraction`` of the study, or ``None``.
        perceptual: also compare images by difference hash.
        perceptual_distance: the most differing bits (of 64) for two images to count as near copies.
        imbalance_ratio: the largest-to-smallest training class ratio from which imbalance is warned.

    Examples:
        >>> from mixup_core.data import LabeledTensors
        >>> x = torch.arange(12.0).reshape(6, 2)
        >>> data = TaskData(LabeledTensors(x[:4], torch.tensor([0, 0, 1, 1])),
        ...                 LabeledTensors(x[3:5], torch.tensor([1, 0])), 2, ["a", "b"], "tabular")
        >>> [f.check for f in check_data(data)]
        ['duplicates', 'small-class']
    """
    y_train, y_test = labels_of(data.train), labels_of(data.test)
    found = [*_duplicates(data, perceptual, perceptual_distance), *_group_leak(data),
             *_small_classes(data, y_train, y_test, seeds, val_fraction), *_imbalance(data, y_train, imbalance_ratio),
             *_unreadable(data)]
    return sorted(found, key=lambda f: f.level != "error")


def raise_on_errors(findings: Sequence[Finding]) -> None:
    """Raise one `ConfigError` (one line, every error with its first paths) when any finding is an error."""
    errors = [f for f in findings if f.level == "error"]
    if errors:
        raise ConfigError("data: " + " | ".join(f.line() for f in errors)
                          + " (checks.on_error: warn runs the study anyway)")


def finding_lines(findings: Sequence[dict[str, Any]]) -> list[str]:
    """The report's section for stored findings (`Finding.to_json` mappings); none when there are none."""
    if not findings:
        return []
    lines = ["## Data checks", ""]
    for f in findings:
        paths = f.get("paths") or []
        more = f" and {f['count'] - len(paths[:_SHOWN])} more" if f.get("count", 0) > len(paths[:_SHOWN]) else ""
        where = f": {'; '.join(f'`{p}`' for p in paths[:_SHOWN])}{more}" if paths else ""
        lines.append(f"- **{f['level']}** ({f['check']}): {f['message']}{where}")
    return [*lines, ""]


def run_checks(cfg: Any, data: TaskData, seeds: int, *, announce: Callable[[str], None] | None = None) -> list[Finding]:
    """The study's data checks (``cfg.checks``): errors raise (or warn with ``on_error: warn``), warnings are announced.

    Raises:
        ConfigError: an error was found and ``checks.on_error`` is ``"stop"``.
    """
    checks = cfg.checks
    if not checks.enabled:
        return []
    findings = check_data(data, seeds=seeds, val_fraction=cfg.train.val_fraction, perceptual=checks.perceptual,
                          perceptual_distance=checks.perceptual_distance, imbalance_ratio=checks.imbalance_ratio)
    if checks.on_error == "stop":
        raise_on_errors(findings)
    if announce is not None:
        for f in findings:
            announce(f"{f.level}: data: {f.line()}")
    return findings
