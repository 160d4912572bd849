"""Drop-in adapters with the call signatures of torchvision's and timm's mixup transforms.

A training script written for a peer library changes one line::

    # from torchvision.transforms.v2 import MixUp
    from mixup_image.adapters import TorchvisionMixUp as MixUp

    # from timm.data import Mixup
    from mixup_image.adapters import TimmMixup as Mixup

The adapters are built on this project's mixers (``core:mixup`` and ``image:cutmix``), so they
inherit their behaviour: the partner of each sample comes from the plan's pairing policy (a random
permutation without fixed points by default), odd batch sizes and batch size 1 work, the inputs are
never modified, and every random draw can come from an explicit ``torch.Generator``.

Differences from the peers, all deliberate:

* **Pairing.** torchvision pairs sample ``i`` with ``i − 1`` (``roll(1)``) and timm with ``B − 1 − i``
  (``flip(0)``), so both rely on a shuffled batch. The adapters use the mixers' ``pairing`` policy
  (default ``"random"``); ``pairing="flip"`` reproduces timm's partners exactly.
* **No mutation.** timm mixes ``x`` in place; `TimmMixup` returns a new tensor.
* **Odd batches.** timm asserts an even batch size; the adapters accept any size (with ``"flip"`` and
  an odd size, the middle sample stays unmixed).
"""

from __future__ import annotations

import collections.abc
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.utils._pytree as _pytree
from torch import nn

from mixup_core import MixedTargets, MixPlan, PairMixer, create_mixer

from ._base import BoxPlan, apply_mask, box_area_share, check_images
from .cutmix import CutMix

__all__ = ["TimmMixup", "TorchvisionCutMix", "TorchvisionMixUp"]

LabelsGetter = Literal["default"] | Callable[[Any], Any]


# ---------------------------------------------------------------------- small tree helpers
def _leaves(tree: Any) -> list[Any]:
    """Leaves of nested containers, in the order torchvision v2 uses (``torch.utils._pytree``)."""
    return _pytree.tree_flatten(tree)[0]


def _replace(tree: Any, new: dict[int, Any]) -> Any:
    """A copy of ``tree`` whose leaves ``l`` with ``id(l)`` in ``new`` are replaced.

    Rebuilt by ``torch.utils._pytree`` as torchvision v2 does, so every container keeps its type
    (``OrderedDict``, ``defaultdict`` with its factory, named tuples, lists, tuples).
    """
    leaves, spec = _pytree.tree_flatten(tree)
    return _pytree.tree_unflatten([new.get(id(leaf), leaf) for leaf in leaves], spec)


def _default_labels(inputs: Any) -> Any:
    """torchvision's default heuristic: the second item of a pair, or a label-like key of a mapping."""
    if isinstance(inputs, (tuple, list)):
        if len(inputs) < 2:
            raise ValueError(
                "with labels_getter='default', call the transform as t(images, labels), t((images, labels)) or "
                f"t({{'image': ..., 'labels': ...}}); got a {type(inputs).__name__} of length {len(inputs)}"
            )
        inputs = inputs[1]
    if isinstance(inputs, torch.Tensor):
        return inputs
    if not isinstance(inputs, collections.abc.Mapping):
        raise ValueError(
            "with labels_getter='default', the input must be a mapping or a pair whose second item is a mapping or "
            f"a tensor, got {type(inputs).__name__}"
        )
    keys = [k for k in inputs if isinstance(k, str)]
    key = next((k for k in keys if k.lower() == "labels"), None) or next(
        (k for k in keys if "label" in k.lower()), None
    )
    if key is None:
        raise ValueError(
            f"could not find the labels in a mapping with keys {sorted(map(str, inputs))}: use a key containing "
            "'label', or pass labels_getter=<callable>"
        )
    return inputs[key]


