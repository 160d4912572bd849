"""Time strips and frequency bands of spectrogram masks (SpecMix, time/frequency CutMix).

A mask is described by spans, never stored dense in the plan: ``time_spans`` ``(B, Nt, 2)`` and
``freq_spans`` ``(B, Nf, 2)`` hold half-open ``[start, end)`` ranges on the CPU. A time strip is
full-height (every frequency of the frames ``[start, end)``), a frequency band full-width (every
frame of the bins ``[start, end)``); cells inside any strip or band come from the partner. Because
the mask is the outer product of a time vector and a frequency vector, the anchor's share of cells
is exactly ``(kept frames / T)·(kept bins / F)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from mixup_core import MixedTargets, MixPlan

__all__ = [
    "FrameMixedTargets",
    "SpanPlan",
    "check_spectrograms",
    "draw_spans",
    "frame_anchor_weights",
    "keep_mask",
    "kept_share",
    "span_keep",
]


def check_spectrograms(inputs: object, name: str = "inputs") -> torch.Tensor:
    """Check that ``inputs`` is a floating ``(B, C, F, T)`` or ``(B, F, T)`` spectrogram batch and return it."""
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (B, C, F, T) or (B, F, T), got {type(inputs).__name__}"
        )
    if inputs.ndim not in (3, 4):
        raise ValueError(
            f"spectrogram mixers take {name} of shape (B, C, F, T) or (B, F, T), got {name}.shape={tuple(inputs.shape)}"
        )
    if inputs.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch: {name}.shape={tuple(inputs.shape)}")
    if not inputs.is_floating_point():
        raise TypeError(
            f"spectrogram mixers mix floating {name}, got dtype {inputs.dtype} (shape {tuple(inputs.shape)}); convert "
            f"with {name}.float() first"
        )
    if inputs.shape[-1] == 0 or inputs.shape[-2] == 0:
        raise ValueError(f"{name} has no time-frequency cells: {name}.shape={tuple(inputs.shape)}")
    return inputs


@dataclass(frozen=True, kw_only=True)
class SpanPlan(MixPlan):
    """A plan of time strips and frequency bands taken from the partner.

    ``lam`` is the exact share of time-frequency cells kept from the anchor (see `kept_share`).

    Args:
        time_spans: long ``(B, Nt, 2)`` half-open frame ranges ``[start, end)`` of full-height strips
            (``Nt`` may be 0; empty spans have ``start == end``).
        freq_spans: long ``(B, Nf, 2)`` half-open bin ranges of full-width bands (``Nf`` may be 0).
        size: the ``(F, T)`` the spans were drawn for.
    """

    time_spans: torch.Tensor
    freq_spans: torch.Tensor
    size: tuple[int, int]


def draw_spans(
    lengths: torch.Tensor, counts: torch.Tensor, max_count: int, size: int, generator: torch.Generator | None
) -> torch.Tensor:
    """Non-overlapping spans covering ``lengths`` cells of an axis of ``size`` cells, per sample.

    Sample ``i`` gets ``counts[i]`` spans whose widths are a random partition of ``lengths[i]``
    (rounded cumulatively, so they sum exactly to ``lengths[i]``), placed in random order-preserving
    gaps of the free cells; unused slots are empty. Vectorised over the batch.

    Args:
        lengths: long ``(B,)`` in ``[0, size]``: cells to cover.
        counts: long ``(B,)`` in ``[1, max_count]``: spans per sample.
        max_count: the number of span slots ``N``.
        size: the axis length.
        generator: CPU generator.

    Returns:
        long ``(B, N, 2)`` ``[start, end)`` spans (``N = max_count``).
    """
    n = lengths.shape[0]
    if max_count == 0:
        return torch.zeros(n, 0, 2, dtype=torch.long)
    slots = torch.arange(max_count)
    active = slots[None, :] < counts[:, None]  # (B, N)
    # widths: a random partition of each length among the active slots
    share = torch.rand(n, max_count, generator=generator, dtype=torch.float64) * active + 1e-12 * active
    bounds = (lengths[:, None].double() * share.cumsum(dim=1) / share.sum(dim=1, keepdim=True)).round().long()
    bounds = torch.minimum(bounds, lengths[:, None])
    widths = torch.diff(bounds, dim=1, prepend=torch.zeros(n, 1, dtype=torch.long))
    # positions: sorted offsets in [0, free] shift each span past the ones before it
    free = (size - lengths).clamp_min(0)
    offsets = (
        (torch.rand(n, max_count, generator=generator, dtype=torch.float64) * (free[:, None] + 1).double())
        .floor()
        .long()
    )
    offsets = torch.minimum(offsets, free[:, None]).sort(dim=1).values
    starts = offsets + widths.cumsum(dim=1) - widths
    return torch.stack([starts, starts + widths], dim=2)


def span_keep(spans: torch.Tensor, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean ``(B, size)``: ``True`` where no span covers the cell (the anchor's cells)."""
    pos = torch.arange(size, device=device)
    s = spans.to(device, non_blocking=True)
    if s.shape[1] == 0:
        return torch.ones(s.shape[0], size, dtype=torch.bool, device=device)
    covered = ((pos[None, None, :] >= s[:, :, 0:1]) & (pos[None, None, :] < s[:, :, 1:2])).any(dim=1)
    return ~covered


