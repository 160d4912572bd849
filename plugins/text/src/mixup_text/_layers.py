"""Finding the parts of a Hugging Face encoder through its structure, and replaying a plan there.

Nothing here imports ``transformers``: the parts are found by walking the module tree of any
``nn.Module`` (``get_input_embeddings()``, ``base_model``, ``named_modules()``), so importing the
plugin stays cheap and models that are not Hugging Face models work with explicit paths.

The parts a text mixer needs:

* the **input embeddings**, ``model.get_input_embeddings()`` (the word-embedding table);
* the **embeddings module**, whose output is the first hidden state (word + position + segment
  embeddings after LayerNorm): ``<base>.embeddings`` for BERT, RoBERTa, ELECTRA, DeBERTa-v2,
  ALBERT and DistilBERT;
* the **encoder layers**: ``<base>.encoder.layer`` (BERT, RoBERTa, ELECTRA, DeBERTa-v2),
  ``<base>.transformer.layer`` (DistilBERT), and ALBERT's shared ``<base>.encoder.albert_layer_groups``:
  ALBERT runs one layer group several times, so encoder layer ``k`` is the ``c``-th call of group
  ``g`` (`LayerSite.call`), and the hook counts calls;
* the **head**: the final ``nn.Linear`` that produces the logits, whose input is the sentence
  representation (``classifier`` for BERT, ALBERT, DistilBERT, DeBERTa-v2; ``classifier.out_proj``
  for the RoBERTa and ELECTRA heads).

Unknown architectures raise a ``ValueError`` that names the model class and the override
(``layers="encoder.layer"``, ``embeddings="bert.embeddings"``, ``head="classifier"``), given as
dotted paths relative to the model or to its ``base_model``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from mixup_core import Mixer, MixPlan, replay_at

__all__ = [
    "LayerSite",
    "find_embeddings",
    "find_head",
    "find_input_embeddings",
    "find_layers",
    "replay_at_site",
]

_LAYER_PATHS: tuple[str, ...] = (
    "encoder.layer",  # BERT, RoBERTa, ELECTRA, DeBERTa-v2, XLM-R, MPNet, …
    "transformer.layer",  # DistilBERT
    "encoder.albert_layer_groups",  # ALBERT (shared across depth)
    "encoder.layers",
    "layers",  # ModernBERT
    "layer",
)
_EMBEDDING_PATHS: tuple[str, ...] = ("embeddings",)
_HEAD_PATHS: tuple[str, ...] = ("classifier.out_proj", "classifier", "score")


@dataclass(frozen=True)
class LayerSite:
    """Where the output of one encoder layer can be hooked.

    Args:
        module: the module whose output is the hidden state after this layer.
        call: which call of ``module`` during one forward pass is this layer (``0`` unless the
            module is shared across depth, as ALBERT's layer groups).
        shared: whether ``module`` runs more than once per forward pass.
        name: a readable name: the dotted module name, with ``#call`` for shared modules.
    """

    module: nn.Module
    call: int
    shared: bool
    name: str


def _name_of(model: nn.Module, module: nn.Module) -> str:
    return next((n for n, m in model.named_modules() if m is module), type(module).__name__)


def _base(model: nn.Module) -> nn.Module:
    base = getattr(model, "base_model", None)
    return base if isinstance(base, nn.Module) else model


def _resolve(model: nn.Module, path: str) -> nn.Module | None:
    """``path`` relative to ``model``, else relative to its ``base_model``; ``None`` when absent."""
    for root in (model, _base(model)):
        try:
            return root.get_submodule(path)
        except AttributeError:
            continue
    return None


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module (a Hugging Face encoder), got {type(model).__name__}")
    return model


def _resolve_override(model: nn.Module, path: object, what: str) -> nn.Module:
    if isinstance(path, nn.Module):
        return path
    if not isinstance(path, str) or not path.strip():
        raise TypeError(f"{what} must be a dotted module path such as 'encoder.layer' or an nn.Module, got {path!r}")
    found = _resolve(model, path.strip())
    if found is None:
        base = _base(model)
        where = type(model).__name__ + (f" or its base model ({type(base).__name__})" if base is not model else "")
        raise ValueError(f"{what}={path!r} is not a submodule of {where}")
    return found


def find_input_embeddings(model: nn.Module) -> nn.Module:
    """The word-embedding table, ``model.get_input_embeddings()``.

    Raises:
        ValueError: when the model has no ``get_input_embeddings`` or it returns no module.
    """
    _check_model(model)
    getter = getattr(model, "get_input_embeddings", None)
    table = getter() if callable(getter) else None
    if not isinstance(table, nn.Module):
        raise ValueError(
            f"{type(model).__name__} has no input embeddings (get_input_embeddings() returned "
            f"{type(table).__name__}); token-embedding mixing needs a model that accepts inputs_embeds"
        )
    return table


def find_embeddings(model: nn.Module, embeddings: str | nn.Module | None = None) -> tuple[nn.Module, str]:
    """The embeddings module (its output is the first hidden state) and its dotted name.

    Args:
        model: the encoder or a model with a task head.
        embeddings: override: a dotted path (relative to ``model`` or its ``base_model``) or the module.
    """
    _check_model(model)
    if embeddings is not None:
        module = _resolve_override(model, embeddings, "embeddings")
        return module, _name_of(model, module)
    for path in _EMBEDDING_PATHS:
        found = _resolve(model, path)
        if found is not None:
            return found, _name_of(model, found)
    raise ValueError(
        f"could not find the embeddings module of {type(model).__name__} (looked for "
        f"{', '.join(_EMBEDDING_PATHS)} under the model and its base_model); pass embeddings='<dotted path>', "
        "e.g. embeddings='bert.embeddings'"
    )


def _albert_schedule(model: nn.Module, groups: nn.Module) -> list[tuple[int, int]] | None:
    """ALBERT: (group, call) of each of the ``num_hidden_layers`` layers, or ``None`` if not ALBERT."""
    base = _base(model)
    encoder = getattr(base, "encoder", None)
    if encoder is None or getattr(encoder, "albert_layer_groups", None) is not groups:
        return None
    config = getattr(model, "config", None) or getattr(base, "config", None)
    depth = getattr(config, "num_hidden_layers", None)
    n_groups = getattr(config, "num_hidden_groups", None)
    if not isinstance(depth, int) or not isinstance(n_groups, int) or n_groups < 1:
        return None
    schedule: list[tuple[int, int]] = []
    calls = [0] * n_groups
    for i in range(depth):
        # the group of layer i, exactly as AlbertTransformer.forward computes it
        g = int(i / (depth / n_groups))
        schedule.append((g, calls[g]))
        calls[g] += 1
    return schedule


def find_layers(model: nn.Module, layers: str | nn.Module | None = None) -> tuple[LayerSite, ...]:
    """The encoder layers, in order: ``sites[k - 1]`` is where the output of layer ``k`` is hooked.

    Args:
        model: the encoder or a model with a task head.
        layers: override: a dotted path to the ``nn.ModuleList`` of layers (relative to ``model``
            or its ``base_model``, e.g. ``"encoder.layer"``) or the list itself. Each module of an
            override is assumed to run once per forward pass.

    Note:
        ALBERT shares its layer group(s) across depth; its ``num_hidden_layers`` layers are found
        from the config (``num_hidden_layers``, ``num_hidden_groups``) as calls of the shared groups.
        With ``inner_group_num > 1`` one call of a group runs several inner layers, and a "layer"
        here is one such call.
    """
    _check_model(model)
    if layers is not None:
        container = _resolve_override(model, layers, "layers")
    else:
        found = None
        for path in _LAYER_PATHS:
            candidate = _resolve(model, path)
            if isinstance(candidate, (nn.ModuleList, nn.Sequential)) and len(candidate) > 0:
                found = candidate
                break
        if found is None:
            raise ValueError(
                f"could not find the encoder layers of {type(model).__name__} (looked for {', '.join(_LAYER_PATHS)} "
                "under the model and its base_model); pass layers='<dotted path to the nn.ModuleList of layers>', "
                "e.g. layers='encoder.layer'"
            )
        container = found
    if not isinstance(container, (nn.ModuleList, nn.Sequential)) or len(container) == 0:
        raise ValueError(
            f"layers must name a non-empty nn.ModuleList of encoder layers, got {type(container).__name__} "
            f"in {type(model).__name__}"
        )
    prefix = _name_of(model, container)
    schedule = _albert_schedule(model, container)
    if schedule is not None:
        counts = [sum(1 for g, _ in schedule if g == j) for j in range(len(container))]
        return tuple(
            LayerSite(module=container[g], call=c, shared=counts[g] > 1, name=f"{prefix}.{g}#{c}")
            for g, c in schedule
        )
    return tuple(LayerSite(module=m, call=0, shared=False, name=f"{prefix}.{i}") for i, m in enumerate(container))


def find_head(model: nn.Module, head: str | nn.Module | None = None) -> tuple[nn.Module, str]:
    """The final ``nn.Linear`` of the classification head (its input is the sentence representation).

    Args:
        model: a model with a classification head (``…ForSequenceClassification``).
        head: override: a dotted path or the module whose **input** is to be mixed.
    """
    _check_model(model)
    if head is not None:
        module = _resolve_override(model, head, "head")
        return module, _name_of(model, module)
    for path in _HEAD_PATHS:
        try:
            module = model.get_submodule(path)
        except AttributeError:
            continue
        if isinstance(module, nn.Linear):
            return module, path
    raise ValueError(
        f"could not find the classification head of {type(model).__name__} (looked for an nn.Linear at "
        f"{', '.join(_HEAD_PATHS)}); pass head='<dotted path of the final nn.Linear>', e.g. head='classifier'"
    )


def _mix_first(value: Any, mixer: Mixer, plan: MixPlan) -> Any:
    if isinstance(value, torch.Tensor):
        return mixer.apply(value, plan)
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return type(value)([mixer.apply(value[0], plan), *value[1:]])
    raise TypeError(
        f"the hooked layer returned {type(value).__name__}; a text mixer can mix a tensor or a tuple whose first "
        "item is the hidden state"
    )


@contextmanager
def replay_at_site(
    site: LayerSite, mixer: Mixer, plan: MixPlan, *, where: Literal["output", "input"] = "output"
) -> Iterator[None]:
    """Mix the output of one encoder layer with ``plan`` during the forward pass inside the block.

    A module that runs once per pass goes through `mixup_core.replay_at`; a shared module
    (ALBERT) is hooked with a counter and only its ``site.call``-th call is mixed, so the block must
    contain exactly one forward pass of the model.
    """
    if not site.shared:
        with replay_at(site.module, mixer, plan, where=where):
            yield
        return
    if where != "output":
        raise ValueError(f"shared layers are mixed at their output, got where={where!r}")
    count = 0

    def hook(mod: nn.Module, args: Any, output: Any) -> Any:
        nonlocal count
        current = count
        count += 1
        return _mix_first(output, mixer, plan) if current == site.call else None

    handle = site.module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
