"""Train and evaluate every arm × seed of a study; store the runs so that studies resume and grow."""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from mixup_core import ConfigError, Mixer, TaskData, create_mixer, get_datasets, get_models, mixed_step

from ._config import ArmConfig, StudyConfig

__all__ = [
    "RunResult",
    "StudyData",
    "arm_dir",
    "build_mixer",
    "load_study_data",
    "run_compare",
    "split_validation",
    "train_and_evaluate",
]

EpochCallback = Callable[[int, Callable[[], dict[str, Any]]], None]


@dataclass
class StudyData:
    """The loaded data set of a study, with its critical classes resolved to indices.

    Args:
        data: what the data-set loader returned.
        critical_classes: indices of the critical classes.
        critical_train: bool mask over the training split of critical examples (or ``None``).
    """

    data: TaskData
    critical_classes: list[int]
    critical_train: torch.Tensor | None = None


@dataclass
class RunResult:
    """One trained and evaluated run.

    Args:
        arm: the arm's name.
        seed: the seed.
        probs: ``(N, C)`` softmax outputs on the evaluation split.
        labels: ``(N,)`` class indices of the evaluation split.
        metrics: the metrics of `mixup_lab.metrics.compute_metrics` plus run facts.
        history: per-epoch records (loss, seconds).
    """

    arm: str
    seed: int
    probs: np.ndarray
    labels: np.ndarray
    metrics: dict[str, Any]
    history: list[dict[str, Any]]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "arm"


def arm_dir(out: Path, arm: str) -> Path:
    """The folder of an arm's runs inside the study folder ``out``."""
    return Path(out) / "runs" / _safe(arm)


def _resolve_classes(cfg: StudyConfig, data: TaskData) -> list[int]:
    import difflib

    names = [str(n) for n in data.class_names]
    out = []
    for i, c in enumerate(cfg.critical.classes):
        if isinstance(c, int):
            if not 0 <= c < data.num_classes:
                raise ConfigError(f"critical.classes[{i}]: class index {c} is out of range [0, {data.num_classes})")
            out.append(c)
            continue
        if c in names:
            out.append(names.index(c))
            continue
        lower = [n.lower() for n in names]
        if c.lower() in lower:
            out.append(lower.index(c.lower()))
            continue
        close = difflib.get_close_matches(c, names, n=2)
        hint = f"; did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
        raise ConfigError(f"critical.classes[{i}]: no class {c!r} in data set {cfg.dataset.name!r}{hint} Classes: {names}")
    return sorted(set(out))


def load_study_data(cfg: StudyConfig) -> StudyData:
    """Load the study's data set and resolve its critical classes and examples.

    A loader with a keyword parameter ``study_model`` also receives the study's ``model`` section
    (``{"name": ..., **params}``, unless the ``dataset`` section sets it): a text table is then
    tokenised with the model's own tokenizer, and the model's files are checked before anything is written.

    Raises:
        ConfigError: a loader parameter is wrong, the data are missing, or a critical class or
            example does not exist (each naming the config field).
    """
    info = get_datasets().get(cfg.dataset.name)
    loader = info.load()
    params = cfg.dataset.params
    try:
        wants_model = "study_model" in inspect.signature(loader).parameters
    except (TypeError, ValueError):  # a callable without a readable signature
        wants_model = False
    if wants_model:
        params.setdefault("study_model", {"name": cfg.model.name, **cfg.model.params})
    try:
        data = loader(**params)
    except TypeError as exc:
        raise ConfigError(f"dataset ({info.name}): {exc}") from exc
    except (FileNotFoundError, ImportError) as exc:
        raise ConfigError(f"dataset.name: {info.name} cannot be loaded: {exc}") from exc
    if not isinstance(data, TaskData):
        raise ConfigError(f"dataset loader {info.name} returned {type(data).__name__}, not a mixup_core.TaskData")
    critical = _resolve_classes(cfg, data)
    mask = None
    if cfg.critical.train_indices:
        n = len(data.train)
        bad = [i for i in cfg.critical.train_indices if not 0 <= i < n]
        if bad:
            raise ConfigError(f"critical.train_indices: {bad[:5]} out of range for a training split of {n} examples")
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.tensor(cfg.critical.train_indices)] = True
    return StudyData(data, critical, mask)


