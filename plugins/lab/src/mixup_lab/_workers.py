"""Workers: processes that claim the runs of a study folder and train them until none is left.

Three ways to start them, all running the same loop (`run_jobs`) against the same folder (`mixup_lab._store`):

- in the calling process (``mixup compare`` without ``--workers``, and ``mixup compare --worker`` under any
  launcher: an ``sbatch --array`` script, a shell loop over machines);
- `run_local_workers`: N long-lived processes on this machine, spawned (never forked), each with its own
  ``CUDA_VISIBLE_DEVICES`` and thread count set before torch is imported;
- `run_submitit`: a Slurm job array through submitit (``mixup-lab[slurm]``), or submitit's local and debug
  executors, which run the same tasks on this machine.

Workers never write the report: the coordinator (`mixup_lab._runner`) or ``mixup report`` does, once.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mixup_core import ConfigError, MixupError

from . import _store
from ._config import StudyConfig

__all__ = [
    "LocalPool",
    "SlurmLauncher",
    "WorkSummary",
    "available_cores",
    "run_jobs",
    "run_local_workers",
    "run_submitit",
    "worker_threads",
]

Job = tuple[str, int]
"""One run of a study: ``(arm name, seed)``."""

_WORKERS_DIR = ".workers"


@dataclass
class WorkSummary:
    """What one worker did.

    Args:
        finished: runs it trained and committed.
        failed: runs it trained that failed (``failed.json`` committed).
        discarded: runs it trained whose commit lost to another worker's.
    """

    finished: list[Job] = field(default_factory=list)
    failed: list[Job] = field(default_factory=list)
    discarded: list[Job] = field(default_factory=list)


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, which Slurm and taskset restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def worker_threads(cfg: StudyConfig, workers: int) -> int:
    """Torch threads per worker: ``train.threads``, else the available cores ÷ ``workers`` (at least 1)."""
    return cfg.train.threads or max(1, available_cores() // max(1, workers))


def _heartbeat_interval(stale_after: float) -> float:
    return max(0.5, min(30.0, stale_after / 4))


def _train_one(cfg: StudyConfig, arm_name: str, seed: int, study: Any, claim: _store.Claim, bar: Any,
               stale_after: float) -> Literal["finished", "failed", "discarded"]:
    from . import _train

    arm = next(a for a in cfg.arms if a.name == arm_name)
    epochs = cfg.train.epochs
    claim.heartbeat(0, epochs)

    def beat(epoch: int, evaluate: Any) -> None:  # every epoch: the claim lives, progress.json says how far
        claim.heartbeat(epoch, epochs)

    with claim.keep_alive(_heartbeat_interval(stale_after)):
        try:
            result = _train.train_and_evaluate(cfg, arm, seed, study, progress=bar, epoch_callback=beat)
        except (KeyboardInterrupt, MixupError):  # a stop or a config error: nothing to record, the run stays to do
            claim.release()
            raise
        except Exception as exc:  # divergence, out of memory, a data error: recorded, the other runs go on
            _store.commit_failure(claim, exc)
            return "failed"
    return "finished" if _store.commit_run(claim, result) else "discarded"


def run_jobs(
    cfg: StudyConfig,
    out: Path,
    jobs: Sequence[Job],
    *,
    study: Any = None,
    stale_after: float = _store.DEFAULT_STALE_AFTER,
    worker: dict[str, Any] | None = None,
    wait: bool = False,
    bar: Any = None,
    on_run: Any = None,
    since: float | None = None,
) -> WorkSummary:
    """Claim and train the runs of ``jobs`` until none is left to claim; the loop of every worker.

    Args:
        cfg: the study.
        out: the study folder (already written by the coordinator or by this call's setup).
        jobs: the ``(arm, seed)`` runs to work on, in order.
        study: the loaded data (`mixup_lab._train.load_study_data`); loaded here when ``None``.
        stale_after: seconds without a heartbeat after which another worker's claim is taken over.
        worker: recorded in each claim and failure (index, device, threads).
        wait: once nothing is left to claim, wait for runs that other workers hold and take over those whose
            claim goes stale (the coordinator waits; a cluster worker returns at once).
        bar: a tqdm bar (per-run postfix), or ``None``.
        on_run: called as ``on_run(arm, seed, outcome)`` after each run this worker trained.
        since: when the call began (default: now). A run that failed before is retried; one that failed
            since (by this worker or another) is not, so a deterministic failure is tried once per call.
    """
    if study is None:
        from ._train import load_study_data

        study = load_study_data(cfg)
    since = time.time() if since is None else since
    summary = WorkSummary()
    attempted: set[Job] = set()

    def open_for_this_call(job: Job) -> bool:  # a failure recorded since the call began is not retried in it
        state = _store.run_state(out, *job, stale_after=stale_after)
        return job not in attempted and not (state.state == "failed" and (state.failed_at or 0) >= since)

    while True:
        claimed = False
        for arm, seed in jobs:
            if not open_for_this_call((arm, seed)):
                continue
            claim = _store.claim_run(out, arm, seed, stale_after=stale_after, worker=worker)
            if claim is None:
                continue
            claimed = True
            attempted.add((arm, seed))
            outcome = _train_one(cfg, arm, seed, study, claim, bar, stale_after)
            getattr(summary, outcome).append((arm, seed))
            if on_run is not None:
                on_run(arm, seed, outcome)
        if claimed:
            continue  # another pass: a claim may have gone stale meanwhile
        held = [j for j in jobs if _store.run_state(out, *j, stale_after=stale_after).state in ("running", "stale")]
        if not wait or not held:
            return summary
        time.sleep(min(1.0, _heartbeat_interval(stale_after)))


# --------------------------------------------------------------------------------------------- local workers


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (a spawned child inherits them at start)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _worker_record(out: Path, spec: dict[str, Any], **extra: Any) -> None:
    folder = Path(out) / _WORKERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.get('name', 'worker')}.json"
    old = _store._try_json(path) or {}
    _store._write_json(path, {**old, **{k: spec.get(k) for k in ("name", "index", "device", "threads")}, **extra})


def worker_main(spec: dict[str, Any], queue: Any = None) -> dict[str, Any]:
    """The body of one spawned or submitted worker: set threads, load the data once, run `run_jobs`.

    ``spec`` holds ``config`` (the study as JSON), ``out``, ``jobs``, ``index``, ``threads``, ``device``,
    ``stale_after`` and ``spawned_at`` (for the start-up cost recorded in ``<out>/.workers/``). With a
    ``queue``, ``out``, ``jobs`` and ``since`` arrive on it once the data are loaded (``None``: stop).
    """
    import socket

    import torch

    from ._config import load_study_config
    from ._train import load_study_data

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    spec = {**spec, "name": f"{socket.gethostname()}-{os.getpid()}"}
    error: MixupError | None = None
    try:
        cfg = load_study_config(spec["config"], check=False)
        if spec.get("setup_hash") and cfg.setup_hash() != spec["setup_hash"]:  # pragma: no cover - a safety net
            raise MixupError(f"worker: the config did not survive the trip to the worker ({cfg.setup_hash()} != "
                             f"{spec['setup_hash']})")
        study = load_study_data(cfg)
    except MixupError as exc:
        if queue is None:
            raise
        error = exc  # the coordinator meets the same error and reports it once; raised only if it goes on
    ready = time.time()
    if queue is not None:  # started before the coordinator prepared the folder: wait for the jobs
        go = queue.get()
        if go is None:
            return {"finished": [], "failed": [], "discarded": []}
        if error is not None:
            raise error
        spec.update(go)
    out = Path(spec["out"])
    spawned = spec.get("spawned_at")
    _worker_record(out, spec, host=socket.gethostname(), pid=os.getpid(), spawned_at=spawned, ready_at=ready,
                   startup_s=None if spawned is None else ready - float(spawned), threads=torch.get_num_threads())
    worker = {"index": spec.get("index"), "device": spec.get("device"), "threads": torch.get_num_threads()}
    summary = run_jobs(cfg, out, [tuple(j) for j in spec["jobs"]], study=study,
                       stale_after=float(spec.get("stale_after", _store.DEFAULT_STALE_AFTER)), worker=worker,
                       since=spec.get("since"))
    record = {"finished": summary.finished, "failed": summary.failed, "discarded": summary.discarded}
    _worker_record(out, spec, finished_at=time.time(), **{f"runs_{k}": v for k, v in record.items()})
    return record


def _spawned_worker(spec: dict[str, Any], queue: Any = None) -> None:  # the target of a spawned process
    try:
        worker_main(spec, queue)
    except KeyboardInterrupt:
        sys.exit(130)
    except MixupError as exc:
        from mixup_core import one_line

        sys.stderr.write(f"mixup: error: worker {spec.get('index')}: {one_line(exc)}\n")
        sys.exit(2)


def _visible_devices(cfg: StudyConfig, devices: Sequence[str] | None) -> list[str] | None:
    if devices:
        if cfg.train.device == "cpu":
            raise ConfigError(f"--devices: train.device is 'cpu', so no worker would use a GPU; set train.device to "
                              f"'cuda' or 'auto' (got {','.join(devices)!r})")
        return [str(d) for d in devices]
    if cfg.train.device == "cpu":
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()] or None
    import torch

    n = torch.cuda.device_count()
    return [str(i) for i in range(n)] or None


def _progress(out: Path, jobs: Sequence[Job], epochs: int) -> tuple[float, int, int]:
    """Epochs done over ``jobs`` (finished and failed runs count whole), runs finished, runs failed."""
    done, finished, failed = 0.0, 0, 0
    for arm, seed in jobs:
        state = _store.run_state(out, arm, seed, stale_after=float("inf"))
        if state.state == "finished":
            done, finished = done + epochs, finished + 1
        elif state.state == "failed":
            done, failed = done + epochs, failed + 1
        elif state.epoch:
            done += min(int(state.epoch), epochs)
    return done, finished, failed


class LocalPool:
    """``workers`` spawned processes on this machine, started early and given their jobs later.

    The workers import torch and load the data while the coordinator checks the config and prepares the
    study folder (`start`); `run` hands them the jobs and waits; `cancel` stops them when the coordinator
    refused the call. Worker ``i`` sees one device, ``devices[i % len(devices)]`` (default: every GPU torch
    sees, in turn, when ``train.device`` is not ``"cpu"``), through ``CUDA_VISIBLE_DEVICES`` set before it
    imports torch, and runs `worker_threads` torch threads (also ``OMP_NUM_THREADS``).
    """

    def __init__(self, cfg: StudyConfig, *, workers: int, devices: Sequence[str] | None = None,
                 stale_after: float = _store.DEFAULT_STALE_AFTER) -> None:
        import multiprocessing

        if workers < 1:
            raise ConfigError(f"--workers: at least 1 (got {workers})")
        self.cfg, self.workers, self.stale_after = cfg, workers, stale_after
        visible = _visible_devices(cfg, devices)
        self.threads = worker_threads(cfg, workers)
        ctx = multiprocessing.get_context("spawn")
        self.queue = ctx.Queue()
        self.procs: list[Any] = []
        base = {"config": cfg.model_dump(mode="json"), "setup_hash": cfg.setup_hash(), "threads": self.threads,
                "stale_after": stale_after}
        for i in range(workers):
            device = visible[i % len(visible)] if visible else None
            env = {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
            if device is not None:
                env["CUDA_VISIBLE_DEVICES"] = device
            spec = {**base, "index": i, "device": device, "spawned_at": time.time()}
            with _environ(env):
                proc = ctx.Process(target=_spawned_worker, args=(spec, self.queue), name=f"mixup-worker-{i}")
                proc.start()
            self.procs.append(proc)

    def cancel(self) -> None:
        """Stop the workers before they were given jobs."""
        for _ in self.procs:
            self.queue.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join()

    def run(self, out: Path, jobs: Sequence[Job], *, progress: bool = True) -> None:
        """Give the workers ``jobs`` on ``out`` and wait for them, with one progress bar (epochs over all runs).

        Raises:
            MixupError: a worker stopped with an error of its own (not a failed run: those are recorded).
            KeyboardInterrupt: Ctrl-C; the workers are stopped, their claims released.
        """
        go = {"out": str(out), "jobs": [list(j) for j in jobs], "since": time.time()}
        for _ in self.procs:
            self.queue.put(go)
        procs, epochs, bar = self.procs, self.cfg.train.epochs, None
        if progress and jobs:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(jobs) * epochs, desc=f"mixup compare {self.cfg.name} ({self.workers} workers)",
                       unit="epoch", file=sys.stderr)
        shown: tuple[float, int, int] | None = None
        try:
            while any(p.is_alive() for p in procs):
                if bar is not None:
                    now = _progress(out, jobs, epochs)
                    if now != shown:
                        shown = now
                        bar.n = now[0]
                        bar.set_postfix_str(f"{now[1]}/{len(jobs)} runs" + (f", {now[2]} failed" if now[2] else ""))
                time.sleep(0.5)
        except KeyboardInterrupt:
            for p in procs:
                p.join(timeout=10)
                if p.is_alive():
                    p.terminate()
            raise
        finally:
            for p in procs:
                p.join()
            if bar is not None:
                bar.n = _progress(out, jobs, epochs)[0]
                bar.close()
        bad = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode]
        if bad:
            raise MixupError(f"--workers: worker {bad[0][0]} stopped with exit code {bad[0][1]}"
                             + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "")
                             + "; its message is above. Finished runs are kept: run the same command to resume")


def run_local_workers(
    cfg: StudyConfig,
    out: Path,
    jobs: Sequence[Job],
    *,
    workers: int,
    devices: Sequence[str] | None = None,
    stale_after: float = _store.DEFAULT_STALE_AFTER,
    progress: bool = True,
) -> None:
    """Train ``jobs`` of the prepared study folder ``out`` with a `LocalPool` of ``workers`` and wait for them.

    Raises:
        ConfigError: ``workers`` < 1, or ``devices`` with ``train.device: cpu``.
        MixupError: a worker stopped with an error of its own (not a failed run: those are recorded).
        KeyboardInterrupt: Ctrl-C; the workers are stopped, their claims released.
    """
    LocalPool(cfg, workers=workers, devices=devices, stale_after=stale_after).run(out, jobs, progress=progress)


# --------------------------------------------------------------------------------------------- submitit / Slurm


@dataclass(frozen=True)
class SlurmLauncher:
    """Submit a study's workers as one Slurm job array through submitit (``pip install 'mixup-lab[slurm]'``).

    Each array task is one worker (`run_jobs`): it loads the data once and claims runs until none is left,
    so an array of N tasks trains any number of runs, and a task that is preempted or runs out of time
    leaves its run to be taken over once its claim is stale.

    Args:
        partition: the Slurm partition (``None``: the cluster's default).
        gpus_per_task: GPUs of each task (Slurm sets ``CUDA_VISIBLE_DEVICES``).
        cpus_per_task: CPU cores of each task (torch threads follow them unless ``train.threads`` is set).
        time_min: the time limit of each task, in minutes.
        array_parallelism: at most this many tasks of the array run at once (``None``: Slurm's default).
        cluster: ``"slurm"``; ``"local"`` or ``"debug"`` run the same tasks on this machine with submitit's
            local executor (subprocesses) or debug executor (in this process), to test a setup offline.
        logs: submitit's folder for job scripts, pickles and logs (default ``<out>/slurm``).
        wait: wait for the array and write the report (``False``: return after submitting; then run
            ``mixup status`` and ``mixup report``).
        extra: more submitit parameters (e.g. ``{"slurm_account": "proj", "mem_gb": 32}``).

    Examples:
        >>> launcher = SlurmLauncher(partition="gpu", gpus_per_task=1, time_min=240, array_parallelism=8)
        >>> run_compare(cfg, out="runs/cifar", workers=20, launcher=launcher)  # doctest: +SKIP
    """

    partition: str | None = None
    gpus_per_task: int = 0
    cpus_per_task: int | None = None
    time_min: int = 60
    array_parallelism: int | None = None
    cluster: Literal["slurm", "local", "debug"] = "slurm"
    logs: Path | None = None
    wait: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def executor(self, out: Path, name: str) -> Any:
        """The submitit executor with this launcher's parameters."""
        try:
            import submitit
        except ImportError:
            raise ConfigError(f"--launcher: slurm needs submitit: pip install 'mixup-lab[slurm]' "
                              f"(got {self.cluster!r})") from None
        try:
            executor = submitit.AutoExecutor(folder=str(self.logs or Path(out) / "slurm" / "%j"), cluster=self.cluster)
        except RuntimeError as exc:  # no srun on this machine
            raise ConfigError(f"--launcher: {self.cluster}: {exc}; submit from a login node of the cluster "
                              f"(got {self.cluster!r})") from None
        params: dict[str, Any] = {"name": name, "timeout_min": int(self.time_min), "tasks_per_node": 1,
                                  "gpus_per_node": int(self.gpus_per_task)}
        if self.cpus_per_task is not None:
            params["cpus_per_task"] = int(self.cpus_per_task)
        if self.partition is not None:
            params["slurm_partition"] = self.partition
        if self.array_parallelism is not None:
            params["slurm_array_parallelism"] = int(self.array_parallelism)
        params.update(self.extra)
        try:
            executor.update_parameters(**params)
        except (NameError, ValueError, AssertionError) as exc:
            raise ConfigError(f"--launcher: submitit refused the parameters: {exc} (got {params})") from None
        return executor


def _submitit_task(spec: dict[str, Any]) -> dict[str, Any]:
    """One array task: a worker whose threads follow the task's cores unless ``train.threads`` is set."""
    return worker_main({**spec, "spawned_at": spec.get("spawned_at")})


def run_submitit(
    cfg: StudyConfig,
    out: Path,
    jobs: Sequence[Job],
    launcher: SlurmLauncher,
    *,
    workers: int,
    stale_after: float = _store.DEFAULT_STALE_AFTER,
    progress: bool = True,
) -> list[Any]:
    """Submit ``workers`` array tasks that train ``jobs``; wait for them when ``launcher.wait``.

    Returns:
        The submitit jobs.

    Raises:
        ConfigError: submitit is not installed, or refuses a parameter.
        MixupError: a task stopped with an error of its own (failed runs are recorded, not raised).
    """
    if workers < 1:
        raise ConfigError(f"--workers: at least 1 (got {workers})")
    executor = launcher.executor(out, f"mixup-{cfg.name}")
    threads = cfg.train.threads or launcher.cpus_per_task
    base = {"config": cfg.model_dump(mode="json"),
            "setup_hash": cfg.setup_hash(), "out": str(out), "jobs": [list(j) for j in jobs],
            "threads": threads, "stale_after": stale_after, "device": None, "since": time.time()}
    specs = [{**base, "index": i, "spawned_at": time.time()} for i in range(workers)]
    submitted = executor.map_array(_submitit_task, specs)
    ids = sorted({str(j.job_id).split("_")[0] for j in submitted})
    (Path(out) / _WORKERS_DIR).mkdir(parents=True, exist_ok=True)
    _store._write_json(
        Path(out) / _WORKERS_DIR / "submitted.json",
        {"cluster": launcher.cluster, "job_ids": [str(j.job_id) for j in submitted], "time": time.time()},
    )
    if not launcher.wait:
        return list(submitted)
    bar = None
    if progress and jobs and launcher.cluster != "debug":
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs) * cfg.train.epochs, desc=f"mixup compare {cfg.name} (job {', '.join(ids)})",
                   unit="epoch", file=sys.stderr)
    errors = []
    try:
        if launcher.cluster != "debug":
            while not all(j.done() for j in submitted):
                if bar is not None:
                    bar.n = _progress(out, jobs, cfg.train.epochs)[0]
                    bar.refresh()
                time.sleep(1.0)
        for job in submitted:
            try:
                job.result()
            except Exception as exc:  # submitit wraps the task's error with its log
                errors.append((job.job_id, exc))
    finally:
        if bar is not None:
            bar.n = _progress(out, jobs, cfg.train.epochs)[0]
            bar.close()
    if errors:
        from mixup_core import one_line

        job_id, error = errors[0]
        raise MixupError(f"--launcher: task {job_id} stopped with an error: {one_line(error)[:400]}; logs in "
                         f"{launcher.logs or Path(out) / 'slurm'}")
    return list(submitted)


def worker_records(out: Path) -> list[dict[str, Any]]:
    """The records of the workers that ran on a study folder (``<out>/.workers/*.json``)."""
    found = []
    for path in sorted((Path(out) / _WORKERS_DIR).glob("*.json")):
        record = _store._try_json(path)
        if isinstance(record, dict) and path.name != "submitted.json":
            found.append(record)
    return found
