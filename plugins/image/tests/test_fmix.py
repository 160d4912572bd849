"""FMix: conformance, exact mask share, the anchor keeps the highest noise, low-frequency masks, soft edges."""

from __future__ import annotations

import pytest
import torch

from mixup_core import ConfigError, create_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_image import FMix, MaskPlan
from mixup_image.fmix import binarise_noise, fourier_noise


class TestFMixSample(MixerConformanceTests):
    mixer_name = "fmix"
    mixer_params = {"mode": "sample", "alpha": 0.5}
    sample_shape = (3, 15, 9)


class TestFMixSoftSample(MixerConformanceTests):
    mixer_name = "fmix"
    mixer_params = {"mode": "sample", "max_soft": 0.2, "decay_power": 2.0}
    sample_shape = (2, 11, 14)


def _plan_and_noise(mixer: FMix, x: torch.Tensor, seed: int) -> tuple[MaskPlan, torch.Tensor, torch.Tensor]:
    """The plan, and the drawn λ and noise replayed from the same seed (draw, then noise)."""
    plan = mixer.sample(x, generator=torch.Generator().manual_seed(seed))
    assert isinstance(plan, MaskPlan)
    g = torch.Generator().manual_seed(seed)
    _, lam = mixer.draw(x.shape[0], generator=g)
    fields = 1 if mixer.mode == "batch" else x.shape[0]
    noise = fourier_noise(fields, (x.shape[-2], x.shape[-1]), mixer.decay_power, g)
    return plan, lam, noise


def test_anchor_keeps_its_exact_share_of_highest_noise_pixels() -> None:
    mixer = FMix(mode="sample")
    x = torch.rand(32, 3, 13, 17)
    plan, lam, noise = _plan_and_noise(mixer, x, seed=4)
    n = 13 * 17
    mask = plan.mask.reshape(32, n)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    # the anchor's pixel count is round(λ·N): λ of the plan is exact and within 0.5/N of the drawn λ
    counts = mask.sum(dim=1)
    torch.testing.assert_close(counts, torch.round(lam.double() * n).float(), rtol=0, atol=0)
    torch.testing.assert_close(plan.lam, counts / n, rtol=0, atol=1e-7)
    assert (plan.lam - lam).abs().max() <= 0.5 / n + 1e-7
    # mask 1 (anchor) sits exactly on the highest-valued noise pixels
    flat = noise.reshape(32, n)
    lowest_kept = torch.where(mask > 0, flat, torch.inf).amin(dim=1)
    highest_dropped = torch.where(mask > 0, -torch.inf, flat).amax(dim=1)
    assert (lowest_kept > highest_dropped).all()


def test_mixed_pixels_follow_the_mask_convention() -> None:
    mixer = FMix(mode="sample", num_classes=6)
    x = torch.rand(6, 3, 12, 12)
    out = mixer(x, torch.arange(6), generator=torch.Generator().manual_seed(0))
    plan = out.plan
    assert isinstance(plan, MaskPlan)
    keep = plan.mask.bool().expand_as(x)
    assert torch.equal(out.inputs[keep], x[keep])  # mask 1 = anchor (FMix's convention)
    assert torch.equal(out.inputs[~keep], x[plan.index][~keep])
    assert torch.equal(mixer.anchor_mask(plan, (12, 12)), plan.mask)
    torch.testing.assert_close(out.targets.lam, plan.mask.mean(dim=(1, 2, 3)), rtol=0, atol=1e-7)  # type: ignore[union-attr]


def test_batch_mode_shares_one_noise_field() -> None:
    plan = FMix().sample(torch.rand(5, 3, 16, 16), generator=torch.Generator().manual_seed(2))
    assert isinstance(plan, MaskPlan)
    assert (plan.mask == plan.mask[0]).all()
    assert plan.scalar_lam is not None
    sample = FMix(mode="sample", lam=0.5).sample(torch.rand(5, 3, 16, 16), generator=torch.Generator().manual_seed(2))
    assert not (sample.mask == sample.mask[0]).all()  # type: ignore[attr-defined]


