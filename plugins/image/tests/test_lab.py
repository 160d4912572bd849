"""Tests of mixup_image.lab: the Fashion-MNIST and digits loaders, the small-cnn and mlp factories, their registration.

The Fashion-MNIST loader is checked on tiny IDX files written here (always) and on the Debian package's files
(skipped when ``dataset-fashion-mnist`` is not installed). The digits tests need scikit-learn (``mixup-image[lab]``).
"""

from __future__ import annotations

import doctest
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import mixup_core
import mixup_image.lab as lab
from mixup_core import ConfigError, MixupError, TaskData, create_mixer, mixed_step
from mixup_image.lab import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    DataNotFoundError,
    load_digits_task,
    load_fashion_mnist_task,
    mlp,
    read_idx,
    small_cnn,
    stratified_subset,
)

HAVE_FASHION = all(
    (Path(FASHION_MNIST_DIR) / f"{s}-{k}-ubyte.gz").is_file()
    for s in ("train", "t10k")
    for k in ("images-idx3", "labels-idx1")
)
needs_fashion = pytest.mark.skipif(
    not HAVE_FASHION, reason=f"Fashion-MNIST is not installed in {FASHION_MNIST_DIR} (apt-get "
                             "install dataset-fashion-mnist)"
)
sklearn = pytest.importorskip("sklearn", reason='scikit-learn is missing (pip install "mixup-image[lab]")')


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_fashion(tmp_path: Path) -> Path:
    """A Fashion-MNIST folder with 40 training images (4 per class) and 20 test images (2 per class).

    Image i of a split is filled with the value 3·i (train) or 3·i + 1 (test), so it identifies itself; the label of
    image i is i % 10.
    """
    for prefix, n, offset in (("train", 40, 0), ("t10k", 20, 1)):
        images = (3 * np.arange(n) + offset)[:, None, None] * np.ones((1, 28, 28))
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return tmp_path


# ---------------------------------------------------------------------------------------------- helpers
def test_stratified_subset_largest_remainder_counts() -> None:
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)
    # quotas 5·(6, 3, 1)/10 = (3, 1.5, 0.5): floors (3, 1, 0), one left over, tie of .5 -> the lower class (1)
    idx = stratified_subset(labels, 5, seed=0)
    assert np.bincount(labels[idx], minlength=3).tolist() == [3, 2, 0]
    assert idx.tolist() == sorted(set(idx.tolist()))  # sorted, no repeats
    assert np.array_equal(idx, stratified_subset(labels, 5, seed=0))
    # the whole set comes back in order; the empty subset is empty
    assert stratified_subset(labels, 10, seed=3).tolist() == list(range(10))
    assert stratified_subset(labels, 0, seed=3).size == 0
    # other seeds draw other members of class 0 (6 choose 3 = 20 possibilities)
    draws = {
        tuple(stratified_subset(labels, 5, seed=s)[labels[stratified_subset(labels, 5, seed=s)] == 0])
        for s in range(20)
    }
    assert len(draws) > 1
    with pytest.raises(ConfigError, match=r"size=11"):
        stratified_subset(labels, 11)


def test_read_idx_reads_header_and_data(tmp_path: Path) -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x.gz", array)
    out = read_idx(tmp_path / "x.gz")
    assert out.dtype == np.uint8
    assert np.array_equal(out, array)
    # uncompressed, 1-D
    (tmp_path / "y.idx").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    assert read_idx(tmp_path / "y.idx").tolist() == [7, 8, 9]
    (tmp_path / "bad.idx").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "short.idx").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(ValueError, match="announces 5"):
        read_idx(tmp_path / "short.idx")


# ---------------------------------------------------------------------------------------------- Fashion-MNIST
def test_fashion_mnist_loader_on_small_files(fake_fashion: Path) -> None:
    data = load_fashion_mnist_task(data_dir=fake_fashion, train_size=20, test_size=10, normalise=False)
    assert isinstance(data, TaskData)
    assert (data.num_classes, data.modality, data.input_shape) == (10, "image", (1, 28, 28))
    assert data.class_names == list(FASHION_MNIST_CLASSES)
    assert data.class_names[0] == "T-shirt/top"
    assert data.class_names[9] == "Ankle boot"
    assert (len(data.train), len(data.test)) == (20, 10)
    x, y = data.train[0]
    assert x.shape == (1, 28, 28)
    assert x.dtype == torch.float32
    assert isinstance(y, int)
    # stratified: 2 of the 4 training images and 1 of the 2 test images of each class
    assert np.bincount(data.train.labels.numpy(), minlength=10).tolist() == [2] * 10
    assert np.bincount(data.test.labels.numpy(), minlength=10).tolist() == [1] * 10
    # every item is the file's image with its own label, scaled to [0, 1] (image i is filled with 3i, test 3i + 1)
    for split, offset in ((data.train, 0), (data.test, 1)):
        i = (split.inputs[:, 0, 0, 0] * 255 - offset).round().long() // 3
        assert torch.equal(split.labels, i % 10)
        assert torch.all(split.inputs == split.inputs[:, :, :1, :1])  # constant images
    assert data.info["class_counts"] == {"train": [2] * 10, "test": [1] * 10}
    assert data.info["full_sizes"] == {"train": 40, "test": 20}


