"""The plan of a mix (sampled first, applied second)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from ._cpu import numpy_view, numpy_views

__all__ = ["MixPlan"]


@dataclass(frozen=True, kw_only=True)
class MixPlan:
    """Everything a mix needs, sampled before anything is applied.

    A plan is a frozen record of CPU tensors. ``Mixer.sample`` draws it from an explicit
    ``torch.Generator``; ``Mixer.apply(inputs, plan)`` is then a pure function of the inputs and the
    plan, so the same plan can be replayed on another tensor: a hidden layer (Manifold Mixup, TMix),
    a second view, or a test. Mixers with more fields (boxes, masks, spans) subclass it with
    ``@dataclass(frozen=True, kw_only=True)``.

    Args:
        index: partner of each sample, long ``(B,)``; ``(B, K-1)`` for mixers of K samples.
        lam: the anchor's share after any area correction, float32 ``(B,)``; for K-sample mixers the
            weights of the anchor and its partners, ``(B, K)``.

    Examples:
        >>> plan = MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.7, 0.7]))
        >>> plan.scalar_lam
        0.699999988079071
    """

    index: torch.Tensor
    lam: torch.Tensor
    is_identity: bool = field(init=False, repr=False)
    scalar_lam: float | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index, lam = self.index, self.lam
        if not isinstance(index, torch.Tensor) or index.dtype != torch.long or index.ndim not in (1, 2):
            raise TypeError(f"MixPlan.index must be a long tensor of shape (B,) or (B, K-1), got {_describe(index)}")
        if not isinstance(lam, torch.Tensor) or not lam.is_floating_point():
            raise TypeError(f"MixPlan.lam must be a floating tensor, got {_describe(lam)}")
        expected = (index.shape[0],) if index.ndim == 1 else (index.shape[0], index.shape[1] + 1)
        if tuple(lam.shape) != expected:
            raise ValueError(
                f"MixPlan.lam must have shape {expected} for index of shape "
                f"{tuple(index.shape)}, got {tuple(lam.shape)}"
            )
        identity, scalar = _summarise(index, lam)
        object.__setattr__(self, "is_identity", identity)
        object.__setattr__(self, "scalar_lam", scalar)

    @property
    def batch_size(self) -> int:
        """The number of samples ``B``."""
        return int(self.index.shape[0])

    def partner_indices(self) -> torch.Tensor:
        """All sources of each mixed sample, ``(B, K)``: column 0 is the anchor itself."""
        view = numpy_view(self.index)
        if view is not None:  # the same long tensor, built without torch's per-call dispatch
            partners = view if view.ndim == 2 else view[:, None]
            anchors = np.arange(view.shape[0], dtype=np.int64)[:, None]
            return torch.from_numpy(np.concatenate((anchors, partners), axis=1))
        index = self.index if self.index.ndim == 2 else self.index[:, None]
        return torch.cat([torch.arange(self.batch_size, device=index.device)[:, None], index], dim=1)

    def weights(self) -> torch.Tensor:
        """The share of each source in `partner_indices`, ``(B, K)``."""
        if self.lam.ndim != 1:
            return self.lam
        view = numpy_view(self.lam)
        if view is not None and view.dtype in (np.float32, np.float64):
            # IEEE subtraction in the tensor's own dtype: the same values as torch's 1.0 - lam
            out = np.empty((view.shape[0], 2), dtype=view.dtype)
            out[:, 0] = view
            np.subtract(1, view, out=out[:, 1])
            return torch.from_numpy(out)
        return torch.stack([self.lam, 1.0 - self.lam], dim=1)

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain Python lists, for logging and audits ("who was mixed with whom")."""
        out: dict[str, Any] = {"type": type(self).__name__}
        for f in fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                value = value.tolist()
            elif isinstance(value, MixPlan):
                value = value.to_dict()
            out[f.name] = value
        return out

    @classmethod
    def identity(cls, batch_size: int) -> MixPlan:
        """The plan that leaves every sample as it is."""
        index = torch.from_numpy(np.arange(batch_size, dtype=np.int64))
        return MixPlan(index=index, lam=torch.from_numpy(np.ones(batch_size, dtype=np.float32)))


def _summarise(index: torch.Tensor, lam: torch.Tensor) -> tuple[bool, float | None]:
    """Whether a plan leaves every sample as it is, and its λ when one value serves every sample.

    Plans of CPU tensors are summarised through NumPy views (no torch dispatch); others with torch,
    which synchronises an accelerator, as reading values must.
    """
    views = numpy_views(index, lam)
    if views is not None:
        idx, w = views
        anchors_np = np.arange(idx.shape[0], dtype=np.int64)
        if idx.ndim == 2:
            return bool(((idx == anchors_np[:, None]).all(axis=1) | (w[:, 0] == 1)).all()), None
        if not w.size or not (w == w[0]).all():
            return bool(((idx == anchors_np) | (w == 1)).all()), None
        # one λ for every sample: the plan is the identity if that λ is 1, or if nobody has a partner
        return bool(w[0] == 1 or (idx == anchors_np).all()), float(w[0])
    anchors = torch.arange(index.shape[0], device=index.device)
    if index.ndim == 1:
        identity = bool(((index == anchors) | (lam == 1)).all())
        first = lam[:1]
        scalar = float(first) if lam.numel() and bool((lam == first).all()) else None
    else:
        identity = bool(((index == anchors[:, None]).all(dim=1) | (lam[:, 0] == 1)).all())
        scalar = None
    return identity, scalar


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of dtype {value.dtype} and shape {tuple(value.shape)}"
    return f"{type(value).__name__}: {value!r}"
