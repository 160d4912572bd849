"""The ``mixup init``, ``compare``, ``status``, ``tune``, ``report`` and ``audit`` commands."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from mixup_core import ConfigError, load_config, one_line

from ._config import StudyConfig, load_study_config

__all__ = ["add_commands", "apply_overrides", "read_study"]


def apply_overrides(raw: dict[str, Any], items: list[str] | None) -> dict[str, Any]:
    """Apply ``KEY.PATH=VALUE`` overrides (YAML values) to a raw config mapping.

    Examples:
        >>> apply_overrides({"train": {"epochs": 5}}, ["train.epochs=1", "seeds=[0, 1]"])
        {'train': {'epochs': 1}, 'seeds': [0, 1]}
    """
    out = copy.deepcopy(raw)
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes KEY.PATH=VALUE, got {item!r}")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a section")
            node = child
        try:
            node[parts[-1]] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key.strip()}: not a YAML value: {one_line(exc)} (got {value!r})") from None
    return out


def read_study(path: str | Path, overrides: list[str] | None = None) -> StudyConfig:
    """Load a study config file with ``--set`` overrides, validated and with names resolved."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    return load_study_config(apply_overrides(load_config(p), overrides))


def _int_list(text: str | None) -> list[int] | None:
    if not text:
        return None
    from ._config import SEED_LIMIT

    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds: comma-separated integers (got {text!r})") from None
    bad = [s for s in seeds if not 0 <= s < SEED_LIMIT]
    if bad or not seeds:
        raise ConfigError(f"--seeds: integers in [0, 2**32) (got {text!r})")
    return seeds


def _devices(text: str | None) -> list[str] | None:
    if not text:
        return None
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices or any(not d.isdigit() and not d.startswith(("GPU-", "MIG-")) for d in devices):
        raise ConfigError(f"--devices: comma-separated CUDA device indices or UUIDs, e.g. 0,1 (got {text!r})")
    return devices


def _launcher(args: argparse.Namespace) -> Any:
    slurm_only = {"--partition": args.partition, "--gpus-per-task": args.gpus_per_task,
                  "--cpus-per-task": args.cpus_per_task, "--time": args.time,
                  "--array-parallelism": args.array_parallelism}
    if args.launcher == "local":
        given = [k for k, v in slurm_only.items() if v is not None] + (["--no-wait"] if args.no_wait else [])
        if given:
            raise ConfigError(f"{given[0]}: only with --launcher slurm (got {given[0]} without it)")
        return None
    from ._workers import SlurmLauncher

    for name, value in slurm_only.items():
        if name != "--partition" and value is not None and value < (0 if name == "--gpus-per-task" else 1):
            raise ConfigError(f"{name}: must be >= {0 if name == '--gpus-per-task' else 1} (got {value})")
    return SlurmLauncher(partition=args.partition, gpus_per_task=args.gpus_per_task or 0,
                         cpus_per_task=args.cpus_per_task, time_min=args.time or 60,
                         array_parallelism=args.array_parallelism,
                         cluster="slurm" if args.launcher == "slurm" else "local", wait=not args.no_wait)


def _is_data_path(path: Path) -> bool:
    """A data folder or table for ``mixup compare PATH`` (not a config file, not a study folder)."""
    from mixup_core.data import TABLE_SUFFIXES

    if path.is_dir():
        return not (path / "study.json").is_file()
    return path.suffix.lower() in TABLE_SUFFIXES


