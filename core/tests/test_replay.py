"""Plans: frozen, sample-then-apply, replay at a hidden layer (Manifold Mixup), composites, in-place and out=."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from mixup_core import (
    Choice,
    ChoicePlan,
    MixedForward,
    MixPlan,
    Mixup,
    create_mixer,
    forward_mixed,
    replay_at,
    soft_cross_entropy,
)


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_model() -> nn.Sequential:
    torch.manual_seed(0)  # parameters only; every draw of a mix uses an explicit generator
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def mix(h: torch.Tensor, plan: MixPlan) -> torch.Tensor:
    lam = plan.lam.to(h.dtype).view(-1, *([1] * (h.ndim - 1)))
    return lam * h + (1 - lam) * h[plan.index]


# ------------------------------------------------------------------------------------------ plans


def test_plan_is_frozen_and_validated() -> None:
    plan = MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.7, 0.7]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.lam = torch.tensor([0.1, 0.1])  # type: ignore[misc]
    assert plan.batch_size == 2
    assert plan.scalar_lam == pytest.approx(0.7)
    assert plan.partner_indices().tolist() == [[0, 1], [1, 0]]
    torch.testing.assert_close(plan.weights(), torch.tensor([[0.7, 0.3], [0.7, 0.3]]))
    assert plan.to_dict()["index"] == [1, 0]
    assert MixPlan.identity(3).is_identity
    with pytest.raises(TypeError, match="index"):
        MixPlan(index=torch.tensor([1.0, 0.0]), lam=torch.tensor([0.5, 0.5]))
    with pytest.raises(TypeError, match="lam"):
        MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([1, 0]))
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.5, 0.5, 0.5]))


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_sample_then_apply_is_pure(mode: str) -> None:
    mixer = Mixup(alpha=0.4, mode=mode, num_classes=4)
    x, y = torch.randn(6, 3, 4, generator=g(0)), torch.tensor([0, 1, 2, 3, 0, 1])
    x0 = x.clone()
    plan = mixer.sample(x, y, generator=g(1))
    torch.testing.assert_close(x, x0, rtol=0, atol=0)
    first = mixer.apply(x, plan)
    second = mixer.apply(x, plan)
    torch.testing.assert_close(x, x0, rtol=0, atol=0)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(first, mix(x, plan))
    # the call draws the same plan from the same seed
    out = mixer(x, y, generator=g(1))
    assert out.plan.to_dict() == plan.to_dict()
    torch.testing.assert_close(out.inputs, first, rtol=0, atol=0)
    # the same plan mixes another tensor (a second view) with the same pairs and λ
    view = torch.randn(6, 7, generator=g(2))
    torch.testing.assert_close(mixer.apply(view, plan), mix(view, plan))
    torch.testing.assert_close(mixer.mix_targets(y, plan).dense(), out.targets.dense(), rtol=0, atol=0)


def test_apply_checks_the_plan() -> None:
    mixer = Mixup()
    with pytest.raises(ValueError, match=r"plan is for a batch of 3.*\(4, 2\)"):
        mixer.apply(torch.randn(4, 2), MixPlan.identity(3))
    with pytest.raises(TypeError, match="plan"):
        mixer.apply(torch.randn(4, 2), {"index": [0, 1, 2, 3]})  # type: ignore[arg-type]


# ------------------------------------------------------------------------- replay at a hidden layer


@pytest.mark.parametrize(("layer", "split"), [("1", 2), ("3", 4)])
@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_manifold_mixup_equals_manual_computation(layer: str, split: int, mode: str) -> None:
    model = make_model()
    x = torch.randn(6, 5, generator=g(0), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    mixer = Mixup(alpha=0.5, mode=mode, num_classes=3)
    res = forward_mixed(model, x, y, mixer=mixer, layers=layer, generator=g(1))
    assert isinstance(res, MixedForward)
    assert res.layer == layer
    plan = res.plan
    assert not plan.is_identity
    # by hand: both halves of each pair run separately to the layer, are mixed there, and go on
    head, tail = model[:split], model[split:]
    with torch.no_grad():
        h_anchor = head(x)
        h_partner = head(x[plan.index])
        lam = plan.lam.to(torch.float64)[:, None]
        expected = tail(lam * h_anchor + (1 - lam) * h_partner)
    torch.testing.assert_close(res.output, expected)
    # the plan is the one the mixer samples from the generator state after the layer draw
    torch.testing.assert_close(res.targets.dense(), mixer.mix_targets(y, plan).dense(), rtol=0, atol=0)
    lam_t = plan.lam[:, None]
    one_hot = torch.nn.functional.one_hot(y, 3).float()
    torch.testing.assert_close(res.targets.dense(), lam_t * one_hot + (1 - lam_t) * one_hot[plan.index])
    # and it trains: the loss has gradients for every parameter
    soft_cross_entropy(res.output, res.targets).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_forward_mixed_draws_a_layer_and_is_deterministic() -> None:
    model = make_model()
    x = torch.randn(5, 5, generator=g(0), dtype=torch.float64)
    mixer = Mixup()
    layers = {forward_mixed(model, x, mixer=mixer, layers=["0", "2", "4"], generator=g(s)).layer for s in range(30)}
    assert layers == {"0", "2", "4"}
    a = forward_mixed(model, x, mixer=mixer, layers=["0", "2"], generator=g(3))
    b = forward_mixed(model, x, mixer=mixer, layers=["0", "2"], generator=g(3))
    assert a.layer == b.layer
    assert a.plan.to_dict() == b.plan.to_dict()
    torch.testing.assert_close(a.output, b.output, rtol=0, atol=0)
    assert a.targets is None


def test_forward_mixed_without_layers_mixes_the_inputs() -> None:
    model = make_model()
    x = torch.randn(5, 5, generator=g(0), dtype=torch.float64)
    res = forward_mixed(model, x, mixer=Mixup(), generator=g(1))
    assert res.layer == ""
    with torch.no_grad():
        torch.testing.assert_close(res.output, model(mix(x, res.plan)))


def test_forward_mixed_with_a_module_and_at_its_input() -> None:
    model = make_model()
    x = torch.randn(5, 5, generator=g(0), dtype=torch.float64)
    res = forward_mixed(model, x, mixer=Mixup(), layers=model[2], where="input", generator=g(1))
    assert res.layer == "2"
    with torch.no_grad():
        torch.testing.assert_close(res.output, model[2:](mix(model[:2](x), res.plan)))


def test_replay_at_mixes_only_inside_the_block() -> None:
    model = make_model()
    x = torch.randn(4, 5, generator=g(0), dtype=torch.float64)
    mixer = Mixup(mode="sample")
    plan = mixer.sample(x, generator=g(1))
    with torch.no_grad():
        plain = model(x)
        with replay_at(model[1], mixer, plan):
            mixed = model(x)
        after = model(x)
        torch.testing.assert_close(mixed, model[2:](mix(model[:2](x), plan)))
    torch.testing.assert_close(after, plain, rtol=0, atol=0)
    assert not torch.allclose(mixed, plain)
    with pytest.raises(ValueError, match="where"), replay_at(model[1], mixer, plan, where="middle"):  # type: ignore[arg-type]
        pass


def test_replay_at_mixes_the_first_item_of_a_tuple() -> None:
    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x * 2, x

    module = Pair()
    x = torch.randn(4, 3, generator=g(0))
    mixer = Mixup()
    plan = mixer.sample(x, generator=g(1))
    with replay_at(module, mixer, plan):
        first, second = module(x)
    torch.testing.assert_close(first, mix(x * 2, plan))
    torch.testing.assert_close(second, x, rtol=0, atol=0)


# ------------------------------------------------------------------------------------- composites


def test_choice_with_nested_composites() -> None:
    spec = {
        "name": "choice",
        "weights": [1, 1],
        "num_classes": 4,
        "mixers": [
            {"name": "mixup", "lam": 0.9},
            {"name": "core:choice", "mixers": [{"name": "mixup", "lam": 0.2}, {"name": "mixup", "lam": 0.4}]},
        ],
    }
    mixer = create_mixer(spec)
    assert isinstance(mixer, Choice)
    assert isinstance(mixer.mixers[1], Choice)
    x, y = torch.randn(6, 3, generator=g(0)), torch.tensor([0, 1, 2, 3, 0, 1])
    seen = set()
    for seed in range(30):
        out = mixer(x, y, generator=g(seed))
        plan = out.plan
        assert isinstance(plan, ChoicePlan)
        lam = float(plan.lam[0])
        if plan.choice == 0:
            assert lam == pytest.approx(0.9)
        else:
            assert isinstance(plan.inner, ChoicePlan)
            assert lam == pytest.approx((0.2, 0.4)[plan.inner.choice])
        seen.add(round(lam, 3))
        torch.testing.assert_close(out.inputs, mix(x, plan))
        torch.testing.assert_close(mixer.apply(x, plan), out.inputs, rtol=0, atol=0)
        lam_t = plan.lam[:, None]
        one_hot = torch.nn.functional.one_hot(y, 4).float()
        torch.testing.assert_close(out.targets.dense(), lam_t * one_hot + (1 - lam_t) * one_hot[plan.index])
    assert seen == {0.9, 0.2, 0.4}


def test_choice_weights() -> None:
    mixer = Choice(mixers=[Mixup(), Mixup(alpha=0.2)], weights=[0.0, 1.0])
    x = torch.randn(4, 3, generator=g(0))
    assert {mixer.sample(x, generator=g(s)).choice for s in range(20)} == {1}  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------- in place and out=


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_inplace_modifies_the_input_and_matches_out_of_place(mode: str) -> None:
    x = torch.randn(6, 3, 4, 4, generator=g(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    reference = Mixup(mode=mode, num_classes=3)(x, y, generator=g(1))
    buffer = x.clone()
    out = Mixup(mode=mode, num_classes=3, inplace=True)(buffer, y, generator=g(1))
    assert out.inputs.data_ptr() == buffer.data_ptr()
    torch.testing.assert_close(buffer, reference.inputs)
    torch.testing.assert_close(out.inputs, reference.inputs)
    assert not torch.allclose(buffer, x)
    torch.testing.assert_close(out.targets.dense(), reference.targets.dense())
    # out of place leaves the input alone
    assert reference.inputs.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_out_buffer_receives_the_result(mode: str) -> None:
    x = torch.randn(5, 3, 2, 2, generator=g(0))
    x0 = x.clone()
    reference = Mixup(mode=mode)(x, generator=g(1))
    buffer = torch.full_like(x, float("nan"))
    out = Mixup(mode=mode)(x, generator=g(1), out=buffer)
    assert out.inputs is buffer
    torch.testing.assert_close(buffer, reference.inputs)
    torch.testing.assert_close(x, x0, rtol=0, atol=0)
    # an identity plan copies the inputs into the buffer
    buffer = torch.full_like(x, float("nan"))
    off = Mixup(enabled=False)(x, generator=g(1), out=buffer)
    assert off.inputs is buffer
    torch.testing.assert_close(buffer, x, rtol=0, atol=0)
    # apply(out=) too
    buffer = torch.empty_like(x)
    assert Mixup(mode=mode).apply(x, reference.plan, out=buffer) is buffer
    torch.testing.assert_close(buffer, reference.inputs)


def test_out_buffer_must_match() -> None:
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"out must match.*shape \(4, 2\)"):
        Mixup()(x, generator=g(0), out=torch.empty(4, 2))
    with pytest.raises(ValueError, match=r"out must match.*torch\.float64"):
        Mixup()(x, generator=g(0), out=torch.empty(4, 3, dtype=torch.float64))


def test_forward_mixed_passes_protection_and_groups() -> None:
    import torch
    from torch import nn

    from mixup_core import create_mixer, forward_mixed

    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3))
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    mixer = create_mixer({"name": "mixup", "pairing": "within-group", "protect": "exclude"})
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    protected = torch.tensor([True, False, False, False, False, False])
    res = forward_mixed(net, x, y, mixer=mixer, layers="0", num_classes=3, protected=protected, groups=groups,
                        generator=torch.Generator().manual_seed(0))
    index = res.plan.index
    assert index[0] == 0  # protected: unmixed
    assert float(res.plan.lam[0]) == 1.0
    assert (groups[index] == groups).all()  # partners share the group
    assert not (index[1:] == 0).any()  # the protected sample is never a partner
