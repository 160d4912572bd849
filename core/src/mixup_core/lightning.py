"""Mixup in PyTorch Lightning: `MixupCallback` mixes training batches, `mixup_loss` scores them.

The callback mixes each training batch in ``on_train_batch_start``, before Lightning calls
``training_step`` with the same batch object, and stores the `MixedTargets` on the module as
``pl_module.mixup_targets``. The training step changes one line: its loss becomes
``mixup_loss(self, logits, y)``, which is `soft_cross_entropy` against the stored mixed targets
during training and plain cross-entropy otherwise (validation, test, epochs without mixing).
Validation, test and prediction batches are never mixed.

This module needs Lightning: ``pip install "mixup-core[lightning]"``.

Examples:
    >>> import lightning.pytorch as pl   # doctest: +SKIP
    >>> from mixup_core.lightning import MixupCallback, mixup_loss   # doctest: +SKIP
    >>> class Net(pl.LightningModule):   # doctest: +SKIP
    ...     def training_step(self, batch, batch_idx):
    ...         x, y = batch
    ...         return mixup_loss(self, self(x), y)
    >>> trainer = pl.Trainer(callbacks=[MixupCallback({"name": "image:cutmix", "alpha": 1.0},   # doctest: +SKIP
    ...                                               seed=0, num_classes=10, off_after_epoch=90)])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Mapping, MutableMapping, MutableSequence
from typing import Any

import torch
import torch.nn.functional as F

try:
    import lightning.pytorch as pl
except ImportError as exc:  # pragma: no cover - exercised by simulating a missing Lightning
    raise ImportError(
        'mixup_core.lightning needs PyTorch Lightning (lightning>=2.2): pip install "mixup-core[lightning]"'
    ) from exc

from ._config import MixerSpec, create_mixer
from ._losses import soft_cross_entropy
from ._mixer import Mixer
from ._targets import MixedTargets
from .distributed import rank_generator

__all__ = ["TARGETS_ATTR", "BatchGetter", "MixupCallback", "mixup_loss"]

TARGETS_ATTR = "mixup_targets"
"""Name of the LightningModule attribute that holds the current batch's `MixedTargets` (or ``None``)."""

BatchGetter = Callable[[Any], "tuple[torch.Tensor, torch.Tensor]"]
"""A function ``batch -> (inputs, targets)`` for batches that are neither lists nor dicts."""


