"""SaliencyMix: conformance, spectral-residual saliency in torch, the box centred on the partner's peak."""

from __future__ import annotations

import pytest
import torch

from mixup_core import ConfigError, create_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_image import BoxPlan, SaliencyMix
from mixup_image.saliencymix import spectral_residual_saliency


class TestSaliencyMixSample(MixerConformanceTests):
    mixer_name = "saliencymix"
    mixer_params = {"mode": "sample", "alpha": 0.5}
    sample_shape = (3, 15, 9)


class TestSaliencyMixDrawnLam(MixerConformanceTests):
    """``correct_lam=False``: the labels keep the drawn λ, protection still holds for the real pixel shares."""

    mixer_name = "saliencymix"
    mixer_params = {"correct_lam": False}
    label_follows_share = False


class TestSaliencyMixNativeResolution(MixerConformanceTests):
    mixer_name = "saliencymix"
    mixer_params = {"mode": "sample", "saliency_size": None}
    sample_shape = (1, 13, 20)


BLOBS = [(10, 8), (30, 25), (5, 35), (40, 5), (24, 20), (15, 30), (36, 12)]
# (a blob touching a corner is not used: the FFT is periodic, so the wrap-around edge competes with it)


def _blob_images(size: tuple[int, int] = (48, 40), channels: int = 3, seed: int = 0) -> torch.Tensor:
    """One bright Gaussian blob per image, at ``BLOBS[i]``, on a dark, faintly noisy background."""
    h, w = size
    rows = torch.arange(h, dtype=torch.float32)[:, None]
    cols = torch.arange(w, dtype=torch.float32)[None, :]
    blobs = torch.stack([torch.exp(-((rows - r) ** 2 + (cols - c) ** 2) / 8.0) for r, c in BLOBS])
    noise = 0.05 * torch.rand((len(BLOBS), channels, h, w), generator=torch.Generator().manual_seed(seed))
    return blobs[:, None] + noise


@pytest.mark.parametrize("saliency_size", [64, None])
def test_saliency_peaks_on_the_blob(saliency_size: int | None) -> None:
    saliency = spectral_residual_saliency(_blob_images(), saliency_size)
    assert saliency.shape == (len(BLOBS), 48, 40)
    assert torch.isfinite(saliency).all()
    peaks = saliency.flatten(1).argmax(dim=1)
    for (r, c), p in zip(BLOBS, peaks.tolist(), strict=True):
        assert abs(p // 40 - r) <= 1
        assert abs(p % 40 - c) <= 1


def test_saliency_keeps_the_dtype_out_of_the_computation() -> None:
    x = _blob_images(channels=1)
    full = spectral_residual_saliency(x)
    half = spectral_residual_saliency(x.to(torch.bfloat16))
    assert full.dtype == half.dtype == torch.float32
    assert torch.equal(full.flatten(1).argmax(1), half.flatten(1).argmax(1))


def test_box_is_centred_on_each_partners_blob() -> None:
    x = _blob_images()
    mixer = SaliencyMix(lam=0.75, mode="sample", num_classes=7)
    out = mixer(x, torch.arange(7), generator=torch.Generator().manual_seed(1))
    plan = out.plan
    assert isinstance(plan, BoxPlan)
    h, w = 48, 40
    cut_h, cut_w = 24, 20  # side ratio √(1 − 0.75) = 0.5
    for b, (y0, y1, x0, x1) in enumerate(plan.boxes.tolist()):
        r, c = BLOBS[int(plan.index[b])]  # the partner's blob, not the anchor's
        # the unclipped box is [peak − cut//2, peak + cut − cut//2), then clipped to the image, with
        # the saliency peak within one pixel of the blob's centre
        assert any((y0, y1) == (max(p - cut_h // 2, 0), min(p + cut_h - cut_h // 2, h)) for p in (r - 1, r, r + 1))
        assert any((x0, x1) == (max(p - cut_w // 2, 0), min(p + cut_w - cut_w // 2, w)) for p in (c - 1, c, c + 1))
        # the partner's pixels are pasted at the same location; the rest is the anchor's
        partner = x[plan.index[b]]
        assert torch.equal(out.inputs[b, :, y0:y1, x0:x1], partner[:, y0:y1, x0:x1])
        outside = torch.ones(h, w, dtype=torch.bool)
        outside[y0:y1, x0:x1] = False
        assert torch.equal(out.inputs[b][:, outside], x[b][:, outside])
        # area-corrected λ
        assert plan.lam[b].item() == pytest.approx(1 - (y1 - y0) * (x1 - x0) / (h * w), abs=1e-7)
    assert (plan.lam > 0.75).any()  # some boxes were clipped at the border


def test_correct_lam_off_keeps_the_drawn_lambda() -> None:
    x = _blob_images()
    plan = SaliencyMix(lam=0.75, correct_lam=False).sample(x, generator=torch.Generator().manual_seed(1))
    assert (plan.lam == 0.75).all()


def test_bad_saliency_size_is_rejected() -> None:
    with pytest.raises(ConfigError, match="saliency_size"):
        create_mixer("image:saliencymix", saliency_size=0)


def test_anchor_mask_gives_pixel_provenance() -> None:
    mixer = SaliencyMix(mode="sample")
    x = torch.rand(10, 3, 21, 18)
    out = mixer(x, generator=torch.Generator().manual_seed(5))
    mask = mixer.anchor_mask(out.plan, (21, 18))
    assert torch.equal(mask.bool().expand_as(x), out.inputs == x)
    torch.testing.assert_close(mask.mean(dim=(1, 2, 3)), out.plan.lam, rtol=0, atol=1e-7)
