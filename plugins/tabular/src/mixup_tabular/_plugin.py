"""Entry point of the ``tabular`` plugin: registers its mixer, data set and model, and recognises tables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mixup_core import ComponentRegistry, MixerRegistry, hookimpl
from mixup_core.data import DataGuess

from .rowmixup import RowMixup

if TYPE_CHECKING:
    from mixup_core import Mixer, MixerInfo
    from mixup_core.hookspecs import PreviewOptions


@hookimpl
def mixup_register_mixers(registry: MixerRegistry) -> None:
    """Register ``tabular:row-mixup``."""
    registry.add(RowMixup)


@hookimpl
def mixup_register_datasets(registry: ComponentRegistry) -> None:
    """Register ``tabular:table`` (your own table; lazily: listing imports nothing)."""
    registry.add("mixup_tabular.lab:load_table_task", name="table", modality="tabular",
                 summary="your own table (CSV, TSV, JSONL, Parquet): numeric and categorical columns, a label column")


@hookimpl
def mixup_register_models(registry: ComponentRegistry) -> None:
    """Register ``tabular:mlp`` (lazily)."""
    registry.add("mixup_tabular.lab:mlp", name="mlp", modality="tabular",
                 summary="Fully connected layers on encoded table rows (F,), with the data set's feature layout")


@hookimpl
def mixup_detect_data(path: Path) -> DataGuess | None:
    """Recognise a table of numeric and categorical columns with a label column (see `mixup_tabular._detect`)."""
    from ._detect import detect_table

    return detect_table(path)


@hookimpl
def mixup_preview(mixer: Mixer, info: MixerInfo, options: PreviewOptions) -> str | None:
    """Draw ``mixup preview`` for the tabular mixers (see `mixup_tabular._preview`); ``None`` for other modalities."""
    from ._preview import mixup_preview as preview

    return preview(mixer, info, options)
