"""Label noise on a study's training split: ``dataset.label_noise`` (symmetric or pairwise, seeded, recorded).

Mixup's clearest published gains are under label noise (Zhang et al. 2018, "mixup: Beyond Empirical Risk
Minimization", ICLR, §3.4: CIFAR-10 with 20–80 % of the training labels corrupted). This module corrupts a
known share of the *training* labels of any data set, so that a ready study can reproduce that regime; the
test split is never touched, and the corrupted positions are recorded in the study folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from mixup_core import ConfigError, TaskData

__all__ = ["LABEL_NOISE_FILE", "LabelNoise", "NoisyLabels", "add_label_noise", "pop_label_noise"]

LABEL_NOISE_FILE = "label_noise.json"
"""The record of the corrupted training labels in a study folder (positions, true and noisy classes)."""

NoiseKind = Literal["symmetric", "pairwise"]


@dataclass(frozen=True)
class LabelNoise:
    """Which training labels were corrupted, and how.

    Args:
        rate: the share of each class's training examples whose label was replaced.
        kind: ``"symmetric"`` (a different class drawn uniformly) or ``"pairwise"`` (class ``c`` → ``c + 1``
            modulo the number of classes).
        seed: the seed of the draw.
        indices: positions in the training split of the corrupted examples (sorted).
        true_labels: their original class indices.
        noisy_labels: the class indices the study trains on.
    """

    rate: float
    kind: NoiseKind
    seed: int
    indices: np.ndarray
    true_labels: np.ndarray
    noisy_labels: np.ndarray

    def summary(self, train_size: int) -> str:
        """One line for the report's data-set section."""
        what = "a different class drawn uniformly" if self.kind == "symmetric" else "the next class (c → c+1)"
        return (f"{self.kind}, {len(self.indices)} of {train_size} training labels ({self.rate:.0%} of each class) "
                f"replaced by {what}, seed {self.seed}; test labels untouched; positions in {LABEL_NOISE_FILE}")

    def to_json(self) -> dict[str, Any]:
        """The record written to `LABEL_NOISE_FILE`."""
        return {"rate": self.rate, "kind": self.kind, "seed": self.seed, "count": len(self.indices),
                "indices": self.indices.tolist(), "true_labels": self.true_labels.tolist(),
                "noisy_labels": self.noisy_labels.tolist()}

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write `to_json` to ``path`` atomically (one key per line; the lists stay on their line)."""
        record = self.to_json()
        body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in record.items())
        tmp = Path(f"{path}.tmp")
        tmp.write_text("{\n" + body + "\n}\n", encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> LabelNoise:
        """The record written by `write` (a study folder's `LABEL_NOISE_FILE`)."""
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(float(raw["rate"]), raw["kind"], int(raw["seed"]), np.asarray(raw["indices"], dtype=np.int64),
                   np.asarray(raw["true_labels"], dtype=np.int64), np.asarray(raw["noisy_labels"], dtype=np.int64))


class NoisyLabels(Dataset[Any]):
    """A data set whose items keep their inputs but take their labels from ``labels``.

    Items are ``(inputs, label)`` pairs (images, audio, text) or objects with a ``y`` attribute (PyG ``Data``;
    a shallow copy gets the new ``y``, so the wrapped data set is never modified).

    Args:
        base: the wrapped data set.
        labels: one class index per item.

    Examples:
        >>> from mixup_core.data import LabeledTensors
        >>> ds = NoisyLabels(LabeledTensors(torch.zeros(3, 2), torch.tensor([0, 1, 1])), np.array([0, 0, 1]))
        >>> [ds[i][1] for i in range(3)]
        [0, 0, 1]
    """

    def __init__(self, base: Any, labels: np.ndarray) -> None:
        if len(labels) != len(base):
            raise ValueError(f"labels: one per item of the data set ({len(base)}) (got {len(labels)})")
        self.base = base
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> Any:
        item = self.base[index]
        label = int(self.labels[index])
        if isinstance(item, tuple):
            return (item[0], label, *item[2:])
        if isinstance(item, list):
            return [item[0], label, *item[2:]]
        if hasattr(item, "y"):
            clone = item.clone() if hasattr(item, "clone") else item
            old = getattr(item, "y", None)
            clone.y = torch.full_like(old, label) if isinstance(old, torch.Tensor) else torch.tensor([label])
            return clone
        raise TypeError(f"label noise needs items that are (inputs, label) pairs or have a y attribute "
                        f"(got {type(item).__name__})")


def _item_label(item: Any) -> int:
    label = item[1] if isinstance(item, (tuple, list)) else getattr(item, "y", None)
    if isinstance(label, torch.Tensor):
        if label.is_floating_point():
            raise ConfigError("dataset.label_noise: the training labels are soft (float) targets; label noise needs "
                              f"class indices (got dtype {label.dtype})")
        label = label.reshape(-1)[0]
    if label is None:
        raise ConfigError(f"dataset.label_noise: cannot read a label from a training item (got {type(item).__name__})")
    return int(label)


def add_label_noise(
    data: TaskData, rate: float, *, kind: NoiseKind = "symmetric", seed: int = 0
) -> tuple[TaskData, LabelNoise]:
    """Replace the labels of ``rate`` of each class's training examples; the test split is left alone.

    In each class, ``round(rate * n_c)`` examples are drawn without replacement (numpy ``default_rng(seed)``)
    and relabelled: ``"symmetric"`` draws a different class uniformly (so exactly ``rate`` of the labels are
    wrong, unlike "random labels" that may redraw the true class), ``"pairwise"`` flips class ``c`` to
    ``(c + 1) mod C`` (the "pair flipping" of Han et al. 2018, "Co-teaching", NeurIPS). The noise is the same
    for every arm and seed of a study: the study's training seeds never enter the draw.

    Args:
        data: the task.
        rate: share of each class's training labels to corrupt, in [0, 1); symmetric noise must stay below
            ``(C - 1) / C`` and pairwise below 0.5, or the wrong class would be the most frequent one.
        kind: ``"symmetric"`` or ``"pairwise"``.
        seed: seed of the draw.

    Returns:
        The task with a `NoisyLabels` training split (``info["label_noise"]`` describes it) and the record.

    Raises:
        ConfigError: naming ``dataset.label_noise`` (or ``_kind``/``_seed``) and the value.

    Examples:
        >>> from mixup_core.data import LabeledTensors
        >>> x, y = torch.zeros(20, 2), torch.arange(20) % 2
        >>> task = TaskData(LabeledTensors(x, y), LabeledTensors(x[:4], y[:4]), 2, ["a", "b"], "image")
        >>> noisy, record = add_label_noise(task, 0.2, kind="pairwise", seed=0)
        >>> len(record.indices), (record.noisy_labels == 1 - record.true_labels).all()
        (4, np.True_)
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise ConfigError(f"dataset.label_noise: a share of the training labels in [0, 1) (got {rate!r})")
    if kind not in ("symmetric", "pairwise"):
        raise ConfigError(f"dataset.label_noise_kind: 'symmetric' or 'pairwise' (got {kind!r})")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"dataset.label_noise_seed: a non-negative integer (got {seed!r})")
    c = data.num_classes
    limit = 0.5 if kind == "pairwise" else (c - 1) / c
    if rate >= limit:
        raise ConfigError(f"dataset.label_noise: {kind} noise must stay below {limit:.3g} with {c} classes, or a wrong "
                          f"class becomes the most frequent label of a class (got {rate!r})")
    labels = np.asarray([_item_label(data.train[i]) for i in range(len(data.train))], dtype=np.int64)
    rng = np.random.default_rng(seed)
    picked = []
    for cls in range(c):
        members = np.flatnonzero(labels == cls)
        k = round(rate * len(members))
        if k:
            picked.append(np.sort(rng.choice(members, size=k, replace=False)))
    indices = np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)
    true = labels[indices]
    if kind == "pairwise":
        noisy = (true + 1) % c
    else:  # a different class, uniformly: shift by 1 .. C-1
        noisy = (true + rng.integers(1, c, size=len(indices))) % c
    new = labels.copy()
    new[indices] = noisy
    record = LabelNoise(float(rate), kind, seed, indices, true, noisy)
    info = {**data.info, "label_noise": record.summary(len(labels))}
    return replace(data, train=NoisyLabels(data.train, new), info=info), record


def pop_label_noise(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Split a ``dataset`` section's parameters into the loader's and the label-noise options.

    Returns:
        ``(loader parameters, {"rate", "kind", "seed"} or None)``; ``None`` when ``label_noise`` is absent or 0.
    """
    rest = dict(params)
    rate = rest.pop("label_noise", None)
    kind = rest.pop("label_noise_kind", "symmetric")
    seed = rest.pop("label_noise_seed", 0)
    if rate is None:
        for key, value in (("label_noise_kind", kind), ("label_noise_seed", seed)):
            if key in params:
                raise ConfigError(f"dataset.{key}: set dataset.label_noise too, or remove it (got {value!r})")
        return rest, None
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise ConfigError(f"dataset.label_noise: a share of the training labels in [0, 1) (got {rate!r})")
    return rest, (None if rate == 0 else {"rate": float(rate), "kind": kind, "seed": seed})
