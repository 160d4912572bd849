"""The Mixer protocol: sample a plan, apply it, mix the targets."""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import torch
from pydantic import ConfigDict, Field, TypeAdapter
from pydantic.dataclasses import dataclass
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from torch import nn

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # pragma: no cover
    from typing_extensions import dataclass_transform

from ._context import CallContext
from ._cpu import numpy_view, numpy_views
from ._errors import ConfigError, format_validation_error
from ._lam import LambdaPolicy, resolve_lambda
from ._outputs import MixedStep, output_logits, run_model
from ._pairing import PairingPolicy, resolve_pairing
from ._plan import MixPlan
from ._random import check_generator
from ._targets import LabelMix, MixedBatch, MixedTargets, check_targets

__all__ = ["Mixer", "PairMixer", "mixer_dataclass"]

MIXER_CONFIG = ConfigDict(extra="forbid", validate_assignment=True, arbitrary_types_allowed=True)

_T = TypeVar("_T")
_M = TypeVar("_M", bound="Mixer")


@dataclass_transform(eq_default=False, field_specifiers=(dataclasses.field, Field))
def mixer_dataclass(cls: type[_T]) -> type[_T]:
    """Declare a mixer's parameters as validated dataclass fields.

    Every `Mixer` subclass is decorated with it. Fields become keyword arguments of the
    constructor; ``pydantic.Field`` constraints (``ge``, ``le``, ``gt``, ``allow_inf_nan``) are
    checked at construction and on assignment, unknown keyword arguments are rejected, and the
    resulting error (a ``ValueError``) names the field and quotes the value.

    Examples:
        >>> @mixer_dataclass
        ... class Noisy(Mixup):
        ...     sigma: float = Field(default=0.1, ge=0)
    """
    # equality is `Mixer.__eq__` (same class and configuration), inherited rather than generated
    # pydantic types the result as its own dataclass type; it is ``cls``, decorated
    return dataclass(config=MIXER_CONFIG, repr=False, eq=False)(cls)  # type: ignore[return-value]


def _describe_tensor(t: torch.Tensor) -> str:
    return f"shape {tuple(t.shape)} and dtype {t.dtype}"


