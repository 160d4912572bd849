"""SaliencyMix: a CutMix box centred on the partner's spectral-residual saliency peak."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field

from mixup_core import MixPlan, mixer_dataclass

from ._base import BoxPlan, ImageMixer, apply_box_plan, box_area_share, centred_boxes

__all__ = ["SaliencyMix", "spectral_residual_saliency"]

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
    return sum(t * rows[..., :, i : i + w] for i, t in enumerate(taps))  # type: ignore[no-any-return, index]


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


@mixer_dataclass
class SaliencyMix(ImageMixer):
    """SaliencyMix: paste the partner's most salient region, found without a model.

    The spectral-residual saliency map of every partner is computed in torch, batched (see
    `spectral_residual_saliency`); a CutMix-sized box (side ratio √(1 − λ)) is centred on the
    partner's saliency peak (argmax; the first one on ties), clipped to the image, and the partner's
    pixels in that box are pasted at the same location into the anchor. λ is recomputed from the
    clipped area (Uddin et al., *SaliencyMix: A Saliency Guided Data Augmentation Strategy for Better
    Regularization*, ICLR 2021, arXiv:2006.01791).

    Args:
        saliency_size: working resolution of the saliency map (square side), default 64 as OpenCV's
            ``StaticSaliencySpectralResidual``; ``None`` computes it at the image size.
        correct_lam: recompute λ as 1 − box area/(H·W) after clipping (default ``True``); ``False``
            keeps the drawn λ for the labels.
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`.

    Note: The box depends on the partners' content, so sampling a plan reads the inputs: the
       saliency maps are computed on the inputs' device and only the ``(B, 2)`` peaks are copied to
       the CPU (one host synchronisation per call on CUDA). Every sample gets its own box (its
       partner's peak), in both modes; ``mode`` decides whether λ, hence the box size, is shared.
       The official code and OpenMixup call OpenCV's *fine-grained* static saliency on one image of
       the batch; this implementation follows the spectral-residual method for every partner.

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

    saliency_size: int | None = Field(64, ge=1)
    correct_lam: bool = True

    def _make_plan(self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None) -> MixPlan:
        b = index.shape[0]
        h, w = int(inputs.shape[-2]), int(inputs.shape[-1])
        saliency = spectral_residual_saliency(inputs, self.saliency_size)
        peaks = saliency.reshape(b, h * w).argmax(dim=1).cpu()[index]  # each partner's peak
        boxes = centred_boxes(peaks // w, peaks % w, lam, (h, w), index)
        label_lam = 1.0 - box_area_share(boxes, (h, w)) if self.correct_lam else lam
        return BoxPlan(index=index, lam=label_lam.float(), boxes=boxes, size=(h, w))

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        return apply_box_plan(inputs, plan, type(self).__name__)
