"""The study folder: checks before anything is written, per-arm records, claims, atomic commits, the lock,
and loading it back (`load_study`: the study record and every finished run).

The folder is the study's work queue: any number of processes, on one machine or many that share the
file system, may work on it at once, and each (arm, seed) is trained once::

    <out>/study.json                          the config (union of every call's arms and seeds), data-set facts
    <out>/.lock                               the study lock: study.json and commits change under it only
    <out>/runs/<arm>/arm.json                 the arm's mixer: one arm keeps one config
    <out>/runs/<arm>/seed-<s>/                a committed run: metrics.json (finished) or failed.json (failed)
    <out>/runs/<arm>/.seed-<s>.claim          who trains the run now (created with O_EXCL; its mtime is the heartbeat)
    <out>/runs/<arm>/.seed-<s>.<token>.tmp/   the run being written, with progress.json; renamed into place

A worker claims a run by creating its claim file with ``O_EXCL`` (exactly one creator succeeds), touches it
while training (every epoch and from a heartbeat thread), writes every file of the run into its own
temporary folder, and commits by renaming that folder to ``seed-<s>`` under the study lock: the first
commit wins and a duplicate is discarded. A claim whose heartbeat is older than ``stale_after`` seconds,
or whose process is gone from this machine, is stale and is taken over (under the lock, so by one worker).

`load_study` reads the folder into a `Study` of `StoredRun` (and the failed runs); the statistics are
`mixup_lab._stats`, the rendering `mixup_lab._report` and `mixup_lab._html`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mixup_core import ConfigError, one_line

from ._audit import AUDIT_FILE, write_audit
from ._config import ArmConfig, StudyConfig, arm_folder_name
from ._noise import LABEL_NOISE_FILE

if TYPE_CHECKING:
    from ._train import RunResult, StudyData

__all__ = [
    "DEFAULT_STALE_AFTER",
    "Claim",
    "RunState",
    "StoredRun",
    "Study",
    "arm_dir",
    "check_study_folder",
    "claim_run",
    "commit_failure",
    "commit_run",
    "is_finished",
    "load_study",
    "remove_runs",
    "run_state",
    "save_run",
    "study_lock",
    "study_status",
    "write_arm_records",
    "write_study",
]

DEFAULT_STALE_AFTER = 300.0
"""Seconds without a heartbeat after which a claim is stale and another worker takes the run over."""

_UNREADABLE_CLAIM_GRACE = 60.0  # a claim file still empty (its writer died between create and write)
LOCK_FILE = ".lock"
FAILED_FILE = "failed.json"
PROGRESS_FILE = "progress.json"


# ------------------------------------------------------------------------------------------------ files


def arm_dir(out: Path, arm: str) -> Path:
    """The folder of an arm's runs inside the study folder ``out`` (one-to-one: see `arm_folder_name`)."""
    return Path(out) / "runs" / (arm_folder_name(arm) or "arm")


def run_dir(out: Path, arm: str, seed: int) -> Path:
    """The committed folder of one run."""
    return arm_dir(out, arm) / f"seed-{seed}"


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _try_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_finished(out: Path, arm: str, seed: int) -> bool:
    """Whether the run is committed with its metrics."""
    return (run_dir(out, arm, seed) / "metrics.json").is_file()


@contextlib.contextmanager
def study_lock(out: Path) -> Iterator[None]:
    """Hold the study's lock (``<out>/.lock``): one holder at a time across processes and machines.

    An advisory ``flock`` where the platform has one (the study folder's file system must support locks:
    local disks, NFS, GPFS do; mount Lustre with ``flock``), else a lock file created with ``O_EXCL``.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None  # type: ignore[assignment]
    if fcntl is not None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return
    held = path.with_suffix(".held")  # pragma: no cover - Windows
    while True:  # pragma: no cover
        try:
            os.close(os.open(held, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            time.sleep(0.05)
    try:  # pragma: no cover
        yield
    finally:  # pragma: no cover
        held.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------ study and arm records


def _differences(old: Any, new: Any, path: str) -> list[str]:
    """``path.key: old → new`` for every leaf where two JSON-like values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += _differences(old.get(key, "(unset)"), new.get(key, "(unset)"), f"{path}.{key}")
        return out
    return [] if old == new else [f"{path}: {json.dumps(old)} → {json.dumps(new)}"]