def _tv_kind(t: Any) -> str | None:
    """``"image"``/``"video"``/``"other"`` for torchvision tv_tensors and PIL images, ``None`` for pure tensors."""
    if type(t).__module__.startswith("PIL."):
        return "other"
    if "torchvision" not in sys.modules or not isinstance(t, torch.Tensor) or type(t) is torch.Tensor:
        return None
    from torchvision import tv_tensors

    if isinstance(t, tv_tensors.Video):
        return "video"
    if isinstance(t, tv_tensors.Image):
        return "image"
    if isinstance(t, tv_tensors.TVTensor):
        return "other"
    return None


def _float_probe(x: torch.Tensor) -> torch.Tensor:
    """``x`` if floating, else a float32 meta tensor of its shape (plans read shapes only)."""
    return x if x.is_floating_point() else torch.empty(x.shape, device="meta")


# ---------------------------------------------------------------------- torchvision
class _TorchvisionAdapter(nn.Module):
    """Shared call logic of `TorchvisionMixUp` and `TorchvisionCutMix` (``nn.Module``s, like
    torchvision's v2 transforms, so they go into ``nn.Sequential`` and ``v2.Compose``)."""

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        num_classes: int | None = None,
        labels_getter: LabelsGetter = "default",
        generator: torch.Generator | None = None,
        **mixer_params: Any,
    ) -> None:
        super().__init__()
        if labels_getter != "default" and not callable(labels_getter):
            raise ValueError(f"labels_getter must be 'default' or a callable, got {labels_getter!r}")
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ValueError(f"num_classes must be a positive int or None, got {num_classes!r}")
        self.alpha = float(alpha)
        self.num_classes = num_classes
        self.labels_getter = labels_getter
        self.generator = generator
        self.mixer: PairMixer = self._build(alpha=self.alpha, **mixer_params)
        self.last_plan: MixPlan | None = None
        """The plan of the last call (partners, shares, boxes), for audits and replay."""

    def _build(self, **params: Any) -> PairMixer:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha}, num_classes={self.num_classes}, mixer={self.mixer!r})"

    def _check_batch(self, x: torch.Tensor, kind: str | None, batch_size: int) -> None:
        expected = 5 if kind == "video" else 4
        if x.ndim != expected:
            raise ValueError(
                f"{type(self).__name__} expects a batched input with {expected} dims, got shape {tuple(x.shape)}"
            )
        if x.shape[0] != batch_size:
            raise ValueError(
                f"the batch size of the images ({x.shape[0]}) does not match that of the labels ({batch_size})"
            )

    def _as_mixer_input(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, *inputs: Any, generator: torch.Generator | None = None) -> Any:
        """Mix ``(images, labels)``, a ``(images, labels)`` tuple or a mapping, like torchvision.

        Returns the same structure with the images mixed and the labels replaced by float soft
        labels ``(B, num_classes)``. ``generator`` overrides the constructor's generator.
        """
        if not inputs:
            raise TypeError(f"{type(self).__name__} needs inputs: call it as t(images, labels) or t(sample)")
        sample = inputs if len(inputs) > 1 else inputs[0]
        leaves = _leaves(sample)
        if any(_tv_kind(leaf) == "other" for leaf in leaves):
            raise ValueError(
                f"{type(self).__name__}() does not support PIL images, bounding boxes, keypoints and masks"
            )
        getter = _default_labels if self.labels_getter == "default" else self.labels_getter
        labels = getter(sample)
        if not isinstance(labels, torch.Tensor):
            raise ValueError(f"the labels must be a tensor, got {type(labels).__name__}")
        if labels.ndim not in (1, 2):
            raise ValueError(
                "labels must be class indices (batch_size,) or probabilities (batch_size, num_classes), got "
                f"shape {tuple(labels.shape)}"
            )
        if labels.ndim == 2 and self.num_classes is not None and labels.shape[-1] != self.num_classes:
            raise ValueError(
                f"2-D labels must have num_classes={self.num_classes} columns, got shape {tuple(labels.shape)}"
            )
        if labels.ndim == 1 and self.num_classes is None:
            raise ValueError("num_classes must be given when the labels are class indices (1-D)")

        tensors = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor) and leaf is not labels]
        marked = [t for t in tensors if _tv_kind(t) in ("image", "video")]
        images = marked if marked else tensors[:1]
        if not images:
            raise TypeError(f"{type(self).__name__} found no image tensor in the input")
        n = labels.shape[0]
        for x in images:
            self._check_batch(x, _tv_kind(x), n)

        g = generator if generator is not None else self.generator
        first = self._as_mixer_input(images[0])
        targets = labels if labels.ndim == 1 else (labels if labels.is_floating_point() else labels.float())
        plan = self.mixer.sample(_float_probe(first), targets.long() if labels.ndim == 1 else targets, generator=g)
        self.last_plan = plan

        new: dict[int, Any] = {}
        for x in images:
            new[id(x)] = self._mix(x, plan)
        mixed_targets = MixedTargets.from_plan(targets, plan, num_classes=self.num_classes)
        new[id(labels)] = mixed_targets.dense(dtype=targets.dtype if targets.is_floating_point() else torch.float32)
        return _replace(sample, new)

    def _mix(self, x: torch.Tensor, plan: MixPlan) -> torch.Tensor:
        kind = _tv_kind(x)
        data = x.as_subclass(torch.Tensor) if kind is not None else x
        flat = self._as_mixer_input(data)
        if flat.is_floating_point():
            mixed = self.mixer.apply(flat, plan)
        else:  # integer images (uint8): mix in float32 and round back
            mixed = self.mixer.apply(flat.float(), plan).round_().to(flat.dtype)
        mixed = mixed.reshape(data.shape)
        if kind is not None:
            from torchvision import tv_tensors

            mixed = tv_tensors.wrap(mixed, like=x)
        return mixed


