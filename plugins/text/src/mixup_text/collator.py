"""A data collator that pads text batches and keeps what the text mixers need."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .tokens import IGNORE_INDEX

__all__ = ["LABEL_KEYS", "MixupDataCollator"]

LABEL_KEYS: tuple[str, ...] = ("labels", "label", "label_ids")
"""The feature keys read as labels (the first one present wins), as in ``transformers``' collators."""


def _as_list(value: Any) -> list[Any] | None:
    """A label sequence as a list, or ``None`` when the label is a scalar."""
    if isinstance(value, torch.Tensor):
        return None if value.ndim == 0 else value.tolist()
    if hasattr(value, "ndim") and hasattr(value, "tolist"):  # NumPy arrays and scalars
        return None if value.ndim == 0 else value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


class MixupDataCollator:
    """Pad tokenised features into a batch for the text mixers (``DataCollatorWithPadding`` plus labels and lengths).

    Each feature is a mapping with ``input_ids`` (and optionally ``attention_mask`` and
    ``token_type_ids``, as a tokenizer returns them), or with ``text`` (a string, or a pair of
    strings), which is then tokenised here with truncation to ``max_length``. The label is read from
    ``labels``, ``label`` or ``label_ids``:

    - an int: a class id, collated to ``labels`` long ``(B,)``;
    - a sequence of floats (one-hot, soft or multi-hot targets): ``labels`` float ``(B, K)``;
    - a sequence of ints as long as the feature's ``input_ids``: per-token labels (token
      classification), padded with ``-100`` on the tokenizer's padding side to ``labels`` long ``(B, T)``.

    The batch holds ``input_ids``, ``attention_mask``, ``token_type_ids`` (when the tokenizer gives
    them), ``labels`` (when the features have them) and ``lengths``, long ``(B,)``: the number of
    real tokens of each sequence (its length before padding, after truncation). Other feature keys
    are padded or stacked by the tokenizer's ``pad`` as in ``DataCollatorWithPadding``.

    Args:
        tokenizer: a ``transformers`` tokenizer (``PreTrainedTokenizerBase``) with a pad token.
        padding: ``True`` or ``"longest"`` (pad to the longest sequence of the batch, default),
            ``"max_length"`` (pad to ``max_length``) or ``False``/``"do_not_pad"`` (every sequence must
            then have the same length).
        max_length: the padded length with ``padding="max_length"``, and the truncation length of
            ``text`` features.
        pad_to_multiple_of: round the padded length up to a multiple of this (tensor cores like 8).

    Raises (on call):
        ValueError: an empty batch, a feature without ``input_ids`` or ``text``, per-token labels
            whose length differs from the feature's ``input_ids``, features that mix labelled and
            unlabelled items or different label kinds.

    Examples:
        >>> collator = MixupDataCollator(tokenizer)                       # doctest: +SKIP
        >>> batch = collator([tokenizer("a short one") | {"label": 0},
        ...                   tokenizer("a somewhat longer sentence") | {"label": 2}])   # doctest: +SKIP
        >>> sorted(batch), batch["lengths"]                              # doctest: +SKIP
        (['attention_mask', 'input_ids', 'labels', 'lengths'], tensor([5, 6]))
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
    ) -> None:
        if not hasattr(tokenizer, "pad") or not callable(tokenizer.pad):
            raise TypeError(
                f"tokenizer must be a transformers tokenizer with a pad method, got {type(tokenizer).__name__}"
            )
        if padding not in (True, False, "longest", "max_length", "do_not_pad"):
            raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
        ):
            raise ValueError(f"max_length must be a positive int or None, got {max_length!r}")
        if padding == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        if pad_to_multiple_of is not None and (
            isinstance(pad_to_multiple_of, bool) or not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1
        ):
            raise ValueError(f"pad_to_multiple_of must be a positive int or None, got {pad_to_multiple_of!r}")
        if padding not in (False, "do_not_pad") and getattr(tokenizer, "pad_token", None) is None:
            raise ValueError(
                f"the tokenizer {type(tokenizer).__name__} has no pad token; set one (e.g. "
                "tokenizer.pad_token = tokenizer.eos_token)"
            )
        self.tokenizer = tokenizer
        self.padding = padding
        self.max_length = max_length
        self.pad_to_multiple_of = pad_to_multiple_of

    def __repr__(self) -> str:
        return (
            f"MixupDataCollator(tokenizer={type(self.tokenizer).__name__}, padding={self.padding!r}, "
            f"max_length={self.max_length!r}, pad_to_multiple_of={self.pad_to_multiple_of!r})"
        )

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if len(features) == 0:
            raise ValueError("features is an empty batch")
        features = [self._tokenised(i, f) for i, f in enumerate(features)]
        label_key = next((k for k in LABEL_KEYS if k in features[0]), None)
        labels = [f.get(label_key) for f in features] if label_key is not None else None
        if labels is not None and any(lbl is None for lbl in labels):
            missing = [i for i, lbl in enumerate(labels) if lbl is None]
            raise ValueError(
                f"features {missing} have no {label_key!r} while feature 0 has one; label every item or none"
            )
        inputs = [{k: v for k, v in f.items() if k not in LABEL_KEYS} for f in features]
        lengths = torch.tensor([len(f["input_ids"]) for f in inputs], dtype=torch.long)
        batch = dict(
            self.tokenizer.pad(
                inputs,
                padding=self.padding,
                max_length=self.max_length if self.padding == "max_length" else None,
                pad_to_multiple_of=self.pad_to_multiple_of,
                return_tensors="pt",
            )
        )
        if "attention_mask" not in batch:
            positions = torch.arange(batch["input_ids"].shape[1])
            if getattr(self.tokenizer, "padding_side", "right") == "left":
                positions = positions.flip(0)
            batch["attention_mask"] = (positions[None, :] < lengths[:, None]).long()
        if labels is not None:
            batch["labels"] = self._collate_labels(labels, lengths, int(batch["input_ids"].shape[1]))
        batch["lengths"] = lengths
        return batch

    # ------------------------------------------------------------------ helpers
    def _tokenised(self, i: int, feature: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(feature, Mapping):
            raise TypeError(
                "each feature must be a mapping (a tokenizer's output plus a label), got "
                f"{type(feature).__name__} at position {i}"
            )
        if "input_ids" in feature:
            out = dict(feature)
            ids = out["input_ids"]
            out["input_ids"] = ids.tolist() if isinstance(ids, torch.Tensor) else ids
            return out
        if "text" not in feature:
            raise ValueError(f"feature {i} has neither 'input_ids' nor 'text': keys {sorted(feature)}")
        text = feature["text"]
        pair = isinstance(text, (tuple, list)) and len(text) == 2
        encoded = (
            self.tokenizer(text[0], text[1], truncation=self.max_length is not None, max_length=self.max_length)
            if pair
            else self.tokenizer(text, truncation=self.max_length is not None, max_length=self.max_length)
        )
        out = {k: v for k, v in feature.items() if k != "text"}
        out.update(dict(encoded))
        return out

    def _collate_labels(self, labels: list[Any], lengths: torch.Tensor, width: int) -> torch.Tensor:
        sequences = [_as_list(lbl) for lbl in labels]
        if all(s is None for s in sequences):
            values = [lbl.item() if hasattr(lbl, "item") else lbl for lbl in labels]
            if any(isinstance(v, float) for v in values):
                return torch.tensor(values, dtype=torch.float32)
            return torch.tensor(values, dtype=torch.long)
        if any(s is None for s in sequences):
            raise ValueError("labels mix scalars (class ids) and sequences (per-token or soft labels) in one batch")
        seqs: list[list[Any]] = [s for s in sequences if s is not None]
        integral = all(isinstance(v, int) and not isinstance(v, bool) for s in seqs for v in s)
        if not integral:  # one-hot, soft or multi-hot targets (B, K)
            widths = {len(s) for s in seqs}
            if len(widths) != 1:
                raise ValueError(f"float labels must all have the same length (classes), got lengths {sorted(widths)}")
            return torch.tensor(seqs, dtype=torch.float32)
        # per-token labels, one per token of input_ids
        for i, (s, n) in enumerate(zip(seqs, lengths.tolist(), strict=True)):
            if len(s) != n:
                raise ValueError(
                    f"per-token labels of feature {i} have length {len(s)}, but its input_ids have length {n}; "
                    "give one label per token (-100 where there is none), or a class id for sequence classification"
                )
        out = torch.full((len(seqs), width), IGNORE_INDEX, dtype=torch.long)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        for i, s in enumerate(seqs):
            if s:
                row = torch.tensor(s, dtype=torch.long)
                if left:
                    out[i, width - len(s):] = row
                else:
                    out[i, : len(s)] = row
        return out
