"""Image data sets and models for experiments (``mixup compare``), registered by the ``image`` plugin.

Data-set loaders (called with the parameters of a study config's ``dataset`` section, they return a
`mixup_core.TaskData` whose items are ``(float tensor (1, H, W), int label)``):

- `load_fashion_mnist` (registered as ``image:fashion-mnist``): real Fashion-MNIST, read from the IDX
  files of the Debian package ``dataset-fashion-mnist`` (no torchvision, nothing downloaded), with a
  stratified subset of each split chosen by ``split_seed``.
- `load_digits` (``image:digits``): scikit-learn's bundled 8×8 handwritten digits, a stratified
  train/test split; small enough for end-to-end tests (needs ``pip install "mixup-image[lab]"``).

Model factories (called as ``factory(data, **params)`` with the `TaskData`, they return a module
whose output is the logits ``(B, num_classes)``):

- `small_cnn` (``image:small-cnn``): two convolution blocks with batch norm and pooling, adaptive
  average pooling and a linear head (`SmallCNN`); any ``(C, H, W)`` input shape.
- `mlp` (``image:mlp``, modality ``"any"``): flatten and fully connected layers (`MLP`); any tensor
  input with a known ``input_shape``.

Examples:
    >>> from mixup_image.lab import load_digits, small_cnn   # doctest: +SKIP
    >>> data = load_digits(test_fraction=0.25, split_seed=0)   # doctest: +SKIP
    >>> model = small_cnn(data, channels=[16, 32])              # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mixup_core import ConfigError, TaskData
from mixup_core.data import DataNotFoundError, LabeledTensors, stratified_subset
from mixup_core.data import int_param as _int_param
from mixup_core.data import optional_int_param as _optional_int_param

__all__ = [
    "DIGITS_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_INSTALL",
    "MLP",
    "DataNotFoundError",
    "LabeledTensors",
    "SmallCNN",
    "load_digits",
    "load_fashion_mnist",
    "mlp",
    "read_idx",
    "small_cnn",
    "stratified_subset",
]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Where the Debian package ``dataset-fashion-mnist`` installs the four IDX files."""

FASHION_MNIST_INSTALL = "apt-get install -y dataset-fashion-mnist"
"""The command (as root, after ``apt-get update``) that installs Fashion-MNIST on Debian and Ubuntu."""

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""Class names of Fashion-MNIST in label order."""

DIGITS_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
"""Class names of scikit-learn's digits, ``"0"`` … ``"9"``."""

