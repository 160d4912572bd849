"""Graph-level Manifold Mixup: mix the pooled graph embeddings after the readout of a PyG model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import torch
from pydantic import field_validator
from torch import nn

from mixup_core import MixedForward, Mixer, MixPlan, PairMixer, lerp_pairs, mixer_dataclass, replay_at

from ._targets import check_graph_labels, num_graphs_of

__all__ = ["GraphEmbeddingMixup", "find_readout"]

_PAPER = (
    "Wang, Wang, Liang, Cai, Hooi, Mixup for Node and Graph Classification, WWW 2021, "
    "https://doi.org/10.1145/3442381.3449796"
)


def find_readout(model: nn.Module) -> tuple[str, nn.Module]:
    """The readout of a PyG model: its first ``torch_geometric.nn.aggr.Aggregation`` module.

    Modules are visited in ``model.named_modules()`` order (the order of assignment in
    ``__init__``). Aggregations inside a message-passing layer (``GINConv.aggr_module`` …) aggregate
    neighbours, not graphs, and are skipped; inside a nested aggregation (``MultiAggregation``) the
    outermost one is returned.

    Args:
        model: the network.

    Returns:
        ``(name, module)``: the dotted name (``""`` when ``model`` is itself the readout) and the module.

    Raises:
        ValueError: no such module; pooling written as a function (``global_add_pool``) has no
            module to hook, so the message asks for ``at=``.

    Examples:
        >>> from torch_geometric.nn import GINConv
        >>> from torch_geometric.nn.aggr import SumAggregation
        >>> net = nn.ModuleDict({"conv": GINConv(nn.Linear(3, 8)), "pool": SumAggregation()})
        >>> find_readout(net)[0]
        'pool'
    """
    from torch_geometric.nn.aggr import Aggregation
    from torch_geometric.nn.conv import MessagePassing

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    inside: list[str] = []
    for name, module in model.named_modules():
        if any(p == "" or name.startswith(p + ".") for p in inside):
            continue
        if isinstance(module, MessagePassing):
            inside.append(name)
        elif isinstance(module, Aggregation):
            return name, module
    raise ValueError(
        f"no readout found in {type(model).__name__}: it has no torch_geometric.nn.aggr.Aggregation module outside "
        "its message-passing layers (functional pooling such as global_add_pool cannot be hooked). Pass at= the "
        "dotted name of a module (or the module) whose output is the pooled (num_graphs, D) embedding, e.g. a "
        "torch_geometric.nn.aggr.SumAggregation, or the classifier head with where='input'"
    )


def _module_names(model: nn.Module, limit: int = 20) -> str:
    names = [n for n, _ in model.named_modules() if n]
    return (", ".join(names[:limit]) + (" …" if len(names) > limit else "")) or "none"


def _resolve_site(model: nn.Module, at: str | nn.Module) -> tuple[nn.Module, str]:
    """The submodule named by ``at`` (a dotted name or the module itself) and its name in ``model``."""
    if isinstance(at, nn.Module):
        name = next((n for n, m in model.named_modules() if m is at), None)
        if name is None:
            raise ValueError(f"at= is a {type(at).__name__} that is not a submodule of {type(model).__name__}")
        return at, name
    if not isinstance(at, str) or not at.strip():
        raise TypeError(f"at must be a dotted module name or an nn.Module, got {type(at).__name__}: {at!r}")
    try:
        return model.get_submodule(at), at
    except AttributeError:
        raise ValueError(
            f"at={at!r} is not a submodule of {type(model).__name__}; its submodules are: {_module_names(model)}"
        ) from None


def _call_model(model: nn.Module, data: Any, model_args: Sequence[str] | None, model_kwargs: dict[str, Any]) -> Any:
    """``model(data, **model_kwargs)``, or ``model(*(data.<a> for a in model_args), **model_kwargs)``."""
    if model_args is None:
        return model(data, **model_kwargs)
    if isinstance(model_args, str):
        raise TypeError(
            f"model_args must be a sequence of attribute names such as ('x', 'edge_index'), got {model_args!r}"
        )
    args = []
    for attr in model_args:
        value = getattr(data, attr, None)
        if value is None:
            raise ValueError(f"model_args names {attr!r}, but the data has no attribute {attr!r} (or it is None)")
        args.append(value)
    return model(*args, **model_kwargs)


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return None


@contextmanager
def _checked_replay(
    module: nn.Module, name: str, mixer: Mixer, plan: MixPlan, *, where: Literal["output", "input"], what: str
) -> Iterator[None]:
    """`mixup_core.replay_at` with checks: the hooked tensor has one row per plan entry (``what``:
    graphs or nodes), and the module ran at least once inside the block."""
    rows = plan.batch_size
    calls = [0]
    label = f"{name!r}" if name else type(module).__name__

    def check(value: Any) -> None:
        calls[0] += 1
        t = _first_tensor(value)
        if t is not None and (t.ndim < 2 or t.shape[0] != rows):
            raise ValueError(
                f"the {where} of at={label} has shape {tuple(t.shape)}, but the batch has {rows} {what}: at= must name "
                f"a module whose {where} is ({rows}, D), one row per {what[:-1]}"
            )

    if where == "output":
        handle = module.register_forward_hook(lambda mod, args, output: check(output))
    else:
        handle = module.register_forward_pre_hook(lambda mod, args: check(args[0] if args else None))
    try:
        with replay_at(module, mixer, plan, where=where):
            yield
    finally:
        handle.remove()
    if calls[0] == 0:
        raise ValueError(
            f"at={label} was not called during the forward pass, so nothing was mixed; name a module the model uses"
        )


@mixer_dataclass
class GraphEmbeddingMixup(PairMixer):
    """Graph-level Manifold Mixup: mix the pooled graph embeddings after the readout, labels as in mixup.

    ``ẽ_i = λ·e_i + (1 − λ)·e_index[i]`` where ``e`` is the ``(num_graphs, D)`` output of the model's
    readout (graph pooling), and ``ỹ_i = λ·y_i + (1 − λ)·y_index[i]``, λ ~ Beta(α, α) (the graph
    classification part of Wang, Wang, Liang, Cai, Hooi, *Mixup for Node and Graph Classification*,
    WWW 2021, doi:10.1145/3442381.3449796). Graphs differ in size and node order, so they are mixed
    where every graph is one vector: after pooling; the message-passing layers see the real graphs.

    `forward` runs the user's PyG model once on a ``Batch`` with the mix replayed at the readout
    (core's `mixup_core.replay_at`): the plan (pairs and λ) is sampled for the ``num_graphs`` graphs,
    and a forward hook mixes the readout's output. Called like any mixer (``mixer(e, y,
    generator=g)``) it mixes a ``(B, D)`` tensor of embeddings directly.

    Args:
        at: dotted name of the readout module in ``model.named_modules()`` (its output must be
            ``(num_graphs, D)``); ``None`` (default) takes `find_readout`: the first
            ``torch_geometric.nn.aggr.Aggregation`` outside the message-passing layers. `forward`'s
            ``at=`` overrides it (and also takes a module).
        where: mix the module's ``"output"`` (default) or its first ``"input"``; ``"input"`` with
            the classifier head as ``at`` suits models that pool with a function (``global_add_pool``).
        alpha: Beta(α, α) concentration of λ, default 1.0 (uniform λ; the paper's graph-level α is
            not stated in its released code).
        **kwargs: λ, ``mode``, pairing (``"within-class"`` …) and protection options of
            `mixup_core.PairMixer`, and ``p``, ``enabled``, ``num_classes`` of `mixup_core.Mixer`.

    Note:
        The loss is ``soft_cross_entropy(res.output, res.targets)`` (or
        `mixup_core.mixed_cross_entropy`). Targets default to ``batch.y``: long ``(B,)`` class
        indices or float ``(B, C)`` soft labels (see `mixup_graph.targets`). If the model calls the
        readout module more than once per forward pass, every call is mixed with the same plan.

    Examples:
        >>> from torch_geometric.data import Batch, Data
        >>> from torch_geometric.nn import GINConv
        >>> from torch_geometric.nn.aggr import SumAggregation
        >>> class Net(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.conv, self.pool, self.head = GINConv(nn.Linear(3, 8)), SumAggregation(), nn.Linear(8, 2)
        ...     def forward(self, data):
        ...         h = self.conv(data.x, data.edge_index).relu()
        ...         return self.head(self.pool(h, data.batch, dim_size=data.num_graphs))
        >>> graphs = [Data(x=torch.randn(n, 3), edge_index=torch.tensor([[0, 1], [1, 0]]), y=torch.tensor([n % 2]))
        ...           for n in (3, 4, 5, 6)]
        >>> res = GraphEmbeddingMixup(num_classes=2).forward(Net(), Batch.from_data_list(graphs),
        ...                                                  generator=torch.Generator().manual_seed(0))
        >>> res.layer, res.output.shape, res.targets.dense().sum(dim=1).tolist()
        ('pool', torch.Size([4, 2]), [1.0, 1.0, 1.0, 1.0])
    """

    name: ClassVar[str] = "embedding"
    modality: ClassVar[str] = "graph"
    paper: ClassVar[str] = _PAPER
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "hook"
    min_ndim: ClassVar[int] = 2
    example_shape: ClassVar[tuple[int, ...]] = (8,)
    feature_dim: ClassVar[int] = 1

    at: str | None = None
    where: Literal["output", "input"] = "output"

    @field_validator("at")
    @classmethod
    def _check_at(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError(f"at must be a dotted module name or None, got {value!r}")
        return value

    def forward(
        self,
        model: nn.Module,
        batch: Any,
        targets: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        num_classes: int | None = None,
        at: str | nn.Module | None = None,
        protected: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
        model_args: Sequence[str] | None = None,
        **model_kwargs: Any,
    ) -> MixedForward:
        """Run ``model`` once on ``batch`` with the pooled graph embeddings mixed at the readout.

        Args:
            model: the PyG model; called as ``model(batch, **model_kwargs)``, or with the batch
                attributes named by ``model_args``.
            batch: a ``torch_geometric.data.Batch`` of ``B`` graphs.
            targets: ``(B,)`` class indices or ``(B, C)`` soft labels; default ``batch.y`` (no
                targets are mixed when both are missing).
            generator: CPU generator for the pairs and λ.
            num_classes: overrides the mixer's ``num_classes`` (needed to densify class indices;
                `mixup_core.soft_cross_entropy` takes it from the logits).
            at: the readout: a dotted module name or the module; default the mixer's ``at``, else
                `find_readout`.
            protected: boolean ``(B,)``: graphs that must never be the minority of a mix.
            groups: integer ``(B,)`` group ids (for ``pairing="within-group"``).
            model_args: names of batch attributes passed positionally instead of the batch, e.g.
                ``("x", "edge_index", "batch")``.
            **model_kwargs: passed to ``model``.

        Returns:
            `mixup_core.MixedForward`: ``output`` (what the model returned), ``targets`` (mixed with
            the plan's λ), ``plan`` (over the ``B`` graphs) and ``layer`` (the readout's name).
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        n = num_graphs_of(batch)
        if n < 1:
            raise ValueError(f"batch holds no graphs (num_graphs={n})")
        site = at if at is not None else self.at
        if site is None:
            name, module = find_readout(model)
        else:
            module, name = _resolve_site(model, site)
        k = num_classes if num_classes is not None else self.num_classes
        given = targets is not None
        y = targets if given else getattr(batch, "y", None)
        checked = None if y is None else check_graph_labels(y, n, k, name="targets" if given else "batch.y")
        placeholder = torch.empty(n, 1)  # sample() reads the batch size only
        plan = self.sample(placeholder, checked, generator=generator, protected=protected, groups=groups)
        mixed = None if checked is None else self.mix_targets(checked, plan, num_classes=k)
        with _checked_replay(module, name, self, plan, where=self.where, what="graphs"):
            output = _call_model(model, batch, model_args, model_kwargs)
        return MixedForward(output=output, targets=mixed, plan=plan, layer=name)

    def _apply(self, inputs: torch.Tensor, plan: MixPlan, *, out: torch.Tensor | None) -> torch.Tensor:
        return lerp_pairs(inputs, plan, out=out, mixer=type(self).__name__)
