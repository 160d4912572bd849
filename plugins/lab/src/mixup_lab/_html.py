"""A study report as one self-contained HTML file (``report.html``), readable offline.

Rendered from the same data as ``report.md`` (the summary of `summarise` and the list of plot
files), never from the markdown text. Every plot is embedded as a base64 PNG ``data:`` URI and
the style sheet is inline; the page has no script, no external font, style sheet or image, and a
Content-Security-Policy that forbids loading anything from outside the file, so it reads the same
from a USB stick on a machine without network. This module only lays out numbers it is given: the
statistics are computed by `summarise`.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any, NamedTuple

# report.md's number formats, so that both reports print the same digits
from ._advice import advice_markdown
from ._format import _fmt_ci, _fmt_diff, _fmt_mean_sd, _fmt_p, _fmt_value, _header, _metrics_shown
from ._metrics import METRIC_LABELS

__all__ = ["render_html", "write_html"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# what each figure of `write_report` shows: a caption for sighted readers, an alt text for screen readers
_CAPTIONS: dict[str, tuple[str, str]] = {
    "reliability": (
        (
            "Reliability diagrams, one per arm, with the test predictions of all its seeds pooled. Bars: the "
            "accuracy of each confidence bin; hatched red outline: the gap to the bin's mean confidence; diagonal: "
            "perfect calibration. The title of each panel gives the ECE of the pooled predictions."
        ),
        "Reliability diagrams: accuracy against confidence, one panel per arm",
    ),
    "per_class_recall": (
        "Recall of each class by arm (mean ± sd over seeds). Critical classes have a shaded background and red labels.",
        "Bar chart: recall of each class, one bar per arm",
    ),
    "examples": (
        "A few mixed training examples per arm (one row per arm), each titled with its two largest label weights.",
        "Grid of mixed training examples, one row per arm",
    ),
}

_NOISE_NOTE = (
    "A difference is <em>within noise</em> when the 95% confidence interval of the mean paired difference (arm − "
    "baseline, seed by seed; t distribution) contains 0. Each arm and metric is tested on its own, without a "
    "correction for multiple comparisons, so with many arms an occasional <em>better</em> or <em>worse</em> can be "
    "chance; more seeds narrow the intervals."
)

# in-page links to the sections (fragments only: nothing outside the file)
_SECTIONS = (
    ("headline", "In short"),
    ("setup", "Setup"),
    ("metrics", "Metrics"),
    ("comparisons", "Paired comparison"),
    ("recall", "Recall by class"),
    ("seeds", "Seed-level numbers"),
    ("plots", "Plots"),
)

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: #1a1a1a; font: 15px/1.5 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 1.7em; margin: 0 0 16px; }
h2 { font-size: 1.3em; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #d0d7de; }
h3 { font-size: 1.05em; margin: 18px 0 6px; }
code { font: 0.9em "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #f3f4f6; padding: 1px 4px;
       border-radius: 3px; overflow-wrap: anywhere; }
.headline { background: #eaf2fb; border-left: 6px solid #1f6feb; padding: 12px 20px 14px; border-radius: 4px; }
.headline h2 { margin-top: 0; border: 0; }
.headline ul.lead { font-size: 1.15em; font-weight: 600; }
.headline li { margin: 4px 0; }
.note { color: #4b5563; font-size: 0.9em; }
.warning { background: #fff4e5; border-left: 6px solid #d97706; padding: 8px 14px; }
dl.setup { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.setup dt { font-weight: 600; }
dl.setup dd { margin: 0; }
.scroll { overflow-x: auto; margin: 8px 0; }
table { border-collapse: collapse; font-size: 0.92em; }
caption { text-align: left; font-weight: 600; padding: 4px 0; caption-side: top; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; vertical-align: top; }
thead th { background: #f3f4f6; }
tbody th { text-align: left; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.better { background: #e6f4ea; color: #0f5323; font-weight: 600; }
td.worse { background: #fde8e8; color: #8a1c1c; font-weight: 600; }
tr.critical th { color: #b91c1c; }
nav.toc ul { display: flex; flex-wrap: wrap; gap: 4px 18px; list-style: none; padding: 0; margin: 0 0 16px; }
nav.toc a { color: #1f4fa8; }
.gallery { display: flex; flex-wrap: wrap; gap: 0 32px; align-items: flex-start; }
figure { margin: 14px 0 24px; max-width: 100%; }
figure img { display: block; width: 100%; height: auto; outline: 1px solid #e5e7eb; }
figcaption { margin-top: 8px; color: #374151; font-size: 0.92em; }
footer { margin-top: 40px; color: #6b7280; font-size: 0.85em; }
@media print { main { max-width: none; padding: 0; } figure, table { break-inside: avoid; } }
"""

