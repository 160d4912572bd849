"""`RowMixup` (``tabular:row-mixup``): mixup of table rows whose categorical columns are one-hot blocks."""

from __future__ import annotations

import itertools
from dataclasses import dataclass as std_dataclass
from typing import Any, ClassVar, Literal, cast

import torch
from pydantic import Field

from mixup_core import CallContext, ConfigError, MixPlan, ModelContext, PairMixer, lerp_pairs, mixer_dataclass

__all__ = ["RowMixup", "RowPlan"]


@std_dataclass(frozen=True, kw_only=True)
class RowPlan(MixPlan):
    """The plan of a `RowMixup` that draws categories: partners, λ, and the source of every categorical block.

    Args:
        from_anchor: bool ``(B, K)``: ``True`` where categorical block ``k`` of mixed row ``i``
            is the anchor's, ``False`` where it is the partner's (``K`` blocks, in the order of
            ``categorical_slices``).
    """

    from_anchor: torch.Tensor

    def __post_init__(self) -> None:
        super().__post_init__()
        fa = self.from_anchor
        if (
            not isinstance(fa, torch.Tensor)
            or fa.dtype != torch.bool
            or fa.ndim != 2
            or fa.shape[0] != self.index.shape[0]
        ):
            got = f"dtype {fa.dtype} and shape {tuple(fa.shape)}" if isinstance(fa, torch.Tensor) else repr(fa)
            raise TypeError(f"RowPlan.from_anchor must be a bool tensor (B, K) with B={self.index.shape[0]}, got {got}")


