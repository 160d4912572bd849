"""MixupDataCollator: padding as transformers' DataCollatorWithPadding, plus labels and true lengths."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import DataCollatorWithPadding, PreTrainedTokenizerFast

from mixup_text import IGNORE_INDEX, MixupDataCollator

WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "dog",
    "ran",
    "a",
    "big",
    "red",
    "fast",
    "slow",
]


def make_tokenizer(padding_side: str = "right") -> PreTrainedTokenizerFast:
    """A BERT-like WordLevel tokenizer built locally ([CLS] … [SEP], segment ids for pairs)."""
    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        padding_side=padding_side,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return make_tokenizer()


SENTENCES = ["the cat sat", "a big red dog ran fast", "the mat"]


def test_pads_like_data_collator_with_padding_and_keeps_lengths(tokenizer: PreTrainedTokenizerFast) -> None:
    features = [dict(tokenizer(s)) | {"label": i} for i, s in enumerate(SENTENCES)]
    batch = MixupDataCollator(tokenizer)(features)
    reference = DataCollatorWithPadding(tokenizer)([dict(tokenizer(s)) for s in SENTENCES])
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "labels", "lengths"}
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(batch[key], reference[key]), key
    # [CLS] + words + [SEP]; padded to the longest (8) with the pad id 0 on the right
    assert batch["lengths"].tolist() == [5, 8, 4]
    assert batch["input_ids"].shape == (3, 8)
    assert batch["attention_mask"].sum(dim=1).tolist() == [5, 8, 4]
    assert batch["input_ids"][2, 4:].tolist() == [0, 0, 0, 0]
    assert batch["labels"].dtype == torch.long
    assert batch["labels"].tolist() == [0, 1, 2]


def test_label_keys_and_kinds(tokenizer: PreTrainedTokenizerFast) -> None:
    enc = [dict(tokenizer(s)) for s in SENTENCES[:2]]
    collate = MixupDataCollator(tokenizer)
    assert collate([e | {"labels": torch.tensor(i)} for i, e in enumerate(enc)])["labels"].tolist() == [0, 1]
    assert collate([e | {"label_ids": i} for i, e in enumerate(enc)])["labels"].tolist() == [0, 1]
    soft = collate([e | {"labels": [0.0, 1.0, 0.0]} for e in enc])["labels"]
    assert soft.dtype == torch.float32
    assert soft.shape == (2, 3)
    assert "labels" not in collate(enc)  # unlabelled batches stay unlabelled


def test_token_labels_are_padded_with_ignore_index(tokenizer: PreTrainedTokenizerFast) -> None:
    enc = [dict(tokenizer(s)) for s in SENTENCES]
    token_labels = [[IGNORE_INDEX] + [i + 1] * (len(e["input_ids"]) - 2) + [IGNORE_INDEX] for i, e in enumerate(enc)]
    batch = MixupDataCollator(tokenizer)([e | {"labels": y} for e, y in zip(enc, token_labels, strict=True)])
    labels = batch["labels"]
    assert labels.shape == batch["input_ids"].shape
    assert labels.dtype == torch.long
    assert labels[0].tolist() == [-100, 1, 1, 1, -100, -100, -100, -100]
    assert labels[2].tolist() == [-100, 3, 3, -100, -100, -100, -100, -100]
    # every padding position is ignored
    assert bool((labels[batch["attention_mask"] == 0] == IGNORE_INDEX).all())


def test_left_padding_pads_token_labels_on_the_left() -> None:
    tokenizer = make_tokenizer("left")
    enc = [dict(tokenizer(s)) for s in SENTENCES[:2]]
    labels = [[7] * len(e["input_ids"]) for e in enc]
    batch = MixupDataCollator(tokenizer)([e | {"labels": y} for e, y in zip(enc, labels, strict=True)])
    assert batch["attention_mask"][0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    assert batch["labels"][0].tolist() == [-100, -100, -100, 7, 7, 7, 7, 7]
    assert batch["lengths"].tolist() == [5, 8]


def test_text_features_are_tokenised_and_truncated(tokenizer: PreTrainedTokenizerFast) -> None:
    features = [{"text": s, "label": i} for i, s in enumerate(SENTENCES)]
    batch = MixupDataCollator(tokenizer, max_length=6)(features)
    assert batch["lengths"].tolist() == [5, 6, 4]  # the long sentence is cut to 6 tokens, ending in [SEP]
    assert batch["input_ids"][1, -1].item() == 3
    pair = MixupDataCollator(tokenizer)([{"text": ("the cat", "a dog"), "label": 0}])
    assert pair["token_type_ids"][0].tolist() == [0, 0, 0, 0, 1, 1, 1]


def test_padding_options(tokenizer: PreTrainedTokenizerFast) -> None:
    features = [dict(tokenizer(s)) | {"label": 0} for s in SENTENCES]
    assert MixupDataCollator(tokenizer, padding="max_length", max_length=12)(features)["input_ids"].shape == (3, 12)
    batch = MixupDataCollator(tokenizer, pad_to_multiple_of=8)(features[:1])  # 5 tokens → 8
    assert batch["input_ids"].shape == (1, 8)
    assert batch["lengths"].tolist() == [5]


def test_bad_input_gives_clear_errors(tokenizer: PreTrainedTokenizerFast) -> None:
    enc = [dict(tokenizer(s)) for s in SENTENCES[:2]]
    collate = MixupDataCollator(tokenizer)
    with pytest.raises(
        ValueError, match=r"per-token labels of feature 1 have length 3, but its input_ids have length 8"
    ):
        collate([enc[0] | {"labels": [0] * 5}, enc[1] | {"labels": [0, 1, 2]}])
    with pytest.raises(ValueError, match="empty batch"):
        collate([])
    with pytest.raises(ValueError, match=r"features \[1\] have no 'label'"):
        collate([enc[0] | {"label": 1}, enc[1]])
    with pytest.raises(ValueError, match="neither 'input_ids' nor 'text'"):
        collate([{"label": 1}])
    with pytest.raises(ValueError, match="mix scalars"):
        collate([enc[0] | {"labels": 1}, enc[1] | {"labels": [1] * 8}])
    with pytest.raises(ValueError, match="padding='max_length' needs max_length"):
        MixupDataCollator(tokenizer, padding="max_length")
    with pytest.raises(ValueError, match="padding must be"):
        MixupDataCollator(tokenizer, padding="shortest")
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        MixupDataCollator(tokenizer, pad_to_multiple_of=0)
    with pytest.raises(TypeError, match="tokenizer must be a transformers tokenizer"):
        MixupDataCollator(object())
