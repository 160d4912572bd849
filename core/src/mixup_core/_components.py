"""Plain data of the plugin system: name matching, the data sets and models that plugins register for
experiments (``mixup compare``), and what a plugin recognises at a path (``mixup init``)."""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ._errors import ConfigError, UnknownMixerError

__all__ = ["ComponentInfo", "ComponentRegistry", "DataGuess", "TaskData", "UnknownComponentError", "normalize_name"]


def normalize_name(name: str) -> str:
    """Normalise a mixer name for matching: case-insensitive, ``_`` and ``-`` equivalent.

    Examples:
        >>> normalize_name("Image:Time_CutMix")
        'image:time-cutmix'
    """
    return name.strip().lower().replace("_", "-")


class UnknownComponentError(UnknownMixerError):
    """No registered data set or model has the requested name (the message suggests close names)."""


@dataclass
class TaskData:
    """A classification data set ready for an experiment: what a registered data-set loader returns.

    Items of ``train`` and ``test`` are whatever ``collate_fn`` accepts; batches (the output of
    ``collate_fn``, or of PyTorch's default collate when it is ``None``) are ``(inputs, targets)``
    pairs with class-index ``targets`` of shape ``(B,)``. ``inputs`` is a tensor (images, audio),
    a mapping of tensors (text: ``input_ids``, ``attention_mask``) or a modality's batch object
    (a PyG ``Batch``), as the mixers of that modality expect.

    Args:
        train: the training examples (a ``torch.utils.data.Dataset`` or any sized, indexable sequence).
        test: the held-out examples, same form.
        num_classes: number of classes.
        class_names: one name per class, in class-index order.
        modality: ``"image"``, ``"audio"``, ``"text"``, ``"graph"`` …
        collate_fn: turns a list of items into ``(inputs, targets)``; ``None`` for the default collate.
        input_shape: the shape of one example when examples are tensors (model factories use it).
        info: free description (source, licence, sizes, counts per class and split) copied into reports.
        train_groups: the group of each training example (production line, site, patient, speaker …),
            or ``None``; reports break metrics down by group with it.
        test_groups: the group of each test example, or ``None``.

    Examples:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> x, y = torch.randn(20, 1, 8, 8), torch.arange(20) % 2
        >>> data = TaskData(TensorDataset(x[:16], y[:16]), TensorDataset(x[16:], y[16:]), 2, ["a", "b"], "image",
        ...                 input_shape=(1, 8, 8))
        >>> len(data.train), data.num_classes
        (16, 2)
    """

    train: Any
    test: Any
    num_classes: int
    class_names: list[str]
    modality: str
    collate_fn: Callable[[list[Any]], tuple[Any, Any]] | None = None
    input_shape: tuple[int, ...] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    train_groups: list[str] | None = None
    test_groups: list[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {self.num_classes!r}")
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"class_names has {len(self.class_names)} names for "
                f"num_classes={self.num_classes}: {self.class_names!r}"
            )
        for split in ("train", "test"):
            if len(getattr(self, split)) == 0:
                raise ValueError(f"the {split} split is empty")
            groups = getattr(self, f"{split}_groups")
            if groups is not None and len(groups) != len(getattr(self, split)):
                raise ValueError(
                    f"{split}_groups has {len(groups)} entries for {len(getattr(self, split))} {split} examples"
                )