def split_validation(data: TaskData, fraction: float, seed: int = 0) -> TaskData:
    """The same task with a stratified ``fraction`` of the training split held out as its test split.

    Used by ``mixup tune`` so that the test split is never looked at while tuning.
    """
    labels = np.asarray([int(_item_label(data.train, i)) for i in range(len(data.train))])
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        val.extend(idx[: max(1, round(fraction * len(idx)))].tolist())
    val_set = set(val)
    train = [i for i in range(len(labels)) if i not in val_set]
    if not train:
        raise ConfigError(f"tune.val_fraction={fraction} leaves no training examples")
    return replace(data, train=Subset(data.train, train), test=Subset(data.train, sorted(val)))


def _item_label(ds: Any, i: int) -> Any:
    item = ds[i]
    label = item[1] if isinstance(item, (tuple, list)) else getattr(item, "y", None)
    if isinstance(label, torch.Tensor):
        label = label.reshape(-1)[0]
    return label


class _Indexed(Dataset[Any]):
    def __init__(self, base: Any) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        return self.base[i], i


class _Collate:  # a class, not a closure: DataLoader workers may be spawned, not forked
    """Collate ``(item, index)`` pairs into ``(inputs, targets, indices)`` with the data set's collate."""

    def __init__(self, base: Callable[[list[Any]], Any] | None) -> None:
        self.fn = base or default_collate

    def __call__(self, items: list[tuple[Any, int]]) -> tuple[Any, Any, torch.Tensor]:
        inputs, targets = self.fn([it for it, _ in items])
        return inputs, targets, torch.tensor([i for _, i in items])


def _to(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, Mapping):
        return {k: _to(v, device) for k, v in x.items()}
    if hasattr(x, "to") and callable(x.to):
        return x.to(device)
    return x


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: 'cuda' was asked for but torch sees no CUDA device; use 'cpu' or 'auto'")
    return torch.device(name)


def build_mixer(cfg: StudyConfig, arm: ArmConfig) -> Mixer | None:
    """The arm's mixer (``None`` for the baseline), with ``critical.protect_mode`` applied when protecting."""
    spec = arm.mixer_config()
    if spec is None:
        return None
    if cfg.critical.protect and "protect" not in spec:
        probe = create_mixer(spec)
        import dataclasses

        if "protect" in {f.name for f in dataclasses.fields(probe)}:  # type: ignore[arg-type]
            spec = {**spec, "protect": cfg.critical.protect_mode}
    return create_mixer(spec)


