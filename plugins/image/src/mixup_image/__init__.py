"""mixup-image: image mixers for mixup-core, registered under the prefix ``image:``.

Example:
    >>> from mixup_core import create_mixer
    >>> mixer = create_mixer({"name": "image:cutmix", "alpha": 1.0, "num_classes": 10})
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mixup_core.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "BoxPlan": "._base",
    "ImageMixer": "._base",
    "MaskPlan": "._base",
    "box_mask": "._base",
    "TilePlan": "._tiles",
    "AttentiveMix": ".attentivemix",
    "AttentivePlan": ".attentivemix",
    "MixupCollate": ".collate",
    "CutMix": ".cutmix",
    "FMix": ".fmix",
    "GridMix": ".gridmix",
    "ManifoldMixup": ".manifold",
    "Mosaic": ".mosaic",
    "PuzzleMix": ".puzzlemix",
    "PuzzleMixPlan": ".puzzlemix",
    "RandomMix": ".randommix",
    "ResizeMix": ".resizemix",
    "RICAP": ".ricap",
    "SaliencyMix": ".saliencymix",
    "SmoothMix": ".smoothmix",
    "SnapMix": ".snapmix",
    "SnapMixPlan": ".snapmix",
    "TransMix": ".transmix",
}

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

if TYPE_CHECKING:
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

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
