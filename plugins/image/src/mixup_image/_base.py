"""Shared machinery of the image mixers: input checks, plans with masks or boxes, vectorised kernels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from mixup_core import MixPlan, PairMixer, mixer_dataclass, numpy_view

__all__ = [
    "BoxPlan",
    "ImageMixer",
    "MaskPlan",
    "all_equal",
    "anchor_share",
    "apply_box",
    "apply_box_plan",
    "apply_mask",
    "box_mask",
    "centred_boxes",
    "check_images",
    "sample_boxes",
    "unnormalise",
]


def unnormalise(
    images: torch.Tensor, mean: list[float] | None, std: list[float] | None, *, mixer: str
) -> torch.Tensor:
    """``images · std + mean`` per channel (float32, detached), the images on their [0, 1] scale.

    ``mean`` and ``std`` hold one value or one per channel; ``None`` for both leaves the images as
    they are. Used where a method compares pixel values on the scale of the source images.
    """
    x = images.detach().float()
    if mean is None and std is None:
        return x
    channels = x.shape[1]
    stats = []
    for name, values, default in (("mean", mean, 0.0), ("std", std, 1.0)):
        v = [default] if values is None else list(values)
        if len(v) not in (1, channels):
            raise ValueError(
                f"{mixer}: {name} must hold one value or one per channel ({channels} for inputs.shape="
                f"{tuple(images.shape)}), got {name}={values}"
            )
        stats.append(torch.tensor(v, dtype=torch.float32, device=x.device).view(1, -1, 1, 1))
    return x * stats[1] + stats[0]


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
    view = numpy_view(boxes)
    if view is not None and view.ndim == 2:
        # each box's rows and columns found on the host, where the plan's boxes live: on the
        # device, two small copies and one AND instead of a copy and nine operations
        rows, cols = np.arange(h), np.arange(w)
        in_rows = torch.from_numpy((rows >= view[:, 0:1]) & (rows < view[:, 1:2])).to(device, non_blocking=True)
        in_cols = torch.from_numpy((cols >= view[:, 2:3]) & (cols < view[:, 3:4])).to(device, non_blocking=True)
    else:
        b = boxes.to(device, non_blocking=True)
        rows_t = torch.arange(h, device=device)
        cols_t = torch.arange(w, device=device)
        in_rows = (rows_t[None, :] >= b[:, 0:1]) & (rows_t[None, :] < b[:, 1:2])  # (B, H)
        in_cols = (cols_t[None, :] >= b[:, 2:3]) & (cols_t[None, :] < b[:, 3:4])  # (B, W)
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
        y0, y1, x0, x1 = (int(v) for v in boxes[0].tolist())  # one read of the box, not four
        out = inputs.clone()
        if y1 > y0 and x1 > x0:
            out[:, :, y0:y1, x0:x1] = _gather_rows(inputs, idx, inputs[:, :, y0:y1, x0:x1])
        return out
    inside = box_mask(boxes, (inputs.shape[-2], inputs.shape[-1]), inputs.device)
    return _select(inside, _gather_rows(inputs, idx, inputs), inputs)


_SAME_WIDTH_INT = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _select(inside: torch.Tensor, partners: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``torch.where(inside, partners, inputs)``, where ``partners`` is a fresh tensor of the caller's.

    On the CPU, ``torch.where`` costs about three times a plain copy of the batch. Without autograd
    the same selection is done in ``partners``' memory with three in-place bit operations on integer
    views of the same width, ``p ^= x; p &= m; p ^= x`` with ``m`` all ones inside the box: bit for
    bit the values ``torch.where`` selects (NaN payloads and signed zeros included).
    """
    bits = _SAME_WIDTH_INT.get(inputs.element_size())
    if (
        bits is None
        or inputs.device.type != "cpu"
        or inputs.dtype == torch.bool
        or inputs.is_complex()
        or partners.dtype != inputs.dtype
        or inputs.requires_grad
        or partners.requires_grad
        or torch.compiler.is_compiling()
    ):
        return torch.where(inside, partners, inputs)
    x = inputs.view(bits)
    mask = inside.to(bits).neg_()  # 0 outside the box, all bits set inside
    partners.view(bits).bitwise_xor_(x).bitwise_and_(mask).bitwise_xor_(x)
    return partners


