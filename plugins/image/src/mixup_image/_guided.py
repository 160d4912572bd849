"""Shared plumbing of the model-guided image mixers (AttentiveMix, SnapMix).

A guided mixer takes its model either once at construction (a reference to a runtime object,
not a configuration value) or per call as a keyword argument, together with precomputed outputs
(feature maps, class activation maps): the call's `GuidanceContext`. Core's `mixup_core.Mixer.bind`
attaches the call's arguments to a shallow copy of the mixer for the duration of one call, so the
mixer itself is never modified and concurrent calls do not interfere; that copy's call state also
caches the model's outputs for the call (a plan redrawn for protection reuses them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from mixup_core import CallContext, ModelContext, mixer_dataclass

from ._base import ImageMixer

__all__ = [
    "GuidanceContext",
    "GuidedImageMixer",
    "check_feature_maps",
    "energy_maps",
    "keep_memory_format",
    "labels_of",
    "run_model",
]


@dataclass(frozen=True, kw_only=True)
class GuidanceContext(ModelContext):
    """The call context of the model-guided image mixers; each mixer reads the fields in its
    ``guidance_args`` (AttentiveMix: ``features``, ``model``; SnapMix: also ``classifier``, ``cam``;
    PuzzleMix: ``model``, ``loss_fn``, ``saliency``).

    Args:
        model: the network (or feature extractor) of this call; overrides the constructor's.
        features: the batch's feature maps ``(B, C, h, w)`` (or attention maps ``(B, h, w)``).
        classifier: the linear head that turns pooled features into logits (SnapMix).
        cam: class activation maps ``(B, K, h, w)`` or ``(B, h, w)``, or a callable producing them (SnapMix).
        loss_fn: ``loss_fn(model(inputs), targets)`` for the saliency pass (PuzzleMix).
        saliency: a precomputed ``(B, H, W)`` saliency (PuzzleMix).
    """

    features: torch.Tensor | None = None
    classifier: Any = None
    cam: Any = None
    loss_fn: Any = None
    saliency: torch.Tensor | None = None


@mixer_dataclass
class GuidedImageMixer(ImageMixer):
    """Base class of image mixers that need a model or its outputs (registry cost ``"forward"``).

    Subclasses list in ``runtime_fields`` the constructor arguments that hold runtime objects
    (modules, callables, tensors): they are declared with ``dataclasses.field(compare=False)``,
    left out of `parameters` and so of ``to_config`` (a model is not configuration; give it again to
    ``create_mixer(config, model=net)``) and may be overridden per call. ``guidance_args`` names
    the fields of the `GuidanceContext` a subclass reads (its call arguments); `check_guidance`
    validates them once per call.
    """

    runtime_fields: ClassVar[tuple[str, ...]] = ()
    context_type: ClassVar[type[CallContext]] = GuidanceContext
    guidance_args: ClassVar[tuple[str, ...]] = ()

    def parameters(self) -> dict[str, Any]:
        params = super().parameters()
        for name in self.runtime_fields:
            params.pop(name, None)
        return params

    # ------------------------------------------------------------------ call-time arguments
    def call_arguments(self) -> tuple[str, ...]:
        """The fields of `GuidanceContext` this mixer reads (``guidance_args``)."""
        return self.guidance_args

    def check_context(self, context: CallContext, inputs: torch.Tensor) -> CallContext:
        """Check that the guidance this mixer needs was given (to the call or the constructor)."""
        self.check_guidance(inputs)
        return context

    def check_guidance(self, inputs: torch.Tensor) -> None:
        """Raise a clear error when the guidance is missing or malformed (default: nothing to check)."""

    def _arg(self, name: str) -> Any:
        """The call's value of ``name``, else the constructor's (``None`` when neither)."""
        value = self.call_values().get(name)
        if value is None and name in self.runtime_fields:
            value = getattr(self, name)
        return value

    def _source(self, *names: str) -> tuple[str, Any] | None:
        """The first of ``names`` given to the call, else the first given to the constructor."""
        given = self.call_values()
        for name in names:
            if given.get(name) is not None:
                return name, given[name]
        for name in names:
            if name in self.runtime_fields and getattr(self, name) is not None:
                return name, getattr(self, name)
        return None

    def _cached(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``compute()`` once per call (kept in the call state of the bound copy)."""
        cache = self.call_state()
        if key not in cache:
            cache[key] = compute()
        return cache[key]


def run_model(model: object, inputs: torch.Tensor, *, name: str = "model") -> torch.Tensor:
    """``model(inputs)`` without gradients, checked to return a ``(B, C, h, w)`` feature map."""
    if not callable(model):
        raise TypeError(
            f"{name} must be an nn.Module or a callable returning (B, C, h, w) feature maps, got {type(model).__name__}"
        )
    with torch.no_grad():
        features = model(inputs)
    return check_feature_maps(features, inputs.shape[0], name=f"the output of {name}")


def check_feature_maps(
    features: object, batch_size: int, *, name: str = "features", ndims: tuple[int, ...] = (4,)
) -> torch.Tensor:
    """Check a floating ``(B, C, h, w)`` (or other ``ndims``) tensor whose batch matches the inputs."""
    shapes = " or ".join({3: "(B, h, w)", 4: "(B, C, h, w)"}[n] for n in ndims)
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape {shapes}, got {type(features).__name__}")
    if features.ndim not in ndims or not features.is_floating_point():
        raise ValueError(
            f"{name} must be a floating tensor of shape {shapes}, got shape {tuple(features.shape)} "
            f"and dtype {features.dtype}"
        )
    if features.shape[0] != batch_size or min(features.shape[-2:]) < 1:
        raise ValueError(
            f"{name} must have the batch size {batch_size} and a non-empty grid, got "
            f"{name}.shape={tuple(features.shape)}"
        )
    return features.detach()


def labels_of(targets: torch.Tensor) -> torch.Tensor:
    """Class indices from ``(B,)`` indices or ``(B, K)`` scores (argmax), on the targets' device."""
    if not targets.is_floating_point():
        return targets.long()
    if targets.ndim != 2:
        raise ValueError(
            f"class labels are taken from (B,) indices or (B, K) scores, got targets.shape={tuple(targets.shape)}"
        )
    return targets.argmax(dim=1)


def keep_memory_format(result: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``result`` in the channels-last layout when ``like`` is channels-last (and not also contiguous)."""
    if like.ndim == 4 and not like.is_contiguous() and like.is_contiguous(memory_format=torch.channels_last):
        return result.contiguous(memory_format=torch.channels_last)
    return result


def energy_maps(inputs: torch.Tensor, grid: int = 7) -> torch.Tensor:
    """A model-free stand-in for a network's attention: the local energy of each image, float32
    ``(B, grid, grid)`` (the squared deviation from the image's mean, average-pooled).

    Used by ``example_call_kwargs`` (the conformance kit, ``mixup preview``), never in training.
    """
    x = inputs.detach().float()
    energy = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2).mean(dim=1, keepdim=True)
    return torch.nn.functional.adaptive_avg_pool2d(energy, grid)[:, 0]
