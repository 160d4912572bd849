"""Image data sets and models for experiments (``mixup compare``), registered by the ``image`` plugin.

Data-set loaders (called with the parameters of a study config's ``dataset`` section, they return a
`mixup_core.TaskData` whose items are ``(float tensor (1, H, W), int label)``):

- `load_fashion_mnist_task` (registered as ``image:fashion-mnist``): real Fashion-MNIST, read from the IDX
  files of the Debian package ``dataset-fashion-mnist`` (no torchvision, nothing downloaded), with a
  stratified subset of each split chosen by ``split_seed``.
- `load_digits_task` (``image:digits``): scikit-learn's bundled 8×8 handwritten digits, a stratified
  train/test split; small enough for end-to-end tests (needs ``pip install "mixup-image[lab]"``).

- `load_folder_task` (``image:folder``): the user's own image files, a class-folder tree or a
  manifest table, decoded once into memory when it fits (``cache``) or from disk on access
  (`ImageFiles`, uint8 items) and normalised per channel in the collate function (`NormalizeImages`)
  with statistics of the training split; needs ``pip install "mixup-image[folder]"`` (torchvision and
  pillow).
- `load_cifar_task` (``image:cifar``): CIFAR-10 or CIFAR-100 from the folder torchvision's ``CIFAR10``
  leaves on disk (`mixup_image.datasets.read_cifar`; never downloaded), ``uint8`` in memory, the
  standard augmentation of the mixup and CutMix papers (4-pixel padding, random 32×32 crop, horizontal
  flip) in training (`CifarImages`).

Model factories (called as ``factory(data, **params)`` with the `TaskData`, they return a module
whose output is the logits ``(B, num_classes)``):

- `small_cnn` (``image:small-cnn``): two convolution blocks with batch norm and pooling, adaptive
  average pooling and a linear head (`SmallCNN`); any ``(C, H, W)`` input shape.
- `mlp` (``image:mlp``, modality ``"any"``): flatten and fully connected layers (`MLP`); any tensor
  input with a known ``input_shape``.
- `timm_model` (the family ``timm:<arch>``): any timm model, from random weights or a local
  checkpoint (``pretrained_path``); needs ``pip install timm``.
- `torchvision_model` (the family ``torchvision:<arch>``): any torchvision classification model,
  likewise.
- `preact_resnet18` (``image:preact-resnet18``): the pre-activation ResNet-18 for 32×32 inputs (He et
  al. 2016, "Identity Mappings in Deep Residual Networks", ECCV) that Zhang et al. 2018 (mixup) and Yun
  et al. 2019 (CutMix) report CIFAR numbers for (`PreActResNet`).

Models of the two families carry the dotted name of their classifier module in the attribute
``mixup_classifier``; `find_classifier` returns it for those and for models with a
``get_classifier()`` method or a ``classifier`` module.

Examples:
    >>> from mixup_image.lab import load_digits_task, small_cnn   # doctest: +SKIP
    >>> data = load_digits_task(test_fraction=0.25, split_seed=0)   # doctest: +SKIP
    >>> model = small_cnn(data, channels=[16, 32])              # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from mixup_core import ConfigError, MixupError, TaskData
from mixup_core.data import (
    DataError,
    DataNotFoundError,
    LabeledTensors,
    class_counts,
    column_param,
    scan_files,
    split_indices,
    stratified_subset,
)
from mixup_core.data import int_param as _int_param
from mixup_core.data import optional_int_param as _optional_int_param

from .datasets import (
    DIGITS_CLASSES,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    FASHION_MNIST_INSTALL,
    IMAGE_EXTENSIONS,
    ImageHeader,
    decode_image_file,
    fit_image,
    read_cifar,
    read_header,
    read_idx,
    require_image_io,
)

__all__ = [
    "DIGITS_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_INSTALL",
    "MLP",
    "CifarImages",
    "DataNotFoundError",
    "ImageFiles",
    "LabeledTensors",
    "NormalizeImages",
    "PreActBlock",
    "PreActResNet",
    "SmallCNN",
    "find_classifier",
    "load_cifar_task",
    "load_digits_task",
    "load_fashion_mnist_task",
    "load_folder_task",
    "load_pretrained",
    "mlp",
    "preact_resnet18",
    "read_idx",
    "small_cnn",
    "stratified_subset",
    "timm_model",
    "torchvision_model",
]

_FASHION_FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}


# ---------------------------------------------------------------------------------------------- helpers
def _bool_param(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {type(value).__name__} {value!r}")
    return value


def _class_counts(labels: torch.Tensor, num_classes: int) -> list[int]:
    return [int(c) for c in torch.bincount(labels, minlength=num_classes)]


# ---------------------------------------------------------------------------------------------- loaders
def load_fashion_mnist_task(
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
        >>> data = load_fashion_mnist_task(train_size=1000, test_size=200)  # doctest: +SKIP
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
    mean: float | None = None
    std: float | None = None
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
            if mean is None or std is None:  # the training split comes first
                mean, std = float(x.mean()), float(x.std())
            x = (x - mean) / std
        splits[split] = LabeledTensors(x, torch.from_numpy(labels[keep].astype(np.int64)))
    info: dict[str, Any] = {
        "source": ("Fashion-MNIST (Zalando Research), IDX files of the Debian package "
                   f"dataset-fashion-mnist in {folder}"),
        "licence": "MIT (Expat), (c) Zalando SE",
        "full_sizes": full_sizes,
        "train_size": len(splits["train"]),
        "test_size": len(splits["test"]),
        "split_seed": seed,
        "subset": "class-stratified, drawn with numpy default_rng((split_seed, 0 train / 1 test))",
        "pixels": "scaled to [0, 1]"
        + (f", then standardised with mean {mean:.4f} and std {std:.4f}" if normalise else ""),
        "normalise": {"mean": mean, "std": std} if normalise else None,
        "class_counts": {s: _class_counts(d.labels, 10) for s, d in splits.items()},
    }
    return TaskData(
        splits["train"], splits["test"], 10, list(FASHION_MNIST_CLASSES), "image", input_shape=(1, 28, 28), info=info
    )


def load_digits_task(*, test_fraction: float = 0.25, split_seed: int = 0, train_size: int | None = None) -> TaskData:
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
        >>> data = load_digits_task(test_fraction=0.25, split_seed=0)   # doctest: +SKIP
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
        "split": ("class-stratified, drawn with numpy default_rng((split_seed, 1)); training "
                  "subset with (split_seed, 0)"),
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
        raise ConfigError(
            f"channels must be an int c (blocks of c and 2c) or two ints [c1, c2], got channels={value!r}"
        )
    if not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 1 for c in pair):
        raise ConfigError(f"channels must be positive ints, got channels={value!r}")
    return int(pair[0]), int(pair[1])  # type: ignore[call-overload]  # ints, checked above


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


def _conv_block(c_in: int, c_out: int, batch_norm: bool = True) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=not batch_norm),
            bn=nn.BatchNorm2d(c_out) if batch_norm else nn.Identity(),
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
        batch_norm: batch norm after each convolution (``False``: a biased convolution and no
            normalisation, which with ``dropout=0`` and wide ``channels`` gives a model that
            memorises its training set, the regime of mixup's published gains).

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
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ConfigError(f"SmallCNN takes images (C, H, W), got input_shape={tuple(input_shape)!r}")
        c, h, w = (int(s) for s in input_shape)
        c1, c2 = channels
        self.input_shape = (c, h, w)
        self.features = nn.Sequential(OrderedDict(block1=_conv_block(c, c1, batch_norm),
                                                  block2=_conv_block(c1, c2, batch_norm)))
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
        return self.classifier(self.dropout(torch.flatten(self.pool(self.features(x)), 1)))


def small_cnn(
    data: TaskData,
    *,
    channels: int | Sequence[int] = (32, 64),
    pool: int = 4,
    dropout: float = 0.25,
    batch_norm: bool = True,
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
        batch_norm: batch norm after each convolution (default ``True``). ``batch_norm=False``,
            ``dropout=0`` and wide ``channels`` (e.g. ``[128, 256]``) give an over-parameterised model
            without implicit regularisation, which fits even noisy labels (Zhang et al. 2017,
            "Understanding deep learning requires rethinking generalization").

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
        shape, data.num_classes, channels=_channels_param(channels), pool=pool_n, dropout=_dropout_param(dropout),
        batch_norm=_bool_param("batch_norm", batch_norm),
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

    def __init__(
        self, in_features: int, num_classes: int, *, hidden: Sequence[int] = (256,), dropout: float = 0.0
    ) -> None:
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
        return self.classifier(self.layers(flat))


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
        >>> data = TaskData(TensorDataset(x, y), TensorDataset(x, y), 3, ["a", "b", "c"], "image",
        ...                 input_shape=(1, 8, 8))
        >>> mlp(data, hidden=[32, 16])(x).shape
        torch.Size([4, 3])
    """
    shape = _shape_of(data, "mlp")
    widths: object = [hidden] if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool) else hidden
    if isinstance(widths, str) or not isinstance(widths, Sequence) or not all(
        isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1 for h in widths
    ):
        raise ConfigError(f"hidden must be a positive int or a list of positive ints, got hidden={hidden!r}")
    return MLP(math.prod(shape), data.num_classes, hidden=[int(h) for h in widths], dropout=_dropout_param(dropout))


