"""RandomMix: a ready preset of ``core:choice`` over mixup, CutMix, FMix and ResizeMix."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from mixup_core import Choice, create_mixer, mixer_dataclass

__all__ = ["DEFAULT_MIXERS", "DEFAULT_WEIGHTS", "RandomMix"]

DEFAULT_MIXERS: tuple[dict[str, Any], ...] = (
    {"name": "core:mixup"},
    {"name": "image:cutmix"},
    {"name": "image:fmix"},
    {"name": "image:resizemix"},
)
"""The candidate modes of RandomMix: linear (mixup) and mask mixes (CutMix, FMix, ResizeMix)."""

DEFAULT_WEIGHTS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
"""Equal weights for `DEFAULT_MIXERS`."""


def _default_mixers() -> list[Any]:
    return [dict(m) for m in DEFAULT_MIXERS]


def _default_weights() -> list[float]:
    return list(DEFAULT_WEIGHTS)


@mixer_dataclass
class RandomMix(Choice):
    """RandomMix: per batch, one mixing mode drawn from mixup, CutMix, FMix and ResizeMix.

    A `Choice` with the candidate modes of Liu, Shen, Zhao, Nie, *RandomMix: A
    mixed sample data augmentation method with multiple mixed modes* (arXiv:2205.08728; published as
    *RandoMix*, Multimedia Tools and Applications 2024): ``core:mixup``, ``image:cutmix``,
    ``image:fmix`` and ``image:resizemix``, each with its own defaults, drawn with equal weights.
    Each batch is mixed by one mode, and its labels follow that mode's rule (λ for mixup, the exact
    area or mask share for the others).

    Args:
        mixers: the candidate modes (names, mappings such as ``{"name": "image:cutmix", "alpha":
            0.5}`` or mixer instances); default the four above. FMix and ResizeMix must be
            installed for the default.
        weights: relative probability of each mode; default equal. When ``mixers`` is given with a
            different number of modes and ``weights`` is left at its default, the modes are drawn
            uniformly.
        **kwargs: ``p``, ``enabled`` and ``num_classes`` of `Mixer`.

    Examples:
        >>> mixer = RandomMix(mixers=["mixup", {"name": "image:cutmix", "mode": "sample"}],
        ...                   weights=[0.3, 0.7], num_classes=10)
        >>> out = mixer(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...             generator=torch.Generator().manual_seed(0))
        >>> out.plan.choice in (0, 1)
        True
        >>> create_mixer(mixer.to_config()) == mixer
        True
    """

    name: ClassVar[str] = "randommix"
    modality: ClassVar[str] = "image"
    paper: ClassVar[str] = (
        "Liu, Shen, Zhao, Nie, RandomMix: A mixed sample data augmentation method with multiple mixed modes, "
        "arXiv 2022, https://arxiv.org/abs/2205.08728"
    )
    example_shape: ClassVar[tuple[int, ...]] = (3, 16, 16)

    mixers: list[Any] = Field(default_factory=_default_mixers)
    weights: list[float] | None = Field(default_factory=_default_weights)

    def __post_init__(self) -> None:
        if self.weights == list(DEFAULT_WEIGHTS) and len(self.mixers) != len(DEFAULT_WEIGHTS):
            # custom modes without custom weights: uniform
            object.__setattr__(self, "weights", None)
        # the modes may be given by name (core's Choice takes built mixers only)
        object.__setattr__(self, "mixers", [create_mixer(m) for m in self.mixers])
        super().__post_init__()
