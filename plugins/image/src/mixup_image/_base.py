"""Shared machinery of the image mixers: input checks, plans with masks or boxes, vectorised kernels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from mixup_core import MixPlan, PairMixer, mixer_dataclass

__all__ = [
    "BoxPlan",
    "ImageMixer",
    "MaskPlan",
    "apply_box",
    "apply_box_plan",
    "apply_mask",
    "box_mask",
    "centred_boxes",
    "check_images",
    "sample_boxes",
]


def check_images(inputs: object, name: str = "inputs") -> torch.Tensor:
    """Check that ``inputs`` is a 4-D ``(B, C, H, W)`` floating tensor with a non-empty batch."""
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(inputs).__name__}")
    if inputs.ndim != 4:
        raise ValueError(f"image mixers take {name} of shape (B, C, H, W), got {name}.shape={tuple(inputs.shape)}")
    if inputs.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch: {name}.shape={tuple(inputs.shape)}")
    if not inputs.is_floating_point():
        raise TypeError(
            f"image mixers mix floating {name}, got dtype {inputs.dtype} (shape {tuple(inputs.shape)}); convert with "
            f"{name}.float() first, or mix uint8 batches with mixup_image.MixupCollate"
        )
    return inputs


@dataclass(frozen=True, kw_only=True)
class MaskPlan(MixPlan):
    """A plan with a per-pixel mask.

    Args:
        mask: the **anchor's** weight per pixel, float32 ``(B, 1, H, W)`` in ``[0, 1]`` on the CPU
            (1 keeps the anchor's pixel, 0 takes the partner's). ``lam`` is its mean per sample.
    """

    mask: torch.Tensor


@dataclass(frozen=True, kw_only=True)
class BoxPlan(MixPlan):
    """A plan with one rectangle per sample, filled from the partner.

    Args:
        boxes: long ``(B, 4)`` as ``(y0, y1, x0, x1)``, half-open, already clipped to the image.
        size: the ``(H, W)`` the boxes were drawn for.
    """

    boxes: torch.Tensor
    size: tuple[int, int]


def box_mask(boxes: torch.Tensor, size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean ``(B, 1, H, W)``: ``True`` inside each sample's box (the partner's pixels)."""
    h, w = size
    b = boxes.to(device, non_blocking=True)
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    in_rows = (rows[None, :] >= b[:, 0:1]) & (rows[None, :] < b[:, 1:2])  # (B, H)
    in_cols = (cols[None, :] >= b[:, 2:3]) & (cols[None, :] < b[:, 3:4])  # (B, W)
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]


