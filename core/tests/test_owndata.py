"""The building blocks of "your own data" loaders in mixup_core.data, the model families, and the detect hook."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from mixup_core import ConfigError, TaskData, get_models, get_plugin_manager, hookimpl
from mixup_core.data import (
    DataError,
    DataGuess,
    DataNotFoundError,
    class_counts,
    read_table,
    scan_files,
    split_indices,
)
from mixup_core.models import python_model


# ---------------------------------------------------------------------------------------------- tables
def test_read_table_csv_tsv_jsonl(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("text,label\nhi,x\n\"a, b\",y\n", encoding="utf-8")
    (tmp_path / "a.tsv").write_text("text\tlabel\nhi\tx\n", encoding="utf-8")
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"text": "hi", "label": 1}) + "\n\n" + json.dumps({"text": "yo", "label": 2}) + "\n"
    )
    assert read_table(tmp_path / "a.csv") == {"text": ["hi", "a, b"], "label": ["x", "y"]}
    assert read_table(tmp_path / "a.tsv") == {"text": ["hi"], "label": ["x"]}
    assert read_table(tmp_path / "a.jsonl") == {"text": ["hi", "yo"], "label": [1, 2]}


def test_read_table_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1.5, 2.5], "label": ["a", "b"]}), tmp_path / "t.parquet")
    assert read_table(tmp_path / "t.parquet") == {"x": [1.5, 2.5], "label": ["a", "b"]}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "no header row"),
        ("header.csv", "a,b\n", "no rows"),
        ("ragged.csv", "a,b\n1,2\n3\n", "line 3 has 1 cells where the header has 2"),
        ("bad.jsonl", '{"a": 1}\nnot json\n', "line 2 is not JSON"),
        ("list.jsonl", "[1, 2]\n", "line 1 is a JSON list"),
        ("binary.csv", b"\xff\xfe\x00bad", "not UTF-8"),
        ("t.xlsx", "x", "not a table"),
    ],
)
def test_read_table_errors_name_the_file(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError, match=message) as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_read_table_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no such file"):
        read_table(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------- files
def _tree(root: Path, layout: dict[str, int], suffix: str = ".txt") -> Path:
    for name, count in layout.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{i}{suffix}").write_text("ok")
    return root


def test_scan_folders(tmp_path: Path) -> None:
    root = _tree(tmp_path / "data", {"cat": 2, "dog": 3})
    (root / "dog" / "notes.md").write_text("ignored: another suffix")
    rec = scan_files(root, extensions=[".TXT"])
    assert rec.layout == "folders"
    assert rec.class_names == ["cat", "dog"]
    assert rec.class_indices().tolist() == [0, 0, 1, 1, 1]
    assert all(p.is_absolute() and p.suffix == ".txt" for p in rec.paths)
    assert rec.groups is None
    assert rec.splits is None


@pytest.mark.parametrize(
    ("layout", "message"),
    [({"cat": 2, "dog": 0}, "class folder 'dog' has no"), ({"cat": 3}, "1 class found")],
)
def test_scan_folders_refuses_empty_and_single_classes(tmp_path: Path, layout: dict[str, int], message: str) -> None:
    with pytest.raises(DataError, match=message):
        scan_files(_tree(tmp_path / "d", layout), extensions=[".txt"])


def test_scan_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no such file or folder"):
        scan_files(tmp_path / "nope", extensions=[".txt"])


def _manifest(root: Path, rows: list[dict[str, str]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for row in rows:
        f = root / row["path"]
        if ".." not in row["path"] and not row.get("missing"):
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text("ok")
    cols = [c for c in rows[0] if c != "missing"]
    lines = [",".join(cols)] + [",".join(r[c] for c in cols) for r in rows]
    path = root / "manifest.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_scan_manifest_with_groups_and_splits(tmp_path: Path) -> None:
    rows = [
        {"path": "a/1.txt", "label": "ok", "group": "line1", "split": "train"},
        {"path": "a/2.txt", "label": "bad", "group": "line1", "split": "Train"},
        {"path": "b/3.txt", "label": "ok", "group": "line2", "split": "test"},
        {"path": "b/4.txt", "label": "bad", "group": "line2", "split": "test"},
    ]
    rec = scan_files(_manifest(tmp_path / "m", rows), extensions=[".txt"])
    assert rec.layout == "manifest"
    assert rec.labels == ["ok", "bad", "ok", "bad"]
    assert rec.groups == ["line1", "line1", "line2", "line2"]
    assert rec.splits == ["train", "train", "test", "test"]


def test_scan_manifest_refuses_paths_outside_its_folder(tmp_path: Path) -> None:
    rows = [{"path": "a.txt", "label": "x"}, {"path": "../secret.txt", "label": "y"}]
    with pytest.raises(DataError, match=r"row 2: the path '\.\./secret\.txt' is outside the manifest's folder"):
        scan_files(_manifest(tmp_path / "m", rows), extensions=[".txt"])


def test_scan_manifest_missing_label_column(tmp_path: Path) -> None:
    rows = [{"path": "a.txt", "class": "x"}, {"path": "b.txt", "class": "y"}]
    with pytest.raises(DataError, match=r"no label column 'label' \(the columns are \['class', 'path'\]\)"):
        scan_files(_manifest(tmp_path / "m", rows), extensions=[".txt"])
    rec = scan_files(tmp_path / "m" / "manifest.csv", extensions=[".txt"], label_column="class")
    assert rec.class_names == ["x", "y"]


def test_scan_bad_split_values(tmp_path: Path) -> None:
    rows = [{"path": "a.txt", "label": "x", "split": "train"}, {"path": "b.txt", "label": "y", "split": "valid"}]
    with pytest.raises(DataError, match=r"must hold 'train' or 'test', got \['valid'\]"):
        scan_files(_manifest(tmp_path / "m", rows), extensions=[".txt"])


def test_scan_lists_bad_files_or_skips_them(tmp_path: Path) -> None:
    rows = [
        {"path": "a.txt", "label": "x"},
        {"path": "b.txt", "label": "y"},
        {"path": "c.txt", "label": "y", "missing": "1"},
        {"path": "d.txt", "label": "x"},
    ]
    manifest = _manifest(tmp_path / "m", rows)
    (tmp_path / "m" / "d.txt").write_text("corrupt")

    def check(path: Path) -> None:
        if path.read_text() != "ok":
            raise ValueError("bad header")

    with pytest.raises(DataError, match="2 of 4 files cannot be used") as info:
        scan_files(manifest, extensions=[".txt"], check=check)
    assert "c.txt: no such file" in str(info.value)
    assert "d.txt: unreadable (ValueError: bad header)" in str(info.value)
    assert "on_error: skip" in str(info.value)
    rec = scan_files(manifest, extensions=[".txt"], check=check, on_error="skip")
    assert [p.name for p in rec.paths] == ["a.txt", "b.txt"]
    assert [Path(p).name for p, _ in rec.skipped] == ["c.txt", "d.txt"]


# ---------------------------------------------------------------------------------------------- splits
def test_stratified_split_keeps_every_class_on_both_sides() -> None:
    y = np.repeat(np.arange(3), [10, 5, 2])
    train, test = split_indices(y, test_fraction=0.2, seed=1)
    assert np.intersect1d(train, test).size == 0
    assert np.union1d(train, test).tolist() == list(range(17))
    assert np.bincount(y[test]).tolist() == [2, 1, 1]
    again = split_indices(y, test_fraction=0.2, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((train, test), again, strict=True))
    other = split_indices(y, test_fraction=0.2, seed=2)
    assert not np.array_equal(test, other[1])


def test_group_aware_split_never_puts_a_group_on_both_sides() -> None:
    rng = np.random.default_rng(0)
    groups = [f"site{int(g)}" for g in rng.integers(0, 8, size=200)]
    y = rng.integers(0, 2, size=200)
    for seed in range(5):
        train, test = split_indices(y, groups=groups, test_fraction=0.25, seed=seed)
        assert not {groups[i] for i in train} & {groups[i] for i in test}
        assert 0.15 < test.size / 200 < 0.6


def test_given_split_with_a_group_on_both_sides_is_refused() -> None:
    with pytest.raises(DataError, match=r"group \['p2'\] in both the train and the test split"):
        split_indices([0, 1, 0, 1], groups=["p1", "p2", "p2", "p3"], splits=["train", "train", "test", "test"])
    train, test = split_indices([0, 1, 0, 1], splits=["train", "train", "test", "test"])
    assert (train.tolist(), test.tolist()) == ([0, 1], [2, 3])


def test_split_errors() -> None:
    with pytest.raises(DataError, match="one group only"):
        split_indices([0, 1], groups=["a", "a"])
    with pytest.raises(DataError, match=r"class \[1\] has no training example"):
        split_indices([0, 0, 1], splits=["train", "train", "test"])
    with pytest.raises(ConfigError, match="test_fraction must be in"):
        split_indices([0, 1], test_fraction=1.0)


def test_class_counts() -> None:
    assert class_counts([2, 2, 0], ["a", "b", "c"]) == {"a": 1, "b": 0, "c": 2}


def test_task_data_groups_must_match_the_splits() -> None:
    ds = TensorDataset(torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]))
    data = TaskData(ds, ds, 2, ["a", "b"], "tabular", train_groups=list("aabb"), test_groups=list("ccdd"))
    assert data.test_groups == list("ccdd")
    with pytest.raises(ValueError, match="train_groups has 3 entries for 4 train examples"):
        TaskData(ds, ds, 2, ["a", "b"], "tabular", train_groups=list("abc"))


# ---------------------------------------------------------------------------------------------- model families
def _data() -> TaskData:
    ds = TensorDataset(torch.zeros(4, 3), torch.tensor([0, 1, 0, 1]))
    return TaskData(ds, ds, 2, ["a", "b"], "tabular", input_shape=(3,))


def build(data: TaskData, width: int = 4) -> torch.nn.Module:
    """A factory of the user's, as python:<module>:<function> finds it."""
    return torch.nn.Sequential(torch.nn.Linear(data.input_shape[0], width), torch.nn.Linear(width, data.num_classes))


