"""One run of a study: load the data, build the arm's mixer and the model, train one seed, evaluate.

Nothing here knows about the study folder (`mixup_lab._store`) or about workers (`mixup_lab._workers`):
`train_and_evaluate` returns a `RunResult` in memory, and its ``epoch_callback`` is how callers prune
(``mixup tune``) or beat a claim's heart (a worker).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from mixup_core import ConfigError, Mixer, TaskData, create_mixer, get_datasets, get_models, mixed_step

from ._audit import AuditRecorder
from ._config import ArmConfig, StudyConfig
from ._noise import LabelNoise, add_label_noise, pop_label_noise

__all__ = [
    "EpochCallback",
    "RunResult",
    "StudyData",
    "build_mixer",
    "build_model",
    "classifier_head",
    "load_study_data",
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
        raise ConfigError(
            f"critical.classes[{i}]: no class {c!r} in data set {cfg.dataset.name!r}{hint} Classes: {names}"
        )
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

        if "protect" in {f.name for f in dataclasses.fields(probe)}:
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
    loader = DataLoader(
        _Indexed(data.test if split is None else split),
        batch_size=cfg.train.eval_batch_size,
        shuffle=False,
        collate_fn=_Collate(data.collate_fn),
        num_workers=cfg.train.workers,
    )
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
    recorder = (
        AuditRecorder(
            mixer,
            arm=arm.name,
            seed=seed,
            mixer_config=arm.mixer_config(),
            num_classes=data.num_classes,
            train_size=len(study.data.train),
            train_map=train_map,
            critical_classes=study.critical_classes,
            critical_train=study.critical_train,
            protect=cfg.critical.protect,
        )
        if audit
        else None
    )
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
                raise FloatingPointError(
                    f"arm {arm.name!r}, seed {seed}, epoch {epoch + 1}: the loss became {loss.item()}"
                )
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
            progress.set_postfix_str(
                f"{arm.name} seed {seed} epoch {epoch + 1}/{cfg.train.epochs} loss {record['train_loss']:.3f}"
            )
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

    versions: dict[str, str | None] = {}
    for dist in ("torch", "mixup-core", "mixup-lab"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:  # pragma: no cover - an uninstalled checkout
            versions[dist] = None
    return {"threads": torch.get_num_threads(), "versions": versions, "setup_hash": cfg.setup_hash()}


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
