"""The ``image:folder`` data set: the user's own image files in class folders or a manifest, streamed from disk.

Every data set here is written by the test with PIL (PNG, JPEG, BMP; RGB and grey; several sizes).
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("torchvision", reason='image:folder needs torchvision: pip install "mixup-image[folder]"')
from PIL import Image

from mixup_core import ConfigError
from mixup_core.cli import main
from mixup_core.data import DataError
from mixup_image._plugin import mixup_detect_data
from mixup_image.datasets import decode_image_file, fit_image, read_header
from mixup_image.lab import ImageFiles, NormalizeImages, load_folder_task

pytestmark = pytest.mark.xdist_group("lab-compare")


def _save(path: Path, array: np.ndarray, **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)
    return path


def _random(rng: np.random.Generator, h: int, w: int, grey: bool = False) -> np.ndarray:
    shape = (h, w) if grey else (h, w, 3)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def _folders(root: Path, per_class: int = 5, classes: tuple[str, ...] = ("cat", "dog"), seed: int = 0) -> Path:
    """PNG and JPEG files, RGB and grey, of several sizes, one folder per class."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        for i in range(per_class):
            h, w = 12 + 2 * (i % 3), 14 + 3 * (i % 2)
            grey = i % 4 == 3
            array = _random(rng, h, w, grey) // 2 + 100 * c  # the class shows in the brightness
            _save(root / name / f"{i}.{'jpg' if i % 2 else 'png'}", array)
    return root


def _manifest(root: Path, rows: list[dict[str, str]], name: str = "manifest.csv") -> Path:
    cols = list(rows[0])
    lines = [",".join(cols)] + [",".join(str(r[c]) for c in cols) for r in rows]
    path = root / name
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------------------------- decoding
def test_decode_matches_pil_for_every_format(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb, grey = _random(rng, 9, 13), _random(rng, 9, 13, grey=True)
    for suffix in ("png", "bmp", "tif", "webp", "gif"):  # lossless (GIF: a palette of at most 256 colours)
        f = _save(tmp_path / f"rgb.{suffix}", rgb, **({"lossless": True} if suffix == "webp" else {}))
        expected = np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1)
        got = decode_image_file(f, channels=3)
        assert got.dtype == torch.uint8
        assert got.shape == (3, 9, 13)
        assert np.array_equal(got.numpy(), expected), suffix
    g = _save(tmp_path / "grey.png", grey)
    assert np.array_equal(decode_image_file(g, channels=1).numpy()[0], grey)
    assert np.array_equal(decode_image_file(g, channels=3).numpy(), np.stack([grey] * 3))  # grey to RGB: copies
    j = _save(tmp_path / "rgb.jpg", rgb, quality=95)
    pil = np.asarray(Image.open(j).convert("L")).astype(int)
    assert np.abs(decode_image_file(j, channels=1).numpy()[0].astype(int) - pil).max() <= 2  # two JPEG decoders
    deep = _save(tmp_path / "deep.png", grey.astype(np.uint16) * 257)  # 16-bit: the top 8 bits are kept
    assert np.array_equal(decode_image_file(deep, channels=1).numpy()[0], grey)
    header = read_header(deep)
    assert (header.width, header.height, header.grey, header.format) == (13, 9, True, "PNG")


def test_fit_image_crops_at_random_in_training_and_in_the_centre_in_testing() -> None:
    wide = torch.arange(16, dtype=torch.uint8).repeat(1, 8, 1)  # (1, 8, 16): column j holds j
    centre = fit_image(wide, (8, 8))
    assert centre[0, 0].tolist() == list(range(4, 12))
    lefts = {int(fit_image(wide, (8, 8), random_crop=True, generator=torch.Generator().manual_seed(s))[0, 0, 0])
             for s in range(30)}
    assert len(lefts) > 3
    assert lefts <= set(range(9))
    assert fit_image(wide, (4, 4)).shape == (1, 4, 4)  # scaled to cover 4x4 (4x8), then cropped
    assert fit_image(wide, (4, 4), resize="stretch").shape == (1, 4, 4)
    assert fit_image(wide, (8, 16)) is wide  # the right size already: untouched


