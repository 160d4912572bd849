"""``mixup tune``: an Optuna search over mixer, α, probability and mode, on a validation split.

The test split is never looked at: a stratified ``tune.val_fraction`` of the training split is
held out (`mixup_lab._train.split_validation`, seed 0) and every trial trains on the rest and
is scored on it. The study lives in an Optuna storage (SQLite in ``<out>/tune/optuna.db`` by
default), so a second call continues it and several machines can share one through a storage URL.

Outputs in ``<out>/tune/``:

- ``best.yaml``: a complete study config for ``mixup compare``, named ``<name>-tuned``, with the
  arms ``[baseline, the best mixer with its tuned alpha / p / mode]`` and without the ``tune``
  section.
- ``trials.csv``: one row per trial of the study (all calls, all machines).
- ``summary.json``: objective, direction, best value, parameters and mixer, trials by state.
- ``history.png`` and ``importance.png``: Optuna's optimisation history and parameter
  importances (the latter only once two finished trials differ in their parameters).
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import json
import math
import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import yaml

from mixup_core import ConfigError, MixupError, create_mixer

from ._config import ArmConfig, StudyConfig, load_study_config

if TYPE_CHECKING:
    import optuna

__all__ = ["objective_direction", "run_tune"]


_PRUNE_STARTUP_TRIALS = 3
_PRUNE_WARMUP_STEPS = 1


def objective_direction(objective: str) -> Literal["minimize", "maximize"]:
    """Whether ``mixup tune`` minimises or maximises a metric when ``tune.direction`` is not set.

    Losses, errors and calibration errors (``nll``, ``ece``, ``error_rate``, ``brier``) are
    minimised; accuracy, F1 scores and every recall (``critical_recall``, anything containing
    ``recall``) are maximised.

    Args:
        objective: a metric name of `mixup_lab._metrics.compute_metrics`.

    Raises:
        ConfigError: the direction of ``objective`` cannot be inferred (naming ``tune.direction``).

    Examples:
        >>> objective_direction("nll")
        'minimize'
        >>> objective_direction("critical_recall")
        'maximize'
    """
    if "recall" in objective:  # also per-class keys such as recall_3
        return "maximize"
    from ._metrics import metric_direction

    try:
        return metric_direction(objective)
    except KeyError:
        raise ConfigError(
            f"tune.direction: cannot tell whether a larger or a smaller {objective!r} is better; "
            "set tune.direction to 'minimize' or 'maximize'"
        ) from None


@dataclass(frozen=True)
class _Candidate:
    """One entry of ``tune.mixers`` and which of its parameters the search sets."""

    index: int
    label: str
    spec: dict[str, Any]
    alpha: bool
    p: bool
    mode: bool


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _scalar(v: Any) -> float:
    """A metric value as a float (NaN for ``None``)."""
    return float(v) if _is_number(v) else math.nan


def _candidates(cfg: StudyConfig) -> list[_Candidate]:
    """Check every candidate mixer of ``tune.mixers`` (also at the ends of the search ranges)."""
    tune = cfg.tune
    if not tune.mixers:
        raise ConfigError("tune.mixers: give at least one candidate mixer config, got []")
    if tune.p is not None and not 0 <= tune.p[0] <= tune.p[1] <= 1:
        raise ConfigError(f"tune.p: must be [low, high] with 0 <= low <= high <= 1, got {list(tune.p)}")
    if not tune.seeds:
        raise ConfigError("tune.seeds: give at least one seed, got []")
    names = [str(spec.get("name")) for spec in tune.mixers]
    out = []
    for i, spec in enumerate(tune.mixers):
        where = f"tune.mixers[{i}] ({spec!r})"
        try:
            mixer = create_mixer(spec)
        except (MixupError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        fields = {f.name for f in dataclasses.fields(mixer)} if dataclasses.is_dataclass(mixer) else set()
        # a parameter the candidate fixes itself is kept, not searched
        cand = _Candidate(
            index=i,
            label=names[i] if names.count(names[i]) == 1 else f"{names[i]}#{i}",
            spec=dict(spec),
            alpha="alpha" in fields and "alpha" not in spec,
            p=tune.p is not None and "p" in fields and "p" not in spec,
            mode=bool(tune.modes) and "mode" in fields and "mode" not in spec,
        )
        for probe in _probes(cfg, cand):
            try:
                create_mixer({**spec, **probe})
            except (MixupError, KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{where} with the searched values {probe}: {exc}") from exc
        out.append(cand)
    return out


def _probes(cfg: StudyConfig, cand: _Candidate) -> list[dict[str, Any]]:
    """The corners of a candidate's search box: every value the search can reach is between them."""
    tune = cfg.tune
    axes: list[list[tuple[str, Any]]] = []
    if cand.alpha:
        axes.append([("alpha", tune.alpha[0]), ("alpha", tune.alpha[1])])
    if cand.p and tune.p is not None:
        axes.append([("p", tune.p[0]), ("p", tune.p[1])])
    if cand.mode:
        axes.append([("mode", m) for m in tune.modes])
    probes: list[dict[str, Any]] = [{}]
    for axis in axes:
        probes = [{**pr, k: v} for pr in probes for k, v in axis]
    return [pr for pr in probes if pr]


