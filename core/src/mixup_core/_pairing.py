"""Pairing policies: which sample is mixed into which.

A pairing returns ``index`` of shape ``(B,)``: sample ``i`` (the anchor) is mixed with sample
``index[i]`` (its partner). A sample paired with itself is left unmixed (its λ is set to 1).
Every policy is vectorised: no Python loop over the batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from ._errors import ConfigError

__all__ = [
    "CrossClassPairing",
    "FlipPairing",
    "PairingPolicy",
    "RandomPairing",
    "WithinClassPairing",
    "WithinGroupPairing",
    "resolve_pairing",
]


class PairingPolicy(ABC):
    """Base class of pairing policies.

    Subclasses set ``name`` (used in configs), and ``needs_labels`` / ``needs_groups`` when they
    need the batch's class labels or group ids.
    """

    name: ClassVar[str]
    needs_labels: ClassVar[bool] = False
    needs_groups: ClassVar[bool] = False

    @abstractmethod
    def pair(
        self,
        n: int,
        *,
        labels: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
        candidates: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Return the partner index, a CPU long tensor of shape ``(n,)``.

        Args:
            n: batch size.
            labels: class of each sample, CPU long ``(n,)`` (policies with ``needs_labels``).
            groups: group id of each sample, CPU long ``(n,)`` (policies with ``needs_groups``).
            candidates: boolean ``(n,)``; only these samples may be partners, and only they are
                paired (the others are paired with themselves). ``None`` means all.
            generator: the source of randomness.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _identity(n: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.long)


class RandomPairing(PairingPolicy):
    """A random permutation without fixed points (the default).

    The candidates are shuffled and each is paired with the next one in the shuffled order, so every
    sample is the partner of exactly one other and no sample is paired with itself (for two or more
    candidates). This is the pairing of OpenMixup's ``_no_repeat_shuffle_idx``, vectorised.
    """

    name: ClassVar[str] = "random"

    def pair(self, n, *, labels=None, groups=None, candidates=None, generator=None):  # type: ignore[no-untyped-def]
        index = _identity(n)
        pool = index if candidates is None else index[candidates]
        if pool.numel() < 2:
            return index
        order = pool[torch.randperm(pool.numel(), generator=generator)]
        index[order] = order.roll(-1)
        return index


class FlipPairing(PairingPolicy):
    """The reversed batch (timm's ``flip(0)``): sample ``i`` is mixed with sample ``B - 1 - i``.

    Deterministic; with an odd batch size the middle sample is paired with itself and stays unmixed.
    """

    name: ClassVar[str] = "flip"

    def pair(self, n, *, labels=None, groups=None, candidates=None, generator=None):  # type: ignore[no-untyped-def]
        index = _identity(n)
        pool = _identity(n) if candidates is None else index[candidates]  # never a view of index
        index[pool] = pool.flip(0)
        return index


class _MaskPairing(PairingPolicy):
    """Draw each partner uniformly among the samples allowed by a boolean ``(n, n)`` matrix."""

    def _allowed(self, n: int, labels: torch.Tensor | None, groups: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def pair(self, n, *, labels=None, groups=None, candidates=None, generator=None):  # type: ignore[no-untyped-def]
        if self.needs_labels and labels is None:
            raise ValueError(f"pairing={self.name!r} needs class labels: pass targets to the mixer")
        if self.needs_groups and groups is None:
            raise ValueError(f"pairing={self.name!r} needs group ids: call the mixer with groups=<(B,) tensor>")
        allowed = self._allowed(n, labels, groups)
        allowed.fill_diagonal_(False)
        if candidates is not None:
            allowed &= candidates[None, :] & candidates[:, None]
        has_partner = allowed.any(dim=1)
        weights = allowed.to(torch.float32)
        weights[~has_partner, :] = 0.0
        # rows without any allowed partner pick themselves (weight on the diagonal)
        weights[torch.arange(n)[~has_partner], torch.arange(n)[~has_partner]] = 1.0
        return torch.multinomial(weights, 1, generator=generator).squeeze(1)


class WithinClassPairing(_MaskPairing):
    """Partners share the anchor's class (label-preserving mixup, e.g. for intra-class augmentation).

    Samples whose class has no other member in the batch stay unmixed.
    """

    name: ClassVar[str] = "within-class"
    needs_labels: ClassVar[bool] = True

    def _allowed(self, n, labels, groups):  # type: ignore[no-untyped-def]
        assert labels is not None
        return labels[:, None] == labels[None, :]


class CrossClassPairing(_MaskPairing):
    """Partners have a class different from the anchor's (Between-Class learning, Tokozume et al., 2018).

    Samples of a class that fills the whole batch stay unmixed.
    """

    name: ClassVar[str] = "cross-class"
    needs_labels: ClassVar[bool] = True

    def _allowed(self, n, labels, groups):  # type: ignore[no-untyped-def]
        assert labels is not None
        return labels[:, None] != labels[None, :]


class WithinGroupPairing(_MaskPairing):
    """Partners share the anchor's group id (same patient, same speaker, same domain …).

    Call the mixer with ``groups=`` a ``(B,)`` integer tensor.
    """

    name: ClassVar[str] = "within-group"
    needs_groups: ClassVar[bool] = True

    def _allowed(self, n, labels, groups):  # type: ignore[no-untyped-def]
        assert groups is not None
        return groups[:, None] == groups[None, :]


PAIRINGS: dict[str, type[PairingPolicy]] = {
    cls.name: cls for cls in (RandomPairing, FlipPairing, WithinClassPairing, CrossClassPairing, WithinGroupPairing)
}


def resolve_pairing(spec: str | PairingPolicy | Mapping[str, Any]) -> PairingPolicy:
    """Turn a pairing name (``"random"``, ``"flip"``, ``"within-class"``, ``"cross-class"``,
    ``"within-group"``), a mapping ``{"name": ...}`` or a policy into a `PairingPolicy`.

    Examples:
        >>> resolve_pairing("cross_class")
        CrossClassPairing()
    """
    if isinstance(spec, PairingPolicy):
        return spec
    if isinstance(spec, Mapping):
        spec = spec.get("name", "")
    if isinstance(spec, str):
        key = spec.strip().lower().replace("_", "-")
        if key in PAIRINGS:
            return PAIRINGS[key]()
    raise ConfigError(f"pairing must be one of {sorted(PAIRINGS)} or a PairingPolicy, got {spec!r}")
