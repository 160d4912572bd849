"""graph:embedding: conformance on (B, D) tensors, and Manifold Mixup at the readout of a tiny GIN."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GINConv, global_add_pool
from torch_geometric.nn.aggr import SumAggregation

from mixup_core import create_mixer, soft_cross_entropy
from mixup_core.testing import MixerConformanceTests
from mixup_graph import GraphEmbeddingMixup, find_readout

C = 3


class TestEmbeddingConformanceSampleMode(MixerConformanceTests):
    mixer_name = "graph:embedding"
    mixer_params = {"mode": "sample", "alpha": 0.4, "pairing": "within-class"}
    sample_shape = (5,)


def _mlp(i: int, o: int) -> nn.Module:
    return nn.Sequential(nn.Linear(i, o), nn.ReLU(), nn.Linear(o, o))


class TinyGIN(nn.Module):
    """Two GIN layers, sum readout (a module), linear head; called as ``model(batch)``."""

    def __init__(self, features: int = 4, hidden: int = 8) -> None:
        super().__init__()
        self.conv1 = GINConv(_mlp(features, hidden))
        self.conv2 = GINConv(_mlp(hidden, hidden))
        self.pool = SumAggregation()
        self.head = nn.Linear(hidden, C)

    def forward(self, data: Any) -> torch.Tensor:
        h = self.conv1(data.x, data.edge_index).relu()
        h = self.conv2(h, data.edge_index).relu()
        return self.head(self.pool(h, data.batch, dim_size=data.num_graphs))


class FunctionalGIN(nn.Module):
    """Pools with the function ``global_add_pool`` (nothing to hook), called as ``model(x, edge_index, batch)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = GINConv(_mlp(4, 8))
        self.head = nn.Linear(8, C)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        return self.head(global_add_pool(self.conv(x, edge_index).relu(), batch))


def make_graphs(sizes: tuple[int, ...] = (3, 5, 4, 7, 2, 6), seed: int = 0) -> list[Data]:
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for i, n in enumerate(sizes):
        ring = torch.arange(n)
        edge_index = torch.stack([torch.cat([ring, (ring + 1) % n]), torch.cat([(ring + 1) % n, ring])])
        graphs.append(Data(x=torch.randn(n, 4, generator=g), edge_index=edge_index, y=torch.tensor([i % C])))
    return graphs


@pytest.fixture
def model() -> TinyGIN:
    torch.manual_seed(0)
    return TinyGIN()


@pytest.fixture
def batch() -> Batch:
    return Batch.from_data_list(make_graphs())


def _capture(model: TinyGIN) -> tuple[dict[str, torch.Tensor], list[Any]]:
    """Record the readout's own output and what the head receives (registered before the mixer's hooks)."""
    seen: dict[str, torch.Tensor] = {}
    handles = [
        model.pool.register_forward_hook(lambda m, a, out: seen.__setitem__("pooled", out.detach().clone())),
        model.head.register_forward_pre_hook(lambda m, a: seen.__setitem__("head_in", a[0].detach().clone())),
    ]
    return seen, handles


