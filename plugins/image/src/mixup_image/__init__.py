"""mixup-image: image mixers for mixup-core, registered under the prefix ``image:``.

Example:
    >>> from mixup_core import create_mixer
    >>> mixer = create_mixer({"name": "image:cutmix", "alpha": 1.0, "num_classes": 10})
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._base import BoxPlan, ImageMixer, MaskPlan, box_mask
from ._tiles import TilePlan
from .attentivemix import AttentiveMix, AttentivePlan
from .collate import MixupCollate
from .cutmix import CutMix
from .fmix import FMix
from .gridmix import GridMix
from .manifold import ManifoldMixup
from .mosaic import Mosaic
from .puzzlemix import PuzzleMix, PuzzleMixPlan
from .randommix import RandomMix
from .resizemix import ResizeMix
from .ricap import RICAP
from .saliencymix import SaliencyMix
from .smoothmix import SmoothMix
from .snapmix import SnapMix, SnapMixPlan
from .transmix import TransMix

__all__ = [
    "RICAP",
    "AttentiveMix",
    "AttentivePlan",
    "BoxPlan",
    "CutMix",
    "FMix",
    "GridMix",
    "ImageMixer",
    "ManifoldMixup",
    "MaskPlan",
    "MixupCollate",
    "Mosaic",
    "PuzzleMix",
    "PuzzleMixPlan",
    "RandomMix",
    "ResizeMix",
    "SaliencyMix",
    "SmoothMix",
    "SnapMix",
    "SnapMixPlan",
    "TilePlan",
    "TransMix",
    "__version__",
    "box_mask",
]