def _takes_model(fn: Any) -> bool:
    try:
        return "model" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class MixupCallback(pl.Callback):
    """A Lightning callback that mixes every training batch with a mixer chosen by name.

    In ``on_train_batch_start`` the callback mixes the batch's inputs and replaces them in the
    batch (Lightning passes the same batch object to ``training_step``), and stores the mixed
    targets as ``pl_module.mixup_targets``; the training step computes its loss with
    `mixup_loss` (or ``soft_cross_entropy(logits, self.mixup_targets)``). The targets in the
    batch are left as they were. ``pl_module.mixup_targets`` is ``None`` outside mixed training
    batches, and validation, test and prediction batches are never mixed.

    Batch structure: the batch must be a list (torch's default collate turns a data set's
    ``(x, y)`` tuples into lists) or a dict, whose entries ``batch_keys`` name. A tuple cannot
    be changed in place: for tuples and other structures pass a getter ``batch -> (inputs,
    targets)`` as ``batch_keys``; the mixed values are then copied into the inputs tensor in place
    (``inputs.copy_(mixed)``), so that tensor must not be shared with the data set.

    Randomness: each batch's plan is drawn from a CPU generator derived from ``(seed,
    trainer.global_rank, step)`` by `mixup_core.distributed.rank_generator`, where ``step`` counts batches:
    ``trainer.global_step * accumulate_grad_batches + batch_idx % accumulate_grad_batches``
    (``global_step`` alone would repeat the plan for every micro-batch of an accumulation window).
    Two runs with the same seed and world size mix identically; ranks mix independently, each
    within its own part of the batch. Nothing but the step is needed to resume: a run restored from a
    checkpoint draws the plans of an uninterrupted one.

    Mixers that mix hidden features inside the model's forward (a ``forward(model, ...)`` method,
    such as manifold mixup) cannot mix a batch before the step: use `mixup_core.mixed_step` in the
    training step instead. Mixers that look at the model (``model=`` in their call) get
    ``pl_module``.

    Args:
        mixer: a `Mixer`, a registered name (``"mixup"``, ``"image:cutmix"``) or a mapping
            ``{"name": ..., **params}``, as `create_mixer` takes.
        seed: seed of the plans, an integer >= 0 (independent of ``seed_everything``).
        num_classes: number of classes, passed to the mixer (default: the mixer's own
            ``num_classes``; the loss can do without it for class-index targets).
        batch_keys: ``(inputs_key, targets_key)``: positions in a list batch (default ``(0, 1)``)
            or keys of a dict batch (e.g. ``("image", "label")``); or a getter
            ``batch -> (inputs, targets)`` (see above).
        off_after_epoch: stop mixing from this (0-based) epoch on: with ``off_after_epoch=90`` the
            epochs 0 to 89 are mixed and the later ones are not (the "no mixup in the last epochs"
            recipe). ``None`` (default) mixes every epoch.

    Raises:
        ConfigError: the mixer spec is invalid (see `create_mixer`).
        TypeError: a mixer that mixes inside the model's forward.
        ValueError: a negative ``seed`` or ``off_after_epoch``, ``num_classes < 1``, or ``batch_keys``
            that is not a pair.

    Examples:
        >>> cb = MixupCallback({"name": "mixup", "alpha": 0.4}, seed=1, num_classes=10, off_after_epoch=5)
        >>> cb.mixer
        Mixup(alpha=0.4)
        >>> cb.mixes_epoch(4), cb.mixes_epoch(5)
        (True, False)
    """

    def __init__(
        self,
        mixer: Mixer | MixerSpec | Mapping[str, Any] | str,
        *,
        seed: int = 0,
        num_classes: int | None = None,
        batch_keys: tuple[Hashable, Hashable] | BatchGetter = (0, 1),
        off_after_epoch: int | None = None,
    ) -> None:
        super().__init__()
        built = create_mixer(mixer)
        forward = getattr(built, "forward", None)
        if callable(forward) and _takes_model(forward):
            raise TypeError(
                f"mixer {type(built).__name__} mixes hidden features inside the model's forward and cannot mix a batch "
                "before the training step; call mixup_core.mixed_step(self, x, y, mixer=..., ...) "
                "in training_step instead"
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got seed={seed!r}")
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ValueError(f"num_classes must be a positive int or None, got num_classes={num_classes!r}")
        if off_after_epoch is not None and (
            isinstance(off_after_epoch, bool) or not isinstance(off_after_epoch, int) or off_after_epoch < 0
        ):
            raise ValueError(
                f"off_after_epoch must be a non-negative int or None, got off_after_epoch={off_after_epoch!r}"
            )
        if not callable(batch_keys) and (not isinstance(batch_keys, (tuple, list)) or len(batch_keys) != 2):
            raise ValueError(
                f"batch_keys must be a pair (inputs_key, targets_key) or a getter batch -> (inputs, targets), "
                f"got batch_keys={batch_keys!r}"
            )
        self.mixer: Mixer = built
        self.seed = seed
        self.num_classes = num_classes
        self.batch_keys = batch_keys
        self.off_after_epoch = off_after_epoch
        self._model_arg = _takes_model(type(built).__call__)

    def mixes_epoch(self, epoch: int) -> bool:
        """Whether training batches of the (0-based) ``epoch`` are mixed."""
        return self.off_after_epoch is None or epoch < self.off_after_epoch

    def generator(self, trainer: pl.Trainer, batch_idx: int) -> torch.Generator:
        """The generator of the current training batch (see the class docs for the step count)."""
        accumulate = max(int(getattr(trainer, "accumulate_grad_batches", 1) or 1), 1)
        step = trainer.global_step * accumulate + batch_idx % accumulate
        return rank_generator(self.seed, rank=trainer.global_rank, step=step, world_size=trainer.world_size)

    # ------------------------------------------------------------------ batch access
    def _get(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        keys = self.batch_keys
        if callable(keys):
            got = keys(batch)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise TypeError(f"the batch_keys getter must return (inputs, targets), got {type(got).__name__}")
            return got[0], got[1]
        if isinstance(batch, MutableMapping):
            missing = [k for k in keys if k not in batch]
            if missing:
                raise KeyError(
                    f"the batch has no key {missing[0]!r} (batch_keys={tuple(keys)!r}); its keys are "
                    f"{sorted(map(str, batch))}; "
                    "pass batch_keys=(inputs_key, targets_key)"
                )
            return batch[keys[0]], batch[keys[1]]
        if isinstance(batch, MutableSequence):
            if not all(isinstance(k, int) and -len(batch) <= k < len(batch) for k in keys):
                raise IndexError(f"batch_keys={tuple(keys)!r} are not positions in a batch list of length {len(batch)}")
            return batch[keys[0]], batch[keys[1]]  # type: ignore[call-overload]  # ints, checked above
        raise TypeError(
            f"MixupCallback replaces the inputs in the batch, which must be a list or a dict; got a "
            f"{type(batch).__name__}, which cannot be changed in place. Yield lists or dicts from the data loader, "
            "or pass batch_keys=lambda batch: (inputs, targets) to have the mixed inputs copied into the inputs tensor"
        )

    def _set(self, batch: Any, inputs: torch.Tensor, mixed: torch.Tensor) -> None:
        keys = self.batch_keys
        if callable(keys):
            if not isinstance(inputs, torch.Tensor):
                raise TypeError(f"a batch_keys getter must return a tensor of inputs, got {type(inputs).__name__}")
            with torch.no_grad():
                inputs.copy_(mixed)
        else:
            batch[keys[0]] = mixed

    # ------------------------------------------------------------------ hooks
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Mix the batch in place and store its mixed targets on ``pl_module`` (``None`` when not mixing)."""
        setattr(pl_module, TARGETS_ATTR, None)
        if not self.mixes_epoch(trainer.current_epoch):
            return
        inputs, targets = self._get(batch)
        extra: dict[str, Any] = {"model": pl_module} if self._model_arg else {}
        out = self.mixer(
            inputs, targets, generator=self.generator(trainer, batch_idx), num_classes=self.num_classes, **extra
        )
        self._set(batch, inputs, out.inputs)
        setattr(pl_module, TARGETS_ATTR, out.targets)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Forget the batch's mixed targets."""
        setattr(pl_module, TARGETS_ATTR, None)

    def on_validation_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Validation batches are not mixed: no mixed targets."""
        setattr(pl_module, TARGETS_ATTR, None)

    def on_test_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Test batches are not mixed: no mixed targets."""
        setattr(pl_module, TARGETS_ATTR, None)

    def on_predict_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Prediction batches are not mixed: no mixed targets."""
        setattr(pl_module, TARGETS_ATTR, None)


def mixup_loss(
    pl_module: torch.nn.Module,
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """The loss of a training step under `MixupCallback`.

    `soft_cross_entropy` against ``pl_module.mixup_targets`` when the callback mixed the current
    batch, else ``F.cross_entropy(logits, targets)`` (class indices or probabilities): the same
    line serves mixed and unmixed training batches, validation and test.

    Args:
        pl_module: the LightningModule (or any module the callback stored targets on).
        logits: ``(B, C)`` model outputs.
        targets: the batch's own targets, used when the batch was not mixed.
        label_smoothing: ε of label smoothing (default 0).

    Raises:
        ValueError: the stored mixed targets are for a batch of another size than ``logits``.

    Examples:
        >>> model = torch.nn.Linear(4, 3)
        >>> round(mixup_loss(model, torch.zeros(2, 3), torch.tensor([0, 2])).item(), 4)  # not mixed: cross-entropy
        1.0986
    """
    mixed: MixedTargets | None = getattr(pl_module, TARGETS_ATTR, None)
    if mixed is None:
        return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)
    if mixed.targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"pl_module.{TARGETS_ATTR} holds targets of {mixed.targets.shape[0]} samples but logits.shape="
            f"{tuple(logits.shape)}; compute the loss on the whole mixed batch"
        )
    return soft_cross_entropy(logits, mixed, label_smoothing=label_smoothing)
