"""Manifold Mixup: mixup of hidden states at a randomly chosen layer of any ``nn.Module``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from mixup_core import MixedForward, MixPlan, PairMixer, forward_mixed, lerp_pairs, mixer_dataclass

__all__ = ["INPUT_LAYER", "ManifoldMixup", "default_layers"]

INPUT_LAYER = "input"
"""The entry of ``ManifoldMixup.layers`` that stands for the input itself (layer k = 0 of the paper)."""

_BLOCK_CONTAINERS = ("layers", "stages", "blocks", "features", "layer")


def _stages(model: nn.Module) -> list[str]:
    """The dotted names of the model's sequence of blocks, or ``[]`` when none is recognised."""
    children = dict(model.named_children())
    numbered = [f"layer{k}" for k in range(1, 100) if f"layer{k}" in children]
    if len(numbered) >= 2:  # torchvision / timm ResNet family: layer1 … layer4
        return numbered
    for prefix in ("", "encoder.", "backbone.", "model."):
        for name in _BLOCK_CONTAINERS:
            container = model.get_submodule(prefix + name) if _has(model, prefix + name) else None
            if isinstance(container, (nn.Sequential, nn.ModuleList)) and len(container) >= 2:
                return [f"{prefix}{name}.{child}" for child, _ in container.named_children()]
    if isinstance(model, nn.Sequential):
        # a plain stack: the children that hold parameters, all but the last (the head)
        weighted = [n for n, m in model.named_children() if any(True for _ in m.parameters())]
        return weighted[:-1]
    return []


