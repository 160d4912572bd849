"""Fresh virtual environments: what users get from the wheels and from third-party plugins.

Each environment is created with ``uv venv`` under pytest's temporary directory and filled with
``uv pip install`` (uv instead of pip for speed: with uv's cache warm an environment with torch is
ready in seconds; the resolution is the same). Nothing is written into the repository: the wheels are
built into a temporary folder, not ``dist/``, which ``make wheels`` owns.

* wheels: the seven wheels build, and ``pip install --find-links dist mixup-core mixup-audio``, under
  the versions of the committed lock (``uv export`` of ``uv.lock``, as constraints), installs those two
  distributions of the family and no other, at the locked torch and torchaudio; ``mixup`` then sees
  exactly the plugins ``core`` and ``audio``.
* newest: the README's user install, unpinned: ``pip install mixup-core mixup-audio``, then the other
  five distributions, resolved against whatever the registry serves today. Every plugin must load,
  one mixer of each must run, and ``mixup mixers`` must list them all; a failure names the versions
  it got, so that a release which breaks us is seen the day it is out, not by the next new user.
* third-party plugins: mixup-core with ``examples/mixup-example-plugin`` and the deliberately broken
  ``tests/data/mixup-broken-plugin``: the example's mixer is found by name, the broken plugin is
  reported as failed (with its ImportError) without breaking the others, and
  ``MIXUP_LOAD_PLUGINS`` / ``MIXUP_DISABLE_PLUGINS`` select the plugins.

Every process that imports mixup_core imports torch, which takes seconds of CPU, so each environment
runs few of them, from one module-scoped fixture, and the tests check the recorded results: the real
``mixup mixers --json`` and ``mixup plugins --json``, and one Python driver that checks the API and
runs the command's ``main`` under each set of variables (rebuilding the registry, which reads them).
The first process of a fresh venv writes torch's bytecode for the others. All tests are in one xdist
group, so that under ``pytest -n 2 --dist loadgroup`` the environments are built once, in one worker.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytestmark = [pytest.mark.venv, pytest.mark.xdist_group("venv")]

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "uv.lock"
DISTRIBUTIONS = {
    "mixup-core": REPO / "core",
    "mixup-image": REPO / "plugins" / "image",
    "mixup-audio": REPO / "plugins" / "audio",
    "mixup-text": REPO / "plugins" / "text",
    "mixup-graph": REPO / "plugins" / "graph",
    "mixup-tabular": REPO / "plugins" / "tabular",
    "mixup-lab": REPO / "plugins" / "lab",
}
EXAMPLE_PLUGIN = REPO / "examples" / "mixup-example-plugin"
BROKEN_PLUGIN = REPO / "tests" / "data" / "mixup-broken-plugin"
BROKEN_MESSAGE = "mixup_broken needs the package 'not-installed-dependency', which is missing"

BUILD_TIMEOUT = 300
VENV_TIMEOUT = 120
INSTALL_TIMEOUT = 600  # a cold uv cache downloads torch
COMMAND_TIMEOUT = 300  # a process that imports torch, on a busy machine

BIN = "Scripts" if os.name == "nt" else "bin"


# ---------------------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Result:
    """A finished (or timed out) command, with everything needed to explain a failure."""

    cmd: list[str]
    returncode: int | None  # None when it timed out
    stdout: str
    stderr: str
    timeout: float
    env: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        argv = [a if len(a) <= 200 else f"<{len(a)} characters: see tests/test_venv.py>" for a in self.cmd]
        status = f"timed out after {self.timeout:.0f}s" if self.returncode is None else f"exited with {self.returncode}"
        return (
            f"`{(env + ' ') if env else ''}{shlex.join(argv)}` {status}\n"
            f"--- stdout ---\n{self.stdout.strip()}\n--- stderr ---\n{self.stderr.strip()}"
        )

    def ok(self) -> str:
        """The standard output; fails the test (with the command and its output) unless it exited with 0."""
        if self.returncode != 0:
            pytest.fail(self.describe(), pytrace=False)
        return self.stdout

    def json(self) -> Any:
        """The standard output parsed as JSON (after :meth:`ok`)."""
        text = self.ok()
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            pytest.fail(f"output is not JSON ({exc}):\n{self.describe()}", pytrace=False)


def _environ(extra: Mapping[str, str]) -> dict[str, str]:
    """The test's environment without anything that would leak the dev environment into a fresh one.

    Bytecode writing is allowed: uv installs without .pyc files, so the first process of a fresh venv
    compiles what it imports of torch (seconds), and the later ones reuse it.
    """
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("MIXUP_")}
    env.update(extra)
    return env


def run(cmd: Sequence[str | Path], *, timeout: float, cwd: Path, env: Mapping[str, str] | None = None) -> Result:
    """Run ``cmd`` (never raises: a timeout or a missing program is recorded in the result)."""
    argv = [str(c) for c in cmd]
    extra = dict(env or {})
    try:
        proc = subprocess.run(
            argv, cwd=cwd, env=_environ(extra), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return Result(argv, None, out, err, timeout, extra)
    except OSError as exc:
        return Result(argv, 127, "", f"{type(exc).__name__}: {exc}", timeout, extra)
    return Result(argv, proc.returncode, proc.stdout, proc.stderr, timeout, extra)


Jobs = Mapping[str, tuple[Sequence[str | Path], Mapping[str, str]]]


def run_all(jobs: Jobs, *, cwd: Path) -> dict[str, Result]:
    """Run several ``{name: (cmd, extra_env)}`` commands concurrently (each imports torch: seconds of CPU)."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {
            name: pool.submit(run, cmd, timeout=COMMAND_TIMEOUT, cwd=cwd, env=env) for name, (cmd, env) in jobs.items()
        }
        return {name: future.result() for name, future in futures.items()}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Venv:
    path: Path

    @property
    def python(self) -> Path:
        return self.path / BIN / ("python.exe" if os.name == "nt" else "python")

    def script(self, name: str) -> Path:
        return self.path / BIN / (name + (".exe" if os.name == "nt" else ""))


