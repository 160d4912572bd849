"""The audit trail of a run: who was mixed with whom at every training step, and how strongly.

Every run of ``mixup compare`` stores ``runs/<arm>/seed-<s>/audit.npz`` (written before
``metrics.json``, which marks the run finished). One row per training sample per step:

====================  ==============  =============================================================
array                 shape, dtype    holds
====================  ==============  =============================================================
``anchor``            (N,) int32      the sample, as a position in the study's training split
``partner``           (N,) int32      its partner (the same position when it was not mixed);
                      (N, K-1)        the K-1 partners of a K-sample mixer (mosaic, RICAP); -1 pads
``share``             (N,) float32    the anchor's label weight, as the loss used it
``partner_share``     like partner    the partners' label weights; stored only when they are not
                                      ``1 - share`` (K-sample mixers, SnapMix's CAM weights)
``critical``          (N,) bool       the anchor is a critical case (class or ``train_indices``)
``step_rows``         (S,) int32      rows of each step (the batch size)
``step_epoch``        (S,) int32      epoch of each step, from 1
``step_mixer``        (S,) int8       the candidate a ``core:choice`` drew (0 for other mixers)
``labels``            (T,) int16/32   class of each training example seen, -1 for unseen
``meta``              () str          JSON: arm, seed, mixer, mode, protection, notes
====================  ==============  =============================================================

Rows, summaries and checks are computed here from arrays and plans, so they are tested without
training anything; ``mixup audit`` prints them.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixup_core import ConfigError, one_line

__all__ = [
    "AUDIT_FILE",
    "Audit",
    "AuditRecorder",
    "AuditSummary",
    "find_audits",
    "load_audit",
    "summarise_audits",
    "summary_lines",
    "write_audit",
]

AUDIT_FILE = "audit.npz"
AUDIT_VERSION = 1
QUANTILES = {"min": 0.0, "q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95, "max": 1.0}
_TOL = 1e-6  # float32 shares that sit on a floor (0.5 or protect_floor) may be one ulp off it


def _mixer_mode(mixer: Any) -> str | None:
    mode = getattr(mixer, "mode", None)
    return mode if isinstance(mode, str) else None


class AuditRecorder:
    """Collects the mix of every training step of one run, cheaply: `record` keeps references to the
    step's tensors and everything is converted once, in `arrays`, at the end of training.

    The recorded share is the anchor's **label weight** (``MixedTargets.weights[:, 0]``, the weight the
    loss used), read from the step's mixed targets, or from its plan when a step has no targets.

    Args:
        mixer: the arm's batch mixer, or ``None`` (baseline, data-set level arms): nothing is recorded.
        arm: the arm's name.
        seed: the run's seed.
        mixer_config: the arm's mixer config (stored as given).
        num_classes: number of classes.
        train_size: size of the study's training split (the space of the stored positions).
        train_map: position in the study's training split of each example the loader yields
            (``train.val_fraction`` carves a validation split), or ``None`` when they are the same.
        critical_classes: the study's critical classes.
        critical_train: bool mask over the study's training split of critical examples, or ``None``.
        protect: whether the run passed the critical cases to the mixer as protected.

    Examples:
        >>> from mixup_core import create_mixer, mixed_step
        >>> mixer = create_mixer("mixup")
        >>> rec = AuditRecorder(mixer, arm="mixup", seed=0, mixer_config={"name": "mixup"}, num_classes=2,
        ...                     train_size=4, train_map=None, critical_classes=[1], critical_train=None)
        >>> model = torch.nn.Linear(3, 2)
        >>> step = mixed_step(model, torch.randn(2, 3), torch.tensor([0, 1]), mixer=mixer,
        ...                   generator=torch.Generator().manual_seed(0), num_classes=2)
        >>> rec.record(step, torch.tensor([3, 0]), torch.tensor([0, 1]), epoch=0)
        >>> sorted(rec.arrays()["anchor"].tolist())
        [0, 3]
    """

    def __init__(
        self,
        mixer: Any,
        *,
        arm: str,
        seed: int,
        mixer_config: Mapping[str, Any] | None,
        num_classes: int,
        train_size: int,
        train_map: torch.Tensor | None,
        critical_classes: Sequence[int],
        critical_train: torch.Tensor | None,
        protect: bool = False,
    ) -> None:
        self.mixer = mixer
        self.num_classes = int(num_classes)
        self.train_size = int(train_size)
        self.train_map = None if train_map is None else np.asarray(train_map, dtype=np.int64)
        own = list(getattr(mixer, "protected_classes", None) or [])  # a mixer's own protected classes count too
        self.critical_classes = sorted({int(c) for c in critical_classes} | {int(c) for c in own})
        self.critical_train = None if critical_train is None else np.asarray(critical_train, dtype=bool)
        self.protect = bool(
            mixer is not None and (own or (protect and (self.critical_classes or self.critical_train is not None)))
        )
        self._steps: list[tuple[Any, ...]] = []
        self._skipped = 0
        candidates = getattr(mixer, "mixers", None)
        names = [type(m).qualified_name() for m in candidates] if isinstance(candidates, list) else []
        self.meta: dict[str, Any] = {
            "version": AUDIT_VERSION,
            "arm": arm,
            "seed": int(seed),
            "mixer": dict(mixer_config) if mixer_config is not None else None,
            "mixer_name": type(mixer).qualified_name() if mixer is not None else (mixer_config or {}).get("name"),
            "mode": _mixer_mode(mixer),
            "candidates": [{"name": n, "mode": _mixer_mode(m)} for n, m in zip(names, candidates or [], strict=False)],
            "num_classes": self.num_classes,
            "train_size": self.train_size,
            "positions": "study training split"
            + (" (train.val_fraction mapped back)" if train_map is not None else ""),
            "critical_classes": self.critical_classes,
            "protected": self.protect,
            "protect_mode": getattr(mixer, "protect", None) if self.protect else None,
            "protect_floor": self._floor() if self.protect else None,
        }
        if mixer is None and mixer_config is not None:
            self.meta["note"] = ("data-set level mixer: the training split was augmented once before training; "
                                 "its mixes are not recorded per step")

    def _floor(self) -> float:
        """The smallest share a protected sample may keep: the mixer's ``protect_floor`` in ``floor`` mode,
        1 in ``exclude`` mode (left unmixed), else 0.5 (the contract of ``protected``: never the minority)."""
        mode = getattr(self.mixer, "protect", None)
        if mode == "floor":
            return float(self.mixer.protect_floor)
        return 1.0 if mode == "exclude" else 0.5

    def record(self, step: Any, idx: torch.Tensor, targets: torch.Tensor, epoch: int) -> None:
        """Keep the mix of one step.

        Args:
            step: the `mixup_core.MixedStep` of the batch.
            idx: positions of the batch's samples in the loader's data set, ``(B,)``.
            targets: the batch's class indices ``(B,)`` (CPU), as given to the step.
            epoch: the epoch, from 0.
        """
        if self.mixer is None:
            return
        mixed = step.targets
        if mixed is not None:
            sources, weights = mixed.indices, mixed.weights
        elif step.plan is not None:
            sources, weights = step.plan.partner_indices(), step.plan.weights()
        else:
            return
        choice = getattr(step.plan, "choice", 0)
        self._steps.append((idx, targets, sources.detach(), weights.detach(), epoch, choice))

    def arrays(self) -> dict[str, np.ndarray]:
        """The audit of the steps recorded so far, as the arrays stored in ``audit.npz``."""
        labels = np.full(self.train_size, -1, dtype=np.int16 if self.num_classes < 2**15 else np.int32)
        anchors, partners, shares, rows, epochs, choices = [], [], [], [], [], []
        k_max = 1
        for idx, targets, sources, weights, epoch, choice in self._steps:
            pos = np.asarray(idx.cpu(), dtype=np.int64)
            src = np.asarray(sources.cpu(), dtype=np.int64)
            if src.ndim != 2 or src.shape[0] != len(pos):  # e.g. a plan over the nodes of a graph batch
                self._skipped += 1
                continue
            if self.train_map is not None:
                pos = self.train_map[pos]
            y = targets.cpu()
            if y.ndim == 1 and not y.is_floating_point():
                labels[pos] = y.numpy()
            ds = pos[src]  # (B, K): the positions of every source of every row
            anchors.append(ds[:, 0])
            partners.append(ds[:, 1:])
            shares.append(np.asarray(weights.float().cpu(), dtype=np.float32))
            k_max = max(k_max, src.shape[1])
            rows.append(len(pos))
            epochs.append(epoch + 1)
            choices.append(choice)
        n_part = max(k_max - 1, 1)
        partner = np.full((sum(rows), n_part), -1, dtype=np.int32)
        weight = np.zeros((sum(rows), n_part + 1), dtype=np.float32)
        start = 0
        for p, w in zip(partners, shares, strict=True):
            partner[start:start + len(p), :p.shape[1]] = p
            weight[start:start + len(p), :w.shape[1]] = w
            start += len(p)
        anchor = np.concatenate(anchors).astype(np.int32) if anchors else np.zeros(0, dtype=np.int32)
        out: dict[str, np.ndarray] = {
            "anchor": anchor,
            "partner": partner[:, 0] if n_part == 1 else partner,
            "share": weight[:, 0].copy(),
            "critical": self._critical(anchor, labels),
            "step_rows": np.asarray(rows, dtype=np.int32),
            "step_epoch": np.asarray(epochs, dtype=np.int32),
            "step_mixer": np.asarray(choices, dtype=np.int8),
            "labels": labels,
        }
        rest = weight[:, 1:]
        if n_part > 1 or not np.array_equal(rest[:, 0], np.float32(1) - weight[:, 0]):
            out["partner_share"] = rest[:, 0].copy() if n_part == 1 else rest
        meta = {**self.meta, "source": "label weights (MixedTargets.weights)", "skipped_steps": self._skipped}
        if self._skipped:
            meta["note"] = (f"{self._skipped} steps had plans that do not cover the batch's samples one to one "
                            "(e.g. node-level graph mixers) and are not recorded")
        out["meta"] = np.asarray(json.dumps(meta, sort_keys=True))
        return out

    def _critical(self, anchor: np.ndarray, labels: np.ndarray) -> np.ndarray:
        crit = np.zeros(len(anchor), dtype=bool)
        if self.critical_classes:
            crit |= np.isin(labels[anchor], self.critical_classes)
        if self.critical_train is not None:
            crit |= self.critical_train[anchor]
        return crit


def write_audit(path: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write an audit atomically (a temporary file, then a rename): a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        # numpy's stub checks each unpacked value against allow_pickle: bool as well
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)
    return path


@dataclass
class Audit:
    """One run's audit, loaded.

    Args:
        path: the file.
        meta: the JSON record (arm, seed, mixer, mode, protection).
        anchor, partner, share, partner_share, critical, labels, step_rows, step_epoch, step_mixer:
            the stored arrays, ``partner`` and ``partner_share`` always ``(N, K-1)`` here.
        nbytes: the file's size in bytes.
    """

    path: Path
    meta: dict[str, Any]
    anchor: np.ndarray
    partner: np.ndarray
    share: np.ndarray
    partner_share: np.ndarray
    critical: np.ndarray
    labels: np.ndarray
    step_rows: np.ndarray
    step_epoch: np.ndarray
    step_mixer: np.ndarray
    nbytes: int = 0

    @property
    def sources(self) -> np.ndarray:
        """Every source of every row, ``(N, K)``: column 0 the anchor."""
        return np.concatenate([self.anchor[:, None], self.partner], axis=1).astype(np.int64)

    @property
    def weights(self) -> np.ndarray:
        """The label weight of every source, ``(N, K)``: column 0 the anchor's share."""
        return np.concatenate([self.share[:, None], self.partner_share], axis=1)


