"""Targets of a mixer call (class indices, one-hot/soft, multi-hot linear/union), MixedTargets, losses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mixup_core import (
    ConfigError,
    MixedBatch,
    MixedTargets,
    MixPlan,
    Mixup,
    create_mixer,
    mixed_binary_cross_entropy,
    mixed_cross_entropy,
    smooth_targets,
    soft_cross_entropy,
)


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def expected_mix(x: torch.Tensor, plan: MixPlan) -> torch.Tensor:
    """λ·x + (1 − λ)·x[index], computed independently of the mixer."""
    lam = plan.lam.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return lam * x + (1 - lam) * x[plan.index]


# ---------------------------------------------------------------------------------------- the call


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_call_mixes_inputs_and_class_index_targets(mode: str) -> None:
    x = torch.randn(8, 3, 4, 4, generator=g(0))
    y = torch.randint(0, 5, (8,), generator=g(1))
    out = Mixup(alpha=0.4, mode=mode, num_classes=5)(x, y, generator=g(2))
    assert isinstance(out, MixedBatch)
    assert isinstance(out.targets, MixedTargets)
    assert isinstance(out.plan, MixPlan)
    plan = out.plan
    assert not plan.is_identity
    torch.testing.assert_close(out.inputs, expected_mix(x, plan))
    lam = plan.lam[:, None]
    expected = lam * F.one_hot(y, 5).float() + (1 - lam) * F.one_hot(y[plan.index], 5).float()
    dense = out.targets.dense()
    torch.testing.assert_close(dense, expected)
    torch.testing.assert_close(dense.sum(dim=1), torch.ones(8))
    if mode == "batch":
        assert plan.scalar_lam is not None
    else:
        assert len(set(plan.lam.tolist())) > 1


def test_num_classes_at_construction_or_in_call_or_in_dense() -> None:
    x, y = torch.randn(6, 4, generator=g(0)), torch.tensor([0, 1, 2, 3, 4, 5])
    built = Mixup(num_classes=7)(x, y, generator=g(3))
    called = Mixup()(x, y, generator=g(3), num_classes=7)
    torch.testing.assert_close(built.inputs, called.inputs, rtol=0, atol=0)
    assert built.targets.dense().shape == (6, 7)
    torch.testing.assert_close(built.targets.dense(), called.targets.dense(), rtol=0, atol=0)
    # a call-time value overrides the constructor's; dense(num_classes) overrides both
    assert Mixup(num_classes=7)(x, y, generator=g(3), num_classes=9).targets.dense().shape == (6, 9)
    assert called.targets.dense(11).shape == (6, 11)
    without = Mixup()(x, y, generator=g(3))
    with pytest.raises(ValueError, match="num_classes"):
        without.targets.dense()
    torch.testing.assert_close(without.targets.dense(7), built.targets.dense())


def test_targets_none_mixes_inputs_only() -> None:
    x = torch.randn(4, 3, generator=g(0))
    out = Mixup()(x, generator=g(1))
    assert out.targets is None
    torch.testing.assert_close(out.inputs, expected_mix(x, out.plan))


def test_one_hot_and_soft_targets_keep_their_shape_and_row_sums() -> None:
    x = torch.randn(6, 5, generator=g(0))
    soft = torch.softmax(torch.randn(6, 4, generator=g(1)), dim=1)
    out = Mixup(mode="sample")(x, soft, generator=g(2))
    dense = out.targets.dense()
    assert dense.shape == (6, 4)
    lam = out.plan.lam[:, None]
    torch.testing.assert_close(dense, lam * soft + (1 - lam) * soft[out.plan.index])
    torch.testing.assert_close(dense.sum(dim=1), torch.ones(6))
    one_hot = F.one_hot(torch.tensor([0, 1, 2, 3, 0, 1]), 4).float()
    out = Mixup(mode="sample")(x, one_hot, generator=g(2))
    torch.testing.assert_close(out.targets.dense().sum(dim=1), torch.ones(6))


def test_dense_rows_sum_as_input_rows_did() -> None:
    """Linear label mixing sums row sums with the same weights (multi-hot rows of different sizes)."""
    x = torch.randn(6, 3, generator=g(0))
    multi = torch.tensor(
        [[1, 1, 0, 0], [0, 0, 0, 1], [1, 1, 1, 0], [0, 1, 0, 0], [1, 0, 0, 1], [1, 1, 1, 1]], dtype=torch.float32
    )
    out = Mixup(mode="sample", label_mix="linear")(x, multi, generator=g(4))
    rows = multi.sum(dim=1)
    lam = out.plan.lam
    torch.testing.assert_close(out.targets.dense().sum(dim=1), lam * rows + (1 - lam) * rows[out.plan.index])


def test_multi_hot_union_is_the_element_wise_max() -> None:
    x = torch.randn(6, 3, generator=g(0))
    multi = (torch.rand(6, 5, generator=g(1)) > 0.5).float()
    out = Mixup(lam=0.7, label_mix="union")(x, multi, generator=g(2))
    assert out.targets.label_mix == "union"
    torch.testing.assert_close(out.targets.dense(), torch.maximum(multi, multi[out.plan.index]))
    # inputs are still mixed linearly
    torch.testing.assert_close(out.inputs, 0.7 * x + 0.3 * x[out.plan.index])
    # an unmixed sample (λ = 1) keeps exactly its own labels
    kept = Mixup(lam=1.0, label_mix="union")(x, multi, generator=g(2))
    torch.testing.assert_close(kept.targets.dense(), multi)
    # booleans are multi-hot targets
    booleans = Mixup(lam=0.7, label_mix="union")(x, multi.bool(), generator=g(2))
    torch.testing.assert_close(booleans.targets.dense(), out.targets.dense())


def test_union_of_class_indices_is_multi_hot() -> None:
    x, y = torch.randn(4, 3, generator=g(0)), torch.tensor([0, 1, 2, 3])
    out = Mixup(lam=0.6, label_mix="union", num_classes=4)(x, y, generator=g(1))
    dense = out.targets.dense()
    expected = torch.maximum(F.one_hot(y, 4), F.one_hot(y[out.plan.index], 4)).float()
    torch.testing.assert_close(dense, expected)
    assert bool((dense.sum(dim=1) == 2).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_inputs_keep_shape_dtype_device(dtype: torch.dtype) -> None:
    x = torch.randn(5, 3, 4, 4, generator=g(0)).to(dtype)
    out = Mixup(num_classes=3)(x, torch.tensor([0, 1, 2, 0, 1]), generator=g(1))
    assert out.inputs.shape == x.shape
    assert out.inputs.dtype == dtype
    assert out.inputs.device == x.device
    torch.testing.assert_close(out.inputs, expected_mix(x, out.plan), atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("mode", ["batch", "sample"])
@pytest.mark.parametrize("inplace", [False, True])
def test_inputs_keep_channels_last(mode: str, inplace: bool) -> None:
    x = torch.randn(4, 3, 5, 5, generator=g(0)).contiguous(memory_format=torch.channels_last)
    reference = expected_mix(x.contiguous(), Mixup(mode=mode).sample(x, generator=g(1)))
    out = Mixup(mode=mode, inplace=inplace)(x, generator=g(1))
    assert out.inputs.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out.inputs, reference)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_inputs_stay_on_cuda() -> None:  # pragma: no cover - runs on GPU machines only
    x = torch.randn(4, 3, 5, 5, generator=g(0))
    y = torch.tensor([0, 1, 2, 1])
    cpu = Mixup(num_classes=3, mode="sample")(x, y, generator=g(1))
    out = Mixup(num_classes=3, mode="sample")(x.cuda(), y.cuda(), generator=g(1))
    assert out.inputs.device.type == "cuda"
    assert out.targets.dense().device.type == "cuda"
    torch.testing.assert_close(out.inputs.cpu(), cpu.inputs)
    torch.testing.assert_close(out.targets.dense().cpu(), cpu.targets.dense())


# ---------------------------------------------------------------------------------- MixedTargets


def test_mixed_targets_accessors() -> None:
    y = torch.tensor([0, 2, 1])
    plan = MixPlan(index=torch.tensor([1, 2, 0]), lam=torch.tensor([0.75, 0.75, 0.75]))
    mt = MixedTargets.from_plan(y, plan, num_classes=3)
    assert len(mt) == 3
    assert mt.is_index
    torch.testing.assert_close(mt.lam, torch.full((3,), 0.75))
    assert torch.equal(mt.y_a, y)
    assert torch.equal(mt.y_b, torch.tensor([2, 1, 0]))
    torch.testing.assert_close(mt.dense(), torch.tensor([[0.75, 0.0, 0.25], [0.0, 0.25, 0.75], [0.25, 0.75, 0.0]]))
    swapped = mt.with_weights(torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]]))
    torch.testing.assert_close(swapped.dense(), torch.tensor([[0.5, 0.0, 0.5], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"weights must have shape \(3, 2\)"):
        mt.with_weights(torch.ones(3))


def test_dense_dtype_option() -> None:
    mt = MixedTargets.from_plan(torch.tensor([0, 1]), MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.5, 0.5])))
    assert mt.dense(2, dtype=torch.float64).dtype == torch.float64


# ---------------------------------------------------------------------------------------- losses


def _ce(logits: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets, written out with exp and log."""
    log_z = torch.log(torch.exp(logits.double()).sum(dim=1, keepdim=True))
    return -(probs.double() * (logits.double() - log_z)).sum(dim=1)


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_soft_cross_entropy_equals_two_term_form(mode: str) -> None:
    x, y = torch.randn(8, 6, generator=g(0)), torch.randint(0, 10, (8,), generator=g(1))
    out = Mixup(alpha=0.5, mode=mode, num_classes=10)(x, y, generator=g(2))
    logits = torch.randn(8, 10, generator=g(3))
    soft = soft_cross_entropy(logits, out.targets)
    two_term = mixed_cross_entropy(logits, out.targets)
    lam = out.plan.lam
    by_hand = (
        lam * F.cross_entropy(logits, y, reduction="none")
        + (1 - lam) * F.cross_entropy(logits, y[out.plan.index], reduction="none")
    ).mean()
    torch.testing.assert_close(soft, two_term)
    torch.testing.assert_close(soft, by_hand)
    torch.testing.assert_close(soft, _ce(logits, out.targets.dense()).mean().float())
    # per-sample and summed reductions agree too
    torch.testing.assert_close(
        soft_cross_entropy(logits, out.targets, reduction="none"),
        mixed_cross_entropy(logits, out.targets, reduction="none"),
    )
    torch.testing.assert_close(
        soft_cross_entropy(logits, out.targets, reduction="sum"),
        mixed_cross_entropy(logits, out.targets, reduction="sum"),
    )