def make_venv(uv: str, path: Path, *install_args: str | Path, constraints: Path | None) -> Venv:
    """A fresh venv (on the interpreter running the tests) with ``install_args`` installed.

    ``constraints`` is a constraints file (the lock's versions), or None for an unpinned install.
    """
    venv = Venv(path)
    run([uv, "venv", "--python", sys.executable, path], timeout=VENV_TIMEOUT, cwd=path.parent).ok()
    pins: list[str | Path] = ["-c", constraints] if constraints is not None else []
    run(
        [uv, "pip", "install", "--python", venv.python, *pins, *install_args],
        timeout=INSTALL_TIMEOUT,
        cwd=path.parent,
    ).ok()
    return venv


def install(uv: str, venv: Venv, *install_args: str | Path) -> None:
    """``uv pip install`` more into an existing venv, unpinned."""
    run(
        [uv, "pip", "install", "--python", venv.python, *install_args], timeout=INSTALL_TIMEOUT, cwd=venv.path.parent
    ).ok()


def locked_versions(constraints: Path) -> dict[str, str]:
    """``{distribution: version}`` that the exported lock pins for the interpreter running the tests."""
    from packaging.requirements import Requirement

    pins: dict[str, str] = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate():
            continue
        (spec,) = req.specifier
        pins[canonical(req.name)] = spec.version
    return pins


