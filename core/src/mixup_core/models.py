"""Model factories that core registers for experiments: ``python:<module>:<function>``, the user's own.

A study config names its model ``python:my_package.models:build`` to use any function of the user's
code, called as ``build(data, **params)`` with the loaded `mixup_core.TaskData` and the other keys of
the config's ``model`` section. Naming a module in a config **imports and runs that module**: review a
config from someone else as you would review their code.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from ._components import TaskData
from ._errors import ConfigError

__all__ = ["python_model"]


def python_model(data: TaskData, *, target: str, **params: Any) -> nn.Module:
    """The model returned by the user's factory ``target`` (``"package.module:function"``).

    Args:
        data: the study's data (its ``num_classes``, ``input_shape``, ``modality`` …).
        target: ``"package.module:function"``; the module is imported (this runs its code).
        **params: passed on to the factory.

    Raises:
        ConfigError: ``target`` is malformed, cannot be imported, is not callable, or returns something
            that is not an ``nn.Module`` (each naming the target).

    Examples:
        In a study config, with ``my_models.py`` on the Python path defining
        ``def build(data, width=32): return torch.nn.Sequential(...)``::

            model:
              name: python:my_models:build
              width: 64
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"model.name: a python model is named python:<module>:<function> (got python:{target})")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"model.name: cannot import {module_name!r} for python:{target} ({exc})") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"model.name: {module_name!r} has no {attr!r} (got python:{target})") from None
    if not callable(obj):
        raise ConfigError(f"model.name: python:{target} is not callable (got {type(obj).__name__})")
    try:
        model = obj(data, **params)
    except TypeError as exc:
        raise ConfigError(f"model (python:{target}): {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model.name: python:{target} returned {type(model).__name__}, not a torch.nn.Module")
    return model
