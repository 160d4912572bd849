"""The coordinator of ``mixup compare``: check, plan the runs, have workers train them, write the report once.

The pieces live below it: one run in `mixup_lab._train`, the study folder (checks, claims, commits, the
lock) in `mixup_lab._store`, local workers and launchers in `mixup_lab._workers`. The names a caller
imported from here before the split (``train_and_evaluate``, ``load_study_data``, ``arm_dir``, ...) are
still here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mixup_core import ConfigError, MixupError

from . import _store, _train, _workers
from ._budget import BudgetClock, with_stored_epochs
from ._budget import prepare as prepare_budget
from ._budget import write_outcome as write_budget
from ._config import ArmConfig, StudyConfig
from ._datacheck import CHECKS_FILE, run_checks
from ._store import arm_dir, check_study_folder, save_run
from ._train import (
    RunResult,
    StudyData,
    _Collate,
    _Indexed,
    _optimizer,
    build_mixer,
    build_model,
    classifier_head,
    load_study_data,
    split_validation,
    train_and_evaluate,
)
from ._workers import SlurmLauncher

__all__ = [
    "FailedRunsError",
    "RunResult",
    "StudyData",
    "arm_dir",
    "build_mixer",
    "build_model",
    "check_study_folder",
    "classifier_head",
    "load_study_data",
    "plan_jobs",
    "run_compare",
    "save_run",
    "split_validation",
    "train_and_evaluate",
]

_ = _optimizer  # re-exported for callers of the former single module


class FailedRunsError(MixupError):
    """Some runs of a ``mixup compare`` call failed or were left unfinished; the others are stored and reported.

    Args:
        out: the study folder.
        failed: ``(arm, seed, error)`` of every run of the call that failed (``failed.json``).
        unfinished: ``(arm, seed)`` runs of the call that are neither finished nor failed (a worker stopped).
    """

    def __init__(self, out: Path, failed: list[tuple[str, int, str]], unfinished: list[tuple[str, int]]) -> None:
        self.out, self.failed, self.unfinished = out, failed, unfinished
        parts = []
        if failed:
            arm, seed, error = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            parts.append(f"{len(failed)} run{'s' if len(failed) > 1 else ''} failed: {arm} seed {seed}: {error}{more}; "
                         f"see {arm_dir(out, arm) / f'seed-{seed}' / _store.FAILED_FILE}")
        if unfinished:
            shown = ", ".join(f"{a} seed {s}" for a, s in unfinished[:4])
            parts.append(f"{len(unfinished)} run{'s' if len(unfinished) > 1 else ''} not finished ({shown}); "
                         "run the same command to resume")
        super().__init__("runs: " + "; ".join(parts))


def plan_jobs(cfg: StudyConfig, arms: Sequence[ArmConfig], seeds: Sequence[int]) -> list[tuple[str, int]]:
    """The ``(arm, seed)`` runs of a call, seed by seed: every arm of the first seed comes first."""
    return [(arm.name, s) for s in seeds for arm in arms]


def _example_mixes(cfg: StudyConfig, study: StudyData, arms: Sequence[ArmConfig]) -> dict[str, tuple[Any, Any]]:
    data = study.data
    k = min(cfg.examples, len(data.train))
    if k < 2:
        return {}
    loader = DataLoader(_Indexed(data.train), batch_size=k, shuffle=True, generator=torch.Generator().manual_seed(0),
                        collate_fn=_Collate(data.collate_fn))
    inputs, targets, _ = next(iter(loader))
    targets = targets.reshape(-1).long()
    out: dict[str, tuple[Any, Any]] = {}
    for arm in arms:
        mixer = build_mixer(cfg, arm)
        if mixer is None:
            out[arm.name] = (inputs, torch.nn.functional.one_hot(targets, data.num_classes).float())
            continue
        if not isinstance(inputs, torch.Tensor):
            continue
        try:
            mixed = mixer(inputs, targets, generator=torch.Generator().manual_seed(0), num_classes=data.num_classes)
        except (TypeError, ValueError):  # model-guided or hidden-layer mixers need the model
            continue
        assert mixed.targets is not None
        out[arm.name] = (mixed.inputs.detach(), mixed.targets.dense(data.num_classes))
    return out




def _choose(cfg: StudyConfig, arms: Sequence[str] | None) -> list[ArmConfig]:
    if not arms:
        return list(cfg.arms)
    names = {a.name for a in cfg.arms}
    missing = [a for a in arms if a not in names]
    if missing:
        raise ConfigError(f"--arms: no arm named {missing}; the config has {sorted(names)}")
    return [a for a in cfg.arms if a.name in set(arms)]


def _prepare(
    cfg: StudyConfig,
    out: Path,
    chosen: Sequence[ArmConfig],
    seeds: Sequence[int],
    *,
    resume: bool,
    progress: bool,
    config_text: str | None,
) -> tuple[StudyConfig, StudyData, list[int], BudgetClock | None]:
    """Check everything, then write ``study.json``, the arm records, the data checks and ``study.yaml``.

    A refused call changes no byte. With ``train.budget`` the epochs (and, when needed, the seeds) are
    planned here (`mixup_lab._budget`); returns the study as planned, its data, the seeds and the clock.
    """
    study = load_study_data(cfg)
    for arm in chosen:  # every mixer must accept this data set's batches before hours of training
        build_mixer(cfg, arm)
    _train._device(cfg.train.device)
    build_model(cfg, study.data)
    cfg.business.check_classes([str(c) for c in study.data.class_names])

    def say(line: str) -> None:
        sys.stderr.write(f"mixup: {line}\n")

    announce = say if progress else None
    findings = run_checks(cfg, study.data, len(seeds), announce=announce)
    if cfg.train.budget is not None:
        cfg = with_stored_epochs(cfg, out)
    check_study_folder(out, cfg, chosen)
    clock = None
    run_seeds = list(seeds)
    if cfg.train.budget is not None:  # -- time budget: calibrate, plan the epochs, admit runs while they fit
        done = {(a.name, s) for s in run_seeds for a in chosen if resume and _store.is_finished(out, a.name, s)}
        cfg, run_seeds, clock = prepare_budget(cfg, study, out, chosen, run_seeds, finished=done, announce=announce)
    try:
        _store.write_study(out, cfg, study)
        _store.write_arm_records(out, cfg, chosen)
        _store._write_json(out / CHECKS_FILE, [f.to_json() for f in findings])
        if config_text is not None:
            (out / "study.yaml").write_text(config_text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"--out: cannot create or write the study folder ({exc.strerror}) (got {str(out)!r})"
        ) from None
    return cfg, study, run_seeds, clock


def _run_here(cfg: StudyConfig, out: Path, jobs: list[tuple[str, int]], study: StudyData, *, progress: bool,
              stale_after: float, clock: BudgetClock | None = None) -> None:
    """Train in this process (waiting for runs that other processes hold on the same folder)."""
    bar = None
    if progress and jobs:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=f"mixup compare {cfg.name}", unit="run", file=sys.stderr)
    done = {"n": 0}

    def on_run(arm: str, seed: int, outcome: str) -> None:
        done["n"] += 1
        if bar is not None:
            bar.update(1)

    try:
        if clock is None:
            _workers.run_jobs(cfg, out, jobs, study=study, stale_after=stale_after, wait=True, bar=bar, on_run=on_run,
                              worker={"index": 0, "threads": torch.get_num_threads()})
        else:  # one run at a time, each admitted only while the budget holds it
            for i, (arm, seed) in enumerate(jobs):
                if not clock.admit(jobs, i):
                    break  # the budget would be overrun: the report is labelled partial
                started = time.perf_counter()
                _workers.run_jobs(cfg, out, [(arm, seed)], study=study, stale_after=stale_after, wait=True, bar=bar,
                                  on_run=on_run, worker={"index": 0, "threads": torch.get_num_threads()})
                clock.record(arm, seed, time.perf_counter() - started)
    except KeyboardInterrupt:
        finished = sum(_store.is_finished(out, a, s) for a, s in jobs)
        raise KeyboardInterrupt(f"{finished} of {len(jobs)} runs finished and kept in {out}; run the same command to "
                                "resume") from None
    finally:
        if bar is not None:
            bar.close()
        if clock is not None:
            write_budget(out, clock)


def _write_report(cfg: StudyConfig, out: Path, study: StudyData, chosen: Sequence[ArmConfig]) -> None:
    from ._plots import plot_example_mixes
    from ._report import write_report

    examples = _example_mixes(cfg, study, chosen)
    with _store.study_lock(out):  # two coordinators finishing together write one report after the other
        if examples:
            (out / "plots").mkdir(exist_ok=True)
            plot_example_mixes(examples, [str(c) for c in study.data.class_names], out / "plots" / "examples.png",
                               modality=study.data.modality)
        write_report(out)


def _outcome(out: Path, jobs: Sequence[tuple[str, int]]) -> tuple[list[tuple[str, int, str]], list[tuple[str, int]]]:
    failed, unfinished = [], []
    for arm, seed in jobs:
        state = _store.run_state(out, arm, seed)
        if state.state == "failed":
            failed.append((arm, seed, state.error or "unknown error"))
        elif state.state != "finished":
            unfinished.append((arm, seed))
    return failed, unfinished


def run_compare(
    cfg: StudyConfig,
    *,
    out: Path | None = None,
    arms: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    resume: bool = True,
    progress: bool = True,
    report: bool = True,
    workers: int = 0,
    devices: Sequence[str] | None = None,
    launcher: SlurmLauncher | None = None,
    worker: bool = False,
    stale_after: float = _store.DEFAULT_STALE_AFTER,
    config_text: str | None = None,
) -> Path:
    """Run every arm × seed of a study that is not finished yet, then write the report.

    The data checks (`mixup_lab._datacheck`) run before anything is written; with ``train.budget`` the
    epochs (and, when needed, the seeds) are planned to fit it and the runs stop before overrunning it
    (`mixup_lab._budget`; a budget trains in this process, one run after the other).

    The study folder is a work queue (`mixup_lab._store`): each run is claimed by one process, trained,
    and committed atomically, so several calls on one folder, or workers on several machines, share the
    work and train each run once. A run that fails (its loss diverges, it raises) is recorded in its
    ``failed.json`` and the others go on; the call then raises `FailedRunsError` after the report.

    Args:
        cfg: the study.
        out: the study folder (default ``cfg.output_dir()``).
        arms: only these arms (names); default all.
        seeds: only these seeds; default the config's.
        resume: skip runs whose ``metrics.json`` exists (``False`` deletes and redoes them).
        progress: show a progress bar on stderr.
        report: write ``report.md``, ``report.json`` and the plots at the end.
        workers: 0 trains in this process; N >= 1 starts N worker processes on this machine (or N array
            tasks with ``launcher``), each with ``train.threads`` or cores ÷ N torch threads.
        devices: CUDA devices, one per worker in turn (``CUDA_VISIBLE_DEVICES`` of each worker); without
            ``workers``, one worker per device.
        launcher: submit the workers through submitit (`SlurmLauncher`) instead of starting them here.
        worker: be one worker of a launcher: claim and train runs until none is left, write no report.
        stale_after: seconds without a heartbeat after which a claim is taken over.
        config_text: written as ``study.yaml`` in the study folder once every check has passed
            (``mixup compare PATH`` keeps the config it inferred there).

    Returns:
        The study folder.

    Raises:
        ConfigError: a bad config, arm, seed or folder (nothing is written then).
        FailedRunsError: some runs of this call failed or were left unfinished (after the report).
    """
    out = Path(out) if out is not None else cfg.output_dir()
    chosen = _choose(cfg, arms)
    run_seeds = list(seeds) if seeds else list(cfg.seeds)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"--workers: a number of worker processes >= 0 (got {workers!r})")
    if worker and (workers or launcher is not None or devices):
        raise ConfigError("--worker: a worker trains in its own process; leave out --workers, --devices and --launcher "
                          f"(got --worker with workers={workers}, devices={devices}, launcher={launcher is not None})")
    if cfg.train.budget is not None and (worker or workers or devices or launcher is not None):
        raise ConfigError(f"train.budget: a time budget plans and admits the runs in one process; leave out --workers, "
                          f"--devices, --worker and --launcher, or the budget (got {cfg.train.budget!r})")
    if devices:
        _workers._visible_devices(cfg, devices)  # checked before anything is written
        workers = workers or len(devices)
    # the local workers import torch and load the data while this process checks and prepares the folder
    pool = None
    if workers >= 1 and launcher is None:
        pool = _workers.LocalPool(cfg, workers=workers, devices=devices, stale_after=stale_after)
    # everything is checked before the folder is touched: a refused call changes no byte of it
    try:
        cfg, study, run_seeds, clock = _prepare(cfg, out, chosen, run_seeds, resume=resume, progress=progress,
                                                config_text=config_text)
        planned = plan_jobs(cfg, chosen, run_seeds)
        if not resume and not worker:
            _store.remove_runs(out, planned)
    except BaseException:
        if pool is not None:
            pool.cancel()
        raise
    if worker:  # torch threads: train.threads, else the cores this process may use (a Slurm task's own)
        torch.set_num_threads(_workers.worker_threads(cfg, 1))
        summary = _workers.run_jobs(cfg, out, planned, study=study, stale_after=stale_after,
                                    worker={"threads": torch.get_num_threads()})
        failed = [(a, s, _store.run_state(out, a, s).error or "") for a, s in summary.failed]
        if failed:
            raise FailedRunsError(out, failed, [])
        return out
    jobs = [j for j in planned if not _store.is_finished(out, *j)]
    if pool is not None:
        try:
            pool.run(out, jobs, progress=progress)
        except KeyboardInterrupt:
            finished = sum(_store.is_finished(out, a, s) for a, s in jobs)
            raise KeyboardInterrupt(f"{finished} of {len(jobs)} runs finished and kept in {out}; run the same "
                                    "command to resume") from None
    elif launcher is not None:
        _workers.run_submitit(cfg, out, jobs, launcher, workers=workers or max(1, len(jobs)), stale_after=stale_after,
                              progress=progress)
        if not launcher.wait:
            return out
    else:
        _run_here(cfg, out, jobs, study, progress=progress, stale_after=stale_after, clock=clock)
    if report:
        _write_report(cfg, out, study, chosen)
    failed, unfinished = _outcome(out, jobs)
    if clock is not None:
        unfinished = []  # the runs the budget did not admit: the report is labelled partial, not failed
    if failed or unfinished:
        raise FailedRunsError(out, failed, unfinished)
    return out