def _optimizer(cfg: StudyConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    t = cfg.train
    if t.optimizer == "sgd":
        return torch.optim.SGD(params, lr=t.lr, momentum=0.9, nesterov=True, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)


@torch.no_grad()
def _predict(model: nn.Module, data: TaskData, cfg: StudyConfig, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    loader = DataLoader(_Indexed(data.test), batch_size=cfg.train.eval_batch_size, shuffle=False,
                        collate_fn=_Collate(data.collate_fn), num_workers=cfg.train.workers)
    probs, labels = [], []
    for inputs, targets, _ in loader:
        step = mixed_step(model, _to(inputs, device), _to(targets, device), mixer=None, num_classes=data.num_classes)
        probs.append(torch.softmax(step.logits.float(), dim=1).cpu().double())
        labels.append(targets.reshape(-1).cpu().long())
    p = torch.cat(probs)
    p = p / p.sum(dim=1, keepdim=True)
    return p.numpy(), torch.cat(labels).numpy()


def train_and_evaluate(
    cfg: StudyConfig,
    arm: ArmConfig,
    seed: int,
    study: StudyData,
    *,
    progress: Any = None,
    epoch_callback: EpochCallback | None = None,
) -> RunResult:
    """Train the study's model with one arm's mixer and one seed, then evaluate on the test split.

    The seed fixes the model's initialisation (``torch.manual_seed`` before the factory), the
    order of the training data (the loader's generator) and the mixer's generator, so every arm
    of a seed starts from the same weights and sees the same batches.

    Args:
        cfg: the study.
        arm: the arm to train.
        seed: the seed.
        study: the loaded data (`load_study_data`).
        progress: a tqdm bar whose postfix shows the epoch and loss, or ``None``.
        epoch_callback: called after every epoch as ``callback(epoch, evaluate)``, where
            ``evaluate()`` returns the metrics on the evaluation split (``mixup tune`` prunes with it).
    """
    from ._metrics import compute_metrics

    data = study.data
    device = _device(cfg.train.device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    mixer = build_mixer(cfg, arm)
    # -- data-set level arms (mixer class with cost == "dataset", e.g. graph:gmixup): the mixer augments the
    # training split once (generator seeded from the run seed), then the run trains without a batch mixer;
    # the augmented items may collate to float (B, C) soft targets, which F.cross_entropy takes as probabilities
    if mixer is not None and getattr(type(mixer), "cost", None) == "dataset":
        augment = getattr(mixer, "augment_task", None)
        if not callable(augment):
            raise ConfigError(f"arms: arm {arm.name!r}: the data-set level mixer {type(mixer).__name__} has no "
                              "augment_task(data, generator=...), so it cannot be an arm")
        data = augment(data, generator=torch.Generator().manual_seed(10_007 * seed + 2))
        mixer = None
    # -- end of data-set level arms
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    factory = get_models().get(cfg.model.name).load()
    try:
        model = factory(data, **cfg.model.params)
    except TypeError as exc:
        raise ConfigError(f"model ({cfg.model.name}): {exc}") from exc
    model = model.to(device)
    opt = _optimizer(cfg, model)
    n = len(data.train)
    bs = min(cfg.train.batch_size, n)
    loader = DataLoader(_Indexed(data.train), batch_size=bs, shuffle=True, drop_last=n % bs == 1,
                        generator=torch.Generator().manual_seed(seed), collate_fn=_Collate(data.collate_fn),
                        num_workers=cfg.train.workers, persistent_workers=cfg.train.workers > 0)
    total = max(1, cfg.train.epochs * len(loader))
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total) if cfg.train.schedule == "cosine" else None)
    mix_gen = torch.Generator().manual_seed(10_007 * seed + 1)
    critical = torch.tensor(study.critical_classes, dtype=torch.long)
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    for epoch in range(cfg.train.epochs):
        model.train()
        t0, loss_sum, count = time.perf_counter(), 0.0, 0
        for inputs, targets, idx in loader:
            if not (targets.is_floating_point() and targets.ndim == 2):  # float (B, C) soft targets pass unchanged
                targets = targets.reshape(-1).long()
            protected = None
            if (cfg.critical.protect and mixer is not None and targets.ndim == 1
                    and (len(critical) or study.critical_train is not None)):
                protected = torch.isin(targets, critical)
                if study.critical_train is not None:
                    protected |= study.critical_train[idx]
                protected = protected.to(device)
            step = mixed_step(model, _to(inputs, device), targets.to(device), mixer=mixer, generator=mix_gen,
                              num_classes=data.num_classes, protected=protected)
            loss = step.loss(label_smoothing=cfg.train.label_smoothing)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"arm {arm.name!r}, seed {seed}, epoch {epoch + 1}: the loss became {loss.item()}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += float(loss.detach()) * len(targets)
            count += len(targets)
        record = {"epoch": epoch + 1, "train_loss": loss_sum / max(count, 1), "seconds": time.perf_counter() - t0}
        history.append(record)
        if progress is not None:
            progress.set_postfix_str(f"{arm.name} seed {seed} epoch {epoch + 1}/{cfg.train.epochs} loss {record['train_loss']:.3f}")
        if epoch_callback is not None:
            def evaluate() -> dict[str, Any]:
                p, y = _predict(model, data, cfg, device)
                return compute_metrics(p, y, critical_classes=study.critical_classes)

            epoch_callback(epoch + 1, evaluate)
    train_seconds = time.perf_counter() - start
    probs, labels = _predict(model, data, cfg, device)
    metrics = compute_metrics(probs, labels, critical_classes=study.critical_classes)
    metrics.update({"arm": arm.name, "seed": seed, "mixer": arm.mixer_config(), "train_seconds": train_seconds,
                    "epochs": cfg.train.epochs})
    return RunResult(arm.name, seed, probs.astype(np.float32), labels.astype(np.int64), metrics, history)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_run(out: Path, result: RunResult) -> Path:
    """Write a run's predictions, history and metrics (metrics last: it marks the run finished)."""
    folder = arm_dir(out, result.arm) / f"seed-{result.seed}"
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "predictions.npz", probs=result.probs, labels=result.labels)
    _write_json(folder / "history.json", result.history)
    metrics = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.metrics.items()}
    _write_json(folder / "metrics.json", metrics)
    return folder


