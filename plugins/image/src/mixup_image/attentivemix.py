"""AttentiveMix (Attentive CutMix): paste the partner's most attended grid cells into the anchor."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from mixup_core import MixPlan, mixer_dataclass

from ._guided import GuidedImageMixer, check_feature_maps, energy_maps, run_model

__all__ = ["AttentiveMix", "AttentivePlan", "cells_to_pixels"]


@dataclass(frozen=True, kw_only=True)
class AttentivePlan(MixPlan):
    """The plan of an `AttentiveMix` batch.

    Args:
        cells: boolean ``(B, h, w)`` on the CPU: ``True`` for the cells of the attention grid that
            are taken from the partner (the partner's top-k cells).
        size: the ``(H, W)`` of the images the plan was drawn for.
    """

    cells: torch.Tensor
    size: tuple[int, int]


def _pixel_cells(
    size: tuple[int, int], grid: tuple[int, int], device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The grid row of each image row and the grid column of each image column (nearest upsampling)."""
    (h_img, w_img), (h, w) = size, grid
    rows = torch.arange(h_img, device=device) * h // h_img
    cols = torch.arange(w_img, device=device) * w // w_img
    return rows, cols


def cells_to_pixels(cells: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Upsample boolean grid cells ``(B, h, w)`` to a pixel mask ``(B, 1, H, W)`` (nearest, on the cells' device).

    Pixel ``(y, x)`` belongs to cell ``(⌊y·h/H⌋, ⌊x·w/W⌋)``, as ``nn.Upsample(mode="nearest")``; when
    ``H`` is not a multiple of ``h`` the cells cover unequal numbers of pixels.
    """
    rows, cols = _pixel_cells(size, (int(cells.shape[-2]), int(cells.shape[-1])), cells.device)
    return cells[:, rows[:, None], cols[None, :]][:, None]


def _cell_areas(size: tuple[int, int], grid: tuple[int, int]) -> torch.Tensor:
    """Pixels covered by each grid cell, float64 ``(h, w)``."""
    rows, cols = _pixel_cells(size, grid)
    per_row = torch.bincount(rows, minlength=grid[0]).double()
    per_col = torch.bincount(cols, minlength=grid[1]).double()
    return per_row[:, None] * per_col[None, :]


@mixer_dataclass
class AttentiveMix(GuidedImageMixer):
    """AttentiveMix (Attentive CutMix): paste the partner's most attended grid cells into the anchor.

    Walawalkar, Shen, Liu and Savvides, *Attentive CutMix: An Enhanced Data Augmentation Approach
    for Deep Learning Based Image Classification*, ICASSP 2020, arXiv:2003.13048 (reference code:
    xden2331/attentive_cutmix; OpenMixup ``attentivemix.py``). A feature extractor (a pretrained
    ResNet-50 trunk in the paper, giving a 7×7 map at 224 px) gives each image a ``(C, h, w)``
    feature map; its mean over channels is the attention map (the sum ranks cells identically). The
    partner's ``top_k`` cells are pasted from the partner into the anchor at the same cells (the
    grid upsampled to ``H×W`` by nearest neighbour), and λ is the anchor's exact pixel share.

    The attention comes from a model or from its output, given explicitly::

        mixer = AttentiveMix(model=trunk)                 # once, a frozen feature extractor
        out = mixer(x, y, generator=g)
        out = AttentiveMix()(x, y, model=trunk)           # or per call
        out = AttentiveMix()(x, y, features=trunk(x))     # or the (B, C, h, w) maps themselves

    ``sample`` takes the same ``model``/``features`` arguments; ``apply`` replays an
    `AttentivePlan` without the model. The model runs as it is (put a frozen extractor in
    ``.eval()``), under ``torch.no_grad()``, and only when something is mixed.

    Args:
        top_k: number of partner cells pasted per image. ``6`` (default) is the paper's choice on a
            7×7 grid (λ = 1 − 6/49); the drawn λ then only decides which samples are mixed.
            ``None`` derives it from λ as OpenMixup's "AttentiveMix+": ``k = round((1 − λ)·h·w)``
            cells, so the share follows λ ~ Beta(α, α) (per sample in ``mode="sample"``). OpenMixup's
            code goes the other way round (the anchor keeps its own ⌊λ·h·w⌋ most attended cells
            and the partner fills the rest); here the partner's cells are pasted, as in the paper.
        model: a feature extractor, any ``nn.Module`` (or callable) mapping the inputs to a
            ``(B, C, h, w)`` feature map. A runtime reference, left out of `to_config`;
            ``model=`` or ``features=`` in a call take precedence.
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`.

    Call arguments (the call's `GuidanceContext`): ``features``, the batch's feature maps
    ``(B, C, h, w)`` (or attention maps ``(B, h, w)``), or ``model``, a feature extractor for this
    call (overrides the constructor's); the model runs only if something is mixed.

    Note: the top-k selection runs on the features' device; the chosen cells (``B×k``
       integers) are copied to the CPU for the plan, one small transfer per batch.

    Examples:
        >>> trunk = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(7))
        >>> mixer = AttentiveMix(model=trunk, num_classes=10)
        >>> out = mixer(torch.rand(4, 3, 28, 28), torch.randint(0, 10, (4,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> round(float(out.plan.lam[0]), 4)   # 1 − 6/49
        0.8776
    """

    name: ClassVar[str] = "attentivemix"
    paper: ClassVar[str] = "Walawalkar et al., Attentive CutMix, ICASSP 2020, https://arxiv.org/abs/2003.13048"
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "forward"
    runtime_fields: ClassVar[tuple[str, ...]] = ("model",)
    guidance_args: ClassVar[tuple[str, ...]] = ("features", "model")

    top_k: int | None = Field(default=6, ge=1)
    model: Any = dataclasses.field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ public protocol
    @classmethod
    def example_call_kwargs(
        cls, inputs: torch.Tensor, targets: torch.Tensor | None, num_classes: int
    ) -> dict[str, Any]:
        """``features=``: 7×7 local-energy maps of ``inputs``, a model-free stand-in for a network's attention."""
        return {"features": energy_maps(inputs)}

    def anchor_mask(self, plan: MixPlan, size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
        if isinstance(plan, AttentivePlan):
            return (~cells_to_pixels(plan.cells.to(device), size)).float()
        return super().anchor_mask(plan, size, device)

    # ------------------------------------------------------------------ internals
    def check_guidance(self, inputs: torch.Tensor) -> None:
        source = self._source("features", "model")
        if source is None:
            raise TypeError(
                "AttentiveMix needs the attention of the partners: pass features=<(B, C, h, w) feature maps of the "
                "batch> or model=<a feature extractor returning them> (to the call, or model= to the constructor); "
                "got neither features nor model"
            )
        kind, value = source
        if kind == "features":
            check_feature_maps(value, inputs.shape[0], name="features", ndims=(3, 4))
        elif not callable(value):
            raise TypeError(
                "model must be an nn.Module or a callable returning (B, C, h, w) feature maps, "
                f"got {type(value).__name__}"
            )

    def _attention(self, inputs: torch.Tensor) -> torch.Tensor:
        """The attention map of every image of the batch, float32 ``(B, h, w)``."""

        def compute() -> torch.Tensor:
            source = self._source("features", "model")
            if source is None:  # sample() checked this already; _make_plan may be reached directly
                raise TypeError("AttentiveMix needs features= or model=")
            kind, value = source
            if kind == "model":
                features = run_model(value, inputs)
            else:
                features = check_feature_maps(value, inputs.shape[0], name="features", ndims=(3, 4))
            return (features.float().mean(dim=1) if features.ndim == 4 else features.float()).contiguous()

        return self._cached("attention", compute)

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        n = index.shape[0]
        size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        mixing = (index != torch.arange(n)) & (lam < 1)
        if not bool(mixing.any()):
            return AttentivePlan(
                index=index, lam=torch.ones(n), cells=torch.zeros(n, 1, 1, dtype=torch.bool), size=size
            )
        attention = self._attention(inputs)
        h, w = int(attention.shape[-2]), int(attention.shape[-1])
        n_cells = h * w
        if self.top_k is None:
            k = ((1.0 - lam.double()) * n_cells).round().long().clamp(0, n_cells)
        else:
            if self.top_k > n_cells:
                raise ValueError(
                    f"top_k={self.top_k} exceeds the {h}×{w}={n_cells} cells of the attention grid "
                    f"(attention maps of shape {tuple(attention.shape)}); lower top_k or use a finer feature map"
                )
            k = torch.full((n,), self.top_k, dtype=torch.long)
        k = torch.where(mixing, k, torch.zeros_like(k))
        cells = _top_cells(attention, index, k).view(n, h, w)
        pasted = (cells.double() * _cell_areas(size, (h, w))).sum(dim=(1, 2))
        share = (1.0 - pasted / (size[0] * size[1])).float()
        return AttentivePlan(index=index, lam=share, cells=cells, size=size)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, AttentivePlan):
            raise TypeError(f"AttentiveMix.apply needs an AttentivePlan, got {type(plan).__name__}")
        size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        if plan.size != size:
            raise ValueError(
                f"the plan was drawn for images of size {plan.size}, but inputs.shape={tuple(inputs.shape)}"
            )
        idx = plan.index.to(inputs.device, non_blocking=True)
        partner = cells_to_pixels(plan.cells.to(inputs.device, non_blocking=True), size)
        return torch.where(partner, inputs[idx], inputs)


def _top_cells(attention: torch.Tensor, index: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Boolean ``(B, h·w)`` on the CPU: the ``k[i]`` most attended cells of partner ``index[i]``."""
    n = attention.shape[0]
    flat = attention.reshape(n, -1)
    cells = torch.zeros(n, flat.shape[1], dtype=torch.bool)
    k_max = int(k.max())
    if k_max == 0:
        return cells
    partner = flat[index.to(flat.device, non_blocking=True)]
    top = partner.topk(k_max, dim=1).indices.cpu()
    keep = torch.arange(k_max)[None, :] < k[:, None]
    return cells.scatter_(1, top, keep)
