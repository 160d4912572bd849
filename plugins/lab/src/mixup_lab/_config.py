"""The study config of ``mixup compare`` / ``mixup tune``, validated before anything trains."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

from mixup_core import ConfigError, create_mixer, get_datasets, get_models, load_config

__all__ = [
    "ArmConfig",
    "BusinessConfig",
    "ChecksConfig",
    "ComponentConfig",
    "CriticalConfig",
    "StudyConfig",
    "TrainConfig",
    "TuneConfig",
    "load_study_config",
]


class _Strict(BaseModel):
    # ints are ints (``true`` is not 1 epoch) and floats are finite (``.inf`` is not a learning rate)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


SEED_LIMIT = 2**32
"""Seeds are integers in [0, 2**32): every generator of a run is seeded from the seed."""


class ComponentConfig(BaseModel):
    """A data set or model by registered name, with the parameters of its loader or factory.

    Args:
        name: a name listed by ``mixup datasets`` (bare or ``plugin:name``).
        **params: any other key is passed to the loader or factory.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str

    @property
    def params(self) -> dict[str, Any]:
        """The parameters other than ``name``."""
        return dict(self.model_extra or {})


class TrainConfig(_Strict):
    """The training budget and optimiser, the same for every arm.

    Args:
        epochs: passes over the training set.
        batch_size: examples per step.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9, Nesterov).
        lr: learning rate (cosine-annealed to 0 over the run when ``schedule="cosine"``).
        weight_decay: L2 weight decay.
        schedule: ``"cosine"`` or ``"constant"``.
        label_smoothing: applied to every arm's loss (0 by default).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available).
        threads: torch CPU threads (``None``: leave torch's setting).
        eval_batch_size: batch size of evaluation.
        workers: DataLoader worker processes that read and decode the data (0: in the training process);
            data sets streamed from disk (``image:folder``, ``audio:folder``) gain from 2 or more.
        freeze_backbone: train only the model's classifier head (fine-tuning a pretrained model); the
            head is timm's ``get_classifier()``, else an attribute ``classifier``, ``fc``, ``head`` or
            ``heads``, else the last ``nn.Linear``.
        head_lr: learning rate of the classifier head (default: ``lr``), e.g. a larger one than the
            pretrained backbone's.
        grad_clip: clip the global gradient norm to this value before each step (``None``: no clipping).
        amp: automatic mixed precision (float16 autocast with gradient scaling) on CUDA; with
            ``device: auto`` on a machine without CUDA the runs train in float32 (recorded per run).
        checkpoint: save the model's weights per run: ``"last"`` (after the last epoch), ``"best"``
            (the epoch with the lowest validation log-loss; needs ``val_fraction``), ``"both"`` or
            ``"none"``. The reported metrics are always those of the last epoch.
        val_fraction: share of the training split held out (stratified, the same for every arm and
            seed) to pick the best epoch; ``None``: no validation split.
        budget: a wall-clock budget (``"90s"``, ``"10m"``, ``"1h30m"`` or seconds): ``epochs`` is then planned
            on this machine from a short calibration so that every arm × seed fits, and the study stops
            with a partial report rather than overrun (`mixup_lab._budget`); ``None``: train ``epochs``.
    """

    epochs: StrictInt = Field(5, ge=1, le=100_000)
    batch_size: StrictInt = Field(128, ge=1, le=1_000_000)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0, le=10)
    schedule: Literal["cosine", "constant"] = "cosine"
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    threads: StrictInt | None = Field(None, ge=1, le=1024)
    eval_batch_size: StrictInt = Field(512, ge=1, le=1_000_000)
    workers: StrictInt = Field(0, ge=0, le=64)
    freeze_backbone: bool = False
    head_lr: float | None = Field(None, gt=0, le=10)
    grad_clip: float | None = Field(None, gt=0)
    amp: bool = False
    checkpoint: Literal["none", "last", "best", "both"] = "none"
    val_fraction: float | None = Field(None, gt=0, lt=1)
    budget: str | float | None = None

    @field_validator("budget")
    @classmethod
    def _budget(cls, v: str | float | None) -> str | float | None:
        if v is not None:
            from ._budget import parse_budget

            try:
                parse_budget(v)
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix("train.budget: ")) from None
        return v

    @model_validator(mode="after")
    def _best_needs_validation(self) -> TrainConfig:
        if self.checkpoint in ("best", "both") and self.val_fraction is None:
            raise ValueError(f"checkpoint {self.checkpoint!r} picks the best epoch on a validation split: set "
                             "train.val_fraction (e.g. 0.1)")
        if self.amp and self.device == "cpu":
            raise ValueError("amp: automatic mixed precision runs on CUDA; set train.device to 'cuda' or 'auto', "
                             "or amp to false")
        return self


