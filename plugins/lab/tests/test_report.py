"""Aggregation over seeds, the paired comparison with the baseline, report.md/report.json and the plots,
on study folders written by hand with known per-seed numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from mixup_lab._plots import _example_kind, plot_example_mixes, plot_metric_per_arm, plot_per_class_recall
from mixup_lab._report import load_study, paired_comparison, summarise, verdict_lines, write_report

CLASSES = ["cat", "dog", "owl"]
SEEDS = [0, 1, 2, 3]
# per arm, per metric: one value per seed (None: the run is not finished)
BASE = {"accuracy": [0.80, 0.82, 0.78, 0.81], "nll": [0.60, 0.58, 0.63, 0.59], "ece": [0.05, 0.04, 0.06, 0.05],
        "critical_recall": [0.70, 0.60, 0.65, 0.70]}
GOOD = {"accuracy": [0.85, 0.88, 0.83, 0.88], "nll": [0.50, 0.49, 0.52, 0.50], "ece": [0.02, 0.03, 0.02, 0.03],
        "critical_recall": [0.75, 0.65, 0.70, 0.80]}
NOISY = {"accuracy": [0.84, 0.77, 0.80, 0.79], "nll": [0.62, 0.55, 0.66, 0.57], "ece": [0.07, 0.02, 0.06, 0.04],
         "critical_recall": [0.75, 0.55, 0.65, 0.70]}
SINGLE = {"accuracy": [0.90], "nll": [0.40], "ece": [0.01], "critical_recall": [0.90]}
ARMS = [
    {"name": "baseline", "mixer": None},
    {"name": "good", "mixer": {"name": "cutmix", "alpha": 1.0}},
    {"name": "noisy", "mixer": {"name": "mixup", "alpha": 0.2}},
    {"name": "single/one", "mixer": {"name": "mixup", "alpha": 2.0}},
]


def _metrics(arm: str, seed: int, values: dict[str, float], i: int, critical: list[int]) -> dict[str, Any]:
    acc = values["accuracy"][i]
    # the third class has no test example: its recall is null
    return {
        "accuracy": acc, "error_rate": 1 - acc, "macro_f1": acc - 0.01, "nll": values["nll"][i],
        "ece": values["ece"][i], "brier": 0.3, "per_class_recall": [acc + 0.02, values["critical_recall"][i], None],
        "absent_classes": [2],
        "critical_classes": critical,
        "critical_recall": values["critical_recall"][i] if critical else None,
        "critical_class_recall": {str(k): values["critical_recall"][i] for k in critical},
        "arm": arm, "seed": seed, "mixer": next(a["mixer"] for a in ARMS if a["name"] == arm),
        "train_seconds": 2.0, "epochs": 1,
    }


def _write_study(out: Path, arms: dict[str, dict[str, list[float]]], *, critical: list[int] | None = None,
                 predictions: bool = True) -> Path:
    critical = [1] if critical is None else critical
    cfg_arms = [a for a in ARMS if a["name"] in arms]
    config = {"name": "toy", "dataset": {"name": "toyset", "train_size": 30}, "model": {"name": "mlp", "hidden": 8},
              "train": {"epochs": 1, "batch_size": 8, "optimizer": "adam", "lr": 0.01, "weight_decay": 0.0,
                        "schedule": "cosine", "label_smoothing": 0.0},
              "seeds": SEEDS, "arms": cfg_arms, "critical": {"classes": ["dog"] if critical else [], "protect": False}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps({
        "config": config, "setup_hash": "abc", "class_names": CLASSES, "num_classes": 3,
        "critical_classes": critical, "dataset_info": {"source": "made up", "licence": "CC0"},
        "train_size": 30, "test_size": 6}))
    rng = np.random.default_rng(0)
    for arm, values in arms.items():
        for i, seed in enumerate(SEEDS[: len(values["accuracy"])]):
            folder = out / "runs" / arm.replace("/", "_") / f"seed-{seed}"
            folder.mkdir(parents=True)
            if predictions:
                probs = rng.dirichlet(np.ones(3) * 0.5, size=6).astype(np.float32)
                np.savez_compressed(folder / "predictions.npz", probs=probs, labels=np.array([0, 0, 1, 1, 0, 1]))
            (folder / "metrics.json").write_text(json.dumps(_metrics(arm, seed, values, i, critical)))
    return out


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = _write_study(tmp_path_factory.mktemp("study"),
                       {"baseline": BASE, "good": GOOD, "noisy": NOISY, "single/one": SINGLE})
    # an interrupted run: predictions but no metrics.json
    (out / "runs" / "single_one" / "seed-1").mkdir()
    (out / "runs" / "single_one" / "seed-1" / "predictions.npz").write_bytes(b"partial")
    return out


@pytest.fixture(scope="module")
def summary(study_dir: Path) -> dict[str, Any]:
    return summarise(load_study(study_dir))


@pytest.fixture(scope="module")
def reported(study_dir: Path) -> Path:
    from PIL import Image

    (study_dir / "plots").mkdir(exist_ok=True)
    Image.new("RGB", (4, 4)).save(study_dir / "plots" / "examples.png")  # as the runner would
    return write_report(study_dir)


def test_load_study_reads_finished_runs_only(study_dir: Path) -> None:
    study = load_study(study_dir)
    assert study.arms == ["baseline", "good", "noisy", "single/one"]
    assert study.baseline == "baseline"
    assert study.seeds == SEEDS
    assert study.class_names == CLASSES
    assert study.critical_classes == [1]
    assert len(study.runs) == 13
    assert [r.seed for r in study.runs_of("single/one")] == [0]
    assert study.missing() == [("single/one", 1), ("single/one", 2), ("single/one", 3)]
    probs, labels = study.runs_of("good")[0].predictions()
    assert probs.shape == (6, 3)
    assert labels.tolist() == [0, 0, 1, 1, 0, 1]


def test_mean_sd_and_seed_values(summary: dict[str, Any]) -> None:
    for arm, values in (("baseline", BASE), ("good", GOOD), ("noisy", NOISY)):
        for metric in ("accuracy", "nll", "ece", "critical_recall"):
            st = summary["arms"][arm]["metrics"][metric]
            assert st["values"] == values[metric]
            assert st["n"] == 4
            assert st["mean"] == pytest.approx(np.mean(values[metric]))
            assert st["sd"] == pytest.approx(np.std(values[metric], ddof=1))
    err = summary["arms"]["baseline"]["metrics"]["error_rate"]
    assert err["mean"] == pytest.approx(1 - np.mean(BASE["accuracy"]))
    one = summary["arms"]["single/one"]
    assert one["seeds"] == [0]
    assert one["metrics"]["accuracy"] == {"mean": 0.9, "sd": None, "n": 1, "values": [0.9]}
    assert summary["runs"] == {
        "finished": 13,
        "expected": 16,
        "missing": [
            {"arm": "single/one", "seed": 1},
            {"arm": "single/one", "seed": 2},
            {"arm": "single/one", "seed": 3},
        ],
        "failed": [],
    }


def test_per_class_and_critical_recall(summary: dict[str, Any]) -> None:
    pc = summary["arms"]["good"]["per_class_recall"]
    assert pc["mean"][0] == pytest.approx(np.mean(GOOD["accuracy"]) + 0.02)
    assert pc["mean"][1] == pytest.approx(np.mean(GOOD["critical_recall"]))
    assert pc["mean"][2] is None  # no test example of "owl"
    assert pc["n"] == [4, 4, 0]
    crit = summary["arms"]["noisy"]["critical_class_recall"]["1"]
    assert crit["mean"] == pytest.approx(np.mean(NOISY["critical_recall"]))
    assert crit["sd"] == pytest.approx(np.std(NOISY["critical_recall"], ddof=1))


@pytest.mark.parametrize(("arm", "values"), [("good", GOOD), ("noisy", NOISY)])
def test_paired_comparison_matches_scipy(summary: dict[str, Any], arm: str, values: dict[str, list[float]]) -> None:
    for metric in ("accuracy", "nll", "ece"):
        comp = summary["comparisons"][arm][metric]
        a, b = np.array(values[metric]), np.array(BASE[metric])
        d = a - b
        assert comp["n"] == 4
        assert comp["seeds"] == SEEDS
        assert comp["differences"] == pytest.approx(d.tolist())
        assert comp["mean_diff"] == pytest.approx(d.mean())
        assert comp["sd_diff"] == pytest.approx(d.std(ddof=1))
        assert comp["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
        low, high = stats.t.interval(0.95, df=3, loc=d.mean(), scale=d.std(ddof=1) / 2)
        assert (comp["ci_low"], comp["ci_high"]) == (pytest.approx(low), pytest.approx(high))


def test_verdicts(summary: dict[str, Any]) -> None:
    good = summary["comparisons"]["good"]
    # accuracy up by 5.75 pp on every seed; NLL and ECE down: all better, error rate (lower) better too
    assert {m: good[m]["verdict"] for m in ("accuracy", "error_rate", "nll", "ece")} == dict.fromkeys(
        ("accuracy", "error_rate", "nll", "ece"), "better")
    assert good["accuracy"]["mean_diff"] == pytest.approx(0.0575)
    assert good["error_rate"]["mean_diff"] == pytest.approx(-0.0575)
    noisy = summary["comparisons"]["noisy"]
    assert {noisy[m]["verdict"] for m in ("accuracy", "nll", "ece", "critical_recall")} == {"within noise"}
    assert noisy["accuracy"]["ci_low"] < 0 < noisy["accuracy"]["ci_high"]
    single = summary["comparisons"]["single/one"]["accuracy"]
    assert single["verdict"] == "too few seeds to tell"
    assert single["n"] == 1
    assert single["mean_diff"] == pytest.approx(0.10)
    assert single["p_value"] is None
    assert single["ci_low"] is None
    assert "baseline" not in summary["comparisons"]


def test_verdict_lines_are_plain(summary: dict[str, Any], study_dir: Path) -> None:
    lines = summary["verdict"]
    assert lines[0].startswith("good vs baseline (4 paired seeds): accuracy +5.75 pp (95% CI +")
    assert "higher, better" in lines[0]
    assert "NLL -0.0975" in lines[0]
    assert lines[1] == "noisy: within noise of baseline on every metric (4 paired seeds)."
    assert lines[2].startswith("single/one: too few seeds to tell (1 seed paired with baseline")
    assert verdict_lines(study_dir) == lines


def test_worse_and_constant_differences() -> None:
    worse = paired_comparison({0: 0.7, 1: 0.72, 2: 0.69}, {0: 0.8, 1: 0.81, 2: 0.80}, metric="accuracy")
    assert worse["verdict"] == "worse"
    assert (
        paired_comparison({0: 0.7, 1: 0.72, 2: 0.69}, {0: 0.8, 1: 0.81, 2: 0.80}, metric="nll")["verdict"] == "better"
    )
    # the same difference on every seed (two seeds tied exactly): no spread, so no interval and no p-value;
    # never "worse, p < 0.001"
    const = paired_comparison({0: 0.5, 1: 0.5}, {0: 0.25, 1: 0.25}, metric="ece")
    assert (const["ci_low"], const["ci_high"], const["p_value"]) == (None, None, None)
    assert const["verdict"] == "too few distinct seeds to tell"
    assert const["mean_diff"] == 0.25
    same = paired_comparison({0: 0.5, 1: 0.25}, {0: 0.5, 1: 0.25}, metric="ece")
    assert (same["mean_diff"], same["p_value"], same["verdict"]) == (0.0, 1.0, "within noise")
    # only seeds both have, and values that are None, are paired
    part = paired_comparison({0: 0.9, 1: None, 5: 0.9}, {0: 0.8, 1: 0.8, 2: 0.8}, metric="accuracy")
    assert (part["n"], part["seeds"], part["verdict"]) == (1, [0], "too few seeds to tell")
    none = paired_comparison({}, {0: 0.8}, metric="accuracy")
    assert (none["n"], none["mean_diff"]) == (0, None)


def _strict_json(path: Path) -> Any:
    def no_nan(name: str) -> None:
        raise AssertionError(f"{path} holds {name}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=no_nan)


def _assert_png(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size[0] > 100
        assert img.size[1] > 100
        img.verify()


def test_write_report_files(study_dir: Path, reported: Path) -> None:
    assert reported == study_dir / "report.md"
    record = _strict_json(study_dir / "report.json")
    s = record["summary"]
    assert s["arms"]["good"]["metrics"]["accuracy"]["values"] == GOOD["accuracy"]
    assert s["comparisons"]["good"]["accuracy"]["verdict"] == "better"
    assert s["arms"]["baseline"]["per_class_recall"]["mean"][2] is None
    assert len(record["runs"]) == 13
    assert {r["folder"] for r in record["runs"]} >= {"runs/single_one/seed-0", "runs/good/seed-3"}
    names = {
        "accuracy",
        "macro_f1",
        "nll",
        "ece",
        "critical_recall",
        "reliability",
        "risk_coverage",
        "per_class_recall",
    }
    assert record["plots"] == [f"plots/{n}.png" for n in
                               ("accuracy", "macro_f1", "nll", "ece", "critical_recall", "reliability", "risk_coverage",
                                "per_class_recall", "examples")]
    for name in names:
        _assert_png(study_dir / "plots" / f"{name}.png")


def test_report_markdown_tables(study_dir: Path, reported: Path) -> None:
    md = reported.read_text()
    assert md.startswith("# toy: mixup compare report")
    assert "- **Seeds**: 0, 1, 2, 3 — 13 of 16 runs finished" in md
    assert "Not finished yet: single/one seed 1, single/one seed 2, single/one seed 3." in md
    assert "- **Critical classes**: dog (1)" in md
    # metric table: mean ± sd in percent, 4 decimals for the NLL
    base_acc = f"{100 * np.mean(BASE['accuracy']):.2f} ± {100 * np.std(BASE['accuracy'], ddof=1):.2f}"
    base_nll = f"{np.mean(BASE['nll']):.4f} ± {np.std(BASE['nll'], ddof=1):.4f}"
    row = next(line for line in md.splitlines() if line.startswith("| baseline | 4 |"))
    assert base_acc in row
    assert base_nll in row
    assert "| single/one | 1 | 90.00 |" in md
    # paired table
    d = np.array(GOOD["accuracy"]) - np.array(BASE["accuracy"])
    p = stats.ttest_rel(GOOD["accuracy"], BASE["accuracy"]).pvalue
    low, high = stats.t.interval(0.95, df=3, loc=d.mean(), scale=d.std(ddof=1) / 2)
    assert f"| good | accuracy | 4 | +5.75 pp | {100 * low:+.2f} to {100 * high:+.2f} | {p:.3f} | better |" in md
    assert "| noisy | accuracy | 4 |" in md
    assert "| single/one | accuracy | 1 | +10.00 pp | — | — | too few seeds to tell |" in md
    # critical and per-class tables
    assert "| arm | dog (1) | all critical |" in md
    assert f"| good | {100 * np.mean(GOOD['critical_recall']):.2f} ± " in md
    assert "| dog (1) ★ |" in md
    assert "| owl (2) | — | — | — | — |" in md
    assert "## Verdict" in md
    assert "- good vs baseline (4 paired seeds): accuracy +5.75 pp" in md
    assert "| good | 3 | 88.00 |" in md  # seed-level table
    assert "[reliability](plots/reliability.png)" in md
    assert "[examples](plots/examples.png)" in md
    assert "## Folder layout" in md


def test_report_with_only_a_baseline(tmp_path: Path) -> None:
    out = _write_study(tmp_path / "s", {"baseline": {k: v[:2] for k, v in BASE.items()}}, critical=[])
    md = write_report(out).read_text()
    assert "Only the baseline arm 'baseline': nothing to compare it with." in md
    assert "No critical classes in this study" in md
    assert "| baseline | 2 |" in md
    record = _strict_json(out / "report.json")
    assert record["summary"]["comparisons"] == {}
    assert "critical_recall" not in {Path(p).stem for p in record["plots"]}
    for p in record["plots"]:
        _assert_png(out / p)
    # a figure of an earlier report that this one does not make is removed; other files stay
    from PIL import Image

    Image.new("RGB", (4, 4)).save(out / "plots" / "critical_recall.png")
    Image.new("RGB", (4, 4)).save(out / "plots" / "my_notes.png")
    write_report(out)
    assert not (out / "plots" / "critical_recall.png").exists()
    assert (out / "plots" / "my_notes.png").is_file()
    assert (out / "plots" / "accuracy.png").is_file()


def test_report_without_baseline(tmp_path: Path) -> None:
    out = _write_study(tmp_path / "s", {"good": GOOD, "noisy": {k: v[:3] for k, v in NOISY.items()}},
                       predictions=False)
    study = load_study(out)
    assert study.baseline is None
    md = write_report(out).read_text()
    assert "No baseline arm (an arm without a mixer) in this study, so there is no paired comparison." in md
    assert "- No baseline arm" in md
    assert "| good | 4 |" in md
    assert "| noisy | 3 |" in md
    record = _strict_json(out / "report.json")
    assert record["summary"]["baseline"] is None
    assert record["summary"]["comparisons"] == {}
    assert "plots/reliability.png" not in record["plots"]  # no stored predictions


def test_report_before_any_run_finished(tmp_path: Path) -> None:
    out = _write_study(tmp_path / "s", {})
    md = write_report(out).read_text()
    assert "- No finished runs yet: nothing to report." in md
    assert "No plots" in md
    assert not (out / "plots").exists()
    assert _strict_json(out / "report.json")["summary"]["runs"]["finished"] == 0


def test_bad_study_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"out_dir '.*empty' is not a study folder: it has no study.json"):
        load_study(tmp_path / "empty")
    out = _write_study(tmp_path / "s", {"baseline": BASE})
    (out / "runs" / "baseline" / "seed-0" / "metrics.json").write_text('{"accuracy": 0.')
    with pytest.raises(ValueError, match=r"seed-0/metrics.json: not valid JSON"):
        load_study(out)


def test_plot_arguments_are_checked(summary: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="metric 'speed' is not in the summary"):
        plot_metric_per_arm(summary, "speed", tmp_path / "x.png")
    with pytest.raises(ValueError, match="class_names has 2 names but arm 'baseline' of the summary has 3"):
        plot_per_class_recall(summary, ["a", "b"], tmp_path / "x.png")


def test_example_kinds() -> None:
    f = np.float32
    assert _example_kind(np.zeros((3, 8, 8), f)) == "image"
    assert _example_kind(np.zeros((1, 8, 8), f)) == "image"
    assert _example_kind(np.zeros((1, 8, 8), f), "audio") == "spectrogram"
    assert _example_kind(np.zeros((16, 20), f)) == "spectrogram"
    assert _example_kind(np.zeros((1, 400), f)) == "line"  # a mono waveform
    assert _example_kind(np.zeros(50, f)) == "line"
    assert _example_kind(np.zeros(12, np.int64)) == "none"  # token ids
    assert _example_kind(np.zeros((2, 8, 8), f)) == "none"
    assert _example_kind(None) == "none"  # a graph batch, a dict of tensors


def test_plot_example_mixes(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    w = torch.softmax(3 * torch.randn(3, 3, generator=g), dim=1)
    examples = {
        "baseline": (torch.rand(3, 3, 8, 8, generator=g), torch.eye(3)[[0, 1, 2]]),
        "audio": (torch.rand(3, 12, 20, generator=g), w),
        "text": (torch.randint(0, 50, (3, 7), generator=g), w),
        "graph": ({"x": torch.zeros(1)}, w),
    }
    path = plot_example_mixes(examples, CLASSES, tmp_path / "plots" / "examples.png", max_examples=2)
    _assert_png(path)
    with pytest.raises(
        ValueError, match=r"examples\['a'\]: weights must be dense targets of shape \(B, C\), got shape \(3,\)"
    ):
        plot_example_mixes({"a": (torch.rand(3, 5), torch.ones(3))}, CLASSES, tmp_path / "y.png")
    with pytest.raises(
        ValueError, match=r"inputs of shape \(4, 5\) and weights of shape \(3, 3\) have different batch"
    ):
        plot_example_mixes({"a": (torch.rand(4, 5), w)}, CLASSES, tmp_path / "y.png")
    with pytest.raises(ValueError, match="examples is empty"):
        plot_example_mixes({}, CLASSES, tmp_path / "y.png")


def test_counts_per_class_and_split_are_a_table() -> None:
    from mixup_lab._report import _counts_table

    lines = _counts_table({"train": {"ok": 30, "scratch": 5}, "test": {"ok": 8, "scratch": 2}})
    assert "  | class | train | test |" in lines
    assert "  | scratch | 5 | 2 |" in lines
    assert "  | **all** | 35 | 10 |" in lines
    assert _counts_table(None) == []
    assert _counts_table({"train": 3}) == []
