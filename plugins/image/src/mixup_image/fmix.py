"""FMix: binary masks from thresholded low-frequency Fourier noise."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from mixup_core import MixPlan, mixer_dataclass

from ._base import ImageMixer, MaskPlan, apply_mask

__all__ = ["FMix", "binarise_noise", "fourier_noise"]


def fourier_noise(
    n: int, size: tuple[int, int], decay_power: float, generator: torch.Generator | None
) -> torch.Tensor:
    """``n`` low-frequency noise images, float32 ``(n, H, W)`` on the CPU.

    A complex Gaussian spectrum over the ``rfft2`` frequency grid is scaled by ``1 / f**decay_power``
    (frequencies floored at ``1 / max(H, W)``, as in the reference implementation) and brought back
    to a real image by an inverse FFT. All ``n`` images come from one batched FFT.

    Args:
        n: number of noise images.
        size: ``(H, W)``.
        decay_power: the spectral decay δ; larger values give smoother, blobbier masks.
        generator: CPU generator the spectrum is drawn from.
    """
    h, w = size
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, :]
    freqs = torch.sqrt(fx * fx + fy * fy).clamp(min=1.0 / max(h, w))
    scale = freqs.pow(-float(decay_power)).float()  # (H, W // 2 + 1)
    param = torch.randn((n, h, w // 2 + 1, 2), generator=generator)
    # the (re, im) pairs viewed as complex numbers in place (no copy), scaled in place: the same
    # complex-by-real product as ``torch.complex(re, im) * scale``, without two temporaries
    spectrum = torch.view_as_complex(param).mul_(scale)
    return torch.fft.irfft2(spectrum, s=(h, w))


def binarise_noise(noise: torch.Tensor, lam: torch.Tensor, max_soft: float = 0.0) -> torch.Tensor:
    """The anchor masks of FMix: each row's ``round(λ·N)`` highest-valued pixels are 1, the rest 0.

    Pixels are ranked by descending noise value, equal values by ascending pixel index (the order of
    a stable descending sort).

    Args:
        noise: ``(n, N)`` flattened noise, ``n`` = 1 (one field shared by every row) or ``B``.
        lam: ``(B,)`` target shares.
        max_soft: half-width (as a fraction of ``N``) of a linear ramp from 1 to 0 around the
            threshold, capped at ``min(λ, 1 − λ)`` per row as in the reference. The ramp is
            symmetric, so each row's mean is still exactly ``round(λ·N) / N``.

    Returns:
        float32 ``(B, N)`` masks in ``[0, 1]``.
    """
    return _binarise(noise, lam, max_soft)[0]


_BUCKET_SIZE = 8  # mean pixels per histogram bucket of a row in the selection of `_binarise_rows`
_MAX_BUCKETS = 2048


def _binarise(noise: torch.Tensor, lam: torch.Tensor, max_soft: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`binarise_noise`, and each row's exact count of ones where every row is binary (else ``None``).

    Every pixel's value depends only on its rank ``r`` in the row (descending value, ties by
    ascending index): 1 for ``r < lo``, 0 for ``r >= hi`` and the ramp in between. Rather than sorting
    every row, the exact ranks are only computed where they matter (see `_binarise_rows`); inputs
    that path does not cover (non-finite noise, non-CPU tensors, …) take the full stable sort.
    """
    b, n_pix = lam.shape[0], noise.shape[1]
    lam64 = lam.double()
    num = torch.round(lam64 * n_pix).long().clamp(0, n_pix)
    eff = torch.minimum(torch.full_like(lam64, float(max_soft)), torch.minimum(lam64, 1.0 - lam64)).clamp(min=0.0)
    soft = torch.floor(eff * n_pix).long()
    lo_i = (num - soft).clamp(min=0)
    hi_i = (num + soft).clamp(max=n_pix)
    lo = lo_i[:, None].float()
    hi = hi_i[:, None].float()
    width = (hi - lo - 1).clamp(min=1)
    binary = not bool(soft.any())
    counts = num if binary else None
    simple = (
        noise.dim() == 2
        and noise.device.type == "cpu"
        and lam.device.type == "cpu"
        and noise.dtype in (torch.float32, torch.float64)
        and not noise.requires_grad  # the selection writes into `out=` buffers
        and 0 < n_pix <= 2**24  # ranks are exact in float32 (as the ramp needs)
        and b > 0
        and noise.shape[0] in (1, b)
        and not bool(torch.isnan(lam64).any())
    )
    if simple and noise.shape[0] == 1 and b > 1:
        # one field for every row: a single stable ordering serves them all
        order = noise.argsort(dim=1, descending=True, stable=True)[0]
        rank = torch.empty(n_pix, dtype=torch.long).scatter_(0, order, torch.arange(n_pix))
        if binary:
            return torch.lt(rank, num[:, None]).float(), counts
        rank_f = torch.arange(n_pix, dtype=torch.float32)[None, :]
        by_rank = torch.where(rank_f >= hi, 0.0, (1.0 - (rank_f - lo) / width).clamp(max=1.0))
        return by_rank.gather(1, rank.expand(b, n_pix)), counts
    # ranking the ramps' pixels one by one only pays while they are a small part of the batch
    if simple and 4 * int((hi_i - lo_i).sum()) <= b * n_pix:
        mask = _binarise_rows(noise, lo_i, hi_i, lo, hi, width)
        if mask is not None:
            return mask, counts
    # the reference: a full stable sort of every row
    order = noise.argsort(dim=1, descending=True, stable=True).expand(b, n_pix)
    rank_f = torch.arange(n_pix, dtype=torch.float32)[None, :]
    by_rank = torch.where(rank_f >= hi, 0.0, (1.0 - (rank_f - lo) / width).clamp(max=1.0))
    return torch.empty((b, n_pix), dtype=torch.float32).scatter_(1, order, by_rank), counts


