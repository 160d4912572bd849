"""The Python examples of the docs pages run as written.

Each fenced ``python`` block of a page listed in ``PAGES`` runs in a fresh namespace (a block is a
whole example: its imports, its data and its assertions), so a page cannot drift from the API.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["docs/coming-from-timm-torchvision.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((page, line, match.group(1)))
    return found


BLOCKS = _blocks()


def test_every_page_has_examples() -> None:
    assert {page for page, _, _ in BLOCKS} == set(PAGES)


@pytest.mark.parametrize(("page", "line", "code"), BLOCKS, ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_example_runs(page: str, line: int, code: str) -> None:
    pytest.importorskip("timm")
    pytest.importorskip("torchvision")
    compiled = compile("\n" * line + code, str(ROOT / page), "exec")  # tracebacks point into the page
    exec(compiled, {"__name__": f"docs_example_{line}"})