class TorchvisionMixUp(_TorchvisionAdapter):
    """``torchvision.transforms.v2.MixUp`` on top of ``core:mixup``.

    Called exactly like torchvision's transform: ``images, labels = t(images, labels)``, or with one
    sample ``t((images, labels))`` / ``t({"image": images, "labels": labels})`` (the labels are found
    by torchvision's default heuristic, or by ``labels_getter``). Images are ``(B, C, H, W)`` tensors
    (or ``tv_tensors.Image``/``Video``, which stay wrapped); the labels become float soft labels
    ``(B, num_classes)``. mixup is by Zhang et al., *mixup: Beyond Empirical Risk Minimization*,
    ICLR 2018 (arXiv:1710.09412).

    Like torchvision's, it is an ``nn.Module`` (``nn.Sequential``, ``v2.Compose``) and returns the
    input's own containers (``OrderedDict``, ``defaultdict``, named tuples are kept).

    Differences from torchvision: the partner of each sample is the plan's (a random permutation
    without fixed points), not ``roll(1)``, so the batch need not be shuffled; integer images are
    mixed in float and rounded back (torchvision raises); the plan of the last call is kept in
    ``last_plan``.

    Args:
        alpha: Beta(α, α) concentration of λ (default 1).
        num_classes: number of classes; required for class-index labels.
        labels_getter: ``"default"`` or a callable that returns the labels of the input.
        generator: CPU ``torch.Generator`` for every draw (``None``: torch's global generator);
            a ``generator=`` keyword of the call overrides it.
        **mixer_params: further `Mixup` parameters (``mode="sample"``,
            ``pairing="flip"`` …).

    Examples:
        >>> t = TorchvisionMixUp(num_classes=10, generator=torch.Generator().manual_seed(0))
        >>> images, labels = t(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3]))
        >>> labels.shape
        torch.Size([4, 10])
    """

    def _build(self, **params: Any) -> PairMixer:
        mixer = create_mixer("core:mixup", **params)
        assert isinstance(mixer, PairMixer)
        return mixer


