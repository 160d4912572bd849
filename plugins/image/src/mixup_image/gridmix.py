"""GridMix: a grid of holes over a random cut region, filled from the partner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from pydantic import field_validator

from mixup_core import MixPlan, mixer_dataclass

from ._base import ImageMixer

__all__ = ["GridMix", "GridPlan", "grid_mask"]


@dataclass(frozen=True, kw_only=True)
class GridPlan(MixPlan):
    """A GridMix plan: a few integers per sample from which the mask is rebuilt on any device.

    Args:
        grid: long ``(B, 8)`` as ``(y0, x0, cut_h, cut_w, patch_h, patch_w, hole_h, hole_w)``: the
            cut region's top-left corner and size, the grid period and the hole size. A pixel at
            ``(y0 + dy, x0 + dx)`` inside the cut region is the partner's when
            ``dy % patch_h < hole_h`` and ``dx % patch_w < hole_w``. ``hole_h = hole_w = 0`` for
            unmixed samples.
        size: the ``(H, W)`` the grid was drawn for.
    """

    grid: torch.Tensor
    size: tuple[int, int]


def grid_mask(grid: torch.Tensor, size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean ``(B, 1, H, W)``: ``True`` on the partner's pixels (the holes) of each sample's grid."""
    h, w = size
    g = grid.to(device, non_blocking=True)
    y0, x0, cut_h, cut_w, ph, pw, hh, hw = g.unbind(dim=1)

    def axis(
        n: int, start: torch.Tensor, length: torch.Tensor, period: torch.Tensor, hole: torch.Tensor
    ) -> torch.Tensor:
        d = torch.arange(n, device=device)[None, :] - start[:, None]
        return (d >= 0) & (d < length[:, None]) & (d.remainder(period[:, None].clamp(min=1)) < hole[:, None])

    rows = axis(h, y0, cut_h, ph, hh)  # (B, H)
    cols = axis(w, x0, cut_w, pw, hw)  # (B, W)
    return (rows[:, :, None] & cols[:, None, :])[:, None]


