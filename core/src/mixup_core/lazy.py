"""Lazy package namespaces: a plugin's ``__init__`` names its public objects and imports each on first use.

Every first-party plugin's ``__init__`` follows one pattern, so that importing the package (which
``mixup`` does for every installed plugin) costs nothing beyond mixup-core, and a heavy dependency
(torch-geometric, transformers, scipy, matplotlib) is imported only by the code that uses it::

    from mixup_core.lazy import lazy_exports

    _LAZY = {"CutMix": ".cutmix", "FMix": ".fmix"}
    __all__ = ["CutMix", "FMix", "__version__"]
    if TYPE_CHECKING:  # for type checkers and IDEs
        from .cutmix import CutMix
        from .fmix import FMix
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` (PEP 562) of a package whose names load on first use.

    Args:
        package: the package's ``__name__``.
        names: each lazy name → the module that defines it, relative to the package (``".cutmix"``).
        public: the package's ``__all__`` (what ``dir()`` lists).

    Returns:
        ``(__getattr__, __dir__)``: ``__getattr__(name)`` imports ``names[name]`` and returns its
        attribute ``name``, and raises `AttributeError` for any other name.

    Examples:
        >>> getattr_, dir_ = lazy_exports("json", {"JSONDecoder": ".decoder"}, ["JSONDecoder"])
        >>> getattr_("JSONDecoder").__name__, dir_()
        ('JSONDecoder', ['JSONDecoder'])
    """
    table = dict(names)
    listed = sorted(public)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    def __dir__() -> list[str]:
        return list(listed)

    return __getattr__, __dir__
