"""Every bad study config, flag and value is one error line with exit code 2, and nothing is written.

A table of bad inputs run through ``mixup compare`` (and ``init``/``preview``/``report``): each must print
exactly one line ``mixup: error: <field or flag>: …`` on stderr, name the field, exit with 2, print no
traceback, and leave the study folder untouched. The three integrity cases (a refused call rewrites
nothing, a changed arm is refused whatever seeds run, two arm names never share a folder) follow.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mixup_core.cli import main

pytest.importorskip("sklearn")
pytestmark = pytest.mark.xdist_group("lab-compare")

BASE: dict[str, Any] = {
    "name": "bad",
    "dataset": {"name": "image:digits", "test_fraction": 0.25},
    "model": {"name": "image:mlp"},
    "train": {"epochs": 1, "batch_size": 64},
    "seeds": [0],
    "arms": [{"name": "baseline"}, {"name": "mixup", "mixer": {"name": "core:mixup", "alpha": 0.4}}],
    "examples": 0,
}


# (id, config changes, extra flags, text the single error line must contain)
CONFIG_CASES: list[tuple[str, dict[str, Any], list[str], str]] = [
    ("unknown-top-key", {"nmae": "x"}, [], "nmae: unknown key 'nmae'"),
    ("unknown-train-key", {"train.epocs": 1}, [], "train.epocs: unknown key 'epocs'"),
    ("unknown-critical-key", {"critical.clases": [1]}, [], "critical.clases: unknown key"),
    ("unknown-tune-key", {"tune.trails": 3}, [], "tune.trails: unknown key"),
    ("missing-name", {"name": ...}, [], "name: Field required"),
    ("missing-dataset", {"dataset": ...}, [], "dataset: Field required"),
    ("missing-model", {"model": ...}, [], "model: Field required"),
    ("missing-arms", {"arms": ...}, [], "arms: Field required"),
    ("empty-name", {"name": ""}, [], "name: String should have at least 1 character"),
    ("empty-arms", {"arms": []}, [], "arms: List should have at least 1 item"),
    ("empty-seeds", {"seeds": []}, [], "seeds: List should have at least 1 item"),
    ("epochs-bool", {"train.epochs": True}, [], "train.epochs: Input should be a valid integer (got True)"),
    ("epochs-float", {"train.epochs": 1.5}, [], "train.epochs: Input should be a valid integer (got 1.5)"),
    ("epochs-string", {"train.epochs": "ten"}, [], "train.epochs: Input should be a valid integer (got 'ten')"),
    ("epochs-zero", {"train.epochs": 0}, [], "train.epochs: Input should be greater than or equal to 1 (got 0)"),
    ("epochs-negative", {"train.epochs": -3}, [], "train.epochs: Input should be greater than or equal to 1"),
    ("epochs-huge", {"train.epochs": 10**12}, [], "train.epochs: Input should be less than or equal to 100000"),
    ("batch-zero", {"train.batch_size": 0}, [], "train.batch_size: Input should be greater than or equal to 1"),
    ("batch-bool", {"train.batch_size": False}, [], "train.batch_size: Input should be a valid integer"),
    ("batch-huge", {"train.batch_size": 2**40}, [], "train.batch_size: Input should be less than or equal to"),
    ("eval-batch-zero", {"train.eval_batch_size": 0}, [], "train.eval_batch_size: Input should be greater"),
    ("lr-zero", {"train.lr": 0}, [], "train.lr: Input should be greater than 0 (got 0)"),
    ("lr-negative", {"train.lr": -0.1}, [], "train.lr: Input should be greater than 0"),
    ("lr-inf", {"train.lr": float("inf")}, [], "train.lr: Input should be a finite number (got inf)"),
    ("lr-nan", {"train.lr": float("nan")}, [], "train.lr: Input should be a finite number (got nan)"),
    ("lr-1e300", {"train.lr": 1e300}, [], "train.lr: Input should be less than or equal to 10 (got 1e+300)"),
    ("lr-string", {"train.lr": "fast"}, [], "train.lr: Input should be a valid number"),
    ("weight-decay-negative", {"train.weight_decay": -1}, [],
     "train.weight_decay: Input should be greater than or equal to 0"),
    ("weight-decay-inf", {"train.weight_decay": float("inf")}, [],
     "train.weight_decay: Input should be a finite number"),
    ("optimizer", {"train.optimizer": "adagrad"}, [], "train.optimizer: Input should be 'adam', 'adamw' or 'sgd'"),
    ("schedule", {"train.schedule": "step"}, [], "train.schedule: Input should be 'cosine' or 'constant'"),
    ("device", {"train.device": "tpu"}, [], "train.device: Input should be 'cpu', 'cuda' or 'auto'"),
    ("device-cuda-missing", {"train.device": "cuda"}, [], "train.device: 'cuda' was asked for but torch sees no CUDA"),
    ("smoothing-one", {"train.label_smoothing": 1.0}, [], "train.label_smoothing: Input should be less than 1"),
    ("smoothing-negative", {"train.label_smoothing": -0.1}, [],
     "train.label_smoothing: Input should be greater than or equal to 0"),
    ("threads-zero", {"train.threads": 0}, [], "train.threads: Input should be greater than or equal to 1"),
    ("threads-huge", {"train.threads": 10**20}, [], "train.threads: Input should be less than or equal to 1024"),
    ("threads-bool", {"train.threads": True}, [], "train.threads: Input should be a valid integer"),
    ("workers-negative", {"train.workers": -1}, [], "train.workers: Input should be greater than or equal to 0"),
    ("workers-huge", {"train.workers": 1000}, [], "train.workers: Input should be less than or equal to 64"),
    ("head-lr-zero", {"train.head_lr": 0}, [], "train.head_lr: Input should be greater than 0"),
    ("grad-clip-negative", {"train.grad_clip": -1}, [], "train.grad_clip: Input should be greater than 0"),
    ("checkpoint-word", {"train.checkpoint": "often"}, [],
     "train.checkpoint: Input should be 'none', 'last', 'best' or 'both'"),
    ("checkpoint-best-no-val", {"train.checkpoint": "best"}, [], "train: checkpoint 'best' picks the best epoch"),
    ("amp-on-cpu", {"train.amp": True}, [], "train: amp: automatic mixed precision runs on CUDA"),
    ("val-fraction-one", {"train.val_fraction": 1}, [], "train.val_fraction: Input should be less than 1"),
    ("seeds-not-list", {"seeds": 3}, [], "seeds: Input should be a valid list (got 3)"),
    ("seeds-string", {"seeds": ["a"]}, [], "seeds: seeds[0] must be an integer, got 'a'"),
    ("seeds-float", {"seeds": [1.5]}, [], "seeds: seeds[0] must be an integer, got 1.5"),
    ("seeds-bool", {"seeds": [True]}, [], "seeds: seeds[0] must be an integer, got True"),
    ("seeds-huge", {"seeds": [2**70]}, [], "seeds: seeds[0] must be in [0, 2**32)"),
    ("seeds-negative", {"seeds": [-1]}, [], "seeds: seeds[0] must be in [0, 2**32)"),
    ("seeds-repeated", {"seeds": [0, 0]}, [], "seeds must be distinct"),
    ("arms-repeated", {"arms": [{"name": "a"}, {"name": "a"}]}, [], "arm names must be unique, repeated: ['a']"),
    ("arms-folder-collision", {"arms": [{"name": "a b"}, {"name": "a_b"}]}, [],
     "arms 'a b' and 'a_b' would share the folder runs/a_b"),
    ("arm-name-empty", {"arms": [{"name": ""}]}, [], "arms.0.name: String should have at least 1 character"),
    ("arm-name-dots", {"arms": [{"name": ".."}]}, [], "arm name '..' has no letter or digit"),
    ("arm-unknown-key", {"arms": [{"name": "a", "mixr": "mixup"}]}, [], "arms.0.mixr: unknown key"),
    ("arm-mixer-unknown", {"arms": [{"name": "a", "mixer": "mixupp"}]}, [],
     "arms[0].mixer ('a'): Unknown mixer 'mixupp'"),
    ("arm-mixer-bad-alpha", {"arms": [{"name": "a", "mixer": {"name": "mixup", "alpha": -1}}]}, [],
     "arms[0].mixer ('a')"),
    ("arm-mixer-unknown-param", {"arms": [{"name": "a", "mixer": {"name": "mixup", "alpah": 1}}]}, [],
     "arms[0].mixer ('a')"),
    ("arm-choice-empty", {"arms": [{"name": "a", "mixer": {"name": "core:choice", "mixers": []}}]}, [],
     "choice needs at least one mixer"),
    ("arm-choice-no-options", {"arms": [{"name": "a", "mixer": "core:choice"}]}, [],
     "mixers: choice needs at least one mixer"),
    ("arm-mixer-number", {"arms": [{"name": "a", "mixer": 3}]}, [], "arms.0.mixer"),
    ("dataset-unknown", {"dataset.name": "image:digitz"}, [], "dataset.name: unknown dataset 'image:digitz'"),
    ("dataset-no-name", {"dataset": {"test_fraction": 0.2}}, [], "dataset.name: Field required"),
    ("dataset-bad-param", {"dataset.colour": "red"}, [], "dataset (image:digits)"),
    ("model-unknown", {"model.name": "image:resnet999"}, [], "model.name: unknown model 'image:resnet999'"),
    ("model-python-malformed", {"model.name": "python:nocolon"}, [],
     "model.name: a python model is named python:<module>:<function>"),
    ("model-python-missing", {"model.name": "python:no_such_module_qq:f"}, [],
     "model.name: cannot import 'no_such_module_qq'"),
    ("critical-unknown-class", {"critical.classes": ["eleven"]}, [], "critical.classes[0]: no class 'eleven'"),
    ("critical-index-range", {"critical.classes": [10]}, [], "critical.classes[0]: class index 10 is out of range"),
    ("critical-protect-mode", {"critical.protect_mode": "soft"}, [],
     "critical.protect_mode: Input should be 'floor' or 'exclude'"),
    ("critical-train-index", {"critical.train_indices": [10**6]}, [], "critical.train_indices: [1000000] out of range"),
    ("examples-negative", {"examples": -1}, [], "examples: Input should be greater than or equal to 0"),
    ("examples-bool", {"examples": True}, [], "examples: Input should be a valid integer"),
    ("tune-alpha-order", {"tune.alpha": [2.0, 0.1]}, [], "tune.alpha: alpha must be [low, high] with 0 < low <= high"),
    ("tune-trials-zero", {"tune.n_trials": 0}, [], "tune.n_trials: Input should be greater than or equal to 1"),
    ("tune-val-fraction", {"tune.val_fraction": 0}, [], "tune.val_fraction: Input should be greater than 0"),
    ("top-level-list", {"__list__": True}, [], "config file"),
    # flags
    ("set-unparsable", {}, ["--set", "train.epochs=[1"], "--set train.epochs: not a YAML value"),
    ("set-python-tag", {}, ["--set", "name=!!python/object/apply:os.system ['true']"], "--set name: not a YAML value"),
    ("set-no-equals", {}, ["--set", "train.epochs"], "--set takes KEY.PATH=VALUE"),
    ("set-empty-key", {}, ["--set", "=3"], "--set takes KEY.PATH=VALUE"),
    ("set-not-a-section", {}, ["--set", "name.x=1"], "--set 'name.x=1': 'name' is not a section"),
    ("set-bad-value", {}, ["--set", "train.epochs=-1"], "train.epochs: Input should be greater than or equal to 1"),
    ("seeds-flag-words", {}, ["--seeds", "one,two"], "--seeds: comma-separated integers (got 'one,two')"),
    ("seeds-flag-huge", {}, ["--seeds", str(2**70)], "--seeds: integers in [0, 2**32)"),
    ("seeds-flag-negative", {}, ["--seeds", "-1"], "--seeds: integers in [0, 2**32)"),
    ("arms-flag-unknown", {}, ["--arms", "baseline,cutmx"], "--arms: no arm named ['cutmx']"),
]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err
    return code, err


def _assert_one_error_line(code: int, err: str, expected: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit code {code}, stderr: {err!r}"
    assert len(lines) == 1, f"not one line: {err!r}"
    assert lines[0].startswith("mixup: error: "), lines[0]
    assert "Traceback" not in err
    assert expected in lines[0], f"{expected!r} not in {lines[0]!r}"


def test_the_table_has_at_least_80_cases() -> None:
    assert len(CONFIG_CASES) + len(FILE_CASES) + len(OTHER_COMMANDS) >= 80


@pytest.mark.parametrize(
    ("changes", "flags", "expected"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_bad_study_input_is_one_line_and_writes_nothing(
    changes: dict[str, Any], flags: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg: Any = [BASE] if "__list__" in changes else BASE
    for path, value in changes.items():
        if path != "__list__":
            cfg = _with_on(cfg, path, value)
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    out = tmp_path / "out"
    code, err = _run(["compare", str(config), "--quiet", "--out", str(out), *flags], capsys)
    _assert_one_error_line(code, err, expected)
    assert not out.exists(), f"a refused call wrote {sorted(p.name for p in out.rglob('*'))}"


def _with_on(cfg: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(cfg))
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if value is ...:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    return out


# (id, file name, bytes, text of the error line)
FILE_CASES: list[tuple[str, str, bytes, str]] = [
    ("not-utf8", "s.yaml", b"name: \xff\xfe bad\n", "config file: not UTF-8 text"),
    ("binary", "s.yaml", b"\x00\x01\x02\x03", "config file: a binary file"),
    ("yaml-syntax", "s.yaml", b"name: [unclosed\n", "config file: cannot be parsed"),
    ("yaml-python-tag", "s.yaml", b"name: !!python/object/apply:os.system ['true']\n", "config file: cannot be parsed"),
    ("toml-syntax", "s.toml", b"name = \n", "config file: cannot be parsed"),
    ("json-syntax", "s.json", b"{name: 1}", "config file: cannot be parsed"),
    ("wrong-suffix", "s.txt", b"name: x\n", "config files are .yaml, .yml, .toml or .json"),
    ("empty-yaml", "s.yaml", b"", "must hold a mapping at top level"),
    ("scalar-yaml", "s.yaml", b"42\n", "must hold a mapping at top level"),
]


@pytest.mark.parametrize(("name", "content", "expected"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_bad_config_files(
    name: str, content: bytes, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / name
    config.write_bytes(content)
    code, err = _run(["compare", str(config), "--quiet", "--out", str(tmp_path / "out")], capsys)
    _assert_one_error_line(code, err, expected)
    assert not (tmp_path / "out").exists()


OTHER_COMMANDS: list[tuple[str, list[str], str]] = [
    ("compare-missing-file", ["compare", "{tmp}/none.yaml"], "config file '{tmp}/none.yaml' does not exist"),
    ("compare-out-is-a-file", ["compare", "{cfg}", "--out", "{tmp}/afile"], "--out: not a folder (got '{tmp}/afile')"),
    ("compare-out-unwritable", ["compare", "{cfg}", "--out", "/proc/mixup-study"],
     "--out: cannot create or write the study folder"),
    ("report-not-a-study", ["report", "{tmp}"], "is not a study folder (no study.json)"),
    ("preview-batch-zero", ["preview", "mixup", "--batch-size", "0", "--out", "{tmp}/p.png"],
     "--batch-size: must be at least 1 (got 0)"),
    ("preview-out-folder-missing", ["preview", "mixup", "--out", "{tmp}/missing/dir/p.png"],
     "--out: the folder '{tmp}/missing/dir' does not exist"),
    ("preview-param-unparsable", ["preview", "mixup", "--param", "alpha=[1", "--out", "{tmp}/p.png"],
     "--param: not a YAML value"),
    ("preview-param-no-equals", ["preview", "mixup", "--param", "alpha", "--out", "{tmp}/p.png"],
     "--param takes KEY=VALUE"),
    ("init-missing-path", ["init", "{tmp}/nothing-here"], "PATH: no such file or folder"),
]


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in OTHER_COMMANDS], ids=[c[0] for c in OTHER_COMMANDS])
def test_bad_flags_of_other_commands(
    args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(BASE))
    (tmp_path / "afile").write_text("not a folder")
    code, err = _run([a.format(tmp=tmp_path, cfg=cfg) for a in args], capsys)
    _assert_one_error_line(code, err, expected.format(tmp=tmp_path))
    assert not (tmp_path / "p.png").exists()


# ---------------------------------------------------------------------------------------------- integrity
def _checksums(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    cfg = root / "study.yaml"
    cfg.write_text(yaml.safe_dump(BASE))
    assert main(["compare", str(cfg), "--quiet", "--out", str(root / "out")]) == 0
    return root


def _copy(finished: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(finished / "out", tmp_path / "out")
    return tmp_path / "out"


@pytest.mark.parametrize(
    ("changes", "flags", "expected"),
    [
        ({"arms": [{"name": "mixup", "mixer": {"name": "core:mixup", "alpha": 2.0}}]}, [],
         "arms.mixup.mixer.alpha: 0.4 → 2.0: arm 'mixup' already has runs"),
        ({"arms": [{"name": "mixup", "mixer": {"name": "core:mixup", "alpha": 2.0}}], "seeds": [1]}, ["--seeds", "1"],
         "arms.mixup.mixer.alpha: 0.4 → 2.0"),
        ({"train": {"epochs": 2, "batch_size": 64}}, [], "holds a study with another setup"),
        ({"arms": [{"name": "mixup!", "mixer": "mixup"}]}, [],
         "would share the folder runs/mixup with the stored arm 'mixup'"),
    ],
    ids=["changed-mixer", "changed-mixer-new-seed-only", "changed-setup", "arm-name-collides-with-stored"],
)
def test_a_refused_call_leaves_the_study_byte_identical(
    finished: Path, changes: dict[str, Any], flags: list[str], expected: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _copy(finished, tmp_path)
    before = _checksums(out)
    cfg = {**json.loads(json.dumps(BASE)), **changes}
    config = tmp_path / "changed.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    code, err = _run(["compare", str(config), "--quiet", "--out", str(out), *flags], capsys)
    _assert_one_error_line(code, err, expected)
    assert _checksums(out) == before


def test_report_labels_arms_from_their_runs(finished: Path, tmp_path: Path) -> None:
    out = _copy(finished, tmp_path)
    record = json.loads((out / "study.json").read_text())
    for arm in record["config"]["arms"]:  # a study.json rewritten by someone else must not relabel the runs
        if arm["name"] == "mixup":
            arm["mixer"] = {"name": "core:mixup", "alpha": 2.0}
    (out / "study.json").write_text(json.dumps(record))
    assert main(["report", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["arms"]["mixup"]["mixer"] == {"name": "core:mixup", "alpha": 0.4}


def test_runs_record_their_provenance(finished: Path) -> None:
    metrics = json.loads((finished / "out" / "runs" / "mixup" / "seed-0" / "metrics.json").read_text())
    assert metrics["threads"] >= 1
    assert metrics["device"] == "cpu"
    assert set(metrics["versions"]) == {"torch", "mixup-core", "mixup-lab"}
    assert len(metrics["setup_hash"]) == 16
    arm = json.loads((finished / "out" / "runs" / "mixup" / "arm.json").read_text())
    assert arm == {"name": "mixup", "mixer": {"name": "core:mixup", "alpha": 0.4}, "setup_hash": metrics["setup_hash"]}


def test_report_warns_when_runs_differ_in_threads(finished: Path, tmp_path: Path) -> None:
    out = _copy(finished, tmp_path)
    path = out / "runs" / "mixup" / "seed-0" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["threads"] = metrics["threads"] + 7
    path.write_text(json.dumps(metrics))
    assert main(["report", str(out)]) == 0
    assert "**Warning**: the runs of this study differ in threads:" in (out / "report.md").read_text()


def test_ctrl_c_stops_with_a_summary_and_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mixup_lab import _train

    real = _train.train_and_evaluate
    calls = {"n": 0}

    def interrupted_on_second_run(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_train, "train_and_evaluate", interrupted_on_second_run)
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump(BASE))
    code, err = _run(["compare", str(config), "--quiet", "--out", str(tmp_path / "out")], capsys)
    assert code == 130
    assert err.strip() == (f"mixup: interrupted: 1 of 2 runs finished and kept in {tmp_path / 'out'}; "
                           "run the same command to resume")
    monkeypatch.setattr(_train, "train_and_evaluate", real)
    assert main(["compare", str(config), "--quiet", "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("runs/*/seed-0/metrics.json"))) == 2


def test_sigkill_then_the_same_command_resumes_and_keeps_finished_runs(tmp_path: Path) -> None:
    """What must keep holding: a study killed at any moment resumes, finished runs byte-identical, no torn file."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import numpy as np

    cfg = {**json.loads(json.dumps(BASE)), "train": {"epochs": 6, "batch_size": 64, "threads": 1},
           "arms": [{"name": "baseline"}, {"name": "mixup", "mixer": {"name": "core:mixup", "alpha": 0.4}},
                    {"name": "cutmix", "mixer": {"name": "image:cutmix", "alpha": 1.0}}]}
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mixup_core", "compare", str(config), "--quiet", "--out", str(out)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = out / "runs" / "baseline" / "seed-0" / "metrics.json"
    deadline = time.monotonic() + 240
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert first.exists(), "the first run did not finish before the kill"
    kept = _checksums(out / "runs" / "baseline")
    assert main(["compare", str(config), "--quiet", "--out", str(out)]) == 0
    assert _checksums(out / "runs" / "baseline") == kept, "a finished run was rewritten on resume"
    assert not list(out.rglob("*.tmp")), "a torn temporary file was left behind"
    assert len(list(out.glob("runs/*/seed-0/metrics.json"))) == 3
    # the same config, run again elsewhere with the same thread count, predicts the same bits
    again = tmp_path / "again"
    assert main(["compare", str(config), "--quiet", "--out", str(again), "--arms", "mixup"]) == 0
    a = np.load(out / "runs" / "mixup" / "seed-0" / "predictions.npz")
    b = np.load(again / "runs" / "mixup" / "seed-0" / "predictions.npz")
    assert a["probs"].tobytes() == b["probs"].tobytes()
