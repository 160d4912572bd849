"""Replaying a plan at a hidden layer of any ``nn.Module`` (Manifold Mixup, TMix, graph embeddings)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ._mixer import Mixer
from ._plan import MixPlan
from ._random import check_generator
from ._targets import MixedTargets, check_targets

__all__ = ["MixedForward", "forward_mixed", "replay_at"]


def _mix_value(value: Any, mixer: Mixer, plan: MixPlan) -> Any:
    if isinstance(value, torch.Tensor):
        return mixer.apply(value, plan)
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return type(value)([mixer.apply(value[0], plan), *value[1:]])
    raise TypeError(
        f"replay_at can mix a tensor or a tuple/list whose first item is a tensor, got {type(value).__name__}; "
        "hook a submodule whose output is the hidden state"
    )


@contextmanager
def replay_at(
    module: nn.Module, mixer: Mixer, plan: MixPlan, *, where: Literal["output", "input"] = "output"
) -> Iterator[None]:
    """Mix the output (or input) of ``module`` with ``plan`` during the forward passes inside the block.

    The plan is sampled once at the input (``mixer.sample``) and replayed here, so the hidden
    states of sample ``i`` are mixed with those of ``plan.index[i]`` with the plan's λ: one stream,
    no second forward pass. For a module returning a tuple (transformer layers), the first item is
    mixed.

    Args:
        module: the submodule to hook.
        mixer: the mixer whose ``apply`` mixes the hidden state (usually ``core:mixup``).
        plan: the plan to replay.
        where: ``"output"`` (default) mixes what the module returns, ``"input"`` its first argument.

    Examples:
        >>> plan = mixer.sample(x, y, generator=g)                       # doctest: +SKIP
        >>> with replay_at(model.layer2, mixer, plan):                    # doctest: +SKIP
        ...     logits = model(x)
        >>> loss = soft_cross_entropy(logits, mixer.mix_targets(y, plan))  # doctest: +SKIP
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    if where == "output":

        def hook(mod: nn.Module, args: Any, output: Any) -> Any:
            return _mix_value(output, mixer, plan)

        handle = module.register_forward_hook(hook)
    elif where == "input":

        def pre_hook(mod: nn.Module, args: Any) -> Any:
            if not args:
                raise TypeError(f"{type(mod).__name__} was called without positional inputs; cannot mix its input")
            return (_mix_value(args[0], mixer, plan), *args[1:])

        handle = module.register_forward_pre_hook(pre_hook)
    else:
        raise ValueError(f"where must be 'output' or 'input', got {where!r}")
    try:
        yield
    finally:
        handle.remove()


@dataclass(frozen=True)
class MixedForward:
    """The result of `forward_mixed`.

    Args:
        output: what the model returned.
        targets: the mixed targets (``None`` without targets).
        plan: the plan that was replayed.
        layer: the name of the layer where the mix happened (``""`` for the input).
    """

    output: Any
    targets: MixedTargets | None
    plan: MixPlan
    layer: str


def forward_mixed(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | None = None,
    *,
    mixer: Mixer,
    layers: str | nn.Module | Sequence[str | nn.Module] | None = None,
    generator: torch.Generator | None = None,
    num_classes: int | None = None,
    where: Literal["output", "input"] = "output",
    protected: torch.Tensor | None = None,
    groups: torch.Tensor | None = None,
    **model_kwargs: Any,
) -> MixedForward:
    """Run ``model`` with the mix at a hidden layer: Manifold Mixup for any ``nn.Module``.

    One layer is drawn uniformly from ``layers`` with ``generator`` (``None`` mixes the inputs
    themselves), a plan is sampled for the batch, and the model runs once with the plan replayed at
    that layer.

    Args:
        model: the network.
        inputs: its first positional input.
        targets: class indices or float targets, as for a mixer call.
        mixer: the mixer (``core:mixup`` for Manifold Mixup).
        layers: a submodule, its dotted name in ``model.named_modules()``, or a list to draw from.
        generator: CPU generator for the layer, the pairs and λ.
        num_classes: for class-index targets.
        where: mix the layer's ``"output"`` (default) or ``"input"``.
        protected: boolean ``(B,)``: samples that must never be the minority of a mix.
        groups: integer ``(B,)`` group ids (for ``pairing="within-group"``).
        **model_kwargs: passed to ``model``.

    Examples:
        >>> res = forward_mixed(net, x, y, mixer=create_mixer("mixup"), layers=["layer1", "layer2"],
        ...                     num_classes=10, generator=g)   # doctest: +SKIP
        >>> loss = soft_cross_entropy(res.output, res.targets)   # doctest: +SKIP
    """
    generator = check_generator(generator)
    k = num_classes if num_classes is not None else mixer.num_classes
    checked = check_targets(targets, inputs.shape[0], k, inputs_shape=tuple(inputs.shape))
    candidates: list[str | nn.Module]
    if layers is None:
        candidates = []
    elif isinstance(layers, (str, nn.Module)):
        candidates = [layers]
    else:
        candidates = list(layers)
    choice: str | nn.Module | None = None
    if candidates:
        choice = candidates[int(torch.randint(len(candidates), (1,), generator=generator))]
    plan = mixer.sample(inputs, checked, generator=generator, protected=protected, groups=groups)
    mixed_targets = None if checked is None else mixer.mix_targets(checked, plan, num_classes=k)
    if choice is None:
        output = model(mixer.apply(inputs, plan), **model_kwargs)
        return MixedForward(output=output, targets=mixed_targets, plan=plan, layer="")
    module = model.get_submodule(choice) if isinstance(choice, str) else choice
    name = (
        choice
        if isinstance(choice, str)
        else next((n for n, m in model.named_modules() if m is module), type(module).__name__)
    )
    with replay_at(module, mixer, plan, where=where):
        output = model(inputs, **model_kwargs)
    return MixedForward(output=output, targets=mixed_targets, plan=plan, layer=name)