def keep_mask(plan: SpanPlan, device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean ``(B, 1, F, T)``: ``True`` where the mix keeps the anchor's cell."""
    f, t = plan.size
    keep_t = span_keep(plan.time_spans, t, device)  # (B, T)
    keep_f = span_keep(plan.freq_spans, f, device)  # (B, F)
    return (keep_f[:, :, None] & keep_t[:, None, :])[:, None]


def kept_share(time_spans: torch.Tensor, freq_spans: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The exact share of cells kept from the anchor, float32 ``(B,)``: (kept frames/T)·(kept bins/F)."""
    f, t = size
    frames = span_keep(time_spans, t).sum(dim=1).double()
    bins = span_keep(freq_spans, f).sum(dim=1).double()
    return (frames * bins / (t * f)).float()


def frame_anchor_weights(plan: SpanPlan, n_frames: int) -> torch.Tensor:
    """The anchor's weight for each of ``n_frames`` target frames, float64 ``(B, n_frames)`` on the CPU.

    Target frame ``j`` covers the spectrogram frames ``[j·T/n, (j+1)·T/n)`` (fractional ends allowed,
    so any target resolution works, e.g. a model that pools time by 4). Its weight is the share of
    the anchor's time-frequency cells in that span: spectrogram frame ``t`` contributes 0 inside a
    time strip and (kept bins)/F outside. With ``n_frames == T`` a frame inside a time strip has
    weight 0 (it takes the partner's frame labels), a frame outside has weight 1 when no frequency
    band is drawn, and (kept bins)/F otherwise.
    """
    f, t = plan.size
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    column = span_keep(plan.time_spans, t).double() * (span_keep(plan.freq_spans, f).double().mean(dim=1, keepdim=True))
    n = column.shape[0]
    cum = torch.cat([torch.zeros(n, 1, dtype=torch.float64), column.cumsum(dim=1)], dim=1)  # (B, T+1)
    x = torch.arange(n_frames + 1, dtype=torch.float64) * (t / n_frames)
    lo = x.floor().long().clamp(max=t)
    frac = x - lo.double()
    nxt = column[:, lo.clamp(max=t - 1)] * (lo < t).double()
    at = cum[:, lo] + frac * nxt  # the cumulated weight at each boundary
    return (at[:, 1:] - at[:, :-1]) / (t / n_frames)


@dataclass(frozen=True, kw_only=True)
class FrameMixedTargets(MixedTargets):
    """Mixed frame-level targets ``(B, T_frames, K)`` whose source weights vary frame by frame.

    ``weights`` stay the clip-level shares (the anchor's share of cells); ``frame_weights`` are the
    per-frame weights of each source, and `dense` uses them: frame ``j`` of mix ``i`` is
    ``w[i, 0, j]·y[i, j] + w[i, 1, j]·y[index[i], j]`` (linear), or the element-wise maximum of
    the sources whose weight in that frame is positive (union).

    Args:
        frame_weights: float ``(B, 2, T_frames)``: anchor and partner weight per target frame.
    """

    frame_weights: torch.Tensor

    def with_weights(self, weights: torch.Tensor) -> MixedTargets:
        """A copy with new clip-level weights (the per-frame weights are kept)."""
        if tuple(weights.shape) != tuple(self.weights.shape):
            raise ValueError(f"weights must have shape {tuple(self.weights.shape)}, got {tuple(weights.shape)}")
        return replace(self, weights=weights)

    def dense(self, num_classes: int | None = None, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The mixed frame targets ``(B, T_frames, K)`` on the targets' device."""
        base = self.targets.to(dtype)
        device = base.device
        sources = base[self.indices.to(device, non_blocking=True)]  # (B, 2, T_frames, K)
        w = self.frame_weights.to(device=device, dtype=dtype, non_blocking=True)
        w = w.reshape(w.shape + (1,) * (sources.ndim - 3))
        if self.label_mix == "union":
            return torch.where(w > 0, sources, torch.zeros((), dtype=dtype, device=device)).amax(dim=1)
        return (w * sources).sum(dim=1)