def test_mixes_pooled_embeddings_with_the_plans_lambda(model: TinyGIN, batch: Batch) -> None:
    mixer = GraphEmbeddingMixup(mode="sample", num_classes=C)
    seen, handles = _capture(model)
    res = mixer.forward(model, batch, generator=torch.Generator().manual_seed(1))
    for h in handles:
        h.remove()
    e, plan = seen["pooled"], res.plan
    assert e.shape == (6, 8)
    assert res.layer == "pool"
    assert not plan.is_identity
    assert (plan.index != torch.arange(6)).all()
    lam = plan.lam[:, None]
    torch.testing.assert_close(seen["head_in"], lam * e + (1 - lam) * e[plan.index], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(res.output, model.head(seen["head_in"]), rtol=1e-6, atol=1e-6)
    # the labels follow the same λ and partners, and carry mass 1
    dense = res.targets.dense()
    onehot = F.one_hot(batch.y, C).float()
    torch.testing.assert_close(dense, lam * onehot + (1 - lam) * onehot[plan.index])
    torch.testing.assert_close(dense.sum(dim=1), torch.ones(6))


def test_gradients_reach_every_parameter(model: TinyGIN, batch: Batch) -> None:
    res = GraphEmbeddingMixup().forward(model, batch, generator=torch.Generator().manual_seed(0))
    soft_cross_entropy(res.output, res.targets).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_deterministic_under_a_generator(model: TinyGIN, batch: Batch) -> None:
    mixer = create_mixer({"name": "graph:embedding", "alpha": 0.5, "num_classes": C})
    a = mixer.forward(model, batch, generator=torch.Generator().manual_seed(42))
    b = mixer.forward(model, batch, generator=torch.Generator().manual_seed(42))
    torch.testing.assert_close(a.output, b.output, rtol=0, atol=0)
    assert a.plan.to_dict() == b.plan.to_dict()
    torch.testing.assert_close(a.targets.dense(), b.targets.dense(), rtol=0, atol=0)
    plans = {
        repr(mixer.forward(model, batch, generator=torch.Generator().manual_seed(s)).plan.to_dict()) for s in range(4)
    }
    assert len(plans) > 1


def test_default_readout_skips_the_aggregations_inside_message_passing(model: TinyGIN) -> None:
    # GINConv holds its own SumAggregation (aggr_module) over neighbours; it comes first in named_modules
    names = [n for n, m in model.named_modules() if isinstance(m, SumAggregation)]
    assert names[0] == "conv1.aggr_module"
    name, module = find_readout(model)
    assert name == "pool"
    assert module is model.pool


def test_no_readout_asks_for_at(batch: Batch) -> None:
    model = FunctionalGIN()
    with pytest.raises(ValueError, match=r"no readout found in FunctionalGIN.*at="):
        GraphEmbeddingMixup().forward(model, batch, model_args=("x", "edge_index", "batch"))


def test_head_input_with_functional_pooling(batch: Batch) -> None:
    torch.manual_seed(0)
    model = FunctionalGIN()
    mixer = GraphEmbeddingMixup(at="head", where="input", lam=0.7)
    res = mixer.forward(
        model, batch, generator=torch.Generator().manual_seed(0), model_args=("x", "edge_index", "batch")
    )
    e = global_add_pool(model.conv(batch.x, batch.edge_index).relu(), batch.batch)
    expected = model.head(0.7 * e + 0.3 * e[res.plan.index])
    torch.testing.assert_close(res.output, expected, rtol=1e-5, atol=1e-6)
    assert res.layer == "head"


def test_at_as_module_or_name_and_override(model: TinyGIN, batch: Batch) -> None:
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    by_default = GraphEmbeddingMixup().forward(model, batch, generator=g())
    by_module = GraphEmbeddingMixup().forward(model, batch, generator=g(), at=model.pool)
    by_name = GraphEmbeddingMixup(at="conv1").forward(model, batch, generator=g(), at="pool")  # call overrides
    for res in (by_module, by_name):
        assert res.layer == "pool"
        torch.testing.assert_close(res.output, by_default.output, rtol=0, atol=0)


def test_bad_sites_are_explained(model: TinyGIN, batch: Batch) -> None:
    with pytest.raises(ValueError, match=r"at='nope' is not a submodule of TinyGIN.*conv1"):
        GraphEmbeddingMixup(at="nope").forward(model, batch)
    # a node-level module: (N, D) rows, not one per graph
    with pytest.raises(ValueError, match=r"output of at='conv1' has shape \(27, 8\), but the batch has 6 graphs"):
        GraphEmbeddingMixup(at="conv1").forward(model, batch)
    with pytest.raises(ValueError, match="not a submodule"):
        GraphEmbeddingMixup().forward(model, batch, at=nn.Linear(8, 3))
    unused = TinyGIN()
    unused.spare = SumAggregation()
    with pytest.raises(ValueError, match=r"at='spare' was not called"):
        GraphEmbeddingMixup(at="spare").forward(unused, batch)
    with pytest.raises(ValueError, match="at must be"):
        GraphEmbeddingMixup(at=" ")
    with pytest.raises(TypeError, match="Batch"):
        GraphEmbeddingMixup().forward(model, batch.x)
    with pytest.raises(TypeError, match="model"):
        GraphEmbeddingMixup().forward(lambda b: b, batch)  # type: ignore[arg-type]


def test_targets_from_batch_soft_labels_and_overrides(model: TinyGIN, batch: Batch) -> None:
    soft = torch.softmax(torch.randn(6, C, generator=torch.Generator().manual_seed(0)), dim=1)
    batch_soft = batch.clone()
    batch_soft.y = soft
    res = GraphEmbeddingMixup(lam=0.6).forward(model, batch_soft, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(res.targets.dense(), 0.6 * soft + 0.4 * soft[res.plan.index])
    # explicit targets win over batch.y; bad ones are named
    res = GraphEmbeddingMixup(lam=0.6).forward(model, batch, torch.zeros(6, dtype=torch.long), num_classes=C)
    assert res.targets.dense()[:, 0].eq(1).all()
    with pytest.raises(ValueError, match=r"targets of integer dtype must be class indices of shape \(6,\)"):
        GraphEmbeddingMixup().forward(model, batch, torch.zeros(5, dtype=torch.long))
    bad = batch.clone()
    bad.y = torch.tensor([0, 1, 2, 7, 0, 1])
    with pytest.raises(ValueError, match=r"batch.y\[3\] = 7 \(graph 3\)"):
        GraphEmbeddingMixup(num_classes=C).forward(model, bad)
    unlabelled = batch.clone()
    del unlabelled.y
    assert GraphEmbeddingMixup().forward(model, unlabelled).targets is None


def test_single_graph_and_disabled_leave_the_model_unchanged(model: TinyGIN, batch: Batch) -> None:
    one = Batch.from_data_list(make_graphs((4,)))
    res = GraphEmbeddingMixup().forward(model, one, generator=torch.Generator().manual_seed(0))
    assert res.plan.is_identity
    torch.testing.assert_close(res.output, model(one), rtol=0, atol=0)
    off = GraphEmbeddingMixup(enabled=False).forward(model, batch, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(off.output, model(batch), rtol=0, atol=0)


def test_protected_graphs_keep_the_majority_share(model: TinyGIN, batch: Batch) -> None:
    protected = torch.tensor([True, False, False, False, False, False])
    for seed in range(5):
        res = GraphEmbeddingMixup(mode="sample", alpha=0.3).forward(
            model, batch, generator=torch.Generator().manual_seed(seed), protected=protected
        )
        weights = res.targets.dense(C)
        assert weights[0, batch.y[0]] >= 0.5 - 1e-6
        partner_of_0 = res.plan.index == 0
        assert (res.plan.lam[partner_of_0 & (torch.arange(6) != 0)] <= 0.5 + 1e-6).all()
