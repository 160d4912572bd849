"""Mosaic (YOLOv4) as a classification mixer."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import field_validator

from mixup_core import mixer_dataclass

from ._tiles import TileMixer, _expand, check_range

__all__ = ["Mosaic"]


@mixer_dataclass
class Mosaic(TileMixer):
    """Mosaic: four images tiled 2×2 around a random centre, labels weighted by their areas.

    The mosaic centre is ``(cy, cx) = (round(H·u), round(W·v))`` with ``u, v ~ U(center_range)``.
    It splits the output into four quadrants: top-left (the anchor), top-right, bottom-left and
    bottom-right (the three partners ``plan.index[:, 0..2]``). The label weights ``plan.lam``
    (``(B, 4)``) are the quadrants' areas divided by ``H·W``, each source's exact pixel share
    (Bochkovskiy, Wang, Liao, *YOLOv4: Optimal Speed and Accuracy of Object Detection*,
    arXiv:2004.10934, used here as a classification augmentation, as listed by the mixup survey).

    How an image fills its quadrant (``fill``):

    * ``"crop"`` (default, as YOLOv4 and kornia's ``RandomMosaic``): the four images keep their
      scale and are placed with one corner at the centre, as if the four full images were tiled on
      a ``2H × 2W`` canvas and an ``H × W`` window around the centre were cut out: the anchor shows
      its bottom-right part, the top-right partner its bottom-left part, the bottom-left partner its
      top-right part and the bottom-right partner its top-left part.
    * ``"resize"``: each whole image is scaled to its quadrant (bilinear, ``align_corners=False``,
      without antialiasing; the aspect ratio follows the quadrant's).

    Args:
        center_range: range of the centre's position as a fraction of the height and of the width
            (default ``(0.25, 0.75)``), with ``0 <= low <= high <= 1``.
        fill: ``"crop"`` or ``"resize"``, see above.
        mode: ``"batch"`` draws one centre per batch, ``"sample"`` one per sample (and applies ``p``
            per sample).
        **kwargs: ``p``, ``enabled`` and ``num_classes`` of `Mixer`.

    Partners are three distinct other samples for batches of 4 or more; smaller batches reuse
    partners and a batch of one stays unmixed (see `draw_partners`).
    Protected samples (``protected=``) stay unmixed and are never partners; ``groups=`` draws the
    partners within each group.

    Examples:
        >>> mixer = Mosaic(center_range=(0.3, 0.7), num_classes=10)
        >>> out = mixer(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.targets.dense().shape
        torch.Size([8, 10])
    """

    name: ClassVar[str] = "mosaic"
    paper: ClassVar[str] = (
        "Bochkovskiy, Wang, Liao, YOLOv4: Optimal Speed and Accuracy of Object Detection, arXiv 2020, "
        "https://arxiv.org/abs/2004.10934"
    )
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "none"

    center_range: tuple[float, float] = (0.25, 0.75)
    fill: Literal["crop", "resize"] = "crop"

    @field_validator("center_range")
    @classmethod
    def _check_center_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        return check_range("center_range", value)

    def _resize(self) -> bool:
        return self.fill == "resize"

    def _geometry(
        self, n: int, size: tuple[int, int], generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h_total, w_total = size
        low, high = self.center_range
        m = self._draw_count(n)
        ratios = low + (high - low) * torch.rand(m, 2, generator=generator, dtype=torch.float64)
        full = torch.tensor([h_total, w_total], dtype=torch.float64)
        boundary = _expand(torch.round(ratios * full).long(), n)  # (n, 2) = (cy, cx)
        # "crop": the part of each image next to the centre; rows of the top tiles start at H − cy,
        # columns of the left tiles at W − cx, the other tiles start at 0
        zeros = torch.zeros_like(boundary[:, 0])
        top = h_total - boundary[:, 0]
        left = w_total - boundary[:, 1]
        offsets = torch.stack(
            [
                torch.stack([top, left], dim=1),
                torch.stack([top, zeros], dim=1),
                torch.stack([zeros, left], dim=1),
                torch.stack([zeros, zeros], dim=1),
            ],
            dim=1,
        )
        return boundary, offsets