@mixer_dataclass
class RowMixup(PairMixer):
    """mixup for table rows: numeric features are interpolated, each categorical value comes from one row.

    A row is a float vector ``(F,)`` of standardised numeric features and one-hot blocks, one per
    categorical column (as `mixup_tabular.lab.load_table_task` encodes tables). With λ and a
    partner drawn as for every pair mixer (``alpha``, ``lam``, ``mode``, ``pairing``, protection):

    * numeric features (every feature outside ``categorical_slices``, missing indicators
      included) are interpolated: x̂ = λ·x_a + (1 − λ)·x_b, as mixup does (Zhang et al., ICLR 2018);
    * each categorical block follows ``categorical``:

      - ``"draw"`` (default): the block is the anchor's with probability λ, else the partner's,
        drawn independently per row and per block, so a mixed row holds real categories (an
        exact one-hot, or all zeros where the source had an unseen category) and each block is
        the anchor's in a share λ of rows in expectation. This is the per-feature replacement of
        SAINT's input-space CutMix for tables (Somepalli, Goldblum, Schwarzschild, Bruss,
        Goldstein, *SAINT: Improved Neural Networks for Tabular Data via Row Attention and
        Contrastive Pre-Training*, arXiv:2106.01342, 2021: a binary mask drawn per feature
        picks the row's own value or the partner's), with the keep probability tied to λ so that
        the label weights keep their meaning;
      - ``"soft"``: the one-hot vectors are interpolated like numeric features (λ·onehot_a +
        (1 − λ)·onehot_b, a soft category), which is what plain mixup (``core:mixup``) does to
        one-hot inputs.

    The label weights are λ and 1 − λ in both modes (the numeric share; in ``"draw"`` mode also
    the expected share of every categorical block).

    Protection (``protected=``, ``protected_classes``) holds feature by feature: with ``"floor"``, a
    protected row is at least ``protect_floor`` of every numeric feature of its mixes and, in
    ``"draw"`` mode, gives every categorical value; a mix that draws one of its blocks from the other
    row is left unmixed (the protected rows are therefore mixed less often the more blocks a row has).

    Args:
        categorical_slices: ``[start, stop]`` of each one-hot block among the ``F`` features
            (``info["categorical_slices"]`` of the ``tabular:table`` data set; ``mixup init``
            writes it into the study config). Empty: every feature is numeric (plain mixup).
        categorical: ``"draw"`` (default) or ``"soft"``, as above.
        num_features: the row width ``F`` the slices were written for; a batch of another width
            is refused (the data set's columns changed since the config was written). ``None``:
            not checked.
        **kwargs: λ, pairing and protection options of `mixup_core.PairMixer`, and ``p``,
            ``enabled``, ``num_classes`` of `mixup_core.Mixer`.

    Note:
        Called with ``model=`` (its call context is a `mixup_core.ModelContext`, so
        `mixup_core.mixed_step` passes its model), the mixer compares its layout
        with the model's ``feature_layout`` when the model has one (``tabular:mlp`` does) and
        refuses a mismatch, so slices copied from another version of the table never pass silently.

    Examples:
        >>> mixer = RowMixup(categorical_slices=[[2, 5]], num_features=5, num_classes=2)
        >>> x = torch.tensor([[0.5, -1.0, 1.0, 0.0, 0.0], [1.5, 1.0, 0.0, 0.0, 1.0]])
        >>> out = mixer(x, torch.tensor([0, 1]), generator=torch.Generator().manual_seed(0))
        >>> out.inputs[:, 2:].sum(dim=1).tolist()   # each block is still exactly one-hot
        [1.0, 1.0]
    """

    name: ClassVar[str] = "row-mixup"
    context_type: ClassVar[type[CallContext]] = ModelContext
    modality: ClassVar[str] = "tabular"
    paper: ClassVar[str] = (
        "Zhang et al., mixup, ICLR 2018, https://arxiv.org/abs/1710.09412 (numeric features); categories drawn per "
        "feature as in SAINT's input-space CutMix, Somepalli et al. 2021, https://arxiv.org/abs/2106.01342"
    )
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "none"
    min_ndim: ClassVar[int] = 2
    example_shape: ClassVar[tuple[int, ...]] = (12,)
    feature_dim: ClassVar[int] = 1

    categorical_slices: list[tuple[int, int]] = Field(default_factory=list)
    categorical: Literal["draw", "soft"] = "draw"
    num_features: int | None = Field(default=None, ge=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        spans = sorted((int(a), int(b)) for a, b in self.categorical_slices)
        for a, b in spans:
            if a < 0 or b <= a:
                raise ConfigError(f"categorical_slices: each block is [start, stop] with 0 <= start < stop, got "
                                  f"[{a}, {b}] in categorical_slices={self._shown()}")
        for (a0, b0), (a1, b1) in itertools.pairwise(spans):
            if a1 < b0:
                raise ConfigError(f"categorical_slices: the blocks [{a0}, {b0}] and [{a1}, {b1}] overlap "
                                  f"(categorical_slices={self._shown()})")
        if spans and self.num_features is not None and spans[-1][1] > self.num_features:
            raise ConfigError(f"categorical_slices: the block [{spans[-1][0]}, {spans[-1][1]}] ends past "
                              f"num_features={self.num_features}")

    def _shown(self) -> list[list[int]]:
        return [[int(a), int(b)] for a, b in self.categorical_slices]

    # ------------------------------------------------------------------ checks
    def check_inputs(self, inputs: object) -> torch.Tensor:
        """Validate ``inputs``: float rows ``(B, F)`` of the configured width (``(B, ..., F)`` if no categories)."""
        checked = super().check_inputs(inputs)
        width = int(checked.shape[-1])
        if self.num_features is not None and width != self.num_features:
            raise ValueError(
                f"{type(self).__name__} was configured for rows of num_features={self.num_features} features, got "
                f"inputs.shape={tuple(checked.shape)}: the data set's columns or categories changed since the config "
                "was written; run `mixup init` again or copy info['categorical_slices'] and "
                "info['num_features'] of the data set"
            )
        if self.categorical_slices:
            if checked.ndim != 2:
                raise ValueError(
                    f"{type(self).__name__} with categorical_slices mixes rows (B, F), got "
                    f"inputs.shape={tuple(checked.shape)}"
                )
            stop = max(int(b) for _, b in self.categorical_slices)
            if stop > width:
                raise ValueError(f"categorical_slices={self._shown()} reach feature {stop}, but the rows have {width} "
                                 f"features (inputs.shape={tuple(checked.shape)})")
        return checked

    def check_layout(self, model: Any) -> None:
        """Refuse a model whose ``feature_layout`` (set by ``tabular:mlp``) disagrees with this mixer's layout.

        Raises:
            ConfigError: the widths differ, or (in ``"draw"`` mode) the one-hot blocks differ.
        """
        layout = getattr(getattr(model, "module", model), "feature_layout", None)
        if not isinstance(layout, dict):
            return
        width = layout.get("num_features")
        if self.num_features is not None and width is not None and int(width) != self.num_features:
            raise ConfigError(f"{self.qualified_name()}: num_features={self.num_features}, but the data set's rows "
                              f"have {width} features; run `mixup init` again or copy the data set's "
                              "info['num_features']")
        blocks = layout.get("categorical_slices")
        if self.categorical == "draw" and blocks is not None:
            mine = sorted(self._shown())
            theirs = sorted([int(a), int(b)] for a, b in blocks)
            if mine != theirs:
                raise ConfigError(
                    f"{self.qualified_name()}: categorical_slices={self._shown()}, but the data set's one-hot blocks "
                    f"are {[list(b) for b in blocks]}; run `mixup init` again or copy the data set's "
                    "info['categorical_slices'] into the mixer (or set categorical: soft to interpolate one-hot blocks)"
                )

    # ------------------------------------------------------------------ protocol
    def bind(self, context: CallContext | None = None, /, **call_args: Any) -> RowMixup:
        """`mixup_core.Mixer.bind`; a ``model`` given to the call is checked with `check_layout` first
        (before the batch: a layout copied from another table is the likelier cause of a mismatch)."""
        bound = super().bind(context, **call_args)
        model = cast(ModelContext, bound.context).model
        if model is not None:
            bound.check_layout(model)
        return bound

    def _draws(self) -> bool:
        return self.categorical == "draw" and bool(self.categorical_slices)

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        if not self._draws():
            return MixPlan(index=index, lam=lam)
        u = torch.rand((index.shape[0], len(self.categorical_slices)), generator=generator)
        return RowPlan(index=index, lam=lam, from_anchor=u < lam.to(u.dtype)[:, None])  # λ = 1: always the anchor

    def _input_shares(self, plan: MixPlan) -> torch.Tensor:
        """Each row's smallest share over its features, ``(B, 2)`` (anchor, partner): λ (1 − λ) for the
        numeric features, 1 or 0 for a drawn categorical block. Protection checks these, so a protected
        row is the majority of every feature of its mixes, its categories included."""
        shares = super()._input_shares(plan)
        if not isinstance(plan, RowPlan) or plan.from_anchor.shape[1] == 0:
            return shares
        from_anchor = plan.from_anchor.to(shares.dtype)
        anchor = torch.minimum(shares[:, 0], from_anchor.min(dim=1).values)
        partner = torch.minimum(shares[:, 1], (1.0 - from_anchor).min(dim=1).values)
        return torch.stack([anchor, partner], dim=1)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        mixed = lerp_pairs(inputs, plan, mixer=type(self).__name__)
        if not self._draws():
            return mixed
        if not isinstance(plan, RowPlan):
            raise TypeError(
                f"{type(self).__name__} with categorical='draw' needs a RowPlan (its sample()), "
                f"got {type(plan).__name__}"
            )
        k = len(self.categorical_slices)
        if plan.from_anchor.shape[1] != k:
            raise ValueError(f"the plan draws {plan.from_anchor.shape[1]} categorical blocks, the mixer has {k}")
        n, width = inputs.shape
        block = torch.full((width,), k, dtype=torch.long)
        for j, (a, b) in enumerate(self.categorical_slices):
            block[int(a) : int(b)] = j
        # (B, F): True where a block's feature is the anchor's; the column k (numeric features) is never used
        take = torch.cat([plan.from_anchor, torch.zeros((n, 1), dtype=torch.bool)], dim=1)[:, block]
        device = inputs.device
        partner = inputs.index_select(0, plan.index.to(device))
        drawn = torch.where(take.to(device), inputs, partner)
        return torch.where((block < k).to(device), drawn, mixed)