def _has(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


def default_layers(model: nn.Module) -> list[str]:
    """The layers ``ManifoldMixup`` draws from when none are given: the input and the first half
    (rounded up) of the model's blocks, as the reference does for its ResNets (k ∈ {0, 1, 2}: the
    input and the outputs of the first two of four residual stages).

    The blocks are the ``layer1``, ``layer2``, … children (torchvision's and timm's ResNets), else the
    children of the first ``nn.Sequential``/``nn.ModuleList`` named ``layers``, ``stages``,
    ``blocks``, ``features`` or ``layer`` (also under ``encoder.``, ``backbone.`` or ``model.``: timm's
    ViT and ConvNeXt, Hugging Face encoders), else, for an ``nn.Sequential`` model, its children
    with parameters but the last.

    Raises:
        ValueError: when no block sequence is found; pass ``layers`` explicitly then.
    """
    stages = _stages(model)
    if not stages:
        known = [n for n, _ in model.named_children()]
        raise ValueError(
            f"ManifoldMixup: layers were not given and no sequence of blocks was found in {type(model).__name__} "
            f"(children: {', '.join(known[:12]) or 'none'}); pass layers=[...] with the modules to mix after, "
            f"e.g. layers=['input', '{known[0] if known else 'block1'}'], or layers=['input'] for input mixup"
        )
    return [INPUT_LAYER, *stages[: (len(stages) + 1) // 2]]


@mixer_dataclass
class ManifoldMixup(PairMixer):
    """Manifold Mixup: mix the hidden states of a random layer, one stream, labels as in mixup.

    `forward` draws a layer k uniformly from ``layers`` (``"input"`` stands for k = 0, the
    input itself, as in the paper; without ``layers``, from `default_layers` of the model: the
    input and the first half of its blocks, as the reference), samples a pairing and λ for the batch,
    and runs the model once with the output of layer k replaced by λ·h + (1 − λ)·h[index] (a forward hook, through
    `mixup_core.forward_mixed` / `mixup_core.replay_at`); the targets are mixed with
    the same λ (Verma, Lamb, Beckham, Najafi, Mitliagkas, Lopez-Paz, Bengio, *Manifold Mixup:
    Better Representations by Interpolating Hidden States*, ICML 2019, arXiv:1806.05236).

    Called like any mixer (``mixer(x, y, generator=g)``) it mixes the inputs themselves, i.e. it is
    input mixup; use `forward` with a model for the hidden-layer mix.

    Args:
        layers: dotted names of submodules (as in ``model.named_modules()``) to draw from, and
            ``"input"`` for the input level. Empty (default): `default_layers` of the model given
            to `forward` — the input and the first half of its blocks, ``["input", "layer1",
            "layer2"]`` for a torchvision or timm ResNet, as the reference code; a model whose
            blocks are not recognised is refused with an error. ``["input"]`` is input mixup.
            Repeating a name makes it more likely.
        where: mix the chosen module's ``"output"`` (default) or its ``"input"``.
        alpha: Beta(α, α) concentration of λ; default 2.0, the paper's CIFAR setting.
        **kwargs: the λ, ``mode``, pairing and protection options of `PairMixer`
            and ``p``, ``enabled``, ``num_classes`` of `Mixer`.

    Note: A module whose output is a tuple (a transformer block) has its first item mixed.
       Layers with batch statistics (BatchNorm in training mode) see the mixed batch after the hook,
       as in the paper's implementation.

    Examples:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))
        >>> mixer = ManifoldMixup(layers=["input", "0", "1"], num_classes=10)
        >>> res = mixer.forward(net, torch.rand(8, 3, 16, 16), torch.randint(0, 10, (8,)),
        ...                     generator=torch.Generator().manual_seed(0))
        >>> res.layer in ("", "0", "1"), res.output.shape
        (True, torch.Size([8, 10]))
    """

    name: ClassVar[str] = "manifold"
    modality: ClassVar[str] = "image"
    paper: ClassVar[str] = (
        "Verma et al., Manifold Mixup: Better Representations by Interpolating Hidden States, ICML 2019, "
        "https://arxiv.org/abs/1806.05236"
    )
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "hook"
    example_shape: ClassVar[tuple[int, ...]] = (3, 16, 16)

    alpha: float = Field(default=2.0, gt=0, allow_inf_nan=False)
    layers: list[str] = Field(default_factory=list)
    where: Literal["output", "input"] = "output"

    @field_validator("layers")
    @classmethod
    def _check_layers(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not v.strip()]
        if bad:
            raise ValueError(
                f"layers must be dotted module names or {INPUT_LAYER!r}, got an empty name in layers={value!r}"
            )
        return value

    def draw_layer(self, generator: torch.Generator | None = None, *, model: nn.Module | None = None) -> str:
        """Draw the layer to mix at: a name from ``layers``, or ``""`` for the input.

        Without ``layers``, the names come from `default_layers` of ``model`` (the input alone when
        no model is given, without a draw). One ``torch.randint`` draw from ``generator`` otherwise.
        """
        if not self.layers and model is None:
            return ""
        layers = self.layers or default_layers(model)  # type: ignore[arg-type]  # model: given, checked above
        choice = layers[int(torch.randint(len(layers), (1,), generator=generator))]
        return "" if choice == INPUT_LAYER else choice

    def forward(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        num_classes: int | None = None,
        **model_kwargs: Any,
    ) -> MixedForward:
        """Run ``model`` once with the mix at a random layer (Manifold Mixup).

        Args:
            model: the network; the names in ``layers`` must be its submodules.
            inputs: the model's first positional argument, ``(B, ...)`` floating.
            targets: class indices ``(B,)`` or float targets, as for a mixer call.
            generator: CPU generator: the layer is drawn first, then the pairs and λ.
            num_classes: overrides the mixer's ``num_classes`` for class-index targets.
            **model_kwargs: passed to ``model``.

        Returns:
            `MixedForward`: ``output`` (what the model returned), ``targets``
            (mixed with the plan's λ), ``plan`` and ``layer`` (the module's name, ``""`` for the
            input).
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        self.check_inputs(inputs)
        self._check_model_layers(model)
        if generator is not None and not (isinstance(generator, torch.Generator) and generator.device.type == "cpu"):
            raise TypeError(
                f"generator must be a CPU torch.Generator or None, got {type(generator).__name__}: {generator!r}"
            )
        layer = self.draw_layer(generator, model=model)
        k = num_classes if num_classes is not None else self.num_classes
        return forward_mixed(
            model,
            inputs,
            targets,
            mixer=self,
            layers=layer or None,
            generator=generator,
            num_classes=k,
            where=self.where,
            **model_kwargs,
        )

    def _check_model_layers(self, model: nn.Module) -> None:
        names = dict(model.named_modules())
        missing = [name for name in self.layers if name != INPUT_LAYER and name not in names]
        if missing:
            known = [n for n in names if n]
            shown = ", ".join(known[:20]) + (" …" if len(known) > 20 else "")
            raise ValueError(
                f"layers {missing!r} are not submodules of {type(model).__name__}; "
                f"use {INPUT_LAYER!r} or one of: {shown or 'none'}"
            )

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        return lerp_pairs(inputs, plan, out=out, mixer=type(self).__name__)
