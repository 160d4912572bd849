"""The cache of generated spoken digits: one folder per recipe, written atomically, loaded without any program.

A set is generated once, with a small thread pool of subprocesses and a progress bar, into
``<cache root>/spoken-digits/<version-and-recipe-hash>/`` (the root is `mixup_core.data.cache_root`:
``$MIXUP_CACHE`` or ``~/.cache/mixup``) as one compressed ``.npz`` plus a JSON manifest of the
recipe and the programs' versions; later calls load it and start no process.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mixup_core.data import cache_root, int_param

from ._speech import (
    FLITE_VOICES,
    INSTALL_COMMAND,
    SPOKEN_DIGITS_VERSION,
    TRIM_DB,
    TRIM_MARGIN_S,
    Resamplers,
    SpeechConfig,
    Tools,
    discover_tools,
    draw_specs,
    speaker_is_test,
    synthesise,
    which,
)

__all__ = ["load_or_generate"]

_FILE = "spoken_digits.npz"
_MANIFEST = "manifest.json"


def _folder(root: str | os.PathLike[str] | None, config: SpeechConfig) -> Path:
    return cache_root(root) / "spoken-digits" / config.key()


def _is_complete(folder: Path) -> bool:
    return (folder / _MANIFEST).is_file() and (folder / _FILE).is_file()


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="spoken digits", unit="clip", disable=not enabled, leave=False)


def _generate(config: SpeechConfig, tools: Tools, folder: Path, *, workers: int, progress: bool) -> None:
    specs = draw_specs(config, tools)
    n = len(specs)
    clips = np.zeros((n, config.num_samples), dtype=np.int16)
    lengths = np.zeros(n, dtype=np.int64)
    trimmed = np.zeros(n, dtype=np.int64)
    resample = Resamplers(config.sample_rate)
    folder.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="mixup-spoken-digits-") as tmp,
        _progress_bar(n, progress) as bar,
        concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool,
    ):
        futures = {pool.submit(synthesise, spec, tools, config, resample, Path(tmp)): spec.index for spec in specs}
        try:
            for future in concurrent.futures.as_completed(futures):
                i = futures[future]
                clips[i], lengths[i], trimmed[i] = future.result()
                bar.update(1)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    speakers = [s.speaker for s in specs]
    is_test = np.array([speaker_is_test(s) for s in speakers], dtype=bool)
    arrays = {
        "clips": clips,
        "labels": np.array([s.label for s in specs], dtype=np.int64),
        "lengths": lengths,
        "trimmed_lengths": trimmed,
        "speakers": np.array(speakers, dtype=str),
        "is_test": is_test,
        "engines": np.array([s.engine for s in specs], dtype=str),
        "speeds": np.array([s.speed for s in specs], dtype=np.int64),
        "pitches": np.array([s.pitch for s in specs], dtype=np.int64),
    }
    data_tmp = folder / f".{_FILE}.{os.getpid()}.{threading.get_ident()}.tmp.npz"
    with open(data_tmp, "wb") as f:
        # numpy's stub checks each unpacked value against allow_pickle: bool as well
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
    digest = hashlib.sha256(data_tmp.read_bytes()).hexdigest()
    manifest = {
        "name": "spoken-digits",
        "key": config.key(),
        "parameters": config.as_dict(),
        "storage": {
            "file": _FILE,
            "sha256": digest,
            "clips": "int16 PCM (num_clips, duration * sample_rate), zero-padded; float32 = int16 / 32768",
            "trim": f"leading/trailing samples below peak - {TRIM_DB:g} dB removed, {TRIM_MARGIN_S * 1e3:g} ms margin",
            "resampling": "torchaudio.functional.resample (defaults) from each program's own rate",
        },
        "tools": {
            "espeak-ng": tools.espeak_version,
            "flite": tools.flite_version,
            "espeak_accents": list(tools.accents),
            "espeak_variants": list(tools.variants),
            "flite_voices": list(tools.flite_voices),
        },
        "counts": {
            "clips": n,
            "train": int((~is_test).sum()),
            "test": int(is_test.sum()),
            "speakers": len(set(speakers)),
            "test_speakers": len({s for s, t in zip(speakers, is_test, strict=True) if t}),
            "flite_clips": int(sum(s.engine == "flite" for s in specs)),
            "cropped": int((trimmed > config.num_samples).sum()),
        },
    }
    manifest_tmp = folder / f".{_MANIFEST}.{os.getpid()}.{threading.get_ident()}.tmp"
    manifest_tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(data_tmp, folder / _FILE)  # the data first: a folder with a manifest is complete
    os.replace(manifest_tmp, folder / _MANIFEST)


def _load(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    version = manifest.get("parameters", {}).get("version")
    if version != SPOKEN_DIGITS_VERSION:
        raise RuntimeError(
            f"{folder} holds spoken digits of format version {version}, this is version {SPOKEN_DIGITS_VERSION}: "
            "delete the folder to regenerate it"
        )
    with np.load(folder / _FILE, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    return arrays, manifest


def _without_flite(root: str | os.PathLike[str] | None, config: SpeechConfig, reason: str) -> tuple[SpeechConfig, Path]:
    warnings.warn(
        f"{reason}: the spoken digits use espeak-ng voices only (flite_fraction=0, a cache folder of its own). "
        f"Install flite with `{INSTALL_COMMAND}` for its {len(FLITE_VOICES)} extra voices.",
        UserWarning,
        stacklevel=4,
    )
    config = SpeechConfig(config.num_clips, config.seed, config.sample_rate, config.duration, 0.0)
    return config, _folder(root, config)


def load_or_generate(
    root: str | os.PathLike[str] | None,
    config: SpeechConfig,
    *,
    generate: bool,
    espeak_ng: str | os.PathLike[str],
    flite: str | os.PathLike[str] | None,
    workers: int,
    progress: bool,
) -> tuple[dict[str, np.ndarray], dict[str, Any], Path]:
    int_param("workers", workers, 1)
    folder = _folder(root, config)
    if _is_complete(folder):
        return (*_load(folder), folder)
    if config.flite_fraction > 0 and (flite is None or which(flite) is None):
        config, folder = _without_flite(root, config, f"flite was not found (looked for {flite!r})")
        if _is_complete(folder):
            return (*_load(folder), folder)
    if not generate:
        raise FileNotFoundError(
            f"no spoken digits in {folder} (num_clips={config.num_clips}, seed={config.seed}, "
            f"sample_rate={config.sample_rate}, duration={config.duration}); pass generate=True to synthesise them"
        )
    tools = discover_tools(espeak_ng, flite if config.flite_fraction > 0 else None)
    if config.flite_fraction > 0 and not tools.flite_voices:
        config, folder = _without_flite(root, config, f"flite ({flite}) offers none of the voices {FLITE_VOICES}")
        if _is_complete(folder):
            return (*_load(folder), folder)
    _generate(config, tools, folder, workers=workers, progress=progress)
    return (*_load(folder), folder)
