"""Shared machinery of the four-tile mixers (RICAP, Mosaic): partners, plans and one vectorised kernel.

A four-tile mix splits each output image at a point ``(h, w)`` into four rectangles, in the order
top-left, top-right, bottom-left, bottom-right. The top-left tile comes from the anchor, the other
three from its partners ``index[:, 0..2]``. Every output pixel comes from exactly one source, so the
label weight of a source is the exact area of its tile(s) divided by ``H·W``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from mixup_core import Mixer, MixPlan, mixer_dataclass

from ._base import check_images

__all__ = ["TileMixer", "TilePlan", "apply_tiles", "draw_partners", "tile_areas", "tile_map"]

NUM_TILES = 4


@dataclass(frozen=True, kw_only=True)
class TilePlan(MixPlan):
    """The plan of a four-tile mixer (RICAP, Mosaic).

    Args:
        index: the three partners of each sample, long ``(B, 3)`` (tiles 1, 2, 3; tile 0 is the anchor).
        lam: area share of the anchor and of each partner's tile, float32 ``(B, 4)``, summing to 1.
        boundary: long ``(B, 2)``, the split point ``(h, w)``: rows ``< h`` and columns ``< w`` form
            the top-left tile. ``(H, W)`` leaves the sample unmixed.
        offsets: long ``(B, 4, 2)``, the ``(y, x)`` of the top-left corner of each tile's crop in its
            source image (unused when ``resize`` is set).
        size: the ``(H, W)`` the plan was drawn for.
        resize: each source is scaled (bilinear) to its tile instead of cropped.
    """

    boundary: torch.Tensor
    offsets: torch.Tensor
    size: tuple[int, int]
    resize: bool = False


def draw_partners(
    n: int,
    k: int,
    *,
    generator: torch.Generator | None,
    candidates: torch.Tensor | None = None,
    groups: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw ``k`` partners for each of ``n`` samples, without fixed points, vectorised.

    The samples are shuffled (within each group when ``groups`` is given) into a cycle, and sample
    ``i``'s ``j``-th partner is the one ``1 + j`` places after it. In a group of ``m >= k + 1``
    samples the partners are therefore ``k`` distinct samples other than the anchor, and every sample
    is the ``j``-th partner of exactly one other. Smaller groups reuse partners: with ``m`` samples
    the ``j``-th partner is ``1 + (j mod (m − 1))`` places further (``B = 2``: the other sample ``k``
    times; ``B = 3``: the two others, then the first again). A sample alone in its group (``B = 1``)
    or outside ``candidates`` is its own partner and stays unmixed.

    Args:
        n: batch size.
        k: partners per sample.
        generator: CPU generator.
        candidates: boolean ``(n,)``: only these samples are mixed and used as partners.
        groups: integer ``(n,)``: partners are drawn within the anchor's group.

    Returns:
        CPU long ``(n, k)``.
    """
    ids = torch.arange(n)
    if groups is None:
        key = torch.zeros(n, dtype=torch.long)
    else:
        key = torch.unique(groups.cpu().long(), return_inverse=True)[1]
    if candidates is not None:
        # every excluded sample forms a group of its own
        key = torch.where(candidates.cpu(), key, n + ids)
    order = torch.randperm(n, generator=generator)
    order = order[torch.sort(key[order], stable=True).indices]
    sorted_key = key[order]
    counts = torch.bincount(sorted_key)
    starts = torch.cumsum(counts, 0) - counts
    start, size = starts[sorted_key], counts[sorted_key]
    pos = ids - start
    steps = 1 + torch.arange(k)[None, :] % (size[:, None] - 1).clamp(min=1)
    steps = torch.where(size[:, None] > 1, steps, torch.zeros_like(steps))
    partners_sorted = order[start[:, None] + (pos[:, None] + steps) % size[:, None]]
    index = torch.empty((n, k), dtype=torch.long)
    index[order] = partners_sorted
    return index


