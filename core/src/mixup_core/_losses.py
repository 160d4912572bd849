"""Loss helpers for mixed targets. Label smoothing is an option of the loss, never baked into targets."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ._targets import MixedTargets

__all__ = ["mixed_binary_cross_entropy", "mixed_cross_entropy", "smooth_targets", "soft_cross_entropy"]

Reduction = Literal["mean", "sum", "none"]


def _reduce(loss: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_smoothing(label_smoothing: float) -> None:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing!r}")


def smooth_targets(targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Mix dense targets ``(B, C)`` with the uniform distribution: ``(1 − ε)·t + ε / C``.

    Examples:
        >>> smooth_targets(torch.tensor([[1.0, 0.0]]), 0.1)
        tensor([[0.9500, 0.0500]])
    """
    _check_smoothing(label_smoothing)
    if label_smoothing == 0.0:
        return targets
    return targets * (1.0 - label_smoothing) + label_smoothing / targets.shape[-1]


def _dense(logits: torch.Tensor, target: MixedTargets | torch.Tensor) -> torch.Tensor:
    num_classes = logits.shape[-1]
    if isinstance(target, MixedTargets):
        dense = target.dense(num_classes if target.is_index else None, dtype=torch.float32)
    elif target.is_floating_point():
        dense = target.float()
    else:
        dense = F.one_hot(target.long(), num_classes).float()
    if dense.shape != logits.shape:
        raise ValueError(f"targets of shape {tuple(dense.shape)} do not match logits of shape {tuple(logits.shape)}")
    return dense.to(logits.device)


def soft_cross_entropy(
    logits: torch.Tensor,
    target: MixedTargets | torch.Tensor,
    *,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Cross-entropy against soft targets: ``−Σ_c t_c · log softmax(logits)_c``.

    With linear label mixing this equals λ·CE(y_a) + (1−λ)·CE(y_b) (see
    `mixed_cross_entropy`), for any number of sources, with or without label smoothing.

    Args:
        logits: ``(B, C)`` unnormalised scores.
        target: mixed targets, float targets ``(B, C)`` or class indices ``(B,)``.
        label_smoothing: ε of label smoothing (default 0): each row ``t`` becomes
            ``(1 − ε)·t + ε·(Σ_c t_c)/C``, i.e. every source's target is smoothed before its weight
            is applied, so the loss stays ``Σ_k w_k·CE_ε(y_k)`` also when the label weights do not
            sum to 1 (SnapMix), as the reference's per-term loss. For rows summing to 1 this is
            ``smooth_targets``, ``(1 − ε)·t + ε/C``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Examples:
        >>> out = mixer(x, y, generator=g)   # doctest: +SKIP
        >>> soft_cross_entropy(model(out.inputs), out.targets, label_smoothing=0.1)   # doctest: +SKIP
    """
    _check_smoothing(label_smoothing)
    dense = _dense(logits, target)
    if label_smoothing > 0.0:
        mass = dense.sum(dim=-1, keepdim=True)
        dense = dense * (1.0 - label_smoothing) + mass * (label_smoothing / dense.shape[-1])
    loss = -(dense * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1)
    return _reduce(loss, reduction)


def mixed_cross_entropy(
    logits: torch.Tensor,
    target: MixedTargets,
    *,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """The two-term (K-term) form: ``Σ_k w_k · CE(logits, y_k)`` over the sources of each mix.

    For class-index targets it never builds dense targets, so it is the cheap choice with many
    classes. Asymmetric label weights (SnapMix) are used as given.

    Args:
        logits: ``(B, C)`` unnormalised scores.
        target: the `MixedTargets` of a mixer call.
        label_smoothing: ε of label smoothing (default 0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Examples:
        >>> mixed_cross_entropy(model(out.inputs), out.targets)   # doctest: +SKIP
    """
    if not isinstance(target, MixedTargets):
        raise TypeError(
            f"target must be MixedTargets, got {type(target).__name__}; use soft_cross_entropy for plain targets"
        )
    if target.label_mix != "linear":
        raise ValueError(
            f"mixed_cross_entropy weights the sources linearly; targets with label_mix={target.label_mix!r} are "
            "multi-label: use mixed_binary_cross_entropy"
        )
    _check_smoothing(label_smoothing)
    device = logits.device
    idx = target.indices.to(device)
    w = target.weights.to(device=device, dtype=torch.float32)
    if target.is_index:
        y = target.targets.to(device).long()
        per_source = torch.stack(
            [
                F.cross_entropy(logits.float(), y[idx[:, k]], reduction="none", label_smoothing=label_smoothing)
                for k in range(idx.shape[1])
            ],
            dim=1,
        )
    else:
        log_p = F.log_softmax(logits.float(), dim=-1)
        t = smooth_targets(target.targets.to(device=device, dtype=torch.float32), label_smoothing)
        per_source = -(t[idx] * log_p[:, None, :]).sum(dim=-1)
    return _reduce((w * per_source).sum(dim=1), reduction)


def mixed_binary_cross_entropy(
    logits: torch.Tensor,
    target: MixedTargets | torch.Tensor,
    *,
    pos_weight: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Binary cross-entropy with logits for multi-label targets, mixed linearly or by union.

    Args:
        logits: ``(B, C)`` (or ``(B, ..., C)``) scores.
        target: mixed multi-hot targets or a float tensor of the logits' shape.
        pos_weight: optional weight of positive examples per class.
        reduction: ``"mean"`` (default, over every element), ``"sum"`` or ``"none"``.

    Examples:
        >>> mixed_binary_cross_entropy(model(out.inputs), out.targets)   # doctest: +SKIP
    """
    dense = _dense(logits, target)
    loss = F.binary_cross_entropy_with_logits(logits.float(), dense, pos_weight=pos_weight, reduction="none")
    return _reduce(loss, reduction)
