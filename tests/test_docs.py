"""The documentation is checked like code.

- every hook specification has a ``## <hook>`` section in docs/hooks.md with its literal signature, and a
  ``test_hook_<hook>`` test;
- every page under docs/ is in the nav of mkdocs.yml, and every nav entry exists;
- ``mkdocs build --strict`` succeeds, and the API reference has an entry for every public name;
- the lists that the guides spell out (standard tests of the conformance kit, subcommands of ``mixup``,
  ``MIXUP_*`` environment variables, the example plugin's entry point) match the code.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import mixup_core
import mixup_core.testing
from mixup_core import hookspecs
from mixup_core.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CORE_SRC = ROOT / "core" / "src" / "mixup_core"
HOOK_NAMES = sorted(name for name in dir(hookspecs) if name.startswith("mixup_"))
TEST_DIRS = [ROOT / "tests", ROOT / "core" / "tests"]

pytestmark = pytest.mark.xdist_group("docs")  # one worker builds the site once for every test here


def read(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def headings(text: str, level: int) -> set[str]:
    """The titles of the Markdown headings of one level (fenced code blocks excluded)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return {m.group(1).strip() for m in re.finditer(rf"^{'#' * level} (.+?)\s*#*\s*$", text, flags=re.M)}


def code_lines(text: str) -> set[str]:
    """Every line inside a fenced code block, stripped."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
    return {line.strip() for block in blocks for line in block.splitlines()}


def hook_signature(name: str) -> str:
    """``def name(args) -> ret`` as written in hookspecs.py (without the colon; one line)."""
    source = textwrap.dedent(inspect.getsource(getattr(hookspecs, name)))
    func = ast.parse(source).body[0]
    assert isinstance(func, ast.FunctionDef), f"{name} is not a function"
    lines = source.splitlines()
    header = [line.strip() for line in lines[func.lineno - 1 : func.body[0].lineno - 1]]  # the def line(s)
    text = " ".join(header).rstrip(":").strip()
    # a signature written over several lines reads as one: "( a, b, )" -> "(a, b)"
    return re.sub(r",?\s*\)", ")", re.sub(r"\(\s+", "(", re.sub(r"\s+", " ", text)))


# --------------------------------------------------------------------------------------------- hooks
def test_hookspecs_found() -> None:
    assert "mixup_register_mixers" in HOOK_NAMES


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hook_is_documented(hook: str) -> None:
    text = read("hooks.md")
    assert hook in headings(text, 2), f"docs/hooks.md needs a section '## {hook}'"
    signature = hook_signature(hook)
    assert signature in code_lines(text), f"docs/hooks.md needs the signature in a code block:\n{signature}"
    # the signature belongs to the hook's own section
    section = text.split(f"\n## {hook}\n", 1)[1].split("\n## ", 1)[0]
    assert signature in section


def test_hook_signature_is_read_as_written() -> None:
    assert hook_signature("mixup_register_mixers") == "def mixup_register_mixers(registry: MixerRegistry) -> None"


def test_documented_hooks_exist() -> None:
    documented = {h for h in headings(read("hooks.md"), 2) if h.startswith("mixup_")}
    assert documented <= set(HOOK_NAMES), (
        f"docs/hooks.md documents hooks that do not exist: {documented - set(HOOK_NAMES)}"
    )


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hook_has_a_test(hook: str) -> None:
    pattern = re.compile(rf"^\s*def test_hook_{hook}\(", re.M)
    files = [path for d in TEST_DIRS for path in d.rglob("*.py")]
    found = [path for path in files if pattern.search(path.read_text(encoding="utf-8"))]
    assert found, f"no test function named test_hook_{hook} under tests/ or core/tests/"


# --------------------------------------------------------------------------------------------- nav
def nav_pages(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        if not re.match(r"^[a-z][a-z0-9+.-]*://", node):
            yield node
    elif isinstance(node, list):
        for item in node:
            yield from nav_pages(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from nav_pages(value)


def test_every_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = list(nav_pages(config["nav"]))
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert len(nav) == len(set(nav)), f"pages listed twice in the nav: {sorted(p for p in nav if nav.count(p) > 1)}"
    assert pages - set(nav) == set(), f"pages missing from the nav of mkdocs.yml: {sorted(pages - set(nav))}"
    assert set(nav) - pages == set(), f"nav entries without a page: {sorted(set(nav) - pages)}"


# --------------------------------------------------------------------------------------------- build
@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_site_builds_strict(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "hooks" / "index.html").is_file()


@pytest.mark.parametrize(
    ("module", "page"),
    [(mixup_core, "api/mixup_core/index.html"), (mixup_core.testing, "api/testing/index.html")],
    ids=["mixup_core", "mixup_core.testing"],
)
def test_api_reference_covers_all(site: Path, module: Any, page: str) -> None:
    html = (site / page).read_text(encoding="utf-8")
    names = [name for name in module.__all__ if name != "__version__"]
    missing = [name for name in names if f'id="{module.__name__}.{name}"' not in html]
    assert not missing, (
        f"{module.__name__}.__all__ names without an entry in the API reference (a docstring?): {missing}"
    )


# --------------------------------------------------------------------------------------------- lists in the guides
def test_standard_tests_are_documented() -> None:
    documented = headings(read("testing-plugins.md"), 3)
    missing = [name for name in mixup_core.testing.STANDARD_TESTS if name not in documented]
    assert not missing, f"docs/testing-plugins.md needs a '### <test>' section for: {missing}"


def test_cli_subcommands_are_documented() -> None:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    documented = headings(read("cli.md"), 2)
    missing = [cmd for cmd in subparsers.choices if f"mixup {cmd}" not in documented]
    assert not missing, f"docs/cli.md needs a '## mixup <command>' section for: {missing}"


def test_environment_variables_are_documented() -> None:
    used = {
        m
        for path in CORE_SRC.rglob("*.py")
        for m in re.findall(r"[\"'](MIXUP_[A-Z_]+)[\"']", path.read_text(encoding="utf-8"))
    }
    assert {"MIXUP_LOAD_PLUGINS", "MIXUP_DISABLE_PLUGINS", "MIXUP_TRACE_PLUGINS"} <= used
    text = read("if-a-plugin-breaks.md")
    missing = sorted(var for var in used if f"`{var}`" not in text)
    assert not missing, f"docs/if-a-plugin-breaks.md does not describe: {missing}"


def test_tutorial_entry_point_matches_the_example_plugin() -> None:
    pyproject = ROOT / "examples" / "mixup-example-plugin" / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("the example plugin is not in this checkout")
    snippet = '[project.entry-points.mixup]\nexample = "mixup_example"'
    assert snippet in read("writing-plugins.md")
    assert snippet in pyproject.read_text(encoding="utf-8")


def test_mixers_page_is_up_to_date_and_every_mixer_has_a_picture() -> None:
    """docs/mixers.md lists every first-party mixer (regenerate with docs/scripts/make_mixers_page.py)."""
    import importlib.util

    from mixup_core import list_mixers

    path = ROOT / "docs" / "scripts" / "make_mixers_page.py"
    spec = importlib.util.spec_from_file_location("make_mixers_page", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "mixers.md").read_text(encoding="utf-8") == module.render(), (
        "docs/mixers.md is stale: run python docs/scripts/make_mixers_page.py"
    )
    missing = [
        info.name
        for info in list_mixers()
        if info.plugin in ("core", "image", "audio", "tabular")
        and info.cost != "dataset"
        and info.name != "core:choice"
        and not (ROOT / "docs" / "images" / "mixers" / f"{info.name.replace(':', '-')}.png").exists()
    ]
    assert not missing, f"no preview picture for {missing}: run python docs/scripts/make_previews.py"