def _arm_record(cfg: StudyConfig, arm: ArmConfig) -> dict[str, Any]:
    return {"name": arm.name, "mixer": arm.mixer_config(), "setup_hash": cfg.setup_hash()}


def _check_setup(out: Path, cfg: StudyConfig, old: dict[str, Any]) -> None:
    if old.get("setup_hash") != cfg.setup_hash():
        changed = _differences({k: old.get("config", {}).get(k) for k in ("dataset", "model", "train", "critical")},
                               cfg.model_dump(mode="json", include={"dataset", "model", "train", "critical"}), "")
        shown = "; ".join(c.lstrip(".") for c in changed[:4]) or f"setup {old.get('setup_hash')} → {cfg.setup_hash()}"
        raise ConfigError(f"--out: {out} holds a study with another setup, so its runs would not be comparable "
                          f"({shown}); use another output folder")


def _check_arm(out: Path, cfg: StudyConfig, arm: ArmConfig) -> None:
    folder = arm_dir(out, arm.name)
    record = folder / "arm.json"
    if record.exists():
        before = json.loads(record.read_text(encoding="utf-8")).get("mixer")
    else:  # folders written before arm records existed: the mixer their finished runs stored
        done = sorted(folder.glob("seed-*/metrics.json"))
        if not done:
            return
        before = json.loads(done[0].read_text(encoding="utf-8")).get("mixer")
    changes = _differences(before, arm.mixer_config(), f"arms.{arm.name}.mixer")
    if changes:
        raise ConfigError(f"{'; '.join(changes)}: arm {arm.name!r} already has runs with the stored config; one arm "
                          "keeps one config, so rename the arm or use another output folder")


