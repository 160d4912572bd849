"""``mixup preview`` for audio mixers: spectrograms of anchors, partners, anchor masks and mixes in one grid.

Examples come from ``--dataset synthetic`` (default: generated tones, chirps, noise bursts and
harmonic stacks at 16 kHz, no files needed) or from ``--inputs DIR``, a folder of WAV files (read
with soundfile when it is installed, else with the standard library's ``wave``: 8/16/24/32-bit PCM;
mixed down to mono, resampled to 16 kHz with ``torchaudio.functional.resample``, cropped or
zero-padded to a common length of at most 3 s; every file is its own class, named after the file).

Waveform mixers (one sample of shape ``(C, T)``: ``audio:bc``, ``audio:waveform``) mix the
waveforms; the rows show their log-mel spectrograms (``torchaudio.transforms.MelSpectrogram``).
Spectrogram mixers (``(C, F, T)``) mix log-mel spectrograms in dB, or in the domain the mixer
declares in a ``domain`` field (``power``, ``magnitude``, ``db``, ``log-mel`` = natural log), and are
shown in dB; a ``domain`` of ``None`` means power.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mixup_core import ConfigError, MixPlan, hookimpl

if TYPE_CHECKING:
    from mixup_core import Mixer, MixerInfo
    from mixup_core.hookspecs import PreviewOptions

__all__ = [
    "DATASETS",
    "SAMPLE_RATE",
    "SYNTHETIC_CLASSES",
    "figure_size_px",
    "load_examples",
    "log_mel_db",
    "mixup_preview",
    "read_wav",
    "render_preview",
]

SAMPLE_RATE = 16000
"""The rate of every preview clip (files are resampled to it)."""
SYNTHETIC_CLASSES = ("tone", "chirp", "noise burst", "harmonic")
DATASETS = ("synthetic",)
"""The names accepted by ``--dataset`` for audio mixers."""

WAV_SUFFIXES = (".wav", ".wave")
MAX_SECONDS = 3.0
N_FFT, HOP, N_MELS = 512, 160, 64
DB_RANGE = 80.0
CELL_W, CELL_H = 2.2, 1.45
HEADER_INCHES = 0.5
DPI = 100
ROWS = ("anchor", "partner", "anchor mask", "mix")
ROW_LABELS = ("anchor", "partner", "anchor share\n(yellow: anchor)", "mix")


def figure_size_px(batch_size: int) -> tuple[int, int]:
    """The ``(width, height)`` in pixels of a preview of ``batch_size`` examples."""
    width = CELL_W * max(batch_size, 1)
    height = CELL_H * len(ROWS) + HEADER_INCHES
    return round(width * DPI), round(height * DPI)


# ---------------------------------------------------------------------- examples
def _synthetic(n: int, seed: int, seconds: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Mono clips ``(n, 1, T)`` at 16 kHz: a tone, a chirp, a noise burst or a harmonic stack over faint noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(SYNTHETIC_CLASSES)
    labels = labels[torch.randperm(n, generator=g)]
    length = round(seconds * SAMPLE_RATE)
    t = torch.arange(length, dtype=torch.float64) / SAMPLE_RATE
    clips = torch.empty(n, 1, length)

    def rnd(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand(1, generator=g, dtype=torch.float64))

    for i in range(n):  # a handful of preview clips, not a training batch
        kind = SYNTHETIC_CLASSES[int(labels[i])]
        start, dur = rnd(0.05, 0.35), rnd(0.35, 0.6)
        inside = ((t >= start) & (t < start + dur)).double()
        ramp = torch.clamp(torch.minimum(t - start, start + dur - t) / 0.01, 0, 1) * inside
        amp = rnd(0.2, 0.8)
        if kind == "tone":
            x = torch.sin(2 * math.pi * rnd(300, 3000) * t) * ramp
        elif kind == "chirp":
            f0, f1 = rnd(200, 800), rnd(2500, 6000)
            if float(torch.rand(1, generator=g)) < 0.5:
                f0, f1 = f1, f0
            tau = (t - start).clamp(0, dur)
            phase = 2 * math.pi * (f0 * tau + (f1 - f0) * tau.square() / (2 * dur))
            x = torch.sin(phase) * ramp
        elif kind == "noise burst":
            decay = torch.exp(-(t - start).clamp_min(0) / rnd(0.05, 0.15))
            x = torch.randn(length, generator=g, dtype=torch.float64) * 0.5 * decay * ramp
        else:  # harmonic stack
            f0 = rnd(150, 400)
            x = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 8)) * ramp * 0.5
        noise = 0.003 * torch.randn(length, generator=g, dtype=torch.float64)
        clips[i, 0] = (amp * x + noise).float()
    return clips, labels, SYNTHETIC_CLASSES


def read_wav(path: Path) -> tuple[torch.Tensor, int]:
    """Read a WAV file as float32 ``(C, T)`` in [−1, 1] and its sample rate.

    Uses soundfile when it is installed (any format it reads), else the standard library's ``wave``
    module (integer PCM of 8, 16, 24 or 32 bits).
    """
    try:
        import soundfile
    except ImportError:
        soundfile = None
    if soundfile is not None:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        return torch.from_numpy(data.T.copy()), int(rate)
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise ConfigError(
            f"cannot read {str(path)!r} with the standard library's wave module ({exc}); it reads integer PCM only: "
            "install soundfile (pip install soundfile) for float or compressed WAV files"
        ) from exc
    if width == 1:
        values = torch.frombuffer(bytearray(raw), dtype=torch.uint8).float().sub(128.0).div(128.0)
    elif width == 2:
        values = torch.frombuffer(bytearray(raw), dtype=torch.int16).float().div(32768.0)
    elif width == 3:
        b = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, 3).int()
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        values = torch.where(v >= 1 << 23, v - (1 << 24), v).float().div(float(1 << 23))
    elif width == 4:
        values = torch.frombuffer(bytearray(raw), dtype=torch.int32).double().div(float(1 << 31)).float()
    else:
        raise ConfigError(f"{str(path)!r}: unsupported sample width of {width} bytes")
    return values.view(-1, channels).T.contiguous(), rate


def _folder(folder: Path, n: int) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    import torchaudio.functional as AF

    if not folder.is_dir():
        raise ConfigError(f"--inputs must be a folder of WAV files, got {str(folder)!r}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in WAV_SUFFIXES)[:n]
    if not files:
        raise ConfigError(f"no WAV files in {str(folder)!r}")
    clips = []
    for path in files:
        data, rate = read_wav(path)
        mono = data.mean(dim=0, keepdim=True)
        if rate != SAMPLE_RATE:
            mono = AF.resample(mono, rate, SAMPLE_RATE)
        clips.append(mono)
    length = min(max(c.shape[-1] for c in clips), round(MAX_SECONDS * SAMPLE_RATE))
    batch = torch.zeros(len(clips), 1, max(length, N_FFT))
    for i, c in enumerate(clips):
        take = min(c.shape[-1], batch.shape[-1])
        batch[i, :, :take] = c[:, :take]
    return batch, torch.arange(len(files)), tuple(p.stem for p in files)


def load_examples(options: PreviewOptions) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Mono waveforms ``(B, 1, T)`` at `SAMPLE_RATE`, their labels and the class names for a preview."""
    n = max(1, int(options.batch_size))
    if options.inputs is not None:
        return _folder(Path(options.inputs), n)
    name = (options.dataset or "synthetic").lower().replace("_", "-")
    if name == "synthetic":
        return _synthetic(n, options.seed)
    raise ConfigError(
        f"unknown --dataset {options.dataset!r} for audio mixers; choose one of "
        f"{', '.join(DATASETS)} or give --inputs DIR"
    )


