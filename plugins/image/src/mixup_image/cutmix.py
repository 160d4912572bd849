"""CutMix."""

from __future__ import annotations

from typing import ClassVar

import torch

from mixup_core import MixPlan, mixer_dataclass

from ._base import BoxPlan, ImageMixer, all_equal, anchor_share, apply_box_plan, sample_boxes

__all__ = ["CutMix"]


@mixer_dataclass
class CutMix(ImageMixer):
    """CutMix: paste a rectangle of the partner into the anchor.

    The box has side ratio √(1 − λ) and a uniform centre, and is clipped to the image; with
    ``correct_lam`` (default) λ is recomputed from the clipped area, so the anchor's label weight is
    its exact pixel share (Yun et al., *CutMix: Regularization Strategy to Train Strong Classifiers
    with Localizable Features*, ICCV 2019, arXiv:1905.04899).

    Args:
        correct_lam: recompute λ as 1 − box area / image area after clipping (default ``True``);
            ``False`` keeps the drawn λ for the labels (timm's ``correct_lam=False``).
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`.

    Note: ``mode="batch"`` uses one λ and one box for the whole batch (only the box region is
       copied); ``mode="sample"`` draws a box per sample, in one vectorised kernel.

    Examples:
        >>> mixer = CutMix(alpha=1.0, num_classes=10)
        >>> out = mixer(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.boxes.shape
        torch.Size([8, 4])
    """

    name: ClassVar[str] = "cutmix"
    paper: ClassVar[str] = "Yun et al., CutMix, ICCV 2019, https://arxiv.org/abs/1905.04899"

    correct_lam: bool = True

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        shared = self.mode == "batch" and all_equal(lam)
        boxes = sample_boxes(lam, size, generator, shared=shared, index=index)
        label_lam = anchor_share(boxes, size) if self.correct_lam else lam
        return BoxPlan(index=index, lam=label_lam.float(), boxes=boxes, size=size)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        return apply_box_plan(inputs, plan, type(self).__name__)
