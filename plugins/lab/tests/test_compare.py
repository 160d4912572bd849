"""`mixup compare` end to end on the digits config with a tiny budget."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mixup_lab._runner as runner
from mixup_core.cli import main
from mixup_lab import _train
from mixup_lab._cli import read_study
from mixup_lab._metrics import compute_metrics

CONFIG = Path(__file__).resolve().parents[3] / "examples" / "configs" / "digits.yaml"
TINY = ["train.epochs=1", "seeds=[0, 1]", "examples=4"]

pytestmark = pytest.mark.xdist_group("lab-compare")


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("study")
    cfg = read_study(CONFIG, TINY)
    runner.run_compare(cfg, out=out, progress=False)
    return out


def _metrics(out: Path) -> dict[tuple[str, int], dict[str, Any]]:
    found = {}
    for path in sorted(out.glob("runs/*/seed-*/metrics.json")):
        m = json.loads(path.read_text())
        found[(m["arm"], m["seed"])] = m
    return found


def test_every_output_exists_and_parses(study_dir: Path) -> None:
    study = json.loads((study_dir / "study.json").read_text())
    assert study["num_classes"] == 10
    assert study["critical_classes"] == [8]
    assert set(_metrics(study_dir)) == {(a, s) for a in ("baseline", "mixup", "cutmix") for s in (0, 1)}
    for folder in study_dir.glob("runs/*/seed-*"):
        with np.load(folder / "predictions.npz") as z:
            assert z["probs"].shape == (study["test_size"], 10)
            assert z["labels"].shape == (study["test_size"],)
        history = json.loads((folder / "history.json").read_text())
        assert [h["epoch"] for h in history] == [1]
    report = json.loads((study_dir / "report.json").read_text())
    assert report
    md = (study_dir / "report.md").read_text()
    for arm in ("baseline", "mixup", "cutmix"):
        assert arm in md
    pngs = list((study_dir / "plots").glob("*.png"))
    assert any(p.name == "examples.png" for p in pngs)
    assert any("reliability" in p.name for p in pngs)
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_match_a_recomputation_from_saved_predictions(study_dir: Path) -> None:
    for (arm, seed), stored in _metrics(study_dir).items():
        folder = runner.arm_dir(study_dir, arm) / f"seed-{seed}"
        with np.load(folder / "predictions.npz") as z:
            probs, labels = z["probs"].astype(np.float64), z["labels"]
        again = compute_metrics(probs, labels, critical_classes=[8])
        assert stored["accuracy"] == pytest.approx((probs.argmax(1) == labels).mean(), abs=1e-6)
        assert stored["accuracy"] == pytest.approx(again["accuracy"], abs=1e-6)
        assert stored["nll"] == pytest.approx(again["nll"], rel=1e-4)
        assert stored["ece"] == pytest.approx(again["ece"], abs=1e-5)
        assert stored["critical_recall"] == pytest.approx((probs.argmax(1)[labels == 8] == 8).mean(), abs=1e-6)
        assert stored["mixer"] == (None if arm == "baseline" else stored["mixer"])


def test_same_seeds_give_identical_numbers(study_dir: Path, tmp_path: Path) -> None:
    cfg = read_study(CONFIG, TINY)
    runner.run_compare(cfg, out=tmp_path, arms=["baseline", "cutmix"], seeds=[1], progress=False, report=False)
    first, second = _metrics(study_dir), _metrics(tmp_path)
    for key, m in second.items():
        for name in ("accuracy", "nll", "ece", "macro_f1", "per_class_recall"):
            assert m[name] == first[key][name], f"{key} {name}"


def test_a_resumed_study_runs_only_the_missing_runs(
    study_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "copy"
    shutil.copytree(study_dir, out)
    (runner.arm_dir(out, "mixup") / "seed-1" / "metrics.json").unlink()
    calls: list[tuple[str, int]] = []
    real = _train.train_and_evaluate

    def spy(cfg: Any, arm: Any, seed: int, study: Any, **kw: Any) -> Any:
        calls.append((arm.name, seed))
        return real(cfg, arm, seed, study, **kw)

    monkeypatch.setattr(_train, "train_and_evaluate", spy)
    cfg = read_study(CONFIG, TINY)
    runner.run_compare(cfg, out=out, progress=False, report=False)
    assert calls == [("mixup", 1)]
    # a second call appends a new arm without redoing the others
    calls.clear()
    grown = read_study(CONFIG, [*TINY, "arms=[{name: baseline}, {name: fmix, mixer: {name: image:fmix}}]"])
    runner.run_compare(grown, out=out, progress=False, report=False)
    assert sorted(calls) == [("fmix", 0), ("fmix", 1)]
    study = json.loads((out / "study.json").read_text())
    assert [a["name"] for a in study["config"]["arms"]] == ["baseline", "mixup", "cutmix", "fmix"]


def test_changed_setup_or_arm_is_refused(study_dir: Path, tmp_path: Path) -> None:
    from mixup_core import ConfigError

    out = tmp_path / "copy"
    shutil.copytree(study_dir, out)
    with pytest.raises(ConfigError, match=r"holds a study with another setup.*\(train\.lr: 0\.003 → 0\.1\)"):
        runner.run_compare(read_study(CONFIG, [*TINY, "train.lr=0.1"]), out=out, progress=False)
    changed = read_study(CONFIG, [*TINY, "arms=[{name: mixup, mixer: {name: core:mixup, alpha: 2.0}}]"])
    with pytest.raises(ConfigError, match=r"arms\.mixup\.mixer\.alpha: 0\.4 → 2\.0: arm 'mixup' already has runs"):
        runner.run_compare(changed, out=out, progress=False)


def test_protection_passes_the_critical_mask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, Any]] = []
    real = _train.mixed_step

    def spy(model: Any, inputs: Any, targets: Any, **kw: Any) -> Any:
        if kw.get("mixer") is not None:
            seen.append((targets.clone(), kw.get("protected")))
        return real(model, inputs, targets, **kw)

    monkeypatch.setattr(_train, "mixed_step", spy)
    cfg = read_study(CONFIG, [*TINY, "seeds=[0]", "critical.protect=true", "critical.protect_mode=exclude",
                              "arms=[{name: mixup, mixer: mixup}]"])
    assert runner.build_mixer(cfg, cfg.arms[0]).protect == "exclude"
    runner.run_compare(cfg, out=tmp_path, progress=False, report=False)
    assert seen
    for targets, protected in seen:
        assert protected is not None
        assert protected.tolist() == (targets == 8).tolist()


def test_cli_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["compare", str(CONFIG), "--out", str(tmp_path), "--quiet", "--arms", "baseline,mixup", "--seeds", "0"]
    for item in [*TINY, "train.epochs=1"]:
        args += ["--set", item]
    assert main(args) == 0
    assert capsys.readouterr().out.strip().endswith("report.md")
    assert (tmp_path / "report.md").exists()
    assert main(["report", str(tmp_path)]) == 0
    assert main(["compare", str(CONFIG), "--set", "train.epocs=1"]) == 2
    assert "train.epocs: unknown key" in capsys.readouterr().err
