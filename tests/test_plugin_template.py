"""Every first-party plugin follows one template (docs/writing-plugins.md, "The plugin template").

``plugins/<name>/src/mixup_<name>/``:

- ``_plugin.py`` registers only: hook implementations and the imports and constants they need. A
  registration hook is a list of ``registry.add``/``registry.add_family`` calls; any other hook is
  one delegation to the module that does the work, imported inside the hook.
- ``lab.py`` holds the data-set loaders, named ``load_<registered name>_task``, and the model factories;
  every data set and model registration points into it.
- ``datasets.py`` holds the raw readers: no function there returns a `mixup_core.TaskData`.
- Integer validators and the cache root come from `mixup_core.data` (no private copies).
- ``__init__.py`` is lazy: it names its exports in ``_LAZY`` and imports none of the package's modules.

The checks read the sources (``ast``), so they cost no import of torch-geometric or transformers,
except one subprocess that imports the six packages and lists what came with them.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mixup_core import hookspecs

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("image", "audio", "text", "graph", "tabular", "lab")
REGISTRATION_HOOKS = {"mixup_register_mixers", "mixup_register_datasets", "mixup_register_models"}
HOOKS = {name for name in dir(hookspecs) if name.startswith("mixup_")}

# Text's mixed-step hook re-derives core's draws in _plugin.py until text mixers run their own step
# (a `Mixer` method); the exemption ends by itself once the hookspec is gone from mixup_core.
_LEGACY = {"text": {"mixup_mixed_step", "_is_text_mixer", "_text_forward"}} if "mixup_mixed_step" in HOOKS else {}


def _package(name: str) -> Path:
    return ROOT / "plugins" / name / "src" / f"mixup_{name}"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _is_type_checking_block(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
            and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in node.body) and not node.orelse)


def _top_functions(path: Path) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in _tree(path).body if isinstance(n, ast.FunctionDef)}


def _registrations(plugin: str, hook: str) -> list[ast.Call]:
    """The ``registry.add(...)``/``registry.add_family(...)`` calls of one registration hook."""
    fn = _top_functions(_package(plugin) / "_plugin.py").get(hook)
    if fn is None:
        return []
    return [s.value for s in fn.body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)]


def _keyword(call: ast.Call, name: str, constants: dict[str, object] | None = None) -> object:
    """A keyword argument's value: a literal, or a module-level constant of ``_plugin.py``."""
    value = next((k.value for k in call.keywords if k.arg == name), None)
    if isinstance(value, ast.Name) and constants is not None:
        return constants[value.id]
    return None if value is None else ast.literal_eval(value)


def _constants(plugin: str) -> dict[str, object]:
    tree = _tree(_package(plugin) / "_plugin.py")
    return {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
            for t in n.targets if isinstance(t, ast.Name)}


def test_the_six_first_party_distributions_are_checked() -> None:
    found = {p.name for p in (ROOT / "plugins").iterdir() if (_package(p.name) / "_plugin.py").is_file()}
    assert set(FIRST_PARTY) <= found, f"missing first-party plugins: {set(FIRST_PARTY) - found}"
    assert found <= set(FIRST_PARTY), f"a new plugin must be added to FIRST_PARTY here: {found - set(FIRST_PARTY)}"


# ---------------------------------------------------------------------------------------------- _plugin.py
@pytest.mark.parametrize("plugin", FIRST_PARTY)
def test_plugin_module_registers_only(plugin: str) -> None:
    path = _package(plugin) / "_plugin.py"
    legacy = _LEGACY.get(plugin, set())
    problems = []
    for node in _tree(path).body:
        if _is_docstring(node) or isinstance(node, (ast.Import, ast.ImportFrom)) or _is_type_checking_block(node):
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
            continue  # a constant the registrations share (a paper reference)
        if isinstance(node, ast.FunctionDef) and node.name in legacy:
            continue
        if not isinstance(node, ast.FunctionDef):
            problems.append(f"line {node.lineno}: {type(node).__name__} (only hook implementations belong here)")
            continue
        decorators = {d.id if isinstance(d, ast.Name) else getattr(d, "attr", "") for d in node.decorator_list}
        if "hookimpl" not in decorators or node.name not in HOOKS:
            problems.append(
                f"line {node.lineno}: def {node.name} is not a hook implementation; move it to its own module"
            )
    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(problems)


def _body(fn: ast.FunctionDef) -> list[ast.stmt]:
    return [s for s in fn.body if not _is_docstring(s)]