def load_audit(path: str | Path) -> Audit:
    """Read an ``audit.npz``.

    Raises:
        ConfigError: the file is missing or is not an audit (one line, quoting the path).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data["meta"]))
        anchor = data["anchor"].astype(np.int64)
        partner = data["partner"].astype(np.int64)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"RUN_OR_STUDY: {path} is not a readable audit ({one_line(exc)})") from None
    partner = partner[:, None] if partner.ndim == 1 else partner
    share = data["share"].astype(np.float32)
    partner_share = data.get("partner_share")
    if partner_share is None:
        partner_share = (np.float32(1) - share)[:, None]
    partner_share = partner_share.astype(np.float32)
    partner_share = partner_share[:, None] if partner_share.ndim == 1 else partner_share
    return Audit(path, meta, anchor, partner, share, partner_share, data["critical"].astype(bool),
                 data["labels"].astype(np.int64), data["step_rows"], data["step_epoch"], data["step_mixer"],
                 nbytes=path.stat().st_size)


def find_audits(path: str | Path) -> tuple[str, dict[str, list[Path]]]:
    """The audits under a run folder (or its ``audit.npz``) or a study folder, by arm.

    Returns:
        ``("run", {arm: [file]})`` or ``("study", {arm: [files, by seed]})``, arms in the study's order.

    Raises:
        ConfigError: ``path`` is neither, or holds no audit (one line, quoting it).
    """
    p = Path(path)
    if p.is_file() and p.name == AUDIT_FILE:
        p = p.parent
    if not p.is_dir():
        raise ConfigError(f"RUN_OR_STUDY: no such run or study folder (got {str(path)!r})")
    if (p / AUDIT_FILE).is_file():
        return "run", {_arm_of(p / AUDIT_FILE): [p / AUDIT_FILE]}
    if (p / "metrics.json").is_file():
        raise ConfigError(f"RUN_OR_STUDY: the run has no {AUDIT_FILE} (written before audits existed?); run it again "
                          f"with mixup compare --fresh (got {str(path)!r})")
    if not (p / "study.json").is_file():
        raise ConfigError(f"RUN_OR_STUDY: not a run folder (no {AUDIT_FILE}) or a study folder (no study.json) "
                          f"(got {str(path)!r})")
    found: dict[str, list[Path]] = {}
    for file in sorted(p.glob(f"runs/*/seed-*/{AUDIT_FILE}"), key=_seed_order):
        found.setdefault(_arm_of(file), []).append(file)
    if not found:
        raise ConfigError(f"RUN_OR_STUDY: the study has no {AUDIT_FILE} in runs/<arm>/seed-<s>/ (no finished run "
                          f"recorded one) (got {str(path)!r})")
    try:
        order = [str(a.get("name")) for a in json.loads((p / "study.json").read_text("utf-8"))["config"]["arms"]]
    except (OSError, ValueError, KeyError, TypeError):
        order = []
    ranked = sorted(found, key=lambda a: (order.index(a) if a in order else len(order), a))
    return "study", {a: found[a] for a in ranked}


def _seed_order(file: Path) -> tuple[str, int]:
    try:
        return file.parent.parent.name, int(file.parent.name.removeprefix("seed-"))
    except ValueError:
        return file.parent.parent.name, -1


def _arm_of(file: Path) -> str:
    """The arm's name from the audit's record (the folder name is a sanitised form of it)."""
    try:
        with np.load(file, allow_pickle=False) as z:
            return str(json.loads(str(z["meta"]))["arm"])
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return file.parent.parent.name


# ------------------------------------------------------------------------------------------ summaries
def _example_shares(sources: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row and column: the total weight of that column's example in the row, and whether the column
    is that example's first column (so an example met twice in a row counts once)."""
    share = np.zeros(weights.shape, dtype=np.float64)
    first = np.ones(sources.shape, dtype=bool)
    for j in range(sources.shape[1]):
        same = sources == sources[:, j:j + 1]
        share[:, j] = (weights * same).sum(axis=1)
        first[:, j] = ~same[:, :j].any(axis=1)
    return share, first