def check_study_folder(out: Path, cfg: StudyConfig, arms: Sequence[ArmConfig]) -> None:
    """Refuse a call that would mix two configs under one name, before anything is written.

    The folder must be creatable and writable; a stored study must have the same setup (data, model,
    budget, critical cases); every arm that already has a record (``runs/<arm>/arm.json``, or the
    mixer stored by its finished runs) must have the same mixer, whatever seeds are asked for; and no
    new arm may take the folder of a stored arm with another name. `write_study` and `write_arm_records`
    check the same again under the study lock, against a call that wrote in between.

    Raises:
        ConfigError: naming the field and both values (``arms.mixup.mixer.alpha: 0.4 → 2.0``).
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: not a folder (got {str(out)!r})")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--out: cannot create or write the study folder here ({str(existing)!r} is not writable) "
                          f"(got {str(out)!r})")
    path = out / "study.json"
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--out: {path} is not a readable study record ({one_line(exc)})") from None
        _check_setup(out, cfg, old)
        _check_arm_names(old, arms)
    for arm in arms:
        _check_arm(out, cfg, arm)


def _check_arm_names(old: dict[str, Any], arms: Sequence[ArmConfig]) -> None:
    stored = {arm_folder_name(str(a.get("name"))): str(a.get("name")) for a in old.get("config", {}).get("arms", [])}
    for arm in arms:
        other = stored.get(arm_folder_name(arm.name))
        if other is not None and other != arm.name:
            raise ConfigError(f"arms: arm {arm.name!r} would share the folder runs/{arm_folder_name(arm.name)} with "
                              f"the stored arm {other!r}; rename it")


def write_study(out: Path, cfg: StudyConfig, study: StudyData) -> None:
    """Write or grow ``study.json`` under the study lock: the union of every call's arms and seeds.

    Raises:
        ConfigError: another call stored a different setup, or another arm under the same folder, since
            `check_study_folder` looked.
    """
    record: dict[str, Any] = {
        "config": cfg.model_dump(mode="json"),
        "setup_hash": cfg.setup_hash(),
        "class_names": [str(c) for c in study.data.class_names],
        "num_classes": study.data.num_classes,
        "critical_classes": study.critical_classes,
        "dataset_info": study.data.info,
        "train_size": len(study.data.train),
        "test_size": len(study.data.test),
    }
    if study.data.test_groups is not None:  # the group of each test example, for breakdowns by group
        record["test_groups"] = [str(g) for g in study.data.test_groups]
    with study_lock(out):
        path = out / "study.json"
        if path.exists():  # same setup; arms and seeds may grow: keep the union, stored arms first
            old = json.loads(path.read_text(encoding="utf-8"))
            _check_setup(out, cfg, old)
            _check_arm_names(old, cfg.arms)
            arms = {a["name"]: a for a in old["config"].get("arms", [])}
            arms.update({a["name"]: a for a in record["config"]["arms"]})
            record["config"]["arms"] = list(arms.values())
            record["config"]["seeds"] = sorted(set(old["config"].get("seeds", [])) | set(cfg.seeds))
        _write_json(path, record)
        if study.label_noise is not None:  # which training labels are wrong, for audits of memorisation
            study.label_noise.write(out / LABEL_NOISE_FILE)


def write_arm_records(out: Path, cfg: StudyConfig, arms: Sequence[ArmConfig]) -> None:
    """Write ``runs/<arm>/arm.json`` of every arm that has none, under the study lock (checked again there)."""
    with study_lock(out):
        for arm in arms:
            _check_arm(out, cfg, arm)
            folder = arm_dir(out, arm.name)
            if not (folder / "arm.json").exists():
                folder.mkdir(parents=True, exist_ok=True)
                _write_json(folder / "arm.json", _arm_record(cfg, arm))


# ------------------------------------------------------------------------------------------------- claims


def _host() -> str:
    return socket.gethostname()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _claim_path(out: Path, arm: str, seed: int) -> Path:
    return arm_dir(out, arm) / f".seed-{seed}.claim"


def _tmp_dir(out: Path, arm: str, seed: int, token: str) -> Path:
    return arm_dir(out, arm) / f".seed-{seed}.{token}.tmp"


def _claim_info(path: Path) -> tuple[dict[str, Any] | None, float | None]:
    """The claim's record and heartbeat age in seconds (``None, None`` when the file is gone)."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None, None
    record = _try_json(path)
    return (record if isinstance(record, dict) else {}), age


def _stale(record: dict[str, Any], age: float, stale_after: float) -> bool:
    if not record.get("token"):
        return age > min(stale_after, _UNREADABLE_CLAIM_GRACE)
    if record.get("host") == _host() and isinstance(record.get("pid"), int) and not _alive(record["pid"]):
        return True  # its process is gone from this machine: no need to wait for the timeout
    return age > stale_after