_FASHION_FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# ---------------------------------------------------------------------------------------------- helpers
def _bool_param(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {type(value).__name__} {value!r}")
    return value


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed (``.gz``) or not.

    The header is two zero bytes, a type code (``0x08`` for unsigned bytes …), the number of
    dimensions and one big-endian 32-bit size per dimension; the data follow in C order.

    Args:
        path: the file.

    Returns:
        The array, e.g. ``(60000, 28, 28)`` uint8 images or ``(60000,)`` uint8 labels.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a well-formed IDX file (the message names it).

    Examples:
        >>> import tempfile
        >>> raw = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
        >>> with tempfile.NamedTemporaryFile(suffix=".idx", delete=False) as f:
        ...     _ = f.write(raw)
        >>> read_idx(f.name).tolist()
        [[0, 1, 2], [3, 4, 5]]
        >>> Path(f.name).unlink()
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        buf = f.read()
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0 or buf[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: header {buf[:4]!r}")
    ndim = buf[3]
    offset = 4 + 4 * ndim
    if len(buf) < offset:
        raise ValueError(f"{path} is truncated: its header announces {ndim} dimensions")
    dims = [int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_DTYPES[buf[2]])
    expected = math.prod(dims) * dtype.itemsize
    if len(buf) - offset != expected:
        raise ValueError(f"{path} holds {len(buf) - offset} data bytes, but its header {dims} announces {expected}")
    return np.frombuffer(buf, dtype, offset=offset).reshape(dims)


def _class_counts(labels: torch.Tensor, num_classes: int) -> list[int]:
    return [int(c) for c in torch.bincount(labels, minlength=num_classes)]


# ---------------------------------------------------------------------------------------------- loaders
def load_fashion_mnist(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    train_size: int | None = 10000,
    test_size: int | None = 2000,
    split_seed: int = 0,
    normalise: bool = True,
) -> TaskData:
    """Fashion-MNIST (Zalando; 10 classes of 28×28 grey clothing images) from the Debian package's IDX files.

    Reads ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` from ``data_dir`` (installed by
    ``apt-get install -y dataset-fashion-mnist``: 60,000 training and 10,000 test images, 6,000 and
    1,000 per class). A class-stratified subset of each split is kept (`stratified_subset`); it
    depends on ``split_seed`` only, so every training seed of a study sees the same examples.
    Pixels are scaled to [0, 1], then (with ``normalise``) standardised with the mean and standard
    deviation of the kept training pixels (recorded in ``info``).

    Args:
        data_dir: the folder of the four files (``None``, the default: `FASHION_MNIST_DIR`).
        train_size: training images to keep (default 10,000; ``None`` for all 60,000).
        test_size: test images to keep (default 2,000; ``None`` for all 10,000).
        split_seed: seed of the subsets (default 0).
        normalise: standardise the pixels with the training mean and std (default ``True``).

    Returns:
        A `TaskData` with modality ``"image"``, items ``(float32 (1, 28, 28), int)``, class names
        `FASHION_MNIST_CLASSES`, ``input_shape == (1, 28, 28)`` and ``info`` (source, licence,
        sizes, class counts, the mean/std used).

    Raises:
        DataNotFoundError: a file is missing (the message gives the install command and ``data_dir``).
        ConfigError: a size or seed is invalid or larger than the split.

    Examples:
        >>> data = load_fashion_mnist(train_size=1000, test_size=200)  # doctest: +SKIP
        >>> data.input_shape, len(data.train), data.class_names[0]     # doctest: +SKIP
        ((1, 28, 28), 1000, 'T-shirt/top')
    """
    train_n = _optional_int_param("train_size", train_size, 1)
    test_n = _optional_int_param("test_size", test_size, 1)
    seed = _int_param("split_seed", split_seed, 0)
    normalise = _bool_param("normalise", normalise)
    folder = Path(FASHION_MNIST_DIR if data_dir is None else data_dir).expanduser()
    missing = [name for name in _FASHION_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise DataNotFoundError(
            f"Fashion-MNIST not found: {', '.join(missing)} missing in data_dir={str(folder)!r}. Install the Debian "
            f"package with `apt-get update && {FASHION_MNIST_INSTALL}` (as root; it puts the files in "
            f"{FASHION_MNIST_DIR}), or set data_dir to a folder holding "
            f"{', '.join(sorted(_FASHION_FILES.values()))}."
        )
    splits: dict[str, LabeledTensors] = {}
    full_sizes: dict[str, int] = {}
    mean = std = None
    for split, size, stream in (("train", train_n, 0), ("test", test_n, 1)):
        images = read_idx(folder / _FASHION_FILES[(split, "images")])
        labels = read_idx(folder / _FASHION_FILES[(split, "labels")])
        if images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
            raise ValueError(
                f"unexpected Fashion-MNIST {split} files in {folder}: images {images.shape}, labels {labels.shape}"
            )
        full_sizes[split] = int(labels.shape[0])
        if size is not None and size > labels.shape[0]:
            raise ConfigError(
                f"{split}_size={size} exceeds the {labels.shape[0]} images of the Fashion-MNIST {split} split"
            )
        keep = stratified_subset(labels, labels.shape[0] if size is None else size, (seed, stream))
        x = torch.from_numpy(images[keep].astype(np.float32) / 255.0).unsqueeze(1)
        if normalise:
            if mean is None:  # the training split comes first
                mean, std = float(x.mean()), float(x.std())
            x = (x - mean) / std
        splits[split] = LabeledTensors(x, torch.from_numpy(labels[keep].astype(np.int64)))
    info: dict[str, Any] = {
        "source": f"Fashion-MNIST (Zalando Research), IDX files of the Debian package dataset-fashion-mnist in {folder}",
        "licence": "MIT (Expat), (c) Zalando SE",
        "full_sizes": full_sizes,
        "train_size": len(splits["train"]),
        "test_size": len(splits["test"]),
        "split_seed": seed,
        "subset": "class-stratified, drawn with numpy default_rng((split_seed, 0 train / 1 test))",
        "pixels": "scaled to [0, 1]" + (f", then standardised with mean {mean:.4f} and std {std:.4f}" if normalise else ""),
        "normalise": {"mean": mean, "std": std} if normalise else None,
        "class_counts": {s: _class_counts(d.labels, 10) for s, d in splits.items()},
    }
    return TaskData(
        splits["train"], splits["test"], 10, list(FASHION_MNIST_CLASSES), "image", input_shape=(1, 28, 28), info=info
    )


def load_digits(*, test_fraction: float = 0.25, split_seed: int = 0, train_size: int | None = None) -> TaskData:
    """scikit-learn's bundled handwritten digits (UCI optdigits test set: 1,797 images of 8×8, 10 classes).

    A class-stratified train/test split (`stratified_subset` draws the test part), fixed by
    ``split_seed``; optionally a stratified subset of the training part (few-label runs). Pixels
    (0–16 in the data) are scaled to [0, 1]. Near ceiling for a CNN (about 97–98 % accuracy):
    meant for tests, fast CI and few-label studies, not as a headline benchmark.

    Args:
        test_fraction: share of the images held out for testing, in (0, 1) (default 0.25: 449 images).
        split_seed: seed of the split and of the training subset (default 0).
        train_size: keep this many training images (stratified); ``None`` (default) keeps all.

    Returns:
        A `TaskData` with modality ``"image"``, items ``(float32 (1, 8, 8), int)`` in [0, 1], class
        names ``"0"`` … ``"9"`` and ``input_shape == (1, 8, 8)``.

    Raises:
        ConfigError: an invalid parameter (named in the message).
        ImportError: scikit-learn is missing (``pip install "mixup-image[lab]"``).

    Examples:
        >>> data = load_digits(test_fraction=0.25, split_seed=0)   # doctest: +SKIP
        >>> len(data.train), len(data.test), data.input_shape      # doctest: +SKIP
        (1348, 449, (1, 8, 8))
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be a number in (0, 1), got test_fraction={test_fraction!r}")
    seed = _int_param("split_seed", split_seed, 0)
    train_n = _optional_int_param("train_size", train_size, 1)
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is installed in the dev environment
        raise ImportError(
            'the digits data set comes with scikit-learn: install it with `pip install "mixup-image[lab]"` '
            "(or `pip install scikit-learn`)"
        ) from exc
    x_all, y_all = sklearn_load_digits(return_X_y=True)
    n = int(y_all.shape[0])
    test_n = round(test_fraction * n)
    if not 1 <= test_n < n:
        raise ConfigError(f"test_fraction={test_fraction!r} leaves {test_n} of {n} images for testing")
    test_idx = stratified_subset(y_all, test_n, (seed, 1))
    train_idx = np.setdiff1d(np.arange(n), test_idx)
    if train_n is not None:
        if train_n > train_idx.size:
            raise ConfigError(f"train_size={train_n} exceeds the {train_idx.size} training images left by "
                              f"test_fraction={test_fraction!r}")
        train_idx = train_idx[stratified_subset(y_all[train_idx], train_n, (seed, 0))]
    images = torch.from_numpy((x_all / 16.0).astype(np.float32)).reshape(n, 1, 8, 8)
    labels = torch.from_numpy(y_all.astype(np.int64))
    train = LabeledTensors(images[train_idx], labels[train_idx])
    test = LabeledTensors(images[test_idx], labels[test_idx])
    info: dict[str, Any] = {
        "source": "scikit-learn load_digits (UCI ML hand-written digits, optdigits test set)",
        "licence": "BSD-3-Clause (scikit-learn); data CC BY 4.0 (UCI)",
        "full_size": n,
        "train_size": len(train),
        "test_size": len(test),
        "test_fraction": float(test_fraction),
        "split_seed": seed,
        "split": "class-stratified, drawn with numpy default_rng((split_seed, 1)); training subset with (split_seed, 0)",
        "pixels": "scaled from 0..16 to [0, 1]",
        "class_counts": {"train": _class_counts(train.labels, 10), "test": _class_counts(test.labels, 10)},
    }
    return TaskData(train, test, 10, list(DIGITS_CLASSES), "image", input_shape=(1, 8, 8), info=info)


# ---------------------------------------------------------------------------------------------- models
def _channels_param(value: object) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair: tuple[object, ...] = (int(value), 2 * int(value))
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        pair = tuple(value)
    else:
        raise ConfigError(f"channels must be an int c (blocks of c and 2c) or two ints [c1, c2], got channels={value!r}")
    if not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 1 for c in pair):
        raise ConfigError(f"channels must be positive ints, got channels={value!r}")
    return int(pair[0]), int(pair[1])  # type: ignore[call-overload]


def _dropout_param(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"dropout must be a number in [0, 1), got dropout={value!r}")
    return float(value)


def _shape_of(data: TaskData, model: str) -> tuple[int, ...]:
    if not isinstance(data, TaskData):
        raise TypeError(f"{model} is built from a mixup_core.TaskData, got {type(data).__name__}")
    if data.input_shape is None:
        raise ConfigError(
            f"the model {model!r} needs tensor inputs of a known shape, but the data set gives input_shape=None "
            f"(modality {data.modality!r}); choose a model of that modality"
        )
    return tuple(int(s) for s in data.input_shape)


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
            bn=nn.BatchNorm2d(c_out),
            relu=nn.ReLU(inplace=True),
            pool=nn.MaxPool2d(2, ceil_mode=True),  # ceil: a 1-pixel map stays 1 pixel
        )
    )


class SmallCNN(nn.Module):
    """Two convolution blocks, adaptive average pooling and a linear head.

    ``features`` is ``block1`` then ``block2``, each a 3×3 convolution (padding 1), batch norm, ReLU
    and 2×2 max pooling (ceil mode); ``pool`` averages the map to at most ``pool × pool`` cells
    (adaptive, so any image size works: 28×28 → 7×7 → 4×4, 8×8 → 2×2 → 2×2); then ``dropout`` and
    the linear ``classifier``. Hidden layers for ``image:manifold`` are ``"features.block1"`` and
    ``"features.block2"``; with ``pool=1`` the head is a linear layer on globally pooled features,
    as CAM-based mixers expect (``SnapMix(model=net.features, classifier=net.classifier)``).

    Args:
        input_shape: ``(C, H, W)`` of one image.
        num_classes: number of outputs.
        channels: output channels of the two blocks.
        pool: side of the adaptive average pooling's output (capped at the feature map's size).
        dropout: dropout probability before the classifier.

    Examples:
        >>> net = SmallCNN((1, 8, 8), 10, channels=(4, 8))
        >>> net(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        *,
        channels: tuple[int, int] = (32, 64),
        pool: int = 4,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ConfigError(f"SmallCNN takes images (C, H, W), got input_shape={tuple(input_shape)!r}")
        c, h, w = (int(s) for s in input_shape)
        c1, c2 = channels
        self.input_shape = (c, h, w)
        self.features = nn.Sequential(OrderedDict(block1=_conv_block(c, c1), block2=_conv_block(c1, c2)))
        h2, w2 = math.ceil(math.ceil(h / 2) / 2), math.ceil(math.ceil(w / 2) / 2)
        cells = (min(pool, h2), min(pool, w2))
        self.pool = nn.AdaptiveAvgPool2d(cells)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c2 * cells[0] * cells[1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of images ``(B, C, H, W)``."""
        if x.ndim != 4 or x.shape[1] != self.input_shape[0]:
            raise ValueError(
                f"SmallCNN expects images (B, {self.input_shape[0]}, H, W), got a tensor of shape {tuple(x.shape)}"
            )
        return self.classifier(self.dropout(torch.flatten(self.pool(self.features(x)), 1)))  # type: ignore[no-any-return]


def small_cnn(
    data: TaskData,
    *,
    channels: int | Sequence[int] = (32, 64),
    pool: int = 4,
    dropout: float = 0.25,
) -> SmallCNN:
    """A small CNN for the images of ``data``: two conv blocks (conv, batch norm, ReLU, max pool) and a linear head.

    Reads ``data.input_shape`` (``(C, H, W)``, any size) and ``data.num_classes``; see `SmallCNN`.
    About 20k parameters with the defaults (plus the head: 64·16·K).

    Args:
        data: the experiment's data (`TaskData` with an image ``input_shape``).
        channels: output channels of the two blocks, ``[c1, c2]`` (default ``[32, 64]``), or one
            int ``c`` for ``[c, 2c]``.
        pool: side of the adaptive average pooling before the head (default 4; 1 = global pooling).
        dropout: dropout before the head, in [0, 1) (default 0.25).

    Raises:
        ConfigError: a bad parameter, or ``data.input_shape`` is not ``(C, H, W)``.

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> x, y = torch.zeros(4, 1, 28, 28), torch.tensor([0, 1, 0, 1])
        >>> data = TaskData(TensorDataset(x, y), TensorDataset(x, y), 2, ["a", "b"], "image", input_shape=(1, 28, 28))
        >>> small_cnn(data, channels=8)(x).shape
        torch.Size([4, 2])
    """
    shape = _shape_of(data, "small-cnn")
    if len(shape) != 3:
        raise ConfigError(f"small-cnn takes images (C, H, W), but the data set gives input_shape={shape!r}")
    pool_n = _int_param("pool", pool, 1)
    return SmallCNN(
        shape, data.num_classes, channels=_channels_param(channels), pool=pool_n, dropout=_dropout_param(dropout)
    )


class MLP(nn.Module):
    """Flatten, then fully connected layers with ReLU (and dropout), then a linear output layer.

    Args:
        in_features: the number of values of one flattened example.
        num_classes: number of outputs.
        hidden: widths of the hidden layers (empty: a linear classifier).
        dropout: dropout probability after each hidden layer.

    Attributes:
        layers: the ``nn.Sequential`` of hidden blocks, ``"layers.0"``, ``"layers.1"`` … (each
            Linear, ReLU, Dropout), hidden layers for ``image:manifold``.
        classifier: the output layer.

    Examples:
        >>> MLP(12, 3, hidden=(5,))(torch.zeros(2, 3, 4)).shape
        torch.Size([2, 3])
    """

    def __init__(self, in_features: int, num_classes: int, *, hidden: Sequence[int] = (256,), dropout: float = 0.0) -> None:
        super().__init__()
        self.in_features = in_features
        blocks: list[nn.Module] = []
        width = in_features
        for h in hidden:
            blocks.append(nn.Sequential(nn.Linear(width, h), nn.ReLU(inplace=True), nn.Dropout(dropout)))
            width = h
        self.layers = nn.Sequential(*blocks)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of inputs ``(B, ...)`` with ``in_features`` values per example."""
        flat = torch.flatten(x, 1)
        if flat.shape[1] != self.in_features:
            raise ValueError(
                f"MLP expects {self.in_features} values per example, got a tensor of shape {tuple(x.shape)}"
            )
        return self.classifier(self.layers(flat))  # type: ignore[no-any-return]


def mlp(data: TaskData, *, hidden: int | Sequence[int] = (256,), dropout: float = 0.0) -> MLP:
    """A multilayer perceptron on the flattened inputs of ``data`` (any modality with tensor inputs).

    Reads ``data.input_shape`` (its product is the input width) and ``data.num_classes``; see `MLP`.

    Args:
        data: the experiment's data (`TaskData` whose ``input_shape`` is known).
        hidden: widths of the hidden layers (default ``[256]``; one int for one layer; ``[]`` for
            a linear classifier).
        dropout: dropout after each hidden layer, in [0, 1) (default 0).

    Raises:
        ConfigError: a bad parameter, or ``data.input_shape`` is ``None`` (e.g. token inputs).

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> x, y = torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
        >>> data = TaskData(TensorDataset(x, y), TensorDataset(x, y), 3, ["a", "b", "c"], "image", input_shape=(1, 8, 8))
        >>> mlp(data, hidden=[32, 16])(x).shape
        torch.Size([4, 3])
    """
    shape = _shape_of(data, "mlp")
    widths: Sequence[object] = [hidden] if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool) else hidden
    if isinstance(widths, str) or not isinstance(widths, Sequence) or not all(
        isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1 for h in widths
    ):
        raise ConfigError(f"hidden must be a positive int or a list of positive ints, got hidden={hidden!r}")
    return MLP(math.prod(shape), data.num_classes, hidden=[int(h) for h in widths], dropout=_dropout_param(dropout))  # type: ignore[call-overload]
