"""``transformers.Trainer`` integration: a mixed training loss, a Trainer subclass and a switch-off callback."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from mixup_core import (
    MixedTargets,
    Mixer,
    MixerSpec,
    create_mixer,
    mixed_binary_cross_entropy,
    soft_cross_entropy,
)

from ._base import TextMixedForward, TextMixer, check_attention_mask, check_input_ids, union_attention_mask
from ._layers import find_input_embeddings
from .tokens import IGNORE_INDEX, TokenTargets, mix_token_labels, token_soft_cross_entropy

__all__ = ["MixupOffCallback", "MixupTrainer", "mix_forward", "mixup_compute_loss", "plain_compute_loss"]

_NOT_MODEL_INPUTS = ("lengths", "text")
"""Batch keys the collator adds for the mixers that a model's ``forward`` does not take."""


# ---------------------------------------------------------------------------------------------- losses
def _loss(
    logits: torch.Tensor,
    targets: MixedTargets | TokenTargets | torch.Tensor,
    *,
    label_smoothing: float,
    multi_label: bool,
) -> torch.Tensor:
    """The soft-target loss of sequence ``(B, C)`` or token ``(B, T, C)`` logits.

    Mixed sequence targets and plain labels ``(B,)``/``(B, C)`` use `mixup_core.soft_cross_entropy`
    (`mixup_core.mixed_binary_cross_entropy` for multi-label models); token targets use
    `token_soft_cross_entropy`, the mean over positions that carry a target; plain token labels
    ``(B, T)`` with ``-100`` are turned into token targets first (the usual ignore-index
    cross-entropy).
    """
    if isinstance(targets, TokenTargets):
        return token_soft_cross_entropy(logits, targets, label_smoothing=label_smoothing)
    if isinstance(targets, torch.Tensor) and logits.ndim == 3 and targets.ndim == 2 and not targets.is_floating_point():
        valid = targets != IGNORE_INDEX
        probs = F.one_hot(targets.clamp_min(0).long(), logits.shape[-1]).float() * valid[..., None]
        return token_soft_cross_entropy(logits, TokenTargets(probs=probs, valid=valid), label_smoothing=label_smoothing)
    if multi_label:
        return mixed_binary_cross_entropy(logits, targets)
    return soft_cross_entropy(logits, targets, label_smoothing=label_smoothing)


# ---------------------------------------------------------------------------------------------- forward
def _split_batch(inputs: Mapping[str, Any]) -> tuple[dict[str, Any], torch.Tensor | None]:
    if not isinstance(inputs, Mapping):
        raise TypeError(f"inputs must be a mapping of model inputs (a collated batch), got {type(inputs).__name__}")
    batch = {k: v for k, v in inputs.items() if k not in _NOT_MODEL_INPUTS and k != "labels"}
    return batch, inputs.get("labels")


def _logits(output: Any) -> torch.Tensor:
    logits = output.get("logits") if isinstance(output, Mapping) else getattr(output, "logits", None)
    if logits is None and isinstance(output, (tuple, list)) and output:
        logits = output[0]
    if not isinstance(logits, torch.Tensor):
        raise TypeError(
            f"the model returned {type(output).__name__} without logits; use a model with a classification head"
        )
    return logits


def _generic_forward(
    model: nn.Module,
    batch: dict[str, Any],
    labels: torch.Tensor,
    mixer: Mixer,
    *,
    num_labels: int | None,
    generator: torch.Generator | None,
) -> TextMixedForward:
    """Mix the input word embeddings with a modality-agnostic mixer (``core:mixup``) and run the model once.

    ``inputs_embeds = get_input_embeddings()(input_ids)`` is mixed with the mixer's plan as it is
    (padding embeddings included), the attention mask becomes the union of the pair's masks and
    ``token_type_ids`` stay the anchor's. Token labels are mixed by the rule of `mixup_text.tokens`.
    """
    ids = check_input_ids(batch.pop("input_ids", None))
    given = batch.pop("attention_mask", None)
    model_mask = torch.ones_like(ids) if given is None else given
    check_attention_mask(model_mask, ids.shape[0], ids.shape[1])
    embeds = find_input_embeddings(model)(ids)
    token_level = labels.ndim == 2 and not labels.is_floating_point()
    plan = mixer.sample(embeds, None if token_level else labels, generator=generator)
    if plan.index.ndim != 1:
        raise ValueError(
            f"{type(mixer).__name__} mixes more than two sources; text batches need pair mixers (core:mixup)"
        )
    mixed = mixer.apply(embeds, plan)
    mask = union_attention_mask(model_mask, plan)
    if token_level:
        k = num_labels if num_labels is not None else int(labels.max()) + 1
        targets: MixedTargets | TokenTargets = mix_token_labels(labels, plan, num_classes=k)
    else:
        targets = mixer.mix_targets(labels, plan, num_classes=num_labels)
    output = model(inputs_embeds=mixed, attention_mask=mask, **batch)
    return TextMixedForward(output=output, targets=targets, plan=plan, attention_mask=mask, layer="inputs_embeds")


