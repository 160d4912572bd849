"""ResizeMix: paste a downscaled copy of the whole partner into the anchor."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import field_validator

from mixup_core import FixedLambda, MixPlan, mixer_dataclass

from ._base import BoxPlan, ImageMixer, box_area_share, box_mask

__all__ = ["ResizeMix", "resize_into_boxes"]


def _source_index(
    n: int, start: torch.Tensor, length: torch.Tensor, mode: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Source positions of a resize of ``n`` pixels into ``length`` pixels starting at ``start``.

    Returns ``(lo, hi, frac)`` of shape ``(B, n)``: nearest gives ``lo`` only (``hi = lo``,
    ``frac = None``); bilinear interpolates ``lo`` and ``hi`` with weight ``frac`` on ``hi``. Positions
    outside the box are clamped to valid indices (they are masked out afterwards).
    """
    d = torch.arange(n, device=device)[None, :] - start[:, None]  # (B, n) offset inside the box
    length = length.clamp(min=1)[:, None]
    if mode == "nearest":
        # PyTorch's "nearest-exact": floor((d + 0.5)·n/length), in exact integer arithmetic
        lo = ((2 * d + 1) * n).div(2 * length, rounding_mode="floor").clamp(0, n - 1)
        return lo, lo, None
    # bilinear, align_corners=False: src = (d + 0.5)·n/length − 0.5, clamped at 0
    src = ((d.double() + 0.5) * n / length.double() - 0.5).clamp(min=0.0)
    lo = src.floor().long().clamp(0, n - 1)
    hi = (lo + 1).clamp(max=n - 1)
    return lo, hi, (src - lo.double()).clamp(0.0, 1.0)


