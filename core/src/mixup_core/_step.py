"""One training step with a mixer, whatever the modality: `mixed_step`."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch
from torch import nn

from ._mixer import Mixer
from ._outputs import MixedStep, output_logits, run_model

__all__ = ["MixedStep", "mixed_step", "output_logits"]


@functools.lru_cache(maxsize=256)
def _parameters(fn: Any) -> frozenset[str]:
    """The parameter names of a function (cached: `mixed_step` asks on every training step)."""
    try:
        return frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return frozenset()


def _accepts(fn: Any, name: str) -> bool:
    return name in _parameters(fn)


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
    In order: the mixer's own step, `Mixer.mixed_step`, when its `Mixer.runs_step` says so (text
    mixers on a mapping of token ids, and a ``core:choice`` of them); the mixer's
    ``forward(model, inputs, targets, …)`` when it has one (hidden-layer mixers); otherwise the
    inputs are mixed (passing ``model=model`` to mixers whose call arguments include it) and the
    model runs on them.
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
        return MixedStep(output_logits(run_model(model, inputs)), None, targets)
    if not isinstance(mixer, Mixer):
        raise TypeError(f"mixer must be a mixup_core.Mixer or None, got {type(mixer).__name__}")
    if mixer.runs_step(inputs):
        return mixer.mixed_step(
            model, inputs, targets, generator=generator, num_classes=num_classes, protected=protected
        )
    extra: dict[str, Any] = {} if protected is None else {"protected": protected}
    forward = getattr(mixer, "forward", None)
    forward_fn = getattr(type(mixer), "forward", None)  # the class's function: one cache entry per class
    if callable(forward) and _accepts(forward_fn, "model"):
        if protected is not None and not _accepts(forward_fn, "protected"):
            raise TypeError(
                f"{type(mixer).__name__}.forward does not take protected=; protect with protected_classes instead"
            )
        fw = forward(model, inputs, targets, generator=generator, num_classes=num_classes, **extra)
        return MixedStep(output_logits(fw.output), fw.targets, targets, fw.plan)
    if "model" in mixer.call_arguments():
        extra["model"] = model
    out = mixer(inputs, targets, generator=generator, num_classes=num_classes, **extra)
    return MixedStep(output_logits(run_model(model, out.inputs)), out.targets, targets, out.plan)
