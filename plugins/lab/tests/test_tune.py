"""Tests of ``mixup tune`` (mixup_lab._tune) on a tiny in-process data set and model."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
import yaml
from torch import nn
from torch.utils.data import TensorDataset

from mixup_core import ConfigError, MixupError, TaskData, hookimpl
from mixup_lab import _runner, _train
from mixup_lab._config import ArmConfig, StudyConfig, load_study_config
from mixup_lab._tune import objective_direction, run_tune

PLUGIN = "tunetest"


class _GuardedSplit:
    """A test split that counts and refuses every read of an item."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.reads = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        self.reads += 1
        raise AssertionError(f"the test split was read (item {i}) while tuning")


class _BlobPlugin:
    """Registers ``tunetest:blobs`` (two Gaussian blobs in 8-d, 120 training points) and ``tunetest:linear``."""

    def __init__(self) -> None:
        self.test_split = _GuardedSplit(40)

    def load_blobs(self, train_size: int = 120) -> TaskData:
        g = torch.Generator().manual_seed(123)
        y = torch.arange(train_size) % 2
        x = torch.randn(train_size, 8, generator=g) + (2.0 * y - 1.0)[:, None] * 0.7
        return TaskData(TensorDataset(x, y), self.test_split, 2, ["neg", "pos"], "tabular", input_shape=(8,))

    @hookimpl
    def mixup_register_datasets(self, registry: Any) -> None:
        registry.add(self.load_blobs, name="blobs", modality="tabular", summary="Two Gaussian blobs")

    @hookimpl
    def mixup_register_models(self, registry: Any) -> None:
        registry.add(_linear, name="linear", modality="any", summary="A linear classifier")


def _linear(data: TaskData) -> nn.Module:
    assert data.input_shape is not None
    return nn.Linear(data.input_shape[0], data.num_classes)