def test_fashion_mnist_subset_fixed_by_split_seed_and_normalised(fake_fashion: Path) -> None:
    a = load_fashion_mnist_task(data_dir=fake_fashion, train_size=20, test_size=10, split_seed=1)
    b = load_fashion_mnist_task(data_dir=fake_fashion, train_size=20, test_size=10, split_seed=1)
    c = load_fashion_mnist_task(data_dir=fake_fashion, train_size=20, test_size=10, split_seed=2)
    assert torch.equal(a.train.inputs, b.train.inputs)
    assert torch.equal(a.test.labels, b.test.labels)
    assert not torch.equal(a.train.inputs, c.train.inputs)
    # standardised with the kept training pixels' mean and std: those become 0 and 1, the test set uses the same
    raw = load_fashion_mnist_task(data_dir=fake_fashion, train_size=20, test_size=10, split_seed=1, normalise=False)
    mean, std = raw.train.inputs.mean().item(), raw.train.inputs.std().item()
    assert a.info["normalise"] == pytest.approx({"mean": mean, "std": std})
    torch.testing.assert_close(a.train.inputs, (raw.train.inputs - mean) / std)
    torch.testing.assert_close(a.test.inputs, (raw.test.inputs - mean) / std)
    assert abs(a.train.inputs.mean().item()) < 1e-5
    assert a.train.inputs.std().item() == pytest.approx(1.0, abs=1e-5)
    # None keeps the whole split
    full = load_fashion_mnist_task(data_dir=fake_fashion, train_size=None, test_size=None)
    assert (len(full.train), len(full.test)) == (40, 20)


def test_fashion_mnist_bad_parameters(fake_fashion: Path) -> None:
    with pytest.raises(ConfigError, match=r"train_size=41 exceeds the 40 images"):
        load_fashion_mnist_task(data_dir=fake_fashion, train_size=41)
    with pytest.raises(ConfigError, match=r"test_size must be >= 1, got test_size=0"):
        load_fashion_mnist_task(data_dir=fake_fashion, test_size=0)
    with pytest.raises(ConfigError, match=r"split_seed must be an int, got str '1'"):
        load_fashion_mnist_task(data_dir=fake_fashion, split_seed="1")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"normalise must be true or false"):
        load_fashion_mnist_task(data_dir=fake_fashion, normalise="yes")  # type: ignore[arg-type]