def _dummy_metrics(num_classes: int, critical: Sequence[int]) -> dict[str, Any]:
    from ._metrics import compute_metrics

    c = num_classes
    labels = np.arange(2 * c) % c
    probs = np.full((2 * c, c), 0.4 / (c - 1))
    probs[np.arange(2 * c), labels] = 0.6
    probs[c:] = np.roll(probs[c:], 1, axis=1)  # half right, half wrong
    return compute_metrics(probs, labels, critical_classes=list(critical))


def _check_objective(objective: str, num_classes: int, critical: Sequence[int], *, defined: bool = True) -> None:
    """Fail before training when the objective is not a number the metrics define for this study.

    With ``defined=False`` only the name and type are checked (before the data are loaded).
    """
    metrics = _dummy_metrics(num_classes, critical)
    scalars = sorted(k for k, v in metrics.items() if _is_number(v) or v is None)
    if objective not in metrics:
        close = difflib.get_close_matches(objective, scalars, n=2)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigError(f"tune.objective: unknown metric {objective!r}{hint} Metrics: {scalars}")
    value = metrics[objective]
    if value is not None and not _is_number(value):
        raise ConfigError(
            f"tune.objective: {objective!r} is a {type(value).__name__}, not a single number; choose one of {scalars}"
        )
    if defined and (value is None or math.isnan(float(value))):
        extra = " (it needs critical classes: set critical.classes)" if "critical" in objective else ""
        raise ConfigError(f"tune.objective: {objective!r} is undefined for this study{extra}")


