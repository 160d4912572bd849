"""A study on many workers: the study folder as a work queue, local worker processes, submitit, tune.

The heavy tests share one sequential study and one study trained by two spawned workers (module fixtures);
every other scenario is compared with them. They run in one xdist group so they never compete for the cores.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from mixup_core import ConfigError
from mixup_core.cli import main
from mixup_lab import _store, _train
from mixup_lab._config import load_study_config
from mixup_lab._runner import FailedRunsError, run_compare
from mixup_lab._workers import SlurmLauncher

pytestmark = pytest.mark.xdist_group("lab-workers")

RAW: dict[str, Any] = {
    "name": "many",
    "dataset": {"name": "image:digits", "test_fraction": 0.25},
    "model": {"name": "image:mlp"},
    "train": {"epochs": 2, "batch_size": 64, "threads": 1},
    "seeds": [0, 1],
    "arms": [{"name": "baseline"}, {"name": "mixup", "mixer": {"name": "core:mixup", "alpha": 0.4}},
             {"name": "cutmix", "mixer": {"name": "image:cutmix", "alpha": 1.0}}],
    "critical": {"classes": ["8"]},
    "examples": 0,
}
JOBS = [(a["name"], s) for s in RAW["seeds"] for a in RAW["arms"]]


def _cfg(**changes: Any) -> Any:
    return load_study_config({**json.loads(json.dumps(RAW)), **changes})


@pytest.fixture
def keep_threads() -> Any:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _predictions(out: Path) -> dict[tuple[str, int], bytes]:
    found = {}
    for arm, seed in JOBS:
        with np.load(_store.run_dir(out, arm, seed) / "predictions.npz") as z:
            found[(arm, seed)] = z["probs"].tobytes() + z["labels"].tobytes()
    return found


def _without_timings(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if "seconds" not in k and k != "folder"}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def _report(out: Path) -> Any:
    return _without_timings(json.loads((out / "report.json").read_text()))


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory) -> Path:
    before = torch.get_num_threads()
    out = tmp_path_factory.mktemp("sequential")
    try:
        run_compare(_cfg(), out=out, progress=False)
    finally:
        torch.set_num_threads(before)
    return out


@pytest.fixture(scope="module")
def parallel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("parallel")
    run_compare(_cfg(), out=out, progress=False, workers=2)
    return out


# ------------------------------------------------------------------------------ the queue, without training


def _fake_result(arm: str, seed: int, value: float) -> _train.RunResult:
    probs = np.full((3, 2), value, dtype=np.float32)
    return _train.RunResult(arm, seed, probs, np.zeros(3, dtype=np.int64), {"arm": arm, "seed": seed, "v": value}, [])


def test_a_claim_is_exclusive_and_a_stale_one_is_taken_over_once(tmp_path: Path) -> None:
    first = _store.claim_run(tmp_path, "a", 0)
    assert first is not None
    assert first.tmp.is_dir()
    assert _store.claim_run(tmp_path, "a", 0) is None  # held and beating
    assert _store.run_state(tmp_path, "a", 0).state == "running"
    os.utime(first.path, (time.time() - 100, time.time() - 100))
    assert _store.run_state(tmp_path, "a", 0, stale_after=50).state == "stale"
    takers = []

    def take() -> None:
        takers.append(_store.claim_run(tmp_path, "a", 0, stale_after=50))

    threads = [threading.Thread(target=take) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [c for c in takers if c is not None]
    assert len(won) == 1, "a stale claim was taken over by more than one worker"
    assert not first.tmp.exists(), "the stale claim's temporary folder was kept"
    assert not first.owned(), "the old owner still believes it holds the run"
    assert not first.heartbeat()
    # the old owner trains on and commits late: the new owner's commit came first and wins
    assert _store.commit_run(won[0], _fake_result("a", 0, 0.25))
    assert not _store.commit_run(first, _fake_result("a", 0, 0.75))
    assert json.loads((_store.run_dir(tmp_path, "a", 0) / "metrics.json").read_text())["v"] == 0.25
    assert _store.claim_run(tmp_path, "a", 0) is None  # finished
    assert not list(tmp_path.rglob("*.tmp"))
    assert not list(tmp_path.rglob("*.claim"))


def test_a_claim_of_a_dead_process_on_this_machine_is_stale_at_once(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    claim = _store.claim_run(tmp_path, "a", 1, worker={"pid": int(proc.stdout)})
    assert claim is not None
    assert _store.run_state(tmp_path, "a", 1).state == "stale"
    assert _store.claim_run(tmp_path, "a", 1) is not None


def test_a_failure_is_committed_and_a_later_success_replaces_it(tmp_path: Path) -> None:
    claim = _store.claim_run(tmp_path, "a", 0)
    assert claim is not None
    assert _store.commit_failure(claim, FloatingPointError("the loss became nan"))
    state = _store.run_state(tmp_path, "a", 0)
    assert state.state == "failed"
    assert state.error == "FloatingPointError: the loss became nan"
    again = _store.claim_run(tmp_path, "a", 0)
    assert again is not None  # a failed run is retried
    assert _store.commit_run(again, _fake_result("a", 0, 0.5))
    assert _store.run_state(tmp_path, "a", 0).state == "finished"
    assert not (_store.run_dir(tmp_path, "a", 0) / "failed.json").exists()


def test_concurrent_writers_keep_every_arm_in_study_json(tmp_path: Path) -> None:
    study = _train.StudyData(_train.TaskData([0] * 4, [0] * 2, 2, ["x", "y"], "tabular"), [])  # type: ignore[arg-type]
    cfgs = [_cfg(arms=[{"name": f"arm{i}", "mixer": {"name": "core:mixup", "alpha": 0.1 + i}}]) for i in range(8)]
    threads = [threading.Thread(target=_store.write_study, args=(tmp_path, c, study)) for c in cfgs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    record = json.loads((tmp_path / "study.json").read_text())
    assert sorted(a["name"] for a in record["config"]["arms"]) == sorted(f"arm{i}" for i in range(8))


# ------------------------------------------------------------------------------------- local worker processes


def test_two_workers_give_the_sequential_study(sequential: Path, parallel: Path) -> None:
    assert _predictions(parallel) == _predictions(sequential)
    assert _report(parallel) == _report(sequential)
    assert (parallel / "report.md").is_file()


def test_two_workers_started_together_train_each_run_once(parallel: Path) -> None:
    records = [json.loads(p.read_text()) for p in sorted((parallel / ".workers").glob("*.json"))]
    assert len(records) == 2
    trained = [tuple(r) for rec in records for r in rec["runs_finished"]]
    assert sorted(trained) == sorted(JOBS), f"runs trained twice or not at all: {trained}"
    assert all(not rec["runs_discarded"] and not rec["runs_failed"] for rec in records)
    assert all(rec["threads"] == 1 and rec["startup_s"] > 0 for rec in records)
    assert {rec["pid"] for rec in records} != {os.getpid()}
    assert not list(parallel.rglob("*.tmp"))
    assert not list(parallel.rglob("*.claim"))


@pytest.mark.usefixtures("keep_threads")
def test_sigkill_of_a_worker_mid_run_then_a_rerun_gives_the_same_study(sequential: Path, tmp_path: Path) -> None:
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump(RAW))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mixup_core", "compare", str(config), "--out", str(out), "--worker"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    progress: list[Path] = []
    while not progress and proc.poll() is None and time.monotonic() < deadline:
        progress = list(out.glob("runs/*/.seed-*.tmp/progress.json"))  # a run has started training
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert progress, f"no run started before the kill: {proc.stderr.read().decode() if proc.stderr else ''}"
    states = [s.state for s in _store.study_status(out)]
    assert "stale" in states, states  # the dead worker's claim, seen by mixup status
    assert main(["status", str(out)]) == 0
    assert main(["compare", str(config), "--out", str(out), "--quiet"]) == 0
    assert _predictions(out) == _predictions(sequential)
    assert _report(out) == _report(sequential)
    assert not list(out.rglob("*.tmp"))
    assert not list(out.rglob("*.claim"))


def test_two_calls_adding_different_arms_at_once_keep_both(tmp_path: Path) -> None:
    out = tmp_path / "out"
    procs = []
    for arm in RAW["arms"][:2]:
        config = tmp_path / f"{arm['name']}.yaml"
        config.write_text(yaml.safe_dump({**RAW, "arms": [arm], "seeds": [0], "train": {**RAW["train"], "epochs": 1}}))
        cmd = [sys.executable, "-m", "mixup_core", "compare", str(config), "--out", str(out), "--quiet"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for p in procs:
        assert p.wait(timeout=240) == 0, p.stderr.read().decode() if p.stderr else ""
    record = json.loads((out / "study.json").read_text())
    assert sorted(a["name"] for a in record["config"]["arms"]) == ["baseline", "mixup"]
    assert _store.is_finished(out, "baseline", 0)
    assert _store.is_finished(out, "mixup", 0)
    assert main(["report", str(out)]) == 0


@pytest.mark.usefixtures("keep_threads")
def test_a_diverging_run_is_recorded_and_the_others_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    real = _train.train_and_evaluate

    def diverge_once(cfg: Any, arm: Any, seed: int, *args: Any, **kwargs: Any) -> Any:
        if (arm.name, seed) == ("mixup", 0):
            raise FloatingPointError(f"arm {arm.name!r}, seed {seed}, epoch 1: the loss became nan")
        return real(cfg, arm, seed, *args, **kwargs)

    monkeypatch.setattr(_train, "train_and_evaluate", diverge_once)
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump({**RAW, "seeds": [0], "train": {**RAW["train"], "epochs": 1}}))
    out = tmp_path / "out"
    assert main(["compare", str(config), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "mixup: error: runs: 1 run failed: mixup seed 0: FloatingPointError: arm 'mixup', seed 0" in err
    assert [s.state for s in _store.study_status(out)] == ["finished", "failed", "finished"]
    failed = json.loads((out / "runs" / "mixup" / "seed-0" / "failed.json").read_text())
    assert failed["error_type"] == "FloatingPointError"
    assert "Traceback" in failed["traceback"]
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert [(f["arm"], f["seed"]) for f in summary["runs"]["failed"]] == [("mixup", 0)]
    assert "**Failed runs**: mixup seed 0 (FloatingPointError" in (out / "report.md").read_text()
    assert "<strong>Failed</strong>: mixup seed 0" in (out / "report.html").read_text()
    with pytest.raises(FailedRunsError, match="mixup seed 0"):
        run_compare(load_study_config(config), out=out, progress=False, report=False)
    monkeypatch.setattr(_train, "train_and_evaluate", real)  # a rerun retries the failed run only
    assert main(["compare", str(config), "--out", str(out), "--quiet"]) == 0
    assert [s.state for s in _store.study_status(out)] == ["finished"] * 3
    assert "Failed runs" not in (out / "report.md").read_text()


def test_bad_worker_options_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump(RAW))
    cases = [
        (["--workers", "0"], "mixup: error: --workers: at least 1 (got 0)"),
        (["--workers", "2", "--devices", "0,1"], "mixup: error: --devices: train.device is 'cpu'"),
        (["--devices", "a,b", "--workers", "2"], "mixup: error: --devices: comma-separated CUDA device indices"),
        (["--partition", "gpu"], "mixup: error: --partition: only with --launcher slurm"),
        (["--worker", "--workers", "2"], "mixup: error: --worker: a worker trains in its own process"),
        (["--stale-after", "0"], "mixup: error: --stale-after: a number of seconds > 0 (got 0.0)"),
    ]
    for extra, message in cases:
        assert main(["compare", str(config), "--out", str(tmp_path / "out"), "--quiet", *extra]) == 2
        assert capsys.readouterr().err.strip().startswith(message), extra
    assert not (tmp_path / "out").exists(), "a refused call wrote into the study folder"


# ------------------------------------------------------------------------------------------------- submitit


@pytest.mark.usefixtures("keep_threads")
@pytest.mark.parametrize("cluster", ["debug", "local"])
def test_submitit_executors_give_the_sequential_study(sequential: Path, tmp_path: Path, cluster: str) -> None:
    pytest.importorskip("submitit")
    out = tmp_path / "out"
    launcher = SlurmLauncher(partition="gpu", time_min=10, array_parallelism=2, cluster=cluster)  # type: ignore[arg-type]
    tasks = 2 if cluster == "debug" else 1  # each local task is a fresh Python: one keeps the suite short
    run_compare(_cfg(), out=out, progress=False, workers=tasks, launcher=launcher)
    assert _predictions(out) == _predictions(sequential)
    assert _report(out) == _report(sequential)
    submitted = json.loads((out / ".workers" / "submitted.json").read_text())
    assert submitted["cluster"] == cluster
    assert len(submitted["job_ids"]) == tasks
    assert not list(out.rglob("*.claim"))


def test_the_slurm_launcher_writes_the_array_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    submitit = pytest.importorskip("submitit")
    with pytest.raises(ConfigError, match=r"--launcher: slurm: .*srun"):
        SlurmLauncher().executor(tmp_path, "x")  # no Slurm here
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", staticmethod(lambda: 1))  # as on a login node
    executor = SlurmLauncher(partition="gpu", gpus_per_task=1, cpus_per_task=8, time_min=240,
                             array_parallelism=4).executor(tmp_path, "mixup-test")
    script = executor._executor._make_submission_file_text("python -m worker", "uid")
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=240",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --job-name=mixup-test", "#SBATCH --ntasks-per-node=1"):
        assert line in script
    params = executor._executor.parameters
    assert params["partition"] == "gpu"
    assert params["array_parallelism"] == 4
    assert params["time"] == 240
    assert params["cpus_per_task"] == 8
    assert params.get("gpus_per_node") == 1 or params.get("gres") == "gpu:1"
    with pytest.raises(ConfigError, match="--launcher: submitit refused"):
        SlurmLauncher(extra={"slurm_no_such_option": 1}).executor(tmp_path, "x")


# --------------------------------------------------------------------------------------------------- tune


def test_tune_with_two_workers_shares_one_study(tmp_path: Path) -> None:
    import optuna

    from mixup_lab._tune import _storage

    raw = {**RAW, "train": {**RAW["train"], "epochs": 1},
           "tune": {"mixers": [{"name": "core:mixup"}, {"name": "image:cutmix"}], "alpha": [0.1, 2.0],
                    "objective": "nll", "n_trials": 4, "seeds": [0], "pruner": "none"}}
    config = tmp_path / "t.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    assert main(["tune", str(config), "--out", str(out), "--workers", "2", "--quiet"]) == 0
    journal = out / "tune" / "optuna.journal"
    assert journal.is_file()
    assert not (out / "tune" / "optuna.db").exists()
    study = optuna.load_study(study_name="many", storage=_storage(f"journal:{journal}", 2))
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 4  # --trials counts all workers together
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    workers = {t.user_attrs["mixup_worker"]["index"] for t in trials}
    assert workers == {0, 1}
    first = {w: next(t for t in trials if t.user_attrs["mixup_worker"]["index"] == w) for w in workers}
    assert first[0].params != first[1].params, "both workers started with the same draw"
    assert json.loads((out / "tune" / "summary.json").read_text())["n_trials"] == 4


def test_tune_fails_the_running_trials_of_dead_workers_and_refuses_sqlite(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import optuna

    from mixup_lab._tune import _fail_dead_trials, _storage

    journal = tmp_path / "s.journal"
    study = optuna.create_study(study_name="s", storage=_storage(f"journal:{journal}", 2))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    import socket

    for pid in (int(dead.stdout), os.getpid()):
        trial = study.ask()
        trial.set_user_attr("mixup_worker", {"host": socket.gethostname(), "pid": pid, "index": 0})
    study.ask()  # no worker recorded: left by an older call
    assert _fail_dead_trials(study, f"journal:{journal}") == 2
    assert [t.state.name for t in study.get_trials()] == ["FAIL", "RUNNING", "FAIL"]

    config = tmp_path / "t.yaml"
    config.write_text(yaml.safe_dump({**RAW, "tune": {"mixers": [{"name": "core:mixup"}], "seeds": [0]}}))
    code = main(["tune", str(config), "--out", str(tmp_path / "o"), "--workers", "2", "--quiet",
                 "--storage", f"sqlite:///{tmp_path / 'x.db'}"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mixup: error: --storage: SQLite cannot serve 2 workers writing at once")
    assert "--storage journal:<file>" in err
    assert "\n" not in err
    assert not (tmp_path / "x.db").exists()


def test_mixup_status_lists_every_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = _train.StudyData(_train.TaskData([0] * 4, [0] * 2, 2, ["x", "y"], "tabular"), [])  # type: ignore[arg-type]
    _store.write_study(tmp_path, _cfg(), study)
    done = _store.claim_run(tmp_path, "baseline", 0)
    assert done is not None
    assert _store.commit_run(done, _fake_result("baseline", 0, 0.5))
    running = _store.claim_run(tmp_path, "mixup", 0, worker={"index": 3})
    assert running is not None
    assert running.heartbeat(1, 2)
    assert main(["status", str(tmp_path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["counts"] == {"finished": 1, "running": 1, "stale": 0, "failed": 0, "pending": 4}
    row = next(r for r in record["runs"] if r["state"] == "running")
    assert (row["arm"], row["seed"], row["epoch"], row["epochs"], row["worker"]["index"]) == ("mixup", 0, 1, 2, 3)
    assert main(["status", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "1 finished, 1 running, 0 stale, 0 failed, 4 pending of 6 runs" in text
    assert "mixup seed 0: running (epoch 1/2" in text
    shutil.rmtree(tmp_path / "runs")
    assert main(["status", str(tmp_path / "nothing")]) == 2


def test_a_refused_call_with_workers_prints_one_line_and_writes_nothing(tmp_path: Path,
                                                                       capfd: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump({**RAW, "critical": {"classes": ["zz"]}}))
    assert main(["compare", str(config), "--out", str(tmp_path / "out"), "--quiet", "--workers", "1"]) == 2
    err = capfd.readouterr().err.strip()  # the worker's output too: it is a child process
    assert err.startswith("mixup: error: critical.classes[0]: no class 'zz'")
    assert len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
