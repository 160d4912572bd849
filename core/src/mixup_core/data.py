"""Helpers for data-set loaders registered through ``mixup_register_datasets``.

Shared by the modality plugins' loaders (and available to third-party ones): an error for missing
data, a tensor data set of ``(input, class index)`` items, a class-stratified subset, and checks of
integer loader parameters that name the parameter in a `mixup_core.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ._errors import ConfigError, MixupError

__all__ = ["DataNotFoundError", "LabeledTensors", "int_param", "optional_int_param", "stratified_subset"]


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
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    """``value`` as an int ``>= minimum``, or a `ConfigError` naming the parameter ``name``.

    Examples:
        >>> int_param("train_size", 10, 1)
        10
    """
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {name}={value!r}")
    return int(value)


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
