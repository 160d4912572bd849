"""`mixup preview` for image mixers: the picture, its inputs, and the hook's dispatch."""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import pytest
import torch

from mixup_core import cli, get_registry
from mixup_core.hookspecs import PreviewOptions
from mixup_image import _preview

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


@pytest.mark.parametrize("name", ["image:cutmix", "core:mixup"])
def test_cli_preview_writes_the_grid(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.png"
    assert cli.main(["preview", name, "--dataset", "synthetic", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.exists()
    assert _png_size(out) == _preview.figure_size_px(4)  # default --batch-size 4


def test_cli_preview_with_params_batch_size_and_seed(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    args = ["preview", "cutmix", "--param", "mode=sample", "--batch-size", "6", "--seed", "3"]
    assert cli.main([*args, "--out", str(a)]) == 0
    assert cli.main([*args, "--out", str(b)]) == 0
    assert _png_size(a) == _preview.figure_size_px(6)
    assert a.read_bytes() == b.read_bytes()  # same seed, same picture


def test_preview_from_an_image_folder(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, size in enumerate([(40, 30), (20, 20), (64, 48)]):
        Image.new("RGB", size, (80 * i, 200 - 60 * i, 40)).save(folder / f"img{i}.{'png' if i % 2 else 'jpg'}")
    (folder / "notes.txt").write_text("ignored")
    images, labels, names = _preview.load_examples(PreviewOptions(out=tmp_path / "x.png", inputs=folder, batch_size=8))
    assert images.shape == (3, 3, 30, 40)  # resized to the first image's size
    assert names == ("img0", "img1", "img2")
    assert labels.tolist() == [0, 1, 2]
    assert float(images.min()) >= 0
    assert float(images.max()) <= 1
    out = tmp_path / "folder.png"
    assert cli.main(["preview", "image:cutmix", "--images", str(folder), "--out", str(out)]) == 0
    assert _png_size(out) == _preview.figure_size_px(3)


def test_synthetic_dataset_is_deterministic_and_labelled_by_shape() -> None:
    opts = PreviewOptions(out=Path("unused.png"), dataset="synthetic", batch_size=5, seed=2)
    a, la, names = _preview.load_examples(opts)
    b, lb, _ = _preview.load_examples(opts)
    assert torch.equal(a, b)
    assert torch.equal(la, lb)
    assert sorted(la.tolist()) == [0, 1, 2, 3, 4]
    assert names == _preview.SYNTHETIC_CLASSES
    assert a.shape == (5, 3, 64, 64)


def _write_idx(path: Path, data: torch.Tensor) -> None:
    header = struct.pack(">HBB", 0, 0x08, data.ndim) + struct.pack(f">{data.ndim}I", *data.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + data.numpy().tobytes())


def test_fashion_mnist_reader_on_small_idx_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = torch.arange(6 * 28 * 28, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(6, 28, 28)
    labels = torch.tensor([0, 9, 3, 3, 1, 8], dtype=torch.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    monkeypatch.setattr(_preview, "FASHION_MNIST_DIR", tmp_path)
    x, y, names = _preview.load_examples(PreviewOptions(out=tmp_path / "o.png", dataset="fashion-mnist", batch_size=4))
    assert x.shape == (4, 1, 28, 28)
    assert names[9] == "Ankle boot"
    for img, label in zip(x, y, strict=True):  # each picked image keeps its own label
        row = int((images.float() / 255 == img[0]).all(dim=(1, 2)).nonzero()[0])
        assert int(labels[row]) == int(label)


def test_missing_datasets_give_install_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_preview, "FASHION_MNIST_DIR", tmp_path / "absent")
    assert cli.main(["preview", "image:cutmix", "--dataset", "fashion-mnist", "--out", str(tmp_path / "f.png")]) == 2
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were not installed
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert cli.main(["preview", "image:cutmix", "--dataset", "digits", "--out", str(tmp_path / "d.png")]) == 2
    assert "pip install scikit-learn" in capsys.readouterr().err
    assert cli.main(["preview", "image:cutmix", "--dataset", "cifar", "--out", str(tmp_path / "c.png")]) == 2
    assert "synthetic, fashion-mnist, digits" in capsys.readouterr().err


@pytest.mark.skipif(not _preview.FASHION_MNIST_DIR.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist(tmp_path: Path) -> None:
    out = tmp_path / "fm.png"
    assert (
        cli.main(["preview", "image:cutmix", "--dataset", "fashion-mnist", "--out", str(out), "--batch-size", "3"]) == 0
    )
    assert _png_size(out) == _preview.figure_size_px(3)


def test_hook_declines_other_modalities(tmp_path: Path) -> None:
    info = get_registry().get("image:cutmix")
    other = type(info)(**{**info.__dict__, "modality": "audio"})
    mixer = info.load()()
    assert _preview.mixup_preview(mixer, other, PreviewOptions(out=tmp_path / "n.png")) is None
    assert not (tmp_path / "n.png").exists()


def test_anchor_mask_row_is_the_mask_or_lambda() -> None:
    from mixup_core import create_mixer

    x = torch.rand(4, 3, 8, 8)
    cutmix = create_mixer("image:cutmix")
    out = cutmix(x, torch.arange(4), num_classes=4, generator=torch.Generator().manual_seed(0))
    mask = _preview._anchor_mask(cutmix, out.plan, (8, 8))
    torch.testing.assert_close(mask.mean(dim=(1, 2)), out.plan.lam)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    mixup = create_mixer("core:mixup")
    out = mixup(x, torch.arange(4), num_classes=4, generator=torch.Generator().manual_seed(0))
    flat = _preview._anchor_mask(mixup, out.plan, (8, 8))
    assert torch.equal(flat, out.plan.lam.view(-1, 1, 1).expand(-1, 8, 8))