def mix_forward(
    model: nn.Module,
    inputs: Mapping[str, Any],
    mixer: MixerSpec,
    *,
    num_labels: int | None = None,
    generator: torch.Generator | None = None,
) -> TextMixedForward:
    """Run ``model`` on a collated batch with ``mixer``'s mix; return its output and the mixed targets.

    Text mixers (``text:*``) run the model themselves through ``mixer.forward`` (they know where
    to mix: input embeddings, a hidden layer, the classifier's input, a saliency-guided span). A
    modality-agnostic pair mixer such as ``core:mixup`` mixes the input word embeddings
    (``inputs_embeds``, as wordMixup) with the union of the pair's attention masks.

    Args:
        model: a Hugging Face model with a sequence or token classification head.
        inputs: the batch of `MixupDataCollator` (``input_ids``, ``attention_mask``, optional
            ``token_type_ids``, ``labels``, ``lengths``); keys other than ``input_ids``,
            ``attention_mask``, ``labels`` and ``lengths`` are passed to the model.
        mixer: a mixer, a name or a mapping (see ``mixup_core.create_mixer``).
        num_labels: the number of classes (default: the mixer's ``num_classes``, else
            ``model.config.num_labels``).
        generator: CPU generator of the pairs and λ (and of the layer, for TMix).

    Returns:
        A `TextMixedForward` (``output``, ``targets``, ``plan``, ``attention_mask``, ``layer``).
    """
    mixer = create_mixer(mixer)
    batch, labels = _split_batch(inputs)
    if labels is None:
        raise ValueError(f"inputs have no 'labels' to mix, got keys {sorted(inputs)}")
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a tensor, got {type(labels).__name__}")
    k = num_labels if num_labels is not None else mixer.num_classes
    if k is None:
        config_k = getattr(getattr(model, "config", None), "num_labels", None)
        k = config_k if isinstance(config_k, int) and config_k > 0 else None
    if isinstance(mixer, TextMixer) or (mixer.modality == "text" and callable(getattr(mixer, "forward", None))):
        input_ids = batch.pop("input_ids", None)
        attention_mask = batch.pop("attention_mask", None)
        return mixer.forward(model, input_ids, attention_mask, labels, generator=generator, num_classes=k, **batch)  # type: ignore[attr-defined]
    if mixer.modality not in ("any", "text"):
        raise ValueError(
            f"{mixer.qualified_name()} is a mixer of modality {mixer.modality!r}; text batches need a text mixer "
            "(text:embedding, text:tmix …) or a modality-agnostic one (core:mixup)"
        )
    return _generic_forward(model, batch, labels, mixer, num_labels=k, generator=generator)


def _is_multi_label(model: nn.Module) -> bool:
    return getattr(getattr(model, "config", None), "problem_type", None) == "multi_label_classification"


def mixup_compute_loss(
    model: nn.Module,
    inputs: Mapping[str, Any],
    mixer: MixerSpec,
    *,
    num_labels: int | None = None,
    generator: torch.Generator | None = None,
    label_smoothing: float = 0.0,
    return_outputs: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, Any]:
    """The training loss of a batch mixed by ``mixer``: a soft-target cross-entropy on the mixed targets.

    The body of ``Trainer.compute_loss`` for mixup, usable in a plain training loop too. The loss is
    `mixup_core.soft_cross_entropy` for sentence targets (`mixup_core.mixed_binary_cross_entropy`
    when ``model.config.problem_type`` is ``"multi_label_classification"``) and
    `mixup_text.tokens.token_soft_cross_entropy` (mean over labelled positions) for token targets.
    A mixer with ``enabled=False`` runs the model on the batch as it is, with the same loss on the
    true labels (how the last epochs are trained clean, see `MixupOffCallback`).

    Args:
        model: a Hugging Face model with a sequence or token classification head.
        inputs: the batch of `MixupDataCollator`.
        mixer: a mixer, a name (``"text:tmix"``, ``"core:mixup"``) or a mapping (see ``create_mixer``).
        num_labels: the number of classes (default: the mixer's, else ``model.config.num_labels``).
        generator: CPU generator of the pairs and λ (``None``: torch's global generator).
        label_smoothing: ε of label smoothing.
        return_outputs: also return the model's output.

    Returns:
        The scalar loss, or ``(loss, output)``.

    Examples:
        >>> batch = MixupDataCollator(tokenizer)(features)                        # doctest: +SKIP
        >>> loss = mixup_compute_loss(model, batch, "text:embedding", generator=g)  # doctest: +SKIP
        >>> loss.backward()                                                       # doctest: +SKIP
    """
    mixer = create_mixer(mixer)
    if not mixer.enabled:
        return plain_compute_loss(model, inputs, label_smoothing=label_smoothing, return_outputs=return_outputs)
    result = mix_forward(model, inputs, mixer, num_labels=num_labels, generator=generator)
    assert result.targets is not None
    loss = _loss(result.logits, result.targets, label_smoothing=label_smoothing, multi_label=_is_multi_label(model))
    return (loss, result.output) if return_outputs else loss


