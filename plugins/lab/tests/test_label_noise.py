"""``dataset.label_noise``: a known share of training labels corrupted, seeded, recorded; test labels untouched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mixup_core import ConfigError, TaskData
from mixup_core.data import LabeledTensors
from mixup_lab._cli import read_study
from mixup_lab._noise import LABEL_NOISE_FILE, LabelNoise, add_label_noise, pop_label_noise
from mixup_lab._runner import load_study_data, run_compare

CONFIG = Path(__file__).resolve().parents[3] / "examples" / "configs" / "digits.yaml"


def _task(n_per_class: int = 50, classes: int = 5) -> TaskData:
    y = torch.arange(classes).repeat(n_per_class)
    x = torch.arange(len(y), dtype=torch.float32).unsqueeze(1)
    return TaskData(
        LabeledTensors(x, y), LabeledTensors(x[:20], y[:20]), classes, [str(c) for c in range(classes)], "image"
    )


def _labels(ds: object) -> np.ndarray:
    return np.asarray([int(ds[i][1]) for i in range(len(ds))])  # type: ignore[index, arg-type]


def test_symmetric_noise_corrupts_exactly_the_rate_of_each_class() -> None:
    task = _task()
    noisy, rec = add_label_noise(task, 0.4, seed=3)
    before, after = _labels(task.train), _labels(noisy.train)
    wrong = np.flatnonzero(before != after)
    assert wrong.tolist() == rec.indices.tolist()
    assert len(wrong) == 5 * 20  # 40 % of 50 per class
    for c in range(5):
        assert (before[wrong] == c).sum() == 20
    assert (rec.true_labels == before[wrong]).all()
    assert (rec.noisy_labels == after[wrong]).all()
    assert len(set(after[wrong].tolist())) == 5, "symmetric noise reaches every other class"
    # inputs are untouched, and so is the test split
    assert all(torch.equal(noisy.train[i][0], task.train[i][0]) for i in range(len(task.train)))
    assert noisy.test is task.test
    assert "label_noise" in noisy.info
    assert "label_noise" not in task.info


def test_pairwise_noise_flips_to_the_next_class() -> None:
    _noisy, rec = add_label_noise(_task(), 0.2, kind="pairwise", seed=0)
    assert len(rec.indices) == 50
    assert ((rec.true_labels + 1) % 5 == rec.noisy_labels).all()


def test_noise_is_seeded() -> None:
    a = add_label_noise(_task(), 0.3, seed=1)[1]
    b = add_label_noise(_task(), 0.3, seed=1)[1]
    c = add_label_noise(_task(), 0.3, seed=2)[1]
    assert a.indices.tolist() == b.indices.tolist()
    assert a.noisy_labels.tolist() == b.noisy_labels.tolist()
    assert a.indices.tolist() != c.indices.tolist()


def test_graph_items_get_a_new_y_without_changing_the_original() -> None:
    pyg = pytest.importorskip("torch_geometric.data")
    graphs = [pyg.Data(x=torch.ones(3, 1), edge_index=torch.zeros(2, 0, dtype=torch.long), y=torch.tensor([i % 2]))
              for i in range(20)]
    task = TaskData(graphs, graphs[:4], 2, ["a", "b"], "graph")
    noisy, rec = add_label_noise(task, 0.3, seed=0)
    assert len(rec.indices) == 6
    for i in rec.indices:
        assert int(noisy.train[int(i)].y) == 1 - int(graphs[int(i)].y)
    assert [int(g.y) for g in graphs] == [i % 2 for i in range(20)]


@pytest.mark.parametrize(("changes", "field"), [
    ({"label_noise": 1.2}, r"dataset\.label_noise: .*\(got 1\.2\)"),
    ({"label_noise": "lots"}, r"dataset\.label_noise: .*\(got 'lots'\)"),
    ({"label_noise": 0.2, "label_noise_kind": "flip"}, r"dataset\.label_noise_kind: .*\(got 'flip'\)"),
    ({"label_noise": 0.2, "label_noise_seed": -1}, r"dataset\.label_noise_seed: .*\(got -1\)"),
    ({"label_noise": 0.5, "label_noise_kind": "pairwise"}, (r"dataset\.label_noise: pairwise "
                                                            r"noise must stay below 0\.5")),
    ({"label_noise": 0.95}, r"dataset\.label_noise: symmetric noise must stay below 0\.9"),
    ({"label_noise_kind": "pairwise"}, r"dataset\.label_noise_kind: set dataset\.label_noise too"),
])
def test_bad_options_are_named(changes: dict[str, object], field: str) -> None:
    cfg = read_study(CONFIG, [f"dataset.{k}={json.dumps(v)}" for k, v in changes.items()])
    with pytest.raises(ConfigError, match=field):
        load_study_data(cfg)


def test_zero_noise_is_no_noise() -> None:
    assert pop_label_noise({"label_noise": 0, "label_noise_kind": "pairwise", "a": 1}) == ({"a": 1}, None)


@pytest.mark.xdist_group("lab-compare")
def test_a_noisy_study_records_the_corrupted_labels(tmp_path: Path) -> None:
    cfg = read_study(CONFIG, ["dataset.label_noise=0.4", "dataset.label_noise_kind=pairwise", "train.epochs=1",
                              "seeds=[0]", "examples=0", "arms=[{name: baseline}]", "critical.classes=[]"])
    clean = read_study(CONFIG, [])
    assert cfg.setup_hash() != clean.setup_hash(), "a noisy study is another setup"
    out = run_compare(cfg, out=tmp_path / "s", progress=False)
    rec = LabelNoise.read(out / LABEL_NOISE_FILE)
    study = load_study_data(cfg)
    clean_labels = _labels(load_study_data(clean).data.train)
    assert rec.kind == "pairwise"
    assert rec.rate == 0.4
    assert (clean_labels[rec.indices] == rec.true_labels).all()
    assert (_labels(study.data.train)[rec.indices] == rec.noisy_labels).all()
    assert len(rec.indices) == sum(round(0.4 * int((clean_labels == c).sum())) for c in range(10))
    # the test labels the run was scored on are the clean ones
    with np.load(out / "runs" / "baseline" / "seed-0" / "predictions.npz") as z:
        assert z["labels"].tolist() == _labels(load_study_data(clean).data.test).tolist()
    assert "label_noise: pairwise" in (out / "report.md").read_text()