def _mask_url(url: str) -> str:
    """A storage URL with its password hidden."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


@contextmanager
def _optuna_logging() -> Iterator[None]:
    import optuna

    before = optuna.logging.get_verbosity()
    # Optuna's INFO line per trial would interleave with the progress bar, which already reports each trial
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def _pruner(cfg: StudyConfig) -> optuna.pruners.BasePruner:
    import optuna

    if cfg.tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=_PRUNE_STARTUP_TRIALS, n_warmup_steps=_PRUNE_WARMUP_STEPS)
    return optuna.pruners.NopPruner()


def _journal_path(url: str) -> str | None:
    """The file of a journal storage (``journal:PATH`` or a path ending in ``.journal``), else ``None``."""
    if url.startswith("journal:"):
        return url[len("journal:"):].removeprefix("//")
    if "://" not in url and url.endswith(".journal"):
        return url
    return None


def _storage(url: str, workers: int) -> Any:
    """The Optuna storage of a URL: a journal file, or an RDB (with heartbeats when several workers share it)."""
    import optuna

    path = _journal_path(url)
    if path is not None:
        from optuna.storages.journal import JournalFileBackend

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    if workers > 1 and not url.startswith("sqlite"):
        # heartbeats let a later call fail the trials of a worker that died (optuna.storages.fail_stale_trials)
        return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    return url


def _this_worker(index: int = 0) -> dict[str, Any]:
    import os
    import socket

    return {"host": socket.gethostname(), "pid": os.getpid(), "index": index}


def _fail_dead_trials(study: optuna.Study, url: str) -> int:
    """Fail the trials left RUNNING by workers that died; returns how many.

    A trial records its worker (``mixup_worker``: host, pid). On a single-host storage (a journal file, SQLite)
    a running trial whose process is gone from this machine, or that records no worker, is dead; on an RDB the
    heartbeats of `optuna.storages.fail_stale_trials` decide.
    """
    import os
    import socket

    import optuna

    from ._store import _alive

    host = socket.gethostname()
    single_host = url.startswith("sqlite") or _journal_path(url) is not None
    dead = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = t.user_attrs.get("mixup_worker") or {}
        if worker.get("host") == host:
            gone = worker.get("pid") != os.getpid() and not _alive(int(worker.get("pid", 0)) or 1 << 30)
        else:
            gone = single_host and not worker
        if gone:
            try:
                study._storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL)
                dead += 1
            except optuna.exceptions.UpdateFinishedTrialError:  # another process got there first
                pass
    if not single_host:
        optuna.storages.fail_stale_trials(study)
    return dead


def _open_study(
    cfg: StudyConfig,
    url: str,
    field: str,
    direction: Literal["minimize", "maximize"],
    candidates: Sequence[_Candidate],
    workers: int = 1,
) -> optuna.Study:
    import optuna

    tune = cfg.tune
    name = tune.study_name or cfg.name
    pruner = _pruner(cfg)
    try:
        study = optuna.create_study(
            storage=_storage(url, workers),
            study_name=name,
            direction=direction,
            pruner=pruner,
            load_if_exists=True,
        )
    except Exception as exc:  # SQLAlchemy and Optuna raise many kinds for a bad URL or database
        raise ConfigError(f"{field}: cannot open the Optuna storage {_mask_url(url)!r}: {exc}") from exc
    where = f"study {name!r} in {_mask_url(url)}"
    setup = cfg.model_dump(mode="json", include={"dataset", "model", "train", "critical"})
    setup["train"].pop("workers", None)  # how fast the data arrive, not what is trained
    record = {"objective": tune.objective, "mixers": [c.spec for c in candidates], "setup": setup}
    stored = {k: study.user_attrs.get(f"mixup_{k}") for k in record}
    # everything is compared before anything is written to the storage
    for key, value in record.items():
        if stored[key] is None or stored[key] == json.loads(json.dumps(value)):
            continue
        if key == "setup":
            from ._store import _differences

            changed = "; ".join(d.lstrip(".") for d in _differences(stored[key], value, "")[:4])
            raise ConfigError(
                f"{changed}: {where} was tuned with another data set, model, budget or critical cases, so its trials "
                "would not be comparable; use another tune.study_name or storage"
            )
        raise ConfigError(
            f"tune.{key}: {where} was run with {key} {stored[key]!r}, the config now says {value!r}; "
            "trials would not be comparable: use another tune.study_name or storage"
        )
    for key, value in record.items():
        if stored[key] is None:
            study.set_user_attr(f"mixup_{key}", value)
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"tune.direction: {where} was created to {study.direction.name.lower()}, not to {direction}; "
            "use another tune.study_name or storage"
        )
    # seeded from the first seed and the trials so far: reproducible, and a continued study does
    # not replay the random start-up draws of the first call
    done = len(study.get_trials(deepcopy=False))
    study.sampler = optuna.samplers.TPESampler(seed=(tune.seeds[0] + done) % 2**32)
    return study


class _Objective:
    """One trial: draw a mixer config, train it on every seed of ``tune.seeds``, return the mean objective.

    A class, not a closure, so that spawned workers can build it from the config.
    """

    def __init__(
        self, cfg: StudyConfig, candidates: Sequence[_Candidate], study_data: Any, worker: dict[str, Any]
    ) -> None:
        self.cfg, self.candidates, self.study_data, self.worker = cfg, candidates, study_data, worker

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        from . import _train

        cfg, tune = self.cfg, self.cfg.tune
        trial.set_user_attr("mixup_worker", self.worker)
        spec = _suggest(trial, cfg, self.candidates)
        arm = ArmConfig(name=f"trial-{trial.number}", mixer=spec)
        values = []
        for k, seed in enumerate(tune.seeds):
            callback = None
            if k == 0 and tune.pruner != "none":
                def callback(epoch: int, evaluate: Any) -> None:
                    step = epoch - 1
                    if step < _PRUNE_WARMUP_STEPS or epoch >= cfg.train.epochs:
                        return  # no pruning here: save the evaluation
                    value = _scalar(evaluate().get(tune.objective))
                    if math.isnan(value):
                        return
                    trial.report(value, step)
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"{tune.objective} = {value:.4g} after epoch {epoch}")
            # trials keep no run folder
            result = _train.train_and_evaluate(cfg, arm, seed, self.study_data, epoch_callback=callback, audit=False)
            values.append(_scalar(result.metrics.get(tune.objective)))
        trial.set_user_attr("seed_values", values)
        return float(np.mean(values))  # NaN marks the trial failed


def _tune_data(cfg: StudyConfig) -> Any:
    """The study's data with the validation split held out as its test split."""
    from ._train import load_study_data, split_validation

    full = load_study_data(cfg)
    _check_objective(cfg.tune.objective, full.data.num_classes, full.critical_classes)
    val_data = split_validation(full.data, cfg.tune.val_fraction, seed=0)
    critical_train = full.critical_train
    if critical_train is not None:
        critical_train = critical_train[list(val_data.train.indices)]
    return dataclasses.replace(full, data=val_data, critical_train=critical_train)


