"""What a training step produces: the logits of a model output and the result of one mixed step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ._losses import soft_cross_entropy
from ._plan import MixPlan
from ._targets import MixedTargets

__all__ = ["MixedStep", "output_logits", "run_model"]


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
        raise TypeError(
            f"the model output {type(output).__name__} has no logits (a tensor, .logits or a tuple's first item)"
        )
    return logits


def run_model(model: Any, inputs: Any) -> Any:
    """``model(**inputs)`` for a mapping of tensors (``input_ids``, ``attention_mask``), else ``model(inputs)``."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    return model(inputs)


@dataclass
class MixedStep:
    """The result of `mixup_core.mixed_step`: the logits and what they must be compared with.

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