def _mel_power(waveforms: torch.Tensor) -> torch.Tensor:
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, power=2.0
    )
    return mel(waveforms.float())


def log_mel_db(waveforms: torch.Tensor) -> torch.Tensor:
    """Log-mel spectrograms in dB, ``(B, C, 64, frames)``, of ``(B, C, T)`` waveforms at 16 kHz."""
    return 10.0 * torch.log10(_mel_power(waveforms).clamp_min(1e-10))


# ---------------------------------------------------------------------- domains
def _domain(mixer: Mixer) -> str:
    """The domain a spectrogram mixer is fed: its ``domain`` field (``None`` = power), else dB log-mel."""
    if not hasattr(mixer, "domain"):
        return "db"
    domain = mixer.domain
    return domain if isinstance(domain, str) else "power"


def _log_base(mixer: Mixer) -> float:
    base = getattr(mixer, "log_base", None)
    return float(base) if isinstance(base, (int, float)) and not isinstance(base, bool) and base > 1 else math.e


def _to_domain(power: torch.Tensor, mixer: Mixer) -> torch.Tensor:
    domain = _domain(mixer)
    if domain == "power":
        return power
    if domain == "magnitude":
        return power.sqrt()
    if domain == "log-mel":
        offset = getattr(mixer, "log_offset", 1e-6)
        offset = float(offset) if isinstance(offset, (int, float)) else 1e-6
        return torch.log((power + offset).clamp_min(1e-10)) / math.log(_log_base(mixer))
    return 10.0 * torch.log10(power.clamp_min(1e-10))


