"""SmoothMix (Lee et al., CVPRW 2020): a soft Gaussian mask blends the partner into the anchor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from pydantic import field_validator

from mixup_core import MixPlan, mixer_dataclass

from ._base import ImageMixer, apply_mask

__all__ = ["SmoothMix", "SmoothPlan", "gaussian_mask"]


@dataclass(frozen=True, kw_only=True)
class SmoothPlan(MixPlan):
    """A SmoothMix plan: the centre and width of each sample's Gaussian.

    Args:
        centre: long ``(B, 2)`` ``(row, column)`` pixel where the partner's weight G peaks at 1.
        sigma: float64 ``(B,)`` standard deviation of G in pixels; 0 for unmixed samples (G = 0).
        size: the ``(H, W)`` the plan was drawn for.
    """

    centre: torch.Tensor
    sigma: torch.Tensor
    size: tuple[int, int]


def _gaussian_axes(
    centre: torch.Tensor, sigma: torch.Tensor, size: tuple[int, int], device: torch.device | str, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = size
    c = centre.to(device=device, dtype=dtype, non_blocking=True)
    s = sigma.to(device=device, dtype=dtype, non_blocking=True)
    on = (s > 0).to(dtype)[:, None]
    denom = 2.0 * s.clamp(min=1e-6).square()[:, None]
    gy = torch.exp(-(torch.arange(h, device=device, dtype=dtype)[None, :] - c[:, 0:1]).square() / denom) * on
    gx = torch.exp(-(torch.arange(w, device=device, dtype=dtype)[None, :] - c[:, 1:2]).square() / denom)
    return gy, gx


def gaussian_mask(
    plan: SmoothPlan, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The **partner's** weight G per pixel, ``(B, 1, H, W)``, built from the plan on ``device``."""
    gy, gx = _gaussian_axes(plan.centre, plan.sigma, plan.size, device, dtype)
    return (gy[:, :, None] * gx[:, None, :])[:, None]


@mixer_dataclass
class SmoothMix(ImageMixer):
    """SmoothMix: x̂ = (1 − G)·x_a + G·x_b with a Gaussian G that peaks at 1 at a random pixel.

    The centre is a uniformly drawn pixel, σ = s·H with s ~ U(``sigma_range``) (default U(0.25, 0.5),
    as in OpenMixup), isotropic in pixels. The anchor's label weight is its pixel share
    λ = 1 − mean(G) (Lee et al., *SmoothMix: a Simple Yet Effective Data Augmentation to Train
    Robust Classifiers*, CVPR Workshops 2020). OpenMixup's ``smoothmix.py`` returns mean(G), the
    *partner's* share, as λ while weighting y_a by it, which inverts the labels; the tests here
    check the orientation.

    Args:
        sigma_range: ``(low, high)`` range of σ as a fraction of the image height, ``0 < low <= high``;
            default ``(0.25, 0.5)``.
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`. As in
            the paper, the drawn λ does not shape the mask; it only decides which samples stay
            unmixed (λ = 1 from ``p``, protection or self-pairing).

    Note: ``mode="batch"`` draws one centre and σ for the batch (as OpenMixup), ``mode="sample"``
       one per sample. The plan holds three numbers per sample; G is built on the inputs' device.

    Examples:
        >>> mixer = SmoothMix(mode="sample", num_classes=10)
        >>> out = mixer(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> bool((out.plan.lam < 1).all())
        True
    """

    name: ClassVar[str] = "smoothmix"
    paper: ClassVar[str] = (
        "Lee et al., SmoothMix: a Simple Yet Effective Data Augmentation to Train Robust Classifiers, CVPR Workshops "
        "2020, https://paperswithcode.com/paper/smoothmix-a-simple-yet-effective-data"
    )

    sigma_range: tuple[float, float] = (0.25, 0.5)

    @field_validator("sigma_range", mode="before")
    @classmethod
    def _scalar_to_pair(cls, value: Any) -> Any:
        return (value, value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @field_validator("sigma_range")
    @classmethod
    def _check_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1] < float("inf"):
            raise ValueError(f"sigma_range must be (low, high) with 0 < low <= high < inf, got sigma_range={value!r}")
        return value

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        b = index.shape[0]
        h, w = int(inputs.shape[-2]), int(inputs.shape[-1])
        m = 1 if self.mode == "batch" else b
        cy = torch.randint(0, h, (m,), generator=generator)
        cx = torch.randint(0, w, (m,), generator=generator)
        lo, hi = self.sigma_range
        s = lo + (hi - lo) * torch.rand(m, generator=generator, dtype=torch.float64)
        centre = torch.stack([cy, cx], dim=1).expand(b, 2).clone()
        active = (index != torch.arange(b)) & (lam < 1)
        sigma = torch.where(active, (s * h).expand(b), torch.zeros(b, dtype=torch.float64))
        gy, gx = _gaussian_axes(centre, sigma, (h, w), "cpu", torch.float64)
        share = 1.0 - gy.mean(dim=1) * gx.mean(dim=1)  # G is separable: mean(G) = mean(gy)·mean(gx)
        return SmoothPlan(index=index, lam=share.float(), centre=centre, sigma=sigma, size=(h, w))

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, SmoothPlan):
            raise TypeError(f"SmoothMix.apply needs a SmoothPlan, got {type(plan).__name__}")
        if plan.size != (inputs.shape[-2], inputs.shape[-1]):
            raise ValueError(f"the plan was drawn for size {plan.size}, but inputs.shape={tuple(inputs.shape)}")
        return apply_mask(inputs, plan.index, 1.0 - gaussian_mask(plan, inputs.device, torch.float32))

    def anchor_mask(self, plan: MixPlan, size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
        """The anchor's weight per pixel, ``1 − G``, float32 ``(B, 1, H, W)``."""
        if isinstance(plan, SmoothPlan):
            return 1.0 - gaussian_mask(plan, device, torch.float32)
        return super().anchor_mask(plan, size, device)