def plain_compute_loss(
    model: nn.Module,
    inputs: Mapping[str, Any],
    *,
    label_smoothing: float = 0.0,
    return_outputs: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, Any]:
    """The unmixed loss of a collated batch, the same loss function as `mixup_compute_loss` on the true labels.

    Used for evaluation and while a mixer is switched off. Token labels ``(B, T)`` ignore ``-100``.

    Args:
        model: a Hugging Face model with a sequence or token classification head.
        inputs: the batch of `MixupDataCollator`.
        label_smoothing: ε of label smoothing.
        return_outputs: also return the model's output.
    """
    batch, labels = _split_batch(inputs)
    if labels is None:
        raise ValueError(f"inputs have no 'labels', got keys {sorted(inputs)}")
    output = model(**batch)
    loss = _loss(_logits(output), labels, label_smoothing=label_smoothing, multi_label=_is_multi_label(model))
    return (loss, output) if return_outputs else loss


# ---------------------------------------------------------------------------------------------- Trainer
class MixupTrainer(Trainer):
    """A ``transformers.Trainer`` whose training loss mixes every batch with a text mixer.

    Training batches go through `mixup_compute_loss` (the mixer's forward pass and a soft-target
    cross-entropy on the mixed targets); evaluation and prediction are unmixed and use the same loss
    with the true labels. The batch keys the model does not take (``lengths`` of
    `MixupDataCollator`) are removed before the model is called, and ``text`` features survive
    ``remove_unused_columns`` so the collator can tokenise them.

    The mixer draws from its own CPU ``torch.Generator``, seeded with ``mixer_generator_seed``
    (default: ``args.seed``), so two runs with the same arguments mix the same pairs with the same λ.
    Its state is not saved in checkpoints: a resumed run draws a new sequence.

    The loss is a per-batch mean, so gradient accumulation divides it by the number of accumulation
    steps (``loss_is_scaled_for_ga = False``); ``num_items_in_batch`` is not used. Needs
    ``accelerate`` (``pip install "mixup-text[trainer]"``), as ``transformers.Trainer`` does.

    Args:
        *args: the arguments of ``transformers.Trainer``.
        mixer: the mixer: an instance, a name (``"text:embedding"``, ``"core:mixup"``) or a mapping
            with ``name`` and parameters (see ``mixup_core.create_mixer``).
        num_labels: the number of classes (default: the mixer's ``num_classes``, else
            ``model.config.num_labels``).
        mixer_generator_seed: seed of the mixer's generator (default: ``args.seed``).
        label_smoothing: ε of label smoothing in the loss, mixed and unmixed; default
            ``args.label_smoothing_factor`` (``TrainingArguments``), as ``transformers.Trainer``'s
            ``LabelSmoother``: the same loss on unmixed batches. Giving both with different values
            is refused.
        **kwargs: the keyword arguments of ``transformers.Trainer``.

    Attributes:
        mixer: the mixer instance (give it to `MixupOffCallback`).
        mixer_generator: the generator the mixer draws from.
        mixer_calls: the number of mixed training batches so far.

    Examples:
        >>> trainer = MixupTrainer(model=model, args=args, train_dataset=train,            # doctest: +SKIP
        ...                        data_collator=MixupDataCollator(tokenizer), mixer="text:tmix")
        >>> trainer.add_callback(MixupOffCallback(trainer.mixer, last_epochs=1))            # doctest: +SKIP
        >>> trainer.train()                                                                 # doctest: +SKIP
    """

    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args: Any,
        mixer: MixerSpec,
        num_labels: int | None = None,
        mixer_generator_seed: int | None = None,
        label_smoothing: float | None = None,
        **kwargs: Any,
    ) -> None:
        if importlib.util.find_spec("accelerate") is None:
            raise ImportError(
                'MixupTrainer needs accelerate (transformers.Trainer runs on it): pip install "mixup-text[trainer]"'
            )
        self.mixer: Mixer = create_mixer(mixer)
        if num_labels is not None and (
            isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1
        ):
            raise ValueError(f"num_labels must be a positive int or None, got {num_labels!r}")
        if label_smoothing is not None and not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing!r}")
        super().__init__(*args, **kwargs)
        factor = float(getattr(self.args, "label_smoothing_factor", 0.0) or 0.0)
        if label_smoothing is not None and factor and float(label_smoothing) != factor:
            raise ValueError(
                f"label_smoothing={label_smoothing!r} and TrainingArguments.label_smoothing_factor={factor!r} "
                "disagree: give one of them"
            )
        # transformers.Trainer's own LabelSmoother is not used: compute_loss below smooths every loss
        self.label_smoother = None
        # the loss is a per-batch mean, normalised here: never pass num_items_in_batch to the model,
        # and let every transformers version divide it by the gradient accumulation steps
        self.model_accepts_loss_kwargs = False
        self.num_labels = num_labels
        self.label_smoothing = float(label_smoothing) if label_smoothing is not None else factor
        seed = self.args.seed if mixer_generator_seed is None else int(mixer_generator_seed)
        self.mixer_generator: torch.Generator = torch.Generator().manual_seed(seed)
        self.mixer_calls = 0

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """The mixed loss in training (``model.training``), the plain loss with the true labels otherwise."""
        if model.training and self.mixer.enabled:
            self.mixer_calls += 1
            return mixup_compute_loss(
                model,
                inputs,
                self.mixer,
                num_labels=self.num_labels,
                generator=self.mixer_generator,
                label_smoothing=self.label_smoothing,
                return_outputs=return_outputs,
            )
        return plain_compute_loss(model, inputs, label_smoothing=self.label_smoothing, return_outputs=return_outputs)

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """``Trainer.prediction_step`` without the batch keys the model does not take."""
        inputs = {k: v for k, v in inputs.items() if k not in _NOT_MODEL_INPUTS}
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)

    def _set_signature_columns_if_needed(self) -> None:
        # keep `text` features (tokenised by MixupDataCollator) through remove_unused_columns
        super()._set_signature_columns_if_needed()
        if self._signature_columns is not None:
            self._signature_columns += [c for c in _NOT_MODEL_INPUTS if c not in self._signature_columns]