def _to_db(values: torch.Tensor, mixer: Mixer) -> torch.Tensor:
    domain = _domain(mixer)
    values = values.detach().float()
    if domain == "power":
        return 10.0 * torch.log10(values.clamp_min(1e-10))
    if domain == "magnitude":
        return 20.0 * torch.log10(values.clamp_min(1e-5))
    if domain == "log-mel":
        return values * (10.0 * math.log10(_log_base(mixer)))
    return values


# ---------------------------------------------------------------------- drawing
def _is_waveform_mixer(mixer: Mixer) -> bool:
    return len(type(mixer).example_shape) <= 2


def _anchor_share(mixer: Mixer, plan: MixPlan, inputs: torch.Tensor, n_frames: int) -> torch.Tensor:
    """The anchor's weight per cell, ``(B, F, frames)`` for spectrograms, ``(B, 1, frames)`` over time for waveforms.

    From ``mixer.anchor_mask`` when it has one; for plans with more than ``index`` and ``lam``,
    measured by replaying the plan on inputs whose channel ``j`` marks source ``j`` (for waveform
    mixers this is the anchor's coefficient over time: p/√(p² + (1 − p)²) for BC); else λ.
    """
    n = plan.batch_size
    lam = plan.lam if plan.lam.ndim == 1 else plan.lam[:, 0]
    size = tuple(inputs.shape[-2:]) if not _is_waveform_mixer(mixer) else (1, n_frames)
    flat = lam.float().view(-1, 1, 1).expand(-1, *size)
    if hasattr(mixer, "anchor_mask") and not _is_waveform_mixer(mixer):
        mask = mixer.anchor_mask(plan, size)
        return mask.float().reshape(n, *mask.shape[-2:])
    if type(plan) is MixPlan:  # nothing but λ: a flat share
        return flat
    try:
        marked = torch.eye(n).view(n, n, *([1] * (inputs.ndim - 2))).expand(n, n, *inputs.shape[2:]).contiguous()
        replayed = mixer.apply(marked, plan)[torch.arange(n), torch.arange(n)].float()
    except Exception:  # a mixer whose plan cannot be replayed on other channels
        return flat
    if not _is_waveform_mixer(mixer):
        return replayed.clamp(0, 1)
    # waveform: average the per-sample coefficient over each display frame
    usable = replayed[:, : (replayed.shape[-1] // n_frames) * n_frames] if replayed.shape[-1] >= n_frames else replayed
    if usable.shape[-1] >= n_frames:
        return usable.view(n, n_frames, -1).mean(dim=-1)[:, None, :].clamp(0, 1)
    return flat


def _weights_title(row: torch.Tensor, names: tuple[str, ...], top: int = 2) -> str:
    values, classes = row.topk(min(top, row.numel()))
    parts = [
        f"{names[int(c)] if int(c) < len(names) else int(c)} {float(v):.2f}"
        for v, c in zip(values, classes, strict=True)
        if float(v) >= 0.005
    ]
    return "\n".join(parts)


def _show_spec(ax: Any, db: torch.Tensor, vmin: float, vmax: float) -> None:
    ax.imshow(db.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def render_preview(mixer: Mixer, name: str, options: PreviewOptions) -> Path:
    """Mix examples with ``mixer`` and draw anchors, partners, anchor shares and mixes to ``options.out``."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError('mixup preview draws with matplotlib: pip install "mixup-audio[preview]"') from exc
    if getattr(mixer, "cost", "none") not in ("none",):
        raise ConfigError(
            f"{name} needs a model or a dataset (cost {mixer.cost!r}); previews are drawn for model-free mixers only"
        )
    waves, labels, names = load_examples(options)
    n = waves.shape[0]
    generator = torch.Generator().manual_seed(options.seed)
    if _is_waveform_mixer(mixer):
        inputs = waves
        out = mixer(inputs, labels, generator=generator, num_classes=len(names))
        originals = log_mel_db(waves)[:, 0]
        mixed = log_mel_db(out.inputs.detach())[:, 0]
    else:
        power = _mel_power(waves)
        inputs = _to_domain(power, mixer)
        out = mixer(inputs, labels, generator=generator, num_classes=len(names))
        originals = _to_db(inputs, mixer)[:, 0]
        mixed = _to_db(out.inputs, mixer)[:, 0]
    plan = out.plan
    partners = plan.index if plan.index.ndim == 1 else plan.index[:, 0]
    shares = _anchor_share(mixer, plan, inputs, originals.shape[-1])
    assert out.targets is not None
    dense = out.targets.dense(len(names))
    vmax = float(originals.max())
    vmin = vmax - DB_RANGE

    width, height = figure_size_px(n)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    top = 1.0 - HEADER_INCHES / (height / DPI)
    fig.subplots_adjust(left=0.35 / (width / DPI), right=0.99, bottom=0.01, top=top, wspace=0.06, hspace=0.45)
    axes = fig.subplots(len(ROWS), n, squeeze=False)
    params = ", ".join(f"{k}={v}" for k, v in mixer.to_config().items() if k not in ("name", "num_classes"))
    title = f"{name}" + (f"  ({params})" if params else "")
    limit = int(width / DPI * 13)
    title = title if len(title) <= limit else title[: limit - 1] + "…"
    fig.suptitle(title, fontsize=9, y=1.0 - 0.12 * HEADER_INCHES / (height / DPI), va="top")
    bc_p = getattr(plan, "p", None)
    for i in range(n):
        j = int(partners[i])
        _show_spec(axes[0, i], originals[i], vmin, vmax)
        axes[0, i].set_title(f"anchor: {names[int(labels[i])]}", fontsize=7)
        _show_spec(axes[1, i], originals[j], vmin, vmax)
        axes[1, i].set_title(f"partner: {names[int(labels[j])]}" if j != i else "partner: itself", fontsize=7)
        axes[2, i].imshow(
            shares[i].numpy(), origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest"
        )
        axes[2, i].set_xticks([])
        axes[2, i].set_yticks([])
        lam_i = float(plan.lam[i] if plan.lam.ndim == 1 else plan.lam[i, 0])
        if isinstance(bc_p, torch.Tensor):
            share_title = f"r {lam_i:.2f}, p {float(bc_p[i]):.2f}"
        else:
            share_title = f"anchor share {lam_i:.2f}"
        axes[2, i].set_title(share_title, fontsize=7)
        _show_spec(axes[3, i], mixed[i], vmin, vmax)
        axes[3, i].set_title(_weights_title(dense[i], names), fontsize=7)
    row_labels = (
        ROW_LABELS
        if not _is_waveform_mixer(mixer)
        else (*ROW_LABELS[:2], "anchor coefficient\nover time", ROW_LABELS[3])
    )
    for r, row_name in enumerate(row_labels):
        axes[r, 0].set_ylabel(row_name, fontsize=7)
    path = Path(options.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


@hookimpl
def mixup_preview(mixer: Mixer, info: MixerInfo, options: PreviewOptions) -> str | None:
    """Preview audio mixers on spectrograms; ``None`` for other modalities."""
    if info.modality != "audio":
        return None
    return str(render_preview(mixer, info.name, options))
