"""The graph plugin registers lazily, and its lazy entries say what the classes say."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mixup_core import create_mixer, get_registry


@pytest.mark.parametrize("name", ["graph:ifmixup", "graph:gmixup", "graph:embedding", "graph:node"])
def test_lazy_entries_match_the_classes(name: str) -> None:
    info = get_registry().get(name)
    cls = type(create_mixer({"name": name}))
    assert info.bare == cls.name
    assert info.modality == cls.modality
    assert info.cost == cls.cost
    assert info.paper == cls.paper
    assert info.summary == (cls.__doc__ or "").strip().splitlines()[0]


def test_listing_mixers_does_not_import_torch_geometric() -> None:
    code = "import sys, mixup_core; mixup_core.list_mixers(); print('torch_geometric' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "False"