def test_soft_cross_entropy_equals_two_term_form_for_soft_targets() -> None:
    x = torch.randn(6, 4, generator=g(0))
    soft = torch.softmax(torch.randn(6, 5, generator=g(1)), dim=1)
    out = Mixup(mode="sample")(x, soft, generator=g(2))
    logits = torch.randn(6, 5, generator=g(3))
    torch.testing.assert_close(soft_cross_entropy(logits, out.targets), mixed_cross_entropy(logits, out.targets))
    torch.testing.assert_close(
        soft_cross_entropy(logits, out.targets, label_smoothing=0.2),
        mixed_cross_entropy(logits, out.targets, label_smoothing=0.2),
    )


def test_mixed_cross_entropy_accepts_int32_indices() -> None:
    x, y = torch.randn(6, 4, generator=g(0)), torch.tensor([0, 1, 2, 3, 4, 0], dtype=torch.int32)
    out = Mixup(num_classes=5, mode="sample")(x, y, generator=g(1))
    logits = torch.randn(6, 5, generator=g(2))
    torch.testing.assert_close(mixed_cross_entropy(logits, out.targets), soft_cross_entropy(logits, out.targets))


def test_label_smoothing_matches_a_hand_computation() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    eps, c = 0.1, 3
    # one sample of class 0 mixed with one of class 2, λ = 0.7
    mt = MixedTargets.from_plan(
        torch.tensor([0, 2]), MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.7, 0.7])), num_classes=3
    )
    logits2 = logits.expand(2, 3)
    log_z = math.log(math.exp(2.0) + math.exp(0.0) + math.exp(-1.0))
    log_p = [2.0 - log_z, 0.0 - log_z, -1.0 - log_z]
    t0 = [0.7 * (1 - eps) + eps / c, eps / c, 0.3 * (1 - eps) + eps / c]
    t1 = [0.3 * (1 - eps) + eps / c, eps / c, 0.7 * (1 - eps) + eps / c]
    expected = torch.tensor(
        [-sum(t * lp for t, lp in zip(t0, log_p, strict=True)), -sum(t * lp for t, lp in zip(t1, log_p, strict=True))]
    )
    got = soft_cross_entropy(logits2, mt, label_smoothing=eps, reduction="none")
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(mixed_cross_entropy(logits2, mt, label_smoothing=eps, reduction="none"), expected)
    # unmixed targets: the same as torch's own label smoothing
    y = torch.tensor([1, 0, 2])
    z = torch.randn(3, 3, generator=g(0))
    torch.testing.assert_close(
        soft_cross_entropy(z, y, label_smoothing=eps), F.cross_entropy(z, y, label_smoothing=eps)
    )
    torch.testing.assert_close(smooth_targets(torch.tensor([[1.0, 0.0]]), 0.1), torch.tensor([[0.95, 0.05]]))


