"""G-Mixup (Han et al., ICML 2022): mix class graphons and sample new labelled graphs, before training."""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch_geometric.data import Data

from mixup_core import ConfigError, MixedBatch, MixedTargets, Mixer, MixPlan, TaskData, check_generator, mixer_dataclass

from ._graphon import (
    SampledGraphs,
    _estimate,
    align_graphs,
    class_means,
    collect_graphs,
    estimate_graphon,
    sample_graphs,
)

__all__ = ["GMixup", "align_graphs", "estimate_graphon"]

_NOT_A_BATCH_MIXER = (
    "GMixup is a data-set level generator, not a batch mixer: estimate the class graphons with "
    "gm.fit(train_graphs) and draw new graphs with gm.generate(generator=g) (or gm.fit_generate(...)), "
    "then append them to the training set"
)


@mixer_dataclass
class GMixup(Mixer):
    """G-Mixup: estimate one graphon per class, mix two class graphons, sample new soft-labelled graphs.

    A data-set level generator for graph classification (Han, Jiang, Liu, Hu, *G-Mixup: Graph Data
    Augmentation for Graph Classification*, ICML 2022, arXiv:2202.07179; reference code
    ahxt/g-mixup). `fit` splits the training graphs by class, aligns every graph by sorting its
    nodes by descending degree and padding (or truncating) it to ``N = resolution`` nodes, and
    estimates one step-function graphon per class (``graphons_``, ``(C, N, N)``). `generate` then
    makes ``aug_num`` draws: each picks two distinct classes i, j at random and λ ~ U(``lam_range``),
    forms W = λ·W_i + (1 − λ)·W_j and samples graphs from it (A_uv ~ Bernoulli(W_uv) for u < v,
    mirrored, no self loops, isolated nodes dropped) with the soft label y = λ·e_i + (1 − λ)·e_j,
    a float tensor of shape ``(1, C)``. Everything runs on the CPU, vectorised over graphs; all
    randomness comes from the ``generator``.

    Node features of the new graphs (``node_features``):

    * ``"dataset"``: the node-feature variant of the reference (``align_x_graphs`` /
      ``two_x_graphons_mixup``): per class, the mean feature matrix of the aligned graphs (at grid
      position k, the mean over the graphs that have a k-th node), mixed with the same λ; a new
      graph's node at grid position k gets row k. Features are float (the data set's floating dtype,
      float32 for integer features).
    * ``"degree"``: as the paper does for data sets without features, one-hot node degree of width
      ``D + 1``, where D is the largest degree in the training set (``max_degree_``), so the new graphs'
      features line up with the real graphs' (degrees above D, possible in sampled graphs, are
      clamped to D); when D >= ``max_onehot_degree`` (2000, as the reference) the degree normalised by
      the training set's mean and standard deviation, ``(n, 1)``. Use `as_training_graphs` to give
      the real graphs the same features and one-hot labels.
    * ``"auto"`` (default): ``"dataset"`` when the graphs have ``x``, ``"degree"`` otherwise.

    Args:
        resolution: N, the number of nodes of the aligned graphs and graphons; ``"median"``
            (default) takes the median node count of the training graphs (the reference's choice).
        estimator: ``"usvt"`` (default; universal singular value thresholding, what the reference
            script always runs) or ``"sas"`` (sorting and smoothing).
        threshold: USVT threshold: singular values of a class's mean aligned adjacency below
            ``threshold·√N`` are zeroed (the reference's convention; it hard-codes 0.2, the default).
        sas_block_size: SAS block size h (default ``⌊log2 N⌋ + 1``).
        sas_smoothing: weight of the total-variation smoothing of the SAS block histogram (default
            0.02; the reference's ``sorted_smooth`` uses h, which flattens a few-block structure).
        lam_range: ``(low, high)`` with ``0 <= low <= high <= 1``: λ ~ U(low, high) weighs the *first*
            class of a draw. Default ``(0.005, 0.01)``, the reference script's default, so every new
            graph is mostly the second class with a little of the first; the paper's figures use
            wider ranges such as (0.1, 0.2).
        aug_ratio: number of new graphs as a fraction of the training set (default 0.15).
        aug_num: number of draws (class pairs and λ values), default 10; each draw gives
            ``aug_ratio·|train| / aug_num`` graphs (rounded down, as the reference).
        drop_isolated: drop the nodes without an edge from the sampled graphs (default ``True``).
        node_features: ``"auto"``, ``"dataset"`` or ``"degree"``, see above.
        max_onehot_degree: the largest training degree at which degree features stop being
            one-hot and become the normalised degree (default 2000).
        min_graphs_per_class: fewest training graphs a class needs for its graphon (default 2).
        num_classes: width C of the soft labels (default: the largest label + 1); `fit` can override it.
        enabled: ``False`` makes `generate` return no graphs.
        p: inherited from `mixup_core.Mixer`; must stay 1 (a generator has no per-batch probability).

    Calling the object on a batch raises a ``TypeError``: use `fit` and `generate`. In ``mixup compare``
    (``cost == "dataset"``) the runner calls `augment_task` once per run, with a generator seeded from
    the run seed, and trains without a batch mixer on the augmented, soft-labelled training set.

    Examples:
        >>> from torch_geometric.utils import stochastic_blockmodel_graph
        >>> def graph(label, probs):
        ...     ei = stochastic_blockmodel_graph([10, 10], probs)
        ...     return Data(edge_index=ei, num_nodes=20, y=torch.tensor([label]))
        >>> train = [graph(0, [[0.8, 0.05], [0.05, 0.8]]) for _ in range(20)]
        >>> train += [graph(1, [[0.3, 0.3], [0.3, 0.3]]) for _ in range(20)]
        >>> gm = GMixup(lam_range=(0.1, 0.2)).fit(train)
        >>> tuple(gm.graphons_.shape)
        (2, 20, 20)
        >>> new = gm.generate(100, generator=torch.Generator().manual_seed(0))
        >>> new[0].y.shape, new[0].x.shape[1] == gm.max_degree_ + 1
        (torch.Size([1, 2]), True)
        >>> train = gm.as_training_graphs(train) + new  # one-hot degree x and float (1, C) y everywhere
    """

    name: ClassVar[str] = "gmixup"
    modality: ClassVar[str] = "graph"
    cost: ClassVar[Literal["none", "forward", "gradients", "hook", "dataset"]] = "dataset"
    paper: ClassVar[str] = (
        "Han, Jiang, Liu, Hu, G-Mixup: Graph Data Augmentation for Graph Classification, ICML 2022, "
        "https://arxiv.org/abs/2202.07179"
    )

    resolution: Annotated[int, Field(ge=1)] | Literal["median"] = "median"
    estimator: Literal["usvt", "sas"] = "usvt"
    threshold: float = Field(default=0.2, ge=0, allow_inf_nan=False)
    sas_block_size: int | None = Field(default=None, ge=1)
    sas_smoothing: float = Field(default=0.02, ge=0, allow_inf_nan=False)
    lam_range: tuple[float, float] = (0.005, 0.01)
    aug_ratio: float = Field(default=0.15, gt=0, allow_inf_nan=False)
    aug_num: int = Field(default=10, ge=1)
    drop_isolated: bool = True
    node_features: Literal["auto", "dataset", "degree"] = "auto"
    max_onehot_degree: int = Field(default=2000, ge=1)
    min_graphs_per_class: int = Field(default=2, ge=1)

    @field_validator("lam_range")
    @classmethod
    def _check_lam_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 <= value[0] <= value[1] <= 1.0:
            raise ValueError(f"lam_range must be (low, high) with 0 <= low <= high <= 1, got lam_range={value!r}")
        return value

    @field_validator("p")
    @classmethod
    def _check_p(cls, value: float) -> float:
        if value != 1.0:
            raise ValueError(
                f"p must be 1 for G-Mixup (a data-set level generator; set aug_ratio instead), got p={value!r}"
            )
        return value

    # ------------------------------------------------------------------ not a batch mixer
    def __call__(self, inputs: Any, targets: Any = None, **kwargs: Any) -> MixedBatch:
        """Not available: G-Mixup works on the whole training set (raises ``TypeError``)."""
        raise TypeError(_NOT_A_BATCH_MIXER)

    def sample(self, inputs: Any, targets: Any = None, **kwargs: Any) -> MixPlan:
        """Not available: G-Mixup has no per-batch plan (raises ``TypeError``)."""
        raise TypeError(_NOT_A_BATCH_MIXER)

    def apply(self, inputs: Any, plan: Any, **kwargs: Any) -> torch.Tensor:
        """Not available: G-Mixup has no per-batch plan (raises ``TypeError``)."""
        raise TypeError(_NOT_A_BATCH_MIXER)

    def mix_targets(self, targets: Any, plan: Any, **kwargs: Any) -> MixedTargets:
        """Not available: the labels of the new graphs come from `generate` (raises ``TypeError``)."""
        raise TypeError(_NOT_A_BATCH_MIXER)

    # ------------------------------------------------------------------ fitted state
    @property
    def graphons_(self) -> torch.Tensor:
        """The class graphons, float32 ``(C, N, N)``: ``graphons_[k]`` belongs to class ``classes_[k]``."""
        return self._fitted("graphons_")

    @property
    def classes_(self) -> torch.Tensor:
        """The classes that have a graphon, long ``(C,)`` (every class present in the training set)."""
        return self._fitted("classes_")

    @property
    def features_(self) -> torch.Tensor | None:
        """Per-class mean aligned node features ``(C, N, F)`` when ``node_features`` is ``"dataset"``, else ``None``."""
        return self._fitted("features_")

    @property
    def resolution_(self) -> int:
        """N, the resolution used by `fit`."""
        return self._fitted("resolution_")

    @property
    def num_classes_(self) -> int:
        """C, the width of the soft labels."""
        return self._fitted("num_classes_")

    @property
    def feature_mode_(self) -> str:
        """``"dataset"``, ``"degree"`` (one-hot) or ``"normalized-degree"``: the node features `generate` gives."""
        return self._fitted("feature_mode_")

    @property
    def max_degree_(self) -> int:
        """D, the largest node degree in the training set (one-hot degree features have width D + 1)."""
        return self._fitted("max_degree_")

    @property
    def is_fitted(self) -> bool:
        """Whether `fit` has run."""
        return "_state" in self.__dict__

    def _fitted(self, key: str) -> Any:
        state = self.__dict__.get("_state")
        if state is None:
            raise RuntimeError(f"GMixup.{key} is set by fit(): call gm.fit(train_graphs) first")
        return state[key]

    # ------------------------------------------------------------------ fit / generate
    def fit(self, graphs: Iterable[Data], num_classes: int | None = None) -> GMixup:
        """Estimate one graphon per class from the training graphs; returns ``self``.

        Estimation is deterministic (it draws no random numbers).

        Args:
            graphs: the training graphs: PyG ``Data`` with ``edge_index`` (undirected: both
                directions stored) and an integer class label ``y`` of shape ``()`` or ``(1,)``;
                ``x`` optional (see ``node_features``).
            num_classes: width of the soft labels; default the mixer's ``num_classes``, else the
                largest label + 1.

        Raises:
            ValueError: an empty list, a graph without ``y``, an edge list that is not symmetric,
                features of different widths, a label >= ``num_classes``, fewer than two classes, or a
                class with fewer than ``min_graphs_per_class`` graphs (the messages name the graph
                index and field).
        """
        if self.p != 1.0:
            raise ConfigError(f"p must be 1 for G-Mixup, got p={self.p!r}")
        gs = collect_graphs(
            graphs, need_y=True, need_x=self.node_features == "dataset", read_x=self.node_features != "degree"
        )
        assert gs.y is not None
        k = num_classes if num_classes is not None else self.num_classes
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"num_classes must be an integer >= 1, got num_classes={k!r}")
        top = int(gs.y.max())
        if k is None:
            k = top + 1
        elif top >= k:
            i = int((gs.y >= k).nonzero()[0])
            raise ValueError(f"graphs[{i}].y = {int(gs.y[i])} is not a class index below num_classes={k}")
        counts = torch.bincount(gs.y, minlength=k)
        classes = counts.nonzero().squeeze(1)
        if classes.numel() < 2:
            raise ValueError(
                f"G-Mixup mixes the graphons of two classes, but the training graphs have only class(es) "
                f"{classes.tolist()} (graphs[*].y)"
            )
        small = classes[counts[classes] < self.min_graphs_per_class]
        if small.numel():
            c = int(small[0])
            first = int((gs.y == c).nonzero()[0])
            raise ValueError(
                f"class {c} has {int(counts[c])} training graph(s) (e.g. graphs[{first}].y = {c}), fewer than "
                f"min_graphs_per_class={self.min_graphs_per_class} needed to estimate its graphon"
            )
        if self.resolution == "median":
            n = int(statistics.median(gs.num_nodes.tolist()))
            if n < 1:
                raise ValueError("resolution='median' gives 0: the median training graph has no nodes; set resolution")
        else:
            n = int(self.resolution)
        group = torch.full((k,), -1, dtype=torch.long)
        group[classes] = torch.arange(classes.numel())
        mean_adj, mean_x = class_means(gs, group[gs.y], int(classes.numel()), n)
        graphons = _estimate(
            mean_adj,
            self.estimator,
            threshold=self.threshold,
            block_size=self.sas_block_size,
            smoothing=self.sas_smoothing,
        )
        graphons = 0.5 * (graphons + graphons.transpose(-1, -2))  # remove round-off asymmetry
        use_x = self.node_features == "dataset" or (self.node_features == "auto" and gs.x is not None)
        max_degree = int(gs.raw_degree.max()) if gs.raw_degree.numel() else 0
        if use_x:
            assert gs.x is not None
            assert mean_x is not None
            mode = "dataset"
            x_dtype = gs.x.dtype if gs.x.is_floating_point() else torch.float32
        else:
            mode = "degree" if max_degree < self.max_onehot_degree else "normalized-degree"
            x_dtype = torch.float32
            mean_x = None
        deg = gs.raw_degree.to(torch.float64)
        state = {
            "graphons_": graphons.to(torch.float32),
            "classes_": classes,
            "features_": mean_x,
            "resolution_": n,
            "num_classes_": k,
            "feature_mode_": mode,
            "max_degree_": max_degree,
            "x_dtype": x_dtype,
            "degree_mean": float(deg.mean()) if deg.numel() else 0.0,
            "degree_std": float(deg.std()) if deg.numel() > 1 else 1.0,
            "num_train": gs.num_graphs,
        }
        object.__setattr__(self, "_state", state)
        return self

    def generate(self, num_graphs: int | None = None, *, generator: torch.Generator | None = None) -> list[Data]:
        """Sample new graphs from mixed class graphons (call `fit` first).

        Args:
            num_graphs: how many graphs; default ``aug_num · ⌊aug_ratio·|train| / aug_num⌋`` (the
                reference's count). They are spread over the ``aug_num`` draws as evenly as possible.
            generator: CPU ``torch.Generator``; the only source of randomness (``None``: torch's global one).

        Returns:
            PyG ``Data`` graphs with ``x``, ``edge_index`` (undirected: each edge as ``(u, v)``
            followed by ``(v, u)``; no duplicates, no self loops), ``num_nodes`` and a float soft label
            ``y`` of shape ``(1, C)``, draw by draw; the graphs of one draw share their ``y`` tensor,
            and ``x``/``edge_index`` are views into one buffer, as ``Batch.to_data_list`` gives. A
            graph whose sampled edge set is empty has no node left once isolated nodes are dropped;
            such graphs are left out (with a ``RuntimeWarning``), as PyG pooling cannot batch them.
        """
        generator = check_generator(generator)
        state = self.__dict__.get("_state")
        if state is None:
            raise RuntimeError("GMixup.generate needs the class graphons: call gm.fit(train_graphs) first")
        if num_graphs is not None and (
            isinstance(num_graphs, bool) or not isinstance(num_graphs, int) or num_graphs < 0
        ):
            raise ValueError(f"num_graphs must be an integer >= 0 or None, got num_graphs={num_graphs!r}")
        if self.p != 1.0:
            raise ConfigError(f"p must be 1 for G-Mixup, got p={self.p!r}")
        if not self.enabled:
            return []
        draws = self.aug_num
        total = num_graphs if num_graphs is not None else draws * int(self.aug_ratio * state["num_train"] / draws)
        per_draw = torch.full((draws,), total // draws, dtype=torch.long)
        per_draw[: total % draws] += 1

        graphons: torch.Tensor = state["graphons_"]
        classes: torch.Tensor = state["classes_"]
        c = classes.numel()
        lo, hi = self.lam_range
        lam = lo + (hi - lo) * torch.rand(draws, generator=generator, dtype=torch.float64)
        pair = torch.rand(draws, c, generator=generator).argsort(dim=1)[:, :2]  # two distinct classes per draw
        lam3 = lam[:, None, None]
        mixed = lam3 * graphons[pair[:, 0]].to(torch.float64) + (1.0 - lam3) * graphons[pair[:, 1]].to(torch.float64)
        sampled = sample_graphs(mixed, per_draw, generator=generator, drop_isolated=self.drop_isolated)

        k = state["num_classes_"]
        y_draw = torch.zeros(draws, k, dtype=torch.float64)
        y_draw[torch.arange(draws), classes[pair[:, 0]]] += lam
        y_draw[torch.arange(draws), classes[pair[:, 1]]] += 1.0 - lam
        draw_of_graph = torch.repeat_interleave(torch.arange(draws), per_draw)
        x_all = self._node_features(sampled, draw_of_graph, lam, pair)
        # one label tensor per draw, shared by the graphs of that draw
        labels = [row.view(1, -1) for row in y_draw.to(torch.float32)]
        return _to_data_list(sampled, x_all, [labels[d] for d in draw_of_graph.tolist()])

    def fit_generate(
        self,
        graphs: Iterable[Data],
        num_classes: int | None = None,
        num_graphs: int | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> list[Data]:
        """`fit` on ``graphs``, then `generate` ``num_graphs`` graphs (default: ``aug_ratio`` of the training set)."""
        graph_list = list(graphs) if not isinstance(graphs, Data) else graphs
        return self.fit(graph_list, num_classes=num_classes).generate(num_graphs, generator=generator)

    def augment_task(self, data: TaskData, *, generator: torch.Generator | None = None) -> TaskData:
        """The task with G-Mixup graphs added to its training split: how ``mixup compare`` runs a G-Mixup arm.

        The lab's runner calls this once per run for an arm whose mixer has ``cost == "dataset"``,
        with a generator seeded from the run seed, and then trains with no batch mixer on the
        returned task. Steps: `fit` on the training split (``num_classes=data.num_classes``); `generate`
        ``max(1, round(aug_ratio·|train|))`` graphs (rounded on the whole count rather than per draw
        as the reference, so that a small training set gets its share too; fewer when sampled graphs
        come out empty); lay the real training graphs out like the new ones with `as_training_graphs`
        (the same fields, a one-hot float ``y`` of shape ``(1, C)``; other fields such as ``edge_attr``
        are dropped, since the new graphs have none), so that real and new graphs collate together.
        The returned task's ``collate_fn`` (`mixup_graph.lab.collate_graphs`) gives float ``(B, C)``
        targets, which ``F.cross_entropy`` takes as class probabilities. With degree node features
        (``node_features="degree"``, or ``"auto"`` on graphs without ``x``) the real training and
        test graphs get the same degree features as the new ones and ``info["num_features"]`` the
        new width; test graphs keep their class-index labels. ``enabled=False`` adds no graph.

        Args:
            data: a graph task whose training and test items are PyG ``Data`` with class-index ``y``.
            generator: CPU generator of the new graphs (``None``: torch's global one).

        Returns:
            A new `mixup_core.TaskData` (``data`` is not modified); ``info["gmixup"]`` records the
            number of real and generated graphs, the resolution and the feature mode.

        Examples:
            >>> from mixup_graph.lab import load_ba_motif_task
            >>> data = load_ba_motif_task(num_graphs=40, seed=0)
            >>> aug = GMixup().augment_task(data, generator=torch.Generator().manual_seed(0))
            >>> len(data.train), len(aug.train), aug.collate_fn(aug.train[:4])[1].shape
            (32, 37, torch.Size([4, 2]))
        """
        import dataclasses

        from .lab import collate_graphs

        train = [data.train[i] for i in range(len(data.train))]
        self.fit(train, num_classes=data.num_classes)
        count = max(1, round(self.aug_ratio * len(train))) if self.enabled else 0
        new = self.generate(count, generator=generator)
        real = self.as_training_graphs(train)  # the fields of the new graphs, so that both collate together
        test = data.test
        if self.feature_mode_ != "dataset":  # degree features: the test graphs need them too
            originals = [data.test[i] for i in range(len(data.test))]
            test = self.as_training_graphs(originals)
            for g, h in zip(originals, test, strict=True):
                h.y = g.y  # the test graphs keep their class-index labels
        info = {
            **data.info,
            "num_features": self._feature_width(),
            "gmixup": {
                "real": len(real),
                "generated": len(new),
                "resolution": self.resolution_,
                "feature_mode": self.feature_mode_,
            },
        }
        return dataclasses.replace(data, train=real + new, test=test, collate_fn=collate_graphs, info=info)

    def as_training_graphs(self, graphs: Iterable[Data]) -> list[Data]:
        """Copies of real graphs laid out like the generated ones, to train on both together.

        Each copy has the fields of a generated graph, so that PyG can batch both together:
        ``edge_index`` (the graph's own), ``num_nodes``, the node features `generate` gives (one-hot
        or normalised degree with the width fitted on the training set, degrees above
        ``max_degree_`` clamped; or the graph's own ``x`` cast to the generated graphs' dtype) and a
        one-hot float label ``y`` of shape ``(1, C)``. Other fields (``edge_attr`` …) are left out,
        as the generated graphs have none. The graphs themselves are not modified.
        """
        state = self.__dict__.get("_state")
        if state is None:
            raise RuntimeError(
                "GMixup.as_training_graphs uses the fitted feature layout: call gm.fit(train_graphs) first"
            )
        graph_list = list(graphs) if not isinstance(graphs, Data) else graphs
        mode = state["feature_mode_"]
        gs = collect_graphs(graph_list, need_y=True, need_x=mode == "dataset", read_x=mode == "dataset")
        assert gs.y is not None
        k = state["num_classes_"]
        if int(gs.y.max()) >= k:
            i = int((gs.y >= k).nonzero()[0])
            raise ValueError(f"graphs[{i}].y = {int(gs.y[i])} is not a class index below num_classes={k}")
        if mode == "dataset":
            assert gs.x is not None
            if gs.x.shape[1] != self._feature_width():
                raise ValueError(
                    f"graphs[0].x has {gs.x.shape[1]} features, but the graphs G-Mixup was fitted on "
                    f"had {self._feature_width()}"
                )
            x_all = gs.x.to(state["x_dtype"])
        else:
            x_all = self._degree_features(gs.raw_degree)
        y_all = F.one_hot(gs.y, k).to(torch.float32)
        xs = x_all.tensor_split(gs.ptr[1:-1].tolist())
        sizes = gs.num_nodes.tolist()
        return [
            Data(x=xs[i], edge_index=g.edge_index, y=y_all[i : i + 1], num_nodes=sizes[i])
            for i, g in enumerate(graph_list)
        ]

    # ------------------------------------------------------------------ helpers
    def _feature_width(self) -> int:
        state = self.__dict__["_state"]
        if state["feature_mode_"] == "dataset":
            return int(state["features_"].shape[-1])
        if state["feature_mode_"] == "degree":
            return int(state["max_degree_"]) + 1
        return 1

    def _degree_features(self, degree: torch.Tensor) -> torch.Tensor:
        state = self.__dict__["_state"]
        if state["feature_mode_"] == "degree":
            d = int(state["max_degree_"])
            # rows of an identity matrix: one gather, several times faster than zeros + scatter
            return torch.eye(d + 1).index_select(0, degree.clamp(max=d))
        std = state["degree_std"] if state["degree_std"] > 0 else 1.0
        return ((degree.to(torch.float64) - state["degree_mean"]) / std).to(torch.float32).unsqueeze(1)

    def _node_features(
        self, sampled: SampledGraphs, draw_of_graph: torch.Tensor, lam: torch.Tensor, pair: torch.Tensor
    ) -> torch.Tensor:
        state = self.__dict__["_state"]
        if state["feature_mode_"] != "dataset":
            return self._degree_features(sampled.degree)
        feats: torch.Tensor = state["features_"]
        lam3 = lam[:, None, None]
        mixed = lam3 * feats[pair[:, 0]] + (1.0 - lam3) * feats[pair[:, 1]]  # (draws, N, F)
        n = mixed.shape[1]
        row = draw_of_graph.index_select(0, sampled.node_graph) * n + sampled.position
        return mixed.reshape(-1, mixed.shape[2]).index_select(0, row).to(state["x_dtype"])


def _data_factory() -> Any:
    """A function ``make(fields: dict) -> Data`` for fresh, non-None tensor fields.

    PyG's attribute protocol (``Data.__init__`` and ``Data.__setattr__``) costs about 10 µs per
    graph, more than sampling the graph. For plain fields it only stores them in the graph's
    ``GlobalStorage`` mapping; the fast builder lays out the same objects the way ``Data.__copy__``
    does (instance dictionaries copied from a template, the storage's weak reference to its graph).
    It is used only if a probe built with it behaves like ``Data(**fields)`` on this PyG version;
    otherwise the public constructor is used.
    """
    import weakref

    from torch_geometric.data.storage import GlobalStorage

    template = Data()
    data_dict = {k: v for k, v in template.__dict__.items() if k != "_store"}
    store_dict = {k: v for k, v in template._store.__dict__.items() if k not in ("_mapping", "_parent")}
    new = object.__new__
    ref = weakref.ref

    def fast(fields: dict[str, Any]) -> Data:
        data = new(Data)
        data.__dict__.update(data_dict)
        store = new(GlobalStorage)
        sd = store.__dict__
        sd.update(store_dict)
        sd["_mapping"] = fields
        sd["_parent"] = ref(data)
        data.__dict__["_store"] = store
        return data

    def slow(fields: dict[str, Any]) -> Data:
        return Data(**fields)

    try:
        fields = {
            "x": torch.zeros(3, 2),
            "edge_index": torch.tensor([[0, 1], [1, 0]]),
            "y": torch.zeros(1, 2),
            "num_nodes": 3,
        }
        probe, ref_data = fast(dict(fields)), Data(**fields)
        same = (
            set(probe.keys()) == set(ref_data.keys())
            and probe.num_nodes == 3
            and probe.num_edges == 2
            and probe._store._parent() is probe
            and probe.stores[0] is probe._store
            and type(probe._store) is type(ref_data._store)
            and set(probe.__dict__) == set(ref_data.__dict__)
            and set(probe._store.__dict__) == set(ref_data._store.__dict__)
        )
        if same:
            probe.extra = torch.ones(1)  # attribute assignment goes to the probe's own storage
            same = "extra" in probe and "extra" not in template
        return fast if same else slow
    except Exception:  # a PyG without this storage layout: use the public constructor
        return slow


_make_data = _data_factory()


def _to_data_list(sampled: SampledGraphs, x_all: torch.Tensor, y_all: list[torch.Tensor]) -> list[Data]:
    node_ptr = sampled.node_ptr.tolist()
    xs = x_all.split(sampled.num_nodes.tolist())
    eis = sampled.edge_index.split((sampled.edge_ptr[1:] - sampled.edge_ptr[:-1]).tolist(), dim=1)
    out: list[Data] = []
    empty = 0
    for i in range(len(node_ptr) - 1):
        if node_ptr[i + 1] == node_ptr[i]:
            empty += 1
            continue
        out.append(
            _make_data({"x": xs[i], "edge_index": eis[i], "y": y_all[i], "num_nodes": node_ptr[i + 1] - node_ptr[i]})
        )
    if empty:
        warnings.warn(
            f"G-Mixup: {empty} sampled graph(s) had no edge and, with drop_isolated=True, no node; they were left out",
            RuntimeWarning,
            stacklevel=3,
        )
    return out