class MixupOffCallback(TrainerCallback):
    """Switch a mixer off (``enabled=False``) for the last epochs or steps of training.

    Training the last epochs on clean data is a common schedule (e.g. the "mixup off for the last
    epochs" recipes of image classification). Before every training step the callback sets
    ``mixer.enabled`` to whether the run is still before the switch-off point, measured in epochs
    (``state.epoch``, fractional, against ``state.num_train_epochs``) or in optimizer steps
    (``state.global_step`` against ``state.max_steps``). At the end of training the mixer's
    original ``enabled`` is restored.

    Args:
        mixer: the mixer to switch (``MixupTrainer.mixer``).
        last_epochs: train the last ``last_epochs`` epochs unmixed.
        last_steps: train the last ``last_steps`` optimizer steps unmixed (instead of epochs).

    Examples:
        >>> trainer.add_callback(MixupOffCallback(trainer.mixer, last_epochs=1))   # doctest: +SKIP
    """

    def __init__(self, mixer: Mixer, *, last_epochs: float | None = None, last_steps: int | None = None) -> None:
        if not isinstance(mixer, Mixer):
            raise TypeError(f"mixer must be a Mixer instance (e.g. MixupTrainer.mixer), got {type(mixer).__name__}")
        if (last_epochs is None) == (last_steps is None):
            raise ValueError(
                f"give exactly one of last_epochs and last_steps, got last_epochs={last_epochs!r}, "
                f"last_steps={last_steps!r}"
            )
        if last_epochs is not None and (
            isinstance(last_epochs, bool) or not isinstance(last_epochs, (int, float)) or not last_epochs >= 0
        ):
            raise ValueError(f"last_epochs must be a non-negative number, got {last_epochs!r}")
        if last_steps is not None and (
            isinstance(last_steps, bool) or not isinstance(last_steps, int) or last_steps < 0
        ):
            raise ValueError(f"last_steps must be a non-negative int, got {last_steps!r}")
        self.mixer = mixer
        self.last_epochs = last_epochs
        self.last_steps = last_steps
        self._initial: bool | None = None

    def mixing_at(self, state: TrainerState) -> bool:
        """Whether the mixer is on at the current point of training."""
        if self.last_steps is not None:
            return state.global_step < state.max_steps - self.last_steps
        assert self.last_epochs is not None
        if self.last_epochs == 0:
            return True
        # state.epoch is the fraction of epochs done; the tolerance absorbs its float rounding
        return (state.epoch or 0.0) < float(state.num_train_epochs) - float(self.last_epochs) - 1e-6

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._initial = self.mixer.enabled

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        initial = self.mixer.enabled if self._initial is None else self._initial
        self.mixer.enabled = bool(initial and self.mixing_at(state))

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._initial is not None:
            self.mixer.enabled = self._initial
            self._initial = None