@dataclass
class Claim:
    """A worker's claim on one (arm, seed) run of a study folder (see the module's docstring).

    Args:
        out: the study folder.
        arm: the arm's name.
        seed: the seed.
        token: a unique id of this claim (in the names of its temporary folder and in the claim file).
        worker: what the claim records about its worker (host, pid, index, device, threads).
    """

    out: Path
    arm: str
    seed: int
    token: str
    worker: dict[str, Any] = field(default_factory=dict)
    _beat: threading.Event | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        """The claim file."""
        return _claim_path(self.out, self.arm, self.seed)

    @property
    def tmp(self) -> Path:
        """The temporary folder the run is written to before its commit."""
        return _tmp_dir(self.out, self.arm, self.seed, self.token)

    def owned(self) -> bool:
        """Whether the claim file is still this claim (not taken over as stale)."""
        record = _try_json(self.path)
        return isinstance(record, dict) and record.get("token") == self.token

    def heartbeat(self, epoch: int | None = None, epochs: int | None = None) -> bool:
        """Touch the claim file, and record the epoch reached in ``progress.json``; ``False`` if the claim was lost."""
        if not self.owned():
            return False
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.path)
        if epoch is not None and self.tmp.is_dir():
            with contextlib.suppress(OSError):
                _write_json(self.tmp / PROGRESS_FILE, {"epoch": epoch, "epochs": epochs, "time": time.time(),
                                                       "worker": self.worker})
        return True

    @contextlib.contextmanager
    def keep_alive(self, interval: float) -> Iterator[None]:
        """Beat from a thread every ``interval`` seconds while the body runs (long epochs stay claimed)."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                if not self.heartbeat():
                    return

        thread = threading.Thread(target=beat, name=f"mixup-heartbeat-{self.arm}-{self.seed}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    def release(self) -> None:
        """Delete the claim file (if still this claim) and the temporary folder."""
        if self.owned():
            self.path.unlink(missing_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def claim_run(out: Path, arm: str, seed: int, *, stale_after: float = DEFAULT_STALE_AFTER,
              worker: dict[str, Any] | None = None) -> Claim | None:
    """Claim one run of the study folder for this process, or ``None`` when it is finished or claimed alive.

    A stale claim (no heartbeat for ``stale_after`` seconds, or its process gone from this machine) is
    taken over under the study lock, so by one worker only; its temporary folder is removed.
    """
    if is_finished(out, arm, seed):
        return None
    worker = {"host": _host(), "pid": os.getpid(), **(worker or {})}
    token = uuid.uuid4().hex[:12]
    claim = Claim(Path(out), arm, seed, token, worker)
    record = {"arm": arm, "seed": seed, "token": token, "claimed_at": time.time(), **worker}
    path = claim.path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        old, age = _claim_info(path)
        if old is None or age is None or not _stale(old, age, stale_after):
            return None
        with study_lock(out):  # take over, once: re-read under the lock
            again, age = _claim_info(path)
            if (
                again is None
                or age is None
                or again.get("token") != old.get("token")
                or not _stale(again, age, stale_after)
            ):
                return None
            _write_json(path, record)
            if old.get("token"):
                shutil.rmtree(_tmp_dir(out, arm, seed, str(old["token"])), ignore_errors=True)
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(record) + "\n")
    if is_finished(out, arm, seed):  # committed by another worker between the first look and the claim
        claim.release()
        return None
    claim.tmp.mkdir(parents=True, exist_ok=True)
    return claim


# ------------------------------------------------------------------------------------------------ commits


def _write_run_files(folder: Path, result: RunResult) -> None:
    """A run's predictions, checkpoints, audit, history and metrics (metrics last)."""
    extra = {} if result.val_probs is None else {"val_probs": result.val_probs, "val_labels": result.val_labels}
    # numpy's stub checks each unpacked value against allow_pickle: bool as well
    np.savez_compressed(folder / "predictions.npz", probs=result.probs, labels=result.labels, **extra)  # type: ignore[arg-type]
    import torch

    for name, state in result.checkpoints.items():  # load with torch.load(path, weights_only=True)
        torch.save(state, folder / f"{name}.pt")
    if result.audit is not None:
        write_audit(folder / AUDIT_FILE, result.audit)
    _write_json(folder / "history.json", result.history)
    metrics = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.metrics.items()}
    _write_json(folder / "metrics.json", metrics)