def apply_mask(inputs: torch.Tensor, index: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mask·x + (1 − mask)·x[index]`` in one allocation; ``mask`` is the anchor weight ``(B, 1, H, W)``."""
    idx = index.to(inputs.device, non_blocking=True)
    weight = mask.to(device=inputs.device, dtype=inputs.dtype, non_blocking=True)
    return inputs[idx].lerp_(inputs, weight)


def apply_box(inputs: torch.Tensor, index: torch.Tensor, boxes: torch.Tensor, *, shared_box: bool) -> torch.Tensor:
    """Paste each partner's box into a copy of the anchor.

    With ``shared_box`` (one box for the batch) only the box region of the partners is gathered;
    otherwise a per-sample boolean mask selects between anchors and partners, vectorised.
    """
    idx = index.to(inputs.device, non_blocking=True)
    if shared_box:
        y0, y1, x0, x1 = (int(v) for v in boxes[0])
        out = inputs.clone()
        if y1 > y0 and x1 > x0:
            out[:, :, y0:y1, x0:x1] = inputs[idx, :, y0:y1, x0:x1]
        return out
    inside = box_mask(boxes, (inputs.shape[-2], inputs.shape[-1]), inputs.device)
    return torch.where(inside, inputs[idx], inputs)


def centred_boxes(
    cy: torch.Tensor, cx: torch.Tensor, lam: torch.Tensor, size: tuple[int, int], index: torch.Tensor | None = None
) -> torch.Tensor:
    """CutMix boxes of side ratio √(1 − λ) centred on ``(cy, cx)``, clipped to the image.

    Args:
        cy: row of each box centre, long ``(B,)``.
        cx: column of each box centre, long ``(B,)``.
        lam: the drawn λ per sample, ``(B,)``.
        size: ``(H, W)``.
        index: the plan's partners; samples paired with themselves get an empty box.

    Returns:
        long ``(B, 4)`` boxes ``(y0, y1, x0, x1)``, half-open.
    """
    h, w = size
    ratio = torch.sqrt((1.0 - lam.double()).clamp(min=0.0))
    cut_h = (h * ratio).floor().long()
    cut_w = (w * ratio).floor().long()
    y0 = (cy - cut_h // 2).clamp(0, h)
    y1 = (cy + cut_h - cut_h // 2).clamp(0, h)
    x0 = (cx - cut_w // 2).clamp(0, w)
    x1 = (cx + cut_w - cut_w // 2).clamp(0, w)
    boxes = torch.stack([y0, y1, x0, x1], dim=1)
    if index is not None:
        boxes = torch.where((index == torch.arange(index.shape[0]))[:, None], torch.zeros_like(boxes), boxes)
    return boxes


def sample_boxes(
    lam: torch.Tensor,
    size: tuple[int, int],
    generator: torch.Generator | None,
    *,
    shared: bool,
    index: torch.Tensor | None = None,
) -> torch.Tensor:
    """CutMix boxes: side ratio √(1 − λ) of the image, uniform centre, clipped to the image.

    Args:
        lam: the drawn λ per sample, ``(B,)``.
        size: ``(H, W)``.
        generator: CPU generator.
        shared: draw one centre for the whole batch (``lam`` must then be uniform).
        index: the plan's partners; samples paired with themselves get an empty box.

    Returns:
        long ``(B, 4)`` boxes ``(y0, y1, x0, x1)``.
    """
    h, w = size
    n = lam.shape[0]
    centres = torch.rand((1 if shared else n, 2), generator=generator, dtype=torch.float64).expand(n, 2)
    return centred_boxes((centres[:, 0] * h).long(), (centres[:, 1] * w).long(), lam, size, index)


def apply_box_plan(inputs: torch.Tensor, plan: MixPlan, mixer: str) -> torch.Tensor:
    """Apply a `BoxPlan` (shared by the box mixers): checks the plan, then pastes the partners' boxes."""
    if not isinstance(plan, BoxPlan):
        raise TypeError(f"{mixer}.apply needs a BoxPlan, got {type(plan).__name__}")
    if plan.size != (inputs.shape[-2], inputs.shape[-1]):
        raise ValueError(f"the plan's boxes were drawn for size {plan.size}, but inputs.shape={tuple(inputs.shape)}")
    # the shared-box fast path is chosen from the plan's values; under torch.compile that branch would
    # break the graph, so the (equal) per-sample mask path is traced instead
    shared = (
        not torch.compiler.is_compiling()
        and bool((plan.boxes == plan.boxes[0]).all())
        and bool((plan.index != torch.arange(plan.batch_size)).all())
    )
    return apply_box(inputs, plan.index, plan.boxes, shared_box=shared)


def box_area_share(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The share of each image covered by its box, float32 ``(B,)``."""
    h, w = size
    area = (boxes[:, 1] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 2]).clamp(min=0)
    return (area.double() / (h * w)).float()


@mixer_dataclass
class ImageMixer(PairMixer):
    """Base class of pair mixers for ``(B, C, H, W)`` images.

    Subclasses implement ``_make_plan`` (boxes or masks drawn from λ) and ``_apply``, and may
    override `anchor_mask` so label policies (TransMix) can read each pixel's provenance.
    """

    modality: ClassVar[str] = "image"
    min_ndim: ClassVar[int] = 4
    example_shape: ClassVar[tuple[int, ...]] = (3, 16, 16)
    feature_dim: ClassVar[int] = 1

    def check_inputs(self, inputs: object) -> torch.Tensor:
        return check_images(inputs)

    def anchor_mask(self, plan: MixPlan, size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
        """The anchor's weight per pixel, float32 ``(B, 1, H, W)``, for a plan of this mixer."""
        if isinstance(plan, MaskPlan):
            return plan.mask.to(device)
        if isinstance(plan, BoxPlan):
            return (~box_mask(plan.boxes, size, device)).float()
        return plan.lam.to(device).view(-1, 1, 1, 1).expand(-1, 1, *size).contiguous()
