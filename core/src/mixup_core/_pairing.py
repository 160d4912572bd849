"""Pairing policies: which sample is mixed into which.

A pairing returns ``index`` of shape ``(B,)``: sample ``i`` (the anchor) is mixed with sample
``index[i]`` (its partner). A sample paired with itself is left unmixed (its λ is set to 1).
Every policy is vectorised: no Python loop over the batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
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


def _candidates(n: int, candidates: torch.Tensor) -> np.ndarray:
    """The samples that ``candidates`` selects, in order, as a NumPy long array.

    Selected by torch indexing of ``arange(n)``, so that any mask torch accepts selects the same
    samples (and a mask torch rejects raises the same error).
    """
    return _identity(n)[candidates].numpy()


class RandomPairing(PairingPolicy):
    """A random permutation without fixed points (the default).

    The candidates are shuffled and each is paired with the next one in the shuffled order, so every
    sample is the partner of exactly one other and no sample is paired with itself (for two or more
    candidates). This is the pairing of OpenMixup's ``_no_repeat_shuffle_idx``, vectorised.
    """

    name: ClassVar[str] = "random"

    def pair(self, n, *, labels=None, groups=None, candidates=None, generator=None):
        # NumPy bookkeeping on the one torch draw (randperm): a few µs instead of five torch calls
        index = np.arange(n, dtype=np.int64)
        pool = index if candidates is None else _candidates(n, candidates)
        if pool.size < 2:
            return torch.from_numpy(index)
        order = pool[torch.randperm(pool.size, generator=generator).numpy()]
        index[order[:-1]] = order[1:]  # each candidate's partner is the next one in the shuffled order
        index[order[-1]] = order[0]
        return torch.from_numpy(index)


class FlipPairing(PairingPolicy):
    """The reversed batch (timm's ``flip(0)``): sample ``i`` is mixed with sample ``B - 1 - i``.

    Deterministic; with an odd batch size the middle sample is paired with itself and stays unmixed.
    """

    name: ClassVar[str] = "flip"

    def pair(self, n, *, labels=None, groups=None, candidates=None, generator=None):
        index = np.arange(n, dtype=np.int64)
        pool = index.copy() if candidates is None else _candidates(n, candidates)  # never a view of index
        index[pool] = pool[::-1]
        return torch.from_numpy(index)


def _segment_pair(
    keys: torch.Tensor, candidates: torch.Tensor | None, generator: torch.Generator | None, *, same: bool
) -> torch.Tensor:
    """Draw each candidate's partner uniformly among the other candidates with the same key
    (``same=True``) or with another key (``same=False``); anchors without one pair with themselves.

    Sorting by key makes each key a contiguous segment, so a draw is an offset into the anchor's
    own segment, or into the rest of the sorted pool: O(n log n) time and O(n) memory.
    """
    n = keys.numel()
    index = _identity(n)
    pool = index.clone() if candidates is None else index[candidates]
    m = pool.numel()
    if m < 2:
        return index
    order = torch.argsort(keys[pool], stable=True)
    sorted_keys, sorted_pool = keys[pool][order], pool[order]
    _, counts = torch.unique_consecutive(sorted_keys, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    segment = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    start, size = starts[segment], counts[segment]
    u = torch.rand(m, generator=generator, dtype=torch.float64)
    if same:
        span = (size - 1).clamp(min=1)  # the other members of the segment
        offset = torch.minimum((u * span).long(), span - 1)
        position = torch.arange(m) - start
        partner = start + (position + 1 + offset) % size
    else:
        span = (m - size).clamp(min=1)  # everything outside the segment
        r = torch.minimum((u * span).long(), span - 1)
        partner = torch.where(r < start, r, r + size)
        partner = torch.where(size == m, torch.arange(m), partner)
    index[sorted_pool] = sorted_pool[partner]
    return index


class _KeyPairing(PairingPolicy):
    """Partners drawn uniformly among the samples whose key (class or group) is equal to, or differs
    from, the anchor's."""

    same: ClassVar[bool] = True

    def _keys(self, labels: torch.Tensor | None, groups: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def pair(self, n, *, labels=None, groups=None, candidates=None, generator=None):
        if self.needs_labels and labels is None:
            raise ValueError(f"pairing={self.name!r} needs class labels: pass targets to the mixer")
        if self.needs_groups and groups is None:
            raise ValueError(f"pairing={self.name!r} needs group ids: call the mixer with groups=<(B,) tensor>")
        return _segment_pair(self._keys(labels, groups), candidates, generator, same=self.same)


class WithinClassPairing(_KeyPairing):
    """Partners share the anchor's class (label-preserving mixup, e.g. for intra-class augmentation).

    Each partner is drawn uniformly among the other samples of the anchor's class; samples whose
    class has no other member in the batch stay unmixed. O(B log B), no B×B matrix.
    """

    name: ClassVar[str] = "within-class"
    needs_labels: ClassVar[bool] = True

    def _keys(self, labels, groups):
        return labels


class CrossClassPairing(_KeyPairing):
    """Partners have a class different from the anchor's (Between-Class learning, Tokozume et al., 2018).

    Each partner is drawn uniformly among the samples of other classes; samples of a class that
    fills the whole batch stay unmixed.
    """

    name: ClassVar[str] = "cross-class"
    needs_labels: ClassVar[bool] = True
    same: ClassVar[bool] = False

    def _keys(self, labels, groups):
        return labels


class WithinGroupPairing(_KeyPairing):
    """Partners share the anchor's group id (same patient, same speaker, same domain …).

    Call the mixer with ``groups=`` a ``(B,)`` integer tensor.
    """

    name: ClassVar[str] = "within-group"
    needs_groups: ClassVar[bool] = True

    def _keys(self, labels, groups):
        return groups


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
