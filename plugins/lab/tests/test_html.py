"""report.html: one self-contained page rendered from the summary, checked as markup and in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mixup_lab._html import render_html
from mixup_lab._report import load_study, summarise, write_report

CONFIG = Path(__file__).resolve().parents[3] / "examples" / "configs" / "digits.yaml"
PNG_URI = "data:image/png;base64,"
_CAPTURED = {"h1", "h2", "li", "caption", "th", "td", "figcaption", "style"}  # elements whose text is kept
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """What a reader sees of a page: headings, the headline, tables, images; plus nesting errors and references."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value) of every src/href/srcset/action
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.h1: list[str] = []
        self.h2: list[str] = []
        self.headline: list[str] = []  # the <li> of the headline section, in order
        self.verdict: list[str] = []  # the <li> of its "Statistical verdict" list
        self.tables: list[dict[str, Any]] = []
        self.imgs: list[dict[str, str]] = []
        self.figcaptions: list[str] = []
        self.styles: list[str] = []
        self._text: list[str] | None = None
        self._section: str | None = None
        self._list: str | None = None
        self._row: list[str] | None = None
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed at the end: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if "id" in a:
            self.ids.append(a["id"])
        for key in ("src", "href", "srcset", "action", "poster", "data"):
            if key in a:
                self.refs.append((tag, key, a[key]))
        if tag not in _VOID:
            self.stack.append(tag)
        if tag == "section":
            self._section = a.get("id")
        elif tag == "ul" and self._section == "headline":
            self._list = a.get("class")
        elif tag == "table":
            self.tables.append({"caption": "", "header": [], "rows": [], "row_header_scopes": []})
        elif tag == "tr":
            self._row = []
        elif tag == "th" and self.tables:
            if a.get("scope") == "row":
                self.tables[-1]["row_header_scopes"].append("row")
        elif tag == "img":
            self.imgs.append(a)
        if tag in _CAPTURED:
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}> at {self.getpos()}")
        else:
            self.stack.pop()
        text = " ".join("".join(self._text or []).split())
        if tag == "h1":
            self.h1.append(text)
        elif tag == "h2":
            self.h2.append(text)
        elif tag == "li" and self._section == "headline":
            (self.headline if self._list == "lead" else self.verdict).append(text)
        elif tag == "caption":
            self.tables[-1]["caption"] = text
        elif tag in ("th", "td") and self._row is not None:
            self._row.append(text)
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            if not table["header"]:
                table["header"] = self._row
            else:
                table["rows"].append(self._row)
            self._row = None
        elif tag == "figcaption":
            self.figcaptions.append(text)
        elif tag == "style":
            self.styles.append("".join(self._text or []))
        elif tag == "section":
            self._section = None
        elif tag == "ul":
            self._list = None
        if tag in _CAPTURED:
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def table(self, caption_start: str) -> dict[str, Any]:
        found = [t for t in self.tables if t["caption"].startswith(caption_start)]
        assert len(found) == 1, f"{caption_start!r}: {[t['caption'] for t in self.tables]}"
        return found[0]


def _row(table: dict[str, Any], *first: str) -> dict[str, str]:
    rows = [r for r in table["rows"] if tuple(r[: len(first)]) == first]
    assert len(rows) == 1, (first, table["rows"])
    return dict(zip(table["header"], rows[0], strict=True))


def _png_of(uri: str) -> bytes:
    assert uri.startswith(PNG_URI), uri[:40]
    return base64.b64decode(uri[len(PNG_URI):], validate=True)


def _check_self_contained(page: Page, html: str) -> None:
    """Nothing is loaded from outside the page: images are data: URIs, links are fragments, no script or link."""
    assert page.errors == []
    assert {"script", "link", "iframe", "object", "embed", "base"}.isdisjoint(page.tags)
    for tag, attr, value in page.refs:
        if attr == "src":
            assert (tag, value[: len(PNG_URI)]) == ("img", PNG_URI)
        else:  # in-page links only, each to an element of the page
            assert (tag, attr, value[:1]) == ("a", "href", "#"), (tag, attr, value)
            assert value[1:] in page.ids
    assert len(page.ids) == len(set(page.ids))
    for css in page.styles:
        assert "url(" not in css
        assert "@import" not in css
        assert "@font-face" not in css
    assert "http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:;" in html


# --------------------------------------------------------------------------- a hand-written study (no training)

