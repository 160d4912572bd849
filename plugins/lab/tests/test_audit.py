"""The audit trail: rows from plans (hand-checked), summaries, protection checks, and `mixup audit` end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import mixup_lab._runner as runner
from mixup_core import MixedStep, MixedTargets, MixPlan, create_mixer
from mixup_core.cli import main
from mixup_lab import _store
from mixup_lab._audit import AUDIT_FILE, AuditRecorder, load_audit, summarise_audits, write_audit
from mixup_lab._cli import read_study

CONFIG = Path(__file__).resolve().parents[3] / "examples" / "configs" / "digits.yaml"
CRITICAL_TRAIN = [3, 50, 120]  # positions in the study's training split (before the validation carve)
TINY = ["dataset.train_size=200", "train.epochs=2", "train.val_fraction=0.25", "seeds=[3]", "examples=4",
        "critical.protect=true", "critical.protect_mode=exclude", f"critical.train_indices={CRITICAL_TRAIN}",
        ("arms=[{name: baseline}, {name: mixup, mixer: {name: core:mixup, alpha: 0.4, mode: sample}}, "
         "{name: cutmix, mixer: {name: image:cutmix}}]")]

pytestmark = pytest.mark.xdist_group("lab-audit")


def _step(plan: MixPlan, targets: torch.Tensor, weights: torch.Tensor | None = None) -> MixedStep:
    mixed = MixedTargets.from_plan(targets, plan, num_classes=3)
    if weights is not None:
        mixed = mixed.with_weights(weights)
    return MixedStep(torch.zeros(len(targets), 3), mixed, targets, plan)


def _recorder(mixer: Any = "mixup", **kw: Any) -> AuditRecorder:
    built = create_mixer(mixer) if isinstance(mixer, (str, dict)) else mixer
    args: dict[str, Any] = {"arm": "a", "seed": 0, "mixer_config": {"name": "mixup"}, "num_classes": 3,
                            "train_size": 30, "train_map": None, "critical_classes": [2], "critical_train": None}
    return AuditRecorder(built, **{**args, **kw})


# ------------------------------------------------------------------------------------------ rows from plans
def test_pair_rows_are_dataset_positions_and_label_weights() -> None:
    # batch positions 0..3 are loader positions 4, 5, 6, 7; train_map sends loader position p to 2p + 1
    rec = _recorder(train_map=torch.arange(15) * 2 + 1)
    plan = MixPlan(index=torch.tensor([1, 0, 3, 2]), lam=torch.tensor([0.75, 0.75, 1.0, 1.0]))
    rec.record(_step(plan, torch.tensor([0, 1, 2, 0])), torch.tensor([4, 5, 6, 7]), torch.tensor([0, 1, 2, 0]), epoch=0)
    plan2 = MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.25, 0.25]))
    rec.record(_step(plan2, torch.tensor([1, 1])), torch.tensor([0, 2]), torch.tensor([1, 1]), epoch=1)
    a = rec.arrays()
    assert a["anchor"].tolist() == [9, 11, 13, 15, 1, 5]
    assert a["partner"].tolist() == [11, 9, 15, 13, 5, 1]
    assert a["share"].tolist() == [0.75, 0.75, 1.0, 1.0, 0.25, 0.25]
    assert "partner_share" not in a  # 1 - share: not stored
    assert a["critical"].tolist() == [False, False, True, False, False, False]  # class 2
    assert a["step_rows"].tolist() == [4, 2]
    assert a["step_epoch"].tolist() == [1, 2]
    labels = np.full(30, -1)
    labels[[9, 11, 13, 15, 1, 5]] = [0, 1, 2, 0, 1, 1]
    assert a["labels"].tolist() == labels.tolist()
    meta = json.loads(str(a["meta"]))
    assert (meta["arm"], meta["mixer_name"], meta["mode"], meta["protected"]) == ("a", "core:mixup", "batch", False)


def test_k_sample_rows_and_label_policies_keep_every_weight() -> None:
    rec = _recorder()
    plan = MixPlan(index=torch.tensor([[1, 2, 0], [0, 2, 1], [0, 1, 2]]),
                   lam=torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.7, 0.1, 0.1, 0.1], [1.0, 0.0, 0.0, 0.0]]))
    rec.record(_step(plan, torch.tensor([0, 1, 2])), torch.tensor([7, 8, 9]), torch.tensor([0, 1, 2]), epoch=0)
    a = rec.arrays()
    assert a["partner"].tolist() == [[8, 9, 7], [7, 9, 8], [7, 8, 9]]
    assert a["share"].tolist() == pytest.approx([0.4, 0.7, 1.0])
    assert a["partner_share"].ravel().tolist() == pytest.approx([0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0])
    # a label policy (SnapMix's CAM weights) that does not sum to 1: the label weights are what is stored
    rec = _recorder()
    plan = MixPlan(index=torch.tensor([1, 0]), lam=torch.tensor([0.6, 0.6]))
    weights = torch.tensor([[0.5, 0.2], [0.3, 0.3]])
    rec.record(_step(plan, torch.tensor([0, 1]), weights), torch.tensor([0, 1]), torch.tensor([0, 1]), epoch=0)
    a = rec.arrays()
    assert a["share"].tolist() == pytest.approx([0.5, 0.3])
    assert a["partner_share"].tolist() == pytest.approx([0.2, 0.3])


def test_baseline_and_data_set_level_arms_record_no_rows() -> None:
    rec = _recorder(mixer=None, mixer_config=None)
    rec.record(MixedStep(torch.zeros(2, 3), None, torch.tensor([0, 1])), torch.tensor([0, 1]), torch.tensor([0, 1]), 0)
    a = rec.arrays()
    assert len(a["anchor"]) == 0
    assert len(a["step_rows"]) == 0
    assert "note" not in json.loads(str(a["meta"]))
    dataset_level = json.loads(str(_recorder(mixer=None, mixer_config={"name": "graph:gmixup"}).arrays()["meta"]))
    assert "data-set level" in dataset_level["note"]


# ------------------------------------------------------------------------------------------ summaries
def _write(tmp_path: Path, name: str, arrays: dict[str, Any], meta: dict[str, Any]) -> Path:
    full = {"step_rows": np.array([len(arrays["anchor"])], dtype=np.int32), "step_epoch": np.array([1], dtype=np.int32),
            "step_mixer": np.zeros(1, dtype=np.int8), **arrays,
            "meta": np.asarray(json.dumps({"arm": "a", "seed": 0, "num_classes": 3, **meta}))}
    return write_audit(tmp_path / name, full)


def test_summary_counts_by_hand(tmp_path: Path) -> None:
    # examples 0..5 with classes 0, 0, 1, 1, 2, 2; example 4 (class 2) is critical
    labels = np.array([0, 0, 1, 1, 2, 2], dtype=np.int16)
    anchor = np.array([0, 1, 2, 3, 4, 5], dtype=np.int32)
    partner = np.array([2, 4, 0, 3, 1, 5], dtype=np.int32)  # rows 3 and 5 are paired with themselves
    share = np.array([0.9, 0.6, 0.1, 1.0, 0.4, 1.0], dtype=np.float32)
    crit = anchor == 4
    path = _write(tmp_path, "a.npz", {"anchor": anchor, "partner": partner, "share": share, "critical": crit,
                                      "labels": labels}, {"protected": True, "protect_mode": "floor",
                                                          "protect_floor": 0.5})
    s = summarise_audits([load_audit(path)])
    assert (s.rows, s.mixed_rows, s.steps) == (6, 4, 1)
    # anchor class × partner class of the mixed rows 0→2 (0,1), 1→4 (0,2), 2→0 (1,0), 4→1 (2,0)
    expected = np.zeros((3, 3), dtype=int)
    for i, j in [(0, 1), (0, 2), (1, 0), (2, 0)]:
        expected[i, j] += 1
    assert s.class_pairs.tolist() == expected.tolist()
    assert s.share_quantiles["min"] == pytest.approx(0.1)
    assert s.share_quantiles["max"] == pytest.approx(0.9)
    assert s.share_quantiles["median"] == pytest.approx(np.median([0.9, 0.6, 0.1, 0.4]))
    # example 4: partner of row 1 with 1 - 0.6 = 0.4, anchor of row 4 with 0.4: twice the minority, below the floor
    c = s.critical
    assert (c["examples"], c["in_mixes"], c["minority"]) == (1, 2, 2)
    assert c["min_share"] == pytest.approx(0.4)
    assert c["check"] == "violated"
    assert s.file_bytes == path.stat().st_size


def test_a_k_sample_example_met_twice_in_a_row_counts_once_with_its_total_share(tmp_path: Path) -> None:
    labels = np.array([0, 1, 2], dtype=np.int16)
    path = _write(tmp_path, "k.npz", {
        "anchor": np.array([0], dtype=np.int32), "partner": np.array([[2, 2, 1]], dtype=np.int32),
        "share": np.array([0.4], dtype=np.float32), "partner_share": np.array([[0.2, 0.3, 0.1]], dtype=np.float32),
        "critical": np.array([False]), "labels": labels}, {"protected": False})
    s = summarise_audits([load_audit(path)])
    assert s.class_pairs.tolist() == [[0, 1, 1], [0, 0, 0], [0, 0, 0]]  # example 2 once, example 1 once
    assert s.critical["check"] is None


@pytest.mark.parametrize("mode", ["exclude", "floor"])
def test_protected_examples_are_never_the_minority_of_a_real_mixer(mode: str, tmp_path: Path) -> None:
    mixer = create_mixer({"name": "mixup", "alpha": 1.0, "mode": "sample", "protect": mode, "protect_floor": 0.7})
    rec = _recorder(mixer, protect=True, num_classes=4, train_size=64)
    gen = torch.Generator().manual_seed(1)
    for step in range(20):
        idx = torch.randperm(64, generator=gen)[:16]
        y = idx % 4
        out = mixer(torch.randn(16, 3), y, generator=gen, num_classes=4, protected=y == 2)
        rec.record(MixedStep(torch.zeros(16, 4), out.targets, y, out.plan), idx, y, epoch=step)
    a = rec.arrays()
    s = summarise_audits([load_audit(write_audit(tmp_path / AUDIT_FILE, a))])
    c = s.critical
    assert (c["protected"], c["protect_mode"], c["minority"], c["check"]) == (True, mode, 0, "ok")
    assert c["examples"] > 0
    if mode == "exclude":
        assert (c["floor"], c["min_share"], c["in_mixes"]) == (1.0, 1.0, 0)
        assert not s.class_pairs[2].any()
        assert not s.class_pairs[:, 2].any()
    else:
        assert c["floor"] == 0.7
        assert c["in_mixes"] > 0
        assert 0.7 - 1e-6 <= c["min_share"] < 0.8  # the floor is reached, not just respected from afar


# ------------------------------------------------------------------------------------------ a study end to end
@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audit-study")
    cfg = read_study(CONFIG, TINY)
    order: list[tuple[str, bool]] = []
    real = _store._write_json
    mp = pytest.MonkeyPatch()

    def spy(path: Path, obj: Any) -> None:  # the audit must exist when metrics.json marks the run finished
        if path.name == "metrics.json":
            order.append((path.parent.parent.name, (path.parent / AUDIT_FILE).is_file()))
        real(path, obj)

    mp.setattr(_store, "_write_json", spy)
    try:
        runner.run_compare(cfg, out=out, progress=False, report=False)
    finally:
        mp.undo()
    assert sorted(order) == [("baseline", True), ("cutmix", True), ("mixup", True)]
    return out


def _replay(arm_name: str) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """The plans of every step, recomputed without the runner: torch's shuffling with the run's seed, the
    held-out split of ``split_validation``, the mixer's generator seeded as the runner seeds it."""
    cfg = read_study(CONFIG, TINY)
    seed = cfg.seeds[0]
    data = runner.load_study_data(cfg).data
    kept = np.asarray(runner.split_validation(data, 0.25, seed=0).train.indices)
    critical = torch.zeros(len(data.train), dtype=torch.bool)
    critical[CRITICAL_TRAIN] = True
    mixer = runner.build_mixer(cfg, next(a for a in cfg.arms if a.name == arm_name))
    n, bs = len(kept), cfg.train.batch_size
    order = DataLoader(range(n), batch_size=bs, shuffle=True, drop_last=n % bs == 1,
                       generator=torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(10_007 * seed + 1)
    anchors, partners, shares, crit = [], [], [], []
    for _ in range(cfg.train.epochs):
        for batch in order:
            pos = kept[np.asarray(batch)]
            x = torch.stack([data.train[int(p)][0] for p in pos])
            y = torch.tensor([int(data.train[int(p)][1]) for p in pos])
            protected = (y == 8) | critical[torch.from_numpy(pos)]
            plan = mixer.sample(x, y, generator=gen, protected=protected)
            w = mixer.mix_targets(y, plan, num_classes=10).weights
            anchors.append(pos)
            partners.append(pos[plan.index.numpy()])
            shares.append(w[:, 0].numpy())
            crit.append(protected.numpy())
    return kept, anchors, partners, shares, crit


@pytest.mark.parametrize("arm", ["mixup", "cutmix"])
def test_recorded_rows_equal_an_independent_replay(study: Path, arm: str) -> None:
    a = load_audit(study / "runs" / arm / "seed-3" / AUDIT_FILE)
    kept, anchors, partners, shares, crit = _replay(arm)
    assert a.step_rows.tolist() == [len(p) for p in anchors]
    assert a.anchor.tolist() == np.concatenate(anchors).tolist()
    assert a.partner[:, 0].tolist() == np.concatenate(partners).tolist()
    assert a.share.tobytes() == np.concatenate(shares).astype(np.float32).tobytes()  # exactly
    assert a.critical.tolist() == np.concatenate(crit).tolist()
    assert (a.meta["protected"], a.meta["protect_mode"]) == (True, "exclude")
    # positions in the study's training split: every kept example, and never a held-out one
    assert len(kept) == 150
    assert set(a.anchor.tolist()) == set(a.partner[:, 0].tolist()) == set(kept.tolist())


def test_mixup_audit_reports_protection_per_arm(study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(study), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    arms = {r["arm"]: r for r in report["arms"]}
    assert list(arms) == ["baseline", "mixup", "cutmix"]
    assert (arms["baseline"]["rows"], arms["baseline"]["critical"]["check"]) == (0, None)
    for name in ("mixup", "cutmix"):
        r = arms[name]
        a = load_audit(study / "runs" / name / "seed-3" / AUDIT_FILE)
        assert (r["critical"]["minority"], r["critical"]["check"], r["critical"]["min_share"]) == (0, "ok", 1.0)
        # one partner per mixed row: the matrix counts every mixed row once, by its classes
        pairs = np.array(r["class_pairs"])
        mixed = (a.partner[:, 0] != a.anchor) & (a.partner_share[:, 0] > 0)
        assert pairs.sum() == r["mixed_rows"] == int(mixed.sum())
        assert pairs[8].sum() == pairs[:, 8].sum() == 0  # class 8 is protected by exclusion
        assert pairs[1, 7] == int(((a.labels[a.anchor] == 1) & (a.labels[a.partner[:, 0]] == 7) & mixed).sum())
        assert r["file_bytes"] == a.nbytes > 0
        assert Path(report["plots"][name]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["audit", str(study / "runs" / "mixup" / "seed-3"), "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "mixup (core:mixup, mode sample), seed 3" in text
    assert "minority 0: ok" in text


def test_resume_leaves_the_audit_byte_identical(study: Path) -> None:
    files = sorted(study.glob(f"runs/*/seed-3/{AUDIT_FILE}"))
    before = {f: (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in files}
    runner.run_compare(read_study(CONFIG, TINY), out=study, progress=False, report=False)
    assert {f: (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in files} == before


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda root: root / "missing", "RUN_OR_STUDY: no such run or study folder"),
        (lambda root: root, "RUN_OR_STUDY: not a run folder (no audit.npz) or a study folder (no study.json)"),
        (lambda root: _run_without_audit(root), "RUN_OR_STUDY: the run has no audit.npz"),
        (lambda root: _study_without_audits(root), "RUN_OR_STUDY: the study has no audit.npz"),
        (lambda root: _torn_audit(root), "is not a readable audit"),
    ],
    ids=["missing", "plain-folder", "run-without-audit", "study-without-audits", "torn-file"],
)
def test_a_path_that_is_not_a_run_or_study_is_one_line(
    make: Any, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["audit", str(path)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("mixup: error: ")
    assert expected in err[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def _run_without_audit(root: Path) -> Path:
    (root / "run").mkdir()
    (root / "run" / "metrics.json").write_text("{}")
    return root / "run"


def _study_without_audits(root: Path) -> Path:
    (root / "study.json").write_text("{}")
    return root


def _torn_audit(root: Path) -> Path:
    (root / AUDIT_FILE).write_bytes(b"PK\x03\x04 torn")
    return root


def test_the_report_shows_that_protection_held(study: Path) -> None:
    from mixup_lab._report import load_study, summarise, write_report

    summary = summarise(load_study(study))
    for arm, c in summary["protection"].items():
        assert (c["protect_mode"], c["minority"], c["check"]) == ("exclude", 0, "ok"), arm
    md = write_report(study).read_text()
    assert "## Critical cases in the mixes" in md
    assert "| exclude (floor 1" in md
    assert md.count("| ok |") == len(summary["protection"])
