"""λ policies: how the anchor's share is drawn.

λ is always the **anchor's** share of the mix (the convention of timm, torchvision and OpenMixup).
Policies are small validated records, so that they appear in configs as mappings such as
``{"dist": "uniform", "low": 0.3, "high": 0.7}``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, ClassVar, Union

import numpy as np
import torch
from pydantic import ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass
from pydantic_core import ArgsKwargs

from ._errors import ConfigError
from ._random import numpy_rng

__all__ = ["BetaLambda", "FixedLambda", "LambdaPolicy", "LambdaSpec", "UniformLambda", "resolve_lambda"]

_CONFIG = ConfigDict(extra="forbid", validate_assignment=True)


class LambdaPolicy(ABC):
    """Base class of λ policies. ``sample(n, generator)`` returns ``n`` values in ``[0, 1]``."""

    dist: ClassVar[str]

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` values as a float32 CPU tensor of shape ``(n,)``."""

    def to_config(self) -> dict[str, Any]:
        """A mapping that `resolve_lambda` turns back into an equal policy."""
        # every policy class is a dataclass (the base class is not)
        return {"dist": self.dist, **{f.name: getattr(self, f.name) for f in fields(self)}}  # type: ignore[arg-type]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "dist")
        return f"{type(self).__name__}({args})"

    @model_validator(mode="before")
    @classmethod
    def _positional_by_name(cls, data: Any) -> Any:
        # positional arguments become keywords, so that errors name the parameter (not its position)
        if isinstance(data, ArgsKwargs) and data.args:
            names = [f.name for f in fields(cls)]  # type: ignore[arg-type]  # a policy class: a dataclass
            kwargs = dict(data.kwargs or {})
            if len(data.args) <= len(names) and not set(names[: len(data.args)]) & set(kwargs):
                return ArgsKwargs((), {**dict(zip(names, data.args, strict=False)), **kwargs})
        return data


@dataclass(config=_CONFIG, repr=False)
class BetaLambda(LambdaPolicy):
    """λ ~ Beta(α, β); β defaults to α (the symmetric Beta(α, α) of Zhang et al., 2018).

    Args:
        alpha: first shape parameter, finite and > 0.
        beta: second shape parameter, finite and > 0; ``None`` (default) means ``alpha``.

    Examples:
        >>> BetaLambda(0.4).sample(3, torch.Generator().manual_seed(0)).shape
        torch.Size([3])
    """

    dist: ClassVar[str] = "beta"
    alpha: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    beta: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        b = self.alpha if self.beta is None else self.beta
        values = numpy_rng(generator).beta(self.alpha, b, size=n)
        # float64 -> float32 in NumPy: the same rounding as torch's .to(torch.float32), without a torch call
        return torch.from_numpy(values.astype(np.float32))


@dataclass(config=_CONFIG, repr=False)
class UniformLambda(LambdaPolicy):
    """λ ~ Uniform(low, high), with ``0 <= low <= high <= 1``.

    Args:
        low: lower bound (default 0).
        high: upper bound (default 1).

    Examples:
        >>> UniformLambda(0.3, 0.7).sample(2, torch.Generator().manual_seed(0)).shape
        torch.Size([2])
    """

    dist: ClassVar[str] = "uniform"
    low: float = Field(default=0.0, ge=0, le=1)
    high: float = Field(default=1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> UniformLambda:
        if self.low > self.high:
            raise ValueError(f"low must be <= high, got low={self.low!r}, high={self.high!r}")
        return self

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        return (self.low + (self.high - self.low) * u).to(torch.float32)


@dataclass(config=_CONFIG, repr=False)
class FixedLambda(LambdaPolicy):
    """A constant λ, for ablations and tests.

    Args:
        value: the anchor's share, in ``[0, 1]``.

    Examples:
        >>> FixedLambda(0.7).sample(2)
        tensor([0.7000, 0.7000])
    """

    dist: ClassVar[str] = "fixed"
    value: float = Field(default=0.5, ge=0, le=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.full((n,), self.value, dtype=torch.float32)


_POLICIES: dict[str, type[LambdaPolicy]] = {"beta": BetaLambda, "uniform": UniformLambda, "fixed": FixedLambda}

LambdaSpec = Union[LambdaPolicy, float, Mapping[str, Any], None]
"""What a mixer's ``lam`` argument accepts: a policy, a fixed value, a mapping with ``dist``, or ``None``."""


def resolve_lambda(spec: LambdaSpec, alpha: float = 1.0, beta: float | None = None) -> LambdaPolicy:
    """Turn a λ specification into a `LambdaPolicy`.

    Args:
        spec: ``None`` for Beta(``alpha``, ``beta``), a number for a fixed λ, a mapping such as
            ``{"dist": "uniform", "low": 0.2, "high": 0.8}``, or a policy (returned as is).
        alpha: Beta's first shape parameter when ``spec`` is ``None``.
        beta: Beta's second shape parameter when ``spec`` is ``None`` (default: ``alpha``).

    Examples:
        >>> resolve_lambda({"dist": "fixed", "value": 0.25})
        FixedLambda(value=0.25)
    """
    if spec is None:
        return BetaLambda(alpha=alpha, beta=beta)
    if isinstance(spec, LambdaPolicy):
        return spec
    if isinstance(spec, bool):
        raise ConfigError(f"lam must be a number, a mapping or None, got {spec!r}")
    if isinstance(spec, (int, float)):
        if not (math.isfinite(spec) and 0.0 <= spec <= 1.0):
            raise ConfigError(f"lam must lie in [0, 1], got {spec!r}")
        return FixedLambda(value=float(spec))
    if isinstance(spec, Mapping):
        params = dict(spec)
        dist = params.pop("dist", None)
        if dist not in _POLICIES:
            raise ConfigError(f"lam['dist'] must be one of {sorted(_POLICIES)}, got {dist!r} in lam={dict(spec)!r}")
        return _POLICIES[dist](**params)
    raise ConfigError(f"lam must be a LambdaPolicy, a number, a mapping or None, got {type(spec).__name__}: {spec!r}")