CLASSES = ["cat", "dog", "a<b&c"]
# two seeds; accuracy: baseline 0.80, 0.84 (mean 82.00, sd 2.83 pp); mixup 0.86, 0.88 (87.00 ± 1.41)
ACC = {"baseline": [0.80, 0.84], "mixup": [0.86, 0.88]}
RECALL = {"baseline": [[0.9, 0.5, 1.0], [0.95, 0.6, 1.0]], "mixup": [[0.9, 0.7, 1.0], [1.0, 0.8, 1.0]]}


def _write_study(out: Path, *, runs: bool = True) -> Path:
    arms = [{"name": "baseline", "mixer": None}, {"name": "mixup", "mixer": {"name": "core:mixup", "alpha": 0.4}}]
    config = {"name": "toy", "dataset": {"name": "toyset"}, "model": {"name": "mlp", "hidden": 8},
              "train": {"epochs": 1, "batch_size": 8, "optimizer": "adam", "lr": 0.01, "weight_decay": 0.0,
                        "schedule": "cosine", "label_smoothing": 0.0},
              "seeds": [0, 1], "arms": arms, "critical": {"classes": ["dog"], "protect": False}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps({
        "config": config, "setup_hash": "abc", "class_names": CLASSES, "num_classes": 3, "critical_classes": [1],
        "dataset_info": {"source": "made up", "counts": {"train": {"cat": 10, "dog": 12, "a<b&c": 8},
                                                          "test": {"cat": 2, "dog": 2, "a<b&c": 2}}},
        "train_size": 30, "test_size": 6}))
    if not runs:
        return out
    rng = np.random.default_rng(0)
    for arm in ACC:
        for seed in (0, 1):
            folder = out / "runs" / arm / f"seed-{seed}"
            folder.mkdir(parents=True)
            probs = rng.dirichlet(np.ones(3), size=6).astype(np.float32)
            np.savez_compressed(folder / "predictions.npz", probs=probs, labels=np.array([0, 0, 1, 1, 2, 2]))
            acc, rec = ACC[arm][seed], RECALL[arm][seed]
            (folder / "metrics.json").write_text(json.dumps({
                "arm": arm, "seed": seed, "mixer": arms[arm == "mixup"]["mixer"], "accuracy": acc,
                "error_rate": 1 - acc, "macro_f1": acc - 0.01, "nll": 0.5, "ece": 0.05, "brier": 0.3,
                "per_class_recall": rec, "critical_classes": [1], "critical_recall": rec[1],
                "critical_class_recall": {"1": rec[1]}, "train_seconds": 2.0}))
    return out


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = _write_study(tmp_path_factory.mktemp("toy"))
    write_report(out)
    return out


def test_the_page_is_well_formed_and_loads_nothing_from_outside(toy: Path) -> None:
    html = (toy / "report.html").read_text(encoding="utf-8")
    page = Page(html)
    _check_self_contained(page, html)
    assert html.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert page.h1 == ["toy: mixup compare report"]
    # the toy comparison is within noise, so the seeds advice follows the setup
    assert page.h2 == ["In short", "Setup", "How many seeds are enough", "Metrics",
                       "Paired comparison with the baseline", "Recall by class", "Seed-level numbers", "Plots"]
    # a class name is text, never markup
    assert "a&lt;b&amp;c (2)" in html
    assert "a<b&c" not in html


def test_every_plot_file_of_the_study_is_embedded_with_a_caption_and_an_alt_text(toy: Path) -> None:
    from PIL import Image

    page = Page((toy / "report.html").read_text(encoding="utf-8"))
    listed = json.loads((toy / "report.json").read_text())["plots"]
    files = sorted((toy / "plots").glob("*.png"))
    assert sorted(toy / p for p in listed) == files
    # accuracy, macro-F1, NLL, ECE, critical recall, reliability, risk-coverage, per-class recall
    assert len(files) == 8
    assert [_png_of(img["src"]) for img in page.imgs] == [(toy / p).read_bytes() for p in listed]
    for img, p in zip(page.imgs, listed, strict=True):
        with Image.open(toy / p) as im:
            assert (int(img["width"]), int(img["height"])) == im.size
        assert img["alt"].strip()
    assert len(page.figcaptions) == len(listed)
    assert page.figcaptions[0].startswith("Figure 1. Accuracy per arm")
    assert page.figcaptions[0].endswith("(accuracy.png)")
    assert "Lower is better" in page.figcaptions[2]  # nll