# ---------------------------------------------------------------------------------------------- layouts
def test_class_folders_stream_uint8_items_and_collate_to_floats(tmp_path: Path) -> None:
    root = _folders(tmp_path / "pets", per_class=5)
    data = load_folder_task(root=root, size=[10, 12], test_fraction=0.4, split_seed=1)
    assert data.class_names == ["cat", "dog"]
    assert data.modality == "image"
    assert data.input_shape == (3, 10, 12)  # some files are RGB: channels auto gives RGB
    assert (len(data.train), len(data.test)) == (6, 4)
    info = data.info
    assert info["layout"] == "folders"
    assert info["counts"] == {"train": {"cat": 3, "dog": 3}, "test": {"cat": 2, "dog": 2}}
    assert info["skipped"] == 0
    assert info["formats"] == {"JPEG": 4, "PNG": 6}
    assert info["channels"] == "rgb"
    assert info["size"] == [10, 12]
    assert str(root.resolve()) in info["source"]
    json.dumps(info)  # the report stores it
    x, y = data.train[0]
    assert x.dtype == torch.uint8
    assert x.shape == (3, 10, 12)
    assert isinstance(y, int)
    batch, labels = data.collate_fn([data.train[i] for i in range(len(data.train))])
    assert batch.dtype == torch.float32
    assert batch.shape == (6, 3, 10, 12)
    assert labels.dtype == torch.int64
    assert labels.tolist() == [int(v) for v in data.train.labels]
    # only paths are held: the data sets and the collate travel to DataLoader workers
    again = pickle.loads(pickle.dumps(data.train))
    assert isinstance(again, ImageFiles)
    assert again.paths.tolist() == data.train.paths.tolist()
    assert isinstance(pickle.loads(pickle.dumps(data.collate_fn)), NormalizeImages)
    loader = torch.utils.data.DataLoader(data.test, batch_size=4, collate_fn=data.collate_fn, num_workers=1)
    ((xb, _),) = list(loader)
    expected, _ = data.collate_fn([data.test[i] for i in range(4)])
    assert torch.equal(xb, expected)  # the test split is deterministic (centre crop), in a worker too


