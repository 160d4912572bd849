"""SaliencyMix: a CutMix box centred on the partner's saliency peak (OpenCV's fine-grained static saliency)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from mixup_core import MixPlan, mixer_dataclass

from ._base import BoxPlan, ImageMixer, apply_box_plan, box_area_share, centred_boxes, unnormalise

__all__ = ["SaliencyMix", "fine_grained_saliency", "spectral_residual_saliency"]

_LUMA = (0.299, 0.587, 0.114)
_BOX_KERNEL = 3  # local average of the log amplitude spectrum (Hou & Zhang; OpenCV)
_BLUR_KERNEL, _BLUR_SIGMA = 5, 8.0  # Gaussian smoothing of the saliency map (OpenCV: 5×5, σ = 8)


def _filter(x: torch.Tensor, kernel_1d: torch.Tensor) -> torch.Tensor:
    """Separable filter of ``(N, 1, h, w)`` with reflect-101 borders (OpenCV's ``BORDER_DEFAULT``)."""
    k = kernel_1d.numel()
    pad = k // 2
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    x = F.pad(x, (pad, pad, pad, pad), mode=mode)
    h, w = x.shape[-2] - 2 * pad, x.shape[-1] - 2 * pad
    taps = kernel_1d.tolist()
    # a sum of shifted copies: k ≤ 5 taps, much faster than conv2d for one channel
    rows = sum(t * x[..., i : i + h, :] for i, t in enumerate(taps))
    return sum(t * rows[..., :, i : i + w] for i, t in enumerate(taps))


def spectral_residual_saliency(images: torch.Tensor, size: int | None = 64) -> torch.Tensor:
    """Spectral-residual static saliency (Hou & Zhang, CVPR 2007) of a batch, float32 ``(B, H, W)``.

    Greyscale (ITU-R 601 luma for 3 channels, the channel mean otherwise) → bilinear downsizing
    of larger images to at most ``size × size`` (OpenCV's implementation works at 64×64) → log amplitude spectrum minus
    its 3×3 local average (the spectral residual) → ``|IFFT(exp(residual + i·phase))|²`` → Gaussian
    blur (5×5, σ = 8) → bilinear resize back to ``(H, W)``. Batched, on the images' device, without
    gradients; computed in float32 whatever the input dtype.

    Args:
        images: ``(B, C, H, W)`` floating images.
        size: side of the square working resolution, or ``None`` to work at ``(H, W)``.
    """
    with torch.no_grad():
        x = images.detach().float()
        h, w = x.shape[-2:]
        if x.shape[1] == 3:
            luma = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            grey = (x * luma).sum(dim=1, keepdim=True)
        else:
            grey = x.mean(dim=1, keepdim=True)
        if size is not None and (h > size or w > size):
            # like OpenCV, work at a small resolution; smaller images are never upsampled
            grey = F.interpolate(grey, size=(min(size, h), min(size, w)), mode="bilinear", align_corners=False)
        spectrum = torch.fft.fft2(grey)
        amplitude = spectrum.abs().clamp(min=1e-12)
        log_amplitude = torch.log(amplitude)
        box = torch.full((_BOX_KERNEL,), 1.0 / _BOX_KERNEL, dtype=torch.float32)
        residual = log_amplitude - _filter(log_amplitude, box)
        # exp(residual + i·phase) = exp(residual) · spectrum / |spectrum|, without angle() and polar()
        saliency = torch.fft.ifft2(spectrum * (torch.exp(residual) / amplitude)).abs().square()
        t = torch.arange(_BLUR_KERNEL, dtype=torch.float32) - (_BLUR_KERNEL - 1) / 2
        gauss = torch.exp(-t.square() / (2 * _BLUR_SIGMA**2))
        saliency = _filter(saliency, gauss / gauss.sum())
        if saliency.shape[-2:] != (h, w):
            saliency = F.interpolate(saliency, size=(h, w), mode="bilinear", align_corners=False)
        return saliency[:, 0]


# Fine-grained static saliency (Montabone & Soto, Image and Vision Computing 2010), as OpenCV's
# ``StaticSaliencyFineGrained``: centre-surround differences of the 8-bit intensity at six scales.
_FG_NEIGHBOURHOODS = (12, 24, 48, 28, 56, 112)  # half-sides of the surround windows, in pixels
_FG_LUMA_FIXED = (4899, 9617, 1868)  # ITU-R 601 luma in 14-bit fixed point (R, G, B)


def _blur_121(grey: torch.Tensor) -> torch.Tensor:
    """3×3 Gaussian blur of an integer ``(B, H, W)`` image with the kernel [1, 2, 1]/4 (OpenCV's for
    ``ksize=3, sigma=0``), reflect-101 borders, rounded half up as OpenCV's bit-exact 8-bit blur."""
    x = grey.unsqueeze(1).double()
    h, w = grey.shape[-2:]
    # reflect-101 per side; a side of one pixel borders on itself
    x = F.pad(x, (1, 1, 0, 0), mode="reflect" if w > 1 else "replicate")
    x = F.pad(x, (0, 0, 1, 1), mode="reflect" if h > 1 else "replicate").long()[:, 0]
    rows = x[:, 0:h, :] + 2 * x[:, 1 : h + 1, :] + x[:, 2 : h + 2, :]
    both = rows[:, :, 0:w] + 2 * rows[:, :, 1 : w + 1] + rows[:, :, 2 : w + 2]
    return torch.div(both + 8, 16, rounding_mode="floor")


def _window(n: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end (into the integral image) of the ``[p − n + 1, p + n + 1)`` window of each position."""
    p = torch.arange(size, device=device)
    return (p - n + 1).clamp(0, size), (p + n + 1).clamp(0, size)


def _to_8bit(images: torch.Tensor, value_range: tuple[float, float] | None) -> torch.Tensor:
    """The 8-bit grey intensity, long ``(B, H, W)`` in [0, 255], the detector works on.

    ``uint8`` images are taken as they are (3 channels: ITU-R 601 luma, rounded, as RGB). Floating
    images are made grey (luma for 3 channels, the channel mean otherwise) and mapped to [0, 255]:
    ``value_range`` to [0, 255] (clipped), or per image its min-max when ``None``; then rounded.
    """
    if images.dtype == torch.uint8:
        x = images.long()
        if x.shape[1] == 3:
            r, g, b = x[:, 0], x[:, 1], x[:, 2]
            wr, wg, wb = _FG_LUMA_FIXED
            return torch.div(r * wr + g * wg + b * wb + (1 << 13), 1 << 14, rounding_mode="floor")
        return x.float().mean(dim=1).round().long() if x.shape[1] > 1 else x[:, 0]
    x = images.detach().float()
    if x.shape[1] == 3:
        luma = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        grey = (x * luma).sum(dim=1)
    else:
        grey = x.mean(dim=1)
    if value_range is not None:
        lo_v, hi_v = value_range
        if not hi_v > lo_v:
            raise ValueError(f"value_range must be (low, high) with low < high, got value_range={value_range}")
        return ((grey - lo_v) * (255.0 / (hi_v - lo_v))).round().clamp(0, 255).long()
    lo = grey.amin(dim=(1, 2), keepdim=True)
    span = grey.amax(dim=(1, 2), keepdim=True) - lo
    scaled = torch.where(span > 0, (grey - lo) * (255.0 / span.clamp(min=1e-30)), torch.zeros_like(grey))
    return scaled.round().clamp(0, 255).long()


def fine_grained_saliency(images: torch.Tensor, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Fine-grained static saliency (Montabone & Soto, 2010) of a batch, float32 ``(B, H, W)`` in [0, 1].

    The algorithm of OpenCV's ``saliency.StaticSaliencyFineGrained``, batched in torch on the images'
    device: the 8-bit grey image, blurred twice with a 3×3 Gaussian, is compared at every pixel with
    the mean of its surround (the window of half-side n = 12, 24, 48, 28, 56, 112 pixels, the centre
    excluded, clipped to the image) — brighter than the surround gives an "on" response, darker an
    "off" response, each truncated to whole grey levels; the responses are summed over the six
    scales, the on and off sums are each scaled to [0, 255] by their image's maximum, added, and
    scaled once more by the larger maximum. On a ``uint8`` grey ``(B, 1, H, W)`` batch the map equals
    OpenCV's, value for value (integer steps are done in integers, divisions in float32 as OpenCV).

    Args:
        images: ``(B, C, H, W)`` images. ``uint8`` images are read as 8-bit intensities (3 channels:
            RGB, ITU-R 601 luma). Floating images are made grey (luma for 3 channels, the channel
            mean otherwise) and mapped to 8 bits by ``value_range``.
        value_range: the floating intensities that become 0 and 255 (e.g. ``(0, 1)`` for images on
            the [0, 1] scale: then the map is OpenCV's of the image in 8 bits); ``None`` (default)
            stretches each image's grey to [0, 255], so the map does not depend on a global scale or
            offset of the intensities (any normalisation), at the price of a different 8-bit
            quantisation. Ignored for ``uint8`` images.

    Note: Where OpenCV's final 8-bit cast overflows (on and off responses whose sum exceeds the
       larger maximum; a C cast out of range, which wraps on common hardware) the map saturates at 1
       here. A constant image has the all-zero map (OpenCV divides 0 by 0 there).
    """
    if images.ndim != 4:
        raise ValueError(f"images must be a (B, C, H, W) batch, got images.shape={tuple(images.shape)}")
    with torch.no_grad():
        grey = _blur_121(_blur_121(_to_8bit(images, value_range)))
        h, w = grey.shape[-2:]
        integral = F.pad(grey.cumsum(1).cumsum(2), (1, 0, 1, 0))  # exact, in int64
        centre = grey.float()
        on_sum = torch.zeros_like(grey)
        off_sum = torch.zeros_like(grey)
        for n in _FG_NEIGHBOURHOODS:
            y0, y1 = _window(n, h, grey.device)
            x0, x1 = _window(n, w, grey.device)
            total = (
                integral[:, y1][:, :, x1]
                + integral[:, y0][:, :, x0]
                - integral[:, y1][:, :, x0]
                - integral[:, y0][:, :, x1]
            )
            count = ((y1 - y0)[:, None] * (x1 - x0)[None, :] - 1).clamp(min=1)
            surround = (total.float() - centre) / count.float()  # float32, as OpenCV
            on_sum += (centre - surround).clamp(min=0).trunc().long()
            off_sum += (surround - centre).clamp(min=0).trunc().long()

        def _stretch(values: torch.Tensor) -> torch.Tensor:
            top = values.amax(dim=(1, 2), keepdim=True).float()
            share = torch.where(top > 0, values.float() / top.clamp(min=1), torch.zeros_like(top))  # float32
            return (255.0 * share.double()).trunc().long()

        on, off = _stretch(on_sum), _stretch(off_sum)
        top = torch.maximum(on.amax(dim=(1, 2), keepdim=True), off.amax(dim=(1, 2), keepdim=True)).double()
        mixed = torch.where(top > 0, 255.0 * (on + off).double() / top.clamp(min=1), torch.zeros_like(top))
        return mixed.trunc().clamp(max=255).float() * (1.0 / 255.0)


@mixer_dataclass
class SaliencyMix(ImageMixer):
    """SaliencyMix: paste the partner's most salient region, found without a model.

    The saliency map of every partner is computed in torch, batched — by default OpenCV's
    fine-grained static saliency, the detector of the authors' training scripts (see
    `fine_grained_saliency`), or the spectral residual (`spectral_residual_saliency`); a
    CutMix-sized box (side ratio √(1 − λ)) is centred on the partner's saliency peak (argmax; the
    first one in raster order on ties, as ``np.argmax``), clipped to the image, and the partner's
    pixels in that box are pasted at the same location into the anchor. λ is recomputed from the
    clipped area (Uddin et al., *SaliencyMix: A Saliency Guided Data Augmentation Strategy for Better
    Regularization*, ICLR 2021, arXiv:2006.01791).

    Args:
        saliency: ``"fine_grained"`` (default; Montabone & Soto's centre-surround saliency, as
            ``cv2.saliency.StaticSaliencyFineGrained``, at the image's resolution) or
            ``"spectral_residual"`` (Hou & Zhang, as ``StaticSaliencySpectralResidual``).
        saliency_size: working resolution of the spectral-residual map (square side), default 64 as
            OpenCV's ``StaticSaliencySpectralResidual``; ``None`` computes it at the image size.
            The fine-grained map is always computed at the image size, as OpenCV does.
        correct_lam: recompute λ as 1 − box area/(H·W) after clipping (default ``True``); ``False``
            keeps the drawn λ for the labels.
        mean: the per-channel means the inputs were normalised with (one value or one per channel).
            With ``mean``/``std`` the fine-grained detector sees the images on their own 8-bit scale
            (``(x·std + mean)·255``), as OpenCV would on the image files; without them (default)
            each image's grey is stretched to [0, 255], which needs no statistics and ignores any
            normalisation but quantises differently (on 64 natural 32-px crops the peak was
            OpenCV's in 28, within 1 px in 47).
        std: the per-channel standard deviations, likewise.
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`.

    Note: The box depends on the partners' content, so sampling a plan reads the inputs: the
       saliency maps are computed on the inputs' device and only the ``(B, 2)`` peaks are copied to
       the CPU (one host synchronisation per call on CUDA). Deviations from the official code
       (``SaliencyMix_CIFAR/saliencymix.py``, ImageNet ``train.py``; OpenMixup's is the same):

       - the reference computes the saliency of **one** partner (``input[rand_index[0]]``) and pastes
         that one box into the whole batch; here every sample gets its own box, at its own partner's
         peak, in both modes (``mode`` decides whether λ, hence the box size, is shared);
       - the reference hands OpenCV the normalised float32 tensor (RGB in BGR's place), which the
         8-bit detector reads through its 8-bit pixel accessors (``gray.at<uchar>``), so its map is not
         the fine-grained saliency of the image (on 64 natural 32-px crops its peak matched the 8-bit
         image's in none); here the detector
         sees the image's 8-bit grey intensity (floating inputs are stretched per image to [0, 255]);
       - the reference's box spans ``[peak − cut//2, peak + cut//2]`` (one pixel short for an odd
         cut); here it spans ``[peak − cut//2, peak − cut//2 + cut)``, the CutMix side exactly.

    Examples:
        >>> mixer = SaliencyMix(alpha=1.0, num_classes=10)
        >>> out = mixer(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.boxes.shape
        torch.Size([8, 4])
    """

    name: ClassVar[str] = "saliencymix"
    paper: ClassVar[str] = (
        "Uddin et al., SaliencyMix: A Saliency Guided Data Augmentation Strategy for Better Regularization, ICLR 2021, "
        "https://arxiv.org/abs/2006.01791"
    )

    saliency: Literal["fine_grained", "spectral_residual"] = "fine_grained"
    saliency_size: int | None = Field(default=64, ge=1)
    correct_lam: bool = True
    mean: list[float] | None = None
    std: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] | None = None

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        b = index.shape[0]
        h, w = int(inputs.shape[-2]), int(inputs.shape[-1])
        if self.saliency == "fine_grained" and (self.mean is not None or self.std is not None):
            saliency = fine_grained_saliency(unnormalise(inputs, self.mean, self.std, mixer="SaliencyMix"), (0.0, 1.0))
        elif self.saliency == "fine_grained":
            saliency = fine_grained_saliency(inputs)
        else:
            saliency = spectral_residual_saliency(inputs, self.saliency_size)
        peaks = saliency.reshape(b, h * w).argmax(dim=1).cpu()[index]  # each partner's peak
        boxes = centred_boxes(peaks // w, peaks % w, lam, (h, w), index)
        label_lam = 1.0 - box_area_share(boxes, (h, w)) if self.correct_lam else lam
        return BoxPlan(index=index, lam=label_lam.float(), boxes=boxes, size=(h, w))

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        return apply_box_plan(inputs, plan, type(self).__name__)
