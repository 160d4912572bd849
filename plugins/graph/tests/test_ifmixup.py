"""ifMixup: conformance on the dense form, the mixed PyG graphs against a per-pair dense reference, labels, errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GCNConv, global_add_pool

from mixup_core import MixPlan, create_mixer, soft_cross_entropy, to_config
from mixup_core.testing import MixerConformanceTests
from mixup_graph import IfMixup, from_dense_graph_tensor, to_dense_graph_tensor

F = 3  # node features
C = 4  # classes


class TestIfMixupDenseSample(MixerConformanceTests):
    mixer_name = "ifmixup"
    mixer_params = {"mode": "sample", "alpha": 0.5}
    sample_shape = (5, 5 + 7)


# --------------------------------------------------------------------------------------------- helpers
def random_graph(
    n: int, g: torch.Generator, *, label: int = 0, weighted: bool = False, edge_dim: int | None = None, p: float = 0.4
) -> Data:
    """An undirected Erdős–Rényi graph with random features (and weights / edge features)."""
    upper = torch.triu(torch.rand(n, n, generator=g) < p, diagonal=1)
    weights = torch.rand(n, n, generator=g) * 0.9 + 0.1
    weights = torch.triu(weights, 1) + torch.triu(weights, 1).T
    adj = upper | upper.T
    edge_index = adj.nonzero().T
    data = Data(x=torch.randn(n, F, generator=g), edge_index=edge_index, y=torch.tensor([label]))
    if weighted:
        data.edge_weight = weights[edge_index[0], edge_index[1]]
    if edge_dim is not None:
        feats = torch.rand(n, n, edge_dim, generator=g)
        feats = feats + feats.transpose(0, 1)
        data.edge_attr = feats[edge_index[0], edge_index[1]]
    return data


def graphs(sizes: list[int], seed: int = 0, **kwargs: object) -> list[Data]:
    g = torch.Generator().manual_seed(seed)
    return [random_graph(n, g, label=i % C, **kwargs) for i, n in enumerate(sizes)]  # type: ignore[arg-type]


def dense_of(data: Data, n: int, field: str = "edge_weight") -> tuple[torch.Tensor, torch.Tensor]:
    """Reference padding of one graph to n nodes, written out per edge: (A (n, n, ...), X (n, F))."""
    x = torch.zeros(n, data.x.shape[1], dtype=data.x.dtype)
    x[: data.num_nodes] = data.x
    values = getattr(data, field, None)
    if values is None:
        values = torch.ones(data.edge_index.shape[1], dtype=data.x.dtype)
    a = torch.zeros((n, n, *values.shape[1:]), dtype=values.dtype)
    for e in range(data.edge_index.shape[1]):
        u, v = int(data.edge_index[0, e]), int(data.edge_index[1, e])
        a[u, v] += values[e]
    return a, x


SIZES = [3, 7, 5, 9, 4, 6, 2]


# --------------------------------------------------------------------------------------------- the maths
@pytest.mark.parametrize("mode", ["batch", "sample"])
@pytest.mark.parametrize("weighted", [False, True])
def test_each_mixed_graph_is_the_padded_pair_mix(mode: str, weighted: bool) -> None:
    data = graphs(SIZES, weighted=weighted, edge_dim=2)
    batch = Batch.from_data_list(data)
    out = IfMixup(mode=mode, num_classes=C)(batch, generator=torch.Generator().manual_seed(3))
    plan, mixed = out.plan, out.inputs
    assert isinstance(mixed, Batch)
    assert mixed.num_graphs == len(SIZES)
    assert not hasattr(mixed, "y") or mixed.y is None
    n = torch.tensor(SIZES)
    expected_n = torch.where(plan.lam < 1, torch.maximum(n, n[plan.index]), n)
    assert mixed.ptr.diff().tolist() == expected_n.tolist()
    assert torch.equal(IfMixup.mixed_num_nodes(n, plan), expected_n)
    assert torch.equal(mixed.batch, torch.repeat_interleave(torch.arange(len(SIZES)), expected_n))
    assert ((mixed.edge_weight > 0) & (mixed.edge_weight <= 1)).all()
    assert bool((plan.lam < 1).any())
    for i, got in enumerate(mixed.to_data_list()):
        j, lam = int(plan.index[i]), float(plan.lam[i])
        size = int(expected_n[i])
        a_i, x_i = dense_of(data[i], size)
        a_j, x_j = dense_of(data[j], size) if lam < 1 else (torch.zeros_like(a_i), torch.zeros_like(x_i))
        a_got, x_got = dense_of(got, size)
        torch.testing.assert_close(x_got, lam * x_i + (1 - lam) * x_j)
        torch.testing.assert_close(a_got, lam * a_i + (1 - lam) * a_j)
        # exactly the support of the mixed adjacency: no edge of weight 0, none missing
        assert got.edge_index.shape[1] == int(((lam * a_i + (1 - lam) * a_j) != 0).sum())
        e_i, _ = dense_of(data[i], size, "edge_attr")
        e_j, _ = dense_of(data[j], size, "edge_attr") if lam < 1 else (torch.zeros_like(e_i), None)
        e_got, _ = dense_of(got, size, "edge_attr")
        torch.testing.assert_close(e_got, lam * e_i + (1 - lam) * e_j)


def test_dense_form_is_the_same_maths_as_the_batch_path() -> None:
    data = graphs(SIZES, seed=1, weighted=True)
    batch = Batch.from_data_list(data)
    mixer = IfMixup(mode="sample", num_classes=C)
    out = mixer(batch, generator=torch.Generator().manual_seed(0))
    dense = to_dense_graph_tensor(batch)
    n_max = max(SIZES)
    assert dense.shape == (len(SIZES), n_max, n_max + F)
    mixed_dense = mixer.apply(dense, out.plan)
    torch.testing.assert_close(to_dense_graph_tensor(out.inputs, max_num_nodes=n_max), mixed_dense, rtol=0, atol=0)
    back = from_dense_graph_tensor(mixed_dense, IfMixup.mixed_num_nodes(batch.ptr.diff(), out.plan))
    for field in ("x", "edge_index", "edge_weight", "batch", "ptr"):
        assert torch.equal(back[field], out.inputs[field]), field
    # the dense call draws the same plan from the same seed
    again = mixer(dense, out.targets.targets, generator=torch.Generator().manual_seed(0))  # type: ignore[union-attr]
    assert again.plan.to_dict() == out.plan.to_dict()
    assert torch.equal(again.inputs, mixed_dense)


def test_round_trip_of_the_dense_form() -> None:
    batch = Batch.from_data_list(graphs([4, 1, 6], weighted=True))
    back = from_dense_graph_tensor(to_dense_graph_tensor(batch), batch.ptr.diff())
    assert torch.equal(back.x, batch.x)
    assert torch.equal(back.edge_index, batch.edge_index)  # the inputs' edges are already coalesced
    assert torch.equal(back.edge_weight, batch.edge_weight)
    assert [d.num_nodes for d in back.to_data_list()] == [4, 1, 6]


def test_lam_one_returns_the_anchor_graphs() -> None:
    data = graphs(SIZES, seed=2)
    batch = Batch.from_data_list(data)
    out = IfMixup(lam=1.0, num_classes=C)(batch, generator=torch.Generator().manual_seed(0))
    assert out.plan.is_identity
    assert torch.equal(out.inputs.x, batch.x)
    assert torch.equal(out.inputs.edge_index, batch.edge_index)
    assert torch.equal(out.inputs.edge_weight, torch.ones(batch.num_edges))
    assert torch.equal(out.inputs.ptr, batch.ptr)
    torch.testing.assert_close(out.targets.dense(), torch.nn.functional.one_hot(batch.y, C).float())  # type: ignore[union-attr]


def test_graphs_with_lam_one_in_a_mixed_batch_stay_as_given() -> None:
    data = graphs(SIZES, seed=3, weighted=True)
    out = IfMixup(mode="sample", p=0.5, num_classes=C)(
        Batch.from_data_list(data), generator=torch.Generator().manual_seed(1)
    )
    lam = out.plan.lam
    assert bool((lam == 1).any())
    assert bool((lam < 1).any())
    for i, got in enumerate(out.inputs.to_data_list()):
        if lam[i] == 1:
            assert torch.equal(got.x, data[i].x)
            assert torch.equal(got.edge_index, data[i].edge_index)
            assert torch.equal(got.edge_weight, data[i].edge_weight)


def test_entries_of_weight_zero_are_dropped() -> None:
    data = graphs([4, 6], seed=15, weighted=True, p=0.8)
    out = IfMixup(lam=0.0, num_classes=C)(Batch.from_data_list(data), generator=torch.Generator().manual_seed(0))
    # λ = 0: each mixed graph is its partner's structure on max(n_i, n_j) nodes; the anchor's own edges get weight 0
    for i, got in enumerate(out.inputs.to_data_list()):
        j = int(out.plan.index[i])
        assert got.num_nodes == 6
        assert torch.equal(got.edge_index, data[j].edge_index)
        assert torch.equal(got.edge_weight, data[j].edge_weight)
    data[0].edge_weight = data[0].edge_weight * 0  # an explicit weight of 0 is no edge
    out = IfMixup(lam=1.0, num_classes=C)(Batch.from_data_list(data), generator=torch.Generator().manual_seed(0))
    assert out.inputs.to_data_list()[0].num_edges == 0
    assert (out.inputs.edge_weight != 0).all()


def test_batch_of_one_is_unmixed() -> None:
    (data,) = graphs([5])
    out = IfMixup(num_classes=C)(Batch.from_data_list([data]), generator=torch.Generator().manual_seed(0))
    assert out.plan.is_identity
    assert torch.equal(out.inputs.x, data.x)
    assert torch.equal(out.inputs.edge_index, data.edge_index)
    torch.testing.assert_close(out.targets.dense(), torch.nn.functional.one_hot(data.y, C).float())  # type: ignore[union-attr]


def test_a_list_of_data_is_mixed_like_its_batch() -> None:
    data = graphs(SIZES, seed=4)
    a = IfMixup(num_classes=C)(data, generator=torch.Generator().manual_seed(5))
    b = IfMixup(num_classes=C)(Batch.from_data_list(data), generator=torch.Generator().manual_seed(5))
    for field in ("x", "edge_index", "edge_weight", "ptr"):
        assert torch.equal(a.inputs[field], b.inputs[field])


def test_plan_replays_on_the_batch() -> None:
    batch = Batch.from_data_list(graphs(SIZES, seed=6))
    mixer = IfMixup(mode="sample", num_classes=C)
    out = mixer(batch, generator=torch.Generator().manual_seed(2))
    assert mixer.sample(batch, generator=torch.Generator().manual_seed(2)).to_dict() == out.plan.to_dict()
    replay = mixer.apply(batch, out.plan)
    for field in ("x", "edge_index", "edge_weight"):
        assert torch.equal(replay[field], out.inputs[field])


def test_within_class_pairing_reads_batch_y() -> None:
    data = graphs([4] * 8, seed=7)
    batch = Batch.from_data_list(data)
    out = IfMixup(pairing="within-class", num_classes=C)(batch, generator=torch.Generator().manual_seed(0))
    assert torch.equal(batch.y[out.plan.index], batch.y)


# --------------------------------------------------------------------------------------------- labels
def test_soft_labels_are_mixed_with_the_graphs() -> None:
    g = torch.Generator().manual_seed(8)
    data = graphs(SIZES, seed=8)
    soft = torch.softmax(torch.randn(len(SIZES), C, generator=g), dim=1)
    for d, s in zip(data, soft, strict=True):
        d.y = s.view(1, C)  # the per-graph soft-label layout: (1, C), collated to (B, C)
    out = IfMixup(mode="sample", num_classes=C)(Batch.from_data_list(data), generator=torch.Generator().manual_seed(0))
    lam = out.plan.lam[:, None]
    torch.testing.assert_close(out.targets.dense(), lam * soft + (1 - lam) * soft[out.plan.index])  # type: ignore[union-attr]


def test_hard_labels_of_shape_b1_and_explicit_targets() -> None:
    data = graphs(SIZES, seed=9)
    for i, d in enumerate(data):
        d.y = torch.tensor([[i % C]])
    batch = Batch.from_data_list(data)
    assert batch.y.shape == (len(SIZES), 1)
    out = IfMixup(num_classes=C)(batch, generator=torch.Generator().manual_seed(0))
    lam = out.plan.lam[:, None]
    hard = torch.nn.functional.one_hot(batch.y.view(-1), C).float()
    torch.testing.assert_close(out.targets.dense(), lam * hard + (1 - lam) * hard[out.plan.index])  # type: ignore[union-attr]
    other = torch.arange(len(SIZES)) % 2
    out2 = IfMixup(num_classes=2)(batch, other, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out2.targets.targets, other)  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------------- with a GNN
def test_gcn_with_edge_weight_trains_on_the_output_and_gradients_reach_the_inputs() -> None:
    data = graphs(SIZES, seed=10, weighted=True)
    batch = Batch.from_data_list(data)
    batch.x.requires_grad_(True)
    batch.edge_weight.requires_grad_(True)
    out = IfMixup(mode="sample", num_classes=C)(batch, generator=torch.Generator().manual_seed(0))
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the layers' initial weights; the mix draws from its own generator
        conv, head = GCNConv(F, 8), torch.nn.Linear(8, C)
    mixed = out.inputs
    h = conv(mixed.x, mixed.edge_index, mixed.edge_weight).relu()
    logits = head(global_add_pool(h, mixed.batch, size=mixed.num_graphs))
    loss = soft_cross_entropy(logits, out.targets)
    loss.backward()
    assert torch.isfinite(loss)
    for grad in (batch.x.grad, batch.edge_weight.grad, conv.lin.weight.grad):
        assert grad is not None
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


def test_determinism_dtype_and_no_mutation() -> None:
    data = graphs(SIZES, seed=11, weighted=True)
    batch = Batch.from_data_list(data)
    batch.x = batch.x.double()
    batch.edge_weight = batch.edge_weight.double()
    before = {k: batch[k].clone() for k in ("x", "edge_index", "edge_weight", "y", "batch")}
    mixer = IfMixup(mode="sample", num_classes=C)
    a = mixer(batch, generator=torch.Generator().manual_seed(4))
    b = mixer(batch, generator=torch.Generator().manual_seed(4))
    c = mixer(batch, generator=torch.Generator().manual_seed(5))
    for field in ("x", "edge_index", "edge_weight"):
        assert torch.equal(a.inputs[field], b.inputs[field])
    assert a.plan.to_dict() == b.plan.to_dict()
    assert a.plan.to_dict() != c.plan.to_dict()
    assert a.inputs.x.dtype == torch.float64
    assert a.inputs.edge_weight.dtype == torch.float64
    for k, v in before.items():
        assert torch.equal(batch[k], v), k


def test_unweighted_edges_take_the_feature_dtype() -> None:
    data = graphs([3, 5], seed=12)
    batch = Batch.from_data_list(data)
    batch.x = batch.x.to(torch.bfloat16)
    out = IfMixup(num_classes=C)(batch, generator=torch.Generator().manual_seed(0))
    assert out.inputs.x.dtype == torch.bfloat16
    assert out.inputs.edge_weight.dtype == torch.bfloat16


def test_registry_and_config() -> None:
    mixer = create_mixer({"name": "graph:ifmixup", "alpha": 20, "beta": 1, "check_undirected": False})
    assert isinstance(mixer, IfMixup)
    assert to_config(mixer) == {"name": "graph:ifmixup", "alpha": 20.0, "beta": 1.0, "check_undirected": False}
    assert IfMixup.modality == "graph"
    assert "2110.09344" in IfMixup.paper


# --------------------------------------------------------------------------------------------- bad input
def test_batch_without_y_and_without_targets() -> None:
    data = graphs([3, 4])
    for d in data:
        del d.y
    with pytest.raises(ValueError, match=r"field y is missing.*targets=None"):
        IfMixup()(Batch.from_data_list(data))
    out = IfMixup(num_classes=2)(
        Batch.from_data_list(data), torch.tensor([0, 1]), generator=torch.Generator().manual_seed(0)
    )
    assert out.targets is not None


def test_mismatched_feature_widths_name_the_graph() -> None:
    data = graphs([3, 4, 5])
    data[2].x = torch.randn(5, F + 2)
    with pytest.raises(ValueError, match=r"graph 2.*field x has 5 features.*graph 0 has 3"):
        IfMixup()(data)


def test_edge_weight_of_the_wrong_shape() -> None:
    data = graphs([3, 4, 5], weighted=True)
    data[1].edge_weight = data[1].edge_weight[:-1]
    with pytest.raises(ValueError, match=r"graph 1.*edge_weight must have shape \(E,\)"):
        IfMixup()(data)
    batch = Batch.from_data_list(graphs([3, 4, 5], weighted=True))
    with pytest.raises(ValueError, match=r"edge_weight.*\(E,\).*graph 1 is the first"):
        # the same graph-level mistake, found in a collated batch through its slices
        IfMixup()(Batch.from_data_list(data))
    batch.edge_weight = batch.edge_weight[:, None]
    with pytest.raises(ValueError, match=r"edge_weight must have shape \(E,\).*graph 0"):
        IfMixup()(batch)


def test_directed_graphs_are_refused_with_their_index() -> None:
    data = graphs([4, 5, 6], seed=13, p=0.7)
    data[1].edge_index = data[1].edge_index[:, data[1].edge_index[0] < data[1].edge_index[1]]  # upper triangle only
    batch = Batch.from_data_list(data)
    with pytest.raises(ValueError, match=r"graph 1 is directed.*edge_index.*check_undirected=False"):
        IfMixup(num_classes=C)(batch, generator=torch.Generator().manual_seed(0))
    out = IfMixup(num_classes=C, check_undirected=False)(batch, generator=torch.Generator().manual_seed(0))
    assert out.inputs.num_graphs == 3
    # asymmetric weights are directed too
    data = graphs([4, 5], seed=14, weighted=True, p=0.9)
    data[0].edge_weight = torch.rand(data[0].edge_weight.shape, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="graph 0 is directed"):
        IfMixup(num_classes=C)(Batch.from_data_list(data))


def test_non_float_and_malformed_fields() -> None:
    data = graphs([3, 4])
    batch = Batch.from_data_list(data)
    batch.x = batch.x.long()
    with pytest.raises(TypeError, match=r"field x must be floating point.*int64"):
        IfMixup()(batch)
    data[0].x = data[0].x.long()
    with pytest.raises(TypeError, match=r"graph 0.*field x must be floating point"):
        IfMixup()(data)
    batch = Batch.from_data_list(graphs([3, 4], edge_dim=2))
    batch.edge_attr = batch.edge_attr.long()
    with pytest.raises(TypeError, match="edge_attr must be floating point"):
        IfMixup()(batch)
    batch = Batch.from_data_list(graphs([3, 4]))
    batch.y = torch.zeros(batch.num_nodes, dtype=torch.long)  # node-level labels
    with pytest.raises(ValueError, match=r"field y has shape \(7,\), but the batch has 2 graphs"):
        IfMixup()(batch)
    batch = Batch.from_data_list(graphs([3, 4], p=0.9))
    batch.edge_index = batch.edge_index.clone()
    batch.edge_index[0, 0] = 7
    with pytest.raises(ValueError, match=r"edge_index refers to node 7, but the batch has 7 nodes"):
        IfMixup()(batch)
    batch.edge_index[0, 0] = 4  # node 4 belongs to graph 1, its partner node to graph 0
    with pytest.raises(ValueError, match=r"edge_index: edge 0 joins node 4 of graph 1 to node \d+ of graph 0"):
        IfMixup(num_classes=C)(batch)
    with pytest.raises(TypeError, match="single graph"):
        IfMixup()(graphs([3])[0])
    with pytest.raises(ValueError, match="out is only supported"):
        IfMixup()(Batch.from_data_list(graphs([3, 4])), out=torch.empty(1))
    with pytest.raises(ValueError, match=r"\(B, N, N \+ F\).*\(2, 5, 3\)"):
        IfMixup()(torch.rand(2, 5, 3), torch.tensor([0, 1]), num_classes=2)
    with pytest.raises(ValueError, match="num_nodes"):
        from_dense_graph_tensor(torch.rand(2, 3, 5), torch.tensor([1, 4]))
    with pytest.raises(ValueError, match="plan is for a batch of 3"):
        IfMixup().apply(Batch.from_data_list(graphs([3, 4])), MixPlan.identity(3))


# --------------------------------------------------------------------------------------------- benchmark
def test_benchmark_runs_with_a_tiny_budget() -> None:
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_graph_batch.py"
    spec = importlib.util.spec_from_file_location("bench_graph_batch", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        results = module.run(rounds=1, warmup=0, num_graphs=6, min_nodes=5, max_nodes=9)
    finally:
        sys.modules.pop(spec.name, None)
    assert len(results) >= 3
    reference = next(iter(results.values()))
    assert reference["ratio"] == 1.0
    for numbers in results.values():
        assert numbers["median_ms"] > 0
        assert numbers["ratio_min"] <= numbers["ratio"] <= numbers["ratio_max"]
