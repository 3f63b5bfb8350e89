"""Stage 2: decode and standardise each source file with the foundation loader."""

from __future__ import annotations

import warnings

import numpy as np

from audiotok.audio import audio_info, load_audio, loudness_normalize
from audiotok.errors import AudioLoadError
from data_prep.config import (
    DecodeConfig,
)
from data_prep.stages.rows import (
    Row,
    Rows,
    alive,
    fail,
)


def decode_rows(rows: Rows, config: DecodeConfig) -> Rows:
    """Probe each file (duration, without decoding), then decode it to mono float32 at
    ``config.sample_rate`` in ``chunk_seconds`` chunks; optional loudness normalisation."""
    for row in rows:
        if alive(row):
            _decode(row, config)
    return rows


def _decode(row: Row, config: DecodeConfig) -> None:
    path = row["source"]["path"]
    try:
        info = audio_info(path)
        row["duration"] = float(info.duration or 0.0)
        if info.duration is not None and info.duration > config.max_file_seconds:
            fail(row, "decode", "too_long", f"{info.duration:.0f} s > {config.max_file_seconds} s")
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            audio = load_audio(
                path, sample_rate=config.sample_rate, mono=True, chunk_seconds=config.chunk_seconds
            )
    except AudioLoadError as exc:
        fail(row, "decode", exc.reason, exc.detail)
        return
    except Exception as exc:  # a decoder crash on one file must not stop the run
        fail(row, "decode", "decode_failed", f"{type(exc).__name__}: {exc}")
        return
    wave = audio.mono
    row["duration"] = audio.duration  # what was decoded is what the accounting uses
    if audio.num_frames == 0:
        fail(row, "decode", "empty_audio", "no samples decoded")
        return
    row["truncated"] = any("ends early" in str(w.message) for w in caught)
    if config.loudness_lufs is not None:
        peak = float(np.max(np.abs(wave)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wave = loudness_normalize(wave, audio.sample_rate, config.loudness_lufs)
        row["gain"] = float(np.max(np.abs(wave))) / peak if peak > 0 else 1.0
    row["wave"] = np.ascontiguousarray(wave, dtype=np.float32)
    row["sample_rate"] = audio.sample_rate