def test_masks_are_low_frequency() -> None:
    # neighbouring pixels agree far more often than in a random mask of the same share (≈ 0.5 at λ = 0.5)
    plan = FMix(mode="sample", lam=0.5).sample(torch.rand(16, 1, 32, 32), generator=torch.Generator().manual_seed(0))
    masks = plan.mask  # type: ignore[attr-defined]
    agree = torch.cat(
        [(masks[..., 1:] == masks[..., :-1]).flatten(1), (masks[..., 1:, :] == masks[..., :-1, :]).flatten(1)], 1
    )
    assert agree.float().mean() > 0.9
    rough_plan = FMix(mode="sample", lam=0.5, decay_power=0.5).sample(
        torch.rand(16, 1, 32, 32), generator=torch.Generator().manual_seed(0)
    )
    rough = rough_plan.mask  # type: ignore[attr-defined]
    agree_rough = (rough[..., 1:] == rough[..., :-1]).float().mean()
    assert agree_rough < agree.float().mean() - 0.1


def test_noise_spectrum_decays_as_a_power_law() -> None:
    noise = fourier_noise(512, (32, 32), 3.0, torch.Generator().manual_seed(0))
    power = torch.fft.rfft2(noise).abs().square().mean(dim=0)
    # amplitude ∝ 1/f³, so power at f = 1/32 over power at f = 4/32 is 4⁶
    ratio = (power[0, 1] / power[0, 4]).item()
    assert 0.75 * 4**6 < ratio < 1.33 * 4**6
    # frequencies below 1/max(H, W) are floored: the DC bin has the scale of f = 1/32 (not infinite);
    # the inverse real FFT keeps only its real part, so it carries half the power
    assert 0.35 < (power[0, 0] / power[0, 1]).item() < 0.7


def test_max_soft_ramps_the_edge_and_keeps_the_mean_exact() -> None:
    noise = torch.randn(3, 400, generator=torch.Generator().manual_seed(1))
    lam = torch.tensor([0.3, 0.5, 0.9])
    mask = binarise_noise(noise, lam, max_soft=0.1)
    torch.testing.assert_close(mask.double().sum(dim=1), torch.round(lam.double() * 400), rtol=0, atol=1e-4)
    soft = ((mask > 0) & (mask < 1)).sum(dim=1)
    # ramp half-width floor(N·min(max_soft, λ, 1 − λ)): 40, 40 and 40 pixels each side
    assert (soft >= 2 * 40 - 2).all()
    assert (soft <= 2 * 40).all()
    # the mask is a non-increasing function of the noise value
    order = noise.argsort(dim=1, descending=True)
    ranked = mask.gather(1, order)
    assert (ranked[:, 1:] <= ranked[:, :-1] + 1e-7).all()
    # max_soft is capped at min(λ, 1 − λ): λ = 0.02 leaves 8 soft pixels each side at most
    small = binarise_noise(noise[:1], torch.tensor([0.02]), max_soft=0.4)
    assert ((small > 0) & (small < 1)).sum() <= 16
    torch.testing.assert_close(small.double().sum(), torch.tensor(8.0, dtype=torch.float64), rtol=0, atol=1e-5)


def test_soft_mixer_labels_equal_soft_shares() -> None:
    mixer = FMix(mode="sample", max_soft=0.25, num_classes=4)
    out = mixer(torch.rand(4, 3, 20, 20), torch.arange(4), generator=torch.Generator().manual_seed(3))
    mask = out.plan.mask  # type: ignore[attr-defined]
    assert ((mask > 0) & (mask < 1)).any()
    torch.testing.assert_close(out.plan.lam, mask.double().mean(dim=(1, 2, 3)).float(), rtol=0, atol=0)


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ConfigError, match="max_soft"):
        create_mixer("image:fmix", max_soft=0.7)
    with pytest.raises(ConfigError, match="decay_power"):
        create_mixer("image:fmix", decay_power=0)