def _mixed_rows(sources: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rows where some other example has a positive label weight (a real mix)."""
    other = (sources[:, 1:] != sources[:, :1]) & (sources[:, 1:] >= 0) & (weights[:, 1:] > 0)
    return other.any(axis=1)


def _critical_set(audit: Audit) -> np.ndarray:
    """Bool over the training split: examples the run saw as critical (criticality is fixed per example)."""
    size = max(len(audit.labels), int(audit.sources.max(initial=-1)) + 1)
    crit = np.zeros(size, dtype=bool)
    crit[audit.anchor[audit.critical]] = True
    return crit


@dataclass
class AuditSummary:
    """What ``mixup audit`` reports for one arm (its runs pooled).

    Args:
        arm: the arm.
        seeds: the seeds of the runs read.
        mixer: the mixer's qualified name (``None`` for a baseline).
        mode: its ``mode`` (``"batch"``/``"sample"``), or ``None``.
        steps: training steps recorded.
        rows: samples recorded (steps × batch size).
        mixed_rows: rows where another example has a positive label weight.
        share_quantiles: quantiles of the anchor's label weight over the mixed rows (``{}`` when none).
        class_pairs: ``(C, C)`` counts: row class of the anchor, column class of a partner, per mixed
            row and partner.
        critical: protection statistics: ``protected``, ``protect_mode``, ``floor``, ``examples``
            (distinct critical examples seen), ``in_mixes`` (appearances of critical examples in mixed
            rows, as anchor or partner), ``min_share`` (their smallest label weight in any row,
            ``None`` when never seen), ``minority`` (appearances with a share below 0.5) and
            ``check`` (``"ok"``, ``"violated"``, or ``None`` when nothing was protected).
        file_bytes: total size of the audit files.
        notes: gaps the audits declare.
    """

    arm: str
    seeds: list[int]
    mixer: str | None
    mode: str | None
    steps: int
    rows: int
    mixed_rows: int
    share_quantiles: dict[str, float]
    class_pairs: np.ndarray
    critical: dict[str, Any]
    file_bytes: int
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (the matrix as nested lists)."""
        return {
            "arm": self.arm, "seeds": self.seeds, "mixer": self.mixer, "mode": self.mode, "steps": self.steps,
            "rows": self.rows, "mixed_rows": self.mixed_rows,
            "mixed_fraction": self.mixed_rows / self.rows if self.rows else 0.0,
            "share_quantiles": self.share_quantiles, "class_pairs": self.class_pairs.tolist(),
            "critical": self.critical, "file_bytes": self.file_bytes, "notes": self.notes,
        }


def summarise_audits(audits: Sequence[Audit], num_classes: int | None = None) -> AuditSummary:
    """Pool the audits of one arm's runs into an `AuditSummary`.

    Args:
        audits: the runs' audits (at least one).
        num_classes: size of the class-pair matrix (default: from the audits).

    Examples:
        >>> summary = summarise_audits([load_audit("runs/mixup/seed-0/audit.npz")])  # doctest: +SKIP
        >>> summary.critical["minority"]  # doctest: +SKIP
        0
    """
    if not audits:
        raise ValueError("summarise_audits needs at least one audit")
    meta = audits[0].meta
    k = int(num_classes if num_classes is not None else max(int(a.meta.get("num_classes", 0)) for a in audits))
    pairs = np.zeros((k, k), dtype=np.int64)
    mixed_shares: list[np.ndarray] = []
    steps = rows = mixed_total = 0
    crit_examples: set[int] = set()
    in_mixes = minority = 0
    min_share: float | None = None
    notes: list[str] = []
    for a in audits:
        src, w = a.sources, a.weights
        steps += len(a.step_rows)
        rows += len(a.anchor)
        mixed = _mixed_rows(src, w)
        mixed_total += int(mixed.sum())
        mixed_shares.append(a.share[mixed])
        # class pairs: anchor class × partner class, once per mixed row and partner example
        share_of, first = _example_shares(src, w)
        for j in range(1, src.shape[1]):
            take = mixed & first[:, j] & (src[:, j] != src[:, 0]) & (src[:, j] >= 0) & (w[:, j] > 0)
            ya, yb = a.labels[src[take, 0]], a.labels[src[take, j]]
            ok = (ya >= 0) & (yb >= 0) & (ya < k) & (yb < k)
            np.add.at(pairs, (ya[ok], yb[ok]), 1)
        # critical cases: every appearance (anchor, or partner with a positive weight) and its share
        crit = _critical_set(a)
        safe = np.where(src >= 0, src, 0)
        is_crit = crit[safe] & (src >= 0)
        appear = is_crit & first
        appear[:, 1:] &= (w[:, 1:] > 0) & (src[:, 1:] != src[:, :1])
        crit_examples.update(int(e) for e in np.unique(src[appear]))
        if appear.any():
            s = share_of[appear]
            low = float(s.min())
            min_share = low if min_share is None else min(min_share, low)
            minority += int((s < 0.5 - _TOL).sum())
            in_mixes += int((appear & mixed[:, None]).sum())
        if a.meta.get("note"):
            notes.append(f"seed {a.meta.get('seed')}: {a.meta['note']}")
    shares = np.concatenate(mixed_shares) if mixed_shares else np.zeros(0, dtype=np.float32)
    quantiles = ({name: float(np.quantile(shares, q)) for name, q in QUANTILES.items()} | {"mean": float(shares.mean())}
                 if len(shares) else {})
    protected = bool(meta.get("protected"))
    floor = meta.get("protect_floor")
    check = None
    if protected:
        ok = (min_share is None or min_share >= float(meta["protect_floor"]) - _TOL) and minority == 0
        check = "ok" if ok else "violated"
    critical = {"protected": protected, "protect_mode": meta.get("protect_mode"), "floor": floor,
                "examples": len(crit_examples), "in_mixes": in_mixes, "min_share": min_share, "minority": minority,
                "check": check}
    return AuditSummary(
        arm=str(meta.get("arm")), seeds=[int(a.meta.get("seed", -1)) for a in audits], mixer=meta.get("mixer_name"),
        mode=meta.get("mode"), steps=steps, rows=rows, mixed_rows=mixed_total, share_quantiles=quantiles,
        class_pairs=pairs, critical=critical, file_bytes=sum(a.nbytes for a in audits), notes=notes,
    )


def _size(n: int) -> str:
    return f"{n} B" if n < 1000 else f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.2f} MB"