@pytest.mark.parametrize("plugin", FIRST_PARTY)
def test_hooks_are_registrations_or_one_delegation(plugin: str) -> None:
    path = _package(plugin) / "_plugin.py"
    legacy = _LEGACY.get(plugin, set())
    problems = []
    for name, fn in _top_functions(path).items():
        if name in legacy or name not in HOOKS:
            continue
        body = _body(fn)
        if name in REGISTRATION_HOOKS:
            for s in body:
                call = s.value if isinstance(s, ast.Expr) else None
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr in ("add", "add_family")):
                    problems.append(f"{name}, line {s.lineno}: a registration hook holds registry.add calls only")
        elif not (len(body) == 2 and isinstance(body[0], ast.ImportFrom) and body[0].level == 1
                  and isinstance(body[1], (ast.Return, ast.Expr)) and isinstance(body[1].value, ast.Call)):
            problems.append(f"{name}: a hook other than a registration is `from .module import f` and `return f(...)`")
    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("plugin", FIRST_PARTY)
def test_plugin_module_imports_only_what_it_registers(plugin: str) -> None:
    """A relative import at module level is a mixer class passed to ``registry.add`` (no hook imported to register)."""
    path = _package(plugin) / "_plugin.py"
    tree = _tree(path)
    imported = {a.asname or a.name: n.lineno for n in tree.body if isinstance(n, ast.ImportFrom) and n.level == 1
                for a in n.names}
    registered = {
        a.id for c in _registrations(plugin, "mixup_register_mixers") for a in c.args if isinstance(a, ast.Name)
    }
    legacy = _LEGACY.get(plugin, set())
    registered |= {n.id for fn in tree.body if isinstance(fn, ast.FunctionDef) and fn.name in legacy
                   for n in ast.walk(fn) if isinstance(n, ast.Name)}
    stray = sorted(set(imported) - registered)
    assert not stray, f"{path.relative_to(ROOT)} imports {stray} without registering them"


@pytest.mark.parametrize("plugin", FIRST_PARTY)
def test_lazy_mixer_entries_match_their_classes(plugin: str) -> None:
    """The ``"module:Class"`` form repeats the class's facts; they must agree (the form is kept for graph,
    whose mixers import torch-geometric)."""
    from mixup_core import list_mixers

    infos = {i.name: i for i in list_mixers()}
    constants = _constants(plugin)
    for call in _registrations(plugin, "mixup_register_mixers"):
        target = call.args[0]
        if not (isinstance(target, ast.Constant) and isinstance(target.value, str)):
            continue
        module, _, attr = target.value.partition(":")
        assert module.startswith(f"mixup_{plugin}."), f"{target.value}: a mixer of mixup-{plugin} lives in its package"
        cls = infos[f"{plugin}:{_keyword(call, 'name')}"].load()
        assert (cls.__module__, cls.__name__) == (module, attr)
        assert cls.name == _keyword(call, "name")
        assert cls.modality == _keyword(call, "modality")
        for field in ("paper", "cost"):
            if _keyword(call, field, constants) is not None:
                assert getattr(cls, field) == _keyword(call, field, constants), f"{target.value}: {field} differs"


# ---------------------------------------------------------------------------------------------- lab.py, datasets.py
def _returns_taskdata(fn: ast.FunctionDef) -> bool:
    return fn.returns is not None and ast.unparse(fn.returns).split(".")[-1] == "TaskData"


@pytest.mark.parametrize("plugin", FIRST_PARTY)
def test_loaders_live_in_lab_and_are_named_load_name_task(plugin: str) -> None:
    package = _package(plugin)
    datasets = _registrations(plugin, "mixup_register_datasets")
    if not datasets:
        assert not (package / "lab.py").exists() or plugin != "lab"
        return
    lab = _top_functions(package / "lab.py")
    for call in datasets:
        target, name = ast.literal_eval(call.args[0]), _keyword(call, "name")
        expected = f"mixup_{plugin}.lab:load_{str(name).replace('-', '_')}_task"
        assert target == expected, f"{plugin}:{name} is registered as {target!r}; the template says {expected!r}"
        assert expected.split(":")[1] in lab, f"{expected} is not defined in lab.py"
    loaders = [n for n, fn in lab.items() if _returns_taskdata(fn) and not n.startswith("_")]
    misnamed = [n for n in loaders if not re.fullmatch(r"load_\w+_task", n)]
    assert not misnamed, f"mixup_{plugin}.lab: loaders returning TaskData must be named load_<name>_task: {misnamed}"
    if (package / "datasets.py").exists():
        readers = _top_functions(package / "datasets.py")
        wrong = [n for n, fn in readers.items() if _returns_taskdata(fn)]
        assert not wrong, f"mixup_{plugin}.datasets holds raw readers; loaders returning TaskData go to lab.py: {wrong}"