def _commit(claim: Claim) -> bool:
    """Rename the claim's temporary folder into place under the study lock; ``False``: discarded."""
    target = run_dir(claim.out, claim.arm, claim.seed)
    (claim.tmp / PROGRESS_FILE).unlink(missing_ok=True)
    with study_lock(claim.out):
        if (target / "metrics.json").is_file() or not claim.tmp.is_dir():
            committed = False  # first commit wins (or this claim was taken over and its folder removed)
        else:
            old = None
            if target.exists():  # an earlier failure, or a partial folder of an older version: replaced
                old = target.with_name(f".{target.name}.{claim.token}.old.tmp")
                os.rename(target, old)
            os.rename(claim.tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            committed = True
    claim.release()
    return committed


def commit_run(claim: Claim, result: RunResult) -> bool:
    """Write the run into the claim's temporary folder and commit it; ``False`` when another commit won."""
    try:
        _write_run_files(claim.tmp, result)
    except FileNotFoundError:  # the claim went stale and was taken over: the other worker redoes the run
        claim.release()
        return False
    return _commit(claim)


def commit_failure(claim: Claim, error: BaseException, *, history: list[dict[str, Any]] | None = None) -> bool:
    """Record a failed run (``failed.json``: the error, its traceback, the worker) as its committed outcome.

    A later call retries it: a finished commit replaces a failure, never the other way round.
    """
    if not claim.tmp.is_dir():
        claim.release()
        return False
    for child in claim.tmp.iterdir():  # whatever the run had written before failing
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    _write_json(claim.tmp / FAILED_FILE, {
        "arm": claim.arm,
        "seed": claim.seed,
        "error_type": type(error).__name__,
        "error": one_line(error),
        "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        "history": history or [],
        "worker": claim.worker,
        "time": time.time(),
    })
    return _commit(claim)


def save_run(out: Path, result: RunResult) -> Path:
    """Write and commit one run without a claim (first commit wins); returns its folder."""
    claim = claim_run(out, result.arm, result.seed, stale_after=math.inf)
    folder = run_dir(out, result.arm, result.seed)
    if claim is not None:
        commit_run(claim, result)
    return folder


def remove_runs(out: Path, jobs: Sequence[tuple[str, int]]) -> None:
    """Delete the committed runs of ``jobs`` (``--fresh``), under the study lock."""
    with study_lock(out):
        for arm, seed in jobs:
            target = run_dir(out, arm, seed)
            if target.exists():
                trash = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old.tmp")
                os.rename(target, trash)
                shutil.rmtree(trash, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ status


@dataclass(frozen=True)
class RunState:
    """Where one (arm, seed) run of a study folder stands.

    Args:
        arm: the arm's name.
        seed: the seed.
        state: ``"finished"``, ``"failed"``, ``"running"``, ``"stale"`` (claimed, but its worker stopped
            beating) or ``"pending"``.
        epoch: the last epoch reported by a running or stale run.
        epochs: its number of epochs.
        worker: the claim's worker record (host, pid, index, device, threads) or the failed run's.
        heartbeat_age: seconds since the claim's last heartbeat.
        error: the error of a failed run.
        failed_at: when a failed run failed (seconds since the epoch).
    """

    arm: str
    seed: int
    state: Literal["finished", "failed", "running", "stale", "pending"]
    epoch: int | None = None
    epochs: int | None = None
    worker: dict[str, Any] | None = None
    heartbeat_age: float | None = None
    error: str | None = None
    failed_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def run_state(out: Path, arm: str, seed: int, *, stale_after: float = DEFAULT_STALE_AFTER) -> RunState:
    """The state of one run (see `RunState`)."""
    target = run_dir(out, arm, seed)
    if (target / "metrics.json").is_file():
        return RunState(arm, seed, "finished")
    record, age = _claim_info(_claim_path(out, arm, seed))
    if record is not None and age is not None:
        progress = _try_json(_tmp_dir(out, arm, seed, str(record.get("token"))) / PROGRESS_FILE) or {}
        worker = {k: v for k, v in record.items() if k not in ("arm", "seed", "token", "claimed_at")}
        return RunState(arm, seed, "stale" if _stale(record, age, stale_after) else "running", progress.get("epoch"),
                        progress.get("epochs"), worker, round(age, 1))
    failed = _try_json(target / FAILED_FILE)
    if isinstance(failed, dict):
        return RunState(arm, seed, "failed", worker=failed.get("worker"),
                        error=f"{failed.get('error_type')}: {failed.get('error')}", failed_at=failed.get("time"))
    return RunState(arm, seed, "pending")


def study_status(out: Path, *, stale_after: float = DEFAULT_STALE_AFTER) -> list[RunState]:
    """The state of every run of a study folder: the stored config's arms × seeds, and any run found on disk.

    Raises:
        ConfigError: ``out`` has no readable ``study.json``.
    """
    record = _try_json(Path(out) / "study.json")
    if not isinstance(record, dict):
        raise ConfigError(f"{out} is not a study folder (no readable study.json); run `mixup compare` first")
    config = record.get("config") or {}
    arms = [str(a["name"]) for a in config.get("arms", []) if isinstance(a, dict) and "name" in a]
    seeds = [int(s) for s in config.get("seeds", [])]
    pairs = [(a, s) for s in seeds for a in arms]
    known = {arm_folder_name(a) or "arm": a for a in arms}
    for folder in sorted(Path(out).glob("runs/*")):
        arm = known.get(folder.name)
        if arm is None:
            continue
        for child in folder.iterdir():
            name = child.name.lstrip(".")
            if name.startswith("seed-"):
                digits = name[5:].split(".", 1)[0]
                if digits.lstrip("-").isdigit() and (arm, int(digits)) not in pairs:
                    pairs.append((arm, int(digits)))
    return [run_state(out, a, s, stale_after=stale_after) for a, s in pairs]


# ------------------------------------------------------------------------------------------------ loading


@dataclass(frozen=True)
class StoredRun:
    """One finished run of a study folder.

    Args:
        arm: the arm's name (from ``metrics.json``; the folder name when it is missing).
        seed: the run's seed.
        folder: ``<out>/runs/<arm>/seed-<s>``.
        metrics: the contents of ``metrics.json``.
    """

    arm: str
    seed: int
    folder: Path
    metrics: dict[str, Any]

    @property
    def has_predictions(self) -> bool:
        """Whether ``predictions.npz`` is there."""
        return (self.folder / "predictions.npz").is_file()

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """The stored test-split ``probs`` ``(N, C)`` and ``labels`` ``(N,)``.

        Raises:
            FileNotFoundError: the run folder has no ``predictions.npz``.
        """
        path = self.folder / "predictions.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the run of arm {self.arm!r}, seed {self.seed} has no stored predictions")
        with np.load(path) as npz:
            return np.asarray(npz["probs"]), np.asarray(npz["labels"])


@dataclass
class Study:
    """A study folder as read by `load_study`.

    Args:
        out_dir: the study folder.
        record: the contents of ``study.json``.
        arms: arm names, in config order (arms found only on disk last).
        baseline: the baseline arm (the first arm without a mixer), or ``None``.
        seeds: the seeds of the config (plus any found on disk).
        class_names: one name per class.
        critical_classes: indices of the critical classes.
        runs: the finished runs.
        mixers: each arm's mixer config (``None`` for the baseline).
        failed: the failed runs (``runs/<arm>/seed-<s>/failed.json``): ``{"arm", "seed", "error", "folder"}``.
    """

    out_dir: Path
    record: dict[str, Any]
    arms: list[str]
    baseline: str | None
    seeds: list[int]
    class_names: list[str]
    critical_classes: list[int]
    runs: list[StoredRun] = field(default_factory=list)
    mixers: dict[str, Any] = field(default_factory=dict)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def config(self) -> dict[str, Any]:
        """The study config as stored (a mapping)."""
        cfg = self.record.get("config")
        return cfg if isinstance(cfg, dict) else {}

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def runs_of(self, arm: str) -> list[StoredRun]:
        """The finished runs of an arm, by seed."""
        return sorted((r for r in self.runs if r.arm == arm), key=lambda r: r.seed)

    def missing(self) -> list[tuple[str, int]]:
        """``(arm, seed)`` pairs of the config that have no finished run."""
        done = {(r.arm, r.seed) for r in self.runs}
        return [(a, s) for a in self.arms for s in self.seeds if (a, s) not in done]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); delete the file to redo this part of the study") from None