def _ask_tell(study: optuna.Study, objective: _Objective, target: int, lock: Path) -> None:
    """Run trials until the study holds ``target`` of them: the count is checked and the trial asked for under
    a lock, so the workers of one machine stop at exactly ``target`` (across machines each call keeps its own
    count, at most one extra trial per other worker)."""
    import optuna

    from ._store import study_lock

    state = optuna.trial.TrialState
    while True:
        with study_lock(lock):
            if len(study.get_trials(deepcopy=False)) >= target:
                return
            trial = study.ask()
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            study.tell(trial, state=state.PRUNED)
        except FloatingPointError:  # a diverging trial fails; the search goes on
            study.tell(trial, state=state.FAIL)
        except BaseException:
            study.tell(trial, state=state.FAIL)
            raise
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna warns when a NaN value fails the trial
                study.tell(trial, value)


def _tune_worker(spec: dict[str, Any]) -> None:
    """A spawned tune worker: its own sampler seed (``seed + index``, constant liar), the shared storage."""
    import optuna
    import torch

    torch.set_num_threads(int(spec["threads"]))
    cfg = load_study_config(spec["config"], check=False)
    objective = _Objective(cfg, _candidates(cfg), _tune_data(cfg), _this_worker(int(spec["index"])))
    sampler = optuna.samplers.TPESampler(seed=int(spec["seed"]) % 2**32, constant_liar=True)
    with _optuna_logging(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.load_study(study_name=spec["study_name"], storage=_storage(spec["url"], 2), sampler=sampler,
                                  pruner=_pruner(cfg))
        _ask_tell(study, objective, int(spec["target"]), Path(spec["lock"]))


def _run_workers(cfg: StudyConfig, study: optuna.Study, url: str, folder: Path, *, workers: int, n_trials: int,
                 progress: bool) -> None:
    """Spawn ``workers`` processes that share the study's storage until it holds ``n_trials`` more trials."""
    import multiprocessing
    import os
    import time

    import optuna

    from ._workers import _environ, worker_threads

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    start = len(study.get_trials(deepcopy=False))
    done_before = len(study.get_trials(deepcopy=False, states=finished))
    target = start + n_trials
    threads = worker_threads(cfg, workers)
    base_seed = cfg.tune.seeds[0] + start
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for i in range(workers):
        spec = {"config": cfg.model_dump(mode="json"), "url": url, "study_name": study.study_name, "index": i,
                "seed": base_seed + i, "target": target, "lock": str(folder), "threads": threads}
        with _environ({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}):
            proc = ctx.Process(target=_tune_worker, args=(spec,), name=f"mixup-tune-worker-{i}")
            proc.start()
        procs.append(proc)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_trials, desc=f"mixup tune {cfg.name} ({workers} workers)", unit="trial", file=sys.stderr)
    try:
        while any(p.is_alive() for p in procs):
            if bar is not None:
                done = len(study.get_trials(deepcopy=False, states=finished)) - done_before
                if done != bar.n:
                    bar.n = max(0, min(done, n_trials))
                    bar.refresh()
            time.sleep(1.0)
    finally:
        for p in procs:
            p.join()
        if bar is not None:
            bar.close()
    bad = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode]
    if bad:
        raise MixupError(f"--workers: tune worker {bad[0][0]} stopped with exit code {bad[0][1]}; its message is "
                         f"above (pid {os.getpid()} is the coordinator)")