# nothing may be loaded from outside the file: images only as data: URIs, styles only inline, no script at all
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


class _Cell(NamedTuple):
    """A table cell: its text (escaped when rendered) and a CSS class."""

    text: str
    cls: str = ""


def _e(text: Any) -> str:
    return escape(str(text), quote=True)


def _params(section: Any) -> str:
    """``name (k=v, …)`` of a config section, as HTML."""
    if not isinstance(section, Mapping):
        return "—"
    rest = {k: v for k, v in section.items() if k != "name"}
    out = f"<code>{_e(section.get('name', '?'))}</code>"
    return out + (f" ({_e(', '.join(f'{k}={v}' for k, v in rest.items()))})" if rest else "")


def _table(
    caption: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str | _Cell]],
    *,
    numeric_from: int = 1,
    text_columns: Sequence[int] = (),
    row_classes: Sequence[str] | None = None,
) -> list[str]:
    """A table with a caption, column headers, and the first cell of each row as its row header."""
    out = ['<div class="scroll">', "<table>", f"<caption>{_e(caption)}</caption>", "<thead><tr>"]
    out += [f'<th scope="col">{_e(h)}</th>' for h in header]
    out += ["</tr></thead>", "<tbody>"]
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes else ""
        cells = [c if isinstance(c, _Cell) else _Cell(c) for c in row]
        line = f'<tr class="{cls}">' if cls else "<tr>"
        line += f'<th scope="row">{_e(cells[0].text)}</th>'
        for j, cell in enumerate(cells[1:], start=1):
            classes = " ".join(c for c in ("num" if j >= numeric_from and j not in text_columns else "", cell.cls) if c)
            line += f'<td class="{classes}">' if classes else "<td>"
            line += f"{_e(cell.text)}</td>"
        out.append(line + "</tr>")
    out += ["</tbody>", "</table>", "</div>"]
    return out


def _headline(summary: Mapping[str, Any]) -> list[str]:
    """The business headline (``summary["headline"]``) when there is one, then the statistical verdict."""
    raw = summary.get("headline")
    if isinstance(raw, Mapping):  # one sentence per arm
        raw = list(raw.values())
    headline = [str(h) for h in raw if h] if isinstance(raw, (list, tuple)) else []
    verdict = [str(v) for v in summary.get("verdict") or []]
    out = ['<section id="headline" class="headline" aria-labelledby="headline-title">',
           '<h2 id="headline-title">In short</h2>']
    lead = headline or verdict
    out += ['<ul class="lead">', *(f"<li>{_e(line)}</li>" for line in lead), "</ul>"]
    if headline and verdict:
        out += ['<h3 id="verdict">Statistical verdict</h3>', '<ul class="verdict">']
        out += [f"<li>{_e(line)}</li>" for line in verdict]
        out.append("</ul>")
    return [*out, f'<p class="note">{_NOISE_NOTE}</p>', "</section>"]


def _counts(counts: Any) -> list[str]:
    """Examples per class and split (``dataset_info["counts"]`` of the own-data loaders)."""
    if not isinstance(counts, Mapping) or not counts or not all(isinstance(v, Mapping) for v in counts.values()):
        return []
    splits = [str(s) for s in counts]
    classes = list(dict.fromkeys(c for split in counts.values() for c in split))
    rows = [[str(c), *(str(counts[s].get(c, 0)) for s in counts)] for c in classes]
    rows.append(["all", *(str(sum(counts[s].values())) for s in counts)])
    return _table("Examples per class and split", ["class", *splits], rows)


