"""mixup-core: the Mixer protocol, mixed targets and losses, λ and pairing policies, and a plugin
registry of mixers selected by name.

Examples:
    >>> import torch
    >>> from mixup_core import create_mixer, soft_cross_entropy
    >>> mixer = create_mixer({"name": "mixup", "alpha": 0.4, "num_classes": 10})
    >>> out = mixer(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)),
    ...             generator=torch.Generator().manual_seed(0))
    >>> loss = soft_cross_entropy(torch.randn(8, 10), out.targets)
"""

from __future__ import annotations

from ._components import ComponentInfo, ComponentRegistry, TaskData, UnknownComponentError, normalize_name
from ._config import (
    MixerSpec,
    check_requires,
    create_mixer,
    describe_mixer,
    list_mixers,
    load_config,
    mixer_from_config,
    qualified_name,
    to_config,
)
from ._context import CallContext, ModelContext
from ._cpu import numpy_view
from ._errors import (
    AmbiguousMixerError,
    ConfigError,
    MissingPluginError,
    MixupError,
    PluginLoadError,
    UnknownMixerError,
    one_line,
)
from ._lam import BetaLambda, FixedLambda, LambdaPolicy, LambdaSpec, UniformLambda, resolve_lambda
from ._losses import mixed_binary_cross_entropy, mixed_cross_entropy, smooth_targets, soft_cross_entropy
from ._mixer import Mixer, PairMixer, mixer_dataclass
from ._pairing import (
    CrossClassPairing,
    FlipPairing,
    PairingPolicy,
    RandomPairing,
    WithinClassPairing,
    WithinGroupPairing,
    resolve_pairing,
)
from ._plan import MixPlan
from ._plugins import (
    ENTRY_POINT_GROUP,
    get_datasets,
    get_models,
    get_plugin_manager,
    get_registry,
    register_plugin,
    reset_registry,
    unregister_plugin,
)
from ._random import check_generator
from ._registry import MixerInfo, MixerRegistry, PluginInfo
from ._replay import MixedForward, forward_mixed, replay_at
from ._step import MixedStep, mixed_step, output_logits
from ._targets import LabelMix, MixedBatch, MixedTargets, check_targets
from ._version import __version__
from .builtin import Choice, ChoicePlan, Mixup, lerp_pairs
from .hookspecs import hookimpl

__all__ = [
    "ENTRY_POINT_GROUP",
    "AmbiguousMixerError",
    "BetaLambda",
    "CallContext",
    "Choice",
    "ChoicePlan",
    "ComponentInfo",
    "ComponentRegistry",
    "ConfigError",
    "CrossClassPairing",
    "FixedLambda",
    "FlipPairing",
    "LabelMix",
    "LambdaPolicy",
    "LambdaSpec",
    "MissingPluginError",
    "MixPlan",
    "MixedBatch",
    "MixedForward",
    "MixedStep",
    "MixedTargets",
    "Mixer",
    "MixerInfo",
    "MixerRegistry",
    "MixerSpec",
    "Mixup",
    "MixupError",
    "ModelContext",
    "PairMixer",
    "PairingPolicy",
    "PluginInfo",
    "PluginLoadError",
    "RandomPairing",
    "TaskData",
    "UniformLambda",
    "UnknownComponentError",
    "UnknownMixerError",
    "WithinClassPairing",
    "WithinGroupPairing",
    "__version__",
    "check_generator",
    "check_requires",
    "check_targets",
    "create_mixer",
    "describe_mixer",
    "forward_mixed",
    "get_datasets",
    "get_models",
    "get_plugin_manager",
    "get_registry",
    "hookimpl",
    "lerp_pairs",
    "list_mixers",
    "load_config",
    "mixed_binary_cross_entropy",
    "mixed_cross_entropy",
    "mixed_step",
    "mixer_dataclass",
    "mixer_from_config",
    "normalize_name",
    "numpy_view",
    "one_line",
    "output_logits",
    "qualified_name",
    "register_plugin",
    "replay_at",
    "reset_registry",
    "resolve_lambda",
    "resolve_pairing",
    "smooth_targets",
    "soft_cross_entropy",
    "to_config",
    "unregister_plugin",
]
