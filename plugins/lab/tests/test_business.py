"""Business measures, each against a hand-computed value: cost per 1,000, work automated, groups, headline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mixup_core import ConfigError
from mixup_lab._business import (
    cost_matrix,
    cost_per_1000,
    group_metrics,
    risk_coverage,
    selective_metrics,
    selective_threshold,
)
from mixup_lab._config import load_study_config
from mixup_lab._metrics import compute_metrics
from mixup_lab._report import load_study, paired_comparison, summarise

NAMES = ["ok", "scratch", "crack"]


# ---------------------------------------------------------------------------------------------- pure measures
def test_cost_matrix_short_forms() -> None:
    m = cost_matrix(NAMES, miss_cost={"crack": 100.0}, false_alarm_cost=5.0, critical=[2])
    # rows: true class; columns: predicted. Missing a crack costs 100 whatever is predicted; calling an ok or a
    # scratch a crack is a false alarm (5); every other error costs the default 1.
    assert m.tolist() == [[0.0, 1.0, 5.0], [1.0, 0.0, 5.0], [100.0, 100.0, 0.0]]


def test_cost_matrix_by_names_and_full() -> None:
    by_name = cost_matrix(NAMES, matrix={"crack": {"ok": 40}, "ok": {"crack": 3}}, error_cost=2.0)
    assert by_name.tolist() == [[0.0, 2.0, 3.0], [2.0, 0.0, 2.0], [40.0, 2.0, 0.0]]
    full = cost_matrix(["a", "b"], matrix=[[7.0, 1.0], [2.0, 9.0]])
    assert full.tolist() == [[0.0, 1.0], [2.0, 0.0]], "a correct decision costs nothing"


def test_cost_per_1000_by_hand() -> None:
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.2, 0.2, 0.6], [0.1, 0.1, 0.8]])
    labels = np.array([0, 1, 2, 0, 2])  # decisions: ok, scratch, ok (a missed crack), crack (a false alarm), crack
    costs = cost_matrix(NAMES, miss_cost={"crack": 100.0}, false_alarm_cost=5.0, critical=[2])
    assert cost_per_1000(probs, labels, costs) == pytest.approx(1000 * (0 + 0 + 100 + 5 + 0) / 5)  # 21,000


def test_selective_threshold_and_coverage_by_hand() -> None:
    # confidences 0.9 (right), 0.8 (right), 0.7 (wrong), 0.6 (right), 0.55 (right)
    val = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.55, 0.45]])
    val_y = np.array([0, 1, 1, 1, 0])
    assert selective_threshold(val, val_y, 1.0) == 0.8  # the two most confident are right, the third is wrong
    assert selective_threshold(val, val_y, 0.8) == 0.55  # 4 of 5 right: 80 %
    assert selective_threshold(val, val_y, 0.99) == 0.8
    assert selective_threshold(np.array([[0.6, 0.4]]), np.array([1]), 0.5) == float("inf")
    test = np.array([[0.95, 0.05], [0.85, 0.15], [0.3, 0.7], [0.5, 0.5]])
    out = selective_metrics(test, np.array([0, 1, 1, 0]), 0.8)
    assert out == {"coverage": 0.5, "deferred_per_1000": 500.0, "selective_accuracy": 0.5}
    assert selective_metrics(test, np.array([0, 1, 1, 0]), float("inf"))["selective_accuracy"] is None


def test_a_tie_at_the_threshold_does_not_sneak_in_a_wrong_case() -> None:
    val = np.array([[0.9, 0.1], [0.8, 0.2], [0.8, 0.2]])  # two cases tied at 0.8: one right, one wrong
    assert selective_threshold(val, np.array([0, 0, 1]), 1.0) == 0.9


def test_risk_coverage_and_groups_by_hand() -> None:
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.45, 0.55]])
    labels = np.array([0, 0, 0, 1])
    cov, risk = risk_coverage(probs, labels)
    assert cov.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert risk.tolist() == pytest.approx([0.0, 0.5, 1 / 3, 0.25])  # order of confidence: 0.9 ✓, 0.7 ✗, 0.6 ✓, 0.55 ✓
    g = group_metrics(probs, labels, ["a", "a", "b", "b"])
    assert (g["a"]["accuracy"], g["b"]["accuracy"], g["a"]["n"]) == (0.5, 1.0, 2)
    assert g["b"]["nll"] == pytest.approx(-(np.log(0.6) + np.log(0.55)) / 2)


def test_zero_spread_is_not_a_verdict() -> None:
    tied = paired_comparison({0: 0.70, 1: 0.75}, {0: 0.80, 1: 0.85}, metric="accuracy")
    assert tied["verdict"] == "too few distinct seeds to tell"
    assert tied["p_value"] is None


# ---------------------------------------------------------------------------------------------- in a study report
def _write_run(out: Path, arm: str, seed: int, probs: np.ndarray, labels: np.ndarray,
               val: tuple[np.ndarray, np.ndarray], mixer: Any) -> None:
    folder = out / "runs" / arm / f"seed-{seed}"
    folder.mkdir(parents=True)
    np.savez_compressed(folder / "predictions.npz", probs=probs, labels=labels, val_probs=val[0], val_labels=val[1])
    metrics = compute_metrics(probs, labels, critical_classes=[2])
    metrics.update(arm=arm, seed=seed, mixer=mixer)
    (folder / "metrics.json").write_text(json.dumps(metrics))


def _one_hot_probs(pred: list[int], conf: list[float], c: int = 3) -> np.ndarray:
    p = np.zeros((len(pred), c))
    for i, (k, q) in enumerate(zip(pred, conf, strict=True)):
        p[i] = (1 - q) / (c - 1)
        p[i, k] = q
    return p


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """Two arms × three seeds, predictions written by hand: the mixer arm misses one crack fewer per seed."""
    labels = np.array([0, 0, 1, 1, 2, 2, 0, 1, 2, 0])
    groups = ["line-1"] * 5 + ["line-2"] * 5
    val_y = np.array([0, 1, 2, 0])
    config = {"name": "biz", "dataset": {"name": "image:digits"}, "model": {"name": "image:mlp"},
              "train": {"val_fraction": 0.2}, "seeds": [0, 1, 2],
              "arms": [{"name": "baseline"}, {"name": "mixup", "mixer": {"name": "mixup"}}],
              "critical": {"classes": ["crack"]},
              "business": {"miss_cost": {"crack": 100.0}, "false_alarm_cost": 5.0, "target_accuracy": 1.0}}
    (tmp_path / "study.json").write_text(json.dumps({"config": config, "class_names": NAMES, "num_classes": 3,
                                                      "critical_classes": [2], "test_groups": groups}))
    for seed in range(3):
        # baseline: misses the crack at position 5 (predicts ok, confidently) and a scratch at position 3 when seed > 0
        base_pred = [0, 0, 1, 1 if seed == 0 else 0, 2, 0, 0, 1, 2, 0]
        mix_pred = [0, 0, 1, 1 if seed == 0 else 0, 2, 2, 0, 1, 2, 0]
        conf = [0.9, 0.8, 0.9, 0.6, 0.95, 0.7 + 0.01 * seed, 0.85, 0.9, 0.9, 0.75]
        val = (_one_hot_probs([0, 1, 2, 1], [0.9, 0.8, 0.7, 0.6 - 0.01 * seed]), val_y)  # the last val case is wrong
        _write_run(tmp_path, "baseline", seed, _one_hot_probs(base_pred, conf), labels, val, None)
        _write_run(tmp_path, "mixup", seed, _one_hot_probs(mix_pred, conf), labels, val, {"name": "mixup"})
    return tmp_path


def test_business_measures_in_the_summary(study: Path) -> None:
    summary = summarise(load_study(study))
    assert summary["metrics"][-4:] == ["cost_per_1000", "coverage", "deferred_per_1000", "selective_accuracy"]
    base = summary["arms"]["baseline"]["metrics"]
    mix = summary["arms"]["mixup"]["metrics"]
    # baseline, seed 0: one missed crack (100) in 10 cases → 10,000 per 1,000; seeds 1, 2 add a scratch called ok (1)
    assert base["cost_per_1000"]["values"] == pytest.approx([10_000.0, 10_100.0, 10_100.0])
    assert mix["cost_per_1000"]["values"] == pytest.approx([0.0, 100.0, 100.0])
    comp = summary["comparisons"]["mixup"]["cost_per_1000"]
    assert comp["mean_diff"] == pytest.approx(-10_000.0)
    assert comp["verdict"] == "too few distinct seeds to tell"  # exactly −10,000 on every seed: no spread
    # the validation threshold is the confidence of the third val case (0.7): its first three are right
    run = next(r for r in load_study(study).runs if r.arm == "mixup" and r.seed == 0)
    assert run.folder.name == "seed-0"
    # on the test split, confidences ≥ 0.7: 8 of 10 cases (0.6 and 0.7+0.01·seed… seed 0 keeps 0.7)
    assert mix["coverage"]["values"][0] == pytest.approx(0.9)
    assert mix["deferred_per_1000"]["values"][0] == pytest.approx(100.0)


def test_groups_and_worst_group(study: Path) -> None:
    groups = summarise(load_study(study))["groups"]
    assert groups["groups"] == ["line-1", "line-2"]
    # baseline on line-2 (cases 5-9): the crack at 5 is missed → 4/5 on every seed; line-1: 5/5 then 4/5, 4/5
    assert groups["accuracy"]["baseline"]["line-2"] == pytest.approx(0.8)
    assert groups["accuracy"]["baseline"]["line-1"] == pytest.approx((1.0 + 0.8 + 0.8) / 3)
    assert groups["worst"]["baseline"] == "line-2"
    assert groups["accuracy"]["mixup"]["line-2"] == pytest.approx(1.0)


def test_headline_is_one_sentence_with_a_decision(study: Path) -> None:
    summary = summarise(load_study(study))
    (line,) = summary["headline"]
    assert line.startswith("mixup: -10000.0 cost per 1,000 cases, too few distinct seeds to tell")
    assert "crack recall" in line
    assert "no group worse" in line
    assert line.endswith(".")
    assert "→" in line
    report_md = None
    from mixup_lab._report import write_report

    report_md = write_report(study).read_text()
    assert "## Headline" in report_md
    assert report_md.index("## Headline") < report_md.index("## Verdict")
    assert "## Business measures" in report_md
    assert "## Groups" in report_md


def test_target_accuracy_needs_a_validation_split() -> None:
    raw = {"name": "x", "dataset": {"name": "image:digits"}, "model": {"name": "image:mlp"}, "seeds": [0],
           "arms": [{"name": "baseline"}], "business": {"target_accuracy": 0.99}}
    with pytest.raises(ConfigError, match=r"business\.target_accuracy picks its confidence threshold on a validation"):
        load_study_config(raw, check=False)
    raw["train"] = {"val_fraction": 0.2}
    assert load_study_config(raw, check=False).business.target_accuracy == 0.99


def test_unknown_classes_in_costs_are_refused() -> None:
    from mixup_lab._config import BusinessConfig

    with pytest.raises(ConfigError, match=r"business.miss_cost.crak: no class 'crak'"):
        BusinessConfig(miss_cost={"crak": 3.0}).check_classes(NAMES)
    with pytest.raises(
        ConfigError, match=r"business.cost_matrix: one row and one column per class \(3 x 3\) \(got 2 x 2\)"
    ):
        BusinessConfig(cost_matrix=[[0, 1], [1, 0]]).check_classes(NAMES)


def test_holm_adjusts_verdicts(study: Path) -> None:
    record = json.loads((study / "study.json").read_text())
    record["config"]["business"]["holm"] = True
    (study / "study.json").write_text(json.dumps(record))
    summary = summarise(load_study(study))
    adjusted = [c for cs in summary["comparisons"].values() for c in cs.values() if "p_holm" in c]
    assert adjusted, "Holm-adjusted p-values are recorded"
    assert all(c["p_holm"] >= c["p_value"] for c in adjusted)