def _setup(summary: Mapping[str, Any]) -> list[str]:
    st = summary["study"]
    names = st["class_names"]
    crit = st["critical_classes"]
    runs = summary["runs"]
    info = st.get("dataset_info") or {}
    sizes = []
    if st.get("train_size") is not None:
        sizes.append(f"{st['train_size']} training / {st.get('test_size')} test examples")
    sizes.append(f"{st['num_classes']} classes")
    items: list[tuple[str, str]] = [("Data set", f"{_params(st.get('dataset'))} — {_e(', '.join(sizes))}")]
    facts = [f"{k}: {v}" for k, v in info.items() if not isinstance(v, (dict, list))]
    if facts:
        items.append(("Data set facts", _e("; ".join(facts))))
    items.append(("Model", _params(st.get("model"))))
    tr = st.get("train") or {}
    if tr:
        budget = (
            f"{tr.get('epochs')} epochs, batch {tr.get('batch_size')}, {tr.get('optimizer')} lr {tr.get('lr')}, "
            f"{tr.get('schedule')} schedule, weight decay {tr.get('weight_decay')}, "
            f"label smoothing {tr.get('label_smoothing')} (the same for every arm)"
        )
        items.append(("Budget", _e(budget)))
    seeds = ", ".join(str(s) for s in st["seeds"]) or "—"
    items.append(("Seeds", _e(f"{seeds} — {runs['finished']} of {runs['expected']} runs finished")))
    arm_desc = []
    for arm, a in summary["arms"].items():
        if a["mixer"] is None:
            desc = "no mixer" + (", the reference" if arm == summary["baseline"] else "")
            arm_desc.append(f"<li>{_e(arm)} ({_e(desc)})</li>")
        else:
            arm_desc.append(f"<li>{_e(arm)}: <code>{_e(json.dumps(a['mixer']))}</code></li>")
    items.append(("Arms", "<ul>" + "".join(arm_desc) + "</ul>"))
    if crit:
        critical = st.get("critical") or {}
        text = ", ".join(f"{names[k] if k < len(names) else k} ({k})" for k in crit)
        if critical.get("protect"):
            text += f" — protected while mixing ({critical.get('protect_mode')})"
        items.append(("Critical classes", _e(text)))
    out = [
        '<section id="setup" aria-labelledby="setup-title">',
        '<h2 id="setup-title">Setup</h2>',
        '<dl class="setup">',
    ]
    out += [f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in items]
    out.append("</dl>")
    out += _counts(info.get("counts"))
    for f in runs.get("failed") or []:
        out.append(f'<p class="warning"><strong>Failed</strong>: {_e(f["arm"])} seed {f["seed"]}: {_e(f["error"])} '
                   f'(<code>{_e(f["folder"])}/failed.json</code>); running <code>mixup '
                   'compare</code> again retries it.</p>')
    if runs["missing"]:
        miss = ", ".join(f"{m['arm']} seed {m['seed']}" for m in runs["missing"])
        out.append(f'<p class="warning">Not finished yet: {_e(miss)}. Run <code>mixup compare</code> on the same '
                   "config again to finish them.</p>")
    differs = summary.get("provenance_differs") or {}
    if differs:
        facts_text = "; ".join(f"{k}: {', '.join(v)}" for k, v in differs.items())
        out.append(f'<p class="warning"><strong>Warning</strong>: the runs of this study differ in {_e(facts_text)}. '
                   "Results then differ in the last bits; rerun the odd ones out with the same settings for an exact "
                   "comparison.</p>")
    return [*out, "</section>"]


def _metrics_table(summary: Mapping[str, Any]) -> list[str]:
    shown = _metrics_shown(summary)
    rows = []
    for arm, a in summary["arms"].items():
        secs = a["train_seconds"]["mean"]
        rows.append([arm, str(a["n_runs"]), *(_fmt_mean_sd(m, a["metrics"][m]) for m in shown),
                     f"{secs:.1f}" if secs is not None else "—"])
    return [
        '<section id="metrics" aria-labelledby="metrics-title">',
        '<h2 id="metrics-title">Metrics</h2>',
        *_table("Metrics per arm (mean ± sd over seeds)", ["arm", "runs", *(_header(m) for m in shown),
                                                            "train time (s)"], rows),
        '<p class="note">sd is the sample standard deviation over seeds (— with a single seed).</p>',
        "</section>",
    ]


def _comparisons(summary: Mapping[str, Any]) -> list[str]:
    base = summary["baseline"]
    out = ['<section id="comparisons" aria-labelledby="comparisons-title">',
           '<h2 id="comparisons-title">Paired comparison with the baseline</h2>']
    if base is None:
        out.append("<p>No baseline arm (an arm without a mixer) in this study, so there is no paired comparison.</p>")
    elif not summary["comparisons"]:
        out.append(f"<p>Only the baseline arm {_e(repr(base))}: nothing to compare.</p>")
    else:
        rows: list[list[str | _Cell]] = []
        for arm, comps in summary["comparisons"].items():
            for m in _metrics_shown(summary):
                c = comps[m]
                verdict = str(c["verdict"])
                rows.append([arm, METRIC_LABELS.get(m, m), str(c["n"]), _fmt_diff(m, c["mean_diff"]),
                             _fmt_ci(m, c["ci_low"], c["ci_high"]), _fmt_p(c["p_value"]),
                             _Cell(verdict, verdict if verdict in ("better", "worse") else "")])
        header = ["arm", "metric", "paired seeds", f"Δ vs {base}", "95% CI of Δ", "p (paired t)", "verdict"]
        out += _table(f"Each arm against {base}, seed by seed", header, rows, numeric_from=2, text_columns=(6,))
        out.append('<p class="note">Δ = arm − baseline, averaged over the seeds both have (percentage points for the '
                   "% metrics). Higher is better for accuracy, macro-F1 and recall; lower for error rate, NLL, ECE and "
                   "Brier.</p>")
    return [*out, "</section>"]


