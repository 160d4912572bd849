"""Train and evaluate every arm × seed of a study; store the runs so that studies resume and grow."""

from __future__ import annotations

import inspect
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from mixup_core import ConfigError, Mixer, TaskData, create_mixer, get_datasets, get_models, mixed_step, one_line

from ._audit import AUDIT_FILE, AuditRecorder, write_audit
from ._budget import prepare as prepare_budget
from ._budget import with_stored_epochs
from ._budget import write_outcome as write_budget
from ._config import ArmConfig, StudyConfig, arm_folder_name
from ._datacheck import CHECKS_FILE, run_checks
from ._noise import LABEL_NOISE_FILE, LabelNoise, add_label_noise, pop_label_noise

__all__ = [
    "RunResult",
    "StudyData",
    "arm_dir",
    "build_mixer",
    "build_model",
    "check_study_folder",
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
        label_noise: the corrupted training labels (``dataset.label_noise``), or ``None``.
    """

    data: TaskData
    critical_classes: list[int]
    critical_train: torch.Tensor | None = None
    label_noise: LabelNoise | None = None


@dataclass
class RunResult:
    """One trained and evaluated run.

    Args:
        arm: the arm's name.
        seed: the seed.
        probs: ``(N, C)`` softmax outputs on the evaluation split.
        labels: ``(N,)`` class indices of the evaluation split.
        metrics: the metrics of `mixup_lab.metrics.compute_metrics` plus run facts.
        history: per-epoch records (loss, seconds, validation log-loss when there is a validation split).
        checkpoints: model state dicts to store with the run (``{"last": ..., "best": ...}``, per
            ``train.checkpoint``).
        val_probs: ``(M, C)`` softmax outputs of the last epoch on the validation split (``train.val_fraction``),
            or ``None``; business measures choose their confidence threshold on them.
        val_labels: ``(M,)`` class indices of the validation split, or ``None``.
        audit: the arrays of the run's audit trail (`mixup_lab._audit`), or ``None`` when not recorded.
    """

    arm: str
    seed: int
    probs: np.ndarray
    labels: np.ndarray
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    checkpoints: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    val_probs: np.ndarray | None = None
    val_labels: np.ndarray | None = None
    audit: dict[str, np.ndarray] | None = None


def arm_dir(out: Path, arm: str) -> Path:
    """The folder of an arm's runs inside the study folder ``out`` (one-to-one: see `arm_folder_name`)."""
    return Path(out) / "runs" / (arm_folder_name(arm) or "arm")


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

    ``label_noise`` (with ``label_noise_kind`` and ``label_noise_seed``) is not passed to the loader: it
    corrupts that share of the training labels of any data set (`add_label_noise`); the test split is untouched.

    Raises:
        ConfigError: a loader parameter is wrong, the data are missing, or a critical class or
            example does not exist (each naming the config field).
    """
    info = get_datasets().get(cfg.dataset.name)
    loader = info.load()
    params, noise = pop_label_noise(cfg.dataset.params)
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
    record = None
    if noise is not None:
        data, record = add_label_noise(data, noise["rate"], kind=noise["kind"], seed=noise["seed"])
    critical = _resolve_classes(cfg, data)
    mask = None
    if cfg.critical.train_indices:
        n = len(data.train)
        bad = [i for i in cfg.critical.train_indices if not 0 <= i < n]
        if bad:
            raise ConfigError(f"critical.train_indices: {bad[:5]} out of range for a training split of {n} examples")
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.tensor(cfg.critical.train_indices)] = True
    return StudyData(data, critical, mask, record)


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


def build_model(cfg: StudyConfig, data: TaskData) -> nn.Module:
    """The study's model for ``data``, from its registered factory (weights from torch's global generator).

    Raises:
        ConfigError: the factory refuses the parameters, or returns something that is not an ``nn.Module``.
    """
    factory = get_models().get(cfg.model.name).load()
    try:
        model = factory(data, **cfg.model.params)
    except TypeError as exc:
        raise ConfigError(f"model ({cfg.model.name}): {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model.name: {cfg.model.name} returned {type(model).__name__}, not a torch.nn.Module")
    return model


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


def classifier_head(model: nn.Module) -> nn.Module | None:
    """The model's classifier head: the sub-module named by its ``mixup_classifier`` attribute (set by the
    ``timm:`` and ``torchvision:`` families), else timm's ``get_classifier()``, else an attribute
    ``classifier``, ``fc``, ``head`` or ``heads`` that holds parameters, else the last ``nn.Linear``;
    ``None`` when there is none."""
    named = getattr(model, "mixup_classifier", None)
    if isinstance(named, str):
        try:
            return model.get_submodule(named)
        except AttributeError:
            pass
    getter = getattr(model, "get_classifier", None)
    if callable(getter):
        head = getter()
        if isinstance(head, nn.Module) and any(True for _ in head.parameters()):
            return head
    for name in ("classifier", "fc", "head", "heads"):
        head = getattr(model, name, None)
        if isinstance(head, nn.Module) and any(True for _ in head.parameters()):
            return head
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def _optimizer(cfg: StudyConfig, model: nn.Module) -> torch.optim.Optimizer:
    t = cfg.train
    groups: list[dict[str, Any]]
    if t.freeze_backbone or t.head_lr is not None:
        head = classifier_head(model)
        if head is None:
            field_name = "freeze_backbone" if t.freeze_backbone else "head_lr"
            raise ConfigError(f"train.{field_name}: cannot find the classifier head of {type(model).__name__} (no "
                              f"get_classifier(), classifier, fc, head or nn.Linear) (got model {cfg.model.name!r})")
        head_ids = {id(p) for p in head.parameters()}
        backbone = [p for p in model.parameters() if id(p) not in head_ids]
        if t.freeze_backbone:
            for p in backbone:
                p.requires_grad_(False)
        groups = [{"params": [p for p in head.parameters() if p.requires_grad], "lr": t.head_lr or t.lr}]
        if not t.freeze_backbone:
            groups.append({"params": [p for p in backbone if p.requires_grad], "lr": t.lr})
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": t.lr}]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ConfigError(f"model ({cfg.model.name}): the model has no trainable parameters")
    if t.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=t.lr, momentum=0.9, nesterov=True, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.Adam(groups, lr=t.lr, weight_decay=t.weight_decay)


@torch.no_grad()
def _predict(
    model: nn.Module, data: TaskData, cfg: StudyConfig, device: torch.device, split: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    loader = DataLoader(_Indexed(data.test if split is None else split), batch_size=cfg.train.eval_batch_size, shuffle=False,
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
    audit: bool = True,
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
        audit: record the audit trail of every step (who was mixed with whom, the anchors' label shares).
    """
    from ._metrics import compute_metrics

    data = study.data
    device = _device(cfg.train.device)
    use_amp = cfg.train.amp and device.type == "cuda"
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    # -- a validation split carved from training (the same for every arm and seed) picks the best epoch
    train_map: torch.Tensor | None = None  # position in the study's training split of each kept example
    val_split = None
    if cfg.train.val_fraction is not None:
        held = split_validation(data, cfg.train.val_fraction, seed=0)
        train_map = torch.as_tensor(held.train.indices, dtype=torch.long)
        val_split = held.test
        data = replace(data, train=held.train)
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
    model = build_model(cfg, data).to(device)
    opt = _optimizer(cfg, model)
    n = len(data.train)
    bs = min(cfg.train.batch_size, n)
    loader = DataLoader(_Indexed(data.train), batch_size=bs, shuffle=True, drop_last=n % bs == 1,
                        generator=torch.Generator().manual_seed(seed), collate_fn=_Collate(data.collate_fn),
                        num_workers=cfg.train.workers, persistent_workers=cfg.train.workers > 0)
    total = max(1, cfg.train.epochs * len(loader))
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total) if cfg.train.schedule == "cosine" else None)
    mix_gen = torch.Generator().manual_seed(10_007 * seed + 1)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    trainable = [p for p in model.parameters() if p.requires_grad]
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    last_val: tuple[np.ndarray, np.ndarray] | None = None
    critical = torch.tensor(study.critical_classes, dtype=torch.long)
    history: list[dict[str, Any]] = []
    # -- audit trail (_audit): who was mixed with whom at every step, and the anchors' label weights
    recorder = AuditRecorder(mixer, arm=arm.name, seed=seed, mixer_config=arm.mixer_config(), num_classes=data.num_classes,
                             train_size=len(study.data.train), train_map=train_map, critical_classes=study.critical_classes,
                             critical_train=study.critical_train, protect=cfg.critical.protect) if audit else None
    start = time.perf_counter()
    for epoch in range(cfg.train.epochs):
        model.train()
        t0, loss_sum, count, correct, seen = time.perf_counter(), 0.0, 0, 0, 0
        for inputs, targets, idx in loader:
            if not (targets.is_floating_point() and targets.ndim == 2):  # float (B, C) soft targets pass unchanged
                targets = targets.reshape(-1).long()
            protected = None
            if (cfg.critical.protect and mixer is not None and targets.ndim == 1
                    and (len(critical) or study.critical_train is not None)):
                protected = torch.isin(targets, critical)
                if study.critical_train is not None:
                    protected |= study.critical_train[idx if train_map is None else train_map[idx]]
                protected = protected.to(device)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                step = mixed_step(model, _to(inputs, device), targets.to(device), mixer=mixer, generator=mix_gen,
                                  num_classes=data.num_classes, protected=protected)
                loss = step.loss(label_smoothing=cfg.train.label_smoothing)
            if recorder is not None:  # -- audit trail
                recorder.record(step, idx, targets, epoch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"arm {arm.name!r}, seed {seed}, epoch {epoch + 1}: the loss became {loss.item()}")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.train.grad_clip is not None:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(trainable, cfg.train.grad_clip)
            scaler.step(opt)
            scaler.update()
            if sched is not None:
                sched.step()
            loss_sum += float(loss.detach()) * len(targets)
            count += len(targets)
            if step.targets is None and targets.ndim == 1:  # unmixed steps: the running training accuracy
                correct += int((step.logits.detach().argmax(1).cpu() == targets).sum())
                seen += len(targets)
        record = {"epoch": epoch + 1, "train_loss": loss_sum / max(count, 1), "seconds": time.perf_counter() - t0}
        if seen:
            record["train_accuracy"] = correct / seen
        if val_split is not None:
            vp, vy = _predict(model, data, cfg, device, split=val_split)
            last_val = (vp, vy)
            record["val_nll"] = float(-np.mean(np.log(np.clip(vp[np.arange(len(vy)), vy], 1e-12, None))))
            if cfg.train.checkpoint in ("best", "both") and (best is None or record["val_nll"] < best[0]):
                best = (record["val_nll"], epoch + 1, _cpu_state(model))
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
                    "epochs": cfg.train.epochs, "device": str(device), "amp": use_amp, **_provenance(cfg)})
    checkpoints: dict[str, dict[str, torch.Tensor]] = {}
    if cfg.train.checkpoint in ("last", "both"):
        checkpoints["last"] = _cpu_state(model)
    if best is not None:
        checkpoints["best"] = best[2]
        metrics["best_epoch"] = best[1]
    val_probs, val_labels = (last_val[0].astype(np.float32), last_val[1].astype(np.int64)) if last_val else (None, None)
    return RunResult(arm.name, seed, probs.astype(np.float32), labels.astype(np.int64), metrics, history, checkpoints,
                     val_probs, val_labels, audit=recorder.arrays() if recorder is not None else None)


