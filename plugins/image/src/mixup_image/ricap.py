"""RICAP: Random Image Cropping and Patching."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field

from mixup_core import BetaLambda, mixer_dataclass

from ._tiles import NUM_TILES, TileMixer, _expand, tile_sizes

__all__ = ["RICAP"]


@mixer_dataclass
class RICAP(TileMixer):
    """RICAP: four random crops patched into one image, labels weighted by their areas.

    A boundary point ``(w, h)`` is drawn with ``w = round(W·Beta(β, β))`` and
    ``h = round(H·Beta(β, β))``. It splits the output into four regions: top-left ``h × w`` (the
    anchor), top-right ``h × (W − w)``, bottom-left ``(H − h) × w`` and bottom-right
    ``(H − h) × (W − w)`` (the three partners ``plan.index[:, 0..2]``). Each region is filled with a
    random crop of its image of the region's size, at a uniform position. The label weights
    ``plan.lam`` (``(B, 4)``) are the regions' areas divided by ``H·W``: each source's exact pixel
    share (Takahashi, Matsubara, Uehara, *RICAP: Random Image Cropping and Patching Data
    Augmentation for Deep CNNs*, ACML 2018; *Data Augmentation using Random Image Cropping and
    Patching for Deep CNNs*, IEEE TCSVT 2020, arXiv:1811.09030).

    Differences from the reference code: the top-left region always comes from the anchor (the
    reference draws four independent permutations, so a sample may not appear in its own mix), the
    partners are three distinct other samples (batch size ≥ 4; see
    `draw_partners` for smaller batches, where partners repeat, and
    ``B = 1``, which stays unmixed), and the crop positions are drawn per sample and per region
    (the reference draws one position per region for the whole batch).

    Args:
        beta: β of the Beta(β, β) distribution of the boundary point (the paper recommends 0.3;
            small β gives unequal regions, large β regions near a quarter each).
        mode: ``"batch"`` (the paper) draws one boundary point per batch, ``"sample"`` one per
            sample (and applies ``p`` per sample).
        **kwargs: ``p``, ``enabled`` and ``num_classes`` of `Mixer`.

    Protected samples (``protected=`` in the call) stay unmixed and are never used as partners;
    ``groups=`` draws the partners within each group.

    Examples:
        >>> mixer = RICAP(beta=0.3, num_classes=10)
        >>> out = mixer(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.index.shape, out.plan.lam.shape
        (torch.Size([8, 3]), torch.Size([8, 4]))
        >>> bool(torch.allclose(out.plan.lam.sum(dim=1), torch.ones(8)))
        True
    """

    name: ClassVar[str] = "ricap"
    paper: ClassVar[str] = (
        "Takahashi, Matsubara, Uehara, RICAP: Random Image Cropping and Patching, ACML 2018 / IEEE TCSVT 2020, "
        "https://arxiv.org/abs/1811.09030"
    )
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "none"

    beta: float = Field(default=0.3, gt=0, allow_inf_nan=False)

    def _geometry(
        self, n: int, size: tuple[int, int], generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h_total, w_total = size
        m = self._draw_count(n)
        ratios = BetaLambda(alpha=self.beta).sample(2 * m, generator).double().view(m, 2)
        boundary = torch.stack([torch.round(h_total * ratios[:, 0]), torch.round(w_total * ratios[:, 1])], dim=1).long()
        boundary = _expand(boundary, n)
        heights, widths = tile_sizes(boundary, size)
        # a crop of each region's size at a uniform position of its source image, per sample and region
        u = torch.rand(n, NUM_TILES, 2, generator=generator, dtype=torch.float64)
        room = torch.stack([h_total - heights, w_total - widths], dim=2)  # (n, 4, 2), >= 0
        offsets = (u * (room + 1).double()).floor().long().minimum(room)
        return boundary, offsets