def _holes_along(length: torch.Tensor, period: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """How many of ``length`` consecutive positions fall in a hole (exact, from the grid parameters)."""
    period = period.clamp(min=1)
    return (length // period) * hole + torch.minimum(length % period, hole)


def _pair(value: Any) -> Any:
    return (value, value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


@mixer_dataclass
class GridMix(ImageMixer):
    """GridMix: a grid of square holes over a random cut region, filled from the partner.

    A cut region of area ``cut_area_ratio·H·W`` and aspect ``cut_aspect_ratio`` (height/width) is
    placed uniformly inside the image and divided into ``n_holes`` patches across its width (patch
    height = width · ``hole_aspect_ratio``); each patch's top-left hole has side ratio √(1 − λ) of
    the patch (at least one pixel, at most the patch side minus one, as in the reference). The holes
    show the partner. λ is recomputed as the exact anchor share ``1 − hole pixels/(H·W)`` (Baek et
    al., *GridMix: Strong regularization through local context mapping*, Pattern Recognition 2021;
    parameters as in OpenMixup's ``gridmix.py``).

    Each range parameter is a ``(low, high)`` pair (a single number means a fixed value):
    ``n_holes`` is drawn uniformly among the integers, the ratios uniformly in the interval.

    Args:
        n_holes: number of patches across the cut region's width, default ``(2, 6)``; capped per
            sample at half the cut width so every hole has a gap.
        hole_aspect_ratio: patch height / patch width, default 1 (square holes).
        cut_area_ratio: area of the cut region as a fraction of the image, default ``(0.5, 1)``.
        cut_aspect_ratio: height / width of the cut region, default ``(0.5, 2)``; the region is
            clipped to the image.
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`.

    Note: ``mode="batch"`` draws one set of grid parameters for the batch (as the reference),
       ``mode="sample"`` one per sample. The plan holds eight integers per sample; the mask is built
       on the inputs' device.

    Examples:
        >>> mixer = GridMix(alpha=1.0, num_classes=10)
        >>> out = mixer(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.grid.shape
        torch.Size([8, 8])
    """

    name: ClassVar[str] = "gridmix"
    paper: ClassVar[str] = (
        "Baek et al., GridMix: Strong regularization through local context mapping, Pattern Recognition 2021, "
        "https://www.sciencedirect.com/science/article/pii/S0031320320303976"
    )

    n_holes: tuple[int, int] = (2, 6)
    hole_aspect_ratio: tuple[float, float] = (1.0, 1.0)
    cut_area_ratio: tuple[float, float] = (0.5, 1.0)
    cut_aspect_ratio: tuple[float, float] = (0.5, 2.0)

    @field_validator("n_holes", "hole_aspect_ratio", "cut_area_ratio", "cut_aspect_ratio", mode="before")
    @classmethod
    def _scalar_to_pair(cls, value: Any) -> Any:
        return _pair(value)

    @field_validator("n_holes")
    @classmethod
    def _check_n_holes(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1]:
            raise ValueError(f"n_holes must be (low, high) with 1 <= low <= high, got n_holes={value!r}")
        return value

    @field_validator("hole_aspect_ratio", "cut_aspect_ratio")
    @classmethod
    def _check_aspect(cls, value: tuple[float, float], info: Any) -> tuple[float, float]:
        if not (0 < value[0] <= value[1] < float("inf")):
            raise ValueError(
                f"{info.field_name} must be (low, high) with 0 < low <= high < inf, got {info.field_name}={value!r}"
            )
        return value

    @field_validator("cut_area_ratio")
    @classmethod
    def _check_area(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1] <= 1:
            raise ValueError(
                f"cut_area_ratio must be (low, high) with 0 < low <= high <= 1, got cut_area_ratio={value!r}"
            )
        return value

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        b = index.shape[0]
        h, w = int(inputs.shape[-2]), int(inputs.shape[-1])
        m = 1 if self.mode == "batch" else b
        f64 = torch.float64

        def uniform(bounds: tuple[float, float]) -> torch.Tensor:
            return (bounds[0] + (bounds[1] - bounds[0]) * torch.rand(m, generator=generator, dtype=f64)).expand(b)

        holes = torch.randint(self.n_holes[0], self.n_holes[1] + 1, (m,), generator=generator).expand(b)
        hole_aspect = uniform(self.hole_aspect_ratio)
        area_ratio = uniform(self.cut_area_ratio)
        cut_aspect = uniform(self.cut_aspect_ratio)
        corner = torch.rand((m, 2), generator=generator, dtype=f64).expand(b, 2)

        cut_area = torch.floor(h * w * area_ratio)
        cut_w = torch.floor(torch.sqrt(cut_area / cut_aspect)).clamp(1, w)
        cut_h = torch.floor(cut_w * cut_aspect).clamp(1, h)
        y0 = torch.floor((h - cut_h) * corner[:, 0]).long()
        x0 = torch.floor((w - cut_w) * corner[:, 1]).long()
        cut_h, cut_w = cut_h.long(), cut_w.long()

        n = torch.minimum(holes, (cut_w // 2).clamp(min=1))
        pw = (cut_w + n - 1) // n  # ceil
        ph = torch.floor(pw.double() * hole_aspect).long().clamp(min=2)
        ratio = torch.sqrt((1.0 - lam.double()).clamp(min=0.0))
        hw = torch.minimum(torch.floor(pw * ratio).long().clamp(min=1), pw - 1)
        hh = torch.minimum(torch.floor(ph * ratio).long().clamp(min=1), ph - 1)
        # unmixed samples (paired with themselves, or λ = 1 from p or protection) get no holes
        active = (index != torch.arange(b)) & (lam < 1)
        hw = torch.where(active, hw, torch.zeros_like(hw)).clamp(min=0)
        hh = torch.where(active, hh, torch.zeros_like(hh)).clamp(min=0)

        grid = torch.stack([y0, x0, cut_h, cut_w, ph, pw, hh, hw], dim=1)
        holes_px = _holes_along(cut_h, ph, hh) * _holes_along(cut_w, pw, hw)
        share = (1.0 - holes_px.double() / (h * w)).float()
        return GridPlan(index=index, lam=share, grid=grid, size=(h, w))

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, GridPlan):
            raise TypeError(f"GridMix.apply needs a GridPlan, got {type(plan).__name__}")
        if plan.size != (inputs.shape[-2], inputs.shape[-1]):
            raise ValueError(f"the plan's grid was drawn for size {plan.size}, but inputs.shape={tuple(inputs.shape)}")
        idx = plan.index.to(inputs.device, non_blocking=True)
        holes = grid_mask(plan.grid, plan.size, inputs.device)
        return torch.where(holes, inputs[idx], inputs)

    def anchor_mask(self, plan: MixPlan, size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
        """The anchor's weight per pixel, float32 ``(B, 1, H, W)`` (0 in the holes, 1 elsewhere)."""
        if isinstance(plan, GridPlan):
            return (~grid_mask(plan.grid, size, device)).float()
        return super().anchor_mask(plan, size, device)
