"""FMix: binary masks from thresholded low-frequency Fourier noise."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from mixup_core import MixPlan, mixer_dataclass

from ._base import ImageMixer, MaskPlan, apply_mask

__all__ = ["FMix", "binarise_noise", "fourier_noise"]


def fourier_noise(
    n: int, size: tuple[int, int], decay_power: float, generator: torch.Generator | None
) -> torch.Tensor:
    """``n`` low-frequency noise images, float32 ``(n, H, W)`` on the CPU.

    A complex Gaussian spectrum over the ``rfft2`` frequency grid is scaled by ``1 / f**decay_power``
    (frequencies floored at ``1 / max(H, W)``, as in the reference implementation) and brought back
    to a real image by an inverse FFT. All ``n`` images come from one batched FFT.

    Args:
        n: number of noise images.
        size: ``(H, W)``.
        decay_power: the spectral decay δ; larger values give smoother, blobbier masks.
        generator: CPU generator the spectrum is drawn from.
    """
    h, w = size
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, :]
    freqs = torch.sqrt(fx * fx + fy * fy).clamp(min=1.0 / max(h, w))
    scale = freqs.pow(-float(decay_power)).float()  # (H, W // 2 + 1)
    param = torch.randn((n, h, w // 2 + 1, 2), generator=generator)
    spectrum = torch.complex(param[..., 0], param[..., 1]) * scale
    return torch.fft.irfft2(spectrum, s=(h, w))


def binarise_noise(noise: torch.Tensor, lam: torch.Tensor, max_soft: float = 0.0) -> torch.Tensor:
    """The anchor masks of FMix: each row's ``round(λ·N)`` highest-valued pixels are 1, the rest 0.

    Args:
        noise: ``(n, N)`` flattened noise, ``n`` = 1 (one field shared by every row) or ``B``.
        lam: ``(B,)`` target shares.
        max_soft: half-width (as a fraction of ``N``) of a linear ramp from 1 to 0 around the
            threshold, capped at ``min(λ, 1 − λ)`` per row as in the reference. The ramp is
            symmetric, so each row's mean is still exactly ``round(λ·N) / N``.

    Returns:
        float32 ``(B, N)`` masks in ``[0, 1]``.
    """
    b, n_pix = lam.shape[0], noise.shape[1]
    order = noise.argsort(dim=1, descending=True, stable=True).expand(b, n_pix)
    lam64 = lam.double()
    num = torch.round(lam64 * n_pix).long().clamp(0, n_pix)
    eff = torch.minimum(torch.full_like(lam64, float(max_soft)), torch.minimum(lam64, 1.0 - lam64)).clamp(min=0.0)
    soft = torch.floor(eff * n_pix).long()
    lo = (num - soft).clamp(min=0)[:, None].float()
    hi = (num + soft).clamp(max=n_pix)[:, None].float()
    width = (hi - lo - 1).clamp(min=1)
    # the mask value of the pixel of each rank: 1 above the band, a linear ramp from 1 to 0 inside it, 0 below
    rank = torch.arange(n_pix, dtype=torch.float32)[None, :]
    by_rank = torch.where(rank >= hi, 0.0, (1.0 - (rank - lo) / width).clamp(max=1.0))
    return torch.empty((b, n_pix), dtype=torch.float32).scatter_(1, order, by_rank)


@mixer_dataclass
class FMix(ImageMixer):
    """FMix: keep the anchor where low-frequency Fourier noise is highest, take the partner elsewhere.

    A complex Gaussian spectrum is scaled by ``1/f^decay_power``, inverse-FFT'd to a real image, and
    its ``round(λ·H·W)`` highest-valued pixels become the **anchor's** pixels (mask 1 = anchor, FMix's
    own convention: ``x̂ = M·x_a + (1 − M)·x_b``). The anchor's share, and so its label weight, is the
    exact mask mean (Harris et al., *FMix: Enhancing Mixed Sample Data Augmentation*,
    arXiv:2002.12047; reference code ecs-vlc/FMix).

    Rounding: the reference picks ⌈λN⌉ or ⌊λN⌋ at random; here the pixel count is ``round(λ·N)``
    (half to even), so the plan's λ differs from the drawn λ by at most ``0.5/N`` and is exact.

    Args:
        decay_power: spectral decay δ of the noise (default 3; larger is smoother).
        max_soft: softening of the mask edge in ``[0, 0.5]`` (default 0, a binary mask): the pixels
            ranked within ``max_soft·N`` of the threshold get a linear ramp from 1 to 0, keeping
            the mask mean exact.
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`.
            The reference's "reformulate" option (λ ~ Beta(α+1, α)) is ``alpha=a + 1, beta=a``.

    Note: ``mode="batch"`` draws one noise field for the whole batch (as the reference does)
       and thresholds it at the shared λ; ``mode="sample"`` draws one field per sample. In both
       modes the plan holds a mask per sample, so samples whose λ was changed by protection or
       self-pairing are still exact.

    Examples:
        >>> mixer = FMix(alpha=1.0, num_classes=10)
        >>> out = mixer(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.mask.shape
        torch.Size([8, 1, 32, 32])
    """

    name: ClassVar[str] = "fmix"
    paper: ClassVar[str] = "Harris et al., FMix: Enhancing Mixed Sample Data Augmentation, arXiv 2020, https://arxiv.org/abs/2002.12047"

    decay_power: float = Field(3.0, gt=0, allow_inf_nan=False)
    max_soft: float = Field(0.0, ge=0, le=0.5)

    def _make_plan(self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None) -> MixPlan:
        b = index.shape[0]
        h, w = int(inputs.shape[-2]), int(inputs.shape[-1])
        fields = 1 if self.mode == "batch" else b
        noise = fourier_noise(fields, (h, w), self.decay_power, generator).reshape(fields, h * w)
        mask = binarise_noise(noise, lam, self.max_soft).reshape(b, 1, h, w)
        share = mask.double().mean(dim=(1, 2, 3)).float()
        return MaskPlan(index=index, lam=share, mask=mask)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, MaskPlan):
            raise TypeError(f"FMix.apply needs a MaskPlan, got {type(plan).__name__}")
        if tuple(plan.mask.shape[-2:]) != tuple(inputs.shape[-2:]):
            raise ValueError(f"the plan's mask has size {tuple(plan.mask.shape[-2:])}, but inputs.shape={tuple(inputs.shape)}")
        return apply_mask(inputs, plan.index, plan.mask)
