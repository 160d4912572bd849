"""Shared fixtures of the text tests: tiny randomly initialised encoders, built offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

TINY = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 37, "max_position_embeddings": 64}
ARCH_OPTIONS: dict[str, dict[str, Any]] = {
    "bert": {},
    "roberta": {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2},
    "distilbert": {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 37},
    "albert": {"embedding_size": 16},
    "electra": {"embedding_size": 16},
    "deberta-v2": {},
}
LENGTHS = (8, 5, 3, 6)  # real tokens per row of the test batch (B = 4, L = 8, right padding)


def tiny_model(
    arch: str,
    *,
    task: str = "sequence",
    num_labels: int = 3,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    **overrides: Any,
) -> torch.nn.Module:
    """A tiny randomly initialised Hugging Face model in eval mode (hidden 32, 2 layers, 2 heads, vocab 100)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification

    options = {**TINY, **ARCH_OPTIONS[arch], "num_labels": num_labels, **overrides}
    config = AutoConfig.for_model(arch, **options)
    torch.manual_seed(seed)
    factory = AutoModelForTokenClassification if task == "token" else AutoModelForSequenceClassification
    return factory.from_config(config).to(dtype).eval()


def tiny_batch(
    model: torch.nn.Module, lengths: tuple[int, ...] = LENGTHS, length: int = 8, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``: random ids in [5, 100), padded on the right with the model's pad id."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 100, (len(lengths), length), generator=g)
    mask = (torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]).long()
    pad = getattr(model.config, "pad_token_id", None) or 0
    return ids.masked_fill(mask == 0, pad), mask


@pytest.fixture(scope="session")
def make_tiny_model() -> Callable[..., torch.nn.Module]:
    """Factory of tiny models (see `tiny_model`); session-scoped so transformers is imported once."""
    return tiny_model


@pytest.fixture(scope="session")
def make_tiny_batch() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """Factory of ``(input_ids, attention_mask)`` batches for a tiny model (see `tiny_batch`)."""
    return tiny_batch


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run tiny models on one thread: intra-op threads only add synchronisation at this size (with two
    busy cores a 2-thread forward pass of a tiny BERT was measured 50× slower than a 1-thread one).
    Use it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