def _recall(summary: Mapping[str, Any]) -> list[str]:
    st = summary["study"]
    names = st["class_names"]
    crit = st["critical_classes"]
    arms = summary["arms"]
    out = ['<section id="recall" aria-labelledby="recall-title">', '<h2 id="recall-title">Recall by class</h2>']
    if crit:
        header = ["arm", *(f"{names[k] if k < len(names) else k} ({k})" for k in crit), "all critical"]
        rows = [[arm, *(_fmt_mean_sd("critical_recall", a["critical_class_recall"][str(k)]) for k in crit),
                 _fmt_mean_sd("critical_recall", a["metrics"]["critical_recall"])] for arm, a in arms.items()]
        out += _table("Recall of the critical classes (%, mean ± sd over seeds)", header, rows)
        out.append('<p class="note"><em>all critical</em> is the recall over every example of the critical classes '
                   "together.</p>")
    else:
        out.append("<p>No critical classes in this study (<code>critical.classes</code> in the config).</p>")
    rows = [
        [
            f"{name} ({k})" + (" ★" if k in crit else ""),
            *(_fmt_value("critical_recall", a["per_class_recall"]["mean"][k]) for a in arms.values()),
        ]
        for k, name in enumerate(names)
    ]
    out += _table("Per-class recall (%, mean over seeds)", ["class", *arms], rows,
                  row_classes=["critical" if k in crit else "" for k in range(len(names))])
    out.append('<p class="note">★ marks a critical class. — : no test example of the class (recall undefined) or no '
               "finished run.</p>")
    return [*out, "</section>"]


def _seeds(summary: Mapping[str, Any]) -> list[str]:
    shown = _metrics_shown(summary)
    rows = [[arm, str(seed), *(_fmt_value(m, a["metrics"][m]["values"][i]) for m in shown)]
            for arm, a in summary["arms"].items() for i, seed in enumerate(a["seeds"])]
    out = ['<section id="seeds" aria-labelledby="seeds-title">', '<h2 id="seeds-title">Seed-level numbers</h2>']
    if rows:
        out += _table("Every finished run", ["arm", "seed", *(_header(m) for m in shown)], rows)
    else:
        out.append("<p>No finished runs yet.</p>")
    return [*out, "</section>"]


def _png_size(data: bytes, path: Path) -> tuple[int, int]:
    """``(width, height)`` from a PNG's header chunk."""
    if data[:8] != _PNG_MAGIC or data[12:16] != b"IHDR":
        raise ValueError(f"plots: {str(path)!r} is not a PNG file (it starts with {data[:8]!r})")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _caption(stem: str, summary: Mapping[str, Any]) -> tuple[str, str]:
    """``(caption, alt text)`` of a figure of the report, by its file name."""
    if stem in summary.get("metrics", ()):
        label = METRIC_LABELS.get(stem, stem)
        better = "higher" if (summary.get("directions") or {}).get(stem) == "maximize" else "lower"
        caption = (
            f"{label[:1].upper() + label[1:]} per arm: the mean over seeds with a ±sd error bar, and each seed's "
            f"value as a dot; the dashed grey line is the baseline's mean. {better.capitalize()} is better."
        )
        return caption, f"Chart: {label} per arm, mean ± sd over seeds with one dot per seed"
    if stem in _CAPTIONS:
        return _CAPTIONS[stem]
    name = stem.replace("_", " ")
    return name[:1].upper() + name[1:] + ".", f"Figure: {name}"


