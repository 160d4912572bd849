"""SaliencyMix: conformance, fine-grained and spectral-residual saliency in torch (OpenCV as the oracle), the box
centred on the partner's peak."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mixup_core import ConfigError, create_mixer
from mixup_core.testing import MixerConformanceTests
from mixup_image import BoxPlan, SaliencyMix
from mixup_image.saliencymix import fine_grained_saliency, spectral_residual_saliency


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
    mixer_params = {"mode": "sample", "saliency": "spectral_residual", "saliency_size": None}
    sample_shape = (1, 13, 20)


class TestSaliencyMixSpectralResidual(MixerConformanceTests):
    mixer_name = "saliencymix"
    mixer_params = {"saliency": "spectral_residual"}


# ---------------------------------------------------------------------------------------------- fine-grained saliency
def _natural_crops(n: int = 64, side: int = 32, seed: int = 0) -> np.ndarray:
    """``n`` RGB uint8 crops ``(n, side, side, 3)`` of scikit-learn's two bundled photographs."""
    datasets = pytest.importorskip("sklearn.datasets")
    pytest.importorskip("PIL")
    photos = datasets.load_sample_images().images
    rng = np.random.default_rng(seed)
    crops = []
    for k in range(n):
        photo = photos[k % 2]
        y, x = rng.integers(0, photo.shape[0] - 2 * side), rng.integers(0, photo.shape[1] - 2 * side)
        crops.append(photo[y : y + 2 * side : 2, x : x + 2 * side : 2])
    return np.stack(crops)


def _opencv_fine_grained(grey: np.ndarray) -> np.ndarray:
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "saliency"):
        pytest.skip("cv2.saliency needs the contrib build: pip install opencv-contrib-python-headless")
    detector = cv2.saliency.StaticSaliencyFineGrained_create()
    ok, saliency = detector.computeSaliency(np.ascontiguousarray(grey))
    assert ok
    return saliency


@pytest.mark.parametrize("size", [(32, 32), (48, 64), (17, 90), (224, 224), (5, 7), (1, 9)])
def test_fine_grained_saliency_equals_opencv_on_8bit_grey(size: tuple[int, int]) -> None:
    """The same uint8 grey images, OpenCV's detector and ours: the same map, value for value."""
    rng = np.random.default_rng(sum(size))
    h, w = size
    rows, cols = np.mgrid[0:h, 0:w]
    smooth = 127 + 90 * np.sin(cols / 4.0 + rows / 7.0) + rng.normal(0, 25, (3, h, w))
    images = np.concatenate([smooth.clip(0, 255), rng.integers(0, 256, (2, h, w))]).astype(np.uint8)
    ours = fine_grained_saliency(torch.from_numpy(images)[:, None])
    assert ours.dtype == torch.float32
    for grey, mine in zip(images, ours.numpy(), strict=True):
        reference = _opencv_fine_grained(grey)
        # OpenCV's last 8-bit cast wraps where on + off exceed the larger maximum; ours saturates
        wrapped = (mine == 1.0) & (reference < 1.0)
        np.testing.assert_array_equal(mine[~wrapped], reference[~wrapped])
        assert wrapped.mean() < 0.01


def test_fine_grained_saliency_equals_opencv_on_natural_crops() -> None:
    """64 photo crops as 8-bit grey: the same maps and so the same peaks as OpenCV (no overflow here)."""
    cv2 = pytest.importorskip("cv2")
    crops = _natural_crops()
    grey = np.stack([cv2.cvtColor(np.ascontiguousarray(c[..., ::-1]), cv2.COLOR_BGR2GRAY) for c in crops])
    ours = fine_grained_saliency(torch.from_numpy(grey)[:, None]).numpy()
    for mine, g in zip(ours, grey, strict=True):
        np.testing.assert_array_equal(mine, _opencv_fine_grained(g))


