"""The conformance kit over every installed mixer, discovered through the registry.

Plugins also run the kit on their own configurations; this module guarantees that nothing
registered escapes it, including third-party mixers installed next to the first-party plugins.
Mixers that need more than a batch get their extra arguments from ``example_call_kwargs``.
"""

from __future__ import annotations

import re

from mixup_core import list_mixers
from mixup_core.testing import MixerConformanceTests

_NOT_BATCH_MIXERS = {"dataset"}  # data-set level generators (G-Mixup) are tested by their plugin

REGISTERED = [info for info in list_mixers() if info.cost not in _NOT_BATCH_MIXERS]

for _info in REGISTERED:
    _cls_name = "TestRegistered_" + re.sub(r"\W", "_", _info.name)
    _params = dict(_info.load().example_params)  # mixers with required options give examples
    globals()[_cls_name] = type(
        _cls_name, (MixerConformanceTests,), {"mixer_name": _info.name, "mixer_params": _params, "__module__": __name__}
    )


def test_every_first_party_plugin_is_covered() -> None:
    names = {info.name for info in REGISTERED}
    assert {"core:mixup", "core:choice"} <= names
    assert any(name.startswith("image:") for name in names)
