"""Loaders of labelled text from Debian packages: WordNet noun supersenses and fortunes by topic."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mixup_text.datasets import (
    FORTUNE_CATEGORIES,
    FORTUNES_DIR,
    FORTUNES_INSTALL,
    SUPERSENSES,
    WORDNET_INSTALL,
    WORDNET_NOUNS,
    TextClassificationData,
    load_fortunes,
    load_wordnet_supersenses,
    read_fortunes,
)

needs_wordnet = pytest.mark.skipif(
    not WORDNET_NOUNS.is_file(), reason=f"Debian's wordnet-base is not installed ({WORDNET_INSTALL})"
)
needs_fortunes = pytest.mark.skipif(
    not (FORTUNES_DIR / "computers").is_file(), reason=f"Debian's fortunes is not installed ({FORTUNES_INSTALL})"
)


def _per_class(data: TextClassificationData) -> tuple[Counter[int], Counter[int]]:
    return Counter(data.train_labels), Counter(data.test_labels)


# ------------------------------------------------------------------------------------------ WordNet
@pytest.fixture(scope="module")
def wordnet() -> TextClassificationData:
    if not WORDNET_NOUNS.is_file():
        pytest.skip(f"Debian's wordnet-base is not installed ({WORDNET_INSTALL})")
    return load_wordnet_supersenses(seed=0)


@needs_wordnet
def test_wordnet_all_supersenses(wordnet: TextClassificationData) -> None:
    assert wordnet.label_names == SUPERSENSES
    assert wordnet.num_labels == 26
    texts = wordnet.train_texts + wordnet.test_texts
    assert len(texts) == 82115
    train, test = _per_class(wordnet)
    total = train + test
    assert total[SUPERSENSES.index("artifact")] == 11587
    assert total[SUPERSENSES.index("motive")] == 42
    for label, n in total.items():  # stratified: each class gives round(0.2·n) to the test set
        assert test[label] == round(0.2 * n)
    # a definition is the gloss up to the first ';', labelled by its lexicographer file
    i = texts.index(
        "electrostatic printer that focuses a laser beam to form images that are transferred to paper electrostatically"
    )
    labels = wordnet.train_labels + wordnet.test_labels
    assert wordnet.label_names[labels[i]] == "artifact"
    assert not any(";" in t or " | " in t for t in texts[:2000])


@needs_wordnet
def test_wordnet_top_k_balanced_and_seeded() -> None:
    data = load_wordnet_supersenses(top_k=10, max_per_class=400, seed=3)
    assert data.label_names == (
        "act", "animal", "artifact", "attribute", "communication", "location", "person", "plant", "state", "substance"
    )
    train, test = _per_class(data)
    assert set(train.values()) == {320}
    assert set(test.values()) == {80}
    again = load_wordnet_supersenses(top_k=10, max_per_class=400, seed=3)
    assert again.train_texts == data.train_texts
    assert again.test_labels == data.test_labels
    other = load_wordnet_supersenses(top_k=10, max_per_class=400, seed=4)
    assert other.train_texts != data.train_texts


def test_wordnet_missing_file_names_the_apt_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install -y --no-install-recommends wordnet-base"):
        load_wordnet_supersenses(path=tmp_path / "data.noun")


def test_wordnet_parses_a_small_file(tmp_path: Path) -> None:
    path = tmp_path / "data.noun"
    path.write_text(
        "  1 This software and database is being provided to you, the LICENSEE, by\n"
        "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived or known; \"an example\"  \n"
        "00005930 05 n 01 dwarf 0 001 @ 00004475 n 0000 | a plant or animal that is atypically small  \n"
        "00007347 05 n 01 cause 0 001 @ 00004475 n 0000 | an animal thing  \n",
        encoding="utf-8",
    )
    data = load_wordnet_supersenses(path=path, test_fraction=0.0)
    assert data.label_names == ("Tops", "animal")
    assert sorted(zip(data.train_texts, data.train_labels, strict=True)) == [
        ("a plant or animal that is atypically small", 1),
        ("an animal thing", 1),
        ("that which is perceived or known", 0),
    ]
    assert load_wordnet_supersenses(path=path, top_k=1, test_fraction=0.0).label_names == ("animal",)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="test_fraction must lie in"):
        load_wordnet_supersenses(test_fraction=1.0)
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        load_wordnet_supersenses(top_k=0)
    with pytest.raises(ValueError, match="categories must be a non-empty sequence"):
        load_fortunes("computers")
    with pytest.raises(ValueError, match="categories must not repeat"):
        load_fortunes(["work", "work"])


# ------------------------------------------------------------------------------------------ fortunes
@needs_fortunes
def test_fortunes_six_topics() -> None:
    data = load_fortunes(seed=0)
    assert data.label_names == FORTUNE_CATEGORIES
    train, test = _per_class(data)
    total = train + test
    assert [total[i] for i in range(6)] == [1023, 697, 621, 720, 582, 628]
    assert len(data.train_texts) + len(data.test_texts) == 4271
    texts = data.train_texts + data.test_texts
    assert all(len(t) > 20 and t == t.strip() and "\n%\n" not in t for t in texts)
    assert any("batter’s swing" in t for t in texts)  # a doubly encoded entry is repaired
    assert not any("\x80" <= ch <= "\x9f" for t in texts for ch in t)
    for label, n in total.items():
        assert test[label] == round(0.2 * n)
    assert load_fortunes(seed=0).train_texts == data.train_texts
    assert load_fortunes(seed=1).train_texts != data.train_texts


@needs_fortunes
def test_fortunes_unknown_category_lists_the_available_ones() -> None:
    with pytest.raises(FileNotFoundError, match=r"no fortune category 'cats'.*available: .*computers"):
        load_fortunes(["computers", "cats"])


def test_fortunes_missing_package_names_the_apt_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install -y --no-install-recommends fortunes"):
        load_fortunes(root=tmp_path / "absent")


def test_fortune_file_format(tmp_path: Path) -> None:
    (tmp_path / "latin").write_bytes(
        "short\n%\nUn caf\xe9 cr\xe8me, s'il vous pla\xeet.\n%\n  second one, long enough  \n%\n".encode("latin-1")
    )
    (tmp_path / "utf8").write_bytes("A fortune with a quote: \u201cwrong\u201d\n%\n".encode())
    assert read_fortunes("latin", root=tmp_path) == ["Un café crème, s'il vous plaît.", "second one, long enough"]
    data = load_fortunes(["latin", "utf8"], root=tmp_path, test_fraction=0.0)
    assert sorted(zip(data.train_texts, data.train_labels, strict=True)) == [
        ("A fortune with a quote: \u201cwrong\u201d", 1),
        ("Un café crème, s'il vous plaît.", 0),
        ("second one, long enough", 0),
    ]
    _train_texts, _train_labels, test_texts, _test_labels, names = data  # unpacks as plain lists
    assert test_texts == []
    assert names == ("latin", "utf8")