def test_fine_grained_saliency_of_colour_and_float_images() -> None:
    """RGB uint8 is ITU-R 601 luma (OpenCV's BGR2GRAY rounds a level differently at some pixels); a float
    batch in any normalisation gives the map of its per-image [0, 255] stretch."""
    crops = _natural_crops(16)
    rgb = torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous()
    luma = (rgb.double() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    grey8 = (luma + 0.5).floor().to(torch.uint8)[:, None]
    assert torch.equal(fine_grained_saliency(rgb), fine_grained_saliency(grey8))
    # float, normalised as ImageNet: the per-image stretch of its grey is what the detector sees
    mean, std = (
        torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1),
        torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1),
    )
    x = (rgb.float() / 255 - mean) / std
    grey = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    lo, hi = grey.amin((1, 2), keepdim=True), grey.amax((1, 2), keepdim=True)
    stretched = ((grey - lo) * (255.0 / (hi - lo))).round().to(torch.uint8)[:, None]
    assert torch.equal(fine_grained_saliency(x), fine_grained_saliency(stretched))
    # invariant to a global affine change of the intensities, computed in float32 for any dtype
    assert torch.equal(fine_grained_saliency(x), fine_grained_saliency(3.0 * x - 1.0))
    assert fine_grained_saliency(x.double()).dtype == torch.float32
    # a constant image has no salient pixel
    assert torch.equal(fine_grained_saliency(torch.zeros(2, 3, 8, 8)), torch.zeros(2, 8, 8))


def test_fine_grained_peaks_match_opencv_on_the_8bit_image_not_the_float_reference() -> None:
    """What the official script does (OpenCV on the normalised float32 tensor) is not the 8-bit image's
    saliency; ours, given the normalisation, is the 8-bit image's; stretched, it is close."""
    cv2 = pytest.importorskip("cv2")
    crops = _natural_crops()
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    x = (
        torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)
    ) / torch.tensor(std).view(1, 3, 1, 1)
    un = fine_grained_saliency(x * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1), (0.0, 1.0))
    stretched = fine_grained_saliency(x)
    exact = near = same_as_float = 0
    for c, a, b, image in zip(crops, un, stretched, x, strict=True):
        eight = _opencv_fine_grained(cv2.cvtColor(np.ascontiguousarray(c[..., ::-1]), cv2.COLOR_BGR2GRAY))
        floating = _opencv_fine_grained(image.permute(1, 2, 0).contiguous().numpy())
        peak = int(eight.argmax())
        exact += int(a.flatten().argmax()) == peak
        ours = divmod(int(b.flatten().argmax()), 32)
        near += max(abs(ours[0] - peak // 32), abs(ours[1] - peak % 32)) <= 1
        same_as_float += int(floating.argmax()) == int(a.flatten().argmax())
    assert exact == 64
    assert near >= 40
    assert same_as_float <= 4


def test_saliencymix_default_is_fine_grained() -> None:
    crops = _natural_crops(8)
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    mixer = SaliencyMix(lam=0.75, mode="sample")
    plan = mixer.sample(x, generator=torch.Generator().manual_seed(0))
    peaks = fine_grained_saliency(x).flatten(1).argmax(1)[plan.index]
    cut = 16  # side ratio √(1 − 0.75) = 0.5
    for b, (y0, y1, x0, x1) in enumerate(plan.boxes.tolist()):
        if plan.index[b] == b:
            continue
        r, c = divmod(int(peaks[b]), 32)
        assert (y0, y1, x0, x1) == (
            max(r - cut // 2, 0),
            min(r + cut - cut // 2, 32),
            max(c - cut // 2, 0),
            min(c + cut - cut // 2, 32),
        )


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
    mixer = SaliencyMix(lam=0.75, mode="sample", num_classes=7, saliency="spectral_residual")
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
    plan = SaliencyMix(lam=0.75, correct_lam=False, saliency="spectral_residual").sample(
        x, generator=torch.Generator().manual_seed(1)
    )
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


def test_saliencymix_mean_std_use_the_8bit_image() -> None:
    crops = _natural_crops(8)
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    raw = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    x = (raw - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    g = torch.Generator
    plan = SaliencyMix(lam=0.7, mode="sample", mean=mean, std=std).sample(x, generator=g().manual_seed(3))
    peaks = fine_grained_saliency(raw, (0.0, 1.0)).flatten(1).argmax(1)[plan.index]
    from mixup_image._base import centred_boxes

    expected = centred_boxes(peaks // 32, peaks % 32, torch.full((8,), 0.7), (32, 32), plan.index)
    assert torch.equal(plan.boxes, expected)
    with pytest.raises(ValueError, match="value_range"):
        fine_grained_saliency(raw, (1.0, 0.0))