def tile_sizes(boundary: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Heights and widths of the four tiles, long ``(B, 4)`` each."""
    h_total, w_total = size
    h, w = boundary[:, 0], boundary[:, 1]
    heights = torch.stack([h, h, h_total - h, h_total - h], dim=1)
    widths = torch.stack([w, w_total - w, w, w_total - w], dim=1)
    return heights, widths


def tile_areas(boundary: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area share of each tile, float32 ``(B, 4)``, computed exactly from integer areas."""
    heights, widths = tile_sizes(boundary, size)
    return ((heights * widths).double() / (size[0] * size[1])).float()


def tile_map(plan: TilePlan, device: torch.device | str = "cpu") -> torch.Tensor:
    """Which tile each pixel belongs to, long ``(B, 1, H, W)`` in ``0..3`` (0 = the anchor's tile).

    Together with `partner_indices` this gives the provenance of every
    pixel (for label policies such as TransMix).
    """
    row_tile, col_tile = _split(plan, torch.device(device))
    return (2 * row_tile[:, :, None] + col_tile[:, None, :])[:, None]


def _split(plan: TilePlan, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    h_total, w_total = plan.size
    boundary = plan.boundary.to(device, non_blocking=True)
    rows = torch.arange(h_total, device=device)
    cols = torch.arange(w_total, device=device)
    row_tile = (rows[None, :] >= boundary[:, 0:1]).long()  # (B, H): 0 top, 1 bottom
    col_tile = (cols[None, :] >= boundary[:, 1:2]).long()  # (B, W): 0 left, 1 right
    return row_tile, col_tile


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _take(inputs: torch.Tensor, source: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``out[i, :, y, x] = inputs[source[i, y, x], :, rows[i, y, x], cols[i, y, x]]``, indices broadcast to (B, H, W).

    One advanced-indexing gather, written so that the result has the inputs' memory format.
    """
    if _is_channels_last(inputs):
        # advanced indices around a slice put the indexed dimensions first: (B, H, W, C), i.e. channels-last
        return inputs[source, :, rows, cols].permute(0, 3, 1, 2)
    channels = torch.arange(inputs.shape[1], device=inputs.device)[None, :, None, None]
    return inputs[source[:, None], channels, rows[:, None], cols[:, None]]


def apply_tiles(inputs: torch.Tensor, plan: TilePlan) -> torch.Tensor:
    """Assemble the four tiles of every sample, vectorised over the batch.

    When every mixed sample has the same split point (``mode="batch"``), each of the four tiles is
    one rectangular slice of the output, filled by one gather of the partners' crops (a plain
    slice when the crop offsets are shared too, as in Mosaic) or by ``F.interpolate``; unmixed
    samples are copied back. Otherwise (``mode="sample"``) per-pixel index maps are built on the
    inputs' device and the whole output is one advanced-indexing gather (four for bilinear).
    Either way the plan's small CPU tensors are only moved to the device, never read back from it,
    and gradients flow to every source pixel that was used.
    """
    unmixed = (plan.boundary == torch.tensor(plan.size)).all(dim=1)
    mixed_boundaries = plan.boundary[~unmixed]
    # the shared-split fast path is chosen from the plan's values; under torch.compile that branch would
    # break the graph, so the per-pixel path (same result) is traced instead
    shared = not torch.compiler.is_compiling() and mixed_boundaries.shape[0] > 0
    if shared and bool((mixed_boundaries == mixed_boundaries[0]).all()):
        split = (int(mixed_boundaries[0, 0]), int(mixed_boundaries[0, 1]))
        out = _apply_shared(inputs, plan, unmixed, split)
    else:
        out = _apply_per_pixel(inputs, plan)
    fmt = torch.channels_last if _is_channels_last(inputs) else torch.contiguous_format
    return out.contiguous(memory_format=fmt)


def _apply_shared(inputs: torch.Tensor, plan: TilePlan, unmixed: torch.Tensor, split: tuple[int, int]) -> torch.Tensor:
    """The four tiles as four slices of the output, for a split point shared by every mixed sample."""
    h_total, w_total = plan.size
    h, w = split
    device = inputs.device
    sources = plan.partner_indices()
    rects = [(0, h, 0, w), (0, h, w, w_total), (h, h_total, 0, w), (h, h_total, w, w_total)]
    out = torch.empty_like(inputs)
    channels = torch.arange(inputs.shape[1], device=device)[None, :, None, None]
    offsets = plan.offsets[~unmixed]
    for t, (y0, y1, x0, x1) in enumerate(rects):
        th, tw = y1 - y0, x1 - x0
        if th == 0 or tw == 0:
            continue
        src = sources[:, t].to(device, non_blocking=True)
        if plan.resize:
            crop = F.interpolate(inputs[src], size=(th, tw), mode="bilinear", align_corners=False)
        elif bool((offsets[:, t] == offsets[0, t]).all()):
            oy, ox = (int(v) for v in offsets[0, t])
            crop = inputs[src, :, oy : oy + th, ox : ox + tw]
        else:
            off = plan.offsets[:, t].to(device, non_blocking=True)
            rows = off[:, 0:1] + torch.arange(th, device=device)[None, :]  # (B, th)
            cols = off[:, 1:2] + torch.arange(tw, device=device)[None, :]  # (B, tw)
            crop = inputs[src[:, None, None, None], channels, rows[:, None, :, None], cols[:, None, None, :]]
        out[:, :, y0:y1, x0:x1] = crop
    if bool(unmixed.any()):
        keep = unmixed.nonzero().view(-1).to(device, non_blocking=True)
        out = out.index_copy_(0, keep, inputs.index_select(0, keep))
    return out


def _apply_per_pixel(inputs: torch.Tensor, plan: TilePlan) -> torch.Tensor:
    """Per-pixel index maps and one gather: any split point per sample."""
    b, _, h_total, w_total = inputs.shape
    device = inputs.device
    row_tile, col_tile = _split(plan, device)  # (B, H), (B, W)
    boundary = plan.boundary.to(device, non_blocking=True)
    tile = 2 * row_tile[:, :, None] + col_tile[:, None, :]  # (B, H, W)
    sources = plan.partner_indices().to(device, non_blocking=True)
    source = sources.gather(1, tile.view(b, -1)).view(tile.shape)
    # coordinates inside the tile
    local_y = torch.arange(h_total, device=device)[None, :] - row_tile * boundary[:, 0:1]  # (B, H)
    local_x = torch.arange(w_total, device=device)[None, :] - col_tile * boundary[:, 1:2]  # (B, W)
    if not plan.resize:
        offsets = plan.offsets.to(device, non_blocking=True)  # (B, 4, 2)
        off_y = offsets[:, :, 0].gather(1, tile.view(b, -1)).view(tile.shape)
        off_x = offsets[:, :, 1].gather(1, tile.view(b, -1)).view(tile.shape)
        out = _take(inputs, source, local_y[:, :, None] + off_y, local_x[:, None, :] + off_x)
    else:
        heights = torch.where(row_tile.bool(), h_total - boundary[:, 0:1], boundary[:, 0:1])  # (B, H)
        widths = torch.where(col_tile.bool(), w_total - boundary[:, 1:2], boundary[:, 1:2])  # (B, W)
        # coordinates in float32 (float64 for float64 inputs, as F.interpolate computes them)
        coord = torch.float64 if inputs.dtype == torch.float64 else torch.float32
        y0, y1, fy = _bilinear_coords(local_y, heights, h_total, coord)
        x0, x1, fx = _bilinear_coords(local_x, widths, w_total, coord)
        wy = fy.to(inputs.dtype)[:, None, :, None]
        wx = fx.to(inputs.dtype)[:, None, None, :]
        y0, y1 = y0[:, :, None], y1[:, :, None]
        x0, x1 = x0[:, None, :], x1[:, None, :]
        top = _take(inputs, source, y0, x0).lerp_(_take(inputs, source, y0, x1), wx)
        bottom = _take(inputs, source, y1, x0).lerp_(_take(inputs, source, y1, x1), wx)
        out = top.lerp_(bottom, wy)
    return out


def _bilinear_coords(
    local: torch.Tensor, extent: torch.Tensor, full: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source coordinates that scale ``full`` pixels onto ``extent`` (``align_corners=False``)."""
    scale = full / extent.clamp(min=1).to(dtype)
    pos = ((local.to(dtype) + 0.5) * scale - 0.5).clamp(0, full - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=full - 1)
    return lo, hi, pos - lo.to(dtype)


@mixer_dataclass
class TileMixer(Mixer):
    """Base class of the four-tile K-sample mixers (RICAP, Mosaic) for ``(B, C, H, W)`` images.

    Subclasses implement ``_geometry`` (the split points and crop offsets). The base draws the
    partners (`draw_partners`), applies ``p`` per sample in ``mode="sample"``, leaves
    protected samples unmixed (they are never used as partners either), draws partners within a
    group when the call passes ``groups``, and computes the exact area weights.

    Args:
        mode: ``"batch"`` draws one split point for the batch, ``"sample"`` one per sample (and
            applies ``p`` per sample).
    """

    modality: ClassVar[str] = "image"
    min_ndim: ClassVar[int] = 4
    example_shape: ClassVar[tuple[int, ...]] = (3, 16, 16)
    feature_dim: ClassVar[int] = 1

    mode: Literal["batch", "sample"] = "batch"

    def check_inputs(self, inputs: object) -> torch.Tensor:
        return check_images(inputs)

    def identity_plan(self, inputs: torch.Tensor) -> MixPlan:
        n, h, w = int(inputs.shape[0]), int(inputs.shape[-2]), int(inputs.shape[-1])
        anchors = torch.arange(n)
        lam = torch.zeros(n, NUM_TILES)
        lam[:, 0] = 1.0
        return TilePlan(
            index=anchors[:, None].expand(n, NUM_TILES - 1).clone(),
            lam=lam,
            boundary=torch.tensor([h, w]).expand(n, 2).clone(),
            offsets=torch.zeros(n, NUM_TILES, 2, dtype=torch.long),
            size=(h, w),
            resize=self._resize(),
        )

    def tile_map(self, plan: TilePlan, device: torch.device | str = "cpu") -> torch.Tensor:
        """The tile (0 = anchor, 1–3 = partners ``index[:, 0..2]``) of each pixel, long ``(B, 1, H, W)``."""
        return tile_map(plan, device)

    # ------------------------------------------------------------------ sampling
    def _per_sample_p(self) -> bool:
        return self.mode == "sample"

    def _resize(self) -> bool:
        return False

    def _geometry(
        self, n: int, size: tuple[int, int], generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the split points ``(n, 2)`` and crop offsets ``(n, 4, 2)`` (long, CPU)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _geometry")

    def _sample(self, inputs, targets, *, generator, protected, groups):
        n = int(inputs.shape[0])
        size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        candidates = None if protected is None else ~protected
        index = draw_partners(n, NUM_TILES - 1, generator=generator, candidates=candidates, groups=groups)
        boundary, offsets = self._geometry(n, size, generator)
        anchors = torch.arange(n)
        unmixed = (index == anchors[:, None]).all(dim=1)
        if self.mode == "sample" and self.p < 1.0:
            unmixed |= torch.rand(n, generator=generator) >= self.p
        if bool(unmixed.any()):
            index = torch.where(unmixed[:, None], anchors[:, None], index)
            boundary = torch.where(unmixed[:, None], torch.tensor(size), boundary)
            offsets = torch.where(unmixed[:, None, None], torch.zeros_like(offsets), offsets)
        return TilePlan(
            index=index,
            lam=tile_areas(boundary, size),
            boundary=boundary,
            offsets=offsets,
            size=size,
            resize=self._resize(),
        )

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, TilePlan):
            raise TypeError(f"{type(self).__name__}.apply needs a TilePlan, got {type(plan).__name__}")
        if plan.size != (inputs.shape[-2], inputs.shape[-1]):
            raise ValueError(
                f"the plan was drawn for images of size {plan.size}, but inputs.shape={tuple(inputs.shape)}"
            )
        return apply_tiles(inputs, plan)

    def _draw_count(self, n: int) -> int:
        return 1 if self.mode == "batch" else n


def _expand(values: torch.Tensor, n: int) -> torch.Tensor:
    return values.expand(n, *values.shape[1:]).clone()


def check_range(name: str, value: Any) -> tuple[float, float]:
    """Validate a ``(low, high)`` range of ratios with ``0 <= low <= high <= 1``."""
    low, high = value
    if not (0.0 <= low <= high <= 1.0):
        raise ValueError(f"{name} must be (low, high) with 0 <= low <= high <= 1, got {name}={tuple(value)!r}")
    return (float(low), float(high))