# ---------------------------------------------------------------------------------------------- image:folder
_CHANNELS = {"auto": None, "rgb": 3, "grey": 1, "gray": 1}
_AUTO_SIZE_CAP = 224
_CONSTANT_STD = 1e-6  # a channel whose std is below this (on [0, 1]) is constant: divided by 1


class ImageFiles(Dataset[tuple[torch.Tensor, int]]):
    """Image files, decoded on access or once (`preload`): item ``i`` is ``(uint8 tensor (C, h, w), class index)``.

    Only the paths and labels are held (as NumPy arrays, so that forked DataLoader workers share
    them without copying); each access decodes the file (`mixup_image.datasets.decode_image_file`)
    and fits it to ``size`` (`mixup_image.datasets.fit_image`: a random crop position when
    ``train``, else the centre). After `preload`, the decoded images (scaled, not yet cropped) are
    held in one ``uint8`` buffer and no file is read again; the items are the same. Items stay
    ``uint8``: `NormalizeImages` turns a batch into floats. Picklable, for DataLoader workers that are
    spawned (the buffer goes to them through shared memory, not copied).

    Args:
        paths: the image files.
        labels: the class index of each file.
        channels: 1 (grey) or 3 (RGB).
        size: the output ``(h, w)``.
        resize: ``"crop"`` or ``"stretch"`` (see `mixup_image.datasets.fit_image`).
        train: draw the crop's position at random (torch's global generator, which DataLoader
            workers seed from the loader's generator).

    Examples:
        >>> ds = ImageFiles(["a.png", "b.jpg"], [0, 1], channels=3, size=(32, 32))  # doctest: +SKIP
        >>> x, y = ds[0]                                                                # doctest: +SKIP
        >>> x.dtype, tuple(x.shape), y                                                  # doctest: +SKIP
        (torch.uint8, (3, 32, 32), 0)
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]] | np.ndarray,
        labels: Sequence[int] | np.ndarray,
        *,
        channels: int,
        size: tuple[int, int],
        resize: str = "crop",
        train: bool = False,
    ) -> None:
        self.paths = np.asarray([str(p) for p in paths], dtype=np.str_)
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.paths.shape != self.labels.shape:
            raise ValueError(f"{self.paths.size} paths for {self.labels.size} labels")
        self.channels = int(channels)
        self.size = (int(size[0]), int(size[1]))
        self.resize = resize
        self.train = bool(train)
        # the decoded images after `preload`: one flat uint8 buffer (shared, not copied, with DataLoader
        # workers), each image's offset in it and its (C, H, W)
        self._buffer: torch.Tensor | None = None
        self._offsets: np.ndarray | None = None
        self._shapes: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.size)

    @property
    def cached(self) -> bool:
        """Whether the images are held decoded in memory (`preload`) instead of read from disk on access."""
        return self._buffer is not None

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.image(index, random_crop=self.train), int(self.labels[index])

    def image(self, index: int, *, random_crop: bool) -> torch.Tensor:
        """Image ``index`` fitted to ``size``: cropped at a random position, or in the centre."""
        if self._buffer is not None and self._offsets is not None and self._shapes is not None:
            start = int(self._offsets[index])
            c, h, w = (int(v) for v in self._shapes[index])
            cover = self._buffer[start : start + c * h * w].view(c, h, w)
            # a covering image: `fit_image` only crops it, as it would the file's; never hand out a view of the cache
            fitted = fit_image(cover, self.size, resize=self.resize, random_crop=random_crop)
            return fitted.clone() if fitted is cover else fitted
        image = _decode(str(self.paths[index]), self.channels)
        return fit_image(image, self.size, resize=self.resize, random_crop=random_crop)

    def preload(self, threads: int | None = None) -> int:
        """Decode every file once and keep the images in memory; later accesses read no file.

        Each image is kept scaled to cover ``size`` but not cropped (``resize: crop``), so training
        still draws a new crop position on every access and the items equal those read from disk.
        Files are decoded by ``threads`` threads (default: the CPU count; the decoders release the GIL).

        Args:
            threads: decoding threads (default: ``os.cpu_count()``).

        Returns:
            The bytes held.

        Examples:
            >>> ds = ImageFiles(["a.png"], [0], channels=1, size=(28, 28))  # doctest: +SKIP
            >>> ds.preload(), ds.cached  # doctest: +SKIP
            (784, True)
        """
        def load(path: str) -> torch.Tensor:
            return _cover(_decode(path, self.channels), self.size, self.resize)

        with ThreadPoolExecutor(max_workers=max(1, threads or os.cpu_count() or 1)) as pool:
            images = list(pool.map(load, [str(p) for p in self.paths]))
        sizes = np.array([im.numel() for im in images], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if images else sizes
        self._shapes = np.array([tuple(im.shape) for im in images], dtype=np.int64).reshape(-1, 3)
        self._buffer = torch.cat([im.reshape(-1) for im in images]) if images else torch.empty(0, dtype=torch.uint8)
        return int(self._buffer.numel())


def _cover_size(height: int, width: int, size: tuple[int, int], resize: str) -> tuple[int, int]:
    """The size `fit_image` scales an ``height × width`` image to before it crops (``resize: crop``)."""
    h, w = size
    if (height, width) == (h, w) or resize == "stretch":
        return h, w
    scale = max(h / height, w / width)
    return max(h, round(height * scale)), max(w, round(width * scale))


def _cover(image: torch.Tensor, size: tuple[int, int], resize: str) -> torch.Tensor:
    """``image`` scaled as `fit_image` scales it, not yet cropped."""
    target = _cover_size(int(image.shape[-2]), int(image.shape[-1]), size, resize)
    if target == tuple(image.shape[-2:]):
        return image
    from torchvision.transforms.v2 import functional as TF

    return TF.resize(image, list(target), antialias=True).contiguous()




def _decode(path: str, channels: int) -> torch.Tensor:
    try:
        return decode_image_file(path, channels)
    except ImportError:
        raise
    except Exception as exc:  # the decoders' own error types
        raise DataError(f"{path}: cannot decode the image ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); "
                        "set the data set's verify: decode to check every file before training") from exc


class NormalizeImages:
    """Collate ``(uint8 image (C, H, W), label)`` items into ``(float32 (B, C, H, W), int64 (B,))``.

    Stacks the ``uint8`` images, then computes ``(x / 255 - mean) / std`` per channel in float32.
    A module-level class, so DataLoader workers can pickle it.

    Args:
        mean: one mean per channel, on the [0, 1] scale.
        std: one standard deviation per channel, on the [0, 1] scale.

    Examples:
        >>> collate = NormalizeImages([0.5], [0.25])
        >>> x, y = collate([(torch.full((1, 2, 2), 255, dtype=torch.uint8), 1)])
        >>> x.flatten().tolist(), y.tolist()
        ([2.0, 2.0, 2.0, 2.0], [1])
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} values and std {len(std)}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def __call__(self, items: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.stack([x for x, _ in items])
        labels = torch.tensor([int(y) for _, y in items], dtype=torch.int64)
        shift = torch.tensor(self.mean, dtype=torch.float32).mul_(255).view(-1, 1, 1)
        scale = torch.tensor(self.std, dtype=torch.float32).mul_(255).view(-1, 1, 1)
        return images.to(torch.float32).sub_(shift).div_(scale), labels

    def __repr__(self) -> str:
        return f"NormalizeImages(mean={list(self.mean)}, std={list(self.std)})"


class _HeaderCheck:
    """The ``check`` of `scan_files`: PIL's header check of each file (and a full decode), keeping the headers."""

    def __init__(self, decode: bool) -> None:
        self.decode = decode
        self.headers: dict[Path, ImageHeader] = {}

    def __call__(self, path: Path) -> None:
        header = read_header(path)
        if self.decode:
            decode_image_file(path, 1 if header.grey else 3)
        self.headers[path] = header


def _size_param(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair: tuple[object, ...] = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        pair = tuple(value)
    else:
        raise ConfigError(f"size must be an int (a square side) or [height, width], got size={value!r}")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in pair):
        raise ConfigError(f"size must hold positive ints, got size={value!r}")
    return int(pair[0]), int(pair[1])  # type: ignore[call-overload]  # ints, checked above


def _choice(name: str, value: object, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {name}={value!r}")
    return value


def _stats_param(name: str, value: object, channels: int, positive: bool) -> list[float] | None:
    if value is None:
        return None
    values = [value] * channels if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if (isinstance(values, str) or not isinstance(values, Sequence) or len(values) != channels
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)):
        raise ConfigError(
            f"{name} must be a number or a list of {channels} numbers (one per channel), got {name}={value!r}"
        )
    if positive and not all(v > 0 for v in values):
        raise ConfigError(f"{name} must be positive, got {name}={value!r}")
    return [float(v) for v in values]


def _channel_stats(images: ImageFiles, positions: Sequence[int]) -> tuple[list[float], list[float]]:
    """Per-channel mean and population std (on [0, 1]) of ``images`` at ``positions`` as the test split sees them.

    Centre crops (the memory copy when ``images`` is cached, else the files). Image by image, combined
    with Chan et al.'s pairwise update (no ``E[x²] - E[x]²`` cancellation).
    """
    mean = torch.zeros(images.channels, dtype=torch.float64)
    m2 = torch.zeros(images.channels, dtype=torch.float64)
    count = 0
    for position in positions:
        x = images.image(position, random_crop=False).to(torch.float64).div_(255).flatten(1)
        n = x.shape[1]
        mean_i = x.mean(dim=1)
        m2_i = (x - mean_i[:, None]).square().sum(dim=1)
        delta = mean_i - mean
        total = count + n
        mean = mean + delta * (n / total)
        m2 = m2 + m2_i + delta.square() * (count * n / total)
        count = total
    return mean.tolist(), (m2 / count).sqrt().tolist()


def load_folder_task(
    *,
    root: str | os.PathLike[str],
    size: int | Sequence[int] | None = None,
    channels: str = "auto",
    resize: str = "crop",
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    stats_images: int = 1000,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    on_error: str = "stop",
    verify: str = "header",
    cache: bool | str = "auto",
    cache_mb: int = 1024,
    path_column: str = "path",
    label_column: str = "label",
    group_column: str | None = "group",
    split_column: str | None = "split",
) -> TaskData:
    """The user's own images: a class-folder tree or a manifest table, decoded once or streamed from disk.

    Layouts (`mixup_core.data.scan_files`): ``root`` is a folder with one sub-folder per class
    (``root/<class>/**/*.png``, also ``.jpg``, ``.jpeg``, ``.bmp``, ``.gif``, ``.webp``, ``.tif``,
    ``.tiff``), or a manifest (CSV, TSV, JSONL, Parquet) with a path and a label column and optionally
    a group and a split column; its paths are relative to its folder and may not leave it. Every file's
    header is checked with PIL first (``verify: decode`` decodes every file instead), so corrupt files
    are listed before anything trains (``on_error``). The split is the given one, group-aware, or
    stratified (`mixup_core.data.split_indices`).

    Items are ``uint8`` ``(C, h, w)`` tensors (`ImageFiles`); the collate function (`NormalizeImages`)
    turns a batch into float32 ``(x / 255 - mean) / std``. ``cache`` decides where they come from:

    - ``auto`` (default): when the decoded images, at the size they are cropped from, take at most
      ``cache_mb`` MiB (known from the headers before anything is decoded), every file is decoded once,
      at load time and by as many threads as there are CPUs, and kept in memory: no epoch decodes a
      file again, and training still draws a new crop position each time. Larger data are streamed.
    - ``true``: always decoded once and kept in memory; ``false``: always streamed — each access
      reads and decodes the file (only paths are held, so data larger than memory work, and
      ``train.workers`` decode in parallel).

    - ``size``: ``None`` keeps the images' size when every file has the same one; otherwise the
      square of the median shorter side of the training images, at most 224. With ``resize: crop``
      each image is scaled (aspect ratio kept) to cover ``size`` and cropped: at a random position in
      training, in the centre in testing. ``resize: stretch`` scales to ``size`` without cropping.
    - ``channels``: ``auto`` gives grey when every file is single-channel by its header (PIL modes
      ``L``, ``LA``, ``I;16``, ``1`` …), else RGB.
    - ``mean``/``std``: computed per channel on the training split only, over at most
      ``stats_images`` training images (drawn with ``split_seed``), as the test split sees them
      (centre crop); a constant channel (std below 1e-6) gets std 1. Give both (e.g. ImageNet's statistics for a
      pretrained model) to use them as they are.

    Args:
        root: the class-folder tree, or the manifest file.
        size: the images' ``(height, width)``: an int (square), ``[h, w]``, or ``None`` (see above).
        channels: ``"auto"``, ``"rgb"`` or ``"grey"`` (``"gray"``).
        resize: ``"crop"`` (default) or ``"stretch"``.
        mean: per-channel means on [0, 1] (a number or one per channel), or ``None`` to compute them.
        std: per-channel standard deviations, or ``None`` to compute them.
        stats_images: training images the statistics are computed on, at most (default 1000).
        test_fraction: the share held out when the data give no split (default 0.2).
        split_seed: seed of the split and of the statistics' sample (default 0).
        on_error: ``"stop"`` (default) or ``"skip"`` for missing or unreadable files.
        verify: ``"header"`` (default; PIL's cheap check) or ``"decode"`` (decode every file once).
        cache: ``"auto"`` (default), ``True`` or ``False`` (see above).
        cache_mb: the most memory ``cache: auto`` holds, in MiB (default 1024).
        path_column: the manifest's path column.
        label_column: the manifest's label column.
        group_column: the manifest's group column (used when present; ``None``: never).
        split_column: the manifest's split column (used when present; ``None``: never).

    Returns:
        A `TaskData` with modality ``"image"``, class names from the data (sorted), ``input_shape``
        ``(C, h, w)``, the collate function, groups when the manifest has them, and ``info`` (source,
        layout, counts per split, skipped files, size, channels, the statistics and what they were
        computed on).

    Raises:
        DataNotFoundError: ``root`` does not exist.
        DataError: an empty class folder, a single class, a missing column, a path outside the
            manifest's folder, unreadable files (``on_error: stop``) or a split without examples; each
            names the file, column or class.
        ConfigError: a bad parameter (named, with its value).
        ImportError: torchvision or pillow is missing (``pip install "mixup-image[folder]"``).

    Examples:
        >>> data = load_folder_task(root="photos", size=64)  # doctest: +SKIP
        >>> data.input_shape, data.info["normalise"]["computed_on"]  # doctest: +SKIP
        ((3, 64, 64), '120 of 120 training images (all); the test split is not used')
    """
    if not isinstance(root, (str, os.PathLike)) or not str(root):
        raise ConfigError(f"root must be the path of a class-folder tree or a manifest table, got root={root!r}")
    out_size = _size_param(size)
    want = _CHANNELS[_choice("channels", channels, list(_CHANNELS))]
    resize = _choice("resize", resize, ["crop", "stretch"])
    verify = _choice("verify", verify, ["header", "decode"])
    on_error = _choice("on_error", on_error, ["stop", "skip"])
    if cache not in ("auto", True, False) or (isinstance(cache, (int, float)) and not isinstance(cache, bool)):
        raise ConfigError(f"cache must be 'auto', true or false, got cache={cache!r}")
    budget_mb = _int_param("cache_mb", cache_mb, 0)
    n_stats = _int_param("stats_images", stats_images, 1)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be a number in (0, 1), got test_fraction={test_fraction!r}")
    seed = _int_param("split_seed", split_seed, 0)
    path_col = column_param("path_column", path_column)
    label_col = column_param("label_column", label_column)
    group_col = column_param("group_column", group_column, optional=True)
    split_col = column_param("split_column", split_column, optional=True)
    if (mean is None) != (std is None):
        raise ConfigError(f"give both mean and std, or neither (to compute them), got mean={mean!r} and std={std!r}")
    require_image_io()
    check = _HeaderCheck(decode=verify == "decode")
    records = scan_files(
        root,
        extensions=IMAGE_EXTENSIONS,
        on_error="skip" if on_error == "skip" else "stop",
        check=check,
        path_column=str(path_col),
        label_column=str(label_col),
        group_column=group_col,
        split_column=split_col,
    )
    headers = [check.headers[p] for p in records.paths]
    names = records.class_names
    y = records.class_indices()
    train_idx, test_idx = split_indices(y, groups=records.groups, splits=records.splits,
                                        test_fraction=float(test_fraction), seed=seed)
    # channels: one decision for both splits
    if want is None:
        n_channels = 1 if all(h.grey for h in headers) else 3
        channels_rule = "auto: " + ("every file is single-channel (grey)" if n_channels == 1 else
                                    "some files have colour channels")
    else:
        n_channels = want
        channels_rule = f"given: {channels}"
    # size: given, the one size of every file, or the median shorter side of the training images
    shapes = {(h.height, h.width) for h in headers}
    if out_size is not None:
        size_rule = "given"
    elif len(shapes) == 1:
        out_size = next(iter(shapes))
        size_rule = "every file has this size"
    else:
        side = int(min(_AUTO_SIZE_CAP, np.median([min(headers[i].height, headers[i].width) for i in train_idx])))
        out_size = (side, side)
        size_rule = (f"the files differ in size ({len(shapes)} sizes): the median shorter side of the training "
                     f"images, at most {_AUTO_SIZE_CAP}")
    paths = [str(p) for p in records.paths]
    labels = y.tolist()
    train = ImageFiles([paths[i] for i in train_idx], [labels[i] for i in train_idx], channels=n_channels,
                       size=out_size, resize=resize, train=True)
    test = ImageFiles([paths[i] for i in test_idx], [labels[i] for i in test_idx], channels=n_channels,
                      size=out_size, resize=resize, train=False)
    # in memory or streamed: the bytes of the decoded images, at the size they are cropped from, by the headers
    need = sum(n_channels * math.prod(_cover_size(h.height, h.width, out_size, resize)) for h in headers)
    if cache is True or (cache == "auto" and need <= budget_mb * 2**20):
        held = train.preload() + test.preload()
        cache_rule = (f"in memory: every file decoded once at load time ({held / 2**20:.1f} MiB"
                      + (f", within cache_mb {budget_mb})" if cache == "auto" else "; cache: true)"))
    else:
        cache_rule = ("streamed: each file decoded on access" + (
            f" (the decoded images would take {need / 2**20:.1f} MiB, over cache_mb {budget_mb})"
            if cache == "auto" else " (cache: false)"))
    # normalisation statistics: the training split only
    given_mean = _stats_param("mean", mean, n_channels, positive=False)
    given_std = _stats_param("std", std, n_channels, positive=True)
    if given_mean is not None and given_std is not None:
        mean_v, std_v = given_mean, given_std
        stats: dict[str, Any] = {"mean": mean_v, "std": std_v, "computed_on": "given in the config"}
    else:
        rng = np.random.default_rng((seed, 2))
        sample = train_idx if train_idx.size <= n_stats else np.sort(rng.choice(train_idx, n_stats, replace=False))
        position = {int(i): k for k, i in enumerate(train_idx)}
        mean_v, std_v = _channel_stats(train, [position[int(i)] for i in sample])
        flat = [c for c, s in enumerate(std_v) if s < _CONSTANT_STD]
        std_v = [1.0 if s < _CONSTANT_STD else s for s in std_v]
        how = "all" if sample.size == train_idx.size else f"drawn with split_seed {seed}"
        stats = {"mean": mean_v, "std": std_v,
                 "computed_on": (f"{sample.size} of {train_idx.size} training images ({how}); "
                                 "the test split is not used")}
        if flat:
            stats["constant_channels"] = flat  # std 0 in the sample: divided by 1 instead
    groups = records.groups
    if records.splits is not None:
        split_rule = f"given by the column {split_col!r}"
    elif groups is not None:
        split_rule = f"group-aware by the column {group_col!r}: test_fraction {test_fraction}, split_seed {seed}"
    else:
        split_rule = f"stratified by class: test_fraction {test_fraction}, split_seed {seed}"
    formats: dict[str, int] = {}
    for h in headers:
        formats[h.format] = formats.get(h.format, 0) + 1
    info: dict[str, Any] = {
        "source": (f"image files in class folders under {Path(root).expanduser().resolve()}"
                   if records.layout == "folders"
                   else f"image files listed in the manifest {Path(root).expanduser().resolve()}"),
        "layout": records.layout,
        "counts": {"train": class_counts(y[train_idx], names), "test": class_counts(y[test_idx], names)},
        "skipped": len(records.skipped),
        "skipped_files": [f"{p}: {why}" for p, why in records.skipped[:20]],
        "split": split_rule,
        "formats": dict(sorted(formats.items())),
        "size": list(out_size),
        "size_rule": size_rule,
        "resize": ("scaled to cover the size, then cropped: random position in training, centre in testing"
                   if resize == "crop" else "stretched to the size"),
        "channels": "grey" if n_channels == 1 else "rgb",
        "channels_rule": channels_rule,
        "normalise": stats,
        "decoder": "torchvision.io.decode_image (PNG, JPEG, GIF, WebP), PIL for the other formats",
        "verify": verify,
        "cache": cache_rule,
    }
    if groups is not None:
        info["groups"] = {"train": len({groups[i] for i in train_idx}), "test": len({groups[i] for i in test_idx})}
    return TaskData(
        train, test, len(names), names, "image", collate_fn=NormalizeImages(mean_v, std_v),
        input_shape=(n_channels, *out_size), info=info,
        train_groups=None if groups is None else [groups[i] for i in train_idx],
        test_groups=None if groups is None else [groups[i] for i in test_idx],
    )


# ---------------------------------------------------------------------------------------------- model families
class _MissingDependency(MixupError, ImportError):
    """An optional package a model family needs is not installed (the message gives the pip command)."""


def _image_shape(data: TaskData, model: str) -> tuple[int, int, int]:
    shape = _shape_of(data, model)
    if len(shape) != 3:
        raise ConfigError(f"{model} takes images (C, H, W), but the data set gives input_shape={shape!r}")
    return shape


def _no_download(model: str, params: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if key in params and params[key] not in (None, False):
            raise ConfigError(f"model ({model}): {key}={params[key]!r} would download weights, which mixup never "
                              "does; save a checkpoint and give its path as pretrained_path")
        params.pop(key, None)


def _unknown_arch(family: str, arch: str, known: Sequence[str]) -> ConfigError:
    import difflib

    close = difflib.get_close_matches(arch, list(known), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(f'{family}:{c}' for c in close)}?" if close else ""
    return ConfigError(f"model.name: {family} has no classification model {arch!r}{hint}")


def find_classifier(model: nn.Module) -> tuple[str, nn.Module]:
    """The dotted name and the module of ``model``'s classifier head.

    Read from the attribute ``mixup_classifier`` (set by the ``timm:`` and ``torchvision:``
    families), else timm's ``get_classifier()``, else a ``classifier`` sub-module (`SmallCNN`, `MLP`).

    Args:
        model: the network.

    Raises:
        ValueError: none of these is found.

    Examples:
        >>> find_classifier(MLP(4, 2, hidden=(3,)))
        ('classifier', Linear(in_features=3, out_features=2, bias=True))
    """
    name = getattr(model, "mixup_classifier", None)
    if isinstance(name, str):
        return name, model.get_submodule(name)
    get = getattr(model, "get_classifier", None)
    if callable(get):
        head = get()
        for found, module in model.named_modules():
            if module is head and found:
                return found, module
    head = getattr(model, "classifier", None)
    if isinstance(head, nn.Module):
        return "classifier", head
    raise ValueError(f"cannot tell the classifier of {type(model).__name__}: it has no mixup_classifier attribute, "
                     "get_classifier() or classifier module")


def _head_by_outputs(model: nn.Module, num_classes: int) -> str:
    """The last Linear (or 1×1 convolution) with ``num_classes`` outputs: torchvision's heads."""
    found = ""
    for name, module in model.named_modules():
        if (isinstance(module, nn.Linear) and module.out_features == num_classes) or (
                isinstance(module, nn.Conv2d) and module.out_channels == num_classes):
            found = name
    return found


def load_pretrained(
    model: nn.Module, path: str | os.PathLike[str], *, num_classes: int, name: str = "model"
) -> list[str]:
    """Load a local checkpoint into ``model``, dropping the classifier weights that do not fit ``num_classes``.

    The file is read with ``torch.load(path, map_location="cpu", weights_only=True)`` (no code in it
    runs); it is a state dict, or a mapping that holds one under ``"state_dict"`` or ``"model"``. A
    tensor whose shape differs from the model's only in its first dimension, where the model has
    ``num_classes`` (a classifier's weight or bias trained for another number of classes), is left
    out and keeps its fresh initialisation; every other key must match exactly (strict loading).

    Args:
        model: the freshly built network.
        path: the checkpoint file.
        num_classes: the number of classes of the study.
        name: the model's name, for messages.

    Returns:
        The keys that were left out (the replaced head), sorted.

    Raises:
        ConfigError: the file is missing or not a readable state dict, or keys are missing, unexpected
            or of another shape (the message names the path and the keys).

    Examples:
        >>> net = MLP(4, 3, hidden=(5,))
        >>> import tempfile
        >>> f = tempfile.mkdtemp() + "/mlp.pt"
        >>> torch.save(MLP(4, 10, hidden=(5,)).state_dict(), f)
        >>> load_pretrained(net, f, num_classes=3)
        ['classifier.bias', 'classifier.weight']
    """
    file = Path(path).expanduser()
    where = f"model.pretrained_path: {file}"
    if not file.is_file():
        raise ConfigError(f"{where}: no such file")
    try:
        state: Any = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and torch's own errors: all mean "not a plain state dict"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(f"{where}: not a state dict that torch.load(weights_only=True) reads ({type(exc).__name__}: "
                          f"{first})") from exc
    if isinstance(state, dict) and not all(isinstance(v, torch.Tensor) for v in state.values()):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{where}: holds a {type(state).__name__}, not a state dict (parameter names to tensors)")
    own = model.state_dict()
    dropped = sorted(
        k for k, v in state.items()
        if k in own and v.shape != own[k].shape and v.ndim == own[k].ndim >= 1
        and own[k].shape[0] == num_classes and v.shape[1:] == own[k].shape[1:]
    )
    problems = []
    unexpected = sorted(k for k in state if k not in own)
    missing = sorted(k for k in own if k not in state)
    shapes = sorted(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in state
                    if k in own and k not in dropped and state[k].shape != own[k].shape)
    for label, keys in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches (file vs model)", shapes),
    ):
        if keys:
            problems.append(f"{label} {keys[:8]}" + (f" and {len(keys) - 8} more" if len(keys) > 8 else ""))
    if problems:
        raise ConfigError(f"{where} does not fit {name}: " + "; ".join(problems))
    model.load_state_dict({k: v for k, v in state.items() if k not in dropped}, strict=False)
    return dropped