@dataclass(frozen=True)
class ComponentInfo:
    """One registered data set or model.

    Args:
        name: qualified name ``plugin:bare``.
        kind: ``"dataset"`` or ``"model"``.
        target: the factory, or ``"module:attribute"`` imported on first use.
        modality: the modality it serves (``"any"`` for modality-agnostic models).
        summary: one line for listings.
        plugin: the plugin that registered it.
        bound: keyword arguments bound into the factory (a family's member name, e.g. ``{"arch": "resnet18"}``).
    """

    name: str
    kind: Literal["dataset", "model"]
    target: Callable[..., Any] | str
    modality: str
    summary: str
    plugin: str
    bound: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def bare_name(self) -> str:
        """The name without the plugin prefix."""
        return self.name.partition(":")[2]

    def load(self) -> Callable[..., Any]:
        """The factory (importing its module when it was registered lazily), with `bound` applied."""
        if callable(self.target):
            obj: Any = self.target
        else:
            module, _, attr = self.target.partition(":")
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            if not callable(obj):
                raise TypeError(f"{self.kind} {self.name!r}: {self.target!r} is not callable")
        return functools.partial(obj, **self.bound) if self.bound else obj

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record."""
        target = self.target if isinstance(self.target, str) else f"{self.target.__module__}:{self.target.__qualname__}"
        return {"name": self.name, "kind": self.kind, "modality": self.modality, "summary": self.summary,
                "plugin": self.plugin, "target": target}


class ComponentRegistry:
    """Data-set loaders or model factories registered by plugins, selected by name.

    Filled by the hooks ``mixup_register_datasets`` and ``mixup_register_models``. A data-set
    loader is called with the config's parameters and returns a `TaskData`; a model factory is
    called with that `TaskData` and the config's parameters and returns an ``nn.Module`` whose
    output is the logits (or has a ``logits`` attribute).

    Args:
        kind: ``"dataset"`` or ``"model"``.

    Examples:
        >>> reg = ComponentRegistry("dataset")
        >>> reg._plugin = "demo"
        >>> info = reg.add(lambda **kw: None, name="toy", modality="image", summary="a toy set")
        >>> reg.get("toy").name
        'demo:toy'
    """

    def __init__(self, kind: Literal["dataset", "model"]) -> None:
        self.kind = kind
        self._entries: dict[str, ComponentInfo] = {}
        self._families: dict[str, tuple[ComponentInfo, str]] = {}
        self._plugin: str | None = None
        self.errors: dict[str, BaseException] = {}

    def add(
        self,
        target: Callable[..., Any] | str,
        *,
        name: str,
        modality: str,
        summary: str = "",
    ) -> ComponentInfo:
        """Register a factory for the plugin whose hook is running.

        Args:
            target: the factory, or ``"module:attribute"`` to import it lazily.
            name: bare name (the plugin name is prefixed).
            modality: the modality it serves, or ``"any"``.
            summary: one line (default: the first line of the factory's docstring).
        """
        if self._plugin is None:
            raise RuntimeError(f"registry.add() is only valid inside a mixup_register_{self.kind}s hook")
        if isinstance(target, str) and ":" not in target:
            raise ConfigError(f"a lazy {self.kind} is given as 'module:attribute', got {target!r}")
        if not isinstance(target, str) and not callable(target):
            raise TypeError(f"{self.kind} {name!r}: target must be callable or 'module:attribute', got {target!r}")
        bare = normalize_name(name)
        if not bare or ":" in bare:
            raise ConfigError(f"invalid {self.kind} name {name!r}: give a bare name without ':'")
        if not summary and callable(target):
            summary = ((target.__doc__ or "").strip().splitlines() or [""])[0]
        qualified = f"{self._plugin}:{bare}"
        if qualified in self._entries:
            raise ConfigError(f"{self.kind} {qualified!r} is registered twice")
        info = ComponentInfo(qualified, self.kind, target, modality, summary, self._plugin)
        self._entries[qualified] = info
        return info

    def add_family(
        self,
        target: Callable[..., Any] | str,
        *,
        prefix: str,
        param: str,
        modality: str,
        summary: str = "",
    ) -> ComponentInfo:
        """Register a factory for every name ``<prefix>:<member>``, the member passed as keyword ``param``.

        For open-ended families whose members are not known in advance: ``timm:<arch>`` (any timm
        model), ``hf:<folder>`` (a local Hugging Face checkpoint), ``python:<module>:<function>``. The
        member is taken verbatim (case, ``_``, ``/`` and ``:`` kept). Names registered with `add` win
        over a family with the same prefix.

        Args:
            target: the factory, or ``"module:attribute"``.
            prefix: the family's prefix (no ``:``).
            param: the factory's keyword that receives the member.
            modality: the modality it serves, or ``"any"``.
            summary: one line for listings.

        Examples:
            >>> reg = ComponentRegistry("model")
            >>> reg._plugin = "demo"
            >>> _ = reg.add_family(lambda data, arch: arch, prefix="zoo", param="arch", modality="any")
            >>> reg.get("zoo:Res_Net").load()(None)
            'Res_Net'
        """
        if self._plugin is None:
            raise RuntimeError(f"registry.add_family() is only valid inside a mixup_register_{self.kind}s hook")
        key = normalize_name(prefix)
        if not key or ":" in key:
            raise ConfigError(f"invalid {self.kind} family prefix {prefix!r}: give a name without ':'")
        if key in self._families:
            raise ConfigError(f"{self.kind} family {key!r} is registered twice")
        if not summary and callable(target):
            summary = ((target.__doc__ or "").strip().splitlines() or [""])[0]
        info = ComponentInfo(f"{key}:<{param}>", self.kind, target, modality, summary, self._plugin)
        self._families[key] = (info, param)
        return info

    def names(self) -> list[str]:
        """Qualified names, sorted (families as ``prefix:<param>``)."""
        return sorted([*self._entries, *(info.name for info, _ in self._families.values())])

    def list(self, pattern: str | None = None, modality: str | None = None) -> list[ComponentInfo]:
        """Entries matching an fnmatch ``pattern`` (on the qualified or bare name) and ``modality``."""
        out = []
        entries = [*self._entries.values(), *(info for info, _ in self._families.values())]
        for info in sorted(entries, key=lambda i: i.name):
            if pattern and not (fnmatch.fnmatch(info.name, pattern) or fnmatch.fnmatch(info.bare_name, pattern)):
                continue
            if modality and info.modality not in (modality, "any"):
                continue
            out.append(info)
        return out

    def __contains__(self, name: object) -> bool:
        try:
            self.get(str(name))
        except (UnknownComponentError, ConfigError):
            return False
        return True

    def __iter__(self) -> Iterable[ComponentInfo]:
        return iter(self.list())

    def get(self, name: str) -> ComponentInfo:
        """The entry for a bare or qualified ``name`` (case-insensitive, ``_`` = ``-``).

        Raises:
            UnknownComponentError: no such entry (close names are suggested).
            ConfigError: a bare name registered by several plugins.
        """
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        key = normalize_name(name)
        if key in self._entries:
            return self._entries[key]
        prefix, _, member = name.strip().partition(":")
        if member and normalize_name(prefix) in self._families:
            family, param = self._families[normalize_name(prefix)]
            return dataclasses.replace(family, name=f"{normalize_name(prefix)}:{member}", bound={param: member})
        if ":" not in key:
            found = [i for i in self._entries.values() if i.bare_name == key]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                choices = ", ".join(sorted(i.name for i in found))
                raise ConfigError(f"{self.kind} name {name!r} is ambiguous: use one of {choices}")
        candidates = list(self._entries) + [i.bare_name for i in self._entries.values()]
        close = difflib.get_close_matches(key, candidates, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(self.names()) or "none"
        failed = f" (plugins that failed to register theirs: {', '.join(sorted(self.errors))})" if self.errors else ""
        raise UnknownComponentError(f"unknown {self.kind} {name!r}{hint} Known: {known}{failed}")


@dataclass
class DataGuess:
    """What a plugin recognised at a path, for ``mixup init``: the data set to load and a study to run on it.

    Returned by the ``mixup_detect_data`` hook; ``mixup init`` keeps the guess with the highest
    ``score`` and writes a study config from it.

    Args:
        modality: ``"image"``, ``"audio"``, ``"text"``, ``"graph"``, ``"tabular"`` …
        dataset: the config's ``dataset`` section (``{"name": "image:folder", "root": ...}``).
        model: the config's ``model`` section.
        arms: the arms after the baseline (mixer configs suited to the modality), as
            ``[{"name": "mixup", "mixer": {...}}, ...]``.
        summary: one line about what was found ("3 classes, 120 PNG files in class folders").
        class_names: the classes found (``mixup init`` lists them beside the commented critical field).
        score: confidence in (0, 1]; a layout that certainly belongs to the plugin scores 1.
        train: overrides of the config's ``train`` section (epochs, batch size, learning rate).

    Examples:
        >>> g = DataGuess("image", {"name": "image:folder", "root": "photos"}, {"name": "image:small-cnn"},
        ...               [{"name": "mixup", "mixer": {"name": "mixup", "alpha": 0.2}}], "2 classes", ["ok", "scratch"])
        >>> g.score
        1.0
    """

    modality: str
    dataset: dict[str, Any]
    model: dict[str, Any]
    arms: list[dict[str, Any]]
    summary: str
    class_names: list[str]
    score: float = 1.0
    train: dict[str, Any] = field(default_factory=dict)