# train options added after study folders existed: at their defaults they leave the setup hash unchanged
_LATER_TRAIN_DEFAULTS: dict[str, Any] = {
    "freeze_backbone": False, "head_lr": None, "grad_clip": None, "amp": False, "checkpoint": "none",
    "val_fraction": None,
}


def arm_folder_name(arm: str) -> str:
    """The folder of an arm's runs under ``runs/``: its name with every run of other characters as ``_``.

    Two arms whose folder names collide are refused by the config, so the mapping is one-to-one.

    Examples:
        >>> arm_folder_name("mixup α=0.2"), arm_folder_name("..")
        ('mixup_0.2', '')
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", arm).strip("._")


class ArmConfig(_Strict):
    """One arm of the comparison: the baseline (no mixer) or a mixer config.

    Args:
        name: the arm's label in reports (unique).
        mixer: a mixer config (``{"name": "image:cutmix", "alpha": 1.0}``), or ``None`` for the baseline.
    """

    name: str = Field(min_length=1)
    mixer: dict[str, Any] | str | None = None

    @property
    def is_baseline(self) -> bool:
        """True for the arm without a mixer."""
        return self.mixer is None

    def mixer_config(self) -> dict[str, Any] | None:
        """The mixer config as a mapping (a bare string becomes ``{"name": ...}``)."""
        if self.mixer is None:
            return None
        return {"name": self.mixer} if isinstance(self.mixer, str) else dict(self.mixer)


class CriticalConfig(_Strict):
    """Cases that must not be diluted, reported separately.

    Args:
        classes: critical classes, by name or index; their recall is reported on its own.
        train_indices: training examples (indices into the training split) treated as critical.
        protect: pass the critical classes and examples to every mixer as protected cases
            (``protected_classes`` and a ``protected`` mask), so they are never diluted below the
            mixer's ``protect_floor`` (or left unmixed with ``protect_mode="exclude"``).
        protect_mode: core's ``protect`` option: ``"floor"`` or ``"exclude"``.
    """

    classes: list[str | int] = Field(default_factory=list)
    train_indices: list[int] = Field(default_factory=list)
    protect: bool = False
    protect_mode: Literal["floor", "exclude"] = "floor"


class ChecksConfig(_Strict):
    """The data checks run before anything trains (`mixup_lab._datacheck`).

    Args:
        enabled: run them (``false`` skips every check).
        on_error: ``"stop"`` (default): an error (the same file in train and test, a class without test
            or training examples, a group in both splits) stops the study before it writes anything;
            ``"warn"`` reports it and trains anyway.
        perceptual: also compare images by a 64-bit difference hash, to catch re-encoded or rescaled copies.
        perceptual_distance: the most differing bits (of 64) for two images to count as near copies.
        imbalance_ratio: warn when the largest training class has this many times the smallest's examples.
    """

    enabled: bool = True
    on_error: Literal["stop", "warn"] = "stop"
    perceptual: bool = False
    perceptual_distance: StrictInt = Field(4, ge=0, le=32)
    imbalance_ratio: float = Field(10.0, gt=1)


class TuneConfig(_Strict):
    """The search space and objective of ``mixup tune``.

    Args:
        mixers: candidate mixer configs (each a mapping with ``name`` and fixed parameters).
        alpha: range ``[low, high]`` of α, searched on a log scale.
        p: range of the mixing probability, or ``None`` to keep each mixer's.
        modes: candidate ``mode`` values (``["batch", "sample"]``), or empty to keep the default.
        objective: the metric to optimise (a key of the metrics, e.g. ``"nll"``, ``"accuracy"``,
            ``"critical_recall"``).
        direction: ``"minimize"`` or ``"maximize"`` (default: by objective).
        n_trials: trials to run in this call.
        seeds: seeds per trial (the objective is their mean).
        val_fraction: share of the training split held out for the objective (the test split is
            never used while tuning).
        storage: an Optuna storage URL (default: SQLite in the output folder).
        study_name: the Optuna study name (default: the config's ``name``).
        pruner: ``"median"`` or ``"none"``.
    """

    mixers: list[dict[str, Any]] = Field(default_factory=lambda: [{"name": "mixup"}])
    alpha: tuple[float, float] = (0.1, 2.0)
    p: tuple[float, float] | None = None
    modes: list[Literal["batch", "sample"]] = Field(default_factory=list)
    objective: str = "nll"
    direction: Literal["minimize", "maximize"] | None = None
    n_trials: int = Field(20, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0])
    val_fraction: float = Field(0.2, gt=0, lt=1)
    storage: str | None = None
    study_name: str | None = None
    pruner: Literal["median", "none"] = "median"

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError(f"alpha must be [low, high] with 0 < low <= high, got {list(v)}")
        return v


class BusinessConfig(_Strict):
    """The decision's terms: what errors cost and how much work the model may take over alone.

    Args:
        cost_matrix: cost of each (true class, predicted class) pair: a list of rows in class order,
            or ``{true class name: {predicted class name: cost}}`` (unnamed errors cost ``error_cost``).
        error_cost: cost of an error the other fields do not price (default 1: the cost per 1,000
            cases is then the errors per 1,000).
        miss_cost: ``{class name: cost}`` of missing a case of that class (predicting anything else).
        false_alarm_cost: cost of predicting a critical class for a case of another class.
        target_accuracy: accuracy required on the cases the model decides alone (e.g. 0.99); the
            confidence threshold is chosen per run on the validation split (``train.val_fraction``),
            and the report gives the coverage and the cases per 1,000 left to a person on the test split.
        holm: adjust the p-values of every arm × metric comparison with Holm's step-down method
            (a verdict is then *better*/*worse* only when the adjusted p-value is below 0.05 too).
    """

    cost_matrix: list[list[float]] | dict[str, dict[str, float]] | None = None
    error_cost: float = Field(1.0, ge=0)
    miss_cost: dict[str, float] = Field(default_factory=dict)
    false_alarm_cost: float | None = Field(None, ge=0)
    target_accuracy: float | None = Field(None, gt=0, le=1)
    holm: bool = False

    @property
    def prices_errors(self) -> bool:
        """True when some error has a cost of its own (else the cost is the error count)."""
        return bool(self.cost_matrix is not None or self.miss_cost or self.false_alarm_cost is not None
                    or self.error_cost != 1.0)

    def check_classes(self, class_names: list[str]) -> None:
        """Every class named in the costs exists, and a full matrix has one row and column per class.

        Raises:
            ConfigError: naming the field and the class.
        """
        names = [str(n) for n in class_names]
        named: list[tuple[str, str]] = [(f"business.miss_cost.{k}", k) for k in self.miss_cost]
        if isinstance(self.cost_matrix, dict):
            for true, row in self.cost_matrix.items():
                named.append((f"business.cost_matrix.{true}", true))
                named += [(f"business.cost_matrix.{true}.{pred}", pred) for pred in row]
        for field_name, cls in named:
            if str(cls) not in names:
                raise ConfigError(f"{field_name}: no class {cls!r} in the data set (got {cls!r}; classes: {names})")
        if isinstance(self.cost_matrix, list):
            shape = (len(self.cost_matrix), *{len(r) for r in self.cost_matrix})
            if shape != (len(names), len(names)):
                raise ConfigError(f"business.cost_matrix: one row and one column per class ({len(names)} x "
                                  f"{len(names)}) (got {' x '.join(str(x) for x in shape)})")


class StudyConfig(_Strict):
    """A whole study: data, model, budget, seeds, arms, critical cases, output folder.

    Args:
        name: the study's name (default output folder ``runs/<name>``).
        dataset: the data set by registered name, with its loader's parameters.
        model: the model by registered name, with its factory's parameters.
        train: the training budget, the same for every arm.
        seeds: integer seeds; each seed fixes the initialisation and the data order for every arm.
        arms: the baseline and the mixers to compare (names unique; put the baseline first).
        critical: critical classes or examples.
        output: output folder (relative paths are relative to the config file's folder's
            working directory, i.e. where the command runs).
        tune: the search of ``mixup tune``.
        examples: how many mixed examples the report's picture grid shows per arm.
        business: costs of errors and the accuracy target of automation (`BusinessConfig`).
        checks: the data checks run before training (`ChecksConfig`).

    Examples:
        >>> cfg = StudyConfig.model_validate({"name": "t", "dataset": {"name": "digits"},
        ...     "model": {"name": "mlp"}, "seeds": [0], "arms": [{"name": "baseline"}]})
        >>> cfg.train.epochs
        5
    """

    name: str = Field(min_length=1)
    dataset: ComponentConfig
    model: ComponentConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    arms: list[ArmConfig] = Field(min_length=1)
    critical: CriticalConfig = Field(default_factory=CriticalConfig)
    output: str | None = None
    tune: TuneConfig = Field(default_factory=TuneConfig)
    examples: StrictInt = Field(8, ge=0, le=64)
    business: BusinessConfig = Field(default_factory=BusinessConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        if isinstance(v, list):
            for i, s in enumerate(v):
                if isinstance(s, bool) or not isinstance(s, int):
                    raise ValueError(f"seeds[{i}] must be an integer, got {s!r}")
                if not 0 <= s < SEED_LIMIT:
                    raise ValueError(f"seeds[{i}] must be in [0, 2**32), got {s!r}")
        return v

    @model_validator(mode="after")
    def _unique(self) -> StudyConfig:
        names = [a.name for a in self.arms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"arm names must be unique, repeated: {dup}")
        folders: dict[str, str] = {}
        for arm in names:
            folder = arm_folder_name(arm)
            if not folder:
                raise ValueError(f"arm name {arm!r} has no letter or digit to name its folder")
            if folder in folders:
                raise ValueError(
                    f"arms {folders[folder]!r} and {arm!r} would share the folder runs/{folder}; rename one"
                )
            folders[folder] = arm
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        if self.business.target_accuracy is not None and self.train.val_fraction is None:
            raise ValueError("business.target_accuracy picks its confidence threshold on a validation split, never on "
                             "the test split: set train.val_fraction (e.g. 0.2)")
        return self

    @property
    def baseline(self) -> ArmConfig | None:
        """The first arm without a mixer, if any."""
        return next((a for a in self.arms if a.is_baseline), None)

    def output_dir(self) -> Path:
        """The study folder."""
        return Path(self.output) if self.output else Path("runs") / self.name

    def setup_hash(self) -> str:
        """A hash of what must be equal for runs to be comparable: data, model, budget, critical cases.

        ``train.workers`` is left out (it changes how fast the data arrive, not what is trained), so is
        ``train.budget`` (the epochs it planned are in the hash), and the
        fine-tuning options enter only when they differ from their defaults, so study folders written
        before those options existed keep their hash.
        """
        keep = self.model_dump(mode="json", include={"dataset", "model", "train", "critical"})
        train = keep["train"]
        train.pop("workers", None)
        train.pop("budget", None)
        for key, default in _LATER_TRAIN_DEFAULTS.items():
            if train.get(key) == default:
                train.pop(key, None)
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]

    def check_names(self) -> None:
        """Check the data set, model and mixer names and parameters before anything trains.

        Raises:
            ConfigError: naming the field (``dataset.name``, ``arms[2].mixer`` …).
        """
        for field, reg in (("dataset", get_datasets()), ("model", get_models())):
            try:
                reg.get(getattr(self, field).name)
            except KeyError as exc:  # UnknownComponentError is a KeyError
                raise ConfigError(f"{field}.name: {exc}") from exc
            except ConfigError as exc:
                raise ConfigError(f"{field}.name: {exc}") from exc
        for i, arm in enumerate(self.arms):
            spec = arm.mixer_config()
            if spec is None:
                continue
            try:
                create_mixer(spec)
            except (ConfigError, KeyError) as exc:
                raise ConfigError(f"arms[{i}].mixer ({arm.name!r}): {exc}") from exc


def _format_validation(exc: ValidationError) -> str:
    """Every problem of the config, ``<field>: <what> (got <value>)``, joined on one line."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            parts.append(f"{loc}: unknown key {err['loc'][-1]!r}")
            continue
        if err["type"] == "value_error":
            msg = str((err.get("ctx") or {}).get("error", msg))
        if "input" in err and err["type"] not in ("missing", "value_error"):
            shown = repr(err["input"])
            msg = f"{msg} (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def load_study_config(source: str | Path | dict[str, Any], *, check: bool = True) -> StudyConfig:
    """Read and validate a study config (YAML, TOML or JSON file, or a mapping).

    Args:
        source: a path or a mapping.
        check: also resolve the data set, model and mixer names (did-you-mean on typos).

    Raises:
        ConfigError: a message naming every offending field.
    """
    raw = load_config(source)
    try:
        cfg = StudyConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc)) from None
    if check:
        cfg.check_names()
    return cfg
