"""Entry point of the ``image`` plugin: registers the image mixers with mixup-core."""

from __future__ import annotations

from mixup_core import ComponentRegistry, MixerRegistry, hookimpl

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


@hookimpl
def mixup_register_datasets(registry: ComponentRegistry) -> None:
    """Register the image data sets of `mixup_image.lab` (lazily: listing imports nothing)."""
    registry.add("mixup_image.lab:load_fashion_mnist", name="fashion-mnist", modality="image",
                 summary="Fashion-MNIST from the Debian package dataset-fashion-mnist, 10 classes of 28x28 (stratified subset)")
    registry.add("mixup_image.lab:load_digits", name="digits", modality="image",
                 summary="scikit-learn's bundled 8x8 digits, 10 classes, stratified split (small; for tests and CI)")


@hookimpl
def mixup_register_models(registry: ComponentRegistry) -> None:
    """Register the model factories of `mixup_image.lab` (lazily)."""
    registry.add("mixup_image.lab:small_cnn", name="small-cnn", modality="image",
                 summary="Two conv blocks (conv, batch norm, ReLU, max pool), adaptive pooling, linear head; any (C, H, W)")
    registry.add("mixup_image.lab:mlp", name="mlp", modality="any",
                 summary="Flatten and fully connected layers; any tensor input with a known input_shape")
