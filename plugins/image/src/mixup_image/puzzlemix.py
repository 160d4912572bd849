"""PuzzleMix: saliency-guided graph-cut masks and optimal transport of blocks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import torch
from pydantic import Field

from mixup_core import MixPlan, mixer_dataclass

from ._base import MaskPlan, apply_mask, unnormalise
from ._guided import GuidedImageMixer, keep_memory_format
from ._puzzlemix import (
    assign_blocks,
    block_grid,
    block_saliency,
    boundary_terms,
    compute_saliency,
    import_gco,
    label_costs,
    permute_cells,
    refine_grid,
    solve_masks,
)

__all__ = ["PuzzleMix", "PuzzleMixPlan"]


@dataclass(frozen=True, kw_only=True)
class PuzzleMixPlan(MaskPlan):
    """The plan of a PuzzleMix batch: everything `PuzzleMix.apply` needs, no saliency.

    Args:
        mask: the anchor's weight per pixel, float32 ``(B, 1, H, W)`` (``block_mask`` upsampled).
        block_mask: the anchor's weight per block, float32 ``(B, rows, cols)``, values in
            ``{0, 1}`` (two labels) or ``{0, ½, 1}`` (three labels).
        size: the ``(H, W)`` the plan was drawn for.
        cells: the transport grid ``(rows, cols)`` (a refinement of the block grid).
        anchor_source: long ``(B, rows·cols)``: cell ``j`` of mixed sample ``i`` shows cell
            ``anchor_source[i, j]`` of the anchor (a permutation per sample); ``None`` without transport.
        partner_source: the same for the partner ``index[i]`` (its transport depends on the pair's mask).
    """

    block_mask: torch.Tensor
    size: tuple[int, int]
    cells: tuple[int, int]
    anchor_source: torch.Tensor | None = None
    partner_source: torch.Tensor | None = None


_BlockNum = Annotated[int, Field(ge=2)] | Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)]


@mixer_dataclass
class PuzzleMix(GuidedImageMixer):
    """PuzzleMix: a saliency-optimal block mask between two images, with salient blocks transported.

    Kim, Choo and Song, *Puzzle Mix: Exploiting Saliency and Local Statistics for Optimal Mixup*,
    ICML 2020, arXiv:2009.06962 (reference code: snu-mllab/PuzzleMix ``mixup.py``; OpenMixup
    ``puzzlemix.py``). Per batch:

    1. **Saliency**: ‖∂L/∂x‖₂ over channels from one forward and backward pass of ``model`` on the
       clean batch (or the ``saliency`` you pass), average-pooled to a block grid and normalised to
       sum 1 per image. The grid side is drawn per batch from ``block_num``.
    2. **Mask**: per pair, a discrete mask over the blocks (labels {0, 1} or {0, ½, 1}) minimising
       the saliency each image loses, a binomial λ prior (``eta``), label smoothness
       (``smooth_beta``) and data local smoothness across block boundaries (``gamma``), solved by
       α-β swap graph cuts (gco).
    3. **Transport** (``transport=True``): within each image, salient blocks are moved into the
       region the mask shows, trading their saliency against the distance travelled (``t_eps``),
       by the reference's batched iterative assignment (made a true permutation of blocks).
    4. **Mix**: x̂ = mask·T_a(x_a) + (1 − mask)·T_b(x_b), the mask upsampled from the blocks;
       λ = the mask's mean, the anchor's exact share.

    The model (and optionally the loss) whose gradients give the saliency is given explicitly, at
    construction or per call (a call's value wins)::

        out = mixer(x, y, model=model, generator=g)             # loss: cross-entropy(model(x), y)
        out = mixer(x, y, model=model, loss_fn=my_loss)          # any loss_fn(output, targets)
        out = mixer(x, y, saliency=sal, generator=g)             # reuse a (B, H, W) saliency
        mixer = PuzzleMix(model=model)                           # then mixer(x, y, generator=g)

    ``sample`` takes the same ``model``/``loss_fn``/``saliency`` arguments and runs the saliency pass
    (only when something is mixed); ``apply`` replays a `PuzzleMixPlan` without a model. As in the
    reference (``clean_lam=0``, its default), an ``nn.Module`` runs the saliency pass in ``eval()``
    mode (no batch-norm statistics are updated, no dropout) and every submodule's mode is restored
    afterwards; only the gradient with respect to the inputs is taken, so no ``.grad`` is
    accumulated. The model and loss are runtime objects, not configuration: `to_config` leaves them
    out.

    Args:
        block_num: grid sides to draw from per batch: an integer ``n`` gives ``2, 4, …, 2**(n−1)``
            (OpenMixup's convention; the default 4 gives {2, 4, 8}); a list gives the sides
            (``[2, 4, 8, 16]`` is the CIFAR recipe of the paper). A side that does not divide the
            image becomes the nearest divisor of it, per axis.
        smooth_beta: label smoothness β between neighbouring blocks (1.2). Named ``beta`` in the
            paper; ``beta`` here is the λ distribution's second parameter.
        gamma: weight γ of the data local-smoothness term (0.5). It compares pixel values across
            block boundaries on the images' [0, 1] scale: give ``mean`` and ``std`` for normalised
            inputs, as the reference un-normalises (``x·std + mean``) before this term.
        eta: weight η of the λ prior (0.2).
        neigh_size: width in pixels of the boundary strips compared by the data term (4, the
            authors' README and OpenMixup's configs).
        mean: the per-channel means the inputs were normalised with (one value or one per channel),
            or ``None`` (default) for inputs already on the [0, 1] scale.
        std: the per-channel standard deviations, likewise.
        n_labels: 2 (mask values {0, 1}) or 3 (values {0, ½, 1}, default).
        transport: move salient blocks into the visible region (default ``True``).
        t_eps: weight of the transport distance cost (0.8).
        t_size: side of the transport cells in pixels; ``-1`` (default) transports whole blocks.
        algorithm: ``"swap"`` (α-β swap, the reference) or ``"expansion"`` (α-expansion).
        model: the network whose input gradients give the saliency (may be given per call).
        loss_fn: ``loss_fn(model(inputs), targets)``, a scalar (or a tensor, summed); default
            cross-entropy with the targets (class indices or soft targets).
        **kwargs: λ (Beta(α, α), α=1 by default), pairing, protection and ``mode`` options of
            `PairMixer`.

    Call arguments (the call's `GuidanceContext`, ``mixer(x, y, model=net)``): ``model``, the
    network whose input gradients give the saliency (overrides the constructor's); ``loss_fn``,
    ``loss_fn(model(inputs), targets)`` returning a scalar (default: cross-entropy against the
    call's targets); ``saliency``, a precomputed ``(B, H, W)`` saliency (e.g. ``x.grad.norm(dim=1)``
    from a backward pass you already ran), so that no extra pass is made. The pass is skipped when
    nothing is mixed (``p``, ``enabled``, λ = 1 everywhere).

    Note: needs the gco-wrapper package: ``pip install "mixup-image[puzzlemix]"``. The graph
       cut is the one per-sample step (one C++ call per mixed pair, on the CPU); the saliency,
       energies, transport and mixing are batched torch on the inputs' device.

    Examples:
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
        ...                             torch.nn.Flatten(), torch.nn.Linear(4, 10))
        >>> mixer = PuzzleMix(num_classes=10)
        >>> out = mixer(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)), model=model,
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.mask.shape
        torch.Size([8, 1, 32, 32])
    """

    name: ClassVar[str] = "puzzlemix"
    paper: ClassVar[str] = "Kim et al., Puzzle Mix, ICML 2020, https://arxiv.org/abs/2009.06962"
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "gradients"

    block_num: _BlockNum = 4
    smooth_beta: float = Field(default=1.2, ge=0, allow_inf_nan=False)
    gamma: float = Field(default=0.5, ge=0, allow_inf_nan=False)
    eta: float = Field(default=0.2, ge=0, allow_inf_nan=False)
    neigh_size: int = Field(default=4, ge=1)
    n_labels: Literal[2, 3] = 3
    transport: bool = True
    t_eps: float = Field(default=0.8, gt=0, allow_inf_nan=False)
    t_size: Literal[-1] | Annotated[int, Field(ge=1)] = -1
    algorithm: Literal["swap", "expansion"] = "swap"
    mean: list[float] | None = None
    std: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] | None = None
    model: Any = dataclasses.field(default=None, compare=False, repr=False)
    loss_fn: Any = dataclasses.field(default=None, compare=False, repr=False)

    runtime_fields: ClassVar[tuple[str, ...]] = ("model", "loss_fn")
    guidance_args: ClassVar[tuple[str, ...]] = ("model", "loss_fn", "saliency")

    def __post_init__(self) -> None:
        super().__post_init__()
        import_gco()

    # ------------------------------------------------------------------ public protocol
    def transport_images(self, inputs: torch.Tensor, plan: MixPlan) -> tuple[torch.Tensor, torch.Tensor]:
        """The anchors and partners after the plan's transport, each ``(B, C, H, W)``.

        ``apply`` returns ``mask·anchors + (1 − mask)·partners``; without transport they are
        ``inputs`` and ``inputs[plan.index]``.
        """
        inputs = self.check_inputs(inputs)
        plan = self._check_plan(inputs, plan)
        idx = plan.index.to(inputs.device, non_blocking=True)
        if plan.anchor_source is None or plan.partner_source is None:
            return inputs, inputs[idx]
        both = torch.cat([torch.arange(inputs.shape[0]), plan.index]).to(inputs.device, non_blocking=True)
        sources = torch.cat([plan.anchor_source, plan.partner_source]).to(inputs.device, non_blocking=True)
        moved = permute_cells(inputs, both, sources, plan.cells)
        return moved[: inputs.shape[0]], moved[inputs.shape[0] :]

    @classmethod
    def example_call_kwargs(
        cls, inputs: torch.Tensor, targets: torch.Tensor | None, num_classes: int
    ) -> dict[str, Any]:
        """``saliency=``: each pixel's squared deviation from its image's mean, a model-free stand-in
        for ‖∂L/∂x‖ used by the conformance kit and ``mixup preview``, never in training."""
        x = inputs.detach().float()
        return {"saliency": (x - x.mean(dim=(2, 3), keepdim=True)).square().sum(dim=1)}

    # ------------------------------------------------------------------ plan and mix
    def _sample(self, inputs, targets, *, generator, protected, groups):
        # the default loss of the saliency pass compares model(inputs) with the call's targets
        self.call_state()["targets"] = targets
        return super()._sample(inputs, targets, generator=generator, protected=protected, groups=groups)

    def grid_options(self) -> list[int]:
        """The grid sides a batch's block grid is drawn from."""
        if isinstance(self.block_num, int):
            return [2**k for k in range(1, self.block_num)]
        return list(self.block_num)

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        n = index.shape[0]
        size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        options = self.grid_options()
        side = options[int(torch.randint(len(options), (1,), generator=generator))]
        grid = block_grid(size, side)
        cells = refine_grid(size, grid, self.t_size) if self.transport else grid
        active = (index != torch.arange(n)) & (lam < 1)
        block_mask = torch.ones(n, *grid)
        anchor_source = partner_source = None
        if self.transport:
            anchor_source = partner_source = torch.arange(cells[0] * cells[1]).expand(n, -1).clone()
        if bool(active.any()):
            saliency = self._cached("saliency", lambda: self._saliency(inputs))
            unary = block_saliency(saliency, grid)
            images = unnormalise(inputs, self.mean, self.std, mixer="PuzzleMix")
            vertical, horizontal = boundary_terms(images, index, grid, self.neigh_size)
            costs, w_v, w_h = label_costs(
                unary.cpu(), vertical.cpu(), horizontal.cpu(), index, lam,
                n_labels=self.n_labels, beta=self.smooth_beta, gamma=self.gamma, eta=self.eta,
            )  # fmt: skip
            block_mask = solve_masks(costs, w_v, w_h, active, algorithm=self.algorithm)
            if self.transport:
                anchor_source, partner_source = self._transport(saliency, block_mask, index, active, grid, cells)
        h, w = size
        mask = block_mask.repeat_interleave(h // grid[0], dim=1).repeat_interleave(w // grid[1], dim=2)[:, None]
        share = block_mask.double().mean(dim=(1, 2)).float()
        return PuzzleMixPlan(
            index=index, lam=share, mask=mask.contiguous(), block_mask=block_mask, size=size, cells=cells,
            anchor_source=anchor_source, partner_source=partner_source,
        )  # fmt: skip

    def check_guidance(self, inputs: torch.Tensor) -> None:
        model, loss_fn, saliency = self._arg("model"), self._arg("loss_fn"), self._arg("saliency")
        if model is None and saliency is None:
            raise TypeError(
                "PuzzleMix needs a model to compute its saliency (mixer(x, y, model=model) or PuzzleMix(model=model)), "
                "or a precomputed saliency of shape (B, H, W) (mixer(x, y, saliency=s)); got neither model nor saliency"
            )
        if model is not None and not callable(model):
            raise TypeError(f"model must be callable (an nn.Module), got {type(model).__name__}")
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable as loss_fn(output, targets), got {type(loss_fn).__name__}")
        _check_saliency(saliency, inputs)

    def _saliency(self, inputs: torch.Tensor) -> torch.Tensor:
        """The call's saliency, or one forward and backward pass of the model, float32 ``(B, H, W)``."""
        saliency = _check_saliency(self._arg("saliency"), inputs)
        if saliency is not None:
            return saliency
        return compute_saliency(self._arg("model"), self._arg("loss_fn"), inputs, self.call_state().get("targets"))

    def _transport(
        self,
        saliency: torch.Tensor,
        block_mask: torch.Tensor,
        index: torch.Tensor,
        active: torch.Tensor,
        grid: tuple[int, int],
        cells: tuple[int, int],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched transport of the anchors' and the partners' cells, on the saliency's device."""
        n = index.shape[0]
        count = cells[0] * cells[1]
        identity = torch.arange(count).expand(n, -1)
        if count == 1:
            return identity.clone(), identity.clone()
        device = saliency.device
        fine = block_mask.repeat_interleave(cells[0] // grid[0], dim=1).repeat_interleave(cells[1] // grid[1], dim=2)
        fine = fine.reshape(n, count).to(device, non_blocking=True)
        s = block_saliency(saliency, cells).reshape(n, count)
        idx = index.to(device, non_blocking=True)
        src = assign_blocks(torch.cat([s, s[idx]]), torch.cat([fine > 0, fine < 1]), cells, self.t_eps).cpu()
        keep = active[:, None]
        return torch.where(keep, src[:n], identity), torch.where(keep, src[n:], identity)

    def _check_plan(self, inputs: torch.Tensor, plan: MixPlan) -> PuzzleMixPlan:
        if not isinstance(plan, PuzzleMixPlan):
            raise TypeError(f"PuzzleMix.apply needs a PuzzleMixPlan, got {type(plan).__name__}")
        if plan.size != (inputs.shape[-2], inputs.shape[-1]):
            raise ValueError(
                f"the plan was drawn for images of size {plan.size}, but inputs.shape={tuple(inputs.shape)}"
            )
        if plan.batch_size != inputs.shape[0]:
            raise ValueError(f"plan is for a batch of {plan.batch_size}, but inputs.shape={tuple(inputs.shape)}")
        return plan

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        plan = self._check_plan(inputs, plan)
        h, w = plan.size
        gh, gw = plan.block_mask.shape[1:]
        weight = plan.block_mask.to(inputs.device, non_blocking=True)
        weight = weight.repeat_interleave(h // gh, dim=1).repeat_interleave(w // gw, dim=2)[:, None]
        if plan.anchor_source is None:
            mixed = apply_mask(inputs, plan.index, weight)
        else:
            anchors, partners = self.transport_images(inputs, plan)
            mixed = torch.lerp(partners, anchors, weight.to(inputs.dtype))
        return keep_memory_format(mixed, inputs)


def _check_saliency(saliency: object, inputs: torch.Tensor) -> torch.Tensor | None:
    if saliency is None:
        return None
    expected = (inputs.shape[0], inputs.shape[2], inputs.shape[3])
    if not isinstance(saliency, torch.Tensor):
        raise TypeError(f"saliency must be a torch.Tensor of shape {expected} (B, H, W), got {type(saliency).__name__}")
    if tuple(saliency.shape) != expected or not saliency.is_floating_point():
        raise ValueError(
            f"saliency must be a floating tensor of shape {expected} (B, H, W) for inputs.shape={tuple(inputs.shape)}, "
            f"got shape {tuple(saliency.shape)} and dtype {saliency.dtype}"
        )
    if saliency.device.type == "cpu" and not bool((torch.isfinite(saliency) & (saliency >= 0)).all()):
        raise ValueError(
            "saliency must be finite and non-negative (e.g. a gradient norm), got negative or non-finite values"
        )
    return saliency.detach().to(inputs.device, torch.float32)
