"""Mixed targets: the label side of a mix, kept as (targets, sources, weights) until a loss needs them; and
the result of a mixer call (`MixedBatch`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from ._cpu import numpy_view
from ._plan import MixPlan

__all__ = ["LabelMix", "MixedBatch", "MixedTargets", "check_targets"]

LabelMix = Literal["linear", "union"]
"""How targets follow a mix: ``"linear"`` weights them by the shares, ``"union"`` takes the
element-wise maximum of the sources (multi-label tagging, as torch-audiomentations' ``Mix``)."""


@dataclass(frozen=True, kw_only=True)
class MixedTargets:
    """The targets of a mixed batch.

    Nothing is densified until asked: ``targets`` are kept as given (class indices ``(B,)``, or
    float targets ``(B, ...)``: one-hot, soft, multi-hot, frame-level or regression values), with the
    sources of each mixed sample and their weights. `dense` builds soft targets for
    `soft_cross_entropy`; `mixed_cross_entropy` uses the indices
    directly (the two-term form λ·CE(y_a) + (1−λ)·CE(y_b)).

    Args:
        targets: the original targets.
        indices: sources of each mixed sample, long ``(B, K)``; column 0 is the anchor.
        weights: label weight of each source, float ``(B, K)``. Usually the input shares; label
            policies (TransMix, SnapMix) may replace them through `with_weights`.
        num_classes: number of classes, needed to densify class indices.
        label_mix: ``"linear"`` (weighted sum) or ``"union"`` (element-wise max of the sources with
            a positive weight).

    Examples:
        >>> mt = MixedTargets.from_plan(torch.tensor([0, 2]), MixPlan(index=torch.tensor([1, 0]),
        ...                             lam=torch.tensor([0.75, 0.75])), num_classes=3)
        >>> mt.dense()
        tensor([[0.7500, 0.0000, 0.2500],
                [0.2500, 0.0000, 0.7500]])
    """

    targets: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor
    num_classes: int | None = None
    label_mix: LabelMix = "linear"

    @classmethod
    def from_plan(
        cls,
        targets: torch.Tensor,
        plan: MixPlan,
        *,
        num_classes: int | None = None,
        label_mix: LabelMix = "linear",
    ) -> MixedTargets:
        """Mixed targets whose weights are the plan's shares."""
        return cls(
            targets=targets,
            indices=plan.partner_indices(),
            weights=plan.weights(),
            num_classes=num_classes,
            label_mix=label_mix,
        )

    @property
    def is_index(self) -> bool:
        """Whether the targets are class indices (as opposed to float targets)."""
        return not self.targets.is_floating_point()

    @property
    def lam(self) -> torch.Tensor:
        """The anchor's label weight, ``(B,)``."""
        return self.weights[:, 0]

    @property
    def y_a(self) -> torch.Tensor:
        """The anchors' targets (the targets as given)."""
        return self.targets

    @property
    def y_b(self) -> torch.Tensor:
        """The first partner's targets."""
        return self.targets[self.indices[:, 1].to(self.targets.device)]

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def with_weights(self, weights: torch.Tensor) -> MixedTargets:
        """A copy with new label weights of shape ``(B, K)`` (for label policies such as TransMix)."""
        if tuple(weights.shape) != tuple(self.weights.shape):
            raise ValueError(f"weights must have shape {tuple(self.weights.shape)}, got {tuple(weights.shape)}")
        return replace(self, weights=weights)

    def dense(self, num_classes: int | None = None, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Soft targets on the targets' device.

        Class indices give ``(B, num_classes)``; float targets keep their shape. With linear label
        mixing, each row sums as the input rows did (weights that sum to 1 keep one-hot rows summing
        to 1).

        Args:
            num_classes: overrides the number of classes given at construction.
            dtype: floating dtype of the result (default float32).
        """
        if self.is_index:
            return self._dense_index(num_classes, dtype)
        base = self.targets.to(dtype)
        device = base.device
        idx = self.indices.to(device, non_blocking=True)
        w = self.weights.to(device=device, dtype=dtype, non_blocking=True)
        sources = base[idx]  # (B, K, ...)
        w = w.reshape(w.shape + (1,) * (sources.ndim - 2))
        if self.label_mix == "union":
            return torch.where(w > 0, sources, torch.zeros((), dtype=dtype, device=device)).amax(dim=1)
        return (w * sources).sum(dim=1)

    def _dense_index(self, num_classes: int | None, dtype: torch.dtype) -> torch.Tensor:
        # scatter the K weights of each row into (B, C): O(B·K) work instead of densifying K one-hots
        k = num_classes if num_classes is not None else self.num_classes
        if k is None:
            raise ValueError(
                "num_classes is needed to densify class-index targets: give num_classes to the mixer "
                "(at construction or in the call) or to dense(num_classes=...)"
            )
        device = self.targets.device
        labels = self.targets.long()[self.indices.to(device, non_blocking=True)]  # (B, K)
        w = self.weights.to(device=device, dtype=dtype, non_blocking=True)
        out = torch.zeros((labels.shape[0], k), dtype=dtype, device=device)
        if self.label_mix == "union":
            return out.scatter_reduce_(1, labels, (w > 0).to(dtype), reduce="amax")
        return out.scatter_add_(1, labels, w)


def check_targets(
    targets: object, batch_size: int, num_classes: int | None, *, inputs_shape: tuple[int, ...] | None = None
) -> torch.Tensor | None:
    """Validate targets against the batch and return them (booleans become float multi-hot).

    Raises a ``TypeError`` or ``ValueError`` naming ``targets`` and quoting the offending shape or value.
    The range check of class indices runs on CPU tensors only, so CUDA batches are never synchronised.
    """
    if targets is None:
        return None
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor or None, got {type(targets).__name__}: {targets!r}")
    where = f" (inputs.shape={inputs_shape})" if inputs_shape is not None else ""
    if targets.ndim == 0 or targets.shape[0] != batch_size:
        raise ValueError(
            f"targets must have the batch size {batch_size} as first dimension, got "
            f"targets.shape={tuple(targets.shape)}{where}"
        )
    if targets.dtype == torch.bool:
        return targets.to(torch.float32)
    if targets.is_floating_point():
        if targets.is_cpu and not _all_finite(targets):
            raise ValueError("targets must be finite, got non-finite values (nan or inf)")
        return targets
    if targets.is_complex():
        raise TypeError(f"targets must be class indices or real values, got dtype {targets.dtype}")
    if targets.ndim != 1:
        raise ValueError(
            f"class-index targets must have shape (B,), got targets.shape={tuple(targets.shape)}; "
            "pass one-hot or multi-hot targets as a float tensor (B, K)"
        )
    if targets.is_cpu and targets.numel():
        lo, hi = int(targets.min()), int(targets.max())
        upper = num_classes if num_classes is not None else None
        if lo < 0 or (upper is not None and hi >= upper):
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"targets contain the label {bad}, outside [0, {upper if upper is not None else '∞'}) "
                f"(num_classes={num_classes})"
            )
    return targets


def _all_finite(t: torch.Tensor) -> bool:
    """Whether every value of the CPU floating tensor ``t`` is finite."""
    view = numpy_view(t)
    if view is not None:
        return bool(np.isfinite(view).all())
    return bool(torch.isfinite(t).all())


@dataclass(frozen=True)
class MixedBatch:
    """What a mixer call returns.

    Args:
        inputs: the mixed inputs, with the input's shape, dtype, device and memory format.
        targets: the mixed targets (``None`` when the call had no targets).
        plan: the plan that produced them, for audits and replay.

    Examples:
        >>> out = mixer(x, y, generator=g)   # doctest: +SKIP
        >>> loss = soft_cross_entropy(model(out.inputs), out.targets)   # doctest: +SKIP
    """

    inputs: torch.Tensor
    targets: MixedTargets | None
    plan: MixPlan