def test_fashion_mnist_missing_files_say_how_to_install(tmp_path: Path, fake_fashion: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist_task(data_dir=tmp_path / "nowhere")
    message = str(info.value)
    assert "apt-get install -y dataset-fashion-mnist" in message
    assert "data_dir=" in message
    assert "nowhere" in message
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, MixupError)
    # one file missing: named
    (fake_fashion / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte.gz missing"):
        load_fashion_mnist_task(data_dir=fake_fashion)


def test_fashion_mnist_default_path_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The registered loader with its default data_dir, pointed at an empty folder."""
    monkeypatch.setattr(lab, "FASHION_MNIST_DIR", str(tmp_path))
    loader = mixup_core.get_datasets().get("fashion-mnist").load()
    with pytest.raises(DataNotFoundError, match=r"apt-get install -y dataset-fashion-mnist"):
        loader(train_size=10)


@pytest.fixture(scope="module")
def fashion() -> TaskData:
    if not HAVE_FASHION:
        pytest.skip(f"Fashion-MNIST is not installed in {FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)")
    return load_fashion_mnist_task(train_size=100, test_size=50)


@needs_fashion
def test_fashion_mnist_from_debian_package(fashion: TaskData) -> None:
    assert (len(fashion.train), len(fashion.test), fashion.input_shape) == (100, 50, (1, 28, 28))
    assert fashion.train.inputs.shape == (100, 1, 28, 28)
    assert fashion.train.inputs.dtype == torch.float32
    # balanced package (6,000 / 1,000 per class) -> exactly 10 / 5 per class
    assert np.bincount(fashion.train.labels.numpy(), minlength=10).tolist() == [10] * 10
    assert np.bincount(fashion.test.labels.numpy(), minlength=10).tolist() == [5] * 10
    assert fashion.info["full_sizes"] == {"train": 60000, "test": 10000}
    # the files as published: the first training and test images are ankle boots (label 9)
    assert read_idx(Path(FASHION_MNIST_DIR) / "train-labels-idx1-ubyte.gz")[0] == 9
    assert read_idx(Path(FASHION_MNIST_DIR) / "t10k-labels-idx1-ubyte.gz")[0] == 9
    # standardised with the training subset's statistics
    assert abs(fashion.train.inputs.mean().item()) < 1e-4
    assert 0.0 < fashion.info["normalise"]["mean"] < 1.0


# ---------------------------------------------------------------------------------------------- digits
@pytest.fixture(scope="module")
def digits() -> TaskData:
    return load_digits_task(test_fraction=0.25, split_seed=0)


def test_digits_split_is_stratified_and_complete(digits: TaskData) -> None:
    from sklearn.datasets import load_digits as sk_load_digits

    x_all, y_all = sk_load_digits(return_X_y=True)
    assert (len(digits.train), len(digits.test)) == (1348, 449)  # round(0.25 · 1797) = 449
    assert digits.input_shape == (1, 8, 8)
    assert digits.class_names == [str(d) for d in range(10)]
    x, y = digits.test[0]
    assert x.shape == (1, 8, 8)
    assert x.dtype == torch.float32
    assert isinstance(y, int)
    # pixels 0..16 scaled to [0, 1]
    assert digits.train.inputs.min().item() == 0.0
    assert digits.train.inputs.max().item() == 1.0
    # stratified: each class's test count is its 25 % share rounded by largest remainder (off by less than 1)
    per_class = np.bincount(y_all, minlength=10)
    test_counts = np.bincount(digits.test.labels.numpy(), minlength=10)
    assert np.all(np.abs(test_counts - 449 * per_class / 1797) < 1)
    assert test_counts.sum() == 449
    # train + test is the whole set, each image once, with its label
    both = torch.cat([digits.train.inputs, digits.test.inputs]).reshape(-1, 64).numpy() * 16
    labels = torch.cat([digits.train.labels, digits.test.labels]).numpy()
    rows = np.column_stack([both.round(), labels])
    reference = np.column_stack([x_all, y_all])
    assert np.array_equal(rows[np.lexsort(rows.T[::-1])], reference[np.lexsort(reference.T[::-1])])


def test_digits_same_seed_same_split_and_train_subset(digits: TaskData) -> None:
    again = load_digits_task(test_fraction=0.25, split_seed=0)
    assert torch.equal(again.test.inputs, digits.test.inputs)
    assert torch.equal(again.train.labels, digits.train.labels)
    other = load_digits_task(test_fraction=0.25, split_seed=1)
    assert not torch.equal(other.test.inputs, digits.test.inputs)
    few = load_digits_task(split_seed=0, train_size=50)
    assert np.bincount(few.train.labels.numpy(), minlength=10).tolist() == [5] * 10
    assert torch.equal(few.test.inputs, digits.test.inputs)  # the test split does not depend on train_size


def test_digits_bad_parameters() -> None:
    with pytest.raises(ConfigError, match=r"test_fraction must be a number in \(0, 1\), got test_fraction=1.5"):
        load_digits_task(test_fraction=1.5)
    with pytest.raises(ConfigError, match=r"split_seed must be >= 0, got split_seed=-1"):
        load_digits_task(split_seed=-1)
    with pytest.raises(ConfigError, match=r"train_size=2000 exceeds the 1348 training images"):
        load_digits_task(train_size=2000)


# ---------------------------------------------------------------------------------------------- models
def _task(shape: tuple[int, ...], num_classes: int = 10, n: int = 4) -> TaskData:
    x, y = torch.randn(n, *shape), torch.arange(n) % num_classes
    return TaskData(TensorDataset(x, y), TensorDataset(x, y), num_classes, [str(i) for i in range(num_classes)],
                    "image", input_shape=shape)


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32), (3, 5, 7), (2, 1, 1)])
def test_small_cnn_gives_logits_for_any_image_shape(shape: tuple[int, ...]) -> None:
    model = small_cnn(_task(shape, num_classes=7), channels=[4, 8])
    assert model(torch.randn(3, *shape)).shape == (3, 7)


def test_small_cnn_parameter_count_and_layer_names() -> None:
    model = small_cnn(_task((1, 8, 8)), channels=[4, 8], pool=4)
    # conv 1·4·9 + bn 2·4 + conv 4·8·9 + bn 2·8 + head: 8·8 -> 4·4 -> 2·2 cells (pool capped at 2), 8·2·2·10 + 10
    assert sum(p.numel() for p in model.parameters()) == 36 + 8 + 288 + 16 + 330
    assert {"features.block1", "features.block2", "classifier"} <= set(dict(model.named_modules()))
    # one int c means [c, 2c]; pool=1 is global average pooling
    assert small_cnn(_task((1, 8, 8)), channels=4, pool=1).classifier.in_features == 8


def test_small_cnn_and_mlp_on_loader_shapes(digits: TaskData, fake_fashion: Path) -> None:
    fashion = load_fashion_mnist_task(data_dir=fake_fashion, train_size=10, test_size=10)
    for data in (digits, fashion):
        x, _ = next(iter(DataLoader(data.train, batch_size=5)))
        assert small_cnn(data)(x).shape == (5, 10)
        assert mlp(data, hidden=[16])(x).shape == (5, 10)


def test_mlp_parameter_count_and_any_tensor_input() -> None:
    model = mlp(_task((1, 8, 8)), hidden=[32, 16])
    assert sum(p.numel() for p in model.parameters()) == (64 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10)
    assert mlp(_task((40,), num_classes=3), hidden=[]).classifier.in_features == 40  # a linear classifier
    assert mlp(_task((40,), num_classes=3), hidden=8)(torch.randn(2, 40)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"expects 64 values per example, got a tensor of shape \(2, 65\)"):
        model(torch.randn(2, 65))


def test_model_factories_refuse_bad_input() -> None:
    no_shape = TaskData([(0, 0)], [(0, 0)], 2, ["a", "b"], "text")
    with pytest.raises(ConfigError, match=r"'mlp' needs tensor inputs of a known shape.*input_shape=None"):
        mlp(no_shape)
    with pytest.raises(ConfigError, match=r"small-cnn takes images \(C, H, W\).*input_shape=\(40,\)"):
        small_cnn(_task((40,)))
    with pytest.raises(ConfigError, match=r"channels must be .* got channels=\[4, 8, 16\]"):
        small_cnn(_task((1, 8, 8)), channels=[4, 8, 16])
    with pytest.raises(ConfigError, match=r"dropout must be a number in \[0, 1\), got dropout=1.0"):
        small_cnn(_task((1, 8, 8)), dropout=1.0)
    with pytest.raises(ConfigError, match=r"hidden must be .* got hidden=\[0\]"):
        mlp(_task((1, 8, 8)), hidden=[0])
    with pytest.raises(ValueError, match=r"expects images \(B, 1, H, W\), got a tensor of shape \(2, 3, 8, 8\)"):
        small_cnn(_task((1, 8, 8)))(torch.randn(2, 3, 8, 8))


# ---------------------------------------------------------------------------------------------- registry and a step
def test_registered_by_name() -> None:
    datasets, models = mixup_core.get_datasets(), mixup_core.get_models()
    fm = datasets.get("fashion-mnist")
    assert (fm.name, fm.modality, fm.target) == (
        "image:fashion-mnist",
        "image",
        "mixup_image.lab:load_fashion_mnist_task",
    )
    assert fm.load() is load_fashion_mnist_task
    assert datasets.get("image:digits").load() is load_digits_task
    assert models.get("small-cnn").load() is small_cnn
    assert models.get("image:mlp").modality == "any"
    assert models.get("image:mlp").load() is mlp


def test_one_mixed_step_with_cutmix_on_digits(digits: TaskData) -> None:
    torch.manual_seed(0)
    model = mixup_core.get_models().get("small-cnn").load()(digits, channels=[8, 16])
    x, y = next(iter(DataLoader(digits.train, batch_size=16)))
    mixer = create_mixer({"name": "image:cutmix", "alpha": 1.0})
    step = mixed_step(model, x, y, mixer=mixer, generator=torch.Generator().manual_seed(0), num_classes=10)
    assert step.logits.shape == (16, 10)
    assert step.plan is not None
    dense = step.targets.dense(10)
    torch.testing.assert_close(dense.sum(dim=1), torch.ones(16))  # the label mass of each mixed example is 1
    assert bool((dense < 1).any())  # something was mixed
    loss = step.loss()
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads if g is not None)


def test_docstring_examples() -> None:
    result = doctest.testmod(lab, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 5