def _suggest(trial: optuna.Trial, cfg: StudyConfig, candidates: Sequence[_Candidate]) -> dict[str, Any]:
    """The trial's mixer config."""
    tune = cfg.tune
    by_label = {c.label: c for c in candidates}
    cand = by_label[trial.suggest_categorical("mixer", [c.label for c in candidates])]
    spec = dict(cand.spec)
    if cand.alpha:
        spec["alpha"] = trial.suggest_float("alpha", tune.alpha[0], tune.alpha[1], log=True)
    if cand.p and tune.p is not None:
        spec["p"] = trial.suggest_float("p", tune.p[0], tune.p[1])
    if cand.mode:
        spec["mode"] = trial.suggest_categorical("mode", list(tune.modes))
    trial.set_user_attr("mixer", spec)
    return spec


def _write_trials_csv(study: optuna.Study, path: Path) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["number", "state", "value", "duration_s", "params", "mixer", "seed_values"])
        for t in study.get_trials(deepcopy=False):
            writer.writerow([
                t.number,
                t.state.name,
                "" if t.value is None else repr(float(t.value)),
                "" if t.duration is None else f"{t.duration.total_seconds():.3f}",
                json.dumps(t.params, sort_keys=True),
                json.dumps(t.user_attrs.get("mixer")),
                json.dumps(t.user_attrs.get("seed_values")),
            ])
    tmp.replace(path)