def test_tables_show_the_summary_numbers_with_headers(toy: Path) -> None:
    page = Page((toy / "report.html").read_text(encoding="utf-8"))
    for table in page.tables:
        assert table["caption"]
        assert table["header"]
        assert table["row_header_scopes"] == ["row"] * len(table["rows"])  # every row has its header cell
    metrics = page.table("Metrics per arm")
    assert _row(metrics, "baseline")["accuracy (%)"] == "82.00 ± 2.83"
    assert _row(metrics, "mixup")["accuracy (%)"] == "87.00 ± 1.41"
    assert _row(metrics, "mixup")["runs"] == "2"
    # differences 6 and 4 pp: mean 5, sd √2 pp; t = 5 with 1 df: p = 1 − 2·atan(5)/π = 0.126,
    # half-width t(0.975, 1)·√2/√2 = 12.706 pp
    comp = _row(page.table("Each arm against baseline"), "mixup", "accuracy")
    assert comp == {"arm": "mixup", "metric": "accuracy", "paired seeds": "2", "Δ vs baseline": "+5.00 pp",
                    "95% CI of Δ": "-7.71 to +17.71", "p (paired t)": "0.126", "verdict": "within noise"}
    crit = page.table("Recall of the critical classes")
    assert crit["header"] == ["arm", "dog (1)", "all critical"]
    assert _row(crit, "mixup")["dog (1)"] == "75.00 ± 7.07"
    recall = page.table("Per-class recall")
    assert [r[0] for r in recall["rows"]] == ["cat (0)", "dog (1) ★", "a<b&c (2)"]
    assert _row(recall, "cat (0)") == {"class": "cat (0)", "baseline": "92.50", "mixup": "95.00"}
    counts = page.table("Examples per class and split")
    assert counts["header"] == ["class", "train", "test"]
    assert counts["rows"] == [["cat", "10", "2"], ["dog", "12", "2"], ["a<b&c", "8", "2"], ["all", "30", "6"]]
    seeds = page.table("Every finished run")
    assert [r[:3] for r in seeds["rows"]] == [["baseline", "0", "80.00"], ["baseline", "1", "84.00"],
                                             ["mixup", "0", "86.00"], ["mixup", "1", "88.00"]]


def test_a_business_headline_comes_first_and_the_verdict_follows(toy: Path) -> None:
    summary = summarise(load_study(toy))
    plots = sorted((toy / "plots").glob("*.png"))
    assert summary["headline"], "a study with a baseline and paired seeds has a business headline"
    plain = Page(render_html({**summary, "headline": []}, plots, version="0"))
    assert plain.headline == summary["verdict"]  # without a headline, the verdict lines are the headline
    assert plain.verdict == []
    own = Page(render_html(summary, plots, version="0"))
    assert own.headline == summary["headline"]
    assert own.verdict == summary["verdict"]
    told = ["mixup: 5 fewer errors per 100 cases <for> the same cost & time.", "Cutmix: no change."]
    page = Page(render_html({**summary, "headline": told}, plots, version="0"))
    assert page.headline == told
    assert page.verdict == summary["verdict"]
    # one sentence per arm is shown in arm order
    per_arm = Page(render_html({**summary, "headline": {"mixup": "a", "cutmix": "b"}}, plots, version="0"))
    assert per_arm.headline == ["a", "b"]


def test_a_study_without_finished_runs_has_a_page_without_plots(tmp_path: Path) -> None:
    out = _write_study(tmp_path / "empty", runs=False)
    write_report(out)
    html = (out / "report.html").read_text(encoding="utf-8")
    page = Page(html)
    _check_self_contained(page, html)
    assert page.imgs == []
    assert "No plots (no finished runs yet)." in html
    assert page.headline == ["No finished runs yet: nothing to report."]


def test_a_plot_that_is_not_a_png_is_refused_by_name(toy: Path, tmp_path: Path) -> None:
    fake = tmp_path / "accuracy.png"
    fake.write_bytes(b"GIF89a not a png at all......")
    with pytest.raises(ValueError, match=r"plots: '.*accuracy\.png' is not a PNG file"):
        render_html(summarise(load_study(toy)), [fake])


# --------------------------------------------------------------------------- headless Chromium on a trained study

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--force-device-scale-factor=1", "--force-color-profile=srgb"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (apt-get update && apt-get install -y chromium)")
    return found


def _run_chromium(binary: str, profile: Path, args: Sequence[str]) -> str:
    proc = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=180, check=False)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc.stdout


