"""The transformers.Trainer integration: mixed loss, MixupTrainer, and the switch-off callback."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification, TrainingArguments
from transformers.utils import logging as hf_logging

from mixup_core import create_mixer, list_mixers, soft_cross_entropy
from mixup_text import (
    MixupDataCollator,
    MixupOffCallback,
    MixupTrainer,
    TextMixedForward,
    mix_forward,
    mixup_compute_loss,
    plain_compute_loss,
)

from .test_collator import WORDS, make_tokenizer

if importlib.util.find_spec("accelerate") is None:  # pragma: no cover - make env installs it (uv.lock)
    pytest.skip('transformers.Trainer needs accelerate: pip install "mixup-text[trainer]"', allow_module_level=True)

hf_logging.set_verbosity_error()

SENTENCES = [
    "the cat sat", "a big red dog ran fast", "the mat", "a slow cat",
    "the dog sat on a mat", "red cat", "fast dog ran", "the big mat",
]
TEXT_MIXERS = sorted(info.name for info in list_mixers() if info.modality == "text")


def tiny_config(num_labels: int = 3) -> BertConfig:
    return BertConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=32, num_labels=num_labels,
    )


def tiny_bert(num_labels: int = 3, seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_config(num_labels))


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return make_tokenizer()


@pytest.fixture(scope="module")
def batch(tokenizer: Any) -> dict[str, torch.Tensor]:
    return MixupDataCollator(tokenizer)([{"text": s, "label": i % 3} for i, s in enumerate(SENTENCES[:4])])


def _args(tmp_path: Path, **kwargs: Any) -> TrainingArguments:
    base: dict[str, Any] = dict(
        output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=4, report_to=[], use_cpu=True,
        save_strategy="no", disable_tqdm=True, logging_steps=1, seed=0,
    )
    return TrainingArguments(**(base | kwargs))


def _count_forward(monkeypatch: pytest.MonkeyPatch, cls: type, log: list[TextMixedForward]) -> None:
    """Record every model-level call of the mixer class (its forward)."""
    original: Callable[..., TextMixedForward] = cls.forward  # type: ignore[attr-defined]

    def counting(self: Any, *args: Any, **kwargs: Any) -> TextMixedForward:
        result = original(self, *args, **kwargs)
        log.append(result)
        return result

    monkeypatch.setattr(cls, "forward", counting)


# ------------------------------------------------------------------------------------------ the loss
def test_all_text_mixers_are_covered() -> None:
    assert {"text:embedding", "text:embed-output", "text:tmix", "text:sentence", "text:ssmix"} <= set(TEXT_MIXERS)


@pytest.mark.parametrize("name", [*TEXT_MIXERS, "core:mixup"])
def test_mixed_loss_is_finite_and_trains_the_embeddings(name: str, batch: dict[str, torch.Tensor]) -> None:
    model = tiny_bert()
    g = torch.Generator().manual_seed(0)
    loss = mixup_compute_loss(model, batch, name, generator=g)
    assert loss.ndim == 0
    assert torch.isfinite(loss)
    loss.backward()
    grad = model.get_input_embeddings().weight.grad
    assert grad is not None
    assert bool(grad.abs().sum() > 0)


@pytest.mark.parametrize("name", [n for n in [*TEXT_MIXERS, "core:mixup"] if n != "text:ssmix"])
def test_lambda_one_gives_the_plain_loss(name: str, batch: dict[str, torch.Tensor]) -> None:
    model = tiny_bert().eval()
    mixed = mixup_compute_loss(model, batch, {"name": name, "lam": 1.0}, generator=torch.Generator().manual_seed(0))
    plain = plain_compute_loss(model, batch)
    expected = F.cross_entropy(
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, batch["labels"]
    )
    torch.testing.assert_close(plain, expected)
    torch.testing.assert_close(mixed, plain, atol=1e-5, rtol=1e-5)


def test_generic_mixer_mixes_the_word_embeddings_with_the_union_mask(batch: dict[str, torch.Tensor]) -> None:
    model = tiny_bert().eval()
    mixer = create_mixer({"name": "core:mixup", "lam": 0.3, "pairing": "flip"})
    result = mix_forward(model, batch, mixer, generator=torch.Generator().manual_seed(0))
    assert result.layer == "inputs_embeds"
    assert result.plan.index.tolist() == [3, 2, 1, 0]
    # by hand: 0.3·e_i + 0.7·e_partner, mask m_i ∨ m_partner, the anchor's token types, soft targets 0.3 / 0.7
    perm = torch.tensor([3, 2, 1, 0])
    emb = model.get_input_embeddings()(batch["input_ids"])
    mask = torch.maximum(batch["attention_mask"], batch["attention_mask"][perm])
    logits = model(
        inputs_embeds=0.3 * emb + 0.7 * emb[perm], attention_mask=mask, token_type_ids=batch["token_type_ids"]
    ).logits
    assert torch.equal(result.attention_mask, mask)
    torch.testing.assert_close(result.logits, logits, atol=1e-5, rtol=1e-5)
    targets = 0.3 * F.one_hot(batch["labels"], 3).float() + 0.7 * F.one_hot(batch["labels"][perm], 3).float()
    loss = mixup_compute_loss(model, batch, mixer, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loss, soft_cross_entropy(logits, targets), atol=1e-5, rtol=1e-5)


def test_generic_mixer_equals_word_mixup_with_embedding_padding(batch: dict[str, torch.Tensor]) -> None:
    model = tiny_bert().eval()
    generic = mixup_compute_loss(model, batch, "core:mixup", generator=torch.Generator().manual_seed(5))
    word = mixup_compute_loss(
        model, batch, {"name": "text:embedding", "padding": "embedding"}, generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(generic, word)


def test_disabled_mixer_runs_the_plain_model(batch: dict[str, torch.Tensor], monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_bert().eval()
    mixer = create_mixer({"name": "text:tmix", "enabled": False})
    log: list[TextMixedForward] = []
    _count_forward(monkeypatch, type(mixer), log)
    loss, output = mixup_compute_loss(model, batch, mixer, return_outputs=True)
    assert log == []
    torch.testing.assert_close(loss, plain_compute_loss(model, batch))
    assert output.logits.shape == (4, 3)


def test_token_classification(tokenizer: Any) -> None:
    torch.manual_seed(0)
    model = BertForTokenClassification(tiny_config(num_labels=4)).eval()
    enc = [dict(tokenizer(s)) for s in SENTENCES[:4]]
    labels = [[-100] + [(i + t) % 4 for t in range(len(e["input_ids"]) - 2)] + [-100] for i, e in enumerate(enc)]
    batch = MixupDataCollator(tokenizer)([e | {"labels": y} for e, y in zip(enc, labels, strict=True)])
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    expected = F.cross_entropy(logits.reshape(-1, 4), batch["labels"].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(plain_compute_loss(model, batch), expected)
    same = mixup_compute_loss(
        model, batch, {"name": "text:embedding", "lam": 1.0}, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(same, expected, atol=1e-5, rtol=1e-5)
    for name in ("text:embedding", "text:tmix", "text:embed-output"):
        loss = mixup_compute_loss(model, batch, name, generator=torch.Generator().manual_seed(1))
        assert torch.isfinite(loss)
        assert loss > 0
    # the fallback mixes token labels by the same rule as text:embedding
    generic = mixup_compute_loss(model, batch, "core:mixup", generator=torch.Generator().manual_seed(2))
    word = mixup_compute_loss(
        model, batch, {"name": "text:embedding", "padding": "embedding"}, generator=torch.Generator().manual_seed(2)
    )
    torch.testing.assert_close(generic, word)


def test_multi_label_models_use_binary_cross_entropy(tokenizer: Any) -> None:
    model = tiny_bert(num_labels=3).eval()
    model.config.problem_type = "multi_label_classification"
    targets = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    batch = MixupDataCollator(tokenizer)(
        [{"text": s, "labels": y} for s, y in zip(SENTENCES[:2], targets, strict=True)]
    )
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    expected = F.binary_cross_entropy_with_logits(logits, torch.tensor(targets))
    torch.testing.assert_close(plain_compute_loss(model, batch), expected)
    mixed = mixup_compute_loss(
        model, batch, {"name": "text:embedding", "lam": 1.0}, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(mixed, expected, atol=1e-5, rtol=1e-5)


def test_bad_input(batch: dict[str, torch.Tensor]) -> None:
    model = tiny_bert()
    unlabelled = {k: v for k, v in batch.items() if k != "labels"}
    with pytest.raises(ValueError, match="no 'labels'"):
        mixup_compute_loss(model, unlabelled, "text:embedding")
    with pytest.raises(ValueError, match="modality 'image'"):
        mixup_compute_loss(model, batch, "image:cutmix")
    with pytest.raises(TypeError, match="token ids"):
        mixup_compute_loss(model, batch | {"input_ids": batch["input_ids"].float()}, "text:embedding")
    with pytest.raises(ValueError, match="attention_mask must have shape"):
        mixup_compute_loss(model, batch | {"attention_mask": batch["attention_mask"][:, :3]}, "core:mixup")
    with pytest.raises(TypeError, match="mixer must be a Mixer instance"):
        MixupOffCallback("text:tmix", last_epochs=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one of last_epochs and last_steps"):
        MixupOffCallback(create_mixer("text:tmix"), last_epochs=1, last_steps=2)


# ------------------------------------------------------------------------------------------ the Trainer
def _dataset() -> list[dict[str, Any]]:
    # raw text: MixupDataCollator tokenises it, and MixupTrainer keeps the column through remove_unused_columns
    return [{"text": s, "label": i % 3} for i, s in enumerate(SENTENCES)]


def test_trainer_trains_with_the_mixer_and_evaluates_unmixed(
    tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_bert()
    before = model.classifier.weight.detach().clone()
    trainer = MixupTrainer(
        model=model,
        args=_args(tmp_path, per_device_eval_batch_size=8),
        train_dataset=_dataset(),
        eval_dataset=_dataset(),
        data_collator=MixupDataCollator(tokenizer),
        mixer={"name": "text:tmix", "layer": 1},
    )
    log: list[TextMixedForward] = []
    _count_forward(monkeypatch, type(trainer.mixer), log)
    result = trainer.train()
    assert result.global_step == 3
    assert trainer.mixer_calls == 3
    assert len(log) == 3
    assert all(r.layer == "bert.encoder.layer.0" and not r.plan.is_identity for r in log)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3
    assert all(0 < v < 5 for v in losses)
    assert not torch.equal(model.classifier.weight.detach(), before)
    metrics = trainer.evaluate()
    assert len(log) == 3  # evaluation is unmixed
    eval_batch = MixupDataCollator(tokenizer)(_dataset())
    with torch.no_grad():
        expected = plain_compute_loss(model.eval(), eval_batch)
    assert metrics["eval_loss"] == pytest.approx(float(expected), rel=1e-5)


def test_trainer_draws_reproducible_mixes(tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = []
    for seed in (7, 7, 8):
        log: list[TextMixedForward] = []
        trainer = MixupTrainer(
            model=tiny_bert(), args=_args(tmp_path, max_steps=2), train_dataset=_dataset(),
            data_collator=MixupDataCollator(tokenizer), mixer="text:embedding", mixer_generator_seed=seed,
        )
        _count_forward(monkeypatch, type(trainer.mixer), log)
        trainer.train()
        monkeypatch.undo()
        runs.append([(r.plan.index.tolist(), r.plan.lam.tolist()) for r in log])
    assert len(runs[0]) == 2
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_gradient_accumulation_keeps_the_loss_scale(tmp_path: Path, tokenizer: Any) -> None:
    trainer = MixupTrainer(
        model=tiny_bert(),
        args=_args(tmp_path, max_steps=1, per_device_train_batch_size=2, gradient_accumulation_steps=2),
        train_dataset=_dataset(),
        data_collator=MixupDataCollator(tokenizer),
        mixer="text:sentence",
    )
    trainer.train()
    # an untrained 3-class head gives about log 3 per batch; a wrong scaling would log half or twice that
    assert trainer.state.log_history[0]["loss"] == pytest.approx(1.1, abs=0.2)


@pytest.mark.parametrize(("kwargs", "callback", "mixed_steps"), [
    ({"max_steps": -1, "num_train_epochs": 2}, {"last_epochs": 1}, [True, True, False, False]),
    ({"max_steps": 3}, {"last_steps": 1}, [True, True, False]),
])
def test_callback_switches_the_mixer_off_at_the_end(
    tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch,
    kwargs: dict[str, Any], callback: dict[str, Any], mixed_steps: list[bool],
) -> None:
    trainer = MixupTrainer(
        model=tiny_bert(), args=_args(tmp_path, **kwargs), train_dataset=_dataset(),
        data_collator=MixupDataCollator(tokenizer), mixer="text:embedding",
    )
    trainer.add_callback(MixupOffCallback(trainer.mixer, **callback))
    seen: list[bool] = []
    original = MixupTrainer.compute_loss

    def spy(self: MixupTrainer, model: Any, inputs: Any, *args: Any, **kw: Any) -> Any:
        seen.append(self.mixer.enabled)
        return original(self, model, inputs, *args, **kw)

    monkeypatch.setattr(MixupTrainer, "compute_loss", spy)
    trainer.train()
    assert seen == mixed_steps
    assert trainer.mixer_calls == sum(mixed_steps)
    assert trainer.mixer.enabled  # restored after training


def test_label_smoothing_factor_of_the_training_arguments_is_honoured(tmp_path: Path, tokenizer: Any) -> None:
    """``TrainingArguments.label_smoothing_factor``: the same loss as transformers' own Trainer (its
    LabelSmoother) on unmixed batches, and the smoothed mixed loss in training."""
    from transformers import Trainer
    from transformers.trainer_pt_utils import LabelSmoother

    args = _args(tmp_path, label_smoothing_factor=0.2, per_device_eval_batch_size=8)
    model = tiny_bert()
    ours = MixupTrainer(
        model=model,
        args=args,
        eval_dataset=_dataset(),
        data_collator=MixupDataCollator(tokenizer),
        mixer="text:embedding",
    )
    assert ours.label_smoothing == 0.2
    eval_batch = MixupDataCollator(tokenizer)(_dataset())
    model.eval()
    with torch.no_grad():
        loss = ours.compute_loss(model, dict(eval_batch))
        peer = Trainer(model=model, args=args, data_collator=MixupDataCollator(tokenizer))
        peer_batch = {k: v for k, v in eval_batch.items() if k != "lengths"}
        ref = peer.compute_loss(model, dict(peer_batch))
        by_hand = LabelSmoother(epsilon=0.2)(
            model(**{k: v for k, v in peer_batch.items() if k != "labels"}), peer_batch["labels"]
        )
    assert float(ref) == pytest.approx(float(by_hand), rel=1e-6)
    assert float(loss) == pytest.approx(float(ref), rel=1e-5)
    # in training: the mixed loss is smoothed with the same ε
    model.train()
    ours.mixer_generator = torch.Generator().manual_seed(0)
    ours.mixer = create_mixer("text:embedding")
    torch.manual_seed(1)
    got = ours.compute_loss(model, dict(eval_batch))
    torch.manual_seed(1)
    again = mixup_compute_loss(
        model,
        dict(eval_batch),
        create_mixer("text:embedding"),
        generator=torch.Generator().manual_seed(0),
        label_smoothing=0.2,
    )
    assert float(got.detach()) == pytest.approx(float(again.detach()), rel=1e-5)  # type: ignore[union-attr]
    torch.manual_seed(1)
    unsmoothed = mixup_compute_loss(
        model, dict(eval_batch), create_mixer("text:embedding"), generator=torch.Generator().manual_seed(0)
    )
    assert float(got.detach()) != pytest.approx(float(unsmoothed.detach()), rel=1e-5)  # type: ignore[union-attr]
    # both given and different: refused
    with pytest.raises(ValueError, match="label_smoothing_factor"):
        MixupTrainer(
            model=tiny_bert(),
            args=args,
            data_collator=MixupDataCollator(tokenizer),
            mixer="text:embedding",
            label_smoothing=0.1,
        )
    same = MixupTrainer(
        model=tiny_bert(),
        args=args,
        data_collator=MixupDataCollator(tokenizer),
        mixer="text:embedding",
        label_smoothing=0.2,
    )
    assert same.label_smoothing == 0.2