@pytest.fixture
def blobs(
    mixup_temp_plugin: Callable[[object, str], Any], monkeypatch: pytest.MonkeyPatch
) -> _BlobPlugin:
    monkeypatch.delenv("MIXUP_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("MIXUP_DISABLE_PLUGINS", raising=False)
    plugin = _BlobPlugin()
    mixup_temp_plugin(plugin, PLUGIN)
    return plugin


def _raw(tmp_path: Path, **tune: Any) -> dict[str, Any]:
    return {
        "name": "blobs-study",
        "dataset": {"name": f"{PLUGIN}:blobs"},
        "model": {"name": f"{PLUGIN}:linear"},
        "train": {"epochs": 1, "batch_size": 32, "lr": 0.05},
        "seeds": [0, 1],
        "arms": [{"name": "baseline"}, {"name": "cutmix-ish", "mixer": {"name": "core:mixup", "alpha": 0.3}}],
        "output": str(tmp_path / "study"),
        "tune": {"mixers": [{"name": "core:mixup"}], "alpha": [0.2, 1.0], "n_trials": 4, "seeds": [0], **tune},
    }


def _cfg(tmp_path: Path, **tune: Any) -> StudyConfig:
    return load_study_config(_raw(tmp_path, **tune))


def _read_trials(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("training started although the config is invalid")

    monkeypatch.setattr(_train, "train_and_evaluate", refuse)


@pytest.fixture
def no_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the plots in tests about something else (they cost seconds on a loaded machine)."""
    from mixup_lab import _tune

    monkeypatch.setattr(_tune, "_write_plots", lambda study, folder: ({"history": None, "importance": None}, []))


def test_tune_writes_best_config_and_continues_the_study(blobs: _BlobPlugin, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    best = run_tune(cfg, progress=False)
    folder = tmp_path / "study" / "tune"
    assert best == folder / "best.yaml"
    assert (folder / "optuna.db").exists()
    assert (folder / "history.png").stat().st_size > 0

    # best.yaml: a study config for compare with the baseline and the tuned mixer only
    raw = yaml.safe_load(best.read_text())
    assert "tune" not in raw
    tuned = load_study_config(best)
    assert tuned.name == "blobs-study-tuned"
    assert tuned.output == str(tmp_path / "study") + "-tuned"
    assert tuned.train == cfg.train
    assert tuned.seeds == cfg.seeds
    assert tuned.dataset == cfg.dataset
    assert [a.name for a in tuned.arms] == ["baseline", "mixup-tuned"]
    assert tuned.arms[0].is_baseline
    mixer = tuned.arms[1].mixer_config()
    assert mixer is not None
    assert mixer["name"] == "core:mixup"
    assert set(mixer) == {"name", "alpha"}
    assert 0.2 <= mixer["alpha"] <= 1.0

    # trials.csv and summary.json agree; the best value is the minimum (nll is minimised)
    rows = _read_trials(folder / "trials.csv")
    assert [int(r["number"]) for r in rows] == [0, 1, 2, 3]
    assert {r["state"] for r in rows} == {"COMPLETE"}
    values = [float(r["value"]) for r in rows]
    for r in rows:
        alpha = json.loads(r["params"])["alpha"]
        assert 0.2 <= alpha <= 1.0
        assert json.loads(r["mixer"]) == {"name": "core:mixup", "alpha": alpha}
        assert json.loads(r["seed_values"]) == [float(r["value"])]  # one seed: the mean is that seed's value
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["objective"] == "nll"
    assert summary["direction"] == "minimize"
    assert summary["n_trials"] == 4
    assert summary["trials_by_state"] == {"COMPLETE": 4}
    assert summary["best_value"] == min(values)
    assert summary["best_mixer"] == mixer
    assert summary["best_params"] == {"mixer": "core:mixup", "alpha": mixer["alpha"]}
    assert (summary["train_size"], summary["val_size"]) == (96, 24)  # 20 % of each class held out
    assert len(set(values)) == 4  # different alphas give different losses
    assert summary["plots"] == {"history": "history.png", "importance": "importance.png"}
    assert summary["notes"] == []

    # a second call with the same (default) storage continues the same study
    run_tune(cfg, n_trials=4, progress=False)
    rows = _read_trials(folder / "trials.csv")
    assert [int(r["number"]) for r in rows] == list(range(8))
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["n_trials"] == 8
    assert len({json.loads(r["params"])["alpha"] for r in rows}) == 8  # the continuation draws new values
    assert summary["best_value"] == min(float(r["value"]) for r in rows if r["state"] == "COMPLETE")
    assert blobs.test_split.reads == 0


def test_objective_is_the_seed_mean_on_the_validation_split(blobs: _BlobPlugin, tmp_path: Path, no_plots: None) -> None:
    cfg = _cfg(tmp_path, seeds=[0, 1], objective="accuracy", n_trials=1)
    run_tune(cfg, progress=False)
    summary = json.loads((tmp_path / "study" / "tune" / "summary.json").read_text())
    assert summary["direction"] == "maximize"
    # redo the best trial by hand: train on the training split minus 20 %, score on the 20 %
    study = _runner.load_study_data(cfg)
    val = _runner.split_validation(study.data, 0.2, seed=0)
    study.data = val
    arm = ArmConfig(name="x", mixer=summary["best_mixer"])
    direct = [_runner.train_and_evaluate(cfg, arm, s, study).metrics["accuracy"] for s in (0, 1)]
    assert summary["best_value"] == pytest.approx(sum(direct) / 2, abs=1e-12)
    assert blobs.test_split.reads == 0


def test_search_space_mode_p_and_fixed_parameters(blobs: _BlobPlugin, tmp_path: Path, no_plots: None) -> None:
    mixers = [{"name": "core:mixup"}, {"name": "core:mixup", "alpha": 0.5, "mode": "batch"}]
    cfg = _cfg(tmp_path, mixers=mixers, p=[0.5, 0.9], modes=["batch", "sample"], n_trials=6, pruner="none")
    run_tune(cfg, progress=False)
    rows = _read_trials(tmp_path / "study" / "tune" / "trials.csv")
    assert len(rows) == 6
    for r in rows:
        params, mixer = json.loads(r["params"]), json.loads(r["mixer"])
        assert params["mixer"] in ("core:mixup#0", "core:mixup#1")  # duplicate names get their index
        assert 0.5 <= params["p"] <= 0.9
        assert mixer["p"] == params["p"]
        if params["mixer"] == "core:mixup#0":
            assert set(params) == {"mixer", "alpha", "p", "mode"}
            assert params["mode"] in ("batch", "sample")
            assert mixer == {"name": "core:mixup", "alpha": params["alpha"], "p": params["p"], "mode": params["mode"]}
        else:  # alpha and mode fixed by the candidate are kept, not searched
            assert set(params) == {"mixer", "p"}
            assert mixer == {"name": "core:mixup", "alpha": 0.5, "mode": "batch", "p": params["p"]}


def test_pruner_reports_per_epoch_values_of_the_first_seed(blobs: _BlobPlugin, tmp_path: Path, no_plots: None) -> None:
    raw = _raw(tmp_path, n_trials=2)
    raw["train"]["epochs"] = 3
    url = f"sqlite:///{tmp_path / 'pruned.db'}"
    run_tune(load_study_config(raw), storage=url, progress=False)
    study = optuna.load_study(study_name="blobs-study", storage=url)
    # step = epoch - 1; step 0 is the warm-up and the last epoch is the trial's value: only step 1 is reported
    assert [sorted(t.intermediate_values) for t in study.trials] == [[1], [1]]
    assert all(not math.isnan(v) for t in study.trials for v in t.intermediate_values.values())
    assert not (tmp_path / "study" / "tune" / "optuna.db").exists()  # the URL was used instead

    raw["tune"]["pruner"] = "none"
    raw["tune"]["study_name"] = "unpruned"
    run_tune(load_study_config(raw), storage=url, progress=False)
    study = optuna.load_study(study_name="unpruned", storage=url)
    assert [t.intermediate_values for t in study.trials] == [{}, {}]


@pytest.mark.parametrize(
    ("objective", "direction"),
    [("nll", "minimize"), ("ece", "minimize"), ("error_rate", "minimize"), ("brier", "minimize"),
     ("accuracy", "maximize"), ("macro_f1", "maximize"), ("critical_recall", "maximize"),
     ("recall_pos", "maximize")],
)
def test_objective_direction(objective: str, direction: str) -> None:
    assert objective_direction(objective) == direction


def test_objective_direction_unknown_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"tune\.direction.*'n_samples'"):
        objective_direction("n_samples")


@pytest.mark.parametrize(
    ("tune", "match"),
    [
        ({"objective": "nlll"}, r"tune\.objective: unknown metric 'nlll'; did you mean 'nll'"),
        ({"objective": "per_class_recall"}, r"tune\.objective: 'per_class_recall' is a list"),
        ({"objective": "critical_recall"}, r"tune\.objective: 'critical_recall' is undefined.*critical\.classes"),
        ({"mixers": [{"name": "core:mixup"}, {"name": "mixupp"}]}, r"tune\.mixers\[1\].*mixupp"),
        ({"mixers": [{"name": "core:mixup", "alhpa": 1.0}]}, r"tune\.mixers\[0\].*alhpa"),
        ({"mixers": [{"alpha": 1.0}]}, r"tune\.mixers\[0\].*'name'"),
        ({"mixers": []}, r"tune\.mixers: give at least one"),
        ({"p": [0.5, 1.5]}, r"tune\.p: .*\[0\.5, 1\.5\]"),
        ({"alpha": [0.2, 1e6], "mixers": [{"name": "core:mixup"}]}, None),  # the mixer accepts any alpha > 0
    ],
)
def test_bad_tune_section_fails_before_training(
    blobs: _BlobPlugin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tune: dict[str, Any], match: str | None
) -> None:
    _no_training(monkeypatch)
    cfg = _cfg(tmp_path, **tune)
    if match is None:
        with pytest.raises(AssertionError, match="training started"):
            run_tune(cfg, progress=False)
        return
    with pytest.raises(ConfigError, match=match):
        run_tune(cfg, progress=False)


def test_alpha_range_error_names_the_field(tmp_path: Path) -> None:
    raw = _raw(tmp_path, alpha=[2.0, 1.0])
    with pytest.raises(ConfigError, match=r"tune\.alpha: .*\[2\.0, 1\.0\]"):
        load_study_config(raw, check=False)


def test_bad_trials_and_storage_name_the_argument(
    blobs: _BlobPlugin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_training(monkeypatch)
    cfg = _cfg(tmp_path)
    with pytest.raises(ConfigError, match=r"--trials: .*got 0"):
        run_tune(cfg, n_trials=0, progress=False)
    with pytest.raises(ConfigError, match=r"--storage: cannot open the Optuna storage 'nosuchdb://x'"):
        run_tune(cfg, storage="nosuchdb://x", progress=False)


def test_continuing_with_another_objective_or_direction_is_refused(
    blobs: _BlobPlugin, tmp_path: Path
) -> None:
    run_tune(_cfg(tmp_path, n_trials=1), progress=False)
    folder = tmp_path / "study" / "tune"
    summary = json.loads((folder / "summary.json").read_text())
    # one trial: the history is drawn, the importances are skipped with a note
    assert summary["plots"] == {"history": "history.png", "importance": None}
    assert summary["notes"] == [("importance.png skipped: needs at least 2 completed trials whose parameters differ "
                                "(have 1 completed)")]
    assert (folder / "history.png").exists()
    assert not (folder / "importance.png").exists()
    with pytest.raises(ConfigError, match=r"tune\.direction: study 'blobs-study' .* minimize, not to maximize"):
        run_tune(_cfg(tmp_path, direction="maximize"), progress=False)
    with pytest.raises(ConfigError, match=r"tune\.objective: study 'blobs-study' .* objective 'nll'"):
        run_tune(_cfg(tmp_path, objective="accuracy"), progress=False)
    with pytest.raises(ConfigError, match=r"tune\.mixers: study 'blobs-study'"):
        run_tune(_cfg(tmp_path, mixers=[{"name": "core:mixup", "mode": "sample"}]), progress=False)
    # a changed training budget is refused too, naming the field, not two hashes
    longer = _raw(tmp_path)
    longer["train"] = {**longer["train"], "epochs": 3}
    with pytest.raises(
        ConfigError, match=r"^train\.epochs: 1 → 3: study 'blobs-study' .* another data set, model, budget"
    ):
        run_tune(load_study_config(longer), progress=False)
    rows = _read_trials(tmp_path / "study" / "tune" / "trials.csv")
    assert len(rows) == 1


def test_diverging_trials_fail_and_no_best_config_is_written(
    blobs: _BlobPlugin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def diverge(*args: Any, **kwargs: Any) -> Any:
        raise FloatingPointError("the loss became nan")

    monkeypatch.setattr(_train, "train_and_evaluate", diverge)
    with pytest.raises(MixupError, match=r"no trial of study 'blobs-study' has completed \(\{'FAIL': 2\}\)"):
        run_tune(_cfg(tmp_path), n_trials=2, progress=False)
    folder = tmp_path / "study" / "tune"
    assert [r["state"] for r in _read_trials(folder / "trials.csv")] == ["FAIL", "FAIL"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["trials_by_state"] == {"FAIL": 2}
    assert summary["best_value"] is None
    assert summary["plots"] == {"history": None, "importance": None}
    assert not (folder / "best.yaml").exists()


def test_cli_tune(blobs: _BlobPlugin, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mixup_core.cli import main

    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(_raw(tmp_path, objective="accuracy")))
    out = tmp_path / "elsewhere"
    assert main(["tune", str(config), "--trials", "2", "--quiet", "--out", str(out), "--set", "train.lr=0.1"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(out / "tune" / "best.yaml")
    summary = json.loads((out / "tune" / "summary.json").read_text())
    assert summary["n_trials"] == 2
    assert summary["direction"] == "maximize"
    assert summary["plots"]["importance"] == "importance.png"  # two finished trials with different alphas
    assert (out / "tune" / "importance.png").stat().st_size > 0
    assert load_study_config(printed).arms[1].mixer_config()["name"] == "core:mixup"  # type: ignore[index]
    assert blobs.test_split.reads == 0

    assert main(["tune", str(config), "--trials", "1", "--quiet", "--set", "tune.objective=nlll"]) == 2
    assert "tune.objective: unknown metric 'nlll'" in capsys.readouterr().err
