"""Entry point of the ``image`` plugin: registers the image mixers with mixup-core."""

from __future__ import annotations

from mixup_core import MixerRegistry, hookimpl

from ._preview import mixup_preview  # noqa: F401  (the `mixup preview` hook)
from .attentivemix import AttentiveMix
from .cutmix import CutMix
from .fmix import FMix
from .gridmix import GridMix
from .manifold import ManifoldMixup
from .mosaic import Mosaic
from .puzzlemix import PuzzleMix
from .randommix import RandomMix
from .resizemix import ResizeMix
from .ricap import RICAP
from .saliencymix import SaliencyMix
from .smoothmix import SmoothMix
from .snapmix import SnapMix
from .transmix import TransMix


@hookimpl
def mixup_register_mixers(registry: MixerRegistry) -> None:
    """Register the image mixers under the prefix ``image:``."""
    registry.add(CutMix)
    registry.add(ManifoldMixup)
    registry.add(Mosaic)
    registry.add(RandomMix)
    registry.add(RICAP)
    registry.add(FMix)
    registry.add(GridMix)
    registry.add(ResizeMix)
    registry.add(SaliencyMix)
    registry.add(SmoothMix)
    registry.add(PuzzleMix)
    registry.add(AttentiveMix)
    registry.add(SnapMix)
    registry.add(TransMix)
