"""Shared plumbing of the model-guided image mixers (AttentiveMix, SnapMix).

A guided mixer takes its model either once at construction (a reference to a runtime object,
not a configuration value) or per call as a keyword argument, together with precomputed outputs
(feature maps, class activation maps). Call-time arguments are bound to a shallow copy of the mixer
for the duration of one call, so the mixer itself is never modified and concurrent calls do not
interfere; that copy also caches the model's outputs for the call (a plan redrawn for protection
reuses them).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import torch

from mixup_core import mixer_dataclass

from ._base import ImageMixer

__all__ = ["GuidedImageMixer", "check_feature_maps", "energy_maps", "keep_memory_format", "labels_of", "run_model"]

_G = TypeVar("_G", bound="GuidedImageMixer")


@mixer_dataclass
class GuidedImageMixer(ImageMixer):
    """Base class of image mixers that need a model or its outputs (registry cost ``"forward"``).

    Subclasses list in ``runtime_fields`` the constructor arguments that hold runtime objects
    (modules, callables, tensors): they are declared with ``dataclasses.field(compare=False)``,
    left out of `to_config` (a model is not configuration; give it again to
    ``create_mixer(config, model=net)``) and may be overridden per call.
    """

    runtime_fields: ClassVar[tuple[str, ...]] = ()

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        for name in self.runtime_fields:
            config.pop(name, None)
        return config

    # ------------------------------------------------------------------ call-time arguments
    def _bind(self: _G, **guidance: Any) -> _G:
        """A shallow copy carrying the call's arguments (``None`` values fall back to earlier ones)."""
        merged = dict(self.__dict__.get("_guidance", {}))
        merged.update({k: v for k, v in guidance.items() if v is not None})
        bound = copy.copy(self)
        bound.__dict__["_guidance"] = merged
        bound.__dict__["_guided_cache"] = {}
        return bound

    def _arg(self, name: str) -> Any:
        """The call's value of ``name``, else the constructor's (``None`` when neither)."""
        value = self.__dict__.get("_guidance", {}).get(name)
        if value is None and name in self.runtime_fields:
            value = getattr(self, name)
        return value

    def _source(self, *names: str) -> tuple[str, Any] | None:
        """The first of ``names`` given to the call, else the first given to the constructor."""
        given = self.__dict__.get("_guidance", {})
        for name in names:
            if given.get(name) is not None:
                return name, given[name]
        for name in names:
            if name in self.runtime_fields and getattr(self, name) is not None:
                return name, getattr(self, name)
        return None

    def _cached(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        cache = self.__dict__.get("_guided_cache")
        if cache is None:
            return compute()
        if key not in cache:
            cache[key] = compute()
        return cache[key]  # type: ignore[no-any-return]


def run_model(model: object, inputs: torch.Tensor, *, name: str = "model") -> torch.Tensor:
    """``model(inputs)`` without gradients, checked to return a ``(B, C, h, w)`` feature map."""
    if not callable(model):
        raise TypeError(f"{name} must be an nn.Module or a callable returning (B, C, h, w) feature maps, got {type(model).__name__}")
    with torch.no_grad():
        features = model(inputs)
    return check_feature_maps(features, inputs.shape[0], name=f"the output of {name}")


def check_feature_maps(features: object, batch_size: int, *, name: str = "features", ndims: tuple[int, ...] = (4,)) -> torch.Tensor:
    """Check a floating ``(B, C, h, w)`` (or other ``ndims``) tensor whose batch matches the inputs."""
    shapes = " or ".join({3: "(B, h, w)", 4: "(B, C, h, w)"}[n] for n in ndims)
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape {shapes}, got {type(features).__name__}")
    if features.ndim not in ndims or not features.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor of shape {shapes}, got shape {tuple(features.shape)} and dtype {features.dtype}")
    if features.shape[0] != batch_size or min(features.shape[-2:]) < 1:
        raise ValueError(f"{name} must have the batch size {batch_size} and a non-empty grid, got {name}.shape={tuple(features.shape)}")
    return features.detach()


def labels_of(targets: torch.Tensor) -> torch.Tensor:
    """Class indices from ``(B,)`` indices or ``(B, K)`` scores (argmax), on the targets' device."""
    if not targets.is_floating_point():
        return targets.long()
    if targets.ndim != 2:
        raise ValueError(f"class labels are taken from (B,) indices or (B, K) scores, got targets.shape={tuple(targets.shape)}")
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