class TorchvisionCutMix(_TorchvisionAdapter):
    """``torchvision.transforms.v2.CutMix`` on top of ``image:cutmix``.

    Same calls and outputs as `TorchvisionMixUp`. As in torchvision, one box is drawn for the
    batch and λ is corrected to the exact pixel share after clipping; videos ``(B, T, C, H, W)`` get
    the same box in every frame. CutMix is by Yun et al., *CutMix: Regularization Strategy to Train
    Strong Classifiers with Localizable Features*, ICCV 2019 (arXiv:1905.04899).

    Differences from torchvision: partners come from the plan (random permutation without fixed
    points instead of ``roll(1)``); the box side is ⌊√(1 − λ)·size⌋ (torchvision uses
    2·⌊½√(1 − λ)·size⌋); ``last_plan`` holds the `BoxPlan`.

    Args:
        alpha: Beta(α, α) concentration of λ (default 1).
        num_classes: number of classes; required for class-index labels.
        labels_getter: ``"default"`` or a callable that returns the labels of the input.
        generator: CPU ``torch.Generator`` (``None``: torch's global generator).
        **mixer_params: further `CutMix` parameters (``mode="sample"`` …).

    Examples:
        >>> t = TorchvisionCutMix(num_classes=10, generator=torch.Generator().manual_seed(0))
        >>> images, labels = t((torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])))
        >>> bool(torch.allclose(labels.sum(1), torch.ones(4)))
        True
    """

    def _build(self, **params: Any) -> PairMixer:
        return CutMix(**params)

    def _as_mixer_input(self, x: torch.Tensor) -> torch.Tensor:
        # a video's frames share one box: fold the time axis into the channels
        return x.reshape(x.shape[0], -1, *x.shape[-2:]) if x.ndim == 5 else x