def _rgb(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    white.alpha_composite(rgba)
    return np.asarray(white.convert("RGB")).astype(np.int16)


def _find(shot: np.ndarray, img: np.ndarray, tol: int = 8) -> tuple[int, int] | None:
    """Where ``img`` appears pixel for pixel (±tol) in ``shot``: ``(top, left)``, or ``None``."""
    h, w = img.shape[:2]
    big_h, big_w = shot.shape[:2]
    if h > big_h or w > big_w:
        return None
    r = int(np.argmax((img < 250).any(-1).sum(1)))  # the row with the most ink
    cols = np.flatnonzero((img[r] < 250).any(-1))
    ks = cols[np.linspace(0, len(cols) - 1, 32).astype(int)]
    ys, xs = np.nonzero(np.abs(shot[r:r + big_h - h + 1, ks[0]:ks[0] + big_w - w + 1] - img[r, ks[0]]).max(-1) <= tol)
    for k in ks[1:]:
        keep = np.abs(shot[ys + r, xs + k] - img[r, k]).max(-1) <= tol
        ys, xs = ys[keep], xs[keep]
    for y, x in zip(ys.tolist(), xs.tolist(), strict=True):
        if np.abs(shot[y:y + h, x:x + w] - img).max() <= tol:
            return y, x
    return None


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    binary = _chromium()  # skip before training when there is no browser
    import mixup_lab._runner as runner
    from mixup_lab._cli import read_study

    out = tmp_path_factory.mktemp("digits")
    runner.run_compare(read_study(CONFIG, ["train.epochs=1", "seeds=[0, 1]", "examples=4"]), out=out, progress=False)
    return binary, out


@pytest.mark.xdist_group("lab-compare")
def test_chromium_shows_the_headline_the_tables_and_every_plot(trained: tuple[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    binary, out = trained
    report = json.loads((out / "report.json").read_text())
    summary, plots = report["summary"], [out / p for p in report["plots"]]
    assert [p.name for p in plots][-1] == "examples.png"
    assert len(plots) == 9
    url = (out / "report.html").resolve().as_uri()

    # the DOM as Chromium built it
    dom = Page(_run_chromium(binary, tmp_path / "profile-dom", ["--dump-dom", url]))
    assert dom.errors == []
    assert dom.h1 == ["digits: mixup compare report"]
    assert dom.headline == (summary["headline"] or summary["verdict"])
    assert all(dom.headline)
    assert {t["caption"].split(" (")[0] for t in dom.tables} == {
        "Metrics per arm", "Each arm against baseline, seed by seed", "Recall of the critical classes",
        "Per-class recall", "Every finished run"}
    assert [r[0] for r in dom.table("Metrics per arm")["rows"]] == ["baseline", "mixup", "cutmix"]
    assert len(dom.table("Per-class recall")["rows"]) == 10
    assert len(dom.table("Each arm against baseline")["rows"]) == 2 * 7
    assert len(dom.imgs) == len(plots)
    for img, path in zip(dom.imgs, plots, strict=True):
        data = _png_of(img["src"])
        assert data == path.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        assert img["alt"]

    # the page as drawn: a window taller than the page, so one screenshot holds all of it
    height = 4000 + sum(_rgb(p.read_bytes()).shape[0] for p in plots)
    shot_path = tmp_path / "shot.png"
    _run_chromium(binary, tmp_path / "profile-shot", [f"--screenshot={shot_path}", f"--window-size=1280,{height}", url])
    with Image.open(shot_path) as im:
        shot = np.asarray(im.convert("RGB")).astype(np.int16)
    assert shot.shape[:2] == (height, 1280)
    ink = (shot < 240).any(-1)
    inked_rows = np.flatnonzero(ink.any(1))
    assert ink.mean() > 0.05, "the screenshot is (nearly) blank"
    assert inked_rows[-1] < height - 100, "the page is longer than the window: the screenshot is cut"
    # the headline panel (its light blue background) is drawn at the top, before any plot
    panel = (np.abs(shot - np.array([234, 242, 251])).max(-1) <= 2).sum(1) > 600
    assert panel.any()
    top_of_panel = int(np.flatnonzero(panel)[0])
    assert top_of_panel < 400
    # every plot is on screen, pixel for pixel, below the headline, each in its own place
    where = {p.name: _find(shot, _rgb(p.read_bytes())) for p in plots}
    found = [v for v in where.values() if v is not None]
    assert len(found) == len(plots), where
    assert len(set(found)) == len(plots)
    assert min(y for y, _ in found) > top_of_panel
