"""Write WAV/FLAC atomically, so readers never see a half-written file."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf

_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
_MAX_CHANNELS = 256


def save_audio(
    path: str | os.PathLike[str],
    samples: np.ndarray,
    sample_rate: int,
    *,
    subtype: str | None = None,
) -> Path:
    """Write ``[n]`` or ``[channels, n]`` float audio to a ``.wav`` or ``.flac`` file.

    ``subtype`` is a soundfile subtype (``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``, ...); the
    default is soundfile's (16-bit PCM for both formats).  Values beyond [-1, 1] are clipped
    by libsndfile when writing integer PCM.  The data goes to a temporary file in the same
    folder that then replaces ``path``, so an interrupted write leaves any old file intact.
    """
    name = os.fspath(path)
    extension = os.path.splitext(name)[1].lower()
    if extension not in _FORMATS:
        raise ValueError(f"save_audio writes {sorted(_FORMATS)}, not {extension or 'no extension'}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    frames = _as_frames_by_channels(samples)
    directory, base = os.path.split(name)
    # A name of our own making rather than mkstemp: open() honours the umask, so the final file
    # gets ordinary permissions instead of mkstemp's 0600.
    temporary = os.path.join(directory, f".{base}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as handle:
            sf.write(handle, frames, sample_rate, subtype=subtype, format=_FORMATS[extension])
        os.replace(temporary, name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    return Path(name)


def _as_frames_by_channels(samples: np.ndarray) -> np.ndarray:
    """``[n]`` or ``[channels, n]`` float audio as the ``[n, channels]`` soundfile writes."""
    array = np.asarray(samples)
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2:
        raise ValueError(f"expected [n] or [channels, n] audio, got shape {array.shape}")
    if array.shape[0] > _MAX_CHANNELS:
        # Most likely soundfile's own [n, channels] layout passed by mistake.
        raise ValueError(f"{array.shape[0]} channels; expected [channels, n], not [n, channels]")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"expected float samples in [-1, 1], got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError("samples contain NaN or infinity")
    return np.ascontiguousarray(array.T)