def test_channels_and_size_rules(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for c in ("a", "b"):
        for i in range(3):
            _save(tmp_path / "g" / c / f"{i}.png", _random(rng, 8, 10, grey=True))
        _save(tmp_path / "g" / c / "3.jpg", _random(rng, 8, 10, grey=True))
    data = load_folder_task(root=tmp_path / "g", test_fraction=0.25)
    assert data.input_shape == (1, 8, 10)  # every file grey and 8x10: kept
    assert data.info["channels_rule"].startswith("auto: every file is single-channel")
    assert data.info["size_rule"] == "every file has this size"
    assert load_folder_task(root=tmp_path / "g", channels="rgb", test_fraction=0.25).input_shape == (3, 8, 10)
    mixed = load_folder_task(root=_folders(tmp_path / "m", per_class=5), test_fraction=0.4)
    h, w = mixed.input_shape[1:]
    assert h == w
    assert 12 <= h <= 16  # the median shorter side of the training files (12, 14 or 16)
    assert "median shorter side" in mixed.info["size_rule"]
    stretched = load_folder_task(root=tmp_path / "m", size=6, resize="stretch", test_fraction=0.4)
    assert stretched.train[0][0].shape == (3, 6, 6)


def test_manifest_with_groups_and_splits(tmp_path: Path) -> None:
    root = tmp_path / "line"
    rng = np.random.default_rng(2)
    rows = []
    for i in range(12):
        label = "ok" if i % 2 else "scratch"
        group = f"line{i // 4}"
        _save(root / "img" / f"{i}.png", _random(rng, 8, 8))
        rows.append({"file": f"img/{i}.png", "class": label, "group": group, "split": "test" if i >= 8 else "train"})
    manifest = _manifest(root, rows)
    data = load_folder_task(root=manifest, path_column="file", label_column="class")
    assert data.info["layout"] == "manifest"
    assert data.info["split"] == "given by the column 'split'"
    assert (len(data.train), len(data.test)) == (8, 4)
    assert data.train_groups == ["line0"] * 4 + ["line1"] * 4
    assert data.test_groups == ["line2"] * 4
    assert data.info["groups"] == {"train": 2, "test": 1}
    # without the split column the split is group-aware: no group on both sides, whatever the seed
    for seed in range(4):
        d = load_folder_task(root=manifest, path_column="file", label_column="class", split_column=None,
                             test_fraction=0.3, split_seed=seed)
        assert d.train_groups is not None
        assert d.test_groups is not None
        assert not set(d.train_groups) & set(d.test_groups)
        assert len(d.train) + len(d.test) == 12
        assert "group-aware" in d.info["split"]


def test_manifest_formats(tmp_path: Path) -> None:
    root = tmp_path / "m"
    rng = np.random.default_rng(3)
    rows = []
    for i in range(6):
        _save(root / f"{i}.jpg", _random(rng, 8, 8))
        rows.append({"path": f"{i}.jpg", "label": "ab"[i % 2]})
    (root / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_folder_task(root=root / "m.jsonl", test_fraction=0.34).class_names == ["a", "b"]
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"path": [r["path"] for r in rows], "label": [r["label"] for r in rows]}), root / "m.parquet"
    )
    assert len(load_folder_task(root=root / "m.parquet", test_fraction=0.34).train) == 4


# ---------------------------------------------------------------------------------------------- normalisation
def test_statistics_come_from_the_training_split_only(tmp_path: Path) -> None:
    root = tmp_path / "s"
    solid = {  # constant colours, so the statistics are known exactly
        "train0.png": (255, 0, 51), "train1.png": (0, 255, 51),
        "test0.png": (10, 20, 30), "test1.png": (200, 100, 0),
    }
    for name, colour in solid.items():
        _save(root / name, np.broadcast_to(np.asarray(colour, np.uint8), (4, 6, 3)).copy())
    rows = [{"path": n, "label": "ab"[i % 2], "split": n[:-5]} for i, n in enumerate(solid)]
    data = load_folder_task(root=_manifest(root, rows))
    stats = data.info["normalise"]
    assert stats["mean"] == pytest.approx([0.5, 0.5, 0.2], abs=1e-12)
    assert stats["std"] == pytest.approx([0.5, 0.5, 1.0], abs=1e-12)  # blue is constant: divided by 1
    assert stats["constant_channels"] == [2]
    assert stats["computed_on"] == "2 of 2 training images (all); the test split is not used"
    x, _ = data.collate_fn([data.train[0], data.train[1]])
    assert x[0, :, 0, 0].tolist() == pytest.approx([1.0, -1.0, 0.0], abs=1e-6)
    assert x[1, :, 0, 0].tolist() == pytest.approx([-1.0, 1.0, 0.0], abs=1e-6)
    t, _ = data.collate_fn([data.test[0]])
    assert t[0, :, 0, 0].tolist() == pytest.approx([(10 / 255 - 0.5) / 0.5, (20 / 255 - 0.5) / 0.5, 30 / 255 - 0.2],
                                                   abs=1e-6)
    # a sample of the training images, and statistics given in the config
    one = load_folder_task(root=root / "manifest.csv", stats_images=1)
    assert one.info["normalise"]["computed_on"].startswith("1 of 2 training images (drawn with split_seed 0)")
    assert one.info["normalise"]["mean"][2] == pytest.approx(0.2, abs=1e-12)
    given = load_folder_task(root=root / "manifest.csv", mean=[0.485, 0.456, 0.406], std=0.25)
    assert given.info["normalise"] == {
        "mean": [0.485, 0.456, 0.406],
        "std": [0.25] * 3,
        "computed_on": "given in the config",
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"size": 0}, "size must hold positive ints, got size=0"),
        ({"size": [1, 2, 3]}, "size must be an int"),
        ({"channels": "cmyk"}, "channels must be one of"),
        ({"resize": "pad"}, "resize must be one of 'crop', 'stretch', got resize='pad'"),
        ({"verify": "full"}, "verify must be one of"),
        ({"on_error": "ignore"}, "on_error must be one of"),
        ({"mean": [0.5, 0.5, 0.5]}, "give both mean and std"),
        ({"mean": [0.5, 0.5], "std": 1}, "mean must be a number or a list of 3 numbers"),
        ({"mean": 0.5, "std": 0}, "std must be positive"),
        ({"test_fraction": 1.5}, "test_fraction must be a number in \\(0, 1\\)"),
        ({"stats_images": 0}, "stats_images must be >= 1"),
        ({"label_column": ""}, "label_column must be a column name"),
    ],
)
def test_parameters_are_checked(tmp_path: Path, params: dict[str, object], message: str) -> None:
    root = _folders(tmp_path / "p", per_class=2)
    with pytest.raises(ConfigError, match=message):
        load_folder_task(root=root, channels=params.pop("channels", "rgb"), **params)  # type: ignore[arg-type]


