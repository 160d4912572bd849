"""Mix uint8 batches inside ``DataLoader`` workers, before normalisation (timm's ``FastCollateMixup`` use case)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from mixup_core import MixedTargets, Mixer, MixerSpec, MixPlan, create_mixer

__all__ = ["MixupCollate"]


class MixupCollate:
    """A ``collate_fn`` that stacks uint8 images and mixes them in the loader's workers.

    Each item is ``(image, label)`` with a uint8 image, either a ``(C, H, W)`` tensor or a NumPy
    array: ``(H, W, C)``/``(H, W)`` as decoded by PIL, or ``(C, H, W)`` as timm's ``ToNumpy``
    transform gives it (see ``layout``), and a label (an int, a 0-d tensor, or a
    float vector of soft/multi-hot targets). The images are stacked into a ``(B, C, H, W)`` uint8
    batch, converted to float32 in a buffer that is reused from batch to batch, mixed with the
    mixer's buffer path (``mixer(x, y, out=buf)``), rounded and returned as uint8, so the GPU side
    still receives small uint8 batches and normalises them itself (timm's ``FastCollateMixup``).

    Randomness: every batch draws from its own ``torch.Generator`` seeded from ``(seed, epoch,
    worker id, batch counter of that worker)``, where the worker id comes from
    ``torch.utils.data.get_worker_info()`` (the main process counts as worker −1 when
    ``num_workers=0``). A ``DataLoader`` hands batches to its workers round-robin in a fixed order,
    so two runs with the same ``seed`` and the same ``num_workers`` give identical batches.
    Workers restart their counters at each epoch (unless ``persistent_workers=True``), so call
    `set_epoch` before each epoch, as with ``DistributedSampler``, or every epoch repeats the
    mixes of the first.

    Mixing after rounding: a mixup pixel is ``round(λ·a + (1 − λ)·b)``, so the pixel shares differ
    from the label weights by at most 0.5/255 per pixel value; box and mask mixers are exact.

    Args:
        mixer_spec: a mixer, a registry name or a config mapping (see `create_mixer`);
            an image mixer or a modality-agnostic one such as ``core:mixup``.
        num_classes: number of classes of integer labels.
        seed: base seed of the per-batch generators.
        dense: return dense float32 targets ``(B, num_classes)`` (smoothed by ``label_smoothing``)
            instead of `MixedTargets` (the default, which keeps the class indices
            for `mixed_cross_entropy` and densifies on demand).
        label_smoothing: smoothing of dense targets, ``(1 − s)·t + s/C`` (only with ``dense=True``).
        layout: the axes of 3-D NumPy images: ``"hwc"`` (PIL), ``"chw"`` (timm's ``ToNumpy``), or
            ``"auto"`` (default): channels-first when the first axis has 1, 3 or 4 entries and the
            last does not, channels-last in the converse case; an array that could be either (such
            as ``(3, 5, 3)``) is refused with a message asking for ``layout``.

    Attributes:
        mixup_enabled: ``True``; set it to ``False`` to stop mixing (the batches are only stacked,
            with unmixed targets), as timm's ``--mixup-off-epoch`` does to ``FastCollateMixup``.
            With ``persistent_workers=True`` the workers keep the value they were started with.

    Returns (on call):
        ``(images, targets)``: uint8 ``(B, C, H, W)`` and `MixedTargets` (or a
        float32 tensor with ``dense=True``).

    Examples:
        >>> collate = MixupCollate("image:cutmix", num_classes=10, seed=0)
        >>> images, targets = collate([(torch.zeros(3, 8, 8, dtype=torch.uint8), 1),
        ...                            (torch.full((3, 8, 8), 255, dtype=torch.uint8), 2)])
        >>> images.dtype, targets.dense().shape
        (torch.uint8, torch.Size([2, 10]))
    """

    def __init__(
        self,
        mixer_spec: MixerSpec | Mixer,
        *,
        num_classes: int,
        seed: int = 0,
        dense: bool = False,
        label_smoothing: float = 0.0,
        layout: Literal["auto", "hwc", "chw"] = "auto",
    ) -> None:
        if layout not in ("auto", "hwc", "chw"):
            raise ValueError(f"layout must be 'auto', 'hwc' or 'chw', got {layout!r}")
        mixer = create_mixer(mixer_spec)
        if getattr(mixer, "modality", "any") not in ("image", "any"):
            raise ValueError(
                f"MixupCollate needs an image mixer (or a modality-agnostic one), got {mixer!r} of "
                f"modality {mixer.modality!r}"
            )
        if getattr(mixer, "cost", "none") != "none":
            raise ValueError(
                f"MixupCollate runs in DataLoader workers, without the model; {type(mixer).__name__} has cost "
                f"{mixer.cost!r} (it needs the model or the dataset), so call it in the training step instead"
            )
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if not (0.0 <= label_smoothing < 1.0):
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if label_smoothing and not dense:
            raise ValueError("label_smoothing applies to dense targets only: pass dense=True (or smooth in the loss)")
        self.mixer = mixer
        self.num_classes = num_classes
        self.seed = seed
        self.dense = dense
        self.label_smoothing = float(label_smoothing)
        self.layout = layout
        self.mixup_enabled = True
        self.epoch = 0
        self._counter = 0
        self._worker: int | None = None
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def __repr__(self) -> str:
        return f"MixupCollate({self.mixer!r}, num_classes={self.num_classes}, seed={self.seed}, dense={self.dense})"

    def __getstate__(self) -> dict[str, Any]:
        # buffers are per process: a worker starts without them
        state = self.__dict__.copy()
        state["_buffers"] = None
        return state

    def set_epoch(self, epoch: int) -> None:
        """Use another stream of mixes for this epoch (call it in the main process before iterating)."""
        self.epoch = int(epoch)
        self._counter = 0

    def generator_for(self, worker: int, counter: int) -> torch.Generator:
        """The generator of a worker's ``counter``-th batch (exposed so a batch can be reproduced)."""
        words = np.random.SeedSequence([self.seed, self.epoch, worker + 1, counter]).generate_state(2, dtype=np.uint32)
        return torch.Generator().manual_seed(int(words[0]) << 31 ^ int(words[1]))

    def _next_generator(self) -> torch.Generator:
        info = torch.utils.data.get_worker_info()
        worker = -1 if info is None else int(info.id)
        if worker != self._worker:  # a fresh process (or the first call): count from zero
            self._worker, self._counter = worker, 0
        g = self.generator_for(worker, self._counter)
        self._counter += 1
        return g

    # ------------------------------------------------------------------ collation
    def _image(self, item: Any, position: int) -> torch.Tensor:
        if isinstance(item, np.ndarray):
            if item.dtype != np.uint8:
                raise TypeError(
                    f"MixupCollate collates uint8 images; item {position} is a NumPy array of dtype {item.dtype} "
                    f"(shape {item.shape}); mix float images after collation with the mixer itself"
                )
            if item.ndim == 2:
                item = item[:, :, None]
            if item.ndim != 3:
                raise ValueError(
                    f"NumPy images must be (H, W), (H, W, C) or (C, H, W); item {position} has shape {item.shape}"
                )
            if self._channels_first(item.shape, position):
                return torch.from_numpy(np.ascontiguousarray(item))
            return torch.from_numpy(np.ascontiguousarray(item)).permute(2, 0, 1)
        if isinstance(item, torch.Tensor):
            if item.dtype != torch.uint8:
                raise TypeError(
                    f"MixupCollate collates uint8 images; item {position} is a tensor of dtype {item.dtype} "
                    f"(shape {tuple(item.shape)}); mix float images after collation with the mixer itself"
                )
            if item.ndim != 3:
                raise ValueError(f"image tensors must be (C, H, W); item {position} has shape {tuple(item.shape)}")
            return item
        raise TypeError(
            f"item {position}: the image must be a uint8 torch.Tensor (C, H, W) or NumPy array (H, W, C), "
            f"got {type(item).__name__}"
        )

    def _channels_first(self, shape: tuple[int, ...], position: int) -> bool:
        if self.layout != "auto":
            return self.layout == "chw"
        channels = (1, 3, 4)
        first, last = shape[0] in channels, shape[-1] in channels
        if first != last:
            return first
        raise ValueError(
            f"item {position}: cannot tell whether the NumPy image of shape {shape} is (C, H, W) or (H, W, C); "
            "pass layout='chw' (timm's ToNumpy) or layout='hwc' (PIL) to MixupCollate"
        )

    @staticmethod
    def _labels(labels: list[Any]) -> torch.Tensor:
        if all(isinstance(y, torch.Tensor) and y.ndim > 0 for y in labels):
            return torch.stack(labels)
        try:
            return torch.as_tensor(np.asarray([np.asarray(y) for y in labels]))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"labels must be ints, 0-d tensors or equal-length vectors, got {labels[:4]!r}…") from exc

    def collate(self, batch: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack ``(image, label)`` items into a uint8 ``(B, C, H, W)`` batch and a label tensor (no mixing)."""
        if not isinstance(batch, Sequence) or len(batch) == 0:
            raise ValueError(f"batch must be a non-empty sequence of (image, label) items, got {batch!r}")
        images, labels = [], []
        for i, item in enumerate(batch):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(f"each item must be an (image, label) pair; item {i} is {type(item).__name__}")
            images.append(self._image(item[0], i))
            labels.append(item[1])
        shapes = {tuple(t.shape) for t in images}
        if len(shapes) > 1:
            raise ValueError(
                f"all images of a batch must have one shape (C, H, W), got {sorted(shapes)}; resize or "
                "crop them in the dataset"
            )
        return torch.stack(images), self._labels(labels)

    def __call__(self, batch: Sequence[Any]) -> tuple[torch.Tensor, MixedTargets | torch.Tensor]:
        images, labels = self.collate(batch)
        if labels.dtype == torch.bool or labels.is_floating_point():
            labels = labels.float()
        else:
            labels = labels.long()
        g = self._next_generator()
        targets: MixedTargets | None
        if self.mixup_enabled:
            x, out = self._float_buffers(images)
            x.copy_(images)
            mixed = self.mixer(x, labels, generator=g, num_classes=self.num_classes, out=out)
            result = mixed.inputs.round_().clamp_(0, 255).to(torch.uint8)  # a fresh tensor: the buffers stay private
            targets = mixed.targets
        else:
            result = images
            targets = self.mixer.mix_targets(labels, MixPlan.identity(images.shape[0]), num_classes=self.num_classes)
        assert targets is not None
        if not self.dense:
            return result, targets
        dense = targets.dense(self.num_classes, dtype=torch.float32)
        s = self.label_smoothing
        return result, (dense * (1.0 - s) + s / dense.shape[-1]) if s else dense

    def _float_buffers(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._buffers is None or self._buffers[0].shape != images.shape:
            self._buffers = (torch.empty(images.shape), torch.empty(images.shape))
        return self._buffers
