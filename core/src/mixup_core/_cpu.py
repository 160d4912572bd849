"""NumPy views of the small CPU tensors of a plan, for cheap bookkeeping.

Drawing and summarising a plan is a few dozen operations on CPU tensors of ``B`` elements, where
each torch call costs microseconds of dispatch whatever its size. NumPy does the same exact
integer and IEEE arithmetic on a view of the same memory at a fraction of that cost. Only plain
CPU tensors with a NumPy dtype are viewed (`numpy_view` returns ``None`` for anything else:
another device, ``bfloat16``, a tensor subclass, or tracing by ``torch.compile``), and callers keep
their torch code for those, so no result depends on which path ran and no accelerator is ever
synchronised.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["numpy_view", "numpy_views"]

_NUMPY_DTYPES = frozenset(
    {
        torch.bool,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.float16,
        torch.float32,
        torch.float64,
    }
)


def numpy_view(t: object) -> np.ndarray | None:
    """A NumPy array sharing the memory of ``t``, or ``None`` when ``t`` is not a plain CPU tensor
    with a NumPy dtype, or requires gradients, or ``torch.compile`` is tracing.

    Writing into the view writes into ``t``: callers only write into tensors they have just created.
    """
    if (
        type(t) is not torch.Tensor
        or not t.is_cpu
        or t.dtype not in _NUMPY_DTYPES
        or t.requires_grad
        or torch.compiler.is_compiling()
    ):
        return None
    try:
        return t.numpy()
    except (RuntimeError, TypeError):  # e.g. a tensor with its negative bit set, or a functorch wrapper
        return None


def numpy_views(*tensors: object) -> tuple[np.ndarray, ...] | None:
    """`numpy_view` of each tensor, or ``None`` unless every one of them has a view."""
    views = []
    for t in tensors:
        view = numpy_view(t)
        if view is None:
            return None
        views.append(view)
    return tuple(views)
