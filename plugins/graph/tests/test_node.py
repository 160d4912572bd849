"""graph:node: conformance on (N, F) tensors, labelled-node mixing on Zachary's karate club, forward on a GCN."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.datasets import KarateClub
from torch_geometric.nn import GCNConv

from mixup_core import MixPlan, create_mixer, soft_cross_entropy
from mixup_core.testing import MixerConformanceTests
from mixup_graph import NodeFeatureMixup, NodePlan

C = 4  # karate club communities


class TestNodeConformanceSampleMode(MixerConformanceTests):
    mixer_name = "graph:node"
    mixer_params = {"mode": "sample", "alpha": 0.4}
    sample_shape = (3,)


@pytest.fixture(scope="module")
def karate() -> Any:
    data = KarateClub()[0]  # built into PyG: 34 nodes, one-hot identity features, 4 classes
    assert data.x.shape == (34, 34)
    return data


def labelled_mask(n: int = 34, k: int = 20, seed: int = 0) -> torch.Tensor:
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]] = True
    return mask


def test_unlabelled_nodes_stay_and_labelled_nodes_mix_with_lambda(karate: Any) -> None:
    x, y, mask = karate.x, karate.y, labelled_mask()
    out = NodeFeatureMixup(num_classes=C)(x, y, mask=mask, generator=torch.Generator().manual_seed(0))
    plan = out.plan
    assert isinstance(plan, NodePlan)
    assert torch.equal(plan.mask, mask)
    # unlabelled nodes: never anchors (λ = 1, self) and never partners, features bit-identical
    assert torch.equal(out.inputs[~mask], x[~mask])
    assert (plan.index[~mask] == torch.arange(34)[~mask]).all()
    assert (plan.lam[~mask] == 1).all()
    assert mask[plan.index[mask]].all()
    assert (plan.index[mask] != torch.arange(34)[mask]).all()  # a fixed-point-free permutation of the labelled nodes
    # batch mode: one λ for every labelled node; x̃_i = λ·x_i + (1 − λ)·x_j read off the identity features
    lam = plan.lam[mask]
    assert (lam == lam[0]).all()
    assert 0 < float(lam[0]) < 1
    idx = mask.nonzero().squeeze(1)
    rows = out.inputs[idx]
    torch.testing.assert_close(rows[torch.arange(20), idx], lam)
    torch.testing.assert_close(rows[torch.arange(20), plan.index[idx]], 1 - lam)
    torch.testing.assert_close(rows.sum(dim=1), torch.ones(20))


def test_targets_cover_the_labelled_nodes_with_unit_mass(karate: Any) -> None:
    x, y, mask = karate.x, karate.y, labelled_mask()
    out = NodeFeatureMixup(mode="sample", num_classes=C)(x, y, mask=mask, generator=torch.Generator().manual_seed(1))
    dense = out.targets.dense()
    assert dense.shape == (20, C)
    torch.testing.assert_close(dense.sum(dim=1), torch.ones(20))
    idx = mask.nonzero().squeeze(1)
    lam = out.plan.lam[idx][:, None]
    expected = lam * F.one_hot(y[idx], C) + (1 - lam) * F.one_hot(y[out.plan.index[idx]], C)
    torch.testing.assert_close(dense, expected)
    # label weights equal the feature shares (identity features mark the sources)
    shares = out.inputs[idx] @ F.one_hot(y, C).float()
    torch.testing.assert_close(dense, shares)
    # the loss is taken on the labelled rows: soft_cross_entropy(logits[mask], targets)
    logits = torch.randn(34, C)
    assert torch.isfinite(soft_cross_entropy(logits[mask], out.targets))


def test_within_class_partners_share_the_class(karate: Any) -> None:
    x, y = karate.x, karate.y
    mask = labelled_mask(k=24, seed=2)
    mixer = NodeFeatureMixup(pairing="within-class", num_classes=C)
    for seed in range(4):
        plan = mixer(x, y, mask=mask, generator=torch.Generator().manual_seed(seed)).plan
        assert torch.equal(y[plan.index], y)
        assert mask[plan.index[mask]].all()
        # every labelled node whose class has another labelled node gets a real partner
        counts = torch.bincount(y[mask], minlength=C)
        has_mate = mask & (counts[y] >= 2)
        assert (plan.index[has_mate] != torch.arange(34)[has_mate]).all()


def test_unlabelled_labels_are_never_read(karate: Any) -> None:
    mask = labelled_mask()
    y = karate.y.masked_fill(~mask, -1)
    out = NodeFeatureMixup(num_classes=C)(karate.x, y, mask=mask, generator=torch.Generator().manual_seed(0))
    assert out.targets.dense().shape == (20, C)
    i = int(mask.nonzero()[3])
    bad = y.clone()
    bad[i] = 9
    with pytest.raises(ValueError, match=rf"targets\[{i}\] = 9 \(labelled node {i}\)"):
        NodeFeatureMixup(num_classes=C)(karate.x, bad, mask=mask)


def test_deterministic_under_a_generator(karate: Any) -> None:
    mixer = create_mixer({"name": "graph:node", "mode": "sample", "num_classes": C})
    mask = labelled_mask()
    a = mixer(karate.x, karate.y, mask=mask, generator=torch.Generator().manual_seed(5))
    b = mixer(karate.x, karate.y, mask=mask, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.inputs, b.inputs)
    assert a.plan.to_dict() == b.plan.to_dict()
    assert torch.equal(a.targets.dense(), b.targets.dense())
    replay = mixer.sample(karate.x, karate.y, mask=mask, generator=torch.Generator().manual_seed(5))
    assert replay.to_dict() == a.plan.to_dict()
    assert torch.equal(mixer.apply(karate.x, replay), a.inputs)


def test_too_few_labelled_nodes_and_protection(karate: Any) -> None:
    x, y = karate.x, karate.y
    one = torch.zeros(34, dtype=torch.bool)
    one[3] = True
    out = NodeFeatureMixup()(x, y, mask=one, generator=torch.Generator().manual_seed(0), num_classes=C)
    assert out.plan.is_identity
    assert torch.equal(out.inputs, x)
    assert out.targets.dense().shape == (1, C)
    none = NodeFeatureMixup()(x, y, mask=torch.zeros(34, dtype=torch.bool), num_classes=C)
    assert len(none.targets) == 0
    mask = labelled_mask()
    protected = mask & (torch.arange(34) % 2 == 0)
    out = NodeFeatureMixup(protect="exclude")(
        x, y, mask=mask, protected=protected, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(out.inputs[protected], x[protected])
    assert not protected[out.plan.index[mask & ~protected]].any()


def test_bad_inputs_are_named(karate: Any) -> None:
    x, y = karate.x, karate.y
    with pytest.raises(ValueError, match=r"mask must be a boolean tensor of shape \(34,\).*index_fill_"):
        NodeFeatureMixup()(x, y, mask=torch.tensor([0, 1, 2]))
    with pytest.raises(
        ValueError, match=r"mask must be a boolean tensor of shape \(34,\), one entry per node, got shape \(33,\)"
    ):
        NodeFeatureMixup()(x, y, mask=torch.ones(33, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"node features of shape \(N, F\), got inputs.shape=\(34, 2, 17\)"):
        NodeFeatureMixup()(x.view(34, 2, 17), y)
    with pytest.raises(ValueError, match=r"targets must have one row per node \(34\).*\(30,\)"):
        NodeFeatureMixup()(x, y[:30])
    with pytest.raises(ValueError, match="needs targets"):
        NodeFeatureMixup(pairing="within-class")(x, mask=labelled_mask())
    with pytest.raises(ValueError, match="groups must be an integer tensor"):
        NodeFeatureMixup(pairing="within-group")(x, y, groups=torch.zeros(34))


class GCN(nn.Module):
    def __init__(self, features: int = 34, hidden: int = 8) -> None:
        super().__init__()
        self.conv1 = GCNConv(features, hidden)
        self.conv2 = GCNConv(hidden, C)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


def test_forward_mixes_the_input_features(karate: Any) -> None:
    torch.manual_seed(0)
    model = GCN()
    mask = labelled_mask()
    x0 = karate.x.clone()
    seen: dict[str, torch.Tensor] = {}
    handle = model.conv1.register_forward_pre_hook(lambda m, a: seen.__setitem__("x", a[0].detach().clone()))
    res = NodeFeatureMixup().forward(
        model, karate, mask=mask, generator=torch.Generator().manual_seed(0), model_args=("x", "edge_index")
    )
    handle.remove()
    assert torch.equal(karate.x, x0), "data must not be modified"
    assert res.layer == ""
    torch.testing.assert_close(seen["x"], NodeFeatureMixup().apply(karate.x, res.plan), rtol=0, atol=0)
    assert torch.equal(seen["x"][~mask], karate.x[~mask])
    assert not torch.equal(seen["x"][mask], karate.x[mask])
    assert res.output.shape == (34, C)
    loss = soft_cross_entropy(res.output[mask], res.targets)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_forward_mixes_a_hidden_layer(karate: Any) -> None:
    torch.manual_seed(0)
    model = GCN()
    mask = labelled_mask()
    seen: dict[str, torch.Tensor] = {}
    h1 = model.conv1.register_forward_hook(lambda m, a, out: seen.__setitem__("raw", out.detach().clone()))
    h2 = model.conv2.register_forward_pre_hook(lambda m, a: seen.__setitem__("mixed", a[0].detach().clone()))
    res = NodeFeatureMixup(mode="sample", at="conv1").forward(
        model, karate, mask=mask, generator=torch.Generator().manual_seed(3), model_args=("x", "edge_index")
    )
    h1.remove()
    h2.remove()
    assert res.layer == "conv1"
    raw, plan = seen["raw"], res.plan
    lam = plan.lam[:, None]
    torch.testing.assert_close(seen["mixed"], (lam * raw + (1 - lam) * raw[plan.index]).relu(), rtol=1e-6, atol=1e-6)
    assert torch.equal(seen["mixed"][~mask], raw[~mask].relu())
    # explicit None mixes every node; a module that is not per node is refused
    every = NodeFeatureMixup().forward(
        model, karate, mask=None, generator=torch.Generator().manual_seed(0), model_args=("x", "edge_index")
    )
    assert len(every.targets) == 34
    with pytest.raises(ValueError, match="not a submodule"):
        NodeFeatureMixup(at="conv3").forward(model, karate, mask=mask, model_args=("x", "edge_index"))


def test_plain_mixplan_targets_cover_all_nodes() -> None:
    mixer = NodeFeatureMixup(num_classes=3)
    plan = MixPlan(index=torch.tensor([1, 0, 2]), lam=torch.tensor([0.25, 0.25, 1.0]))
    dense = mixer.mix_targets(torch.tensor([0, 1, 2]), plan).dense()
    torch.testing.assert_close(dense, torch.tensor([[0.25, 0.75, 0.0], [0.75, 0.25, 0.0], [0.0, 0.0, 1.0]]))
