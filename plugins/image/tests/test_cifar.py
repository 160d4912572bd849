"""``image:cifar`` reads torchvision's CIFAR folder (no download); ``image:preact-resnet18`` is the papers' network."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import mixup_core
from mixup_core import ConfigError, TaskData
from mixup_core.data import DataNotFoundError
from mixup_image.datasets import read_cifar
from mixup_image.lab import CifarImages, load_cifar_task, preact_resnet18, small_cnn


def _write(folder: Path, files: dict[str, dict[bytes, object]]) -> None:
    folder.mkdir(parents=True)
    for name, content in files.items():
        with open(folder / name, "wb") as fh:
            pickle.dump(content, fh)


def _batch(n: int, classes: int, seed: int, key: bytes = b"labels") -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    data[:, 0] = labels  # the first red pixel holds the label: rows can be traced after the subset
    return {b"data": data, key: labels.tolist()}


@pytest.fixture
def cifar10(tmp_path: Path) -> Path:
    files = {f"data_batch_{i}": _batch(20, 10, i) for i in range(1, 6)}
    files["test_batch"] = _batch(30, 10, 9)
    files["batches.meta"] = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    _write(tmp_path / "cifar-10-batches-py", files)
    return tmp_path


def test_reads_the_torchvision_folder_or_the_batches_folder_itself(cifar10: Path) -> None:
    for root in (cifar10, cifar10 / "cifar-10-batches-py"):
        raw = read_cifar(root)
        x, y = raw["train"]
        assert x.shape == (100, 3, 32, 32)
        assert x.dtype == np.uint8
        assert (x[:, 0, 0, 0] == y).all(), "rows are reshaped channel-first, as the files store them"
        assert raw["test"][0].shape == (30, 3, 32, 32)
        assert raw["class_names"][3] == "c3"


def test_cifar100_uses_the_fine_labels(tmp_path: Path) -> None:
    files = {"train": _batch(200, 100, 0, b"fine_labels"), "test": _batch(100, 100, 1, b"fine_labels"),
             "meta": {b"fine_label_names": [f"f{i}".encode() for i in range(100)]}}
    _write(tmp_path / "cifar-100-python", files)
    data = load_cifar_task(root=tmp_path, variant="cifar100")
    assert data.num_classes == 100
    assert data.class_names[99] == "f99"


def test_missing_files_are_named_and_nothing_is_downloaded(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"data_batch_1.*never downloads"):
        load_cifar_task(root=tmp_path)
    with pytest.raises(ConfigError, match="variant"):
        load_cifar_task(root=tmp_path, variant="cifar11")


def test_subsets_augmentation_and_normalisation(cifar10: Path) -> None:
    data = load_cifar_task(root=cifar10, train_size=50, test_size=20)
    assert (len(data.train), len(data.test)) == (50, 20)
    assert np.bincount(data.train.labels.numpy()).tolist() == [5] * 10, "stratified"
    x, _ = data.collate_fn([data.train[i] for i in range(50)])
    assert x.dtype == torch.float32
    assert x.shape == (50, 3, 32, 32)
    assert data.input_shape == (3, 32, 32)
    plain = load_cifar_task(root=cifar10, train_size=50, test_size=20, augment=False)
    xs, _ = plain.collate_fn([plain.train[i] for i in range(50)])
    assert xs.mean(dim=(0, 2, 3)).abs().max() < 1e-4, "standardised with the kept training images' statistics"
    # the training split is augmented (random crop with zero padding, flip), the test split never
    torch.manual_seed(0)
    crops = {tuple(data.train[0][0].flatten()[:64].tolist()) for _ in range(8)}
    assert len(crops) > 1
    assert all(torch.equal(data.test[0][0], data.test[0][0]) for _ in range(3))
    with pytest.raises(ConfigError, match="train_size"):
        load_cifar_task(root=cifar10, train_size=1000)


def test_augmentation_keeps_shape_and_is_seeded() -> None:
    ds = CifarImages(torch.arange(3 * 32 * 32, dtype=torch.int64).remainder(256).to(torch.uint8).view(1, 3, 32, 32),
                     torch.tensor([0]), augment=True)
    torch.manual_seed(1)
    a = [ds[0][0] for _ in range(4)]
    torch.manual_seed(1)
    b = [ds[0][0] for _ in range(4)]
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert all(p.shape == (3, 32, 32) for p in a)


def test_preact_resnet18_has_the_papers_size_and_is_registered() -> None:
    x, y = torch.zeros(2, 3, 32, 32), torch.tensor([0, 1])
    data = TaskData(list(zip(x, y, strict=True)), list(zip(x, y, strict=True)), 10, [str(i) for i in range(10)],
                    "image", input_shape=(3, 32, 32))
    net = preact_resnet18(data)
    # 11.17 M: the stem, 8 pre-activation blocks, the final BN and the 512 x 10 head
    assert sum(p.numel() for p in net.parameters()) == 11_172_170
    assert mixup_core.get_models().get("preact-resnet18").load() is preact_resnet18
    assert mixup_core.get_datasets().get("cifar").load() is load_cifar_task
    small = preact_resnet18(data, width=4)
    out = small(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in small.parameters())
    with pytest.raises(ConfigError, match="width"):
        preact_resnet18(data, width=0)


def test_small_cnn_without_batch_norm() -> None:
    x, y = torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
    data = TaskData(list(zip(x, y, strict=True)), list(zip(x, y, strict=True)), 2, ["a", "b"], "image",
                    input_shape=(1, 8, 8))
    net = small_cnn(data, channels=[8, 16], dropout=0.0, batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert net.features.block1.conv.bias is not None
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in small_cnn(data).modules())
    with pytest.raises(ConfigError, match="batch_norm"):
        small_cnn(data, batch_norm="no")
