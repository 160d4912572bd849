"""Token-classification (NER-style) targets of a mix: per-token soft labels with ``-100`` ignore positions.

The rule, per position ``t`` of mixed sample ``i`` with partner ``j = plan.index[i]`` and anchor
share ``λ_i`` (``y[i, t] = -100`` marks an ignored position, as in Hugging Face token
classification):

| anchor `y[i, t]` | partner `y[j, t]` | mixed target at `t` |
|---|---|---|
| valid | valid | `λ_i·onehot(y[i, t]) + (1 − λ_i)·onehot(y[j, t])` |
| valid | `-100` | `onehot(y[i, t])` (the valid side in full) |
| `-100` | valid | `onehot(y[j, t])` (the valid side in full) |
| `-100` | `-100` | ignored (`valid = False`, an all-zero row) |

Samples that are not mixed (paired with themselves, or ``λ_i = 1``) keep their own labels and
ignore positions. The rule keeps every row a distribution and never trains on a position that
neither sentence labels; a position labelled on one side only is taken from that side, which is
the side whose token is really there when the other side is padding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from mixup_core import MixPlan, smooth_targets

__all__ = ["IGNORE_INDEX", "TokenTargets", "check_token_labels", "mix_token_labels", "token_soft_cross_entropy"]

IGNORE_INDEX = -100
"""The label of positions that carry no target (Hugging Face's convention)."""


@dataclass(frozen=True)
class TokenTargets:
    """Mixed per-token targets.

    Args:
        probs: soft targets, float ``(B, L, K)``; all-zero rows where ``valid`` is ``False``.
        valid: boolean ``(B, L)``: positions that carry a target.

    Examples:
        >>> plan = MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.75, 0.75]))
        >>> t = mix_token_labels(torch.tensor([[0, -100], [2, 1]]), plan, num_classes=3)
        >>> t.probs[0]
        tensor([[0.7500, 0.0000, 0.2500],
                [0.0000, 1.0000, 0.0000]])
        >>> t.valid
        tensor([[True, True],
                [True, True]])
    """

    probs: torch.Tensor
    valid: torch.Tensor

    def __len__(self) -> int:
        return int(self.probs.shape[0])


def check_token_labels(
    labels: object,
    batch_size: int,
    length: int,
    num_classes: int | None = None,
    *,
    ignore_index: int = IGNORE_INDEX,
    name: str = "labels",
) -> torch.Tensor:
    """Check integer token labels ``(B, L)`` against the batch and return them.

    Raises a ``TypeError``/``ValueError`` naming ``labels`` and quoting the shape, dtype or value.
    The range check runs on CPU tensors only (no synchronisation of CUDA batches).
    """
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token labels (B, L), got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(
            f"{name} for token classification must be integer class ids (B, L) with {ignore_index} for ignored "
            f"positions, got dtype {labels.dtype}"
        )
    if labels.ndim != 2 or labels.shape[0] != batch_size or labels.shape[1] != length:
        raise ValueError(
            f"{name} for token classification must have the shape of input_ids ({batch_size}, {length}), "
            f"got {name}.shape={tuple(labels.shape)}"
        )
    if labels.device.type == "cpu" and labels.numel():
        valid = labels[labels != ignore_index]
        if valid.numel():
            lo, hi = int(valid.min()), int(valid.max())
            if lo < 0 or (num_classes is not None and hi >= num_classes):
                bad = lo if lo < 0 else hi
                raise ValueError(
                    f"{name} contain the label {bad}, outside [0, {num_classes if num_classes is not None else '∞'}) "
                    f"(num_classes={num_classes}; {ignore_index} marks ignored positions)"
                )
    return labels


def mix_token_labels(
    labels: torch.Tensor,
    plan: MixPlan,
    *,
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    dtype: torch.dtype = torch.float32,
) -> TokenTargets:
    """Per-token soft targets of a pair mix, by the rule of this module's table.

    Args:
        labels: integer ``(B, L)`` labels, ``ignore_index`` where a position carries no target.
        plan: the plan of the mix (pairs and the anchor's share ``λ`` per sample).
        num_classes: ``K``.
        ignore_index: the label of ignored positions (default ``-100``).
        dtype: floating dtype of ``probs``.

    Returns:
        `TokenTargets` with ``probs`` ``(B, L, K)`` and ``valid`` ``(B, L)``, on the labels' device.
    """
    if plan.index.ndim != 1:
        raise ValueError(f"token targets follow pair mixes; got a plan with index of shape {tuple(plan.index.shape)}")
    length = labels.shape[1] if isinstance(labels, torch.Tensor) and labels.ndim == 2 else -1
    labels = check_token_labels(labels, plan.batch_size, length, num_classes, ignore_index=ignore_index)
    device = labels.device
    n = plan.batch_size
    index = plan.index.to(device, non_blocking=True)
    active = ((plan.index != torch.arange(n)) & (plan.lam < 1)).to(device, non_blocking=True)[:, None]
    lam = plan.lam.to(device=device, dtype=dtype, non_blocking=True)[:, None]
    y_a, y_b = labels, labels[index]
    valid_a = y_a != ignore_index
    valid_b = (y_b != ignore_index) & active
    one = torch.ones((), dtype=dtype, device=device)
    w_a = torch.where(valid_b, lam, one) * valid_a
    w_b = torch.where(valid_a, 1.0 - lam, one) * valid_b
    probs = w_a[..., None] * F.one_hot(y_a.clamp(min=0).long(), num_classes).to(dtype)
    probs = probs + w_b[..., None] * F.one_hot(y_b.clamp(min=0).long(), num_classes).to(dtype)
    return TokenTargets(probs=probs, valid=valid_a | valid_b)


def token_soft_cross_entropy(
    logits: torch.Tensor,
    targets: TokenTargets,
    *,
    label_smoothing: float = 0.0,
    reduction: Literal["mean", "sum", "none"] = "mean",
) -> torch.Tensor:
    """Cross-entropy of ``(B, L, K)`` logits against mixed token targets, over valid positions only.

    Args:
        logits: ``(B, L, K)`` scores.
        targets: the `TokenTargets` of the mix.
        label_smoothing: ε, applied to the soft targets of valid positions.
        reduction: ``"mean"`` (over valid positions; 0 when there are none), ``"sum"``, or
            ``"none"`` (``(B, L)``, zero at ignored positions).

    Examples:
        >>> t = TokenTargets(probs=torch.tensor([[[0.5, 0.5], [0.0, 0.0]]]), valid=torch.tensor([[True, False]]))
        >>> token_soft_cross_entropy(torch.zeros(1, 2, 2), t)
        tensor(0.6931)
    """
    if not isinstance(targets, TokenTargets):
        raise TypeError(f"targets must be TokenTargets (from mix_token_labels), got {type(targets).__name__}")
    if logits.shape != targets.probs.shape:
        raise ValueError(
            f"logits of shape {tuple(logits.shape)} do not match token targets of shape {tuple(targets.probs.shape)}"
        )
    valid = targets.valid.to(logits.device)
    probs = smooth_targets(targets.probs.to(logits.device, torch.float32), label_smoothing)
    per_token = -(probs * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1) * valid
    if reduction == "none":
        return per_token
    if reduction == "sum":
        return per_token.sum()
    if reduction == "mean":
        return per_token.sum() / valid.sum().clamp(min=1)
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