def timm_model(
    data: TaskData, *, arch: str, pretrained_path: str | os.PathLike[str] | None = None, **params: Any
) -> nn.Module:
    """Any timm model (the family ``timm:<arch>``), for the images of ``data``, from random or local weights.

    Built as ``timm.create_model(arch, pretrained=False, num_classes=data.num_classes, in_chans=C,
    **params)`` with ``C`` from ``data.input_shape``; nothing is downloaded. With ``pretrained_path``,
    a local checkpoint is loaded (`load_pretrained`: the classifier is re-initialised when its number
    of classes differs). The returned model has ``mixup_classifier``, the dotted name of its head
    (timm's ``get_classifier()``).

    Args:
        data: the experiment's data (image ``input_shape`` ``(C, H, W)``).
        arch: the timm model name (``resnet18``, ``convnext_atto``, ``vit_tiny_patch16_224`` …).
        pretrained_path: a state dict saved with ``torch.save(model.state_dict(), path)``, or ``None``.
        **params: passed on to ``timm.create_model`` (``drop_rate``, ``img_size`` …).

    Raises:
        ImportError: timm is missing (``pip install timm``).
        ConfigError: an unknown ``arch``, bad parameters, or a checkpoint that does not fit.

    Examples:
        In a study config::

            model:
              name: timm:resnet18
              pretrained_path: checkpoints/resnet18.pt
              drop_rate: 0.1
    """
    name = f"timm:{arch}"
    shape = _image_shape(data, name)
    try:
        import timm
    except ImportError as exc:
        raise _MissingDependency(f"the model {name} needs timm: pip install timm (or pip install "
                                 f'"mixup-image[timm]")') from exc
    if not timm.is_model(arch):
        raise _unknown_arch("timm", arch, timm.list_models())
    _no_download(name, params, "pretrained")
    try:
        model = timm.create_model(arch, pretrained=False, num_classes=data.num_classes, in_chans=shape[0], **params)
    except TypeError as exc:
        raise ConfigError(f"model ({name}): {exc}") from exc
    head = model.get_classifier()  # type: ignore[operator]  # typed nn.Module; every timm model has it
    model.mixup_classifier = next(n for n, m in model.named_modules() if m is head and n)
    if pretrained_path is not None:
        load_pretrained(model, pretrained_path, num_classes=data.num_classes, name=name)
    return model


