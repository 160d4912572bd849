"""SnapMix: a resized box of the partner in a box of the anchor, labels from class activation maps."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from mixup_core import MixedTargets, MixPlan, mixer_dataclass

from ._base import BoxPlan, box_area_share, box_mask, sample_boxes
from ._guided import GuidedImageMixer, check_feature_maps, energy_maps, keep_memory_format, labels_of, run_model

__all__ = ["SnapMix", "SnapMixPlan", "resize_box_grid", "semantic_percentage_maps"]


@dataclass(frozen=True, kw_only=True)
class SnapMixPlan(BoxPlan):
    """The plan of a `SnapMix` batch.

    Args:
        boxes: long ``(B, 4)`` ``(y0, y1, x0, x1)``: the box cut in each anchor (filled from the
            partner); empty for samples left unmixed. ``lam`` is the anchor's exact pixel share.
        size: the ``(H, W)`` the boxes were drawn for.
        source_boxes: long ``(B, 4)``: the box of the partner that is resized into ``boxes``.
        rho_a: float32 ``(B,)``: 1 − the anchor's semantic percentage inside its cut box.
        rho_b: float32 ``(B,)``: the partner's semantic percentage inside its source box.
            Both are before the same-label rule, which `SnapMix.mix_targets` applies.
    """

    source_boxes: torch.Tensor
    rho_a: torch.Tensor
    rho_b: torch.Tensor


def semantic_percentage_maps(class_maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Semantic Percentage Maps: class activation maps upsampled to ``size``, shifted to a minimum of 0
    and divided by their sum.

    Args:
        class_maps: ``(B, h, w)``: each image's activation map for its class.
        size: the image ``(H, W)``.

    Returns:
        float32 ``(B, H, W)`` summing to 1 per image (``nan`` for a constant map, which has no
        semantic content; SnapMix then falls back to the area).
    """
    maps = F.interpolate(class_maps.float()[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    maps = maps - maps.amin(dim=(1, 2), keepdim=True)
    return maps / maps.sum(dim=(1, 2), keepdim=True)


def resize_box_grid(
    boxes: torch.Tensor,
    sources: torch.Tensor,
    size: tuple[int, int],
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """A ``grid_sample`` grid ``(B, H, W, 2)`` that maps each box of ``boxes`` onto the box of ``sources``.

    Inside box ``i`` the grid reads box ``i`` of ``sources`` stretched to its size, bilinearly with
    ``align_corners=True`` (as ``F.interpolate(crop, box_size, mode="bilinear", align_corners=True)``):
    per sample an axis-aligned affine map, so the whole batch is one ``grid_sample``. Outside the box
    the grid points at the source box's border (callers keep the anchor's pixels there).
    """
    h_img, w_img = size
    b = boxes.to(device=device, dtype=dtype, non_blocking=True)
    s = sources.to(device=device, dtype=dtype, non_blocking=True)

    def axis(length: int, lo: torch.Tensor, hi: torch.Tensor, s_lo: torch.Tensor, s_hi: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(length, device=device, dtype=dtype)[None, :]
        scale = (s_hi - s_lo - 1).clamp(min=0) / (hi - lo - 1).clamp(min=1)
        src = s_lo + (pos - lo) * scale  # source pixel coordinate, exact at the box corners
        src = torch.minimum(torch.maximum(src, s_lo), (s_hi - 1).clamp(min=0))
        return src * (2.0 / (length - 1)) - 1.0 if length > 1 else torch.zeros_like(src)

    gy = axis(h_img, b[:, 0:1], b[:, 1:2], s[:, 0:1], s[:, 1:2])  # (B, H)
    gx = axis(w_img, b[:, 2:3], b[:, 3:4], s[:, 2:3], s[:, 3:4])  # (B, W)
    n = boxes.shape[0]
    return torch.stack([gx[:, None, :].expand(n, h_img, w_img), gy[:, :, None].expand(n, h_img, w_img)], dim=-1)


@mixer_dataclass
class SnapMix(GuidedImageMixer):
    """SnapMix: a random box of the partner, resized into a box of the anchor, with labels from CAMs.

    Huang, Wang and Tao, *SnapMix: Semantically Proportional Mixing for Augmenting Fine-grained
    Data*, AAAI 2021, arXiv:2012.04846 (reference code: Shaoli-Huang/SnapMix ``utils/mixmethod.py``;
    OpenMixup ``snapmix.py``). Per batch:

    1. A box is cut in each anchor with area 1 − λ, λ ~ Beta(α, α), and a **different** box, of area
       1 − λ′ with a second draw λ′, is taken from the partner and resized (bilinear,
       ``align_corners=True``) into it. Pixels outside the cut box are the anchor's.
    2. Class activation maps of the clean batch (ReLU'd features × the classifier's weights, plus its
       bias, for each image's own class) are upsampled to the image and normalised into Semantic
       Percentage Maps (SPM: shifted to a minimum of 0, divided by their sum).
    3. The label weights are **asymmetric and not normalised**: ρ_a = 1 − Σ SPM_a(cut box),
       ρ_b = Σ SPM_b(source box). When y_a = y_b the two are summed. A constant CAM (no semantic
       content, ``nan`` SPM) falls back to the area: ρ_a = λ, ρ_b = 1 − λ.

    The CAMs come from the model, given explicitly (at construction or per call)::

        mixer = SnapMix(model=net.features, classifier=net.fc)   # (B, C, h, w) features + nn.Linear head
        out = mixer(x, y, generator=g)
        out = SnapMix()(x, y, features=feats, classifier=net.fc)  # features of the clean batch
        out = SnapMix()(x, y, cam=cams)                           # (B, K, h, w) CAMs, or a callable

    ``mix_targets`` returns `MixedTargets` whose weights ``(B, 2)`` are
    ``(ρ_a, ρ_b)``; they need not sum to 1, and `mixed_cross_entropy` or
    `soft_cross_entropy` use them as given. The model runs as it is (train or
    eval mode), under ``torch.no_grad()``, and only when something is mixed; without targets the
    CAM of each image's predicted class (the argmax of the CAM's spatial mean) is used.

    Args:
        relu_features: apply ReLU to the features before the classifier weights, as the reference
            code does (default ``True``; a no-op for ResNet features).
        same_label: ``"reference"`` (default) sets both weights of a pair of the same class to
            ρ_a + ρ_b, as the authors' code does (``lam_a[same] += lam_b[same]`` and the converse),
            so that class counts twice in the two-term loss; ``"sum"`` gives it the single weight
            ρ_a + ρ_b (weights ``(ρ_a + ρ_b, 0)``), counted once.
        model: a feature extractor mapping the inputs to ``(B, C, h, w)`` (the network's last
            convolutional features). Runtime references, left out of `to_config`.
        classifier: the linear head on the pooled features: an ``nn.Linear`` (or a ``(K, C)`` weight
            tensor).
        cam: class activation maps instead of model and classifier: a callable mapping the inputs
            to ``(B, K, h, w)``, or (in a call) the tensor itself; ``(B, h, w)`` maps are taken as
            each image's own-class map.
        **kwargs: λ (both λ and λ′ follow it; per batch or per sample by ``mode``), pairing and
            protection options of `PairMixer`.

    Call arguments (the call's `GuidanceContext`, each overriding the constructor's): ``cam``,
    ``(B, K, h, w)`` (or own-class ``(B, h, w)``) CAMs, or a callable producing them; ``features``, the
    clean batch's ``(B, C, h, w)`` features (used with ``classifier``); ``model``, a feature extractor;
    ``classifier``, the linear head. Targets may be class indices or ``(B, K)`` scores (their argmax
    picks each CAM).

    Note: ``mode="batch"`` uses one cut box and one source box for the batch (as the reference)
       and resizes with ``F.interpolate``; ``mode="sample"`` draws both boxes per sample and resizes
       every pair in one ``grid_sample``. The ρ weights (``B`` floats) are copied to the CPU for the
       plan, one small transfer per batch.

    Examples:
        >>> net = torch.nn.Conv2d(3, 8, 3, padding=1)
        >>> head = torch.nn.Linear(8, 10)
        >>> mixer = SnapMix(model=net, classifier=head, num_classes=10)
        >>> out = mixer(torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.targets.weights.shape
        torch.Size([4, 2])
    """

    name: ClassVar[str] = "snapmix"
    paper: ClassVar[str] = "Huang et al., SnapMix, AAAI 2021, https://arxiv.org/abs/2012.04846"
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "forward"
    runtime_fields: ClassVar[tuple[str, ...]] = ("model", "classifier", "cam")
    guidance_args: ClassVar[tuple[str, ...]] = ("features", "model", "classifier", "cam")
    label_follows_share: ClassVar[bool] = False

    relu_features: bool = True
    same_label: Literal["sum", "reference"] = "reference"
    model: Any = dataclasses.field(default=None, compare=False, repr=False)
    classifier: Any = dataclasses.field(default=None, compare=False, repr=False)
    cam: Any = dataclasses.field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ public protocol
    @classmethod
    def example_call_kwargs(
        cls, inputs: torch.Tensor, targets: torch.Tensor | None, num_classes: int
    ) -> dict[str, Any]:
        """``cam=``: 7×7 local-energy maps of ``inputs`` as every image's own-class map (a model-free stand-in)."""
        return {"cam": energy_maps(inputs)}

    def mix_targets(self, targets: torch.Tensor, plan: MixPlan, *, num_classes: int | None = None) -> MixedTargets:
        """Targets with the weights ``(ρ_a, ρ_b)`` of the plan, after the same-label rule."""
        mixed = super().mix_targets(targets, plan, num_classes=num_classes)
        if not isinstance(plan, SnapMixPlan):
            return mixed
        device = targets.device
        rho_a = plan.rho_a.to(device, non_blocking=True)
        rho_b = plan.rho_b.to(device, non_blocking=True)
        idx = plan.index.to(device, non_blocking=True)
        same = targets == targets[idx]
        if same.ndim > 1:
            same = same.flatten(1).all(dim=1)
        same &= (plan.lam < 1).to(device, non_blocking=True)
        both = rho_a + rho_b
        w_a = torch.where(same, both, rho_a)
        w_b = torch.where(same, both if self.same_label == "reference" else torch.zeros_like(rho_b), rho_b)
        return mixed.with_weights(torch.stack([w_a, w_b], dim=1))

    # ------------------------------------------------------------------ internals
    def check_guidance(self, inputs: torch.Tensor) -> None:
        n = inputs.shape[0]
        source = self._source("cam", "features", "model")
        if source is None:
            raise TypeError(
                "SnapMix needs class activation maps: pass model=<a feature extractor returning (B, C, h, w)> with "
                "classifier=<its nn.Linear head>, features=<(B, C, h, w) features of the batch> with classifier=, "
                "or cam=<(B, K, h, w) maps or a callable>; got none of model, features, cam"
            )
        kind, value = source
        if kind == "cam":
            if isinstance(value, torch.Tensor):
                check_feature_maps(value, n, name="cam", ndims=(3, 4))
            elif not callable(value):
                raise TypeError(
                    f"cam must be a (B, K, h, w) tensor or a callable returning one, got {type(value).__name__}"
                )
            return
        classifier = self._arg("classifier")
        if classifier is None:
            raise TypeError(
                "SnapMix computes CAMs as features × classifier weights and needs classifier=<the nn.Linear head "
                "(or a (K, C) weight tensor)>, got classifier=None"
            )
        weight, _ = _classifier_weights(classifier)
        if kind == "features":
            _check_channels(check_feature_maps(value, n, name="features"), weight)
        elif not callable(value):
            raise TypeError(
                f"model must be an nn.Module or a callable returning (B, C, h, w) features, got {type(value).__name__}"
            )

    def _class_maps(self, inputs: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Each image's class activation map for its class (or predicted class), float32 ``(B, h, w)``."""
        n = inputs.shape[0]
        source = self._source("cam", "features", "model")
        if source is None:  # sample() checked this already; _make_plan may be reached directly
            raise TypeError("SnapMix needs cam=, features= or model= (with classifier=)")
        kind, value = source
        if kind == "cam":
            cam = value
            if not isinstance(cam, torch.Tensor):
                with torch.no_grad():
                    cam = cam(inputs)
                cam = check_feature_maps(cam, n, name="the output of cam", ndims=(3, 4))
            cam = cam.detach().float()
            if cam.ndim == 3:
                return cam
            if labels is None:
                labels = cam.mean(dim=(2, 3)).argmax(dim=1)
            labels = _check_labels(labels, int(cam.shape[1]), cam.device)
            return cam[torch.arange(n, device=cam.device), labels]
        features = run_model(value, inputs) if kind == "model" else value
        features = check_feature_maps(features, n, name="features").float()
        if self.relu_features:
            features = features.relu()
        weight, bias = _classifier_weights(self._arg("classifier"))
        _check_channels(features, weight)
        weight = weight.to(features.device, torch.float32)
        bias = (
            torch.zeros(weight.shape[0], device=features.device)
            if bias is None
            else bias.to(features.device, torch.float32)
        )
        if labels is None:
            labels = (features.mean(dim=(2, 3)) @ weight.T + bias).argmax(dim=1)
        labels = _check_labels(labels, int(weight.shape[0]), features.device)
        return torch.einsum("bchw,bc->bhw", features, weight[labels]) + bias[labels][:, None, None]

    def _make_plan(
        self, inputs: torch.Tensor, index: torch.Tensor, lam: torch.Tensor, *, generator: torch.Generator | None
    ) -> MixPlan:
        n = index.shape[0]
        size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        batch = self.mode == "batch"
        boxes = sample_boxes(lam, size, generator, shared=batch and bool((lam == lam[0]).all()))
        lam_source = self.lam_policy.sample(1 if batch else n, generator).expand(n).clone()
        sources = sample_boxes(lam_source, size, generator, shared=batch)
        active = (index != torch.arange(n)) & (box_area_share(boxes, size) > 0) & (box_area_share(sources, size) > 0)
        boxes = torch.where(active[:, None], boxes, torch.zeros_like(boxes))
        sources = torch.where(active[:, None], sources, torch.zeros_like(sources))
        share = 1.0 - box_area_share(boxes, size)
        return SnapMixPlan(
            index=index, lam=share, boxes=boxes, size=size, source_boxes=sources, rho_a=share, rho_b=1.0 - share
        )

    def _sample(self, inputs, targets, *, generator, protected, groups):
        plan = super()._sample(inputs, targets, generator=generator, protected=protected, groups=groups)
        if plan.is_identity or not isinstance(plan, SnapMixPlan):
            return plan
        labels = None if targets is None else labels_of(targets)
        spm = semantic_percentage_maps(self._class_maps(inputs, labels), plan.size)
        device = spm.device
        cut = box_mask(plan.boxes, plan.size, device)[:, 0]
        source = box_mask(plan.source_boxes, plan.size, device)[:, 0]
        idx = plan.index.to(device, non_blocking=True)
        rho_a, rho_b = torch.stack([1.0 - (spm * cut).sum(dim=(1, 2)), (spm[idx] * source).sum(dim=(1, 2))]).cpu()
        share = plan.lam
        active = share < 1
        rho_a = torch.where(rho_a.isnan(), share, rho_a)
        rho_b = torch.where(rho_b.isnan(), 1.0 - share, rho_b)
        rho_a = torch.where(active, rho_a, torch.ones_like(rho_a)).float()
        rho_b = torch.where(active, rho_b, torch.zeros_like(rho_b)).float()
        return dataclasses.replace(plan, rho_a=rho_a, rho_b=rho_b)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(plan, SnapMixPlan):
            raise TypeError(f"SnapMix.apply needs a SnapMixPlan, got {type(plan).__name__}")
        size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
        if plan.size != size:
            raise ValueError(
                f"the plan's boxes were drawn for size {plan.size}, but inputs.shape={tuple(inputs.shape)}"
            )
        idx = plan.index.to(inputs.device, non_blocking=True)
        # resize in float32 at least: half-precision grids are too coarse for sub-pixel positions
        work = torch.float32 if inputs.dtype in (torch.float16, torch.bfloat16) else inputs.dtype
        boxes, sources = plan.boxes, plan.source_boxes
        paired = bool((plan.index != torch.arange(plan.batch_size)).all())
        if paired and bool((boxes == boxes[0]).all()) and bool((sources == sources[0]).all()):
            # one box pair for the whole batch: resize only that crop
            y0, y1, x0, x1 = (int(v) for v in boxes[0])
            sy0, sy1, sx0, sx1 = (int(v) for v in sources[0])
            mixed = inputs.clone()
            crop = inputs[idx, :, sy0:sy1, sx0:sx1].to(work)
            resized = F.interpolate(crop, size=(y1 - y0, x1 - x0), mode="bilinear", align_corners=True)
            mixed[:, :, y0:y1, x0:x1] = resized.to(inputs.dtype)
            return mixed
        grid = resize_box_grid(boxes, sources, size, device=inputs.device, dtype=work)
        warped = F.grid_sample(inputs[idx].to(work), grid, mode="bilinear", padding_mode="border", align_corners=True)
        inside = box_mask(boxes, size, inputs.device)
        return keep_memory_format(torch.where(inside, warped.to(inputs.dtype), inputs), inputs)


def _classifier_weights(classifier: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(weight (K, C), bias (K,) or None)`` of an ``nn.Linear``-like head or a weight tensor, detached."""
    weight: object
    bias: object
    if isinstance(classifier, torch.Tensor):
        weight, bias = classifier, None
    else:
        weight, bias = getattr(classifier, "weight", None), getattr(classifier, "bias", None)
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        got = f"shape {tuple(weight.shape)}" if isinstance(weight, torch.Tensor) else type(classifier).__name__
        raise TypeError(f"classifier must be an nn.Linear (weight (K, C)) or a (K, C) weight tensor, got {got}")
    return weight.detach(), (bias.detach() if isinstance(bias, torch.Tensor) else None)


def _check_channels(features: torch.Tensor, weight: torch.Tensor) -> None:
    if features.shape[1] != weight.shape[1]:
        raise ValueError(
            f"features have {features.shape[1]} channels but the classifier takes {weight.shape[1]} (weight "
            f"shape {tuple(weight.shape)})"
        )


def _check_labels(labels: torch.Tensor, n_classes: int, device: torch.device) -> torch.Tensor:
    if labels.device.type == "cpu" and labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        bad = int(labels.max()) if int(labels.max()) >= n_classes else int(labels.min())
        raise ValueError(f"targets contain the class {bad}, but the class activation maps have {n_classes} classes")
    return labels.to(device, non_blocking=True)
