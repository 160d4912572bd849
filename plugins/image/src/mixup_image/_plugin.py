"""Entry point of the ``image`` plugin: registers the image mixers, data sets and models with mixup-core."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mixup_core import ComponentRegistry, MixerRegistry, hookimpl
from mixup_core.data import DataGuess

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

if TYPE_CHECKING:
    from mixup_core import Mixer, MixerInfo
    from mixup_core.hookspecs import PreviewOptions


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
    registry.add("mixup_image.lab:load_fashion_mnist_task", name="fashion-mnist", modality="image",
                 summary="Fashion-MNIST from the Debian package dataset-fashion-mnist, 10 classes of "
                         "28x28 (stratified subset)")
    registry.add("mixup_image.lab:load_digits_task", name="digits", modality="image",
                 summary="scikit-learn's bundled 8x8 digits, 10 classes, stratified split (small; for tests and CI)")
    registry.add("mixup_image.lab:load_folder_task", name="folder", modality="image",
                 summary="Your own image files: class folders or a manifest (path, label, group, split), streamed from "
                         "disk; needs mixup-image[folder]")
    registry.add("mixup_image.lab:load_cifar_task", name="cifar", modality="image",
                 summary="CIFAR-10/100 from your folder in torchvision's format (never "
                         "downloaded), crop+flip augmentation")


@hookimpl
def mixup_register_models(registry: ComponentRegistry) -> None:
    """Register the model factories of `mixup_image.lab` (lazily)."""
    registry.add("mixup_image.lab:small_cnn", name="small-cnn", modality="image",
                 summary="Two conv blocks (conv, batch norm, ReLU, max pool), adaptive pooling, "
                         "linear head; any (C, H, W)")
    registry.add("mixup_image.lab:preact_resnet18", name="preact-resnet18", modality="image",
                 summary="PreAct ResNet-18 for 32x32 images (3x3 stem), the model of the mixup and CutMix CIFAR tables")
    registry.add("mixup_image.lab:mlp", name="mlp", modality="any",
                 summary="Flatten and fully connected layers; any tensor input with a known input_shape")
    registry.add_family("mixup_image.lab:timm_model", prefix="timm", param="arch", modality="image",
                        summary="Any timm model (timm:<arch>), random weights or a local pretrained_path; needs timm")
    registry.add_family("mixup_image.lab:torchvision_model", prefix="torchvision", param="arch", modality="image",
                        summary="Any torchvision classification model (torchvision:<arch>), random weights or a local "
                                "pretrained_path")


@hookimpl
def mixup_detect_data(path: Path) -> DataGuess | None:
    """Recognise class folders or a manifest of image files as ``image:folder`` (see `mixup_image._detect`)."""
    from ._detect import detect_images

    return detect_images(path)


@hookimpl
def mixup_preview(mixer: Mixer, info: MixerInfo, options: PreviewOptions) -> str | None:
    """Draw ``mixup preview`` for the image mixers (see `mixup_image._preview`); ``None`` for other modalities."""
    from ._preview import mixup_preview as preview

    return preview(mixer, info, options)