def summary_lines(summary: AuditSummary, class_names: Sequence[str] | None = None) -> list[str]:
    """The summary of one arm as the lines ``mixup audit`` prints.

    Examples:
        >>> print("\\n".join(summary_lines(summary)))  # doctest: +SKIP
        mixup (core:mixup, mode batch), seeds 0, 1: 44 steps, 2696 rows, 90.4% mixed; audit 17.9 kB
    """
    names = list(class_names) if class_names is not None else [str(i) for i in range(summary.class_pairs.shape[0])]
    what = "no mixer" if summary.mixer is None else summary.mixer + (f", mode {summary.mode}" if summary.mode else "")
    seeds = ", ".join(str(s) for s in summary.seeds)
    mixed = 100 * summary.mixed_rows / summary.rows if summary.rows else 0.0
    head = (f"{summary.arm} ({what}), seed{'s' if len(summary.seeds) > 1 else ''} {seeds}: {summary.steps} steps, "
            f"{summary.rows} rows, {mixed:.1f}% mixed; audit {_size(summary.file_bytes)}")
    lines = [head]
    q = summary.share_quantiles
    if q:
        lines.append("  anchor share (mixed rows): " + "  ".join(f"{k} {q[k]:.3f}" for k in (*QUANTILES, "mean")))
    crit = summary.critical
    if crit["examples"] or crit["protected"]:
        how = (f"protected ({crit['protect_mode'] or 'by the mixer'}, floor {crit['floor']:g})" if crit["protected"]
               else "not protected")
        low = "-" if crit["min_share"] is None else f"{crit['min_share']:.3f}"
        tail = f": {crit['check']}" if crit["check"] else ""
        lines.append(f"  critical: {crit['examples']} examples, {how}; {crit['in_mixes']} appearances in mixes, "
                     f"min share {low}, minority {crit['minority']}{tail}")
    pairs = summary.class_pairs
    if pairs.sum():
        flat = np.argsort(pairs, axis=None, kind="stable")[::-1][:3]
        top = [f"{names[i]}→{names[j]} {pairs[i, j]}" for i, j in zip(*np.unravel_index(flat, pairs.shape), strict=True)
               if pairs[i, j] > 0]
        lines.append(f"  class pairs (anchor→partner): {int(pairs.sum())} mixes; most frequent {', '.join(top)}")
    lines += [f"  note: {n}" for n in summary.notes]
    return lines