def test_label_smoothing_is_never_baked_into_targets() -> None:
    x, y = torch.randn(4, 3, generator=g(0)), torch.tensor([0, 1, 2, 0])
    dense = Mixup(lam=1.0, num_classes=3)(x, y, generator=g(1)).targets.dense()
    torch.testing.assert_close(dense, F.one_hot(y, 3).float(), rtol=0, atol=0)
    with pytest.raises(ConfigError, match="label_smoothing"):
        create_mixer({"name": "mixup", "label_smoothing": 0.1})
    with pytest.raises(ValueError, match=r"label_smoothing.*1\.5"):
        soft_cross_entropy(torch.zeros(4, 3), y, label_smoothing=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        mixed_cross_entropy(torch.zeros(4, 3), Mixup(num_classes=3)(x, y, generator=g(1)).targets, label_smoothing=-0.1)


def test_binary_cross_entropy_for_multi_label() -> None:
    x = torch.randn(6, 3, generator=g(0))
    multi = (torch.rand(6, 4, generator=g(1)) > 0.5).float()
    logits = torch.randn(6, 4, generator=g(2))
    for label_mix in ("linear", "union"):
        out = Mixup(mode="sample", label_mix=label_mix)(x, multi, generator=g(3))
        t = out.targets.dense()
        s = torch.sigmoid(logits.double())
        by_hand = -(t * torch.log(s) + (1 - t) * torch.log(1 - s))
        torch.testing.assert_close(mixed_binary_cross_entropy(logits, out.targets), by_hand.mean().float())
        torch.testing.assert_close(mixed_binary_cross_entropy(logits, out.targets, reduction="none"), by_hand.float())
    lam = out.plan.lam[:, None]
    linear = Mixup(mode="sample")(x, multi, generator=g(3)).targets.dense()
    torch.testing.assert_close(linear, lam * multi + (1 - lam) * multi[out.plan.index])
    pos_weight = torch.tensor([1.0, 2.0, 3.0, 4.0])
    torch.testing.assert_close(
        mixed_binary_cross_entropy(logits, out.targets, pos_weight=pos_weight),
        F.binary_cross_entropy_with_logits(logits, out.targets.dense(), pos_weight=pos_weight),
    )


def test_loss_argument_errors() -> None:
    x, y = torch.randn(4, 3, generator=g(0)), torch.tensor([0, 1, 2, 0])
    mt = Mixup(num_classes=3)(x, y, generator=g(1)).targets
    with pytest.raises(ValueError, match=r"reduction.*'avg'"):
        soft_cross_entropy(torch.zeros(4, 3), mt, reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="MixedTargets"):
        mixed_cross_entropy(torch.zeros(4, 3), y)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(4, 3\)"):
        soft_cross_entropy(torch.zeros(4, 3), torch.zeros(4, 5))


def test_mixed_cross_entropy_refuses_union_targets() -> None:
    import pytest
    import torch

    from mixup_core import create_mixer, mixed_cross_entropy

    out = create_mixer({"name": "mixup", "label_mix": "union"})(
        torch.randn(4, 3), torch.eye(4)[:, :3], generator=torch.Generator().manual_seed(0)
    )
    with pytest.raises(ValueError, match="mixed_binary_cross_entropy"):
        mixed_cross_entropy(torch.randn(4, 3), out.targets)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_smoothing_agrees_when_label_weights_do_not_sum_to_one(eps: float) -> None:
    """SnapMix's weights (ρ_a, ρ_b) need not sum to 1; its reference loss smooths each term:
    ``ρ_a·CE_ε(y_a) + ρ_b·CE_ε(y_b)``. Both losses give that, for index and for soft targets."""
    y = torch.tensor([0, 2, 1, 3])
    plan = MixPlan(index=torch.tensor([1, 0, 3, 2]), lam=torch.full((4,), 0.6))
    weights = torch.tensor([[0.5, 0.2], [0.9, 0.6], [1.2, 1.2], [0.0, 0.3]])
    logits = torch.randn(4, 5, generator=g(7))
    reference = sum(
        weights[:, k]
        * F.cross_entropy(logits, y[plan.index if k else torch.arange(4)], reduction="none", label_smoothing=eps)
        for k in range(2)
    )
    for targets in (y, F.one_hot(y, 5).float()):
        mt = MixedTargets.from_plan(targets, plan, num_classes=5).with_weights(weights)
        torch.testing.assert_close(mixed_cross_entropy(logits, mt, label_smoothing=eps, reduction="none"), reference)
        torch.testing.assert_close(soft_cross_entropy(logits, mt, label_smoothing=eps, reduction="none"), reference)
