"""ResizeMix: conformance, the pasted patch is the whole partner downscaled, τ stays in scope, exact λ."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mixup_core import ConfigError, create_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_image import BoxPlan, ResizeMix


class TestResizeMixSample(MixerConformanceTests):
    mixer_name = "resizemix"
    mixer_params = {"mode": "sample"}
    sample_shape = (3, 15, 9)


class TestResizeMixBilinearAlpha(MixerConformanceTests):
    mixer_name = "resizemix"
    mixer_params = {"mode": "sample", "interpolation": "bilinear", "use_alpha": True, "scope": [0.3, 0.9]}
    sample_shape = (3, 14, 19)


@pytest.mark.parametrize(("interpolation", "torch_mode"), [("nearest", "nearest-exact"), ("bilinear", "bilinear")])
def test_pasted_patch_is_the_whole_partner_downscaled(interpolation: str, torch_mode: str) -> None:
    mixer = ResizeMix(mode="sample", interpolation=interpolation, num_classes=4)  # type: ignore[arg-type]
    x = torch.rand(24, 3, 23, 30)
    out = mixer(x, torch.randint(0, 4, (24,)), generator=torch.Generator().manual_seed(0))
    plan = out.plan
    assert isinstance(plan, BoxPlan)
    assert len(set((plan.boxes[:, 1] - plan.boxes[:, 0]).tolist())) > 5  # the partners have different sizes
    for b, (y0, y1, x0, x1) in enumerate(plan.boxes.tolist()):
        partner = x[plan.index[b]][None]
        kwargs = {"align_corners": False} if torch_mode == "bilinear" else {}
        expected = F.interpolate(partner, size=(y1 - y0, x1 - x0), mode=torch_mode, **kwargs)[0]
        atol = 0.0 if interpolation == "nearest" else 1e-5  # nearest copies pixels exactly
        torch.testing.assert_close(out.inputs[b, :, y0:y1, x0:x1], expected, rtol=0, atol=atol)
        outside = torch.ones(23, 30, dtype=torch.bool)
        outside[y0:y1, x0:x1] = False
        assert torch.equal(out.inputs[b][:, outside], x[b][:, outside])
        assert plan.lam[b] == pytest.approx(1.0 - (y1 - y0) * (x1 - x0) / (23 * 30), abs=1e-7)


def test_tau_stays_in_scope_and_the_patch_fits() -> None:
    h, w = 40, 50
    plan = ResizeMix(mode="sample").sample(torch.rand(400, 1, h, w), generator=torch.Generator().manual_seed(1))
    boxes = plan.boxes  # type: ignore[attr-defined]
    cut_h, cut_w = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
    tau = cut_w.double() / w
    assert (tau >= 0.1 - 1 / w).all()
    assert (tau <= 0.8).all()
    assert tau.min() < 0.15  # the whole scope is used
    assert tau.max() > 0.75
    # the same τ on both sides keeps the partner's aspect ratio (up to flooring)
    assert ((cut_h.double() / h - tau).abs() <= 1.0 / h + 1.0 / w).all()
    assert ((boxes[:, 0] >= 0) & (boxes[:, 1] <= h) & (boxes[:, 2] >= 0) & (boxes[:, 3] <= w)).all()
    # positions are spread over the image, including touching both borders
    assert (boxes[:, 0] == 0).any()
    assert (boxes[:, 1] == h).any()


def test_custom_scope_and_a_fixed_lam_is_clipped_to_the_scope() -> None:
    x = torch.rand(8, 1, 40, 40)
    fixed = ResizeMix(mode="sample", scope=(0.5, 0.5)).sample(x, generator=torch.Generator().manual_seed(0))
    assert ((fixed.boxes[:, 1] - fixed.boxes[:, 0]) == 20).all()  # type: ignore[attr-defined]
    high = ResizeMix(use_alpha=True, lam=0.95).sample(x, generator=torch.Generator().manual_seed(0))
    assert ((high.boxes[:, 1] - high.boxes[:, 0]) == 32).all()  # type: ignore[attr-defined]  # τ clipped to 0.8
    low = ResizeMix(use_alpha=True, lam=0.02).sample(x, generator=torch.Generator().manual_seed(0))
    assert ((low.boxes[:, 1] - low.boxes[:, 0]) == 4).all()  # type: ignore[attr-defined]  # τ clipped to 0.1
    mid = ResizeMix(use_alpha=True, lam=0.5).sample(x, generator=torch.Generator().manual_seed(0))
    assert ((mid.boxes[:, 3] - mid.boxes[:, 2]) == 20).all()  # type: ignore[attr-defined]


def test_batch_mode_shares_one_box() -> None:
    plan = create_mixer("image:resizemix").sample(torch.rand(6, 3, 32, 32), generator=torch.Generator().manual_seed(3))
    assert (plan.boxes == plan.boxes[0]).all()  # type: ignore[attr-defined]
    assert plan.scalar_lam is not None


def test_bad_scope_is_rejected() -> None:
    with pytest.raises(ConfigError, match="scope"):
        create_mixer("image:resizemix", scope=(0.8, 0.1))
    with pytest.raises(ConfigError, match="scope"):
        create_mixer("image:resizemix", scope=(0.0, 0.5))
    with pytest.raises(ConfigError, match="interpolation"):
        create_mixer("image:resizemix", interpolation="bicubic")


def test_anchor_mask_gives_pixel_provenance() -> None:
    mixer = ResizeMix(mode="sample")
    x = torch.rand(10, 3, 21, 18)
    out = mixer(x, generator=torch.Generator().manual_seed(5))
    mask = mixer.anchor_mask(out.plan, (21, 18))
    assert mask.shape == (10, 1, 21, 18)
    assert torch.equal(mask.bool().expand_as(x), out.inputs == x)  # 1 exactly where the anchor's pixels are
    torch.testing.assert_close(mask.mean(dim=(1, 2, 3)), out.plan.lam, rtol=0, atol=1e-7)


def test_use_alpha_redraws_tau_outside_the_scope_as_openmixup() -> None:
    """OpenMixup's ``resizemix``: τ ~ Beta(α, α); outside ``scope`` it is replaced by τ ~ U(scope).
    The reference re-derived with NumPy and ours draw the same distribution of patch sides."""
    np = pytest.importorskip("numpy")
    h = 100
    alpha, scope = 0.5, (0.1, 0.8)
    x = torch.rand(2000, 1, h, h)
    plan = ResizeMix(mode="sample", use_alpha=True, alpha=alpha, scope=scope).sample(
        x, generator=torch.Generator().manual_seed(0)
    )
    sides = (plan.boxes[:, 1] - plan.boxes[:, 0]).numpy()  # type: ignore[attr-defined]
    sides = sides[sides > 0]  # self-paired samples are unmixed
    rng = np.random.default_rng(0)
    tau = rng.beta(alpha, alpha, 200_000)
    outside = (tau < scope[0]) | (tau > scope[1])
    tau[outside] = rng.uniform(*scope, outside.sum())
    reference = np.floor(h * tau).astype(int)
    grid = np.arange(10, 81)
    ours_cdf = np.searchsorted(np.sort(sides), grid, side="right") / len(sides)
    ref_cdf = np.searchsorted(np.sort(reference), grid, side="right") / len(reference)
    assert np.abs(ours_cdf - ref_cdf).max() < 0.05  # Kolmogorov-Smirnov distance
    # clipping would have put Beta(0.5, 0.5)'s mass below 0.1 (about 20 %) on the smallest patch
    assert (sides == 10).mean() < 0.03
    assert (sides == 80).mean() < 0.03
