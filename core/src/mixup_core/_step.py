"""One training step with a mixer, whatever the modality: `mixed_step`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._losses import soft_cross_entropy
from ._mixer import Mixer
from ._plan import MixPlan
from ._targets import MixedTargets

__all__ = ["MixedStep", "mixed_step", "output_logits"]


def output_logits(output: Any) -> torch.Tensor:
    """The logits of a model output: a tensor, an object with ``logits``, or the first item of a tuple.

    Raises:
        TypeError: the output holds no tensor of logits.
    """
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if logits is None and isinstance(output, (tuple, list)) and output:
        logits = output[0]
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"the model output {type(output).__name__} has no logits (a tensor, .logits or a tuple's first item)")
    return logits


@dataclass
class MixedStep:
    """The result of `mixed_step`: the logits and what they must be compared with.

    Args:
        logits: ``(B, num_classes)`` model outputs.
        targets: the mixed targets, or ``None`` for an unmixed (baseline) step.
        labels: the batch's class indices ``(B,)`` (used by `loss` when ``targets`` is ``None``).
        plan: the plan of the mix (``None`` for a baseline step).
    """

    logits: torch.Tensor
    targets: MixedTargets | None
    labels: torch.Tensor
    plan: MixPlan | None = None

    def loss(self, *, label_smoothing: float = 0.0) -> torch.Tensor:
        """Soft cross-entropy against the mixed targets, or cross-entropy for a baseline step."""
        if self.targets is None:
            return F.cross_entropy(self.logits, self.labels.to(self.logits.device), label_smoothing=label_smoothing)
        return soft_cross_entropy(self.logits, self.targets, label_smoothing=label_smoothing)


@functools.lru_cache(maxsize=256)
def _parameters(fn: Any) -> frozenset[str]:
    """The parameter names of a function (cached: `mixed_step` asks on every training step)."""
    try:
        return frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return frozenset()


def _accepts(fn: Any, name: str) -> bool:
    return name in _parameters(fn)


def _run_model(model: nn.Module, inputs: Any) -> Any:
    """``model(**inputs)`` for a mapping of tensors (text: ``input_ids``, ``attention_mask``), else ``model(inputs)``."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    return model(inputs)


def mixed_step(
    model: nn.Module,
    inputs: Any,
    targets: torch.Tensor,
    *,
    mixer: Mixer | None,
    generator: torch.Generator | None = None,
    num_classes: int,
    protected: torch.Tensor | None = None,
) -> MixedStep:
    """Run ``model`` on one batch mixed by ``mixer`` (or unmixed when ``mixer`` is ``None``).

    The training loop of ``mixup compare``, usable in any loop that must not know the modality.
    In order: a plugin's ``mixup_mixed_step`` hook (text mixers on token tensors); the mixer's
    ``forward(model, inputs, targets, …)`` when it has one (hidden-layer mixers); otherwise the
    inputs are mixed (passing ``model=model`` to mixers that take it) and the model runs on them.
    The model is called as ``model(**inputs)`` when the inputs are a mapping (a text batch of
    ``input_ids`` and ``attention_mask``, as Hugging Face models take them), else ``model(inputs)``.

    Args:
        model: the network; its output is the logits or has a ``logits`` attribute.
        inputs: the batch's inputs (a tensor, a mapping of tensors, a PyG ``Batch`` …).
        targets: class indices ``(B,)``.
        mixer: the mixer, or ``None`` for a baseline step.
        generator: CPU generator of the plan.
        num_classes: number of classes.
        protected: bool ``(B,)`` mask of samples that must not be diluted (see the mixers' ``protect``).

    Examples:
        >>> import torch
        >>> from mixup_core import create_mixer
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
        >>> step = mixed_step(model, torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 2, 0]),
        ...                   mixer=create_mixer("mixup"), generator=torch.Generator().manual_seed(0), num_classes=3)
        >>> step.loss().ndim
        0
    """
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a tensor of class indices (B,), got {type(targets).__name__}")
    if mixer is None:
        return MixedStep(output_logits(_run_model(model, inputs)), None, targets)
    if not isinstance(mixer, Mixer):
        raise TypeError(f"mixer must be a mixup_core.Mixer or None, got {type(mixer).__name__}")
    from ._plugins import get_plugin_manager

    result = get_plugin_manager().hook.mixup_mixed_step(
        mixer=mixer, model=model, inputs=inputs, targets=targets, generator=generator, num_classes=num_classes,
        protected=protected,
    )
    if result is not None:
        return result  # type: ignore[no-any-return]
    extra: dict[str, Any] = {} if protected is None else {"protected": protected}
    forward = getattr(mixer, "forward", None)
    forward_fn = getattr(type(mixer), "forward", None)  # the class's function: one cache entry per class
    if callable(forward) and _accepts(forward_fn, "model"):
        if protected is not None and not _accepts(forward_fn, "protected"):
            raise TypeError(f"{type(mixer).__name__}.forward does not take protected=; protect with protected_classes instead")
        fw = forward(model, inputs, targets, generator=generator, num_classes=num_classes, **extra)
        return MixedStep(output_logits(fw.output), fw.targets, targets, fw.plan)
    if _accepts(type(mixer).__call__, "model"):
        extra["model"] = model
    out = mixer(inputs, targets, generator=generator, num_classes=num_classes, **extra)
    return MixedStep(output_logits(_run_model(model, out.inputs)), out.targets, targets, out.plan)
