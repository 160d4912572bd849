"""Write docs/images/mixers/<plugin>-<mixer>.png for every image, audio and tabular mixer (and core:mixup).

Each picture comes from the ``mixup_preview`` hook, exactly as ``mixup preview NAME`` draws it:
row 1 anchors, row 2 partners, row 3 the anchor's share per pixel, row 4 the mixes with their label
weights. The examples are the synthetic coloured shapes (no files needed), batch 4, seed 0, so the
pictures are reproducible. Mixers guided by a model (PuzzleMix, SnapMix, AttentiveMix …) are drawn
with the model-free stand-ins of their ``example_call_kwargs`` (local image energy in place of
gradients, CAMs or attention). Audio mixers are drawn as log-mel spectrograms of synthetic tones,
chirps, noise bursts and harmonic stacks (``--audio-dataset``), with the anchor's share per
time-frequency cell (for waveform mixers, the anchor's coefficient over time). Tabular mixers are
drawn as heat maps of synthetic encoded equipment-log rows: anchors, partners, mixes.

Usage::

    python docs/scripts/make_previews.py                 # every image, audio and tabular mixer, and core:mixup
    python docs/scripts/make_previews.py audio:specmix   # only these
    python docs/scripts/make_previews.py image:cutmix    # only these
    python docs/scripts/make_previews.py --dataset fashion-mnist --out /tmp/previews

Needs ``pip install "mixup-image[preview]" "mixup-audio[preview]" "mixup-tabular[preview]"`` (matplotlib).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mixup_core import create_mixer, get_plugin_manager, get_registry, list_mixers
from mixup_core.hookspecs import PreviewOptions

DOCS = Path(__file__).resolve().parents[1]


def default_names() -> list[str]:
    """The registered image mixers, core:mixup, and the registered audio and tabular mixers, sorted."""
    names = [info.name for info in list_mixers(modality="image") if info.modality == "image"]
    audio = [info.name for info in list_mixers(modality="audio") if info.modality == "audio"]
    tabular = [info.name for info in list_mixers(modality="tabular") if info.modality == "tabular"]
    return ["core:mixup", *names, *audio, *tabular]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", help="mixer names (default: every image, audio and tabular mixer, and core:mixup)"
    )
    parser.add_argument("--out", type=Path, default=DOCS / "images" / "mixers", help="output folder")
    parser.add_argument("--dataset", default="synthetic", help="synthetic (default), fashion-mnist or digits")
    parser.add_argument(
        "--audio-dataset", default="synthetic", help="examples of the audio mixers: synthetic (default)"
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    registry = get_registry()
    hook = get_plugin_manager().hook
    written, skipped = [], []
    for name in args.names or default_names():
        info = registry.get(name)
        if info.cost == "dataset":
            skipped.append(f"{info.name}: generates data sets, no batch to preview")
            continue
        path = args.out / f"{info.name.replace(':', '-')}.png"
        dataset = args.audio_dataset if info.modality == "audio" else args.dataset
        options = PreviewOptions(out=path, dataset=dataset, batch_size=args.batch_size, seed=args.seed)
        try:
            result = hook.mixup_preview(
                mixer=create_mixer({"name": info.name, **info.load().example_params}), info=info, options=options
            )
        except Exception as exc:  # report every mixer, then fail
            skipped.append(f"{info.name}: {type(exc).__name__}: {exc}")
            continue
        if result is None:
            skipped.append(f"{info.name}: no plugin previews modality {info.modality!r}")
            continue
        written.append(result)
    for line in written:
        sys.stdout.write(f"wrote {line}\n")
    for line in skipped:
        sys.stdout.write(f"skipped {line}\n")
    return 1 if any("Error" in s for s in skipped) else 0


if __name__ == "__main__":
    raise SystemExit(main())
