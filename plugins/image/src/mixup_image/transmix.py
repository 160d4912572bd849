"""TransMix: relabel a cut-mixed batch by the class token's attention on each source's patches."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from mixup_core import (
    Choice,
    ChoicePlan,
    ConfigError,
    MixedBatch,
    MixedTargets,
    Mixer,
    MixPlan,
    Mixup,
    create_mixer,
    mixer_dataclass,
)

from ._base import check_images

__all__ = ["TransMix"]


@mixer_dataclass
class TransMix(Mixer):
    """TransMix: the label follows the attention a ViT's class token pays to each source's patches.

    Chen, Yu, Wang, Wang, Sun, Cao and Yuille, *TransMix: Attend to Mix for Vision Transformers*,
    CVPR 2022, arXiv:2111.09833 (reference code: Beckschen/TransMix ``transmix.py``; OpenMixup
    ``transmix.py``). A **label policy** on top of a cutting mixer: the inputs are mixed by
    ``base`` (CutMix by default; any image mixer whose plan gives a pixel mask, core:mixup, or a
    core:choice of them, such as the paper's CutMix/Mixup switch). After the forward pass,
    `relabel` takes the class-token attention of the last block over the patches, downsamples
    the base plan's anchor mask to the patch grid and sets the anchor's label weight to

        λ_attn = Σ_p attn_p · m_p / Σ_p attn_p      (m_p: the anchor's weight on patch p)

    and the partner's to 1 − λ. ``ratio`` blends in the area λ: λ = ratio·λ_area + (1 − ratio)·λ_attn.
    Until relabelled, a call behaves exactly as ``base`` (area labels).

    Grab the attention with a forward hook, e.g. on a timm ``VisionTransformer``::

        store = {}
        attn = vit.blocks[-1].attn
        attn.fused_attn = False          # make timm materialise the attention matrix
        attn.attn_drop.register_forward_hook(lambda mod, args, output: store.update(attn=args[0]))

        out = mixer(x, y, generator=g)
        logits = vit(out.inputs)
        attention = store["attn"][:, :, 0, vit.num_prefix_tokens:]   # class token → patches (B, heads, N)
        loss = soft_cross_entropy(logits, mixer.relabel(out, attention))

    Args:
        base: the mixer that mixes the inputs (a spec for `create_mixer` or an
            instance), default ``"image:cutmix"``. A model-guided base (AttentiveMix, SnapMix) must
            hold its model from construction.
        ratio: weight of the area λ in the label (default 0.5, as the authors' code and OpenMixup,
            which blend the area and the attention; 0 is the paper's equations, pure attention).
        mask_resize: how the pixel mask is brought to the patch grid: ``"nearest"`` (default, as
            the reference's ``nn.Upsample``: each patch takes the mask value at its top-left pixel)
            or ``"area"`` (the mean over the patch, so a patch cut by a box edge counts fractionally).
        **kwargs: ``p``, ``enabled`` and ``num_classes`` of `Mixer` (the base
            keeps its own λ, pairing and ``p``).

    Note: the attention is detached (labels carry no gradient) and the new weights are computed
       on its device, without host synchronisation; a row with zero attention falls back to λ_area.

    Examples:
        >>> mixer = TransMix(base={"name": "image:cutmix", "alpha": 1.0}, num_classes=10)
        >>> out = mixer(torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> attention = torch.rand(4, 3, 16).softmax(-1)   # (B, heads, N): a 4×4 patch grid
        >>> mixer.relabel(out, attention).weights.shape
        torch.Size([4, 2])
    """

    name: ClassVar[str] = "transmix"
    modality: ClassVar[str] = "image"
    paper: ClassVar[str] = "Chen et al., TransMix, CVPR 2022, https://arxiv.org/abs/2111.09833"
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "forward"
    min_ndim: ClassVar[int] = 4
    example_shape: ClassVar[tuple[int, ...]] = (3, 16, 16)
    feature_dim: ClassVar[int] = 1

    base: Any = "image:cutmix"
    ratio: float = Field(default=0.5, ge=0, le=1)
    mask_resize: Literal["nearest", "area"] = "nearest"

    def __post_init__(self) -> None:
        base = create_mixer(self.base)
        _check_base(base)
        object.__setattr__(self, "base", base)

    def check_inputs(self, inputs: object) -> torch.Tensor:
        return check_images(inputs)

    # ------------------------------------------------------------------ label policy
    def relabel(self, out: MixedBatch, attention: torch.Tensor, *, grid: tuple[int, int] | None = None) -> MixedTargets:
        """The targets of ``out`` with the anchor's weight set from the class token's attention.

        Args:
            out: what this mixer's call returned (with targets).
            attention: the last block's class-token attention over the patches, ``(B, heads, N)``
                (averaged over heads) or ``(B, N)``, prefix tokens (class, registers) removed.
            grid: the patch grid ``(rows, cols)``; default: inferred from ``N`` and the image's
                aspect ratio (``√N × √N`` for square images).

        Returns:
            `MixedTargets` with weights ``(λ, 1 − λ)``, on the attention's device.
        """
        if not isinstance(out, MixedBatch):
            raise TypeError(f"out must be the MixedBatch returned by the mixer call, got {type(out).__name__}")
        if out.targets is None:
            raise ValueError("out has no targets to relabel: call the mixer with targets")
        weights = out.targets.weights
        if weights.ndim != 2 or weights.shape[1] != 2:
            raise ValueError(f"TransMix relabels pair mixes, got label weights of shape {tuple(weights.shape)}")
        size = (int(out.inputs.shape[-2]), int(out.inputs.shape[-1]))
        lam_attn = self.attention_lam(out.plan, attention, size, grid=grid)
        lam_area = weights[:, 0].to(device=lam_attn.device, dtype=torch.float32, non_blocking=True)
        lam_attn = torch.where(lam_attn.isfinite(), lam_attn, lam_area)
        lam = lam_area * self.ratio + lam_attn * (1.0 - self.ratio)
        return out.targets.with_weights(torch.stack([lam, 1.0 - lam], dim=1))

    def attention_lam(
        self, plan: MixPlan, attention: torch.Tensor, size: tuple[int, int], *, grid: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """λ_attn ``(B,)``: the share of each row's attention on patches from the anchor (``nan`` for zero attention).

        Args:
            plan: a plan of this mixer (or of its base).
            attention: ``(B, heads, N)`` or ``(B, N)`` class-token attention over the patches.
            size: the images' ``(H, W)``.
            grid: the patch grid; inferred from ``N`` and ``size`` when ``None``.
        """
        if not isinstance(attention, torch.Tensor):
            raise TypeError(f"attention must be a (B, heads, N) or (B, N) tensor, got {type(attention).__name__}")
        if attention.ndim not in (2, 3) or not attention.is_floating_point():
            raise ValueError(
                f"attention must be a floating (B, heads, N) or (B, N) tensor (class token → patches), "
                f"got shape {tuple(attention.shape)} and dtype {attention.dtype}"
            )
        if attention.shape[0] != plan.batch_size:
            raise ValueError(
                f"attention must have the batch size {plan.batch_size}, got attention.shape={tuple(attention.shape)}"
            )
        attn = attention.detach().float()
        if attn.ndim == 3:
            attn = attn.mean(dim=1)
        rows, cols = _patch_grid(int(attn.shape[1]), size, grid)
        mask = self.anchor_mask(plan, size, attn.device)  # (B, 1, H, W)
        if self.mask_resize == "area":
            patches = F.adaptive_avg_pool2d(mask, (rows, cols))
        else:
            ys = torch.arange(rows, device=attn.device) * size[0] // rows
            xs = torch.arange(cols, device=attn.device) * size[1] // cols
            patches = mask[:, :, ys[:, None], xs[None, :]]
        patches = patches.reshape(plan.batch_size, rows * cols)
        return (attn * patches).sum(dim=1) / attn.sum(dim=1)

    def anchor_mask(self, plan: MixPlan, size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
        """The anchor's weight per pixel, float32 ``(B, 1, H, W)``, for a plan of the base."""
        return _anchor_mask(self.base, plan, size, device)

    # ------------------------------------------------------------------ the base's mix
    def _sample(self, inputs, targets, *, generator, protected, groups):
        return self.base.sample(inputs, targets, generator=generator, protected=protected, groups=groups)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        return self.base.apply(inputs, plan, out=out)

    def mix_targets(self, targets: torch.Tensor, plan: MixPlan, *, num_classes: int | None = None) -> MixedTargets:
        """The base's (area) targets; `relabel` replaces their weights after the forward pass."""
        k = num_classes if num_classes is not None else self.num_classes
        return self.base.mix_targets(targets, plan, num_classes=k)


def _leaves(mixer: Mixer) -> list[Mixer]:
    if isinstance(mixer, Choice):
        return [leaf for m in mixer.mixers for leaf in _leaves(m)]
    return [mixer]


def _check_base(base: Mixer) -> None:
    for leaf in _leaves(base):
        if not (hasattr(leaf, "anchor_mask") or isinstance(leaf, Mixup)):
            raise ConfigError(
                "TransMix needs a base whose plans give each pixel's source: an image mixer (image:cutmix, "
                f"image:fmix, …), core:mixup, or a core:choice of them; got {leaf.qualified_name()!r}"
            )


def _anchor_mask(mixer: Mixer, plan: MixPlan, size: tuple[int, int], device: torch.device | str) -> torch.Tensor:
    if isinstance(plan, ChoicePlan) and isinstance(mixer, Choice):
        return _anchor_mask(mixer.mixers[plan.choice], plan.inner, size, device)
    if type(plan) is MixPlan or not hasattr(mixer, "anchor_mask"):
        # no geometry (an identity plan, or mixup): every pixel carries the anchor's share λ
        if plan.lam.ndim != 1:
            raise ValueError(f"TransMix relabels pair mixes, got a plan with lam of shape {tuple(plan.lam.shape)}")
        return plan.lam.to(device).view(-1, 1, 1, 1).expand(-1, 1, *size).float()
    return mixer.anchor_mask(plan, size, device)


def _patch_grid(n: int, size: tuple[int, int], grid: tuple[int, int] | None) -> tuple[int, int]:
    if grid is not None:
        rows, cols = (int(g) for g in grid)
        if rows * cols != n:
            raise ValueError(f"grid={tuple(grid)} has {rows * cols} patches, but the attention covers N={n}")
        return rows, cols
    h, w = size
    rows = round(math.sqrt(n * h / w))
    cols = n // rows if rows else 0
    if rows < 1 or rows * cols != n or rows * w != cols * h:
        raise ValueError(
            f"cannot infer the patch grid of N={n} attention values for images of size {size}: pass grid=(rows, cols), "
            "and drop prefix tokens from the attention (attn[:, :, 0, num_prefix_tokens:])"
        )
    return rows, cols