def build_wheels(jobs: Sequence[tuple[Path, Path]]) -> None:
    """``python -m build --wheel --no-isolation --outdir OUT SRC`` for each ``(SRC, OUT)``, as ``make wheels`` does."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [
            pool.submit(
                run,
                [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, src],
                timeout=BUILD_TIMEOUT,
                cwd=REPO,
            )
            for src, out in jobs
        ]
        for future in futures:
            future.result().ok()


def wheel_distributions(folder: Path) -> dict[str, list[str]]:
    """``{distribution: [wheel file names]}`` of the wheels in ``folder``."""
    found: dict[str, list[str]] = {}
    for wheel in sorted(folder.glob("*.whl")):
        found.setdefault(canonical(wheel.name.split("-")[0]), []).append(wheel.name)
    return found


# Runs in the third-party venv, in one process (every process that imports torch costs seconds):
# first the API checks, then the `mixup` command (mixup_core.cli:main, what the console script runs)
# under each set of variables. The variables are read when the registry is built, so each scenario
# sets them and rebuilds it (reset_registry), as a new process would. Each part reports its traceback
# instead of stopping the others.
DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, os, sys, traceback
    import torch
    from mixup_core import PluginLoadError, create_mixer, reset_registry
    from mixup_core.cli import main

    def api():
        result = {}
        by_bare = create_mixer({"name": "binary-mixup", "alpha": 0.5})
        by_qualified = create_mixer("example:binary-mixup")
        result["types"] = [type(by_bare).__name__, type(by_qualified).__name__]
        result["qualified"] = [by_bare.qualified_name(), by_qualified.qualified_name()]
        result["config"] = by_bare.to_config()
        x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        y = torch.arange(6)
        out = by_bare(x, y, num_classes=6, generator=torch.Generator().manual_seed(1))
        result["shape"] = list(out.inputs.shape)
        result["mixed"] = not torch.equal(out.inputs, x)
        result["from_sources"] = bool(torch.equal(out.inputs, torch.where(out.plan.mask, x, x[out.plan.index])))
        share = out.plan.mask.flatten(1).float().mean(dim=1)
        result["lam_is_share"] = bool(torch.allclose(out.targets.lam, share))
        result["rows_sum_to_one"] = bool(torch.allclose(out.targets.dense().sum(dim=1), torch.ones(6)))
        try:
            create_mixer("broken:anything")
        except PluginLoadError as exc:
            cause = exc.__cause__
            result["broken"] = {
                "error": type(exc).__name__,
                "message": str(exc),
                "cause": None if cause is None else type(cause).__name__,
                "cause_message": str(cause),
            }
        else:
            result["broken"] = None
        return result

    def cli(env):
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        reset_registry()
        try:
            result = {}
            for command in ("mixers", "plugins"):
                buffer = io.StringIO()
                with contextlib.redirect_stdout(buffer):
                    status = main([command, "--json"])
                result[command] = {"status": status, "records": json.loads(buffer.getvalue())}
            return result
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            reset_registry()

    def guarded(part, *args):
        try:
            return part(*args)
        except BaseException:
            return {"traceback": traceback.format_exc()}

    scenarios = json.loads(sys.argv[1])
    report = {"api": guarded(api)}
    report["scenarios"] = {name: guarded(cli, env) for name, env in scenarios.items()}
    print(json.dumps(report))
    """
)


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def uv() -> str:
    found = shutil.which("uv") or next((str(p) for p in [REPO / ".tools" / BIN / "uv"] if p.exists()), None)
    if found is None:
        pytest.skip("uv is not installed (make env bootstraps it into .tools/)")
    return found


