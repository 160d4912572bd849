"""SmoothMix: conformance, label orientation (the anchor's weight is 1 − mean(G)), the Gaussian mask."""

from __future__ import annotations

import pytest
import torch

from mixup_core import ConfigError, create_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_image import SmoothMix
from mixup_image.smoothmix import SmoothPlan, gaussian_mask


class TestSmoothMixSample(MixerConformanceTests):
    mixer_name = "smoothmix"
    mixer_params = {"mode": "sample", "sigma_range": [0.1, 0.3]}
    sample_shape = (3, 15, 9)


def test_label_orientation_anchor_weight_is_one_minus_mean_gaussian() -> None:
    # anchor 0 is all zeros, its partner all ones: the mixed image is G itself
    x = torch.stack([torch.zeros(1, 24, 24), torch.ones(1, 24, 24)])
    mixer = SmoothMix(sigma_range=(0.1, 0.1), num_classes=2)
    out = mixer(x, torch.tensor([0, 1]), generator=torch.Generator().manual_seed(0))
    plan = out.plan
    assert isinstance(plan, SmoothPlan)
    assert plan.index.tolist() == [1, 0]
    g = out.inputs[0, 0]
    cy, cx = plan.centre[0].tolist()
    assert g[cy, cx] == 1.0  # the partner fills the centre
    assert g.max() == 1.0
    assert g.min() >= 0
    dense = out.targets.dense()  # type: ignore[union-attr]
    partner_share = g.mean().item()
    assert partner_share < 0.1  # a narrow Gaussian: the anchor dominates
    # the anchor's label weight is its pixel share 1 − mean(G); the inverted λ = mean(G) would give < 0.1
    assert dense[0, 0].item() == pytest.approx(1.0 - partner_share, abs=1e-6)
    assert dense[0, 1].item() == pytest.approx(partner_share, abs=1e-6)
    assert dense[0, 0] > 0.9


def test_mask_is_a_gaussian_with_peak_one_and_sigma_in_range() -> None:
    h, w = 20, 28
    mixer = SmoothMix(mode="sample", sigma_range=(0.25, 0.5))
    plan = mixer.sample(torch.rand(64, 3, h, w), generator=torch.Generator().manual_seed(1))
    assert isinstance(plan, SmoothPlan)
    s = plan.sigma / h
    assert ((s >= 0.25) & (s <= 0.5)).all()
    assert s.max() - s.min() > 0.15
    assert (
        (plan.centre[:, 0] >= 0) & (plan.centre[:, 0] < h) & (plan.centre[:, 1] >= 0) & (plan.centre[:, 1] < w)
    ).all()
    g = gaussian_mask(plan, dtype=torch.float64)[:, 0]
    rows = torch.arange(h, dtype=torch.float64)[None, :, None]
    cols = torch.arange(w, dtype=torch.float64)[None, None, :]
    cy = plan.centre[:, 0, None, None].double()
    cx = plan.centre[:, 1, None, None].double()
    sig = plan.sigma[:, None, None]
    expected = torch.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / (2 * sig**2))
    torch.testing.assert_close(g, expected)
    torch.testing.assert_close(g.amax(dim=(1, 2)), torch.ones(64, dtype=torch.float64))
    anchor = mixer.anchor_mask(plan, (h, w))
    torch.testing.assert_close(anchor, 1.0 - g[:, None].float())
    torch.testing.assert_close(plan.lam, anchor.mean(dim=(1, 2, 3)), rtol=0, atol=1e-6)


def test_batch_mode_shares_centre_and_sigma() -> None:
    plan = create_mixer("image:smoothmix").sample(torch.rand(5, 3, 16, 16), generator=torch.Generator().manual_seed(2))
    assert (plan.centre == plan.centre[0]).all()  # type: ignore[attr-defined]
    assert (plan.sigma == plan.sigma[0]).all()  # type: ignore[attr-defined]
    assert plan.scalar_lam is not None


def test_unmixed_samples_get_no_gaussian() -> None:
    mixer = SmoothMix(mode="sample", p=0.5, num_classes=16)
    x = torch.rand(16, 3, 12, 12)
    out = mixer(x, torch.arange(16), generator=torch.Generator().manual_seed(0))
    kept = out.plan.lam == 1
    assert 0 < int(kept.sum()) < 16
    assert torch.equal(out.inputs[kept], x[kept])
    assert (out.plan.sigma[kept] == 0).all()  # type: ignore[attr-defined]


def test_bad_sigma_range_is_rejected() -> None:
    with pytest.raises(ConfigError, match="sigma_range"):
        create_mixer("image:smoothmix", sigma_range=(0.5, 0.25))
    with pytest.raises(ConfigError, match="sigma_range"):
        create_mixer("image:smoothmix", sigma_range=(0.0, 0.25))