def not_a_model(data: TaskData) -> str:
    return "nope"


def test_python_model_family_imports_the_users_factory() -> None:
    info = get_models().get(f"python:{__name__}:build")
    assert info.name == f"python:{__name__}:build"
    assert info.bound == {"target": f"{__name__}:build"}
    model = info.load()(_data(), width=7)
    assert model[0].out_features == 7
    assert "python:<target>" in get_models().names()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_colon", "python:<module>:<function>"),
        ("no_such_module_xyz:f", "cannot import 'no_such_module_xyz'"),
        (f"{__name__}:missing", "has no 'missing'"),
        (f"{__name__}:not_a_model", "returned str, not a torch.nn.Module"),
        (f"{__name__}:_data", "_data\\(\\) takes 0 positional arguments"),
    ],
)
def test_python_model_errors_name_the_target(target: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        python_model(_data(), target=target)


# ---------------------------------------------------------------------------------------------- detect hook
def test_hook_mixup_detect_data(mixup_temp_plugin: Any, tmp_path: Path) -> None:
    seen: list[Path] = []

    @hookimpl
    def mixup_detect_data(path: Path) -> DataGuess | None:
        seen.append(path)
        if path.suffix != ".demo":
            return None
        return DataGuess("tabular", {"name": "demo:rows", "file": str(path)}, {"name": "demo:mlp"},
                         [{"name": "mixup", "mixer": {"name": "mixup"}}], "a demo file", ["a", "b"], score=0.5)

    plugin = types.ModuleType("demo_detect_plugin")
    plugin.mixup_detect_data = mixup_detect_data  # type: ignore[attr-defined]
    mixup_temp_plugin(plugin, "demo")
    target = tmp_path / "x.demo"
    guesses = [g for g in get_plugin_manager().hook.mixup_detect_data(path=target) if g is not None]
    assert [g.dataset["file"] for g in guesses] == [str(target)]
    assert guesses[0].score == 0.5
    assert seen == [target]
    assert not [g for g in get_plugin_manager().hook.mixup_detect_data(path=tmp_path / "x.other") if g is not None]
