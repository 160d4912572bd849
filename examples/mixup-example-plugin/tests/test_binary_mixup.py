"""Tests of example:binary-mixup: the conformance kit, plus what is specific to a binary mask."""

from __future__ import annotations

import pytest
import torch

from mixup_core import MixPlan, create_mixer, get_registry
from mixup_core.testing import MixerConformanceTests
from mixup_example import BinaryMixup, MaskPlan


class TestBinaryMixup(MixerConformanceTests):
    mixer_name = "example:binary-mixup"


class TestBinaryMixupSampleMode(MixerConformanceTests):
    mixer_name = "binary-mixup"
    mixer_params = {"mode": "sample", "alpha": 0.4}


class TestBinaryMixupSequence(MixerConformanceTests):
    """(B, C, T) inputs: one mask per time step, shared by the channels."""

    mixer_name = "binary-mixup"
    sample_shape = (4, 33)


def _mix(mixer: BinaryMixup, x: torch.Tensor, y: torch.Tensor | None = None, seed: int = 0):  # type: ignore[no-untyped-def]
    return mixer(x, y, generator=torch.Generator().manual_seed(seed))


def test_registered_with_provenance() -> None:
    info = get_registry().get("binary-mixup")
    assert info.name == "example:binary-mixup"
    assert info.plugin == "example"
    assert info.distribution == "mixup-example-plugin"
    assert info.load() is BinaryMixup
    assert isinstance(create_mixer("example:binary-mixup"), BinaryMixup)


def test_every_element_comes_from_anchor_or_partner() -> None:
    x = torch.randn(6, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    out = _mix(BinaryMixup(), x)
    plan = out.plan
    assert isinstance(plan, MaskPlan)
    assert plan.mask.shape == (6, 1, 10, 10)
    assert plan.mask.dtype == torch.bool
    expected = torch.where(plan.mask, x, x[plan.index])
    assert torch.equal(out.inputs, expected)


def test_lam_is_the_exact_share_of_kept_elements() -> None:
    mixer = BinaryMixup(mode="sample", alpha=0.7, num_classes=4)
    x, y = torch.randn(4, 2, 5, 7), torch.arange(4)
    out = _mix(mixer, x, y, seed=11)
    share = out.plan.mask.float().mean(dim=(1, 2, 3))
    torch.testing.assert_close(out.plan.lam, share, rtol=0, atol=0)
    torch.testing.assert_close(out.targets.lam, share, rtol=0, atol=0)  # type: ignore[union-attr]


def test_share_follows_lambda_on_average() -> None:
    x = torch.zeros(2, 1, 128, 128)
    for lam in (0.1, 0.5, 0.9):
        out = _mix(BinaryMixup(lam=lam), x, seed=3)
        assert torch.allclose(out.plan.lam, torch.full((2,), lam), atol=0.02), (lam, out.plan.lam)


def test_fixed_lambda_extremes_are_exact() -> None:
    x = torch.randn(5, 3, 4, 4)
    keep_all = _mix(BinaryMixup(lam=1.0), x)
    assert keep_all.plan.is_identity
    assert torch.equal(keep_all.inputs, x)
    take_all = _mix(BinaryMixup(lam=0.0), x)
    assert torch.equal(take_all.inputs, x[take_all.plan.index])
    assert torch.equal(take_all.plan.lam, torch.zeros(5))


def test_integer_inputs_are_mixed_exactly() -> None:
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = _mix(BinaryMixup(), x)
    assert out.inputs.dtype == torch.uint8
    assert torch.equal(out.inputs, torch.where(out.plan.mask, x, x[out.plan.index]))


def test_out_buffer() -> None:
    mixer = BinaryMixup()
    x = torch.randn(4, 3, 6, 6)
    plan = mixer.sample(x, generator=torch.Generator().manual_seed(2))
    buf = torch.empty_like(x)
    result = mixer.apply(x, plan, out=buf)
    assert result is buf
    assert torch.equal(buf, mixer.apply(x, plan))


def test_plan_of_another_shape_is_refused() -> None:
    mixer = BinaryMixup()
    plan = mixer.sample(torch.randn(4, 3, 6, 6), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"mask.*\(4, 1, 6, 6\).*inputs\.shape=\(4, 3, 5, 5\)"):
        mixer.apply(torch.randn(4, 3, 5, 5), plan)
    with pytest.raises(TypeError, match="MaskPlan"):
        mixer.apply(torch.randn(4, 3, 6, 6), MixPlan(index=torch.tensor([1, 0, 3, 2]), lam=torch.full((4,), 0.5)))


def test_mask_plan_validates_its_mask() -> None:
    index, lam = torch.tensor([1, 0]), torch.full((2,), 0.5)
    with pytest.raises(TypeError, match="boolean"):
        MaskPlan(index=index, lam=lam, mask=torch.ones(2, 1, 3))
    with pytest.raises(ValueError, match=r"\(2, 1, \.\.\.\)"):
        MaskPlan(index=index, lam=lam, mask=torch.ones(3, 1, 3, dtype=torch.bool))


def test_vectors_need_a_channel_dimension() -> None:
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        _mix(BinaryMixup(), torch.randn(4))