def torchvision_model(
    data: TaskData, *, arch: str, pretrained_path: str | os.PathLike[str] | None = None, **params: Any
) -> nn.Module:
    """Any torchvision classification model (the family ``torchvision:<arch>``), from random or local weights.

    Built as ``torchvision.models.get_model(arch, weights=None, num_classes=data.num_classes,
    **params)``; nothing is downloaded. torchvision's models take 3-channel images: give the data set
    ``channels: rgb`` for grey images. With ``pretrained_path``, a local checkpoint is loaded
    (`load_pretrained`). The returned model has ``mixup_classifier``, the dotted name of its head (the
    last Linear or 1×1 convolution with ``num_classes`` outputs: ``fc`` for ResNets,
    ``classifier.1`` for EfficientNets, ``heads.head`` for ViTs …).

    Args:
        data: the experiment's data (image ``input_shape`` ``(3, H, W)``).
        arch: the torchvision model name (``resnet18``, ``mobilenet_v3_small``, ``efficientnet_b0`` …;
            ``torchvision.models.list_models(module=torchvision.models)``).
        pretrained_path: a state dict saved with ``torch.save(model.state_dict(), path)``, or ``None``.
        **params: passed on to ``get_model`` (``dropout`` …).

    Raises:
        ImportError: torchvision is missing.
        ConfigError: an unknown ``arch``, a data set that is not 3-channel, bad parameters, or a
            checkpoint that does not fit.

    Examples:
        In a study config::

            model:
              name: torchvision:resnet18
              pretrained_path: checkpoints/resnet18.pt
    """
    name = f"torchvision:{arch}"
    shape = _image_shape(data, name)
    try:
        import torchvision
        import torchvision.models
    except ImportError as exc:
        raise _MissingDependency(f"the model {name} needs torchvision: pip install torchvision (or pip install "
                                 f'"mixup-image[folder]")') from exc
    known = torchvision.models.list_models(module=torchvision.models)
    if arch not in known:
        raise _unknown_arch("torchvision", arch, known)
    _no_download(name, params, "weights", "weights_backbone", "pretrained")
    try:
        model = torchvision.models.get_model(arch, weights=None, num_classes=data.num_classes, **params)
    except TypeError as exc:
        raise ConfigError(f"model ({name}): {exc}") from exc
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is not None and first.in_channels != shape[0]:
        raise ConfigError(f"model ({name}) takes {first.in_channels}-channel images, but the data set gives "
                          f"input_shape={shape!r}; set the data set's channels: rgb")
    head = _head_by_outputs(model, data.num_classes)
    if head:
        model.mixup_classifier = head
    if pretrained_path is not None:
        load_pretrained(model, pretrained_path, num_classes=data.num_classes, name=name)
    return model