# ---------------------------------------------------------------------- timm
class TimmMixup:
    """``timm.data.Mixup`` on top of ``core:mixup`` and ``image:cutmix``.

    ``x, target = mixup_fn(x, target)`` returns the mixed images and dense soft targets
    ``(B, num_classes)`` with timm's label smoothing (off value s/C, on value 1 − s + s/C, then mixed
    with the label weights; multi-label targets are smoothed towards 0.5). mixup and CutMix are
    switched with ``switch_prob`` when both are active; ``prob`` is the probability of mixing.

    Differences from timm:

    * ``mode="elem"`` and ``mode="pair"`` both map to per-sample mixing (one λ, one switch and one
      box per sample, vectorised); timm's ``"pair"`` mixes i and B − 1 − i symmetrically with a
      shared λ, which is not kept. With both methods active, mixup and CutMix each draw their own
      pairing and every sample takes the partner of the method it got (with ``pairing="flip"`` both
      are timm's partners).
    * partners come from ``pairing`` (default ``"random"``: a permutation without fixed points);
      ``pairing="flip"`` gives timm's ``flip(0)`` partners.
    * ``x`` is not modified in place; odd batch sizes are accepted.
    * as in timm, ``mixup_alpha``, ``cutmix_alpha``, ``mode``, ``mix_prob`` (and ``correct_lam``)
      may be changed between calls (a schedule, ``mixup_enabled = False`` at timm's
      ``--mixup-off-epoch``); each call uses their current values.
    * ``cutmix_minmax`` draws each box side uniformly from the integers in
      [⌊min·size⌋, ⌊max·size⌋) and places the box uniformly inside the image (timm's
      ``rand_bbox_minmax``); λ is then the exact kept pixel share. As in timm, ``cutmix_alpha`` is
      then forced to 1 and the drawn λ is not used for the box.

    Papers: Zhang et al., mixup, ICLR 2018 (arXiv:1710.09412); Yun et al., CutMix, ICCV 2019
    (arXiv:1905.04899).

    Args:
        mixup_alpha: Beta(α, α) of mixup; mixup is active if > 0.
        cutmix_alpha: Beta(α, α) of CutMix; CutMix is active if > 0.
        cutmix_minmax: ``(min, max)`` box side ratios, 0 ≤ min < max ≤ 1; activates CutMix.
        prob: probability of mixing a batch (per sample in the per-sample modes).
        switch_prob: probability of CutMix instead of mixup when both are active.
        mode: ``"batch"``, ``"pair"`` or ``"elem"``.
        correct_lam: recompute CutMix's λ from the clipped box area.
        label_smoothing: smoothing ``s`` of the dense targets, in [0, 1).
        num_classes: number of classes.
        multi_label: targets are dense multi-hot ``(B, num_classes)``, smoothed towards 0.5.
        generator: CPU ``torch.Generator`` for every draw (``None``: torch's global generator);
            a ``generator=`` keyword of the call overrides it.
        pairing: pairing policy of the mixers (``"random"`` or ``"flip"`` …).

    Examples:
        >>> mixup_fn = TimmMixup(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=10,
        ...                      generator=torch.Generator().manual_seed(0))
        >>> x, target = mixup_fn(torch.rand(5, 3, 16, 16), torch.arange(5))
        >>> target.shape, round(float(target.sum()), 4)
        (torch.Size([5, 10]), 5.0)
    """

    def __init__(
        self,
        mixup_alpha: float = 1.0,
        cutmix_alpha: float = 0.0,
        cutmix_minmax: Sequence[float] | None = None,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        mode: str = "batch",
        correct_lam: bool = True,
        label_smoothing: float = 0.1,
        num_classes: int = 1000,
        multi_label: bool = False,
        *,
        generator: torch.Generator | None = None,
        pairing: Any = "random",
    ) -> None:
        if cutmix_minmax is not None:
            if len(cutmix_minmax) != 2 or not (0.0 <= float(cutmix_minmax[0]) < float(cutmix_minmax[1]) <= 1.0):
                raise ValueError(f"cutmix_minmax must be (min, max) with 0 <= min < max <= 1, got {cutmix_minmax!r}")
            cutmix_minmax = (float(cutmix_minmax[0]), float(cutmix_minmax[1]))
            cutmix_alpha = 1.0  # as timm: the box comes from minmax, λ only decides whether to mix
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError(f"mixup_alpha and cutmix_alpha must be >= 0, got {mixup_alpha!r} and {cutmix_alpha!r}")
        if not (mixup_alpha > 0 or cutmix_alpha > 0):
            raise ValueError("one of mixup_alpha > 0, cutmix_alpha > 0 or cutmix_minmax must be set")
        if mode not in ("batch", "pair", "elem"):
            raise ValueError(f"mode must be 'batch', 'pair' or 'elem', got {mode!r}")
        for name, value in (("prob", prob), ("switch_prob", switch_prob)):
            if not (0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not (0.0 <= label_smoothing < 1.0):
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.mixup_alpha = float(mixup_alpha)
        self.cutmix_alpha = float(cutmix_alpha)
        self.cutmix_minmax: tuple[float, float] | None = cutmix_minmax
        self.mix_prob = float(prob)
        self.switch_prob = float(switch_prob)
        self.mode = mode
        self.correct_lam = correct_lam
        self.label_smoothing = float(label_smoothing)
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.generator = generator
        self.mixup_enabled = True
        """Set to ``False`` to stop mixing (the targets are still smoothed), as in timm."""
        self.last_plan: MixPlan | None = None
        """The plan of the last call (partners and anchor shares), for audits."""
        self.pairing = pairing
        self._mixup: PairMixer | None = None
        self._cutmix: CutMix | None = None
        self._built: tuple[Any, ...] | None = None
        self._build_mixers()

    def _build_mixers(self) -> None:
        """(Re)build the mixers from the current attributes.

        timm reads ``mixup_alpha``, ``cutmix_alpha``, ``mode`` and ``mix_prob`` on every call (a
        schedule may change them between epochs), so every call checks them and rebuilds the
        mixers when one has changed.
        """
        key = (self.mixup_alpha, self.cutmix_alpha, self.mode, self.mix_prob, self.correct_lam, repr(self.pairing))
        if key == self._built:
            return
        if self.mode not in ("batch", "pair", "elem"):
            raise ValueError(f"mode must be 'batch', 'pair' or 'elem', got {self.mode!r}")
        if self.mixup_alpha < 0 or self.cutmix_alpha < 0:
            raise ValueError(
                f"mixup_alpha and cutmix_alpha must be >= 0, got {self.mixup_alpha!r} and {self.cutmix_alpha!r}"
            )
        if not (0.0 <= self.mix_prob <= 1.0):
            raise ValueError(f"mix_prob must be in [0, 1], got {self.mix_prob!r}")
        per_sample = self.mode != "batch"
        common: dict[str, Any] = {
            "mode": "sample" if per_sample else "batch",
            "p": self.mix_prob if per_sample else 1.0,  # per batch, ``prob`` is drawn here
            "pairing": self.pairing,
        }
        self._mixup = None
        self._cutmix = None
        if self.mixup_alpha > 0:
            mixer = create_mixer("core:mixup", alpha=float(self.mixup_alpha), **common)
            assert isinstance(mixer, PairMixer)
            self._mixup = mixer
        if self.cutmix_alpha > 0:
            self._cutmix = CutMix(alpha=float(self.cutmix_alpha), correct_lam=self.correct_lam, **common)
        self._built = key

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(mixup_alpha={self.mixup_alpha}, cutmix_alpha={self.cutmix_alpha}, "
            f"cutmix_minmax={self.cutmix_minmax}, prob={self.mix_prob}, switch_prob={self.switch_prob}, "
            f"mode={self.mode!r}, correct_lam={self.correct_lam}, label_smoothing={self.label_smoothing}, "
            f"num_classes={self.num_classes})"
        )

    # ------------------------------------------------------------------ plans
    def _cutmix_plan(self, x: torch.Tensor, targets: torch.Tensor | None, g: torch.Generator | None) -> MixPlan:
        assert self._cutmix is not None
        if self.cutmix_minmax is None:
            return self._cutmix.sample(x, targets, generator=g)
        n = x.shape[0]
        size = (int(x.shape[-2]), int(x.shape[-1]))
        index, lam = self._cutmix.draw(n, targets, generator=g)  # pairing, per-sample prob, self-pairs
        boxes = _minmax_boxes(n if self.mode != "batch" else 1, size, self.cutmix_minmax, g).expand(n, 4)
        boxes = torch.where((lam < 1)[:, None], boxes, torch.zeros_like(boxes))
        return BoxPlan(index=index, lam=1.0 - box_area_share(boxes, size), boxes=boxes, size=size)

    def _mix(
        self, x: torch.Tensor, targets: torch.Tensor | None, g: torch.Generator | None
    ) -> tuple[torch.Tensor, MixPlan]:
        n = x.shape[0]
        both = self._mixup is not None and self._cutmix is not None
        if self.mode == "batch":
            if self.mix_prob < 1.0 and bool(torch.rand(1, generator=g) >= self.mix_prob):
                return x, MixPlan.identity(n)
            use_cutmix = self._mixup is None or (both and bool(torch.rand(1, generator=g) < self.switch_prob))
            if use_cutmix:
                assert self._cutmix is not None
                plan = self._cutmix_plan(x, targets, g)
                return self._cutmix.apply(x, plan), plan
            assert self._mixup is not None
            plan = self._mixup.sample(x, targets, generator=g)
            return self._mixup.apply(x, plan), plan
        # per sample: one switch, one λ and one box per sample, applied as one per-pixel mask
        if not both:
            # not both: exactly one of the two is built
            mixer: PairMixer = self._mixup if self._mixup is not None else self._cutmix  # type: ignore[assignment]
            plan = self._cutmix_plan(x, targets, g) if mixer is self._cutmix else mixer.sample(x, targets, generator=g)
            return mixer.apply(x, plan), plan
        assert self._mixup is not None
        assert self._cutmix is not None
        switch = torch.rand(n, generator=g) < self.switch_prob
        plan_m = self._mixup.sample(x, targets, generator=g)
        plan_c = self._cutmix_plan(x, targets, g)
        index = torch.where(switch, plan_c.index, plan_m.index)
        lam = torch.where(switch, plan_c.lam, plan_m.lam)
        size = (int(x.shape[-2]), int(x.shape[-1]))
        box_keep = self._cutmix.anchor_mask(plan_c, size, x.device)
        flat = plan_m.lam.to(x.device, non_blocking=True).view(-1, 1, 1, 1)
        mask = torch.where(switch.to(x.device, non_blocking=True).view(-1, 1, 1, 1), box_keep, flat)
        plan = MixPlan(index=index, lam=lam)
        if plan.is_identity:
            return x, plan
        return apply_mask(x, index, mask), plan

    # ------------------------------------------------------------------ call
    def __call__(
        self, x: torch.Tensor, target: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix a batch: returns ``(mixed x, dense smoothed targets (B, num_classes) float32)``.

        Args:
            x: ``(B, C, H, W)`` floating images (not modified).
            target: class indices ``(B,)``; or dense ``(B, num_classes)`` targets (multi-hot with
                ``multi_label=True``, soft otherwise).
            generator: overrides the constructor's generator for this call.
        """
        x = check_images(x, "x")
        if not isinstance(target, torch.Tensor):
            raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
        n, k = x.shape[0], self.num_classes
        if target.ndim == 1 and not self.multi_label:
            if target.is_floating_point() or target.shape[0] != n:
                raise ValueError(
                    f"target must be class indices of shape ({n},), got dtype {target.dtype} and "
                    f"shape {tuple(target.shape)}"
                )
            labels: torch.Tensor = target.long()
        elif target.ndim == 2 and tuple(target.shape) == (n, k):
            labels = target.float()
        else:
            want = f"({n}, {k})" if self.multi_label else f"({n},) or ({n}, {k})"
            raise ValueError(f"target must have shape {want}, got shape {tuple(target.shape)}")
        g = generator if generator is not None else self.generator
        if self.mixup_enabled:
            self._build_mixers()
            if self._mixup is None and self._cutmix is None:
                raise ValueError(
                    "one of mixup_alpha > 0, cutmix_alpha > 0 or cutmix_minmax must be set to mix, got "
                    f"mixup_alpha={self.mixup_alpha!r}, cutmix_alpha={self.cutmix_alpha!r} (set "
                    "mixup_enabled=False to stop mixing)"
                )
            mixed, plan = self._mix(x, labels, g)
        else:
            mixed, plan = x, MixPlan.identity(n)
        self.last_plan = plan
        dense = MixedTargets.from_plan(labels, plan, num_classes=k).dense(k)
        s = self.label_smoothing
        if s > 0:
            # smoothing is linear and the weights sum to 1, so smoothing after mixing equals timm's
            # mixing of smoothed one-hot targets
            dense = dense * (1.0 - s) + (0.5 * s if self.multi_label else s / k)
        return mixed, dense


def _minmax_boxes(
    count: int, size: tuple[int, int], minmax: tuple[float, float], generator: torch.Generator | None
) -> torch.Tensor:
    """Boxes with sides drawn from [⌊min·size⌋, ⌊max·size⌋), placed uniformly inside the image.

    The rule of timm's ``rand_bbox_minmax`` (after Darknet's CutMix), from torch draws.

    Returns:
        long ``(count, 4)`` boxes ``(y0, y1, x0, x1)``, half-open, never clipped.
    """
    h, w = size
    sizes = torch.tensor([h, w], dtype=torch.float64)
    lo = (sizes * minmax[0]).floor()
    hi = torch.maximum((sizes * minmax[1]).floor(), lo + 1)
    cut = (lo + torch.rand((count, 2), generator=generator, dtype=torch.float64) * (hi - lo)).floor()
    cut = torch.minimum(cut, sizes)
    start = (torch.rand((count, 2), generator=generator, dtype=torch.float64) * (sizes - cut + 1)).floor()
    start, cut = start.long(), cut.long()
    return torch.stack([start[:, 0], start[:, 0] + cut[:, 0], start[:, 1], start[:, 1] + cut[:, 1]], dim=1)