def _binarise_rows(
    noise: torch.Tensor, lo_i: torch.Tensor, hi_i: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, width: torch.Tensor
) -> torch.Tensor | None:
    """The masks of `_binarise` for one noise row per mask row, by selection instead of sorting.

    Each row's values go into ``nb`` equal-width buckets between the row's min and max by
    ``trunc((v − min) · s)``: a composition of correctly rounded monotone operations, so a higher
    bucket only holds strictly higher values, and equal values share a bucket. One ``bincount`` gives
    every row's histogram and so the rank range of each bucket. Buckets whose ranks all lie below
    ``lo`` are 1, those whose ranks all lie at or above ``hi`` are 0: a single comparison of bucket
    ids against a per-row threshold. Only the pixels of the buckets in between (for a binary mask,
    the single bucket straddling rank ``round(λ·N)``) are ranked exactly, by a stable descending
    sort of those few values, which keeps the tie rule (equal values: lower index first); they get
    the same ramp formula as the full sort. Returns ``None`` where the noise is not finite, or
    where so many pixels would need ranking (heavy ties) that the full sort is as cheap.
    """
    b, n_pix = noise.shape
    mn = noise.amin(dim=1, keepdim=True)
    mx = noise.amax(dim=1, keepdim=True)
    span = mx - mn
    nb = max(1, min(_MAX_BUCKETS, n_pix // _BUCKET_SIZE, (2**31 - 1) // b))
    scale = (nb - 1) / torch.where(span > 0, span, 1.0)  # constant rows: one bucket
    if not (bool(torch.isfinite(span).all()) and bool(torch.isfinite(scale).all())):
        return None  # NaN / inf noise (or a span too large or too small to scale)
    # trunc((v − min)·s) lies in [0, nb − 1]: v − min ≤ span, and span·s ≤ (nb − 1)(1 + 2⁻²³) < nb
    ids = torch.sub(noise, mn).mul_(scale).to(torch.int32).contiguous()  # float → int32 truncates
    ids.add_(torch.arange(0, b * nb, nb, dtype=torch.int32)[:, None])
    hist = torch.bincount(ids.reshape(-1), minlength=b * nb).view(b, nb)
    at_or_above = hist.flip(1).cumsum(1).flip(1)  # pixels in bucket j or higher
    above = at_or_above - hist  # pixels above bucket j: ranks of bucket j are [above, at_or_above)
    if not bool((at_or_above[:, 0] == n_pix).all()):
        return None  # not reachable (every id lands in its own row's range); kept as a guard
    top = (at_or_above > lo_i[:, None]).sum(1) - 1  # buckets above `top` are all ranked < lo: 1
    bottom = (above >= hi_i[:, None]).sum(1)  # buckets below `bottom` are all ranked ≥ hi: 0
    offset = torch.arange(0, b * nb, nb)
    hi_id = (offset + top).to(torch.int32)[:, None]  # int32 like `ids`: no widening copy of `ids`
    above_all = torch.gt(ids, hi_id)
    if bool((top - bottom).max() <= 0):  # at most one bucket to rank per row (always so for binary rows)
        target = torch.where(bottom == top, offset + bottom, -1).to(torch.int32)
        cand = torch.eq(ids, target[:, None])
    else:
        cand = torch.ge(ids, (offset + bottom).to(torch.int32)[:, None]) & torch.le(ids, hi_id)
    mask = above_all.to(torch.float32)
    # candidates per row: the pixels at or above bucket `bottom` less those above bucket `top`
    first = above.gather(1, top.clamp(min=0)[:, None])[:, 0]  # pixels above the highest candidate bucket
    last = at_or_above.gather(1, bottom.clamp(max=nb - 1)[:, None])[:, 0]  # pixels at or above the lowest
    per_row = torch.where(bottom <= top, last - first, 0)
    k = int(per_row.sum())
    if k == 0:
        return mask
    if 4 * k > b * n_pix:
        return None  # heavy ties (or a constant row): as costly as the full sort, which is simpler
    flat = _nonzero_flat(cand, sparse=16 * k <= b * n_pix)  # ascending: by row, then by pixel index
    rows = flat // n_pix
    # rank the candidates row by row: put them in a (b, kmax) table, a row's in ascending pixel
    # order, behind -inf padding, and sort each table row stably in descending order
    pos = torch.arange(k) - (per_row.cumsum(0) - per_row)[rows]
    kmax = int(per_row.max())
    slot = rows * kmax + pos
    table = noise.new_full((b, kmax), -torch.inf)
    table.view(-1)[slot] = noise.reshape(-1)[flat] if noise.is_contiguous() else noise[rows, flat - rows * n_pix]
    order = table.argsort(dim=1, descending=True, stable=True)
    # the p-th of a row in that order has rank first + p: its value by the same formula as the full sort
    rank = (first[:, None] + torch.arange(kmax)).float()
    ramp = torch.where(rank >= hi, 0.0, (1.0 - (rank - lo) / width).clamp(max=1.0))
    mask.view(-1)[flat] = torch.empty_like(ramp).scatter_(1, order, ramp).view(-1)[slot]
    return mask


def _nonzero_flat(flags: torch.Tensor, *, sparse: bool) -> torch.Tensor:
    """Flat indices of the ``True`` entries of a contiguous bool tensor, ascending.

    For ``sparse`` flags, eight at a time: the bytes read as int64 words, only the nonzero words opened.
    """
    flat = flags.view(-1)
    if not sparse or flat.numel() % 8:
        return flat.nonzero()[:, 0]
    words = flat.view(torch.int64).nonzero()[:, 0]
    word, byte = flat.view(-1, 8)[words].nonzero().unbind(1)
    return words[word] * 8 + byte


@mixer_dataclass
class FMix(ImageMixer):
    """FMix: keep the anchor where low-frequency Fourier noise is highest, take the partner elsewhere.

    A complex Gaussian spectrum is scaled by ``1/f^decay_power``, inverse-FFT'd to a real image, and
    its ``round(λ·H·W)`` highest-valued pixels become the **anchor's** pixels (mask 1 = anchor, FMix's
    own convention: ``x̂ = M·x_a + (1 − M)·x_b``). The anchor's share, and so its label weight, is the
    exact mask mean (Harris et al., *FMix: Enhancing Mixed Sample Data Augmentation*,
    arXiv:2002.12047; reference code ecs-vlc/FMix).

    Rounding: the reference picks ⌈λN⌉ or ⌊λN⌋ at random; here the pixel count is ``round(λ·N)``
    (half to even), so the plan's λ differs from the drawn λ by at most ``0.5/N`` and is exact.

    Args:
        decay_power: spectral decay δ of the noise (default 3; larger is smoother).
        max_soft: softening of the mask edge in ``[0, 0.5]`` (default 0, a binary mask): the pixels
            ranked within ``max_soft·N`` of the threshold get a linear ramp from 1 to 0, keeping
            the mask mean exact.
        **kwargs: λ, pairing, protection and ``mode`` options of `PairMixer`.
            The reference's "reformulate" option (λ ~ Beta(α+1, α)) is ``alpha=a + 1, beta=a``.

    Note: ``mode="batch"`` draws one noise field for the whole batch (as the reference does)
       and thresholds it at the shared λ; ``mode="sample"`` draws one field per sample. In both
       modes the plan holds a mask per sample, so samples whose λ was changed by protection or
       self-pairing are still exact.

    Examples:
        >>> mixer = FMix(alpha=1.0, num_classes=10)
        >>> out = mixer(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.mask.shape
        torch.Size([8, 1, 32, 32])
    """

    name: ClassVar[str] = "fmix"
    paper: ClassVar[str] = "Harris et al., FMix: Enhancing Mixed Sample Data Augmentation, arXiv 2020, https://arxiv.org/abs/2002.12047"

    decay_power: float = Field(default=3.0, gt=0, allow_inf_nan=False)
    max_soft: float = Field(default=0.0, ge=0, le=0.5)

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        b = index.shape[0]
        h, w = int(inputs.shape[-2]), int(inputs.shape[-1])
        fields = 1 if self.mode == "batch" else b
        noise = fourier_noise(fields, (h, w), self.decay_power, generator).reshape(fields, h * w)
        flat, counts = _binarise(noise, lam, self.max_soft)
        mask = flat.reshape(b, 1, h, w)
        if counts is None:
            share = mask.double().mean(dim=(1, 2, 3)).float()
        else:  # a binary mask holds exactly `counts` ones: the same value as its float64 mean, without the pass
            share = (counts.double() / (h * w)).float()
        return MaskPlan(index=index, lam=share, mask=mask)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, MaskPlan):
            raise TypeError(f"FMix.apply needs a MaskPlan, got {type(plan).__name__}")
        if tuple(plan.mask.shape[-2:]) != tuple(inputs.shape[-2:]):
            raise ValueError(
                f"the plan's mask has size {tuple(plan.mask.shape[-2:])}, but inputs.shape={tuple(inputs.shape)}"
            )
        return apply_mask(inputs, plan.index, plan.mask)