@mixer_dataclass
class Mixer:
    """Base class of every mixer (a sample policy together with its label policy).

    A mixer is called as ``out = mixer(inputs, targets, generator=g)`` and returns a
    `MixedBatch`. The call is three steps that can be used separately:
    `sample` draws a `MixPlan` from an explicit ``torch.Generator``; `apply`
    mixes any tensor with that plan and is pure; `mix_targets` builds the
    `MixedTargets`. Subclasses implement ``_sample`` and ``_apply`` and set the class
    attributes ``name`` (registry name), ``modality``, ``paper`` and ``cost``.

    Inputs of a call besides the batch (clip lengths, an attention mask, a model, feature maps) form
    the mixer's typed call context, a `CallContext` of the class attribute ``context_type``: its
    fields are keyword arguments of ``__call__``, ``sample`` and ``apply``
    (``mixer(x, y, lengths=l)``), or given together as ``context=``. `bind` attaches them to a
    shallow copy of the mixer, which reads them as ``self.context``; the mixer itself is never modified.

    Contract, checked for every registered mixer by `mixup_core.testing`: inputs are never
    modified unless ``inplace=True`` is asked; results are deterministic given the generator; shape,
    dtype, device and memory format are kept; gradients flow to the inputs; batch size 1 and odd
    sizes work; the anchor's label weight equals its share of the mixed input.

    Args:
        p: probability of mixing a batch (per sample in ``mode="sample"``), default 1.
        enabled: set to ``False`` to turn mixing off (e.g. for the last epochs); the mixer then
            returns its inputs unchanged with identity plans.
        num_classes: number of classes, needed when targets are class indices.
    """

    name: ClassVar[str] = ""
    modality: ClassVar[str] = "any"
    paper: ClassVar[str] = ""
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "none"
    min_ndim: ClassVar[int] = 1
    needs_float: ClassVar[bool] = True
    example_shape: ClassVar[tuple[int, ...]] = (3, 8, 8)
    """Shape of one sample used by the conformance kit and ``mixup describe`` examples."""
    example_params: ClassVar[dict[str, Any]] = {}
    """Parameters for a mixer that cannot be built from its name alone (``core:choice`` needs its
    ``mixers``): the registry-wide conformance kit and tools that build every mixer use them."""
    feature_dim: ClassVar[int] = 1
    """A batch dimension along which the mixer never moves values (channels for images), used by
    the conformance kit to measure each source's share of a mixed sample."""
    label_follows_share: ClassVar[bool] = True
    """``False`` for label policies whose weights deliberately differ from the input shares (SnapMix)."""

    p: float = Field(default=1.0, ge=0, le=1)
    enabled: bool = True
    num_classes: int | None = Field(default=None, ge=1)

    # ------------------------------------------------------------------ public protocol
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
        """Mix a batch.

        Args:
            inputs: ``(B, ...)`` floating tensor.
            targets: class indices ``(B,)``, or float targets ``(B, ...)`` (one-hot, soft,
                multi-hot, frame-level); ``None`` to mix inputs only.
            generator: CPU ``torch.Generator``; ``None`` uses torch's global generator.
            num_classes: overrides the mixer's ``num_classes`` for this call.
            protected: boolean ``(B,)``: samples that must never be the minority of a mix.
            groups: integer ``(B,)`` group ids (for ``pairing="within-group"``).
            out: optional buffer of the inputs' shape and dtype that receives the result.
            context: the call's inputs besides the batch, a ``context_type`` (see `bind`).
            **call_args: the same, field by field (``lengths=``, ``attention_mask=``, ``model=`` …).
        """
        mixer = self._for_call(context, call_args)
        inputs = mixer.check_inputs(inputs)
        mixer = mixer._checked_context(inputs)
        k = num_classes if num_classes is not None else self.num_classes
        checked = check_targets(targets, inputs.shape[0], k, inputs_shape=tuple(inputs.shape))
        plan = mixer.sample(inputs, checked, generator=generator, protected=protected, groups=groups)
        mixed = mixer.apply(inputs, plan, out=out)
        mixed_targets = None if checked is None else mixer.mix_targets(checked, plan, num_classes=k)
        return MixedBatch(inputs=mixed, targets=mixed_targets, plan=plan)

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
    ) -> MixPlan:
        """Draw a plan for ``inputs`` (read for its shape only) without applying it.

        ``context`` and ``**call_args`` as in `__call__`.
        """
        mixer = self._for_call(context, call_args)
        generator = check_generator(generator)
        inputs = mixer.check_inputs(inputs)
        mixer = mixer._checked_context(inputs)
        n = inputs.shape[0]
        protected = _check_mask("protected", protected, n)
        groups = _check_groups(groups, n)
        if not mixer.enabled:
            return mixer.identity_plan(inputs)
        if mixer.p < 1.0 and not mixer._per_sample_p() and bool(torch.rand(1, generator=generator) >= mixer.p):
            return mixer.identity_plan(inputs)
        return mixer._sample(inputs, targets, generator=generator, protected=protected, groups=groups)

    def apply(
        self,
        inputs: torch.Tensor,
        plan: MixPlan,
        *,
        out: torch.Tensor | None = None,
        context: CallContext | None = None,
        **call_args: Any,
    ) -> torch.Tensor:
        """Mix ``inputs`` with ``plan``. Pure: ``inputs`` is modified only when ``inplace=True``.

        An identity plan returns ``inputs`` itself (or copies it into ``out``). ``context`` and
        ``**call_args`` as in `__call__`.
        """
        # the plan holds what the call's context decided: a bound copy only when arguments are given
        mixer = self if context is None and not call_args else self.bind(context, **call_args)
        inputs = mixer.check_inputs(inputs)
        if not isinstance(plan, MixPlan):
            raise TypeError(f"plan must be a MixPlan, got {type(plan).__name__}")
        if plan.batch_size != inputs.shape[0]:
            raise ValueError(f"plan is for a batch of {plan.batch_size}, but inputs.shape={tuple(inputs.shape)}")
        if out is not None and (out.shape != inputs.shape or out.dtype != inputs.dtype or out.device != inputs.device):
            raise ValueError(
                f"out must match the inputs (shape {tuple(inputs.shape)}, dtype {inputs.dtype}, device "
                f"{inputs.device}), got shape {tuple(out.shape)}, dtype {out.dtype}, device {out.device}"
            )
        if plan.is_identity:
            return inputs if out is None else out.copy_(inputs)
        mixed = mixer._apply(inputs, plan, out=out)
        if out is not None and mixed is not out:
            mixed = out.copy_(mixed)
        return mixed

    def mix_targets(self, targets: torch.Tensor, plan: MixPlan, *, num_classes: int | None = None) -> MixedTargets:
        """The targets that follow ``plan`` (the label policy). Default: weights = the plan's shares."""
        k = num_classes if num_classes is not None else self.num_classes
        return MixedTargets.from_plan(targets, plan, num_classes=k, label_mix=self._label_mix())

    def identity_plan(self, inputs: torch.Tensor) -> MixPlan:
        """The plan that leaves ``inputs`` unchanged (used when the batch is not mixed)."""
        return MixPlan.identity(inputs.shape[0])

    def check_inputs(self, inputs: object) -> torch.Tensor:
        """Validate ``inputs`` and return it; errors name ``inputs`` and quote its shape or dtype."""
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
        if inputs.ndim < max(self.min_ndim, 1):
            raise ValueError(
                f"{type(self).__name__} needs inputs with at least {self.min_ndim} dimensions (batch first), got "
                f"inputs.shape={tuple(inputs.shape)}"
            )
        if inputs.shape[0] == 0:
            raise ValueError(f"inputs is an empty batch: inputs.shape={tuple(inputs.shape)}")
        if self.needs_float and not inputs.is_floating_point():
            raise TypeError(
                f"{type(self).__name__} mixes floating inputs, got inputs with {_describe_tensor(inputs)}; "
                "convert with inputs.float() first"
            )
        return inputs

    # ------------------------------------------------------------------ the call context
    context_type: ClassVar[type[CallContext]] = CallContext
    """The `CallContext` subclass whose fields are this mixer's call arguments (none by default)."""

    def call_arguments(self) -> tuple[str, ...]:
        """The keyword arguments of a call besides the standard ones: the fields of ``context_type``."""
        return self.context_type.field_names()

    def bind(self: _M, context: CallContext | None = None, /, **call_args: Any) -> _M:
        """A shallow copy of this mixer carrying one call's context; the mixer itself is never modified.

        Values given here are added to those of an earlier `bind` (``None`` keeps the earlier value),
        so concurrent calls never interfere. ``mixer(x, y, lengths=l)`` is ``mixer.bind(lengths=l)(x, y)``.
        The copy also holds a scratch space for the call (`call_state`), where a mixer keeps what it
        computes once per call (a model's feature maps).

        Args:
            context: a `CallContext` (its given fields are taken).
            **call_args: fields of ``context_type`` by name.

        Raises:
            TypeError: a name that is not one of `call_arguments` (the message lists them).

        Examples:
            >>> mixer = Mixup()
            >>> mixer.bind().context
            CallContext()
        """
        given: dict[str, Any] = {}
        if context is not None:
            if not isinstance(context, CallContext):
                raise TypeError(f"context must be a mixup_core.CallContext, got {type(context).__name__}: {context!r}")
            given.update(context.given())
        given.update({k: v for k, v in call_args.items() if v is not None})
        accepted = self.call_arguments()
        unknown = [k for k in [*call_args, *given] if k not in accepted]
        if unknown:
            names = ", ".join(dict.fromkeys(repr(k) for k in unknown))
            none = "none (only the batch, targets, generator, num_classes, protected, groups, out)"
            listed = ", ".join(accepted) or none
            raise TypeError(f"{type(self).__name__} takes no call argument {names}; its call arguments are: {listed}")
        bound = copy.copy(self)
        bound.__dict__["_call_values"] = {**self.__dict__.get("_call_values", {}), **given}
        bound.__dict__["_call_state"] = {}
        bound.__dict__.pop("_call_context", None)
        bound.__dict__.pop("_call_checked", None)
        return bound

    @property
    def context(self) -> CallContext:
        """The call context of a bound mixer (see `bind`); an empty ``context_type()`` otherwise."""
        ctx = self.__dict__.get("_call_context")
        if ctx is None:
            fields = set(self.context_type.field_names())
            values = {k: v for k, v in self.__dict__.get("_call_values", {}).items() if k in fields}
            ctx = self.context_type(**values)
            if "_call_values" in self.__dict__:
                self.__dict__["_call_context"] = ctx
        return ctx

    def call_values(self) -> dict[str, Any]:
        """The call arguments bound by `bind`, by name (empty for an unbound mixer)."""
        return dict(self.__dict__.get("_call_values", {}))

    def call_state(self) -> dict[str, Any]:
        """The scratch space of one bound call (a new dict for each `bind`; a throw-away one when unbound)."""
        state = self.__dict__.get("_call_state")
        return {} if state is None else state

    def check_context(self, context: CallContext, inputs: torch.Tensor) -> CallContext:
        """Validate the call's context against ``inputs`` and return it (converted where needed).

        Called once per call, after `check_inputs`; errors name the call argument and quote its shape
        or value. Default: the context as given.
        """
        return context

    def _for_call(self: _M, context: CallContext | None, call_args: dict[str, Any]) -> _M:
        """The mixer that runs this call: bound to the call's arguments, or a fresh per-call copy for a
        mixer with a context that is not bound yet (so that its call state is its own)."""
        if context is not None or call_args:
            return self.bind(context, **call_args)
        if "_call_values" in self.__dict__ or not self.call_arguments():
            return self
        return self.bind()

    def _checked_context(self: _M, inputs: torch.Tensor) -> _M:
        if "_call_values" not in self.__dict__ or self.__dict__.get("_call_checked"):
            return self
        checked = self.check_context(self.context, inputs)
        self.__dict__["_call_context"] = checked
        self.__dict__["_call_checked"] = True
        return self

    # ------------------------------------------------------------------ the training step
    def runs_step(self, inputs: object) -> bool:
        """Whether this mixer runs the training step on ``inputs`` itself (`mixed_step`).

        ``True`` for mixers that mix inside the model on inputs that cannot be mixed as they are (text
        mixers on a batch of token ids). Default ``False``: `mixup_core.mixed_step` mixes the inputs (or
        calls the mixer's ``forward``) and runs the model.
        """
        return False

    def mixed_step(
        self,
        model: nn.Module,
        inputs: Any,
        targets: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        num_classes: int,
        protected: torch.Tensor | None = None,
    ) -> MixedStep:
        """Run ``model`` on ``inputs`` mixed by this mixer, for mixers whose `runs_step` is ``True``.

        `mixup_core.mixed_step` calls it; a mixer that implements it draws its plan from ``generator``
        itself, so nothing outside the mixer repeats its random draws.

        Args:
            model: the network.
            inputs: the batch's inputs, as produced by the data set's collate function.
            targets: class indices ``(B,)``.
            generator: CPU generator of the plan.
            num_classes: number of classes.
            protected: bool ``(B,)`` mask of samples that must not be diluted, or ``None``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not run the training step itself (runs_step is False)")

    def unmixed_logits(self, model: nn.Module, inputs: Any) -> torch.Tensor:
        """The logits of ``model`` on the unmixed ``inputs``, called as this mixer's `mixed_step` calls it
        (the step of a batch that ``p`` leaves unmixed). Default: ``model(**inputs)`` for a mapping, else
        ``model(inputs)``."""
        return output_logits(run_model(model, inputs))

    # ------------------------------------------------------------------ config
    nested_mixers: ClassVar[tuple[str, ...]] = ()
    """Parameters that hold other mixers (a mixer or a list of mixers), such as ``Choice.mixers``:
    `mixup_core.create_mixer` builds them from their specs first."""

    @classmethod
    def qualified_name(cls) -> str:
        """The name under which a registry registered this class (``plugin:name``), or ``module:Class``.

        The registry that registers the class records its name; before any registry has seen the class
        (nothing was built by name yet), the import path stands in, which `create_mixer` also accepts.
        `mixup_core.qualified_name` and `mixup_core.to_config` build the registry first.
        """
        registered = cls.__dict__.get("_registered_name")
        return registered if isinstance(registered, str) else f"{cls.__module__}:{cls.__qualname__}"

    def to_config(self) -> dict[str, Any]:
        """A mapping that `create_mixer` turns back into an equal mixer: ``{"name": ..., **parameters}``.

        Only parameters that differ from their defaults are listed (see `parameters`); the name is
        `qualified_name` (use `mixup_core.to_config` for the registry's name in any case).
        """
        return {"name": self.qualified_name(), **{k: _plain(v) for k, v in self.parameters().items()}}

    def parameters(self) -> dict[str, Any]:
        """The parameters that differ from their defaults, by name (values as set; runtime objects such
        as models are left out by the mixers that hold them)."""
        params: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _is_default(f, value):
                params[f.name] = value
        return params

    @classmethod
    def example_call_kwargs(
        cls, inputs: torch.Tensor, targets: torch.Tensor | None, num_classes: int
    ) -> dict[str, Any]:
        """Extra keyword arguments a call needs besides the batch (a model, features …), built for
        ``inputs``; used by the conformance kit and ``mixup preview``. Default: none."""
        return {}

    @classmethod
    def param_schema(cls) -> dict[str, Any]:
        """JSON schema of the parameters: types, defaults and ranges (used by ``mixup describe``)."""
        return TypeAdapter(cls).json_schema()

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={_for_repr(v)!r}" for k, v in self.parameters().items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other: object) -> bool:
        """Mixers are equal when they are of the same class with the same configuration
        (`to_config`), so ``create_mixer(m.to_config()) == m`` also when ``lam`` or ``pairing`` was
        given as a policy object."""
        if type(other) is not type(self):
            return NotImplemented
        mine, theirs = self.parameters(), other.parameters()
        return {k: _plain(v) for k, v in mine.items()} == {k: _plain(v) for k, v in theirs.items()}

    __hash__ = None  # type: ignore[assignment]  # mutable configuration: not hashable, as before

    # ------------------------------------------------------------------ for subclasses
    def _sample(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None,
        *,
        generator: torch.Generator | None,
        protected: torch.Tensor | None,
        groups: torch.Tensor | None,
    ) -> MixPlan:
        raise NotImplementedError(f"{type(self).__name__} must implement _sample")

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement _apply")

    def _per_sample_p(self) -> bool:
        return False

    def _label_mix(self) -> LabelMix:
        return "linear"


def field_default(f: dataclasses.Field[Any]) -> Any:
    """The default value of a mixer parameter (``dataclasses.MISSING`` when it has none)."""
    default: Any = f.default
    factory: Any = f.default_factory
    if isinstance(default, FieldInfo):
        factory, default = default.default_factory, default.default
        if default is PydanticUndefined:
            default = dataclasses.MISSING
    if factory is not None and factory is not dataclasses.MISSING:
        return factory()
    return default


def _is_default(f: dataclasses.Field[Any], value: Any) -> bool:
    default = field_default(f)
    if default is dataclasses.MISSING or isinstance(value, torch.Tensor) or isinstance(default, torch.Tensor):
        return False
    return bool(value == default)


def _plain(value: Any) -> Any:
    if isinstance(value, Mixer):
        return value.to_config()
    if isinstance(value, (LambdaPolicy,)):
        return value.to_config()
    if isinstance(value, PairingPolicy):
        return value.name
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _for_repr(value: Any) -> Any:
    """A parameter as `Mixer.__repr__` shows it: nested mixers as their own repr, policies as plain config."""
    if isinstance(value, Mixer):
        return value
    if isinstance(value, (list, tuple)):
        return [_for_repr(v) for v in value]
    if isinstance(value, dict):
        return {k: _for_repr(v) for k, v in value.items()}
    return _plain(value)


def _check_mask(name: str, mask: torch.Tensor | None, n: int) -> torch.Tensor | None:
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (n,):
        got = f"shape {tuple(mask.shape)} and dtype {mask.dtype}" if isinstance(mask, torch.Tensor) else repr(mask)
        raise ValueError(f"{name} must be a boolean tensor of shape ({n},), got {got}")
    return mask.cpu()


def _check_groups(groups: torch.Tensor | None, n: int) -> torch.Tensor | None:
    if groups is None:
        return None
    if not isinstance(groups, torch.Tensor) or groups.is_floating_point() or tuple(groups.shape) != (n,):
        got = (
            f"shape {tuple(groups.shape)} and dtype {groups.dtype}"
            if isinstance(groups, torch.Tensor)
            else repr(groups)
        )
        raise ValueError(f"groups must be an integer tensor of shape ({n},), got {got}")
    return groups.cpu().long()


@mixer_dataclass
class PairMixer(Mixer):
    """Base class of mixers that mix each sample with one partner: λ, pairing and protection policies.

    Subclasses implement ``_apply`` and, when the plan needs more than ``index`` and ``lam``
    (a box, a mask), ``_make_plan``; when the plan's ``lam`` is a label weight that may differ from
    the anchor's real share of the input, ``_input_shares``. Protection holds for the real shares
    whatever geometry ``_make_plan`` draws: samples that break it are left unmixed (see ``protect``).

    Args:
        alpha: Beta(α, α) concentration for λ (default 1).
        beta: second Beta parameter for an asymmetric Beta(α, β); ``None`` means ``alpha``.
        lam: another λ policy: a fixed value, or a mapping such as ``{"dist": "uniform", "low": 0.2,
            "high": 0.8}`` (see `resolve_lambda`); overrides ``alpha``/``beta``.
        lam_max: replace λ by max(λ, 1 − λ), so the anchor always dominates (TMix).
        mode: ``"batch"`` draws one λ per batch, ``"sample"`` one per sample.
        pairing: ``"random"`` (permutation without fixed points, default), ``"flip"``,
            ``"within-class"``, ``"cross-class"`` or ``"within-group"``.
        protect: how protected samples are kept from dilution: ``"floor"`` clamps their share to at
            least ``protect_floor``, as anchor and as partner; ``"exclude"`` leaves them unmixed and never
            uses them as partners. Both hold for the real input shares of the plan: a sample whose mix
            the geometry (a clipped box, a patch of fixed size) would push below the floor is left
            unmixed instead.
        protect_floor: the minimal share of a protected sample in ``"floor"`` mode, in [0.5, 1].
        protected_classes: classes whose samples are protected (in addition to the call's
            ``protected`` mask).
        label_mix: ``"linear"`` (default) or ``"union"`` (element-wise max, for multi-label targets).
    """

    alpha: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    beta: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    lam: Any = None
    lam_max: bool = False
    mode: Literal["batch", "sample"] = "batch"
    pairing: Any = "random"
    protect: Literal["floor", "exclude"] = "floor"
    protect_floor: float = Field(default=0.5, ge=0.5, le=1.0)
    protected_classes: list[int] = Field(default_factory=list)
    label_mix: Literal["linear", "union"] = "linear"

    def __post_init__(self) -> None:
        # validate the policies up front, so a bad config fails at construction
        _ = self.lam_policy, self.pairing_policy

    @property
    def lam_policy(self) -> LambdaPolicy:
        """The resolved λ policy (re-resolved when ``lam``, ``alpha`` or ``beta`` change)."""
        key = (repr(self.lam), self.alpha, self.beta)
        cached = self.__dict__.get("_lam_cache")
        if cached is None or cached[0] != key:
            try:
                policy = resolve_lambda(self.lam, self.alpha, self.beta)
            except ConfigError:
                raise
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise ConfigError(f"invalid lam={self.lam!r}: {format_validation_error(exc)}") from exc
            cached = (key, policy)
            object.__setattr__(self, "_lam_cache", cached)
        return cached[1]

    @property
    def pairing_policy(self) -> PairingPolicy:
        """The resolved pairing policy."""
        key = repr(self.pairing)
        cached = self.__dict__.get("_pairing_cache")
        if cached is None or cached[0] != key:
            cached = (key, resolve_pairing(self.pairing))
            object.__setattr__(self, "_pairing_cache", cached)
        return cached[1]

    def _per_sample_p(self) -> bool:
        return self.mode == "sample"

    def _label_mix(self) -> LabelMix:
        return self.label_mix

    def draw(
        self,
        n: int,
        targets: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        protected: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw partners and λ for ``n`` samples: CPU ``index`` (long) and ``lam`` (float32), ``(n,)``.

        Applies, in order: the pairing policy, the λ policy (per batch or per sample), ``lam_max``,
        protection, the per-sample ``p`` (sample mode), and λ = 1 for samples paired with themselves.
        """
        pairing = self.pairing_policy
        labels = _labels(targets) if (pairing.needs_labels or self.protected_classes) else None
        protected = self._protected_mask(labels, protected)
        candidates = None if (protected is None or self.protect != "exclude") else ~protected
        index = pairing.pair(n, labels=labels, groups=groups, candidates=candidates, generator=generator)
        lam = _per_sample(self.lam_policy.sample(1 if self.mode == "batch" else n, generator), n)
        if self.lam_max:
            lam = torch.maximum(lam, 1.0 - lam)
        if protected is not None:
            index, lam = _protect(index, lam, protected, self.protect, self.protect_floor)
        if self.mode == "sample" and self.p < 1.0:
            # after protection, so that its clamping never turns a skipped sample (λ = 1) into a mix
            keep = torch.rand(n, generator=generator) < self.p
            lam = torch.where(keep, lam, torch.ones_like(lam))
        return index, _unmix_self_paired(index, lam)

    def _protected_mask(self, labels: torch.Tensor | None, protected: torch.Tensor | None) -> torch.Tensor | None:
        if self.protected_classes:
            assert labels is not None
            by_class = torch.isin(labels, torch.tensor(self.protected_classes, dtype=labels.dtype))
            protected = by_class if protected is None else (protected | by_class)
        return protected if (protected is not None and bool(protected.any())) else None

    def _sample(self, inputs, targets, *, generator, protected, groups):
        index, lam = self.draw(inputs.shape[0], targets, generator=generator, protected=protected, groups=groups)
        plan = self._make_plan(inputs, index, lam, generator=generator)
        if protected is None and not self.protected_classes:
            return plan
        mask = self._protected_mask(_labels(targets) if self.protected_classes else None, protected)
        if mask is None:
            return plan
        return self._hold_protection(inputs, plan, index, lam, mask, generator=generator)

    def _hold_protection(
        self,
        inputs: torch.Tensor,
        plan: MixPlan,
        index: torch.Tensor,
        lam: torch.Tensor,
        protected: torch.Tensor,
        *,
        generator: torch.Generator | None,
    ) -> MixPlan:
        """``plan``, or a plan rebuilt with the samples that break the protection left unmixed.

        `draw` protects the drawn λ, but the geometry a mixer builds from it (boxes clipped at the
        border, patches or masks whose size does not follow λ, rounded masks) decides the real shares.
        Samples whose real shares (`_input_shares`) break the rule are paired with themselves and the
        plan is rebuilt with `_make_plan`; as that draws every sample's geometry again, the rebuilt
        plan is checked in turn, until no sample breaks the rule. Each round unmixes at least one more
        sample, so there are at most B rounds; the draws come from ``generator`` in a fixed order, so
        the plan stays deterministic and `sample` and the call draw the same one.

        Args:
            inputs: the batch (as given to `_make_plan`).
            plan: the plan built from ``index`` and ``lam``.
            index: the drawn partners, long ``(B,)``.
            lam: the drawn (and protected) λ, ``(B,)``.
            protected: boolean ``(B,)``, the samples to protect (call mask and ``protected_classes``).
            generator: the generator of the call.
        """
        anchors = torch.arange(index.shape[0])
        unmixed = torch.zeros(index.shape[0], dtype=torch.bool)
        while True:
            breach = self._protection_breaches(plan, protected)
            if not bool(breach.any()):
                return plan
            if bool((breach & unmixed).any()):
                which = (breach & unmixed).nonzero().flatten().tolist()
                raise RuntimeError(
                    f"{type(self).__name__}._make_plan mixes samples {which} although they are paired with themselves "
                    f"with lam=1, so protect={self.protect!r} cannot be held"
                )
            unmixed |= breach
            index = torch.where(unmixed, anchors, index)
            lam = torch.where(unmixed, torch.ones_like(lam), lam)
            plan = self._make_plan(inputs, index, lam, generator=generator)

    def _protection_breaches(self, plan: MixPlan, protected: torch.Tensor) -> torch.Tensor:
        """Boolean ``(B,)``: the mixed samples of ``plan`` that break the protection of ``protected``.

        ``"floor"``: a protected anchor keeps less than ``protect_floor`` of its sample, or a protected
        partner is present in a sample it is mixed into (a share or a label weight above 0) with less
        than ``protect_floor`` (a partner with neither, as for a sample that ``p`` skipped, dilutes
        nothing). ``"exclude"``: a protected anchor is mixed, or a protected sample is another sample's
        partner.
        """
        sources = plan.partner_indices()  # (B, K): column 0 is the anchor
        shares = self._input_shares(plan).to(torch.float64)
        anchors = torch.arange(sources.shape[0])[:, None]
        guarded = protected[sources]
        own = sources == anchors  # the anchor's own column, and partners that are the anchor itself
        if self.protect == "exclude":
            return (guarded[:, 0] & (shares[:, 0] < 1.0)) | (guarded & ~own).any(dim=1)
        low = shares < self.protect_floor - 1e-6
        present = (shares > 0) | (plan.weights() > 0)  # a source with a share of anything (or a label weight)
        return (guarded[:, 0] & low[:, 0]) | (guarded & ~own & low & present).any(dim=1)

    def _input_shares(self, plan: MixPlan) -> torch.Tensor:
        """The real share of each source in each mixed sample, ``(B, K)`` in the order of
        ``plan.partner_indices()``; protection is checked on these shares.

        Default: ``plan.weights()``, the label weights, which equal the input shares for most mixers.
        A mixer whose ``plan.lam`` may differ from the input share (CutMix with ``correct_lam=False``)
        overrides this with the shares of its geometry.
        """
        return plan.weights()

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        return MixPlan(index=index, lam=lam)


def _per_sample(lam: torch.Tensor, n: int) -> torch.Tensor:
    """``lam.expand(n).clone()``: a new ``(n,)`` tensor of the drawn values (one per batch or per sample)."""
    view = numpy_view(lam)
    if view is not None and view.shape in ((1,), (n,)):
        return torch.from_numpy(view.repeat(n) if view.shape[0] != n else view.copy())
    return lam.expand(n).clone()


def _unmix_self_paired(index: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """``lam`` with λ = 1 where a sample is paired with itself; ``lam`` must be a tensor that
    `PairMixer.draw` has just created (it may be written in place)."""
    n = index.shape[0]
    views = numpy_views(index, lam)
    if views is not None and views[0].shape == views[1].shape == (n,):
        partners, shares = views
        shares[partners == np.arange(n, dtype=np.int64)] = 1
        return lam
    return torch.where(index == torch.arange(n), torch.ones_like(lam), lam)


def _labels(targets: torch.Tensor | None) -> torch.Tensor:
    if targets is None:
        raise ValueError("this pairing or protected_classes needs targets (class labels), got targets=None")
    t = targets.detach().cpu()
    if t.is_floating_point():
        if t.ndim != 2:
            raise ValueError(
                f"class labels are taken from (B,) indices or (B, K) scores, got targets.shape={tuple(t.shape)}"
            )
        return t.argmax(dim=1)
    return t.long()


def _protect(
    index: torch.Tensor, lam: torch.Tensor, protected: torch.Tensor, mode: str, floor: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep protected samples from being the minority of any mix."""
    n = index.shape[0]
    anchors = torch.arange(n)
    if mode == "exclude":
        # protected anchors stay unmixed; the pairing already kept them out of the partner pool
        index = torch.where(protected, anchors, index)
        return index, torch.where(protected, torch.ones_like(lam), lam)
    lo = torch.where(protected, torch.full_like(lam, floor), torch.zeros_like(lam))
    hi = torch.where(protected[index] & (index != anchors), torch.full_like(lam, 1.0 - floor), torch.ones_like(lam))
    conflict = lo > hi
    lam = torch.minimum(torch.maximum(lam, lo), hi)
    index = torch.where(conflict, anchors, index)
    lam = torch.where(conflict, torch.ones_like(lam), lam)
    return index, lam


MixerFactory = Callable[..., Mixer]