# ---------------------------------------------------------------------------------------------- image:cifar
class CifarImages(Dataset[tuple[torch.Tensor, int]]):
    """CIFAR images held as ``uint8`` ``(N, 3, 32, 32)``; item ``i`` is ``(uint8 (3, 32, 32), class index)``.

    With ``augment``, each access pads the image by ``padding`` zero pixels, crops a random 32×32 window and
    flips it horizontally with probability 1/2 (torch's global generator, which the study seeds per run and
    DataLoader workers seed from the loader's generator). Batches are made floats by `NormalizeImages`.

    Args:
        images: ``uint8`` ``(N, 3, H, W)``.
        labels: ``(N,)`` class indices.
        augment: random crop and flip on access.
        padding: zero padding before the random crop (4 in the papers).

    Examples:
        >>> ds = CifarImages(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.tensor([0, 1]), augment=True)
        >>> x, y = ds[1]
        >>> x.dtype, tuple(x.shape), y
        (torch.uint8, (3, 32, 32), 1)
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, augment: bool = False, padding: int = 4) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) != len(labels):
            raise ValueError(f"images must be uint8 (N, C, H, W) with one label each, got {images.dtype} "
                             f"{tuple(images.shape)} and {len(labels)} labels")
        self.images = images
        self.labels = labels.long()
        self.augment = bool(augment)
        self.padding = int(padding)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.images[index]
        if self.augment:
            h, w = x.shape[1:]
            if self.padding:
                x = F.pad(x, (self.padding,) * 4)
            top, left = (int(v) for v in torch.randint(0, 2 * self.padding + 1, (2,)))
            x = x[:, top:top + h, left:left + w]
            if bool(torch.rand(()) < 0.5):
                x = x.flip(-1)
        return x, int(self.labels[index])


def load_cifar_task(
    *,
    root: str | os.PathLike[str],
    variant: str = "cifar10",
    train_size: int | None = None,
    test_size: int | None = None,
    split_seed: int = 0,
    augment: bool = True,
) -> TaskData:
    """CIFAR-10 or CIFAR-100 from a folder in torchvision's format, with the papers' training augmentation.

    Reads the python-pickle batches (`read_cifar`): 50,000 training and 10,000 test images of 32×32 RGB.
    ``train_size``/``test_size`` keep a class-stratified subset (for quick checks; the published numbers are
    for the full splits). Batches are standardised with the per-channel mean and standard deviation of the
    kept training images (recorded in ``info``).

    Args:
        root: the folder holding ``cifar-10-batches-py`` (torchvision's ``root``) or that folder itself.
        variant: ``"cifar10"`` (default) or ``"cifar100"`` (the 100 fine classes).
        train_size: training images to keep (``None``: all).
        test_size: test images to keep (``None``: all).
        split_seed: seed of the subsets.
        augment: random crop (padding 4) and horizontal flip of training images (default ``True``).

    Returns:
        A `TaskData` with modality ``"image"``, ``input_shape == (3, 32, 32)``, uint8 items collated to
        standardised float32 batches.

    Raises:
        DataNotFoundError: files are missing (named in the message).
        ConfigError: a bad parameter.

    Examples:
        >>> data = load_cifar_task(root="~/data", train_size=1000, test_size=500)   # doctest: +SKIP
        >>> data.input_shape, data.class_names[:2]                                  # doctest: +SKIP
        ((3, 32, 32), ['airplane', 'automobile'])
    """
    if not isinstance(root, (str, os.PathLike)):
        raise ConfigError(f"root must be a folder path, got root={root!r}")
    if not isinstance(augment, bool):
        raise ConfigError(f"augment must be true or false, got augment={augment!r}")
    train_n = _optional_int_param("train_size", train_size, 1)
    test_n = _optional_int_param("test_size", test_size, 1)
    seed = _int_param("split_seed", split_seed, 0)
    raw = read_cifar(root, variant)
    names = raw["class_names"]
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for split, size, stream in (("train", train_n, 0), ("test", test_n, 1)):
        x, y = raw[split]
        if size is not None and size > len(y):
            raise ConfigError(f"{split}_size={size} exceeds the {len(y)} images of the {variant} {split} split")
        keep = np.arange(len(y)) if size is None else stratified_subset(y, size, (seed, stream))
        splits[split] = (torch.from_numpy(np.ascontiguousarray(x[keep])), torch.from_numpy(y[keep]))
    if int(splits["train"][1].max()) >= len(names) or int(splits["test"][1].max()) >= len(names):
        raise ValueError(f"{raw['folder']}: a label is out of range for the {len(names)} classes of the meta file")
    pixels = splits["train"][0].to(torch.float32).div_(255)
    mean = pixels.mean(dim=(0, 2, 3)).tolist()
    std = pixels.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
    info: dict[str, Any] = {
        "source": f"{variant} (Krizhevsky 2009), python batches in {raw['folder']}",
        "train_size": len(splits["train"][1]),
        "test_size": len(splits["test"][1]),
        "split_seed": seed,
        "augment": "pad 4, random 32x32 crop, horizontal flip (training only)" if augment else "none",
        "normalise": {"mean": mean, "std": std},
    }
    return TaskData(
        CifarImages(*splits["train"], augment=augment), CifarImages(*splits["test"]), len(names), list(names), "image",
        collate_fn=NormalizeImages(mean, std), input_shape=(3, 32, 32), info=info,
    )


# ---------------------------------------------------------------------------------------------- model
class PreActBlock(nn.Module):
    """A pre-activation basic block: BN, ReLU, 3×3 conv, BN, ReLU, 3×3 conv, plus the (projected) input.

    Args:
        c_in: input channels.
        c_out: output channels.
        stride: stride of the first convolution (and of the 1×1 projection when the shape changes).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
                         if stride != 1 or c_in != c_out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output, same batch size; channels ``c_out``, spatial size divided by ``stride``."""
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet(nn.Module):
    """A pre-activation ResNet for small images (He et al. 2016, ECCV), as in the mixup and CutMix CIFAR tables.

    A 3×3 stem (no max pooling), four stages of `PreActBlock` (``width``, 2·, 4·, 8· channels; strides 1, 2, 2,
    2), a final BN and ReLU, global average pooling and the linear ``classifier``. Hidden layers for
    ``image:manifold``: ``"layer1"`` … ``"layer4"``. (The mixup authors' CIFAR code, derived from
    kuangliu/pytorch-cifar, puts a BN and ReLU after the stem instead of before the pooling; the two differ
    by 896 parameters of 11.17 M.)

    Args:
        num_blocks: blocks per stage (``(2, 2, 2, 2)``: ResNet-18).
        num_classes: outputs.
        in_channels: image channels.
        width: channels of the first stage (64 in the papers).

    Examples:
        >>> net = PreActResNet((1, 1, 1, 1), 10, width=8)
        >>> net(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, num_blocks: Sequence[int], num_classes: int, *, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        layers: list[nn.Sequential] = []
        c_in = width
        for i, n in enumerate(num_blocks):
            c_out = width * 2**i
            blocks = [PreActBlock(c_in, c_out, 1 if i == 0 else 2)]
            blocks += [PreActBlock(c_out, c_out) for _ in range(n - 1)]
            layers.append(nn.Sequential(*blocks))
            c_in = c_out
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.bn = nn.BatchNorm2d(c_in)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of images ``(B, C, H, W)``."""
        out = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        out = F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1).flatten(1)
        return self.classifier(out)


def preact_resnet18(data: TaskData, *, width: int = 64) -> PreActResNet:
    """PreAct ResNet-18 (11.2 M parameters at ``width=64``) for the images of ``data``.

    Args:
        data: a task with an image ``input_shape`` ``(C, H, W)`` (32×32 in the papers; any size works).
        width: channels of the first stage (default 64; a smaller one for quick checks).

    Raises:
        ConfigError: ``data.input_shape`` is not ``(C, H, W)`` or ``width`` is not a positive int.

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> x, y = torch.zeros(2, 3, 32, 32), torch.tensor([0, 1])
        >>> data = TaskData(TensorDataset(x, y), TensorDataset(x, y), 2, ["a", "b"], "image", input_shape=(3, 32, 32))
        >>> preact_resnet18(data, width=8)(x).shape
        torch.Size([2, 2])
    """
    shape = data.input_shape
    if shape is None or len(shape) != 3:
        raise ConfigError(f"preact-resnet18 takes images (C, H, W), but the data set gives input_shape={shape!r}")
    return PreActResNet((2, 2, 2, 2), data.num_classes, in_channels=int(shape[0]), width=_int_param("width", width, 1))
