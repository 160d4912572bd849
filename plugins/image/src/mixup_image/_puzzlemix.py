"""Machinery of PuzzleMix: the saliency pass, the graph-cut mask and the optimal transport of blocks.

Everything here is batched with torch except `solve_masks`, which calls the gco graph-cut
library once per pair: that C++ call is the one per-sample step of the method.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "GCO_HINT",
    "assign_blocks",
    "block_grid",
    "block_saliency",
    "boundary_terms",
    "compute_saliency",
    "import_gco",
    "label_costs",
    "permute_cells",
    "refine_grid",
    "solve_masks",
    "transport_cost_matrix",
]

GCO_HINT = 'PuzzleMix needs the gco-wrapper package for its graph cuts: pip install "mixup-image[puzzlemix]"'

LossFn = Callable[[Any, Any], torch.Tensor]


def import_gco() -> ModuleType:
    """Import gco (the ``gco-wrapper`` distribution), or raise an ImportError naming the extra."""
    try:
        import gco
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching sys.modules
        raise ImportError(GCO_HINT) from exc
    return gco


# ---------------------------------------------------------------------------------------- grids
def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def block_grid(size: tuple[int, int], blocks: int) -> tuple[int, int]:
    """The ``(rows, cols)`` of the block grid for an image of ``size`` and a requested grid side.

    Each side takes the divisor of the image side nearest to ``blocks`` (the smaller one on a tie),
    so every block has the same size and blocks can be permuted: ``blocks=4`` gives 4×4 on 32×32,
    3×3 on 15×9, and 1×4 on 13×16 (13 is prime).
    """
    return tuple(min(_divisors(side), key=lambda d: (abs(d - blocks), d)) for side in size)  # type: ignore[return-value]


def refine_grid(size: tuple[int, int], grid: tuple[int, int], cell: int) -> tuple[int, int]:
    """The transport grid: ``grid`` refined to cells of side at most ``cell`` (``-1``: the grid itself).

    The cell side is the largest divisor of the block side that is at most ``cell``, so transport
    cells tile the mask blocks exactly (the reference's ``t_size``).
    """
    if cell < 0:
        return grid
    out = []
    for side, g in zip(size, grid, strict=True):
        block = side // g
        t = max(d for d in _divisors(block) if d <= max(cell, 1))
        out.append(side // t)
    return out[0], out[1]


def _pool(values: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Mean of ``(B, H, W)`` over the cells of ``grid``: ``(B, rows, cols)``."""
    b, h, w = values.shape
    gh, gw = grid
    return values.reshape(b, gh, h // gh, gw, w // gw).mean(dim=(2, 4))


def block_saliency(saliency: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Saliency average-pooled to ``grid`` and normalised to sum 1 per image, float32 ``(B, rows, cols)``."""
    pooled = _pool(saliency.float(), grid)
    total = pooled.sum(dim=(1, 2), keepdim=True)
    return pooled / total.clamp_min(torch.finfo(torch.float32).tiny)


# ------------------------------------------------------------------------------------- saliency
def _model_dtype(model: Callable[..., Any]) -> torch.dtype | None:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            if p.is_floating_point():
                return p.dtype
    return None


def compute_saliency(
    model: Callable[..., Any], loss_fn: LossFn | None, inputs: torch.Tensor, targets: torch.Tensor | None
) -> torch.Tensor:
    """‖∂L/∂x‖₂ over channels, float32 ``(B, H, W)`` on the inputs' device.

    One forward and backward pass of ``model`` on a detached copy of ``inputs`` (cast to the dtype of
    the model's parameters for ``nn.Module`` models). Only the gradient with respect to the input
    is taken (``torch.autograd.grad``), so no ``.grad`` of the model or the inputs is touched. An
    ``nn.Module`` runs in ``eval()`` mode, as in the reference, and each submodule's train/eval mode
    is restored afterwards (also when the pass raises).
    """
    dtype = _model_dtype(model) or inputs.dtype
    x = inputs.detach().to(dtype).requires_grad_(True)
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, torch.nn.Module) else []
    try:
        if isinstance(model, torch.nn.Module):
            model.eval()
        return _input_gradient_norm(model, loss_fn, x, inputs, targets)
    finally:
        for module, training in modes:
            module.training = training


def _input_gradient_norm(
    model: Callable[..., Any],
    loss_fn: LossFn | None,
    x: torch.Tensor,
    inputs: torch.Tensor,
    targets: torch.Tensor | None,
) -> torch.Tensor:
    with torch.enable_grad():
        output = model(x)
        if loss_fn is not None:
            loss = loss_fn(output, targets)
        else:
            if targets is None:
                raise ValueError(
                    "PuzzleMix computes its saliency from the loss on the clean batch and needs targets "
                    "(or a loss_fn that takes none, or a precomputed saliency=), got targets=None"
                )
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"the model returned {type(output).__name__}; the default loss (cross-entropy) needs a tensor "
                    "of logits: pass loss_fn=... to PuzzleMix"
                )
            y = targets.to(output.device)
            if y.is_floating_point():
                y = y.to(output.dtype)
            loss = F.cross_entropy(output, y)
        if not isinstance(loss, torch.Tensor) or not loss.is_floating_point():
            raise TypeError(f"loss_fn must return a floating tensor, got {type(loss).__name__}")
        (grad,) = torch.autograd.grad(loss.sum(), x, allow_unused=True)
    if grad is None:
        return torch.zeros(inputs.shape[0], *inputs.shape[2:], device=inputs.device)
    return grad.detach().float().norm(dim=1)


# ---------------------------------------------------------------------------- graph-cut energies
def _strip_pool(strip: torch.Tensor, k: int) -> torch.Tensor:
    """Average the last dimension in groups of ``k``."""
    *lead, n = strip.shape
    return strip.reshape(*lead, n // k, k).mean(dim=-1)


def boundary_terms(
    images: torch.Tensor, index: torch.Tensor, grid: tuple[int, int], neigh_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The data local-smoothness terms across block boundaries (the reference's ``neigh_penalty``).

    For two vertically adjacent blocks (upper ``u``, lower ``v``) taken from sources ``a`` and ``b``
    (anchor A or partner P), ``E_ab`` is the mean absolute difference between the last
    ``neigh_size`` rows of ``a`` in ``u`` and the first ``neigh_size`` rows of ``b`` in ``v``, both
    averaged in ``neigh_size``-wide groups along the boundary and over channels; likewise for
    horizontal neighbours.

    Returns:
        ``(vertical, horizontal)``: float32 ``(4, B, rows-1, cols)`` and ``(4, B, rows, cols-1)``,
        stacked in the order AA, AP, PA, PP (first letter: upper/left block).
    """
    x = images.detach().float()
    b, c, h, w = x.shape
    gh, gw = grid
    bh, bw = h // gh, w // gw
    nh = max(d for d in _divisors(bh) if d <= neigh_size)
    nw = max(d for d in _divisors(bw) if d <= neigh_size)
    cells = x.reshape(b, c, gh, bh, gw, bw)
    # vertical neighbours: bottom rows of each block vs top rows, pooled along the columns
    bottom = _strip_pool(cells[:, :, :, bh - nh :].mean(dim=3), nw)  # (B, C, gh, gw, bw/nw)
    top = _strip_pool(cells[:, :, :, :nh].mean(dim=3), nw)
    # horizontal neighbours: right columns vs left columns, pooled along the rows
    right = _strip_pool(cells[..., bw - nw :].mean(dim=-1).transpose(3, 4), nh)  # (B, C, gh, gw, bh/nh)
    left = _strip_pool(cells[..., :nw].mean(dim=-1).transpose(3, 4), nh)
    idx = index.to(x.device)

    def vert(upper: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
        return (upper[:, :, :-1] - lower[:, :, 1:]).abs().mean(dim=(1, 4))

    def horiz(lhs: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        return (lhs[:, :, :, :-1] - rhs[:, :, :, 1:]).abs().mean(dim=(1, 4))

    v_aa, v_ap, v_pa = vert(bottom, top), vert(bottom, top[idx]), vert(bottom[idx], top)
    h_aa, h_ap, h_pa = horiz(right, left), horiz(right, left[idx]), horiz(right[idx], left)
    vertical = torch.stack([v_aa, v_ap, v_pa, v_aa[idx]])
    horizontal = torch.stack([h_aa, h_ap, h_pa, h_aa[idx]])
    return vertical, horizontal


def label_costs(
    unary: torch.Tensor,
    vertical: torch.Tensor,
    horizontal: torch.Tensor,
    index: torch.Tensor,
    lam: torch.Tensor,
    *,
    n_labels: int,
    beta: float,
    gamma: float,
    eta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The energy of the paper's discrete mask problem, as a multi-label grid MRF.

    Label ``k`` of a block gives the anchor the weight ``m_k = 1 − k/(L−1)``. Its unary cost is
    ``m_k·U_A + (1 − m_k)·U_P + η·(−log p_k(λ))/n``: ``U_A`` (choosing the anchor) is the partner's
    normalised saliency that the block hides, ``U_P`` the anchor's, ``p_k(λ)`` the binomial prior
    (λ, 1−λ for two labels; λ², 2λ(1−λ), (1−λ)² for three) and ``n`` the number of blocks. Each
    edge costs ``w·(m_k − m_l)²`` with ``w = β′ + β′γ·(E_AP + E_PA − E_AA − E_PP)/2`` and
    ``β′ = β/√n/16``; the remaining parts of the data terms ``β′γ·E_ab`` are folded into the unary
    costs of the two blocks, as in the reference (exact up to a constant for two labels). Edge
    weights are clamped at 0 so the smoothness term stays a metric (the data term can be negative
    for inputs far outside [0, 1]).

    Args:
        unary: normalised block saliency, float ``(B, rows, cols)`` (CPU).
        vertical, horizontal: `boundary_terms` (CPU).
        index: partners ``(B,)``.
        lam: prior λ per sample ``(B,)``.

    Returns:
        ``(costs, v_weights, h_weights)``: float64 ``(B, rows, cols, L)``, ``(B, rows-1, cols)`` and
        ``(B, rows, cols-1)``.
    """
    _, gh, gw = unary.shape
    n = gh * gw
    beta_n = beta / math.sqrt(n) / 16.0
    bg = beta_n * gamma
    s = unary.double()
    cost_a = s[index].clone()  # the anchor hides the partner's saliency
    cost_p = s.clone()
    v = vertical.double() * bg
    hz = horizontal.double() * bg
    aa, ap, pa, pp = v
    cost_a[:, :-1] += (aa + ap) / 2
    cost_p[:, :-1] += (pa + pp) / 2
    cost_a[:, 1:] += (aa + pa) / 2
    cost_p[:, 1:] += (ap + pp) / 2
    aa_h, ap_h, pa_h, pp_h = hz
    cost_a[:, :, :-1] += (aa_h + ap_h) / 2
    cost_p[:, :, :-1] += (pa_h + pp_h) / 2
    cost_a[:, :, 1:] += (aa_h + pa_h) / 2
    cost_p[:, :, 1:] += (ap_h + pp_h) / 2
    w_v = (beta_n + (ap + pa - aa - pp) / 2).clamp_min(0.0)
    w_h = (beta_n + (ap_h + pa_h - aa_h - pp_h) / 2).clamp_min(0.0)

    k = torch.arange(n_labels, dtype=torch.float64)
    weight = 1.0 - k / (n_labels - 1)  # anchor weight of each label
    lam64 = lam.double()[:, None]
    binom = torch.tensor([math.comb(n_labels - 1, int(i)) for i in k], dtype=torch.float64)
    p = binom * lam64 ** (n_labels - 1 - k) * (1.0 - lam64) ** k  # (B, L)
    prior = eta * -torch.log(p + 1e-8) / n
    costs = weight * cost_a[..., None] + (1.0 - weight) * cost_p[..., None] + prior[:, None, None, :]
    return costs, w_v, w_h


def _grid_edges(grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    gh, gw = grid
    site = np.arange(gh * gw, dtype=np.intc).reshape(gh, gw)
    s1 = np.concatenate([site[:-1, :].ravel(), site[:, :-1].ravel()])
    s2 = np.concatenate([site[1:, :].ravel(), site[:, 1:].ravel()])
    return s1, s2


def solve_masks(
    costs: torch.Tensor,
    w_v: torch.Tensor,
    w_h: torch.Tensor,
    active: torch.Tensor,
    *,
    algorithm: str,
) -> torch.Tensor:
    """Minimise the multi-label energy of each active sample with gco; the anchor's weight per block.

    Costs are scaled to integers (×1000 per block, as the reference) and each pair is solved by
    α-β swap (or α-expansion) in one C++ call: this loop over the active samples is the only
    per-sample step of PuzzleMix. Inactive samples keep the anchor everywhere.

    Returns:
        float32 ``(B, rows, cols)`` with values in ``{1 − k/(L−1)}``.
    """
    gco = import_gco()
    b, gh, gw, n_labels = costs.shape
    n = gh * gw
    scale = 1000.0 * n
    unary = (costs * scale).round().clamp(-(2**30), 2**30).to(torch.int32).reshape(b, n, n_labels).numpy()
    weights = torch.cat([w_v.reshape(b, -1), w_h.reshape(b, -1)], dim=1)
    edge_w = (weights * scale / (n_labels - 1) ** 2).round().clamp(0, 2**30).to(torch.int32).numpy()
    k = np.arange(n_labels)
    smooth = ((k[:, None] - k[None, :]) ** 2).astype(np.intc)
    s1, s2 = _grid_edges((gh, gw))
    labels = np.zeros((b, n), dtype=np.int64)
    rows = np.flatnonzero(active.numpy())
    if n == 1:  # a single block has no edges: the unary costs decide
        labels[rows] = unary[rows, 0].argmin(axis=-1)[:, None]
    else:
        run = "expansion" if algorithm == "expansion" else "swap"
        for i in rows:  # the one per-sample step: a C++ graph cut per pair
            gc = gco.GCO()
            gc.create_general_graph(n, n_labels, False)
            try:
                gc.set_data_cost(unary[i])
                gc.set_all_neighbors(s1, s2, edge_w[i])
                gc.set_smooth_cost(smooth)
                getattr(gc, run)(-1)
                labels[i] = gc.get_labels()
            finally:
                gc.destroy_graph()
    weight = 1.0 - torch.from_numpy(labels).float() / (n_labels - 1)
    weight[~active] = 1.0
    return weight.reshape(b, gh, gw)


# ------------------------------------------------------------------------------------ transport
def transport_cost_matrix(grid: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """Squared distance between cells of ``grid``, divided by (side − 1)², float32 ``(n, n)``."""
    gh, gw = grid
    r = torch.arange(gh, device=device).repeat_interleave(gw).float()
    c = torch.arange(gw, device=device).repeat(gh).float()
    d2 = (r[:, None] - r[None, :]) ** 2 + (c[:, None] - c[None, :]) ** 2
    side = max(gh, gw)
    return d2 / float(max(side - 1, 1) ** 2)


def assign_blocks(saliency: torch.Tensor, visible: torch.Tensor, grid: tuple[int, int], eps: float) -> torch.Tensor:
    """The transport of blocks within each image: which cell each output cell takes, long ``(N, n)``.

    The paper's plan maximises the saliency moved into the visible cells minus ``eps`` times the
    travel cost: cost[i, j] = eps·C[i, j] − s_i·z_j for moving source cell ``i`` (saliency ``s_i``)
    to cell ``j`` (``z_j = 1`` where the mask shows this image). As in the reference, the
    assignment is approximated batched over all images for a fixed number of iterations (the grid
    side): every source picks its cheapest cell, each cell keeps its cheapest claimant and the
    losers pay 1 more for that cell. Then, unlike the reference (which leaves unclaimed cells
    blank), the sources left without a cell stay in place when their own cell is free and fill the
    remaining free cells in index order, so the result is always a permutation.

    Args:
        saliency: normalised saliency per cell, ``(N, n)``.
        visible: boolean ``(N, n)``, where this image is shown.
        grid: the cell grid ``(rows, cols)``.
        eps: weight of the transport cost (``t_eps``).
    """
    num, n = saliency.shape
    device = saliency.device
    ar = torch.arange(n, device=device).expand(num, n)
    cost = eps * transport_cost_matrix(grid, device)[None] - saliency.float()[:, :, None] * visible.float()[:, None, :]
    choice = torch.zeros(num, n, dtype=torch.long, device=device)
    won = torch.zeros(num, n, dtype=torch.bool, device=device)
    for _ in range(max(grid)):
        choice = cost.argmin(dim=-1)  # the cheapest cell of each source, (N, n)
        value = cost.gather(-1, choice[..., None])[..., 0]
        best = torch.full((num, n), math.inf, device=device).scatter_reduce(1, choice, value, "amin")
        contender = value == best.gather(1, choice)
        first = torch.full((num, n), n, device=device).scatter_reduce(1, choice, torch.where(contender, ar, n), "amin")
        won = contender & (first.gather(1, choice) == ar)  # one winner per claimed cell, ties to the lowest index
        cost.scatter_add_(-1, choice[..., None], (~won).float()[..., None])
    target = torch.where(won, choice, n)  # column n collects the losers and is dropped
    source = torch.zeros(num, n + 1, dtype=torch.long, device=device).scatter(1, target, ar)[:, :n]
    taken = torch.zeros(num, n + 1, dtype=torch.bool, device=device).scatter(1, target, won)[:, :n]
    stay = ~taken & ~won  # an unplaced source whose own cell is free stays
    source = torch.where(stay, ar, source)
    free_dst, free_src = ~taken & ~stay, ~won & ~stay
    order_dst = torch.where(free_dst, ar, ar + n).argsort(dim=-1)
    order_src = torch.where(free_src, ar, ar + n).argsort(dim=-1)
    count = free_dst.sum(dim=-1, keepdim=True)
    target = torch.where(ar < count, order_dst, n)
    padded = torch.cat([source, torch.zeros_like(source[:, :1])], dim=1)
    return padded.scatter(1, target, order_src)[:, :n]


def permute_cells(
    inputs: torch.Tensor, rows: torch.Tensor, sources: torch.Tensor, grid: tuple[int, int]
) -> torch.Tensor:
    """Image ``rows[i]`` with its cells rearranged: output cell ``j`` shows its cell ``sources[i, j]``.

    Args:
        inputs: ``(B, C, H, W)``.
        rows: which image of ``inputs`` each output is built from, long ``(N,)`` on the device.
        sources: long ``(N, rows·cols)`` on the device.
        grid: the cell grid ``(rows, cols)`` dividing ``(H, W)``.
    """
    b, c, h, w = inputs.shape
    gh, gw = grid
    th, tw = h // gh, w // gw
    cells = inputs.reshape(b, c, gh, th, gw, tw).permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, c, th, tw)
    moved = cells[rows[:, None], sources]  # (N, n, C, th, tw)
    num = rows.shape[0]
    return moved.reshape(num, gh, gw, c, th, tw).permute(0, 3, 1, 4, 2, 5).reshape(num, c, h, w)