def _provenance(cfg: StudyConfig) -> dict[str, Any]:
    """What makes two runs of one config bit-identical or not: threads, versions, the setup."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for dist in ("torch", "mixup-core", "mixup-lab"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:  # pragma: no cover - an uninstalled checkout
            versions[dist] = None
    return {"threads": torch.get_num_threads(), "versions": versions, "setup_hash": cfg.setup_hash()}


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


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
    """Write a run's predictions, audit, history and metrics (metrics last: it marks the run finished)."""
    folder = arm_dir(out, result.arm) / f"seed-{result.seed}"
    folder.mkdir(parents=True, exist_ok=True)
    extra = {} if result.val_probs is None else {"val_probs": result.val_probs, "val_labels": result.val_labels}
    np.savez_compressed(folder / "predictions.npz", probs=result.probs, labels=result.labels, **extra)
    for name, state in result.checkpoints.items():  # load with torch.load(path, weights_only=True)
        torch.save(state, folder / f"{name}.pt.tmp")
        os.replace(folder / f"{name}.pt.tmp", folder / f"{name}.pt")
    if result.audit is not None:  # -- audit trail, written atomically
        write_audit(folder / AUDIT_FILE, result.audit)
    _write_json(folder / "history.json", result.history)
    metrics = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.metrics.items()}
    _write_json(folder / "metrics.json", metrics)
    return folder


