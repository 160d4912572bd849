"""The per-call inputs of a mixer besides the batch: `CallContext` and `ModelContext`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["CallContext", "ModelContext"]

_C = TypeVar("_C", bound="CallContext")


@dataclass(frozen=True, kw_only=True)
class CallContext:
    """The inputs of one mixer call besides the batch and its targets: lengths, masks, a model, features …

    A mixer names the context it reads in its class attribute ``context_type``: `CallContext` itself
    (no fields) for mixers that need nothing beyond the batch, `ModelContext` for mixers that may use
    the call's model, or a plugin's subclass with the fields of its modality (``mixup_audio.AudioContext``
    with ``lengths``, ``mixup_text.TextContext`` with ``attention_mask``, ``mixup_image.GuidanceContext``
    with ``model``, ``features`` …). The fields are the keyword arguments that the mixer's ``__call__``,
    ``sample`` and ``apply`` accept besides the standard ones, and ``Mixer.bind`` attaches them to a
    copy of the mixer for one call. A field left at ``None`` is not given.

    Examples:
        >>> @dataclass(frozen=True, kw_only=True)
        ... class LengthsContext(CallContext):
        ...     lengths: object = None
        >>> LengthsContext.field_names()
        ('lengths',)
        >>> LengthsContext(lengths=[3, 2]).given()
        {'lengths': [3, 2]}
    """

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of the context's fields: the call arguments of a mixer that reads it."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def given(self) -> dict[str, Any]:
        """The fields that were given (not ``None``), by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    def replace(self: _C, **changes: Any) -> _C:
        """A copy with ``changes`` applied (checked values of the same fields, for example)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, kw_only=True)
class ModelContext(CallContext):
    """The context of mixers that may use the network of the call.

    ``mixup_core.mixed_step`` passes its model to every mixer whose call arguments include ``model``.

    Args:
        model: the network (or a feature extractor) of this call; ``None`` when not given.
    """

    model: Any = None