@pytest.fixture(scope="module")
def lock_constraints(uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The versions of uv.lock as a constraints file (every locked package but the workspace's own)."""
    out = tmp_path_factory.mktemp("lock") / "constraints.txt"
    run(
        [
            uv, "export", "--frozen", "--all-packages", "--all-extras", "--group", "dev", "--no-emit-workspace",
            "--no-hashes", "--no-header", "--no-annotate", "--format", "requirements-txt", "--output-file", out,
        ],
        timeout=VENV_TIMEOUT,
        cwd=REPO,
    ).ok()  # fmt: skip
    return out


@dataclass(frozen=True)
class Wheelhouse:
    dist: Path  # the seven wheels of the repository, as `make wheels` builds them into dist/
    third_party: Path  # the example plugin and the broken plugin


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    root = tmp_path_factory.mktemp("wheels")
    house = Wheelhouse(dist=root / "dist", third_party=root / "third-party")
    jobs = [(src, house.dist) for src in DISTRIBUTIONS.values()]
    jobs += [(EXAMPLE_PLUGIN, house.third_party), (BROKEN_PLUGIN, house.third_party)]
    build_wheels(jobs)
    return house


@pytest.fixture(scope="module")
def core_audio(
    uv: str, wheelhouse: Wheelhouse, lock_constraints: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Result]:
    """``pip install --find-links dist mixup-core mixup-audio`` in a fresh venv, and what it then reports."""
    venv = make_venv(
        uv,
        tmp_path_factory.mktemp("core-audio") / "venv",
        "--find-links", wheelhouse.dist, "mixup-core", "mixup-audio",
        constraints=lock_constraints,
    )  # fmt: skip
    mixup = venv.script("mixup")
    # the first `mixup` process compiles torch's bytecode for the ones after it
    results = run_all(
        {
            "list": ([uv, "pip", "list", "--python", venv.python, "--format", "json"], {}),
            "plugins": ([mixup, "plugins", "--json"], {}),
        },
        cwd=venv.path.parent,
    )
    results["mixers"] = run([mixup, "mixers", "--json"], timeout=COMMAND_TIMEOUT, cwd=venv.path.parent)
    return results


SCENARIOS: dict[str, dict[str, str]] = {
    "disable-example": {"MIXUP_DISABLE_PLUGINS": "example"},
    "load-none": {"MIXUP_LOAD_PLUGINS": ""},
    "load-example": {"MIXUP_LOAD_PLUGINS": "example"},
}


@pytest.fixture(scope="module")
def third_party(
    uv: str, wheelhouse: Wheelhouse, lock_constraints: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Result]:
    """mixup-core with the example plugin and the broken plugin in a fresh venv, and what it then reports."""
    venv = make_venv(
        uv,
        tmp_path_factory.mktemp("third-party") / "venv",
        "--find-links", wheelhouse.dist,
        "--find-links", wheelhouse.third_party,
        "mixup-core", "mixup-example-plugin", "mixup-broken-plugin",
        constraints=lock_constraints,
    )  # fmt: skip
    mixup = venv.script("mixup")
    # the first `mixup` process compiles torch's bytecode for the ones after it
    first: Jobs = {
        "list": ([uv, "pip", "list", "--python", venv.python, "--format", "json"], {}),
        "mixers": ([mixup, "mixers", "--json"], {}),
    }
    then: Jobs = {
        "plugins": ([mixup, "plugins", "--json"], {}),
        "driver": ([venv.python, "-c", DRIVER, json.dumps(SCENARIOS)], {}),
    }
    return {**run_all(first, cwd=venv.path.parent), **run_all(then, cwd=venv.path.parent)}


def _driver_part(third_party: dict[str, Result], *keys: str) -> Any:
    """One part of the driver's report; fails with that part's traceback if it raised."""
    part = third_party["driver"].json()
    for key in keys:
        part = part[key]
    if isinstance(part, dict) and "traceback" in part:
        pytest.fail(f"{'/'.join(keys)} raised in the venv:\n{part['traceback']}", pytrace=False)
    return part


def _by_name(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in records}


def _mixup_family(listing: list[dict[str, Any]]) -> dict[str, str]:
    return {canonical(p["name"]): p["version"] for p in listing if canonical(p["name"]).startswith("mixup-")}


# ---------------------------------------------------------------------------------------- (a) wheels
def test_seven_wheels_are_built(wheelhouse: Wheelhouse) -> None:
    found = wheel_distributions(wheelhouse.dist)
    assert sorted(found) == sorted(DISTRIBUTIONS), f"wheels in {wheelhouse.dist}: {found}"
    for dist, names in found.items():
        assert len(names) == 1, f"{dist}: several wheels {names}"
        assert names[0].endswith("-py3-none-any.whl"), f"{dist} is not a pure-Python wheel: {names[0]}"


def test_wheels_install_only_what_is_asked(core_audio: dict[str, Result], lock_constraints: Path) -> None:
    listing = core_audio["list"].json()
    family = _mixup_family(listing)
    assert set(family) == {"mixup-core", "mixup-audio"}, f"installed mixup distributions: {family}"
    versions = {canonical(p["name"]): p["version"] for p in listing}
    locked = locked_versions(lock_constraints)
    for pinned in ("torch", "torchaudio", "numpy", "pydantic"):
        assert pinned in locked, f"uv.lock pins no {pinned} for this interpreter: {sorted(locked)}"
        got = versions.get(pinned, "").split("+")[0]
        assert got == locked[pinned], f"{pinned} {versions.get(pinned)} is not the locked {locked[pinned]}"


def test_lock_constraints_pin_the_locked_torch(lock_constraints: Path) -> None:
    """The constraints the venvs use are the lock's: the torch of uv.lock for this interpreter."""
    lock = tomllib.loads(LOCK.read_text(encoding="utf-8"))
    locked = {p["version"] for p in lock["package"] if p["name"] == "torch"}
    assert locked_versions(lock_constraints)["torch"] in locked, (locked, lock_constraints.read_text())


def test_wheels_mixers_come_from_core_and_audio(core_audio: dict[str, Result]) -> None:
    mixers = _by_name(core_audio["mixers"].json())
    assert {"core:mixup", "core:choice"} <= set(mixers), f"mixers: {sorted(mixers)}"
    others = {name: m["plugin"] for name, m in mixers.items() if m["plugin"] not in ("core", "audio")}
    assert not others, f"mixers of plugins that were not installed: {others}"
    assert all(m["distribution"] in ("mixup-core", "mixup-audio") for m in mixers.values()), mixers


def test_wheels_plugins_are_core_and_audio(core_audio: dict[str, Result]) -> None:
    plugins = _by_name(core_audio["plugins"].json())
    assert set(plugins) == {"core", "audio"}, f"plugins: {plugins}"
    for name, dist in (("core", "mixup-core"), ("audio", "mixup-audio")):
        assert plugins[name]["status"] == "loaded", plugins[name]
        assert plugins[name]["error"] is None, plugins[name]
        assert plugins[name]["distribution"] == dist, plugins[name]
        assert plugins[name]["version"] == "0.1.0", plugins[name]


# ---------------------------------------------------------------------------------------- (b) third-party plugins
def test_third_party_installed(third_party: dict[str, Result]) -> None:
    family = _mixup_family(third_party["list"].json())
    assert set(family) == {"mixup-core", "mixup-example-plugin", "mixup-broken-plugin"}, family


def test_third_party_mixers_are_listed(third_party: dict[str, Result]) -> None:
    mixers = _by_name(third_party["mixers"].json())
    assert {"core:mixup", "core:choice", "example:binary-mixup"} <= set(mixers), f"mixers: {sorted(mixers)}"
    example = mixers["example:binary-mixup"]
    assert example["plugin"] == "example"
    assert example["distribution"] == "mixup-example-plugin"
    assert example["modality"] == "any"
    assert {m["plugin"] for m in mixers.values()} == {"core", "example"}, f"mixers: {sorted(mixers)}"


def test_broken_plugin_is_reported_and_isolated(third_party: dict[str, Result]) -> None:
    plugins = _by_name(third_party["plugins"].json())
    assert set(plugins) == {"core", "example", "broken"}, f"plugins: {plugins}"
    broken = plugins["broken"]
    assert broken["status"] == "failed", broken
    assert broken["distribution"] == "mixup-broken-plugin", broken
    assert broken["error"] is not None, broken
    assert "ImportError" in broken["error"], broken
    assert BROKEN_MESSAGE in broken["error"], broken
    assert broken["mixers"] == [], broken
    for name in ("core", "example"):
        assert plugins[name]["status"] == "loaded", plugins[name]
        assert plugins[name]["error"] is None, plugins[name]
    assert plugins["example"]["mixers"] == ["example:binary-mixup"], plugins["example"]


def test_third_party_mixer_by_name(third_party: dict[str, Result]) -> None:
    result = _driver_part(third_party, "api")
    assert result["types"] == ["BinaryMixup", "BinaryMixup"], result
    assert result["qualified"] == ["example:binary-mixup"] * 2, result
    assert result["config"] == {"name": "example:binary-mixup", "alpha": 0.5}, result
    assert result["shape"] == [6, 3, 8, 8], result
    assert result["mixed"], result
    assert result["from_sources"], result
    assert result["lam_is_share"], result
    assert result["rows_sum_to_one"], result


def test_broken_mixer_raises_plugin_load_error(third_party: dict[str, Result]) -> None:
    broken = _driver_part(third_party, "api")["broken"]
    assert broken is not None, "create_mixer('broken:anything') did not raise PluginLoadError"
    assert broken["error"] == "PluginLoadError", broken
    assert broken["cause"] == "ImportError", f"PluginLoadError is not chained to the ImportError: {broken}"
    assert broken["cause_message"] == BROKEN_MESSAGE, broken
    assert "'broken'" in broken["message"], broken
    assert "ImportError" in broken["message"], broken


@pytest.mark.parametrize(
    ("scenario", "mixer_plugins", "statuses"),
    [
        pytest.param(
            "disable-example",
            {"core"},
            {"core": "loaded", "example": "disabled", "broken": "failed"},
            id="MIXUP_DISABLE_PLUGINS=example",
        ),
        pytest.param(
            "load-none",
            {"core"},
            {"core": "loaded", "example": "disabled", "broken": "disabled"},
            id="MIXUP_LOAD_PLUGINS=",
        ),
        pytest.param(
            "load-example",
            {"core", "example"},
            {"core": "loaded", "example": "loaded", "broken": "disabled"},
            id="MIXUP_LOAD_PLUGINS=example",
        ),
    ],
)
def test_plugin_selection_by_environment(
    third_party: dict[str, Result], scenario: str, mixer_plugins: set[str], statuses: dict[str, str]
) -> None:
    result = _driver_part(third_party, "scenarios", scenario)
    where = f"with {SCENARIOS[scenario]}"
    assert result["mixers"]["status"] == 0, result
    assert result["plugins"]["status"] == 0, result
    mixers = _by_name(result["mixers"]["records"])
    assert {m["plugin"] for m in mixers.values()} == mixer_plugins, f"{where}: mixers {sorted(mixers)}"
    assert {"core:mixup", "core:choice"} <= set(mixers), f"{where}: mixers {sorted(mixers)}"
    assert ("example:binary-mixup" in mixers) == ("example" in mixer_plugins), f"{where}: mixers {sorted(mixers)}"
    plugins = _by_name(result["plugins"]["records"])
    assert {name: p["status"] for name, p in plugins.items()} == statuses, f"{where}: plugins {plugins}"


# ---------------------------------------------------------------------------------------- (c) newest
# Runs in the unpinned venv: every plugin loads, and one batch mixer of each modality plugin runs on the
# kit's example inputs (its `example_shape` and `example_call_kwargs`). Prints one JSON report.
NEWEST_DRIVER = textwrap.dedent(
    """
    import json, traceback
    import torch
    from mixup_core import create_mixer, get_registry, list_mixers

    report = {"plugins": {}, "mixers": {}}
    for record in get_registry().plugins():
        report["plugins"][record.name] = record.to_dict()
    for plugin in ("core", "image", "audio", "text", "graph", "tabular"):
        infos = [i for i in list_mixers() if i.name.startswith(plugin + ":") and i.cost != "dataset"]
        if not infos:
            report["mixers"][plugin] = {"error": "no batch mixer registered"}
            continue
        name = infos[0].name
        try:
            mixer = create_mixer({"name": name, **infos[0].load().example_params})
            cls = type(mixer)
            g = torch.Generator().manual_seed(0)
            x = torch.randn((5, *cls.example_shape), generator=g)
            y = torch.tensor([0, 1, 2, 0, 1])
            out = mixer(x, y, generator=g, num_classes=3, **cls.example_call_kwargs(x, y, 3))
            dense = out.targets.dense(3)
            report["mixers"][plugin] = {
                "name": name,
                "shape_kept": list(out.inputs.shape) == list(x.shape),
                "finite": bool(torch.isfinite(out.inputs).all()),
                "mixed": not torch.equal(out.inputs, x),
                "targets_shape": list(dense.shape),
            }
        except BaseException:
            report["mixers"][plugin] = {"name": name, "error": traceback.format_exc()}
    print(json.dumps(report))
    """
)
FAMILY_PLUGINS = {"core", "image", "audio", "text", "graph", "tabular", "lab"}


@pytest.fixture(scope="module")
def newest(uv: str, wheelhouse: Wheelhouse, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """The README's install, unpinned: mixup-core and mixup-audio first, then the other five distributions."""
    venv = make_venv(
        uv,
        tmp_path_factory.mktemp("newest") / "venv",
        "--find-links", wheelhouse.dist, "mixup-core", "mixup-audio",
        constraints=None,
    )  # fmt: skip
    install(uv, venv, "--find-links", wheelhouse.dist, "mixup-image", "mixup-text", "mixup-graph", "mixup-tabular",
            "mixup-lab")
    mixup = venv.script("mixup")
    listing = run([uv, "pip", "list", "--python", venv.python, "--format", "json"], timeout=COMMAND_TIMEOUT, cwd=REPO)
    first = {"driver": run([venv.python, "-c", NEWEST_DRIVER], timeout=COMMAND_TIMEOUT, cwd=venv.path.parent)}
    then: Jobs = {
        "mixers": ([mixup, "mixers", "--json"], {}),
        "compare-help": ([mixup, "compare", "--help"], {}),
    }
    return {"list": listing, **first, **run_all(then, cwd=venv.path.parent)}


def _got(newest: dict[str, Result]) -> str:
    """The versions the unpinned install got, for every failure message of the newest check."""
    try:
        versions = {canonical(p["name"]): p["version"] for p in json.loads(newest["list"].stdout)}
    except (json.JSONDecodeError, TypeError):
        return f"(no package list: {newest['list'].describe()})"
    keys = ["torch", "torchaudio", "torchvision", "transformers", "torch-geometric", "numpy", "pydantic", "optuna"]
    shown = ", ".join(f"{k} {versions[k]}" for k in keys if k in versions)
    return f"the newest versions the registry serves break mixup: {shown}"


def test_newest_install_resolves_the_whole_family(newest: dict[str, Result]) -> None:
    family = _mixup_family(newest["list"].json())
    assert set(family) == set(DISTRIBUTIONS), f"{_got(newest)}; installed mixup distributions: {family}"


def test_newest_every_plugin_loads(newest: dict[str, Result]) -> None:
    report = newest["driver"].json()
    failed = {name: p for name, p in report["plugins"].items() if p["status"] != "loaded"}
    assert not failed, f"{_got(newest)}; plugins that did not load: {failed}"
    missing = FAMILY_PLUGINS - set(report["plugins"])
    assert not missing, f"{_got(newest)}; plugins missing: {sorted(missing)} (found {sorted(report['plugins'])})"


@pytest.mark.parametrize("plugin", ["core", "image", "audio", "text", "graph", "tabular"])
def test_newest_one_mixer_per_plugin_runs(newest: dict[str, Result], plugin: str) -> None:
    result = newest["driver"].json()["mixers"][plugin]
    assert "error" not in result, f"{_got(newest)}; {result.get('name', plugin)} failed:\n{result['error']}"
    assert result["shape_kept"], (_got(newest), result)
    assert result["finite"], (_got(newest), result)
    assert result["mixed"], (_got(newest), result)
    assert result["targets_shape"] == [5, 3], (_got(newest), result)


def test_newest_mixup_mixers_lists_every_plugin(newest: dict[str, Result]) -> None:
    mixers = newest["mixers"]
    if mixers.returncode != 0:
        pytest.fail(f"{_got(newest)}\n{mixers.describe()}", pytrace=False)
    plugins = {m["plugin"] for m in mixers.json()}
    assert plugins == FAMILY_PLUGINS - {"lab"}, f"{_got(newest)}; mixers come from {sorted(plugins)}"


def test_newest_lab_commands_run(newest: dict[str, Result]) -> None:
    result = newest["compare-help"]
    assert result.returncode == 0, f"{_got(newest)}\n{result.describe()}"
    assert "compare" in result.stdout, result.describe()
