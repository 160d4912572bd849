"""The figures of a study report (matplotlib with the Agg backend; nothing is ever shown on screen)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._metrics import METRIC_LABELS, PERCENT_METRICS, metric_direction, reliability_bins

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ._store import Study

__all__ = [
    "plot_class_pairs",
    "plot_example_mixes",
    "plot_metric_per_arm",
    "plot_per_class_recall",
    "plot_reliability",
    "plot_risk_coverage",
]

_BASE_COLOR = "0.45"
_CRIT_COLOR = "tab:red"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: str | Path) -> Path:
    plt = _pyplot()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out, dpi=100)
    finally:
        plt.close(fig)
    return out


def _arm_colors(arms: Sequence[str], baseline: str | None) -> dict[str, Any]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10")
    colors: dict[str, Any] = {}
    i = 0
    for arm in arms:
        if arm == baseline:
            colors[arm] = _BASE_COLOR
        else:
            colors[arm] = cmap(i % 10)
            i += 1
    return colors


def plot_metric_per_arm(summary: Mapping[str, Any], metric: str, path: str | Path) -> Path:
    """One metric per arm: mean with a ±sd error bar, and each seed's value as a point.

    The baseline is grey, and its mean is drawn as a dashed line across the plot.

    Args:
        summary: the output of `summarise`.
        metric: a scalar metric of the summary (``"accuracy"``, ``"nll"`` …).
        path: the PNG to write.

    Returns:
        ``path``.

    Raises:
        KeyError: ``metric`` is not a metric of the summary.

    Examples:
        >>> plot_metric_per_arm(summarise(load_study("runs/digits")), "nll", "nll.png")   # doctest: +SKIP
    """
    if metric not in summary.get("metrics", ()):
        raise KeyError(f"metric {metric!r} is not in the summary; it has {list(summary.get('metrics', ()))}")
    plt = _pyplot()
    arms = list(summary["arms"])
    base = summary.get("baseline")
    colors = _arm_colors(arms, base)
    pct = metric in PERCENT_METRICS
    scale = 100.0 if pct else 1.0
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(arms) + 2), 3.6), layout="constrained")
    rng = np.random.default_rng(0)
    for i, arm in enumerate(arms):
        st = summary["arms"][arm]["metrics"][metric]
        vals = [v * scale for v in st["values"] if v is not None]
        if vals:
            jitter = rng.uniform(-0.12, 0.12, len(vals))
            ax.scatter(i + 0.18 + jitter, vals, s=18, color=colors[arm], alpha=0.7, zorder=3, label=None)
        if st["mean"] is not None:
            sd = (st["sd"] or 0.0) * scale
            ax.errorbar(i, st["mean"] * scale, yerr=sd, fmt="o", ms=7, capsize=5, color=colors[arm], zorder=4)
        else:
            ax.text(i, 0.5, "no runs", transform=ax.get_xaxis_transform(), ha="center", va="center", fontsize=8)
    if base is not None and summary["arms"][base]["metrics"][metric]["mean"] is not None:
        ax.axhline(summary["arms"][base]["metrics"][metric]["mean"] * scale, color=_BASE_COLOR, ls="--", lw=1, zorder=1)
    ax.set_xticks(range(len(arms)), arms, rotation=20 if len(arms) > 4 else 0)
    ax.set_xlim(-0.6, len(arms) - 0.4)
    better = "higher" if metric_direction(metric) == "maximize" else "lower"
    ax.set_ylabel(METRIC_LABELS.get(metric, metric) + (" (%)" if pct else ""))
    ax.set_title(
        f"{METRIC_LABELS.get(metric, metric)} per arm ({better} is better)\nmean ± sd, dots: seeds", fontsize=10
    )
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_reliability(study: Study, path: str | Path, *, n_bins: int = 15) -> Path:
    """Reliability diagrams, one per arm, with the predictions of all its seeds pooled.

    Bars are the accuracy of each confidence bin (empty bins are left out), the red outline is
    the gap to the bin's mean confidence, the diagonal is perfect calibration; the title gives
    the ECE of the pooled predictions (which can differ from the mean of the per-seed ECEs).

    Args:
        study: a study folder read by `load_study`.
        path: the PNG to write.
        n_bins: equal-width confidence bins.

    Returns:
        ``path``.

    Examples:
        >>> plot_reliability(load_study("runs/digits"), "reliability.png")   # doctest: +SKIP
    """
    plt = _pyplot()
    arms = list(study.arms)
    colors = _arm_colors(arms, study.baseline)
    ncols = min(4, max(1, len(arms)))
    nrows = -(-max(1, len(arms)) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 3.5 * nrows), squeeze=False, layout="constrained")
    width = 1.0 / n_bins
    for ax, arm in zip(axes.flat, arms, strict=False):
        runs = [r for r in study.runs_of(arm) if r.has_predictions]
        ax.plot([0, 1], [0, 1], color="0.2", ls="--", lw=1, zorder=5)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("confidence", fontsize=8)
        ax.set_ylabel("accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
        if not runs:
            ax.set_title(f"{arm}\n(no predictions)", fontsize=9)
            continue
        preds = [r.predictions() for r in runs]
        probs = np.concatenate([p for p, _ in preds])
        labels = np.concatenate([y for _, y in preds])
        bins = reliability_bins(probs, labels, n_bins)
        used = bins.count > 0
        centres = (bins.edges[:-1] + width / 2)[used]
        ax.bar(centres, bins.accuracy[used], width=width, color=colors[arm], alpha=0.8, edgecolor="white", lw=0.5)
        gap = bins.confidence[used] - bins.accuracy[used]
        ax.bar(centres, gap, bottom=bins.accuracy[used], width=width, fill=False, edgecolor=_CRIT_COLOR, lw=0.8,
               hatch="//")
        ax.set_title(f"{arm}: ECE {100 * bins.ece:.2f}%\n({len(runs)} seed{'s' if len(runs) != 1 else ''} pooled,"
                     f" N={len(labels)})", fontsize=9)
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor="0.55", alpha=0.8, label="accuracy of the bin"),
        Patch(fill=False, edgecolor=_CRIT_COLOR, hatch="//", label="gap to the bin's confidence"),
        plt.Line2D([0], [0], color="0.2", ls="--", lw=1, label="perfect calibration"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    for ax in list(axes.flat)[len(arms):]:
        ax.axis("off")
    return _save(fig, path)


def plot_risk_coverage(study: Study, path: str | Path) -> Path:
    """Risk-coverage curves, one per arm (seeds pooled): the error rate among the most confident cases
    against the share of cases the model decides alone.

    The lower the curve, the more cases can be automated at a given error rate. With
    ``business.target_accuracy`` the target's error rate is drawn as a horizontal line.

    Args:
        study: a study folder read by `load_study`.
        path: the PNG to write.

    Returns:
        ``path``.

    Examples:
        >>> plot_risk_coverage(load_study("runs/digits"), "risk_coverage.png")   # doctest: +SKIP
    """
    from ._business import risk_coverage

    plt = _pyplot()
    arms = list(study.arms)
    colors = _arm_colors(arms, study.baseline)
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    for arm in arms:
        runs = [r for r in study.runs_of(arm) if r.has_predictions]
        if not runs:
            continue
        preds = [r.predictions() for r in runs]
        cov, risk = risk_coverage(np.concatenate([p for p, _ in preds]), np.concatenate([y for _, y in preds]))
        ax.plot(100 * cov, 100 * risk, color=colors[arm], lw=1.5, label=arm)
    target = (study.config.get("business") or {}).get("target_accuracy")
    if target is not None:
        ax.axhline(100 * (1 - float(target)), color=_CRIT_COLOR, ls=":", lw=1,
                   label=f"target: {100 * float(target):g} % accuracy")
    ax.set_xlabel("coverage: cases decided by the model (%)")
    ax.set_ylabel("error rate among them (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom=0)
    ax.set_title("risk-coverage (seeds pooled)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, path)


def plot_per_class_recall(summary: Mapping[str, Any], class_names: Sequence[str], path: str | Path) -> Path:
    """Per-class recall: a group of bars per class, one bar per arm (mean over seeds, ±sd).

    Critical classes have a shaded background and red tick labels.

    Args:
        summary: the output of `summarise`.
        class_names: one name per class.
        path: the PNG to write.

    Returns:
        ``path``.

    Raises:
        ValueError: ``class_names`` does not have one name per class of the summary.

    Examples:
        >>> plot_per_class_recall(summary, ["cat", "dog"], "per_class_recall.png")   # doctest: +SKIP
    """
    plt = _pyplot()
    arms = [a for a in summary["arms"] if summary["arms"][a]["n_runs"] > 0] or list(summary["arms"])
    c = len(class_names)
    for arm in arms:
        got = len(summary["arms"][arm]["per_class_recall"]["mean"])
        if got != c:
            raise ValueError(f"class_names has {c} names but arm {arm!r} of the summary has {got} per-class recalls")
    critical = set(summary.get("study", {}).get("critical_classes", []))
    colors = _arm_colors(arms, summary.get("baseline"))
    fig, ax = plt.subplots(figsize=(min(24.0, max(5.0, 0.45 * c * max(1, len(arms)) ** 0.5 + 2)), 3.8),
                           layout="constrained")
    width = 0.8 / max(1, len(arms))
    x = np.arange(c)
    for k in sorted(critical):
        ax.axvspan(k - 0.45, k + 0.45, color=_CRIT_COLOR, alpha=0.08, lw=0)
    for j, arm in enumerate(arms):
        rec = summary["arms"][arm]["per_class_recall"]
        mean = np.array([np.nan if v is None else 100 * v for v in rec["mean"]])
        sd = np.array([0.0 if v is None else 100 * v for v in rec["sd"]])
        ax.bar(x - 0.4 + width * (j + 0.5), mean, width=width, yerr=sd, capsize=2 if c <= 20 else 0,
               color=colors[arm], label=arm, error_kw={"lw": 0.7})
    ax.set_xticks(x, [str(n)[:14] for n in class_names], rotation=45 if c > 6 else 0, ha="right" if c > 6 else "center",
                  fontsize=8)
    for k, tick in enumerate(ax.get_xticklabels()):
        if k in critical:
            tick.set_color(_CRIT_COLOR)
            tick.set_fontweight("bold")
    lows = [
        100 * (m - (sd or 0.0))
        for arm in arms
        for m, sd in zip(
            summary["arms"][arm]["per_class_recall"]["mean"],
            summary["arms"][arm]["per_class_recall"]["sd"],
            strict=True,
        )
        if m is not None
    ]
    bottom = max(0.0, 10.0 * np.floor((min(lows) - 5.0) / 10.0)) if lows else 0.0  # differences stay visible
    ax.set_ylim(bottom, 102)
    ax.set_xlim(-0.6, c - 0.4)
    ax.set_ylabel("recall (%)" + (f", axis from {bottom:g}" if bottom > 0 else ""))
    title = "per-class recall (mean ± sd over seeds)"
    if critical:
        title += "; critical classes shaded"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _numpy(x: Any) -> np.ndarray | None:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.float()
        return np.asarray(x.numpy())
    if isinstance(x, np.ndarray):
        return x
    return None


def _example_kind(x: np.ndarray | None, modality: str | None = None) -> str:
    """How to draw one example: ``"image"``, ``"spectrogram"``, ``"line"`` or ``"none"``."""
    if x is None or x.size == 0 or not np.issubdtype(x.dtype, np.floating) or modality in ("text", "graph"):
        return "none"  # token ids, graphs, dicts of tensors
    if x.ndim == 3 and x.shape[0] in (1, 3):
        return "spectrogram" if modality == "audio" else "image"
    if x.ndim == 2:
        return "line" if x.shape[0] <= 2 and x.shape[1] > 8 * x.shape[0] else "spectrogram"
    if x.ndim == 1:
        return "line"
    return "none"


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(x)), float(np.max(x))
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _top2(w: np.ndarray, class_names: Sequence[str]) -> str:
    order = np.argsort(-w, kind="stable")[:2]
    parts: list[str] = []
    for k in order:
        if w[k] <= 0 and parts:
            break
        name = str(class_names[k]) if k < len(class_names) else str(k)
        parts.append(f"{w[k]:.2f} {name[:12]}")
    return "\n".join(parts)


def _draw(ax: Axes, x: np.ndarray, kind: str) -> None:
    if kind == "image":
        img = _minmax(x.astype(np.float64))
        if img.shape[0] == 3:
            ax.imshow(np.transpose(img, (1, 2, 0)), interpolation="nearest")
        else:
            ax.imshow(img[0], cmap="gray", interpolation="nearest")
    elif kind == "spectrogram":
        spec = x[0] if x.ndim == 3 else x
        ax.imshow(
            _minmax(spec.astype(np.float64)), origin="lower", aspect="auto", cmap="magma", interpolation="nearest"
        )
    elif kind == "line":
        rows = x if x.ndim == 2 else x[None]
        for row in rows:
            ax.plot(row, lw=0.6)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_example_mixes(
    examples: Mapping[str, tuple[Any, Any]],
    class_names: Sequence[str],
    path: str | Path,
    *,
    max_examples: int = 8,
    modality: str | None = None,
) -> Path:
    """A grid of mixed training examples: one row per arm, each titled with its top-2 label weights.

    How an example ``inputs[i]`` is drawn depends on its shape: ``(C, H, W)`` with ``C`` in
    ``{1, 3}`` as an image (min-max normalised per image; as a spectrogram when ``modality`` is
    ``"audio"``), ``(F, T)`` as a spectrogram-like image, ``(T,)`` or ``(1 or 2, T)`` (waveforms)
    as lines. Anything else (token ids, graphs, mappings of tensors) is not drawn: the panel shows
    the label weights with a note.

    Args:
        examples: per arm, ``(inputs, weights)``: a batch of mixed inputs ``(B, ...)`` (a tensor,
            an array, or anything else for non-drawable inputs) and dense targets ``(B, C)``.
        class_names: one name per class (a missing name shows the index).
        path: the PNG to write.
        max_examples: at most this many examples per row.
        modality: the data's modality (``"image"``, ``"audio"``, ``"text"``, ``"graph"``), a
            hint for ambiguous shapes.

    Returns:
        ``path``.

    Raises:
        ValueError: a weights array is not ``(B, C)`` or its batch size differs from the inputs'
            (the message names the arm and quotes the shapes); ``examples`` is empty.

    Examples:
        >>> import torch
        >>> x, w = torch.rand(4, 3, 8, 8), torch.eye(2)[[0, 1, 0, 1]]
        >>> plot_example_mixes({"mixup": (x, w)}, ["cat", "dog"], "examples.png")   # doctest: +SKIP
    """
    if not examples:
        raise ValueError("examples is empty: give at least one arm's (inputs, weights)")
    if max_examples < 1:
        raise ValueError(f"max_examples must be at least 1, got {max_examples}")
    rows: list[tuple[str, np.ndarray | None, np.ndarray, Any]] = []
    for arm, pair in examples.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"examples[{arm!r}] must be a pair (inputs, weights), got {type(pair).__name__}")
        inputs, weights = pair
        w = _numpy(weights)
        if w is None:
            w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2:
            raise ValueError(
                f"examples[{arm!r}]: weights must be dense targets of shape (B, C), got shape {tuple(w.shape)}"
            )
        x = _numpy(inputs)
        if x is not None and x.shape[0] != w.shape[0]:
            raise ValueError(
                f"examples[{arm!r}]: inputs of shape {tuple(x.shape)} and weights of shape {tuple(w.shape)} "
                "have different batch sizes"
            )
        rows.append((arm, x, w.astype(np.float64), inputs))

    plt = _pyplot()
    ncols = max(1, min(max_examples, max(r[2].shape[0] for r in rows)))
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.55 * ncols + 0.9, 1.9 * len(rows)), squeeze=False,
                             layout="constrained")
    for r, (arm, x, w, raw) in enumerate(rows):
        axes[r, 0].set_ylabel(arm, fontsize=10, rotation=0, ha="right", va="center", labelpad=8)
        kinds = [_example_kind(x[i] if x is not None else None, modality) for i in range(min(ncols, w.shape[0]))]
        for i in range(ncols):
            ax = axes[r, i]
            if i >= w.shape[0]:
                ax.axis("off")
                continue
            kind = kinds[i]
            if kind == "none":
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if i == 0:
                    what = f"{x.dtype} of shape {tuple(x.shape[1:])}" if x is not None else type(raw).__name__
                    ax.text(0.02, 0.5, f"inputs not drawn\n({what});\nlabel weights only", fontsize=6,
                            transform=ax.transAxes, va="center", color="0.4")
            else:
                assert x is not None
                _draw(ax, x[i], kind)
            ax.set_title(_top2(w[i], class_names), fontsize=7)
    fig.suptitle("mixed training examples (top-2 label weights)", fontsize=10)
    return _save(fig, path)


def plot_class_pairs(
    counts: np.ndarray, class_names: Sequence[str], path: str | Path, *, title: str = "", critical: Sequence[int] = ()
) -> Path:
    """Heat-map of how often class i (row, the anchor) was mixed with class j (column, a partner).

    Cells are annotated with their counts when there are at most 12 classes; critical classes have
    red tick labels.

    Args:
        counts: ``(C, C)`` counts (`mixup_lab._audit.AuditSummary.class_pairs`).
        class_names: one name per class.
        path: the PNG to write.
        title: the figure's title (e.g. the arm).
        critical: indices of the critical classes.

    Returns:
        ``path``.

    Examples:
        >>> plot_class_pairs(np.array([[0, 3], [2, 1]]), ["cat", "dog"], "pairs.png", title="mixup")  # doctest: +SKIP
    """
    plt = _pyplot()
    counts = np.asarray(counts)
    c = counts.shape[0]
    if counts.shape != (c, c) or len(class_names) != c:
        raise ValueError(f"counts must be (C, C) with one class name per row, got shape {counts.shape} and "
                         f"{len(class_names)} names")
    side = min(14.0, max(3.5, 0.45 * c + 1.8))
    fig, ax = plt.subplots(figsize=(side + 1.0, side), layout="constrained")
    image = ax.imshow(counts, cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="mixes")
    if c <= 40:
        names = [str(n)[:14] for n in class_names]
        ax.set_xticks(np.arange(c), names, rotation=45 if c > 6 else 0, ha="right" if c > 6 else "center", fontsize=8)
        ax.set_yticks(np.arange(c), names, fontsize=8)
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            for k, tick in enumerate(ticks):
                if k in set(critical):
                    tick.set_color(_CRIT_COLOR)
                    tick.set_fontweight("bold")
    if c <= 12:
        top = counts.max() if counts.size else 0
        for i in range(c):
            for j in range(c):
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=7,
                        color="black" if counts[i, j] > 0.6 * top else "white")
    ax.set_xlabel("partner class")
    ax.set_ylabel("anchor class")
    ax.set_title(f"class pairs mixed{': ' + title if title else ''}", fontsize=10)
    return _save(fig, path)