def _gather_rows(inputs: torch.Tensor, index: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``rows[index]`` along the batch dimension, where ``rows`` is ``inputs`` or a slice of it.

    ``index_select`` makes the same copy as advanced indexing at a fraction of its cost on the CPU,
    but in the default memory format: it is used when ``inputs`` is contiguous, and advanced indexing
    (which follows channels-last and other layouts) otherwise.
    """
    return rows.index_select(0, index) if inputs.is_contiguous() else rows[index]


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
    arrays = _box_arrays(lam, index)
    if arrays is not None:
        y, x = numpy_view(cy), numpy_view(cx)
        if y is not None and x is not None and _is_long(y, arrays[0].shape) and _is_long(x, arrays[0].shape):
            return torch.from_numpy(_centred_boxes_np(np.stack((y, x), axis=1), *arrays, size))
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


def _box_arrays(lam: torch.Tensor, index: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray | None] | None:
    """NumPy views of λ and the partners when the NumPy box code gives the same boxes as torch's:
    plain CPU tensors, finite float32/float64 λ of shape ``(B,)``, long partners of the same shape."""
    shares = numpy_view(lam)
    partners = None if index is None else numpy_view(index)
    if (
        shares is None
        or shares.ndim != 1
        or shares.dtype not in (np.float32, np.float64)
        or (index is not None and (partners is None or partners.dtype != np.int64 or partners.shape != shares.shape))
        or not np.isfinite(shares).all()
    ):
        return None
    return shares, partners


def _is_long(values: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether ``values`` is a long (int64) array of the given shape."""
    return values.dtype == np.int64 and values.shape == shape


def _centred_boxes_np(
    centres: np.ndarray, lam: np.ndarray, index: np.ndarray | None, size: tuple[int, int]
) -> np.ndarray:
    """`centred_boxes` on NumPy arrays: the same IEEE and integer steps, without torch's per-call cost.

    Args:
        centres: long ``(1, 2)`` (one centre for the batch) or ``(B, 2)``, as ``(row, column)``.
        lam: float32 or float64 ``(B,)``, finite.
        index: long ``(B,)`` partners, or ``None``.
        size: ``(H, W)``.
    """
    n = lam.shape[0]
    boxes = np.empty((n, 4), dtype=np.int64)
    if centres.shape[0] == 1 and n and (lam == lam[0]).all():
        # one box for the whole batch: computed once, on Python floats (IEEE doubles, as in torch)
        boxes[:] = _one_box(int(centres[0, 0]), int(centres[0, 1]), float(lam[0]), size)
    else:
        extent = np.array(size, dtype=np.int64)
        ratio = np.sqrt(np.maximum(1.0 - lam.astype(np.float64), 0.0))
        cut = np.floor(ratio[:, None] * extent).astype(np.int64)  # (B, 2): box height and width
        start = centres - cut // 2
        np.minimum(np.maximum(start, 0), extent, out=boxes[:, 0::2])
        np.minimum(np.maximum(start + cut, 0), extent, out=boxes[:, 1::2])
    if index is not None:
        boxes[index == np.arange(n)] = 0
    return boxes


def _one_box(cy: int, cx: int, lam: float, size: tuple[int, int]) -> list[int]:
    """The box ``[y0, y1, x0, x1]`` of `centred_boxes` for one centre and one finite λ."""
    ratio = math.sqrt(max(1.0 - lam, 0.0))
    box: list[int] = []
    for centre, extent in ((cy, size[0]), (cx, size[1])):
        cut = math.floor(extent * ratio)
        start = centre - cut // 2
        box += (min(max(start, 0), extent), min(max(start + cut, 0), extent))
    return box


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
    centres = torch.rand((1 if shared else n, 2), generator=generator, dtype=torch.float64)
    arrays = _box_arrays(lam, index)
    if arrays is not None:
        # the same products and truncations as torch's (centres[:, 0] * h).long(), …
        pixels = (centres.numpy() * np.array(size, dtype=np.int64)).astype(np.int64)
        return torch.from_numpy(_centred_boxes_np(pixels, *arrays, size))
    centres = centres.expand(n, 2)
    return centred_boxes((centres[:, 0] * h).long(), (centres[:, 1] * w).long(), lam, size, index)


def apply_box_plan(inputs: torch.Tensor, plan: MixPlan, mixer: str) -> torch.Tensor:
    """Apply a `BoxPlan` (shared by the box mixers): checks the plan, then pastes the partners' boxes."""
    if not isinstance(plan, BoxPlan):
        raise TypeError(f"{mixer}.apply needs a BoxPlan, got {type(plan).__name__}")
    if plan.size != (inputs.shape[-2], inputs.shape[-1]):
        raise ValueError(f"the plan's boxes were drawn for size {plan.size}, but inputs.shape={tuple(inputs.shape)}")
    # the shared-box fast path is chosen from the plan's values; under torch.compile that branch would
    # break the graph, so the (equal) per-sample mask path is traced instead
    shared = not torch.compiler.is_compiling() and all_equal(plan.boxes) and _no_self_pairs(plan.index)
    return apply_box(inputs, plan.index, plan.boxes, shared_box=shared)


def all_equal(values: torch.Tensor) -> bool:
    """Whether every row of ``values`` (a non-empty tensor, read on the host) equals the first."""
    view = numpy_view(values)
    if view is not None:
        return bool((view == view[0]).all())
    return bool((values == values[0]).all())


def _no_self_pairs(index: torch.Tensor) -> bool:
    """Whether no sample of a ``(B,)`` partner index is paired with itself."""
    view = numpy_view(index)
    if view is not None and view.ndim == 1:
        return bool((view != np.arange(view.shape[0])).all())
    return bool((index != torch.arange(index.shape[0])).all())


def anchor_share(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``1 − box_area_share(boxes, size)``: the anchor's pixel share of each image, float32 ``(B,)``."""
    view = numpy_view(boxes)
    if view is not None and view.dtype == np.int64 and view.ndim == 2:
        share = _area_share_np(view, size)
        np.subtract(1, share, out=share)  # in float32, as torch's 1.0 - share
        return torch.from_numpy(share)
    return 1.0 - box_area_share(boxes, size)


def box_area_share(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The share of each image covered by its box, float32 ``(B,)``."""
    view = numpy_view(boxes)
    if view is not None and view.dtype == np.int64 and view.ndim == 2:
        return torch.from_numpy(_area_share_np(view, size))
    h, w = size
    area = (boxes[:, 1] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 2]).clamp(min=0)
    return (area.double() / (h * w)).float()


def _area_share_np(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`box_area_share` of long ``(B, 4)`` boxes in NumPy: the same float64 division, rounded to float32."""
    sides = np.maximum(boxes[:, 1::2] - boxes[:, 0::2], 0)  # (B, 2): height and width
    area = sides[:, 0] * sides[:, 1]
    return (area / (size[0] * size[1])).astype(np.float32)  # int64 / int is a float64 division


@mixer_dataclass
class ImageMixer(PairMixer):
    """Base class of pair mixers for ``(B, C, H, W)`` images.

    Subclasses implement ``_make_plan`` (boxes or masks drawn from λ) and ``_apply``, and may
    override `anchor_mask` so label policies (TransMix) can read each pixel's provenance. Protection
    is checked on the pixel shares of a `BoxPlan`'s boxes, whatever its ``lam`` (the drawn λ of
    ``correct_lam=False``).
    """

    modality: ClassVar[str] = "image"
    min_ndim: ClassVar[int] = 4
    example_shape: ClassVar[tuple[int, ...]] = (3, 16, 16)
    feature_dim: ClassVar[int] = 1

    def check_inputs(self, inputs: object) -> torch.Tensor:
        return check_images(inputs)

    def _input_shares(self, plan: MixPlan) -> torch.Tensor:
        # a box plan's pixel shares come from its boxes: its lam is the drawn λ when correct_lam=False
        if isinstance(plan, BoxPlan) and plan.index.ndim == 1:
            share = anchor_share(plan.boxes, plan.size)
            return torch.stack([share, 1.0 - share], dim=1)
        return super()._input_shares(plan)

    def anchor_mask(self, plan: MixPlan, size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
        """The anchor's weight per pixel, float32 ``(B, 1, H, W)``, for a plan of this mixer."""
        if isinstance(plan, MaskPlan):
            return plan.mask.to(device)
        if isinstance(plan, BoxPlan):
            return (~box_mask(plan.boxes, size, device)).float()
        return plan.lam.to(device).view(-1, 1, 1, 1).expand(-1, 1, *size).contiguous()
