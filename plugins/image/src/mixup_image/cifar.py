"""CIFAR from a folder you provide (torchvision's format, never downloaded) and the PreAct ResNet-18 of the papers.

- `load_cifar_task` (``image:cifar``): CIFAR-10 or CIFAR-100 from the ``cifar-10-batches-py`` /
  ``cifar-100-python`` folder that ``torchvision.datasets.CIFAR10(root, download=True)`` leaves on disk (or
  the extracted ``cifar-10-python.tar.gz`` from the authors' page). Images stay ``uint8`` in memory; the
  training split gets the standard augmentation of the mixup and CutMix papers (4-pixel zero padding, a
  random 32×32 crop, a horizontal flip with probability 1/2), and batches are standardised per channel.
- `preact_resnet18` (``image:preact-resnet18``): the pre-activation ResNet-18 for 32×32 inputs (He et al.
  2016, "Identity Mappings in Deep Residual Networks", ECCV) that Zhang et al. 2018 (mixup) and Yun et al.
  2019 (CutMix) report CIFAR numbers for: a 3×3 stem, four stages of two pre-activation basic blocks
  (64, 128, 256, 512 channels), batch norm and ReLU, global average pooling, a linear head.

Examples:
    >>> from mixup_image.cifar import load_cifar_task, preact_resnet18     # doctest: +SKIP
    >>> data = load_cifar_task(root="~/data/cifar")                          # doctest: +SKIP
    >>> model = preact_resnet18(data)                                        # doctest: +SKIP
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from mixup_core import ConfigError, TaskData
from mixup_core.data import DataNotFoundError, int_param, optional_int_param, stratified_subset

from .lab import NormalizeImages

__all__ = [
    "CIFAR_FOLDERS",
    "CifarImages",
    "PreActBlock",
    "PreActResNet",
    "load_cifar_task",
    "preact_resnet18",
    "read_cifar",
]

CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
"""The folder that torchvision's ``CIFAR10`` / ``CIFAR100`` extract under their ``root``."""

_FILES = {
    "cifar10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"], "meta": "batches.meta",
                "names": "label_names", "labels": "labels"},
    "cifar100": {"train": ["train"], "test": ["test"], "meta": "meta", "names": "fine_label_names",
                 "labels": "fine_labels"},
}


def _unpickle(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}


def _folder(root: str | os.PathLike[str], variant: str) -> Path:
    base = Path(root).expanduser()
    inner = base / CIFAR_FOLDERS[variant]
    return inner if inner.is_dir() else base


def read_cifar(root: str | os.PathLike[str], variant: str = "cifar10") -> dict[str, Any]:
    """Read CIFAR-10/100 in the python-pickle format of the authors' archive (the one torchvision extracts).

    Args:
        root: torchvision's ``root`` (the folder holding ``cifar-10-batches-py``) or that folder itself.
        variant: ``"cifar10"`` or ``"cifar100"`` (fine labels).

    Returns:
        ``{"train": (uint8 (N, 3, 32, 32), int64 (N,)), "test": (...), "class_names": [...], "folder": Path}``.

    Raises:
        DataNotFoundError: a file is missing (named, with what to put where).
        ValueError: a file does not hold CIFAR arrays.
    """
    if variant not in _FILES:
        raise ConfigError(f"variant must be one of {sorted(_FILES)}, got variant={variant!r}")
    spec = _FILES[variant]
    folder = _folder(root, variant)
    names = [*spec["train"], *spec["test"], spec["meta"]]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataNotFoundError(
            f"{variant} not found: {', '.join(missing)} missing in {str(folder)!r}. Point root at the folder that holds "
            f"{CIFAR_FOLDERS[variant]}/ (torchvision's CIFAR root), or at that folder itself; this loader never "
            "downloads (get the python version of the archive from the authors' page and extract it)."
        )
    out: dict[str, Any] = {"folder": folder}
    for split in ("train", "test"):
        xs, ys = [], []
        for name in spec[split]:
            batch = _unpickle(folder / name)
            if "data" not in batch or spec["labels"] not in batch:
                raise ValueError(f"{folder / name}: not a CIFAR batch (keys {sorted(batch)})")
            data = np.asarray(batch["data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise ValueError(f"{folder / name}: expected rows of 3072 bytes, got an array of shape {data.shape}")
            xs.append(data.reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[spec["labels"]], dtype=np.int64))
        out[split] = (np.concatenate(xs), np.concatenate(ys))
    meta = _unpickle(folder / spec["meta"])
    out["class_names"] = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[spec["names"]]]
    return out


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
    train_n = optional_int_param("train_size", train_size, 1)
    test_n = optional_int_param("test_size", test_size, 1)
    seed = int_param("split_seed", split_seed, 0)
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
        return self.classifier(out)  # type: ignore[no-any-return]


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
    return PreActResNet((2, 2, 2, 2), data.num_classes, in_channels=int(shape[0]), width=int_param("width", width, 1))