def _compare_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` plus the shortcuts ``--budget`` and ``--critical`` as overrides."""
    items = list(args.set or [])
    if args.budget:
        items.append(f"train.budget={json.dumps(args.budget)}")
    if args.critical:
        names = [c.strip() for c in args.critical.split(",") if c.strip()]
        if not names:
            raise ConfigError(f"--critical: comma-separated class names (got {args.critical!r})")
        items.append(f"critical.classes={json.dumps(names)}")
    return items


def _study_from_data(args: argparse.Namespace) -> tuple[StudyConfig, Path, str]:
    """``mixup compare PATH``: the study ``mixup init`` would write for PATH, its folder, and its YAML text."""
    from ._init import detect_data, render_study, study_mapping, study_name

    source = Path(args.config).expanduser()
    guess = detect_data(source)
    name = args.name or study_name(source.resolve())
    out = Path(args.out) if args.out else Path("runs") / name
    raw = apply_overrides({**study_mapping(guess, name=name), "output": str(out)}, _compare_overrides(args))
    cfg = load_study_config(raw)
    return cfg, out, render_study(raw, guess, writer=f"mixup compare {args.config}")


def _more_seeds(cfg: StudyConfig, out: Path, n: int) -> list[int]:
    """The stored study's seeds and the config's, then ``n`` new ones (the next unused integers)."""
    record = _study_record(out)
    if not record:
        raise ConfigError(f"--more-seeds: {out} holds no study yet; run `mixup compare` first (got {str(out)!r})")
    have = list(dict.fromkeys([*record.get("config", {}).get("seeds", []), *cfg.seeds]))
    new: list[int] = []
    s = 0
    while len(new) < n:
        if s not in have:
            new.append(s)
        s += 1
    return [*have, *new]


def _cmd_compare(args: argparse.Namespace) -> int:
    from ._runner import FailedRunsError, run_compare

    source = Path(args.config)
    text = None
    if _is_data_path(source):
        cfg, out, text = _study_from_data(args)
    else:
        if source.is_dir():  # a study folder: the config mixup compare PATH kept in it
            source = source / "study.yaml"
            if not source.is_file():
                raise ConfigError(f"config: {args.config} is a study folder without study.yaml; give its config file "
                                  f"(got {args.config!r})")
        cfg = read_study(source, _compare_overrides(args))
        out = Path(args.out) if args.out else cfg.output_dir()
    seeds = _int_list(args.seeds)
    if args.more_seeds is not None:
        if args.more_seeds < 1:
            raise ConfigError(f"--more-seeds: a positive number of seeds to add (got {args.more_seeds})")
        if seeds:
            raise ConfigError(f"--more-seeds: give it or --seeds, not both (got --seeds {args.seeds})")
        cfg = cfg.model_copy(update={"seeds": _more_seeds(cfg, out, args.more_seeds)})
    arms = [a.strip() for a in args.arms.split(",")] if args.arms else None
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: at least 1 (got {args.workers})")
    if args.stale_after is not None and args.stale_after <= 0:
        raise ConfigError(f"--stale-after: a number of seconds > 0 (got {args.stale_after})")
    launcher = _launcher(args)
    if args.worker and args.fresh:
        raise ConfigError("--fresh: a worker never deletes runs; run --fresh once without --worker, then the workers "
                          "(got --fresh with --worker)")
    kwargs: dict[str, Any] = {} if args.stale_after is None else {"stale_after": args.stale_after}
    failure = None
    try:
        out = run_compare(cfg, out=out, arms=arms, seeds=seeds, resume=not args.fresh,
                          progress=not args.quiet and not args.worker, workers=args.workers or 0,
                          devices=_devices(args.devices), launcher=launcher, worker=args.worker, config_text=text,
                          **kwargs)
    except FailedRunsError as exc:
        out, failure = exc.out, exc
    if args.worker or (launcher is not None and not launcher.wait):
        if launcher is not None and not args.quiet:
            print(f"submitted; follow with: mixup status {out}; then: mixup report {out}")
    elif (out / "report.md").exists():
        print(out / "report.md")
        if not args.quiet:
            from ._report import headline_lines, verdict_lines

            for line in headline_lines(out) or verdict_lines(out):
                print(line)
    if failure is not None:
        print(f"mixup: error: {one_line(failure)}", file=sys.stderr)
        return 1
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from ._store import DEFAULT_STALE_AFTER, study_status
    from ._workers import worker_records

    folder = Path(args.folder)
    states = study_status(folder, stale_after=args.stale_after or DEFAULT_STALE_AFTER)
    counts = {k: sum(s.state == k for s in states) for k in ("finished", "running", "stale", "failed", "pending")}
    if args.json:
        print(json.dumps({"folder": str(folder), "counts": counts, "runs": [s.to_json() for s in states],
                          "workers": worker_records(folder)}, indent=2))
        return 0
    print(f"{folder}: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + f" of {len(states)} runs")
    for s in states:
        if s.state == "finished" and not args.all:
            continue
        line = f"  {s.arm} seed {s.seed}: {s.state}"
        if s.state in ("running", "stale"):
            where = s.worker or {}
            line += f" (epoch {s.epoch or 0}/{s.epochs or '?'}" + (f", {where.get('host')} pid {where.get('pid')}"
                                                                     if where.get("host") else "")
            line += f", last heartbeat {s.heartbeat_age:.0f} s ago)"
        elif s.state == "failed":
            line += f": {s.error}"
        print(line)
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from ._tune import run_tune

    cfg = read_study(args.config, args.set)
    result = run_tune(cfg, out=Path(args.out) if args.out else None, n_trials=args.trials, storage=args.storage,
                      progress=not args.quiet, workers=1 if args.workers is None else args.workers)
    print(result)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ._report import write_report

    folder = Path(args.folder)
    if not (folder / "study.json").exists():
        raise ConfigError(f"folder: this is not a study folder (no study.json); run `mixup compare` first "
                          f"(got {str(folder)!r})")
    print(write_report(folder))
    return 0


def _study_record(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "study.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _cmd_audit(args: argparse.Namespace) -> int:
    from ._audit import find_audits, load_audit, summarise_audits, summary_lines
    from ._config import arm_folder_name

    kind, found = find_audits(args.path)
    first = next(iter(found.values()))[0]
    root = first.parents[3] if kind == "study" else first.parent  # the study folder, or the run's folder
    record = _study_record(root if kind == "study" else first.parents[3])
    summaries = [summarise_audits([load_audit(f) for f in files], num_classes=record.get("num_classes")) for files in
                 found.values()]
    k = summaries[0].class_pairs.shape[0]
    names = [str(n) for n in record.get("class_names", [])]
    names = names if len(names) == k else [str(i) for i in range(k)]
    plots: dict[str, str] = {}
    if not args.no_plots:
        from ._plots import plot_class_pairs

        where = Path(args.plots) if args.plots else (root / "plots" if kind == "study" else root)
        for s in summaries:
            if s.rows:
                name = f"audit-{arm_folder_name(s.arm) or 'arm'}.png" if kind == "study" else "audit-pairs.png"
                critical = record.get("critical_classes", [])
                plots[s.arm] = str(plot_class_pairs(s.class_pairs, names, where / name, title=s.arm, critical=critical))
    if args.json:
        print(json.dumps({"kind": kind, "path": str(args.path), "class_names": names,
                          "arms": [s.to_json() for s in summaries], "plots": plots}, indent=2))
        return 0
    for s in summaries:
        print("\n".join(summary_lines(s, names)))
        if s.arm in plots:
            print(f"  heat-map: {plots[s.arm]}")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from ._init import init_study

    written = init_study(args.path, out=args.out, name=args.name, force=args.force)
    print(written)
    if not args.quiet:
        print(f"run it with: mixup compare {written}")
    return 0


def add_commands(sub: Any) -> None:
    """Add ``init``, ``compare``, ``status``, ``tune``, ``report`` and ``audit`` to the ``mixup`` sub-parsers."""
    p = sub.add_parser("init", help="write a ready study config for a data folder or table",
                       description="Recognise the data at PATH (class folders of images or audio, a manifest, a text "
                                   "or tabular table, a graph data set) and write a study config for mixup compare.")
    p.add_argument("path", help="a data folder or table")
    p.add_argument("--out", default=None, help="the config file to write (default: <name>.yaml here)")
    p.add_argument("--name", default=None, help="the study's name (default: from PATH)")
    p.add_argument("--force", action="store_true", help="overwrite an existing config file")
    p.add_argument("--quiet", action="store_true", help="print only the written file")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("compare", help="A/B-test mixers against a baseline over seeds and write a report",
                       description="Train every arm x seed of a study config, then write report.md, report.json and "
                                   "plots. Given a data folder or table instead, infer the study as mixup init would, "
                                   "keep it as <study folder>/study.yaml and run it.")
    p.add_argument("config", help="study config (YAML, TOML or JSON), a study folder, or a data folder or table")
    p.add_argument("--out", default=None, help="study folder (default: the config's output, or runs/<name>)")
    p.add_argument("--name", default=None, help="the study's name when CONFIG is a data path (default: from the path)")
    p.add_argument("--critical", default=None, metavar="CLASS,CLASS",
                   help="critical classes by name, reported on their own (sets critical.classes)")
    p.add_argument("--budget", default=None, metavar="DURATION",
                   help="wall-clock budget such as 90s, 10m or 1h: plan the epochs to fit it (sets train.budget)")
    p.add_argument("--more-seeds", type=int, default=None, metavar="N",
                   help="add N new seeds to the stored study, keeping its finished runs")
    p.add_argument("--arms", default=None, help="comma-separated arm names to run (default: all)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds to run (default: the config's)")
    p.add_argument(
        "--set", action="append", metavar="KEY.PATH=VALUE", help="override a config value, e.g. train.epochs=1"
    )
    p.add_argument("--fresh", action="store_true", help="redo finished runs instead of resuming")
    p.add_argument("--quiet", action="store_true", help="no progress bar or verdict on the terminal")
    g = p.add_argument_group("workers", "train the runs in parallel; see the docs' 'Scaling a study' page")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="N worker processes on this machine (with --launcher slurm: N array tasks)")
    g.add_argument("--devices", default=None, metavar="0,1,...",
                   help="CUDA devices, one per worker in turn (default: every visible GPU when "
                        "train.device is not cpu)")
    g.add_argument("--worker", action="store_true",
                   help="be one worker of any launcher: claim and train runs until none is left; no report")
    g.add_argument("--stale-after", type=float, default=None, metavar="SECONDS",
                   help="take over a run whose claim has had no heartbeat for this long (default 300)")
    g.add_argument("--launcher", choices=("local", "slurm", "submitit-local"), default="local",
                   help="where the workers run: this machine (default), a Slurm job array through submitit, or "
                        "submitit's local executor (a dry run of the Slurm setup on this machine)")
    g.add_argument("--partition", default=None, help="Slurm partition (--launcher slurm)")
    g.add_argument("--gpus-per-task", type=int, default=None, metavar="G", help="GPUs per array task")
    g.add_argument("--cpus-per-task", type=int, default=None, metavar="C", help="CPU cores per array task")
    g.add_argument("--time", type=int, default=None, metavar="MINUTES", help="time limit per array task (default 60)")
    g.add_argument("--array-parallelism", type=int, default=None, metavar="K", help="at most K array tasks at once")
    g.add_argument("--no-wait", action="store_true", help="return once the array is submitted (no report)")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("status", help="finished, running, stale, failed and pending runs of a study folder",
                       description="Show where every run of a study folder stands, whatever launched its workers.")
    p.add_argument("folder", help="the study folder")
    p.add_argument("--all", action="store_true", help="list finished runs too")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--stale-after", type=float, default=None, metavar="SECONDS",
                   help="a claim without heartbeat for this long is stale (default 300)")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("tune", help="search mixer, alpha and probability with Optuna on a validation split",
                       description="Optuna study over the config's tune section; writes the best "
                                   "study config for compare.")
    p.add_argument("config", help="study config (YAML, TOML or JSON) with a tune section")
    p.add_argument(
        "--out", default=None, help="output folder (default: the config's output, or runs/<name>, plus /tune)"
    )
    p.add_argument("--trials", type=int, default=None,
                   help="trials to run now, all workers together (default: tune.n_trials)")
    p.add_argument("--storage", default=None,
                   help="Optuna storage: an RDB URL or journal:FILE (default: SQLite in the output folder, a journal "
                        "file there with --workers > 1)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="N worker processes sharing the study (each its own sampler seed)")
    p.add_argument("--set", action="append", metavar="KEY.PATH=VALUE", help="override a config value")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("report", help="rewrite the report of a study folder from its stored runs")
    p.add_argument("folder", help="the study folder")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("audit", help="what was mixed with what, how strongly, and how critical cases were kept",
                       description="Summarise the audit trail (audit.npz) of a run folder or of every run of a study "
                                   "folder: anchor shares, class pairs (a heat-map PNG), protection of critical cases.")
    p.add_argument("path", metavar="RUN_OR_STUDY", help="a run folder (runs/<arm>/seed-<s>) or a study folder")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plots", default=None, metavar="DIR",
                   help="where to write the heat-maps (default: the study's plots/, or the run folder)")
    p.add_argument("--no-plots", action="store_true", help="write no heat-map")
    p.set_defaults(func=_cmd_audit)
