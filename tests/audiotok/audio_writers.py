"""Helpers for the audio tests: write test signals in every format the loader reads."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soundfile as sf

# One frequency per channel so a test can tell the channels apart after decoding.  Channels 3
# and 5 get low tones because 5.1 encoders treat one of them as LFE and low-pass it
# (index 3 in WAV/FFmpeg order, index 5 in Vorbis/Opus order).
CHANNEL_FREQS = (440.0, 660.0, 880.0, 100.0, 1100.0, 150.0)
_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}

# extension -> (soundfile format, subtype) for what libsndfile can encode.
SOUNDFILE_FORMATS = {
    "wav": ("WAV", None),
    "flac": ("FLAC", None),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
# extension -> (FFmpeg encoder, container format) for what only FFmpeg encodes.
PYAV_FORMATS = {"m4a": ("aac", "mp4"), "aac": ("aac", "adts")}
LOSSY = frozenset({"ogg", "opus", "mp3", "m4a", "aac"})


def tones(seconds: float, sample_rate: int, channels: int, amplitude: float = 0.5) -> np.ndarray:
    """float32 ``[channels, n]``: channel ``c`` is a sine at ``CHANNEL_FREQS[c]``."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    rows = [amplitude * np.sin(2 * np.pi * CHANNEL_FREQS[c] * t) for c in range(channels)]
    return np.stack(rows).astype(np.float32)


def write_audio(
    path: Path, samples: np.ndarray, sample_rate: int, subtype: str | None = None
) -> Path:
    """Write ``[channels, n]`` float audio; the format follows the extension of ``path``."""
    extension = path.suffix.lstrip(".")
    if extension in PYAV_FORMATS:
        codec, container = PYAV_FORMATS[extension]
        write_with_pyav(path, samples, sample_rate, codec, container)
        return path
    file_format, default_subtype = SOUNDFILE_FORMATS[extension]
    sf.write(path, samples.T, sample_rate, subtype=subtype or default_subtype, format=file_format)
    return path


def write_with_pyav(
    path: Path, samples: np.ndarray, sample_rate: int, codec: str, container: str
) -> None:
    """Encode ``[channels, n]`` float32 audio with FFmpeg, 1024 frames at a time."""
    layout = _LAYOUTS[samples.shape[0]]
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=sample_rate, layout=layout)
        assert isinstance(stream, av.audio.stream.AudioStream)
        for start in range(0, samples.shape[1], 1024):
            block = np.ascontiguousarray(samples[:, start : start + 1024], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = sample_rate
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)


def dominant_frequency(signal: np.ndarray, sample_rate: int) -> float:
    """The frequency (Hz) of the largest peak of a Hann-windowed spectrum of ``[n]`` audio."""
    window = np.hanning(signal.size)
    spectrum = np.abs(np.fft.rfft(signal * window))
    return float(np.argmax(spectrum) * sample_rate / signal.size)