def _write_plots(study: optuna.Study, folder: Path) -> tuple[dict[str, str | None], list[str]]:
    """``history.png`` and ``importance.png``; a plot that cannot be drawn is skipped with a note."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # keep a backend the caller chose; figures are closed anyway
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    plots: dict[str, str | None] = {"history": None, "importance": None}
    notes: list[str] = []
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))

    def save(kind: str, draw: Any, filename: str) -> None:
        path = folder / filename
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna's ExperimentalWarning, matplotlib layout warnings
                ax = draw(study)
                fig = (ax.flat[0] if isinstance(ax, np.ndarray) else ax).get_figure()
                fig.savefig(path, dpi=120, bbox_inches="tight")
                plt.close(fig)
        except Exception as exc:  # a plot must never lose the results of the study
            path.unlink(missing_ok=True)
            notes.append(f"{filename} skipped: {type(exc).__name__}: {exc}")
            plt.close("all")
            return
        plots[kind] = filename

    if complete:
        from ._metrics import METRIC_LABELS

        objective = str(study.user_attrs.get("mixup_objective", "objective"))
        label = METRIC_LABELS.get(objective, objective)

        def history(st: Any) -> Any:
            ax = ovm.plot_optimization_history(st, target_name=label)
            ax.set_ylabel(label)
            return ax

        save("history", history, "history.png")
    else:
        (folder / "history.png").unlink(missing_ok=True)
        notes.append("history.png skipped: no completed trial")
    varying = [k for k in {k for t in complete for k in t.params}
               if len({json.dumps(t.params.get(k)) for t in complete}) > 1]
    if len(complete) >= 2 and varying:
        save("importance", ovm.plot_param_importances, "importance.png")
    else:
        (folder / "importance.png").unlink(missing_ok=True)
        notes.append(f"importance.png skipped: needs at least 2 completed trials whose parameters differ "
                     f"(have {len(complete)} completed)")
    return plots, notes


def _best_config(cfg: StudyConfig, spec: dict[str, Any]) -> dict[str, Any]:
    """The study config of ``mixup compare`` for the baseline against the tuned mixer."""
    raw = cfg.model_dump(mode="json", exclude={"tune"})
    raw["name"] = f"{cfg.name}-tuned"
    base = cfg.baseline
    baseline = base.model_dump(mode="json") if base is not None else {"name": "baseline", "mixer": None}
    arm = f"{str(spec['name']).rpartition(':')[2]}-tuned"
    if arm == baseline["name"]:
        arm += "-mixer"
    raw["arms"] = [baseline, {"name": arm, "mixer": spec}]
    if cfg.output:
        raw["output"] = f"{cfg.output.rstrip('/')}-tuned"
    else:
        raw.pop("output", None)
    load_study_config(raw, check=False)  # what compare will read must be valid
    return raw


def _storage_url(cfg: StudyConfig, folder: Path, storage: str | None, workers: int) -> tuple[str, str]:
    """The storage URL and the field that chose it; SQLite with several workers is refused, naming the field.

    Default: ``<out>/tune/optuna.db`` (SQLite) for one worker, ``<out>/tune/optuna.journal`` (Optuna's
    journal file, safe for concurrent processes) for several, or whenever that journal already exists.
    """
    if storage:
        url, field = storage, "--storage"
    elif cfg.tune.storage:
        url, field = cfg.tune.storage, "tune.storage"
    else:
        journal = folder / "optuna.journal"
        if workers > 1 or journal.exists():
            return f"journal:{journal.resolve()}", "output"
        return f"sqlite:///{(folder / 'optuna.db').resolve()}", "output"
    if workers > 1 and url.startswith("sqlite"):
        raise ConfigError(
            f"{field}: SQLite cannot serve {workers} workers writing at once (Optuna advises against it); give "
            f"--storage journal:<file> for one machine or an RDB URL (postgresql://..., mysql://...) for several, or "
            f"leave --storage out for a journal file in the output folder (got {_mask_url(url)!r})"
        )
    return url, field


def _switch_to_journal(cfg: StudyConfig, folder: Path, url: str, field: str) -> None:
    """When the default storage becomes the journal file, copy in the study an earlier call kept in SQLite."""
    import optuna

    db = folder / "optuna.db"
    path = _journal_path(url)
    if field != "output" or path is None or Path(path).exists() or not db.exists():
        return
    name = cfg.tune.study_name or cfg.name
    source = f"sqlite:///{db.resolve()}"
    if name in {s.study_name for s in optuna.get_all_study_summaries(source)}:
        optuna.copy_study(from_study_name=name, from_storage=source, to_storage=_storage(url, 2))


def run_tune(
    cfg: StudyConfig,
    *,
    out: Path | None = None,
    n_trials: int | None = None,
    storage: str | None = None,
    progress: bool = True,
    workers: int = 1,
) -> Path:
    """Search the study's ``tune`` space with Optuna and write the best config for ``mixup compare``.

    Each trial draws a mixer from ``tune.mixers`` (a categorical parameter ``mixer``), then α
    (log-uniform in ``tune.alpha``) when the mixer has an ``alpha`` field, the probability
    (uniform in ``tune.p``) when given and the mixer has ``p``, and ``mode`` (from
    ``tune.modes``) when given and the mixer has ``mode``. A parameter that a candidate config
    sets itself is kept fixed. The trial trains once per seed of ``tune.seeds`` on the training
    split minus the held-out ``tune.val_fraction`` and returns the mean of the ``tune.objective``
    metric on the held-out part; the test split is never used. With ``tune.pruner = "median"``
    the first seed reports the objective after every epoch but the last (Optuna step
    ``epoch - 1``; the first epoch is a warm-up step) and a trial worse than the median of the
    earlier trials (after 3 of them) is pruned. A trial whose loss diverges is recorded as
    failed and the search goes on. Sampling is seeded from the first seed of ``tune.seeds`` plus the
    number of trials already in the study, so a call is reproducible and a continued study does
    not repeat its first draws.

    With ``workers`` > 1 the study is created (or checked) once, then that many spawned processes share
    its storage, Optuna's way: each samples with TPE seeded ``seed + worker index`` and a constant liar
    (running trials count as bad, so workers spread out), the call stops when ``n_trials`` more trials
    are in the study (all workers together), and the trials that dead workers left running are failed
    first. The default storage is then a journal file, ``<out>/tune/optuna.journal`` (an earlier
    SQLite study of the same name is copied into it); SQLite given explicitly is refused.

    Args:
        cfg: the study, with its ``tune`` section.
        out: the study folder (default ``cfg.output_dir()``); results go to ``out / "tune"``.
        n_trials: trials to run in this call, all workers together (default ``tune.n_trials``).
        storage: an Optuna storage: an RDB URL (``sqlite:///...``, ``postgresql://...``) or a journal
            file (``journal:PATH``, or a path ending in ``.journal``); default ``tune.storage``, else
            ``<out>/tune/optuna.db`` with one worker and ``<out>/tune/optuna.journal`` with several. A
            second call with the same storage and study name continues the study; several machines can
            share an RDB (e.g. PostgreSQL).
        progress: show Optuna's progress bar and log; ``False`` quiets Optuna.
        workers: worker processes on this machine (each ``train.threads`` or cores ÷ workers threads).

    Returns:
        The path of ``best.yaml``.

    Raises:
        ConfigError: a bad candidate mixer (naming ``tune.mixers[i]``), an unknown or undefined
            objective (``tune.objective``), a direction that cannot be inferred or that differs
            from the stored study's, a storage that cannot be opened, ``n_trials`` < 1, or SQLite
            named for more than one worker.
        MixupError: no trial of the study has completed (all pruned or failed).

    Examples:
        >>> from mixup_lab._cli import read_study  # doctest: +SKIP
        >>> run_tune(read_study("study.yaml"), n_trials=20)  # doctest: +SKIP
        PosixPath('runs/study/tune/best.yaml')
    """
    import optuna

    tune = cfg.tune
    if n_trials is None:
        n_trials = tune.n_trials
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError(f"--trials: the number of trials must be an integer >= 1, got {n_trials!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers: the number of worker processes must be an integer >= 1, got {workers!r}")
    cfg.check_names()
    candidates = _candidates(cfg)
    _check_objective(tune.objective, 2, [], defined=False)
    direction = tune.direction or objective_direction(tune.objective)
    study_data = _tune_data(cfg)
    val_data = study_data.data

    out = Path(out) if out is not None else cfg.output_dir()
    folder = out / "tune"
    url, field = _storage_url(cfg, folder, storage, workers)
    folder.mkdir(parents=True, exist_ok=True)

    with _optuna_logging():
        _switch_to_journal(cfg, folder, url, field)
        study = _open_study(cfg, url, field, direction, candidates, workers)
        _fail_dead_trials(study, url)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if workers > 1:
                _run_workers(cfg, study, url, folder, workers=workers, n_trials=n_trials, progress=progress)
            else:
                objective = _Objective(cfg, candidates, study_data, _this_worker())
                study.optimize(objective, n_trials=n_trials, catch=(FloatingPointError,), show_progress_bar=progress)

    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    _write_trials_csv(study, folder / "trials.csv")
    plots, notes = _write_plots(study, folder)
    best = study.best_trial if complete else None
    summary = {
        "study_name": study.study_name,
        "storage": _mask_url(url),
        "objective": tune.objective,
        "direction": direction,
        "best_value": None if best is None else best.value,
        "best_trial": None if best is None else best.number,
        "best_params": None if best is None else best.params,
        "best_mixer": None if best is None else best.user_attrs.get("mixer"),
        "n_trials": len(trials),
        "trials_by_state": dict(sorted(states.items())),
        "seeds": list(tune.seeds),
        "val_fraction": tune.val_fraction,
        "train_size": len(val_data.train),
        "val_size": len(val_data.test),
        "best_config": None if best is None else "best.yaml",
        "plots": plots,
        "notes": notes,
    }
    tmp = folder / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(folder / "summary.json")
    if best is None:
        raise MixupError(
            f"tune: no trial of study {study.study_name!r} has completed ({dict(states)}); see {folder / 'trials.csv'}"
        )
    spec = best.user_attrs.get("mixer")
    if spec is None:  # a trial written by something else than mixup tune
        raise MixupError(f"tune: the best trial #{best.number} of study {study.study_name!r} has no mixer config")
    path = folder / "best.yaml"
    header = (
        f"# Written by `mixup tune` from Optuna study {study.study_name!r}: best of {len(complete)} completed trials,\n"
        f"# trial #{best.number}, mean {tune.objective} = {best.value:.6g} ({direction}) over seeds "
        f"{list(tune.seeds)}\n# on {tune.val_fraction:g} of the training split held out. Run: mixup compare {path}\n"
    )
    path.write_text(header + yaml.safe_dump(_best_config(cfg, spec), sort_keys=False))
    return path
