"""Node-classification mixup: mix the features (or hidden representations) and labels of labelled node pairs."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

import torch
from pydantic import field_validator
from torch import nn

from mixup_core import (
    CallContext,
    MixedBatch,
    MixedForward,
    MixedTargets,
    MixPlan,
    PairMixer,
    check_generator,
    lerp_pairs,
    mixer_dataclass,
)

from .embedding import _PAPER, _call_model, _checked_replay, _resolve_site

__all__ = ["NodeContext", "NodeFeatureMixup", "NodePlan"]


@dataclass(frozen=True, kw_only=True)
class NodeContext(CallContext):
    """The call context of `NodeFeatureMixup`: ``mixer(x, y, mask=train_mask)``.

    Args:
        mask: boolean ``(N,)``: the labelled (training) nodes; ``None``: all nodes.
    """

    mask: torch.Tensor | None = None


@dataclass(frozen=True, kw_only=True)
class NodePlan(MixPlan):
    """The plan of a `NodeFeatureMixup`: partners and λ for every node, and which nodes are labelled.

    ``index`` and ``lam`` cover all ``N`` nodes (so the plan replays on any ``(N, …)`` tensor);
    unlabelled nodes are paired with themselves with λ = 1, and labelled nodes only with labelled
    nodes.

    Args:
        mask: boolean ``(N,)``, the labelled (training) nodes, on the CPU.
    """

    mask: torch.Tensor

    def __post_init__(self) -> None:
        super().__post_init__()
        m = self.mask
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool or tuple(m.shape) != (self.batch_size,):
            got = f"shape {tuple(m.shape)} and dtype {m.dtype}" if isinstance(m, torch.Tensor) else type(m).__name__
            raise TypeError(f"NodePlan.mask must be a boolean tensor of shape ({self.batch_size},), got {got}")

    @classmethod
    def identity(cls, batch_size: int, mask: torch.Tensor | None = None) -> NodePlan:
        """The plan that leaves every node as it is."""
        m = torch.ones(batch_size, dtype=torch.bool) if mask is None else mask
        return cls(index=torch.arange(batch_size), lam=torch.ones(batch_size), mask=m)


def _node_mask(name: str, value: torch.Tensor | None, n: int, *, integer: bool = False) -> torch.Tensor | None:
    """Validate a ``(N,)`` boolean (or integer) per-node tensor; return it on the CPU."""
    if value is None:
        return None
    ok = isinstance(value, torch.Tensor) and tuple(value.shape) == (n,)
    if ok:
        ok = (not value.is_floating_point() and value.dtype != torch.bool) if integer else value.dtype == torch.bool
    if not ok:
        got = (
            f"shape {tuple(value.shape)} and dtype {value.dtype}"
            if isinstance(value, torch.Tensor)
            else f"{type(value).__name__}: {value!r}"
        )
        kind = "an integer" if integer else "a boolean"
        hint = ""
        if (
            name == "mask"
            and isinstance(value, torch.Tensor)
            and not value.is_floating_point()
            and value.dtype != torch.bool
        ):
            hint = "; turn node indices into a mask with torch.zeros(N, dtype=torch.bool).index_fill_(0, idx, True)"
        raise ValueError(f"{name} must be {kind} tensor of shape ({n},), one entry per node, got {got}{hint}")
    return value.detach().cpu().long() if integer else value.detach().cpu()


@mixer_dataclass
class NodeFeatureMixup(PairMixer):
    """Node-classification mixup: mix the features and labels of pairs of labelled nodes.

    For each labelled node ``i`` (``mask[i]``) a labelled partner ``j`` is drawn (core pairing:
    ``"random"``, ``"within-class"`` …) and ``x̃_i = λ·x_i + (1 − λ)·x_j``, ``ỹ_i = λ·y_i + (1 − λ)·y_j``,
    λ ~ Beta(α, α). Unlabelled nodes are never anchors nor partners and keep their features. This is
    the input-level (or, with ``at=``, hidden-layer) node mixup used as the baseline of Wang, Wang,
    Liang, Cai, Hooi, *Mixup for Node and Graph Classification*, WWW 2021, doi:10.1145/3442381.3449796.

    Not implemented (left for later): the neighbourhood-aware designs. M-Mixup's two-branch graph
    convolution mixes the receptive fields of the paired nodes and lets neighbours use pre-mixup
    representations (two stages), and NodeMixup (Lu et al., AAAI 2024) pairs labelled with
    pseudo-labelled nodes and shares neighbours. Here the mixed features are propagated by the
    model's message passing like any others, so they also reach the neighbours of a mixed node.

    Targets convention: the `mixup_core.MixedTargets` cover the **labelled nodes only**, in node order
    (``targets.dense()`` is ``(M, C)`` for ``M = mask.sum()``), so the loss is
    ``soft_cross_entropy(logits[mask], res.targets)``; the labels of unlabelled nodes are never read
    (they may be ``-1``). With ``mask=None`` every node is labelled.

    Args:
        at: dotted name of a module whose output is the ``(N, H)`` node representation to mix in
            `forward`; ``None`` (default) mixes the input features ``data.x``. `forward`'s ``at=``
            overrides it.
        where: mix that module's ``"output"`` (default) or its first ``"input"``.
        alpha: Beta(α, α) concentration of λ, default 1.0 (the M-Mixup reference code draws
            λ ~ Beta(4, 4) for its two-branch node model).
        pairing: ``"random"`` (default) or ``"within-class"`` (partners of the same class),
            ``"cross-class"``, ``"within-group"`` …; pairs are drawn among the labelled nodes.
            The label-based pairings sort the labelled nodes by label: O(M log M), no (M, M) matrix.
        **kwargs: the other λ, ``mode``, protection options of `mixup_core.PairMixer` and ``p``,
            ``enabled``, ``num_classes`` of `mixup_core.Mixer`.

    Examples:
        >>> x, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, -1, -1])
        >>> mask = torch.tensor([True, True, True, True, False, False])
        >>> out = NodeFeatureMixup(pairing="within-class", num_classes=2)(
        ...     x, y, mask=mask, generator=torch.Generator().manual_seed(0))
        >>> torch.equal(out.inputs[4:], x[4:]), out.targets.dense().shape
        (True, torch.Size([4, 2]))
    """

    name: ClassVar[str] = "node"
    context_type: ClassVar[type[CallContext]] = NodeContext
    modality: ClassVar[str] = "graph"
    paper: ClassVar[str] = _PAPER
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "none"
    min_ndim: ClassVar[int] = 2
    example_shape: ClassVar[tuple[int, ...]] = (8,)
    feature_dim: ClassVar[int] = 1

    at: str | None = None
    where: Literal["output", "input"] = "output"

    @field_validator("at")
    @classmethod
    def _check_at(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError(f"at must be a dotted module name or None, got {value!r}")
        return value

    # ------------------------------------------------------------------ the mixer protocol
    def __call__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        num_classes: int | None = None,
        protected: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
        out: torch.Tensor | None = None,
        context: CallContext | None = None,
        **call_args: Any,
    ) -> MixedBatch:
        """Mix the labelled nodes of one graph.

        Args:
            inputs: node features ``(N, F)``, floating.
            targets: class indices ``(N,)`` or float targets ``(N, C)``; only the rows of
                labelled nodes are read.
            mask: boolean ``(N,)``: the labelled (training) nodes; ``None``: all nodes.
            generator: CPU ``torch.Generator``.
            num_classes: overrides the mixer's ``num_classes``.
            protected: boolean ``(N,)``: nodes that must never be the minority of a mix.
            groups: integer ``(N,)`` group ids (for ``pairing="within-group"``).
            out: optional buffer of the inputs' shape and dtype.
            context, **call_args: the call's `NodeContext` (``mask=``).

        Returns:
            `mixup_core.MixedBatch` whose ``targets`` cover the labelled nodes only (see above).
        """
        mixer = self if context is None and not call_args else self.bind(context, **call_args)
        mask = cast(NodeContext, mixer.context).mask
        inputs = mixer.check_inputs(inputs)
        k = num_classes if num_classes is not None else self.num_classes
        checked = mixer.check_node_targets(targets, inputs.shape[0], k, mask=mask)
        plan = mixer.sample(inputs, checked, generator=generator, protected=protected, groups=groups)
        mixed = mixer.apply(inputs, plan, out=out)
        mixed_targets = None if checked is None else mixer.mix_targets(checked, plan, num_classes=k)
        return MixedBatch(inputs=mixed, targets=mixed_targets, plan=plan)

    def check_inputs(self, inputs: object) -> torch.Tensor:
        """Node features must be a floating ``(N, F)`` tensor."""
        x = super().check_inputs(inputs)
        if x.ndim != 2:
            raise ValueError(
                f"{type(self).__name__} mixes node features of shape (N, F), got inputs.shape={tuple(x.shape)}"
            )
        return x

    def check_node_targets(
        self, targets: object, n: int, num_classes: int | None, *, mask: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """Validate node targets ``(N,)`` or ``(N, C)`` and return them (booleans become float multi-hot).

        Only the rows of labelled nodes (``mask``; all when ``None``) are range-checked, so unlabelled
        nodes may carry any value (``-1`` …). Errors name ``targets`` and the node.
        """
        if targets is None:
            return None
        if not isinstance(targets, torch.Tensor):
            raise TypeError(f"targets must be a torch.Tensor or None, got {type(targets).__name__}: {targets!r}")
        if targets.ndim == 0 or targets.shape[0] != n:
            raise ValueError(
                f"targets must have one row per node ({n}) as first dimension, got targets.shape={tuple(targets.shape)}"
            )
        if targets.is_complex():
            raise TypeError(f"targets must be class indices or real values, got dtype {targets.dtype}")
        m = _node_mask("mask", mask, n)
        if targets.dtype == torch.bool:
            return targets.float()
        on_cpu = targets.device.type == "cpu"
        if targets.is_floating_point():
            if on_cpu and not bool(torch.isfinite(targets if m is None else targets[m]).all()):
                raise ValueError("targets of the labelled nodes must be finite, got nan or inf")
            return targets
        if targets.ndim != 1:
            raise ValueError(
                f"class-index targets must have shape (N,), got targets.shape={tuple(targets.shape)}; "
                "pass one-hot or soft targets as a float tensor (N, C)"
            )
        if on_cpu and n:
            bad = targets < 0
            if num_classes is not None:
                bad |= targets >= num_classes
            if m is not None:
                bad &= m
            if bool(bad.any()):
                i = int(bad.nonzero()[0])
                upper = num_classes if num_classes is not None else "∞"
                raise ValueError(
                    f"targets[{i}] = {int(targets[i])} (labelled node {i}) is outside [0, {upper}) "
                    f"(num_classes={num_classes})"
                )
        return targets

    def sample(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        protected: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
        context: CallContext | None = None,
        **call_args: Any,
    ) -> NodePlan:
        """Draw a `NodePlan` for the nodes of ``inputs`` (read for its shape only): pairs among the
        labelled nodes (the call's ``mask=``, a `NodeContext`), λ from the λ policy; unlabelled nodes
        paired with themselves."""
        mixer = self if context is None and not call_args else self.bind(context, **call_args)
        return mixer._sample_nodes(inputs, targets, generator=generator, protected=protected, groups=groups)

    def _sample_nodes(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None,
        *,
        generator: torch.Generator | None,
        protected: torch.Tensor | None,
        groups: torch.Tensor | None,
    ) -> NodePlan:
        mask = cast(NodeContext, self.context).mask
        check_generator(generator)
        inputs = self.check_inputs(inputs)
        n = inputs.shape[0]
        m = _node_mask("mask", mask, n)
        m = torch.ones(n, dtype=torch.bool) if m is None else m
        protected = _node_mask("protected", protected, n)
        groups = _node_mask("groups", groups, n, integer=True)
        if targets is not None and (
            not isinstance(targets, torch.Tensor) or targets.ndim == 0 or targets.shape[0] != n
        ):
            self.check_node_targets(targets, n, None)  # raises
        identity = NodePlan.identity(n, m)
        if not self.enabled:
            return identity
        if self.p < 1.0 and self.mode == "batch" and bool(torch.rand(1, generator=generator) >= self.p):
            return identity
        idx = m.nonzero().squeeze(1)  # the labelled nodes, in node order
        if idx.numel() < 2:
            return identity
        sub_targets = None if targets is None else targets[idx.to(targets.device)]
        sub_index, sub_lam = self.draw(
            idx.numel(),
            sub_targets,
            generator=generator,
            protected=None if protected is None else protected[idx],
            groups=None if groups is None else groups[idx],
        )
        index = torch.arange(n)
        index[idx] = idx[sub_index]
        lam = torch.ones(n, dtype=sub_lam.dtype)
        lam[idx] = sub_lam
        return NodePlan(index=index, lam=lam, mask=m)

    def identity_plan(self, inputs: torch.Tensor) -> MixPlan:
        """The plan that leaves every node unchanged (all nodes labelled)."""
        return NodePlan.identity(inputs.shape[0])

    def mix_targets(self, targets: torch.Tensor, plan: MixPlan, *, num_classes: int | None = None) -> MixedTargets:
        """The mixed targets of the labelled nodes (``plan.mask``; all nodes for a plain `mixup_core.MixPlan`).

        Args:
            targets: the targets of all ``N`` nodes, ``(N,)`` or ``(N, C)``.
            plan: the plan of the call.
            num_classes: for class-index targets.

        Returns:
            `mixup_core.MixedTargets` of ``M = mask.sum()`` rows, in node order; its ``indices`` are
            positions among the labelled nodes.
        """
        k = num_classes if num_classes is not None else self.num_classes
        n = plan.batch_size
        if not isinstance(targets, torch.Tensor) or targets.ndim == 0 or targets.shape[0] != n:
            got = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
            raise ValueError(f"targets must have one row per node ({n}), got {got}")
        if plan.index.ndim != 1:
            raise ValueError(
                f"{type(self).__name__} mixes pairs; got a plan with index of shape {tuple(plan.index.shape)}"
            )
        m = plan.mask if isinstance(plan, NodePlan) else torch.ones(n, dtype=torch.bool)
        idx = m.nonzero().squeeze(1)
        pos = torch.full((n,), -1, dtype=torch.long)
        pos[idx] = torch.arange(idx.numel())
        partners = pos[plan.index[idx]]
        if bool((partners < 0).any()):
            raise ValueError("the plan pairs a labelled node with an unlabelled one; it was not drawn for this mask")
        lam = plan.lam[idx]
        return MixedTargets(
            targets=targets[idx.to(targets.device)],
            indices=torch.stack([torch.arange(idx.numel()), partners], dim=1),
            weights=torch.stack([lam, 1.0 - lam], dim=1),
            num_classes=k,
            label_mix=self.label_mix,
        )

    # ------------------------------------------------------------------ on a PyG graph
    def forward(
        self,
        model: nn.Module,
        data: Any,
        *,
        mask: torch.Tensor | None,
        targets: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        num_classes: int | None = None,
        at: str | nn.Module | None = None,
        protected: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
        model_args: Sequence[str] | None = None,
        **model_kwargs: Any,
    ) -> MixedForward:
        """Run ``model`` once on ``data`` with the labelled nodes mixed at the input or a hidden layer.

        At the input (``at=None``), ``model`` gets a shallow copy of ``data`` whose ``x`` is mixed
        (``data`` itself is not modified). At a hidden layer, the plan is replayed on that module's
        ``(N, H)`` output by a forward hook (`mixup_core.replay_at`).

        Args:
            model: the PyG model; called as ``model(data, **model_kwargs)``, or with the data
                attributes named by ``model_args`` (e.g. ``("x", "edge_index")``).
            data: a ``torch_geometric.data.Data`` with node features ``x`` ``(N, F)``.
            mask: boolean ``(N,)``, the labelled (training) nodes, e.g. ``data.train_mask``; required
                (``None`` explicitly means every node, which also mixes validation and test labels).
            targets: ``(N,)`` class indices or ``(N, C)`` float targets; default ``data.y``.
            generator: CPU generator for the pairs and λ.
            num_classes: for class-index targets (default: the mixer's).
            at: a module (or dotted name) whose output is the node representation to mix; default
                the mixer's ``at``; ``None`` mixes ``data.x``.
            protected: boolean ``(N,)``: nodes that must never be the minority of a mix.
            groups: integer ``(N,)`` group ids (for ``pairing="within-group"``).
            model_args: names of data attributes passed positionally instead of ``data``.
            **model_kwargs: passed to ``model``.

        Returns:
            `mixup_core.MixedForward`; ``targets`` cover the labelled nodes only:
            ``loss = soft_cross_entropy(res.output[mask], res.targets)``.
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        x = getattr(data, "x", None)
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"data.x must be the node features, a (N, F) tensor; got {type(x).__name__} from {type(data).__name__}"
            )
        if x.ndim != 2 or not x.is_floating_point():
            raise ValueError(
                f"data.x must be floating node features of shape (N, F), got shape {tuple(x.shape)} and dtype {x.dtype}"
            )
        n = x.shape[0]
        k = num_classes if num_classes is not None else self.num_classes
        y = targets if targets is not None else getattr(data, "y", None)
        checked = self.check_node_targets(y, n, k, mask=mask)
        plan = self.sample(x, checked, mask=mask, generator=generator, protected=protected, groups=groups)
        mixed_targets = None if checked is None else self.mix_targets(checked, plan, num_classes=k)
        site = at if at is not None else self.at
        if site is None:
            mixed_data = copy.copy(data)  # shallow: only x is replaced
            mixed_data.x = self.apply(x, plan)
            output = _call_model(model, mixed_data, model_args, model_kwargs)
            return MixedForward(output=output, targets=mixed_targets, plan=plan, layer="")
        module, name = _resolve_site(model, site)
        with _checked_replay(module, name, self, plan, where=self.where, what="nodes"):
            output = _call_model(model, data, model_args, model_kwargs)
        return MixedForward(output=output, targets=mixed_targets, plan=plan, layer=name)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        return lerp_pairs(inputs, plan, out=out, mixer=type(self).__name__)