def resize_into_boxes(
    images: torch.Tensor, boxes: torch.Tensor, mode: Literal["nearest", "bilinear"] = "nearest"
) -> torch.Tensor:
    """Each image resized to its own box size and placed at its box, ``(B, C, H, W)``; no loop.

    Inside box ``b`` the result is ``images[b]`` resized to the box's size (as ``F.interpolate`` with
    ``mode="nearest-exact"`` or ``"bilinear"``, ``align_corners=False``, no antialiasing); outside it
    holds clamped copies of border pixels and is meant to be masked out. Every value is a copy or a
    convex combination of pixels of ``images[b]`` alone, so the pasted region is 100% that image.

    Args:
        images: ``(B, C, H, W)``.
        boxes: long ``(B, 4)`` ``(y0, y1, x0, x1)`` boxes inside the image (any device).
        mode: ``"nearest"`` or ``"bilinear"``.
    """
    b, c, h, w = images.shape
    bx = boxes.to(images.device, non_blocking=True)
    y_lo, y_hi, y_frac = _source_index(h, bx[:, 0], bx[:, 1] - bx[:, 0], mode, images.device)
    x_lo, x_hi, x_frac = _source_index(w, bx[:, 2], bx[:, 3] - bx[:, 2], mode, images.device)

    def rows(i: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        return src.gather(2, i[:, None, :, None].expand(b, c, h, src.shape[3]))

    def cols(i: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        return src.gather(3, i[:, None, None, :].expand(b, c, src.shape[2], w))

    if y_frac is None or x_frac is None:
        return cols(x_lo, rows(y_lo, images))
    wy = y_frac.to(images.dtype)[:, None, :, None]
    wx = x_frac.to(images.dtype)[:, None, None, :]
    tall = torch.lerp(rows(y_lo, images), rows(y_hi, images), wy)
    return torch.lerp(cols(x_lo, tall), cols(x_hi, tall), wx)


def _like(result: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``result`` in the memory format of ``inputs`` (channels-last stays channels-last)."""
    if not inputs.is_contiguous() and inputs.is_contiguous(memory_format=torch.channels_last):
        return result.contiguous(memory_format=torch.channels_last)
    return result


@mixer_dataclass
class ResizeMix(ImageMixer):
    """ResizeMix: shrink the **whole** partner to side ratio τ and paste it at a random position.

    τ ~ U(``scope``) (default U(0.1, 0.8), as in the paper and OpenMixup); the pasted patch is
    ``floor(τ·H) × floor(τ·W)`` pixels (at least one) and lies entirely inside the anchor, its
    top-left corner uniform over the positions where it fits. The anchor's label weight is its exact
    pixel share, λ = 1 − patch pixels/(H·W) (Qin et al., *ResizeMix: Mixing Data with Preserved
    Object Information and True Labels*, arXiv:2012.11101).

    Interpolation: every pasted pixel is a copy (``"nearest"``, PyTorch's ``nearest-exact``) or a
    convex combination (``"bilinear"``) of the partner's pixels only, and every pixel outside the
    patch is the anchor's, so the partner's content share equals the patch's pixel share exactly
    with either mode. Neither mode antialiases (like OpenMixup's ``interpolate``).

    Args:
        scope: ``(low, high)`` range of τ, with ``0 < low <= high <= 1``; default ``(0.1, 0.8)``.
        use_alpha: take τ from the λ policy (``alpha``/``beta``/``lam``) instead of U(scope)
            (default ``False``); as OpenMixup, a drawn τ outside ``scope`` is replaced by a fresh
            U(scope) draw (not clipped, which would pile the mass on the two ends), and a fixed
            ``lam`` is clipped to ``scope``.
        interpolation: ``"nearest"`` (default, as OpenMixup) or ``"bilinear"``.
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`.
            Without ``use_alpha`` the drawn λ only decides which samples stay unmixed (λ = 1 from
            ``p``, protection or self-pairing).

    Note: ``mode="batch"`` draws one τ and one position for the batch (as OpenMixup);
       ``mode="sample"`` one per sample. Partners of different sizes are resized in one gather,
       with no loop over the batch. Unlike OpenMixup, the patch is never clipped at the border
       (clipping would squeeze the partner out of its aspect ratio).

    Examples:
        >>> mixer = ResizeMix(mode="sample", num_classes=10)
        >>> out = mixer(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.boxes.shape
        torch.Size([8, 4])
    """

    name: ClassVar[str] = "resizemix"
    paper: ClassVar[str] = (
        "Qin et al., ResizeMix: Mixing Data with Preserved Object Information and True Labels, arXiv 2020, "
        "https://arxiv.org/abs/2012.11101"
    )

    scope: tuple[float, float] = (0.1, 0.8)
    use_alpha: bool = False
    interpolation: Literal["nearest", "bilinear"] = "nearest"

    @field_validator("scope", mode="before")
    @classmethod
    def _scalar_to_pair(cls, value: Any) -> Any:
        return (value, value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @field_validator("scope")
    @classmethod
    def _check_scope(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1] <= 1:
            raise ValueError(f"scope must be (low, high) with 0 < low <= high <= 1, got scope={value!r}")
        return value

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        b = index.shape[0]
        h, w = int(inputs.shape[-2]), int(inputs.shape[-1])
        m = 1 if self.mode == "batch" else b
        lo, hi = self.scope
        uniform = lo + (hi - lo) * torch.rand(m, generator=generator, dtype=torch.float64).expand(b)
        tau = uniform
        if self.use_alpha:
            drawn = lam.double()
            if isinstance(self.lam_policy, FixedLambda):
                tau = drawn.clamp(lo, hi)
            else:
                tau = torch.where((drawn >= lo) & (drawn <= hi), drawn, uniform)
        cut_h = torch.floor(h * tau).long().clamp(1, h)
        cut_w = torch.floor(w * tau).long().clamp(1, w)
        corner = torch.rand((m, 2), generator=generator, dtype=torch.float64).expand(b, 2)
        y0 = torch.floor(corner[:, 0] * (h - cut_h + 1)).long().clamp(max=h - cut_h)
        x0 = torch.floor(corner[:, 1] * (w - cut_w + 1)).long().clamp(max=w - cut_w)
        boxes = torch.stack([y0, y0 + cut_h, x0, x0 + cut_w], dim=1)
        active = (index != torch.arange(b)) & (lam < 1)
        boxes = torch.where(active[:, None], boxes, torch.zeros_like(boxes))
        share = 1.0 - box_area_share(boxes, (h, w))
        return BoxPlan(index=index, lam=share.float(), boxes=boxes, size=(h, w))

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, BoxPlan):
            raise TypeError(f"ResizeMix.apply needs a BoxPlan, got {type(plan).__name__}")
        if plan.size != (inputs.shape[-2], inputs.shape[-1]):
            raise ValueError(
                f"the plan's boxes were drawn for size {plan.size}, but inputs.shape={tuple(inputs.shape)}"
            )
        idx = plan.index.to(inputs.device, non_blocking=True)
        pasted = resize_into_boxes(inputs[idx], plan.boxes, self.interpolation)
        inside = box_mask(plan.boxes, plan.size, inputs.device)
        return _like(torch.where(inside, pasted, inputs), inputs)
