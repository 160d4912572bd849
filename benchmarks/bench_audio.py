"""Speed of the audio mixers, as ratios to the work around them, in one run.

Two tables, each on one batch of 64 one-second clips at 16 kHz (``(64, 1, 16000)`` waveforms):

* spectrogram mixing on the log-mel (dB) features of the batch, ``(64, 1, 64, 101)``, as a ratio
  to **computing** those mel spectrograms (torchaudio ``MelSpectrogram``, n_fft 512, hop 160,
  64 mels): core ``mixup`` (a plain linear mix of the dB values), and the audio plugin's
  ``audio:spectrogram`` (both domain modes), ``audio:specmix``, ``audio:time-cutmix`` and
  ``audio:freq-cutmix`` where registered;
* waveform mixing, as a ratio to a plain waveform mixup (core ``mixup`` on the waveforms):
  ``audio:waveform`` and BC learning (``audio:bc``, A-weighted and RMS gains) where registered.

Every case returns the mixed inputs and dense soft targets (10 classes). The cases run round-robin
(one run of each per round in a shuffled order, after two warm-up rounds), so load on a shared
machine hits them alike;
a ratio is taken within each round, and the table shows the median over rounds with the min–max.

    python benchmarks/bench_audio.py                 # CPU, 15 rounds
    python benchmarks/bench_audio.py --quick         # 5 rounds, a smoke run
    python benchmarks/bench_audio.py --device cuda   # on a GPU (synchronised timing)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torchaudio

from mixup_core import create_mixer, list_mixers

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _harness.py lies next to this script
from _harness import Case, run_rounds

NUM_CLASSES = 10


def mixer_case(name: str, spec: dict, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> Case:
    mixer = create_mixer({**spec, "num_classes": NUM_CLASSES})

    def run() -> object:
        out = mixer(x, y, generator=g)
        return out.inputs, out.targets.dense()

    return Case(name, run)


def table(title: str, cases: list[Case], reference: Case, ref_label: str) -> str:
    lines = [
        f"### {title}",
        "",
        f"| case | median ms | min–max ms | ratio to {ref_label} (min–max) |",
        "|---|---:|---:|---:|",
    ]
    for case in cases:
        ratios = [t / r for t, r in zip(case.times, reference.times, strict=True)]
        med = statistics.median(case.times)
        lines.append(
            f"| {case.name} | {med:.2f} | {min(case.times):.2f}–{max(case.times):.2f} | "
            f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="5 rounds (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rounds = 5 if args.quick else args.rounds
    registered = {info.name for info in list_mixers("audio:*")}

    g = torch.Generator().manual_seed(0)
    wave = 0.1 * torch.randn(args.batch, 1, 16000, generator=g).to(device)
    labels = torch.randint(0, NUM_CLASSES, (args.batch,), generator=g).to(device)
    mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=512, hop_length=160, n_mels=64).to(device)
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0).to(device)
    with torch.no_grad():
        logmel = to_db(mel(wave))

    print(
        f"torch {torch.__version__}, torchaudio {torchaudio.__version__}, device {device}, "
        f"threads {torch.get_num_threads()}, rounds {rounds}; audio mixers registered: "
        f"{', '.join(sorted(registered)) or 'none'}\n"
    )

    # ---- spectrogram mixing vs computing the mel spectrogram ----------------------------------
    def compute_mel() -> object:
        with torch.no_grad():
            return mel(wave)

    def compute_logmel() -> object:
        with torch.no_grad():
            return to_db(mel(wave))

    spec_ref = Case("MelSpectrogram of the batch (reference)", compute_mel)
    spec_cases = [spec_ref, Case("MelSpectrogram + AmplitudeToDB", compute_logmel)]
    spec_cases.append(mixer_case("core mixup on log-mel (linear in dB)", {"name": "mixup"}, logmel, labels, g))
    if "audio:spectrogram" in registered:
        spec_cases.append(
            mixer_case(
                "audio:spectrogram db, linear-power", {"name": "audio:spectrogram", "domain": "db"}, logmel, labels, g
            )
        )
        spec_cases.append(
            mixer_case(
                "audio:spectrogram db, linear-power, sample",
                {"name": "audio:spectrogram", "domain": "db", "mode": "sample"},
                logmel,
                labels,
                g,
            )
        )
        spec_cases.append(
            mixer_case(
                "audio:spectrogram db, linear-in-input",
                {"name": "audio:spectrogram", "domain": "db", "domain_mixing": "linear-in-input"},
                logmel,
                labels,
                g,
            )
        )
    for name in ("specmix", "time-cutmix", "freq-cutmix"):
        if f"audio:{name}" in registered:
            spec_cases.append(
                mixer_case(f"audio:{name} sample", {"name": f"audio:{name}", "mode": "sample"}, logmel, labels, g)
            )

    # ---- waveform mixing vs a plain waveform mixup --------------------------------------------
    wave_ref = mixer_case("core mixup on waveforms (reference)", {"name": "mixup"}, wave, labels, g)
    wave_cases = [
        wave_ref,
        mixer_case("core mixup on waveforms, sample", {"name": "mixup", "mode": "sample"}, wave, labels, g),
    ]
    if "audio:waveform" in registered:
        wave_cases.append(mixer_case("audio:waveform", {"name": "audio:waveform"}, wave, labels, g))
    if "audio:bc" in registered:
        wave_cases.append(mixer_case("audio:bc (A-weighted gains)", {"name": "audio:bc"}, wave, labels, g))
        wave_cases.append(
            mixer_case("audio:bc (RMS gains)", {"name": "audio:bc", "gain_mode": "rmse"}, wave, labels, g)
        )
    wave_cases.append(Case("MelSpectrogram of the batch (for scale)", compute_mel))

    run_rounds(spec_cases, rounds, device)
    run_rounds(wave_cases, rounds, device)
    shape = tuple(logmel.shape)
    print(
        table(
            f"Spectrogram mixing on log-mel {shape} vs computing the mel spectrogram",
            spec_cases,
            spec_ref,
            "MelSpectrogram",
        )
    )
    print(
        table(
            f"Waveform mixing on {tuple(wave.shape)} vs a plain waveform mixup", wave_cases, wave_ref, "waveform mixup"
        )
    )


if __name__ == "__main__":
    main()