def _seed_of(folder: Path) -> int | None:
    m = re.fullmatch(r"seed-(-?\d+)", folder.name)
    return int(m.group(1)) if m else None


def load_study(out_dir: str | Path) -> Study:
    """Read ``study.json`` and every finished run (``metrics.json`` present) of a study folder.

    Runs without ``metrics.json`` (interrupted, still running or failed) are left out; `Study.missing`
    lists the arm × seed pairs of the config that have no finished run, `Study.failed` the failed ones.

    Args:
        out_dir: the study folder written by ``mixup compare``.

    Raises:
        FileNotFoundError: the folder has no ``study.json``.
        ValueError: ``study.json`` or a ``metrics.json`` is not valid JSON (the message names the file).

    Examples:
        >>> study = load_study("runs/digits")   # doctest: +SKIP
        >>> [(r.arm, r.seed, r.metrics["accuracy"]) for r in study.runs]   # doctest: +SKIP
    """
    out = Path(out_dir)
    path = out / "study.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"out_dir {str(out)!r} is not a study folder: it has no study.json (run `mixup compare` first)"
        )
    record = _read_json(path)
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(record).__name__}")
    config = record.get("config")
    if not isinstance(config, dict):
        config = {}
    arm_cfgs = [a for a in config.get("arms", []) if isinstance(a, dict) and "name" in a]
    arms = [str(a["name"]) for a in arm_cfgs]
    mixers: dict[str, Any] = {str(a["name"]): a.get("mixer") for a in arm_cfgs}
    seeds = [int(s) for s in config.get("seeds", [])]

    runs: list[StoredRun] = []
    seen: set[tuple[str, int]] = set()
    for mpath in sorted(out.glob("runs/*/seed-*/metrics.json")):
        metrics = _read_json(mpath)
        if not isinstance(metrics, dict):
            raise ValueError(f"{mpath}: expected a JSON object, got {type(metrics).__name__}")
        arm = str(metrics.get("arm", mpath.parent.parent.name))
        seed = metrics.get("seed", _seed_of(mpath.parent))
        if seed is None:
            continue
        key = (arm, int(seed))
        if key in seen:
            warnings.warn(f"{mpath}: a second finished run of arm {arm!r}, seed {seed}; ignored", stacklevel=2)
            continue
        seen.add(key)
        runs.append(StoredRun(arm, int(seed), mpath.parent, metrics))
        if arm not in arms:
            arms.append(arm)
        if "mixer" in metrics:  # an arm is labelled by what its runs stored, never by the latest call
            mixers[arm] = metrics["mixer"]
        elif arm not in mixers:
            mixers[arm] = None
        if int(seed) not in seeds:
            seeds.append(int(seed))

    failed = []
    for fpath in sorted(out.glob(f"runs/*/seed-*/{FAILED_FILE}")):
        if (fpath.parent / "metrics.json").exists():
            continue
        info = _try_json(fpath)
        if isinstance(info, dict) and info.get("seed") is not None:
            failed.append({"arm": str(info.get("arm", fpath.parent.parent.name)), "seed": int(info["seed"]),
                           "error": f"{info.get('error_type')}: {info.get('error')}",
                           "folder": fpath.parent.relative_to(out).as_posix()})

    baseline = next((a for a in arms if a in mixers and mixers[a] is None), None)
    names = record.get("class_names")
    num_classes = record.get("num_classes")
    if not names:
        if num_classes is None and runs:
            num_classes = runs[0].metrics.get("num_classes") or len(runs[0].metrics.get("per_class_recall") or [])
        names = [str(i) for i in range(int(num_classes or 0))]
    critical = record.get("critical_classes")
    if critical is None:
        critical = runs[0].metrics.get("critical_classes", []) if runs else []
    return Study(
        out_dir=out,
        record=record,
        arms=arms,
        baseline=baseline,
        seeds=seeds,
        class_names=[str(n) for n in names],
        critical_classes=[int(k) for k in critical],
        runs=sorted(runs, key=lambda r: (arms.index(r.arm), r.seed)),
        mixers=mixers,
        failed=failed,
    )
