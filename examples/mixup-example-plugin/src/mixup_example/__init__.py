"""mixup-example-plugin: a third-party plugin for mixup-core, as a worked example.

It provides one mixer, ``example:binary-mixup`` (`BinaryMixup`), and registers it through
the entry point ``[project.entry-points.mixup] example = "mixup_example"``: the entry-point name
is the plugin name (the prefix of its mixers' names), and this module is the plugin object whose
``@hookimpl`` functions mixup-core calls.

Example:
    >>> import torch
    >>> from mixup_core import create_mixer
    >>> mixer = create_mixer({"name": "binary-mixup", "alpha": 0.5, "num_classes": 10})
    >>> out = mixer(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)),
    ...             generator=torch.Generator().manual_seed(0))
    >>> out.plan.mask.shape             # one keep/take decision per position, shared by the channels
    torch.Size([8, 1, 32, 32])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from mixup_core import MixerRegistry, MixPlan, PairMixer, hookimpl, mixer_dataclass

__version__ = "0.1.0"

__all__ = ["BinaryMixup", "MaskPlan", "__version__", "mixup_register_mixers"]


@dataclass(frozen=True, kw_only=True)
class MaskPlan(MixPlan):
    """The plan of a `BinaryMixup`: partners, exact shares, and the binary mask.

    Args:
        index: partner of each sample, long ``(B,)``.
        lam: the anchor's exact share of each mixed sample, float32 ``(B,)``: the fraction of the
            mask that is ``True`` (not the λ it was drawn with), so the labels match the input.
        mask: boolean ``(B, 1, *rest)`` on the CPU: ``True`` where the anchor's element is kept,
            ``False`` where the partner's is taken. Dimension 1 (channels) has size 1: the same
            decision is applied to every channel of a position.
    """

    mask: torch.Tensor

    def __post_init__(self) -> None:
        super().__post_init__()
        mask = self.mask
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.ndim < 2:
            got = f"dtype {mask.dtype} and shape {tuple(mask.shape)}" if isinstance(mask, torch.Tensor) else repr(mask)
            raise TypeError(f"MaskPlan.mask must be a boolean tensor of shape (B, 1, ...), got {got}")
        if mask.shape[0] != self.batch_size or mask.shape[1] != 1:
            raise ValueError(
                f"MaskPlan.mask must have shape ({self.batch_size}, 1, ...) for a batch of {self.batch_size}, "
                f"got {tuple(mask.shape)}"
            )


@mixer_dataclass
class BinaryMixup(PairMixer):
    """Binary mixup: each element of a sample is kept with probability λ, otherwise taken from its partner.

    For every sample, a Bernoulli(λ) mask is drawn over its positions (every dimension but the
    batch and the channels; the channels of one position move together). Where the mask is set,
    the anchor's value is kept; elsewhere the partner's value is copied. Nothing is interpolated,
    so integer inputs (``uint8`` images, token grids) are mixed exactly. The plan's ``lam`` is the
    exact share of kept elements, so the mixed labels always equal the shares of the input
    (Summers and Dinneen's "random pixels" mixing).

    λ, pairing and protection come from `PairMixer`: ``alpha``, ``lam``,
    ``mode="batch"`` (one λ per batch: every sample keeps about the same share) or ``"sample"``,
    ``pairing``, ``protect``. A protection floor holds for the exact share: when a drawn mask keeps
    a protected sample below the floor by chance, `PairMixer` leaves that sample unmixed.

    Inputs need at least two dimensions ``(B, C, ...)``; for ``(B, D)`` inputs the whole sample is
    one position (it is kept or replaced as a whole), so give vectors a channel dimension first
    (``x.unsqueeze(1)``) to mix their features.

    Examples:
        >>> mixer = BinaryMixup(alpha=1.0, num_classes=4)
        >>> out = mixer(torch.randn(4, 3, 8, 8), torch.arange(4), generator=torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(out.targets.lam, out.plan.mask.float().mean(dim=(1, 2, 3))))
        True
    """

    name: ClassVar[str] = "binary-mixup"
    modality: ClassVar[str] = "any"
    paper: ClassVar[str] = (
        "Summers and Dinneen, Improved Mixed-Example Data Augmentation (random pixels), WACV 2019, "
        "https://arxiv.org/abs/1805.11272"
    )
    min_ndim: ClassVar[int] = 2
    needs_float: ClassVar[bool] = False
    feature_dim: ClassVar[int] = 1

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MaskPlan:
        n = inputs.shape[0]
        shape = (n, 1, *inputs.shape[2:])
        keep = lam.to(torch.float32).view((n,) + (1,) * (len(shape) - 1))
        # torch.rand is in [0, 1): λ = 1 (unmixed samples, samples paired with themselves) keeps every
        # element and λ = 0 none, so identity plans stay identities.
        mask = torch.rand(shape, generator=generator) < keep
        share = (mask.flatten(1).sum(dim=1, dtype=torch.float64) / mask[0].numel()).to(torch.float32)
        return MaskPlan(index=index, lam=share, mask=mask)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, MaskPlan):
            raise TypeError(
                f"{type(self).__name__}.apply needs the MaskPlan drawn by its sample(), got {type(plan).__name__}"
            )
        expected = (inputs.shape[0], 1, *inputs.shape[2:])
        if tuple(plan.mask.shape) != expected:
            raise ValueError(
                f"the plan's mask has shape {tuple(plan.mask.shape)}, which does not fit "
                f"inputs.shape={tuple(inputs.shape)} "
                f"(a mask of shape {expected} is needed): a BinaryMixup plan replays only on "
                "tensors of the sampled shape"
            )
        index = plan.index.to(inputs.device, non_blocking=True)
        mask = plan.mask.to(inputs.device, non_blocking=True)
        if out is not None:
            torch.index_select(inputs, 0, index, out=out)
            return torch.where(mask, inputs, out, out=out)
        return torch.where(mask, inputs, inputs[index])


@hookimpl
def mixup_register_mixers(registry: MixerRegistry) -> None:
    """Register the example plugin's mixer: ``example:binary-mixup``."""
    registry.add(BinaryMixup)