def _finished(out: Path, arm: ArmConfig, seed: int) -> bool:
    path = arm_dir(out, arm.name) / f"seed-{seed}" / "metrics.json"
    if not path.exists():
        return False
    stored = json.loads(path.read_text()).get("mixer")
    if stored != arm.mixer_config():
        raise ConfigError(
            f"arms: arm {arm.name!r} already has runs in {path.parent.parent} with mixer {stored!r}, but the config now "
            f"says {arm.mixer_config()!r}; rename the arm or use another output folder"
        )
    return True


def _write_study(out: Path, cfg: StudyConfig, study: StudyData) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "study.json"
    record = {
        "config": cfg.model_dump(mode="json"),
        "setup_hash": cfg.setup_hash(),
        "class_names": [str(c) for c in study.data.class_names],
        "num_classes": study.data.num_classes,
        "critical_classes": study.critical_classes,
        "dataset_info": study.data.info,
        "train_size": len(study.data.train),
        "test_size": len(study.data.test),
    }
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("setup_hash") != record["setup_hash"]:
            raise ConfigError(
                f"output: {out} holds a study with another data set, model, budget or critical cases "
                f"(setup {old.get('setup_hash')} vs {record['setup_hash']}); runs would not be comparable. "
                "Use another output folder."
            )
        # arms and seeds may grow: keep the union, in config order first
        arms = {a["name"]: a for a in old["config"].get("arms", [])}
        arms.update({a["name"]: a for a in record["config"]["arms"]})
        record["config"]["arms"] = list(arms.values())
        record["config"]["seeds"] = sorted(set(old["config"].get("seeds", [])) | set(cfg.seeds))
    _write_json(path, record)


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


def run_compare(
    cfg: StudyConfig,
    *,
    out: Path | None = None,
    arms: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    resume: bool = True,
    progress: bool = True,
    report: bool = True,
) -> Path:
    """Run every arm × seed of a study that is not finished yet, then write the report.

    Args:
        cfg: the study.
        out: the study folder (default ``cfg.output_dir()``).
        arms: only these arms (names); default all.
        seeds: only these seeds; default the config's.
        resume: skip runs whose ``metrics.json`` exists (``False`` redoes them).
        progress: show a progress bar on stderr.
        report: write ``report.md``, ``report.json`` and the plots at the end.

    Returns:
        The study folder.
    """
    out = Path(out) if out is not None else cfg.output_dir()
    chosen = list(cfg.arms)
    if arms:
        names = {a.name for a in cfg.arms}
        missing = [a for a in arms if a not in names]
        if missing:
            raise ConfigError(f"--arms: no arm named {missing}; the config has {sorted(names)}")
        chosen = [a for a in cfg.arms if a.name in set(arms)]
    run_seeds = list(seeds) if seeds else list(cfg.seeds)
    study = load_study_data(cfg)
    for arm in chosen:  # every mixer must accept this data set's batches before hours of training
        build_mixer(cfg, arm)
    _write_study(out, cfg, study)
    todo = [(arm, s) for s in run_seeds for arm in chosen if not (resume and _finished(out, arm, s))]
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"mixup compare {cfg.name}", unit="run", file=sys.stderr)
    try:
        for arm, seed in todo:
            result = train_and_evaluate(cfg, arm, seed, study, progress=bar)
            save_run(out, result)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if report:
        from ._plots import plot_example_mixes
        from ._report import write_report

        examples = _example_mixes(cfg, study, chosen)
        if examples:
            (out / "plots").mkdir(exist_ok=True)
            plot_example_mixes(examples, [str(c) for c in study.data.class_names], out / "plots" / "examples.png",
                               modality=study.data.modality)
        write_report(out)
    return out