def _finished(out: Path, arm: ArmConfig, seed: int) -> bool:
    return (arm_dir(out, arm.name) / f"seed-{seed}" / "metrics.json").exists()


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


def check_study_folder(out: Path, cfg: StudyConfig, arms: Sequence[ArmConfig]) -> None:
    """Refuse a call that would mix two configs under one name, before anything is written.

    The folder must be creatable and writable; a stored study must have the same setup (data, model,
    budget, critical cases); every arm that already has a record (``runs/<arm>/arm.json``, or the
    mixer stored by its finished runs) must have the same mixer, whatever seeds are asked for; and no
    new arm may take the folder of a stored arm with another name.

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
        if old.get("setup_hash") != cfg.setup_hash():
            changed = _differences({k: old.get("config", {}).get(k) for k in ("dataset", "model", "train", "critical")},
                                   cfg.model_dump(mode="json", include={"dataset", "model", "train", "critical"}), "")
            shown = "; ".join(c.lstrip(".") for c in changed[:4]) or f"setup {old.get('setup_hash')} → {cfg.setup_hash()}"
            raise ConfigError(f"--out: {out} holds a study with another setup, so its runs would not be comparable "
                              f"({shown}); use another output folder")
        stored = {arm_folder_name(str(a.get("name"))): str(a.get("name")) for a in old.get("config", {}).get("arms", [])}
        for arm in arms:
            other = stored.get(arm_folder_name(arm.name))
            if other is not None and other != arm.name:
                raise ConfigError(f"arms: arm {arm.name!r} would share the folder runs/{arm_folder_name(arm.name)} with "
                                  f"the stored arm {other!r}; rename it")
    for arm in arms:
        folder = arm_dir(out, arm.name)
        record = folder / "arm.json"
        if record.exists():
            before = json.loads(record.read_text(encoding="utf-8")).get("mixer")
        else:  # folders written before arm records existed: the mixer their finished runs stored
            done = sorted(folder.glob("seed-*/metrics.json"))
            if not done:
                continue
            before = json.loads(done[0].read_text(encoding="utf-8")).get("mixer")
        changes = _differences(before, arm.mixer_config(), f"arms.{arm.name}.mixer")
        if changes:
            raise ConfigError(f"{'; '.join(changes)}: arm {arm.name!r} already has runs with the stored config; one arm "
                              "keeps one config, so rename the arm or use another output folder")


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
    if study.data.test_groups is not None:  # the group of each test example, for breakdowns by group
        record["test_groups"] = [str(g) for g in study.data.test_groups]
    if study.label_noise is not None:  # which training labels are wrong, for audits of memorisation
        study.label_noise.write(out / LABEL_NOISE_FILE)
    if path.exists():  # same setup (check_study_folder); arms and seeds may grow: keep the union, in config order first
        old = json.loads(path.read_text(encoding="utf-8"))
        arms = {a["name"]: a for a in old["config"].get("arms", [])}
        arms.update({a["name"]: a for a in record["config"]["arms"]})
        record["config"]["arms"] = list(arms.values())
        record["config"]["seeds"] = sorted(set(old["config"].get("seeds", [])) | set(cfg.seeds))
    _write_json(path, record)


def _write_arm_records(out: Path, cfg: StudyConfig, arms: Sequence[ArmConfig]) -> None:
    for arm in arms:
        folder = arm_dir(out, arm.name)
        if not (folder / "arm.json").exists():
            folder.mkdir(parents=True, exist_ok=True)
            _write_json(folder / "arm.json", _arm_record(cfg, arm))


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
    config_text: str | None = None,
) -> Path:
    """Run every arm × seed of a study that is not finished yet, then write the report.

    The data checks (`mixup_lab._datacheck`) run before anything is written; with ``train.budget`` the
    epochs (and, when needed, the seeds) are planned to fit it and the runs stop before overrunning it
    (`mixup_lab._budget`).

    Args:
        cfg: the study.
        out: the study folder (default ``cfg.output_dir()``).
        arms: only these arms (names); default all.
        seeds: only these seeds; default the config's.
        resume: skip runs whose ``metrics.json`` exists (``False`` redoes them).
        progress: show a progress bar on stderr.
        report: write ``report.md``, ``report.json`` and the plots at the end.
        config_text: written as ``study.yaml`` in the study folder once every check has passed
            (``mixup compare PATH`` keeps the config it inferred there).

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
    # everything is checked before the folder is touched: a refused call changes no byte of it
    study = load_study_data(cfg)
    for arm in chosen:  # every mixer must accept this data set's batches before hours of training
        build_mixer(cfg, arm)
    _device(cfg.train.device)
    build_model(cfg, study.data)
    cfg.business.check_classes([str(c) for c in study.data.class_names])
    say = (lambda line: sys.stderr.write(f"mixup: {line}\n")) if progress else None
    findings = run_checks(cfg, study.data, len(run_seeds), announce=say)
    if cfg.train.budget is not None:
        cfg = with_stored_epochs(cfg, out)
    check_study_folder(out, cfg, chosen)
    clock = None
    if cfg.train.budget is not None:  # -- time budget: calibrate, plan the epochs, admit runs while they fit
        done = {(a.name, s) for s in run_seeds for a in chosen if resume and _finished(out, a, s)}
        cfg, run_seeds, clock = prepare_budget(cfg, study, out, chosen, run_seeds, finished=done, announce=say)
    try:
        _write_study(out, cfg, study)
        _write_arm_records(out, cfg, chosen)
        _write_json(out / CHECKS_FILE, [f.to_json() for f in findings])
        if config_text is not None:
            (out / "study.yaml").write_text(config_text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out: cannot create or write the study folder ({exc.strerror}) (got {str(out)!r})") from None
    todo = [(arm, s) for s in run_seeds for arm in chosen if not (resume and _finished(out, arm, s))]
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"mixup compare {cfg.name}", unit="run", file=sys.stderr)
    done = 0
    try:
        for i, (arm, seed) in enumerate(todo):
            if clock is not None and not clock.admit([(a.name, s) for a, s in todo], i):
                break  # the budget would be overrun: the report is labelled partial
            started = time.perf_counter()
            result = train_and_evaluate(cfg, arm, seed, study, progress=bar)
            save_run(out, result)
            if clock is not None:
                clock.record(arm.name, seed, time.perf_counter() - started)
            done += 1
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"{done} of {len(todo)} runs finished and kept in {out}; run the same command to "
                                "resume") from None
    finally:
        if bar is not None:
            bar.close()
        if clock is not None:
            write_budget(out, clock)
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
