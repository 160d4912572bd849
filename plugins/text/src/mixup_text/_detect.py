"""``mixup init`` on a table of labelled texts: ``text:table`` with a study of MiniLM and two text mixers."""

from __future__ import annotations

from pathlib import Path

from mixup_core.data import DataGuess

from .datasets import sniff_text_table

__all__ = ["detect_text_table"]


def detect_text_table(path: Path) -> DataGuess | None:
    """Recognise a table of labelled texts (see `mixup_text.datasets.sniff_text_table`) as ``text:table``.

    The guess runs the bundled MiniLM classifier (``text:minilm``, offline, encoder frozen, so a high
    learning rate) against wordMixup (``text:embedding``) and senMixup (``text:sentence``). It scores
    below 1: a CSV can also be tabular data (0.8 when the text column has a usual name such as
    ``text`` or ``review``, else 0.7).
    """
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