def _figures(summary: Mapping[str, Any], plots: Sequence[Path]) -> list[str]:
    out = ['<section id="plots" aria-labelledby="plots-title">', '<h2 id="plots-title">Plots</h2>']
    if not plots:
        return [*out, "<p>No plots (no finished runs yet).</p>", "</section>"]
    out.append('<div class="gallery">')
    for i, path in enumerate(plots, start=1):
        data = path.read_bytes()
        width, height = _png_size(data, path)
        caption, alt = _caption(path.stem, summary)
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        # the figure is as wide as the image, so the image shows pixel for pixel unless the window is narrower
        out += [
            f'<figure id="plot-{_e(path.stem)}" style="width: {width}px">',
            f'<img src="{uri}" width="{width}" height="{height}" alt="{_e(alt)}">',
            (f'<figcaption><strong>Figure {i}.</strong> {_e(caption)} <span '
             f'class="note">({_e(path.name)})</span></figcaption>'),
            "</figure>",
        ]
    return [*out, "</div>", "</section>"]


def _from_markdown(lines: Sequence[str]) -> list[str]:
    """The report's plain advice sections (``## title``, ``- item`` and paragraphs) as escaped HTML."""
    out: list[str] = []
    items: list[str] = []
    in_section = False

    def inline(text: str) -> str:  # escaped first: the markup added after is ours
        text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", _e(text))
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)

    def flush() -> None:
        if items:
            out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in lines:
        if line.startswith("## "):
            flush()
            out += [*(["</section>"] if in_section else []), "<section>", f"<h2>{_e(line[3:])}</h2>"]
            in_section = True
        elif line.startswith("- "):
            items.append(line[2:])
        elif line.strip():
            flush()
            out.append(f"<p>{inline(line)}</p>")
    flush()
    return [*out, "</section>"] if in_section else out


def render_html(summary: Mapping[str, Any], plots: Sequence[str | Path], *, version: str | None = None) -> str:
    """The report of a study as one self-contained HTML page.

    Sections, in order: the headline (``summary["headline"]``, a list of sentences or one sentence
    per arm, when present; then the verdict lines), the setup, the metrics table, the paired
    comparisons with the baseline, the recall of the critical classes and of every class, the
    seed-level numbers, and every plot (inline, with a caption and an alt text). Text is escaped;
    the page holds no script and refers to no file or address outside itself.

    Args:
        summary: the output of `summarise` (optionally with a ``headline`` list).
        plots: PNG files to embed, in order (the files of ``plots/``).
        version: the mixup-lab version named in the footer (the installed one by default).

    Returns:
        The HTML text.

    Raises:
        ValueError: a file of ``plots`` is not a PNG (the message names it).
        FileNotFoundError: a file of ``plots`` does not exist.

    Examples:
        >>> from mixup_lab._report import load_study, summarise   # doctest: +SKIP
        >>> page = render_html(summarise(load_study("runs/digits")), ["runs/digits/plots/nll.png"])   # doctest: +SKIP
        >>> page.startswith("<!DOCTYPE html>")   # doctest: +SKIP
        True
    """
    if version is None:
        from . import __version__ as version
    st = summary["study"]
    title = f"{st['name']}: mixup compare report"
    nav = "".join(f'<li><a href="#{anchor}">{_e(name)}</a></li>' for anchor, name in _SECTIONS)
    footer = (
        f"Written by mixup-lab {_e(version)}. Every number, seed by seed, is in report.json beside this file; "
        "<code>mixup report FOLDER</code> rewrites the report from the stored runs."
    )
    body = [
        f'<nav class="toc" aria-label="Sections"><ul>{nav}</ul></nav>',
        *_headline(summary),
        *_from_markdown(advice_markdown(summary, "top")),
        *_setup(summary),
        *_from_markdown(advice_markdown(summary, "after_verdict")),
        *_metrics_table(summary),
        *_comparisons(summary),
        *_recall(summary),
        *_seeds(summary),
        *_figures(summary, [Path(p) for p in plots]),
    ]
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="mixup-lab {_e(version)}">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_e(title)}</h1>",
        *body,
        f"<footer>{footer}</footer>",
        "</main>",
        "</body>",
        "</html>",
        "",
    ])


def write_html(summary: Mapping[str, Any], plots: Sequence[str | Path], path: str | Path) -> Path:
    """Write `render_html`'s page to ``path`` (UTF-8).

    Args:
        summary: the output of `summarise`.
        plots: PNG files to embed, in order.
        path: the HTML file to write (``<study>/report.html`` in `write_report`).

    Returns:
        ``path``.

    Examples:
        >>> write_html(summary, plots, "runs/digits/report.html")   # doctest: +SKIP
        PosixPath('runs/digits/report.html')
    """
    out = Path(path)
    out.write_text(render_html(summary, plots), encoding="utf-8")
    return out
