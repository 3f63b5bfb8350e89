"""Audio I/O: one loader for every format, saving, resampling and level normalisation.

``load_audio`` reads WAV (8/16/24/32-bit integer, 32/64-bit float), FLAC, Ogg Vorbis, Opus,
MP3 and MP4/M4A/ADTS AAC into float32 ``[channels, frames]``, through libsndfile where it can
and FFmpeg (PyAV) where it cannot.  Every failure is an ``audiotok.errors.AudioLoadError``
with a machine-readable reason.
"""

from audiotok.audio.load import SUPPORTED_EXTENSIONS, audio_info, iter_audio_chunks, load_audio
from audiotok.audio.normalize import (
    LoudnessClippingWarning,
    downmix,
    loudness_normalize,
    peak_normalize,
)
from audiotok.audio.resample import resample
from audiotok.audio.save import save_audio
from audiotok.audio.types import Audio, AudioInfo, TruncatedAudioWarning

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Audio",
    "AudioInfo",
    "LoudnessClippingWarning",
    "TruncatedAudioWarning",
    "audio_info",
    "downmix",
    "iter_audio_chunks",
    "load_audio",
    "loudness_normalize",
    "peak_normalize",
    "resample",
    "save_audio",
]