@pytest.mark.parametrize("plugin", FIRST_PARTY)
def test_models_are_factories_of_lab(plugin: str) -> None:
    models = _registrations(plugin, "mixup_register_models")
    if not models:
        return
    lab = _top_functions(_package(plugin) / "lab.py")
    for call in models:
        module, _, attr = ast.literal_eval(call.args[0]).partition(":")
        assert module == f"mixup_{plugin}.lab", f"model {attr}: model factories are registered from mixup_{plugin}.lab"
        assert attr in lab, f"mixup_{plugin}.lab defines no {attr}"


# ---------------------------------------------------------------------------------------------- shared helpers
_PRIVATE_VALIDATOR = re.compile(
    r"^_?(check_int|check_model_int|int_param|optional_int_param|positive_int|cache_root|base_folder)$"
)
_CACHE_LOOKUP = re.compile(r"(environ\b.*|getenv\()[\"']MIXUP_CACHE|\.cache[\"']\s*/\s*[\"']mixup")


@pytest.mark.parametrize("plugin", FIRST_PARTY)
def test_validators_and_cache_root_come_from_core(plugin: str) -> None:
    problems = []
    for path in sorted(_package(plugin).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and _PRIVATE_VALIDATOR.match(node.name):
                problems.append(
                    f"{path.name}:{node.lineno} def {node.name}: use mixup_core.data.int_param / cache_root"
                )
        for i, line in enumerate(text.splitlines(), 1):
            if _CACHE_LOOKUP.search(line):
                problems.append(f"{path.name}:{i}: the cache root is mixup_core.data.cache_root")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------- __init__.py
@pytest.mark.parametrize("plugin", FIRST_PARTY)
def test_init_is_lazy(plugin: str) -> None:
    path = _package(plugin) / "__init__.py"
    tree = _tree(path)
    allowed_imports = {"__future__", "typing", "mixup_core.lazy"}
    names: dict[str, object] = {}
    for node in tree.body:
        if _is_docstring(node) or _is_type_checking_block(node):
            continue
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.relative_to(ROOT)}:{node.lineno}: an eager import; name it in _LAZY instead"
            assert node.module in allowed_imports, (
                f"{path.relative_to(ROOT)}:{node.lineno}: an eager import of {node.module}"
            )
            continue
        assert isinstance(node, ast.Assign), (
            f"{path.relative_to(ROOT)}:{node.lineno}: {type(node).__name__} in a lazy __init__"
        )
        target = node.targets[0]
        if isinstance(target, ast.Tuple):
            assert ast.unparse(node) == "__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)"
            names["__getattr__"] = True
        else:
            names[target.id] = ast.literal_eval(node.value)  # type: ignore[attr-defined]
    assert "__getattr__" in names, f"{path.relative_to(ROOT)}: no lazy_exports(...)"
    lazy, public = names["_LAZY"], names["__all__"]
    assert isinstance(lazy, dict)
    assert isinstance(public, list)
    assert set(public) == set(lazy) | {"__version__"}, "__all__ and _LAZY must name the same objects"
    for name, module in lazy.items():
        source = _package(plugin) / (module.lstrip(".") + ".py")
        defined = {n.name for n in ast.walk(_tree(source)) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        defined |= {t.id for n in _tree(source).body if isinstance(n, (ast.Assign, ast.AnnAssign))
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
        defined |= {a.asname or a.name for n in _tree(source).body if isinstance(n, ast.ImportFrom) for a in n.names}
        assert name in defined, f"_LAZY[{name!r}] = {module!r}, but {source.name} has no {name}"


def test_importing_the_packages_imports_none_of_their_modules() -> None:
    code = (
        "import json, sys\n"
        f"names = {list(FIRST_PARTY)!r}\n"
        "for n in names: __import__('mixup_' + n)\n"
        "print(json.dumps(sorted(m for m in sys.modules if any(m.startswith('mixup_' + n + '.') for n in names))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