def test_corrupt_files_are_listed_or_skipped(tmp_path: Path) -> None:
    root = _folders(tmp_path / "c", per_class=4)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "dog" / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="2 of 10 files cannot be used") as info:
        load_folder_task(root=root)
    assert "broken.png: unreadable" in str(info.value)
    assert "empty.jpg: unreadable" in str(info.value)
    data = load_folder_task(root=root, on_error="skip", test_fraction=0.25)
    assert data.info["skipped"] == 2
    assert len(data.train) + len(data.test) == 8
    assert any("broken.png" in f for f in data.info["skipped_files"])


def test_truncated_jpeg_passes_the_header_check_but_not_verify_decode(tmp_path: Path) -> None:
    root = _folders(tmp_path / "t", per_class=4)
    good = (root / "dog" / "1.jpg").read_bytes()
    (root / "dog" / "cut.jpg").write_bytes(good[: len(good) // 3])
    with pytest.raises(DataError, match=r"cut\.jpg: unreadable"):
        load_folder_task(root=root, verify="decode")


def test_missing_torchvision_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision.io", None)
    with pytest.raises(ImportError, match=r'pip install "mixup-image\[folder\]"'):
        load_folder_task(root=tmp_path)


# ---------------------------------------------------------------------------------------------- mixup init
def test_detect_class_folders_and_manifests(tmp_path: Path) -> None:
    guess = mixup_detect_data(_folders(tmp_path / "pets", per_class=3).resolve())
    assert guess is not None
    # the size from a few headers (the median shorter side of 12x14, 14x17, 16x14 per class), channels left to the
    # loader
    assert guess.dataset == {"name": "image:folder", "root": str((tmp_path / "pets").resolve()), "size": [14, 14],
                             "channels": "auto"}
    assert guess.model == {"name": "image:small-cnn"}
    assert [a["mixer"]["name"] for a in guess.arms] == ["mixup", "image:cutmix"]
    assert guess.class_names == ["cat", "dog"]
    assert guess.summary == "2 classes, 6 image files (4 PNG, 2 JPG) in class folders"
    assert guess.score == 1.0
    assert guess.train == {"batch_size": 32, "workers": 0}  # decoded once (cache: auto): no worker needed
    rows = [{"file": f"pets/cat/{i}.png", "class": "cat"} for i in (0, 2)] + [
        {"file": "pets/dog/1.jpg", "class": "dog"}
    ]
    manifest = _manifest(tmp_path, rows, "list.csv")
    guess = mixup_detect_data(manifest)
    assert guess is not None
    assert guess.dataset == {
        "name": "image:folder",
        "root": str(manifest),
        "path_column": "file",
        "label_column": "class",
        "size": [14, 14],
        "channels": "auto",
    }
    # a folder whose top level holds the manifest: the manifest
    guess = mixup_detect_data(tmp_path)
    assert guess is not None
    assert guess.dataset["root"] == str(manifest)
    # not images: left to the other plugins
    for c in ("a", "b"):
        (tmp_path / "text" / c).mkdir(parents=True)
        (tmp_path / "text" / c / "1.txt").write_text("hello")
    assert mixup_detect_data(tmp_path / "text") is None
    (tmp_path / "t.csv").write_text("text,label\nhello,a\nbye,b\n")
    assert mixup_detect_data(tmp_path / "t.csv") is None


def test_init_then_compare_on_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _folders(tmp_path / "pets", per_class=6, classes=("cat", "dog", "owl"))
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "pets.yaml"
    assert main(["init", str(root), "--out", str(cfg), "--quiet"]) == 0
    raw = yaml.safe_load(cfg.read_text())
    assert raw["dataset"] == {"name": "image:folder", "root": str(root.resolve()), "size": [14, 14], "channels": "auto"}
    assert [a["name"] for a in raw["arms"]] == ["baseline", "mixup", "cutmix"]
    out = tmp_path / "study"
    assert raw["train"]["workers"] == 0  # a few KiB: decoded once at load time (cache: auto), no worker needed
    # streamed from disk instead, decoded in two DataLoader workers
    assert main(["compare", str(cfg), "--seeds", "0", "--quiet", "--out", str(out), "--set", "train.epochs=1",
                 "--set", "dataset.cache=false", "--set", "train.workers=2"]) == 0
    runs = sorted(out.glob("runs/*/seed-0/metrics.json"))
    assert sorted(json.loads(p.read_text())["arm"] for p in runs) == ["baseline", "cutmix", "mixup"]
    study = json.loads((out / "study.json").read_text())
    assert study["dataset_info"]["layout"] == "folders"
    assert study["class_names"] == ["cat", "dog", "owl"]
    assert study["train_size"] + study["test_size"] == 18


# ---------------------------------------------------------------------------------------------- bad input
def _empty_class(tmp: Path) -> tuple[Path, str]:
    root = _folders(tmp / "d", per_class=3)
    (root / "owl").mkdir()
    return root, f"{root / 'owl'}: the class folder 'owl' has no"


def _one_class(tmp: Path) -> tuple[Path, str]:
    root = _folders(tmp / "d", per_class=3, classes=("cat",))
    return root, f"{root}: 1 class found"


def _corrupt(tmp: Path) -> tuple[Path, str]:
    root = _folders(tmp / "d", per_class=3)
    (root / "dog" / "bad.png").write_bytes(b"not an image")
    return root, f"{root / 'dog' / 'bad.png'}: unreadable"


def _outside(tmp: Path) -> tuple[Path, str]:
    _folders(tmp / "d", per_class=2)
    (tmp / "m").mkdir()
    manifest = _manifest(tmp / "m", [{"path": "../d/cat/0.png", "label": "cat"}, {"path": "x.png", "label": "dog"}])
    return manifest, f"{manifest}: row 1: the path '../d/cat/0.png' is outside the manifest's folder"


def _no_label(tmp: Path) -> tuple[Path, str]:
    root = _folders(tmp / "d", per_class=2)
    manifest = _manifest(root, [{"path": "cat/0.png", "kind": "cat"}, {"path": "dog/0.png", "kind": "dog"}])
    return manifest, f"{manifest}: no label column 'label' (the columns are ['kind', 'path'])"


@pytest.mark.parametrize("make", [_empty_class, _one_class, _corrupt, _outside, _no_label])
def test_bad_data_is_one_line_and_writes_nothing(tmp_path: Path, make, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    root, message = make(tmp_path)
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "bad", "dataset": {"name": "image:folder", "root": str(root)}, "model": {"name": "image:small-cnn"},
        "train": {"epochs": 1}, "seeds": [0], "arms": [{"name": "baseline"}],
    }))
    out = tmp_path / "out"
    assert main(["compare", str(cfg), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mixup: error: ")
    assert message in err
    assert not out.exists()


# ------------------------------------------------------------------------------------------------ cache
@pytest.mark.parametrize("resize", ["crop", "stretch"])
def test_cached_items_equal_the_streamed_ones(tmp_path: Path, resize: str) -> None:
    """Decoded once or read from disk on every access, the items are the same tensors, random crops included."""
    root = _folders(tmp_path / "data", per_class=6)
    cached = load_folder_task(root=root, size=10, resize=resize, cache=True)
    streamed = load_folder_task(root=root, size=10, resize=resize, cache=False)
    assert cached.train.cached
    assert cached.test.cached
    assert not streamed.train.cached
    assert not streamed.test.cached
    assert cached.info["cache"].startswith("in memory")
    assert streamed.info["cache"] == "streamed: each file decoded on access (cache: false)"
    assert cached.info["normalise"] == streamed.info["normalise"]
    for a, b in ((cached.train, streamed.train), (cached.test, streamed.test)):
        for i in range(len(a)):
            torch.manual_seed(i)  # the training crop's position: torch's global generator, as in DataLoader workers
            x, y = a[i]
            torch.manual_seed(i)
            x2, y2 = b[i]
            assert y == y2
            assert x.dtype == torch.uint8
            assert torch.equal(x, x2)


def test_cache_reads_no_file_after_loading_and_hands_out_copies(tmp_path: Path) -> None:
    root = _folders(tmp_path / "data", per_class=4)
    data = load_folder_task(root=root)  # cache: auto, a few KiB
    assert data.train.cached
    for path in root.rglob("*.*"):
        path.unlink()
    x, _ = data.test[0]
    x.zero_()  # writing to an item must not change the memory copy
    again, _ = data.test[0]
    assert again.abs().sum() > 0
    loader = torch.utils.data.DataLoader(data.train, batch_size=3, collate_fn=data.collate_fn, num_workers=1,
                                         multiprocessing_context="spawn")
    assert sum(len(y) for _, y in loader) == len(data.train)  # the spawned worker gets the memory copy, no file


def test_cache_auto_streams_over_the_budget(tmp_path: Path) -> None:
    root = _folders(tmp_path / "data", per_class=4)
    data = load_folder_task(root=root, size=12, cache="auto", cache_mb=0)
    assert not data.train.cached
    assert not data.test.cached
    assert data.info["cache"].startswith("streamed: each file decoded on access (the decoded images would take")
    assert "over cache_mb 0" in data.info["cache"]


@pytest.mark.parametrize(("params", "quoted"), [({"cache": "yes"}, "cache='yes'"), ({"cache": 1}, "cache=1"),
                                                ({"cache_mb": -1}, "cache_mb")])
def test_cache_parameters_are_checked(tmp_path: Path, params: dict[str, object], quoted: str) -> None:
    root = _folders(tmp_path / "data", per_class=3)
    with pytest.raises(ConfigError, match=quoted):
        load_folder_task(root=root, **params)


def test_init_asks_for_workers_only_when_the_images_are_streamed() -> None:
    from mixup_image._detect import _workers

    assert _workers([28, 28], 5000) == 0  # 11 MiB: decoded once
    assert _workers([224, 224], 10_000) == 2  # 1.4 GiB over cache_mb 1024: streamed, decoded by two workers
    assert _workers(None, 10) == 2  # size unknown
