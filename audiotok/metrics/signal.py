"""Sample- and spectrum-level reconstruction metrics: SI-SDR, mel and multi-resolution STFT
distances, mel cepstral distortion, F0 error.

Every function takes an aligned pair (see `audiotok.metrics.align.align_pair`): float mono
``[samples]`` arrays of equal length at one rate.  Analysis sizes are given at 16 kHz and scaled
with the rate, so a window always spans the same time; values are still only comparable between
pairs at the same rate (the mel and STFT axes reach the rate's Nyquist frequency).

No function returns a made-up value: a malformed, too short or silent input raises
`MetricError` naming the metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from audiotok.errors import MetricError
from audiotok.metrics.align import checked_pair, checked_wave, is_silent

BASE_RATE = 16_000  # the analysis sizes below are given at this rate
MEL_BANDS = 80
MEL_FFT, MEL_HOP = 1024, 256
MAGNITUDE_FLOOR = 1e-5  # keeps the log of silent bins finite (about -100 dB)
STFT_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))  # (fft = window, hop)
MCD_ENERGY_RANGE_DB = 40.0  # MCD ignores reference frames this far below the loudest (silence)
F0_MIN_HZ, F0_MAX_HZ = 50.0, 600.0  # covers low male to high child voices
F0_FRAME = 1024  # pYIN frame (64 ms at 16 kHz): two periods of F0_MIN_HZ fit in its window


@dataclass(frozen=True)
class F0Scores:
    """F0 agreement of a degraded signal with its reference.

    Attributes:
        rmse_cents: root-mean-square F0 difference in cents (1200 per octave) over the frames
            voiced in both signals.
        voicing_error: fraction of all frames whose voiced/unvoiced decision differs.
    """

    rmse_cents: float
    voicing_error: float


def si_sdr(reference: np.ndarray, degraded: np.ndarray, cap_db: float = 100.0) -> float:
    """Scale-invariant signal-to-distortion ratio in dB.

    Both signals are made zero-mean; the reference is scaled to best fit the degraded signal
    (``alpha = <d, r> / <r, r>``) and ``SI-SDR = 10 log10(|alpha r|^2 / |d - alpha r|^2)``,
    clipped to ``[-cap_db, cap_db]``: an identical pair gives exactly ``cap_db``, a silent or
    orthogonal degraded signal ``-cap_db``.

    Args:
        reference: ``[samples]``.
        degraded: ``[samples]``, aligned with the reference.
        cap_db: the bound of the returned value.

    Raises:
        MetricError: a malformed pair or a silent (or constant) reference.
    """
    metric = "si_sdr"
    ref, deg = checked_pair(reference, degraded, metric)
    r = ref.astype(np.float64) - np.mean(ref, dtype=np.float64)
    d = deg.astype(np.float64) - np.mean(deg, dtype=np.float64)
    if is_silent(r):
        raise MetricError(metric, "the reference is constant (silent after removing its mean)")
    target = (float(np.dot(d, r)) / float(np.dot(r, r))) * r
    target_energy = float(np.dot(target, target))
    error = d - target
    error_energy = float(np.dot(error, error))
    # compare in the linear domain: log10 of 0 would warn and give inf
    ratio_bound = 10.0 ** (-cap_db / 10.0)
    if target_energy <= error_energy * ratio_bound:  # also a silent degraded signal (0 <= 0)
        return float(-cap_db)
    if error_energy <= target_energy * ratio_bound:
        return float(cap_db)
    return float(10.0 * np.log10(target_energy / error_energy))


def mel_distance(reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    """Mean absolute difference of log10 mel spectrograms.

    80 mel bands (Slaney) over 0 to rate/2, magnitude STFT with a Hann window of 1024 samples
    and hop 256 at 16 kHz (64 / 16 ms at any rate); magnitudes are floored at 1e-5.

    Raises:
        MetricError: a malformed pair, shorter than one window, or a silent reference.
    """
    metric = "mel_distance"
    n_fft, hop = _scaled(MEL_FFT, rate, metric), _scaled(MEL_HOP, rate, metric)
    ref, deg = checked_pair(reference, degraded, metric, min_samples=n_fft)
    ref_mel = np.log10(np.maximum(_mel(ref, rate, n_fft, hop), MAGNITUDE_FLOOR))
    deg_mel = np.log10(np.maximum(_mel(deg, rate, n_fft, hop), MAGNITUDE_FLOOR))
    return float(np.mean(np.abs(ref_mel - deg_mel)))


def multi_resolution_stft_distance(reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    """Spectral convergence plus log-magnitude distance, averaged over three STFT resolutions.

    Resolutions (window = FFT size, hop) of (512, 128), (1024, 256), (2048, 512) at 16 kHz,
    scaled with the rate, Hann windows.  Per resolution, with magnitudes ``R`` and ``D``
    ``[frames, bins]``: ``||R - D||_F / ||R||_F + mean |ln max(R, 1e-5) - ln max(D, 1e-5)|``.

    Raises:
        MetricError: a malformed pair, shorter than the largest window, or a silent reference.
    """
    metric = "multi_resolution_stft_distance"
    sizes = [(_scaled(f, rate, metric), _scaled(h, rate, metric)) for f, h in STFT_RESOLUTIONS]
    ref, deg = checked_pair(reference, degraded, metric, min_samples=max(f for f, _ in sizes))
    total = 0.0
    for n_fft, hop in sizes:
        ref_mag = _stft_magnitude(ref, n_fft, hop)
        deg_mag = _stft_magnitude(deg, n_fft, hop)
        convergence = np.linalg.norm(ref_mag - deg_mag) / np.linalg.norm(ref_mag)
        log_ref = np.log(np.maximum(ref_mag, MAGNITUDE_FLOOR))
        log_deg = np.log(np.maximum(deg_mag, MAGNITUDE_FLOOR))
        total += float(convergence) + float(np.mean(np.abs(log_ref - log_deg)))
    return total / len(sizes)


def mel_cepstral_distortion(
    reference: np.ndarray, degraded: np.ndarray, rate: int, order: int = 24
) -> float:
    """Mel cepstral distortion in dB, averaged over the reference's non-silent frames.

    Per frame: the natural log of the 80-band mel magnitude spectrum (as in `mel_distance`,
    floored at 1e-5), an orthonormal DCT-II over the bands divided by ``sqrt(2 * 80)``,
    coefficients 1..order (c0, the level, is left out);
    ``MCD = 10 / ln(10) * sqrt(2 * sum_k (c_k - c'_k)^2)``.

    The division makes ``c_k`` the cepstrum of the usual MCD formula
    (``ln|S(w)| = c_0 + 2 sum_k c_k cos(k w)``): an orthonormal DCT of 80 bands returns
    ``sqrt(2 * 80) c_k``, which would inflate MCD about 12.6 times over the usual 1-10 dB range.

    Frames whose reference energy is more than 40 dB under the loudest frame are skipped:
    silence has no spectral envelope to compare.  The pair is compared frame by frame (no
    time warping).

    Raises:
        MetricError: a malformed pair, shorter than one window, a silent reference, or an
            ``order`` outside 1..79.
    """
    metric = "mel_cepstral_distortion"
    if not 1 <= order < MEL_BANDS:
        raise MetricError(metric, f"order must be in 1..{MEL_BANDS - 1}, got {order}")
    n_fft, hop = _scaled(MEL_FFT, rate, metric), _scaled(MEL_HOP, rate, metric)
    ref, deg = checked_pair(reference, degraded, metric, min_samples=n_fft)
    from scipy import fft  # imported here: importing audiotok.metrics stays light

    ref_stft = _stft_magnitude(ref, n_fft, hop)
    ref_mel = ref_stft @ _mel_filters(rate, n_fft).T
    deg_mel = _stft_magnitude(deg, n_fft, hop) @ _mel_filters(rate, n_fft).T
    # the two cepstra are linear in the log spectra: transform their difference once
    log_diff = np.log(np.maximum(ref_mel, MAGNITUDE_FLOOR)) - np.log(
        np.maximum(deg_mel, MAGNITUDE_FLOOR)
    )
    cepstral_diff = fft.dct(log_diff, type=2, norm="ortho", axis=1) / np.sqrt(2.0 * MEL_BANDS)
    diff = cepstral_diff[:, 1 : order + 1]
    per_frame = 10.0 / np.log(10.0) * np.sqrt(2.0 * np.sum(diff**2, axis=1))
    energy_db = 10.0 * np.log10(np.maximum(np.sum(ref_stft**2, axis=1), 1e-20))
    loud = energy_db >= energy_db.max() - MCD_ENERGY_RANGE_DB
    return float(np.mean(per_frame[loud]))


def f0_track(wave: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """F0 track by pYIN (librosa): 50-600 Hz, frame 1024 / hop 256 at 16 kHz, scaled with rate.

    Compute a reference's track once and pass it to `f0_metrics` for every codec.  pYIN was
    kept over a plain YIN because one call on 5 s at 16 kHz takes about 1 s here (its HMM
    smooths the track); the first call in a process also compiles librosa's numba code.
    Caveat: pYIN's decoder can call stationary noise voiced near 50 Hz, so a noise-only
    reconstruction may score as voiced with a large F0 error rather than as unvoiced.

    Args:
        wave: float mono ``[samples]``.
        rate: its rate in Hz.

    Returns:
        ``(f0_hz, voiced)``, both ``[frames]``: F0 in Hz (float64, 0.0 in unvoiced frames) and
        the voiced decision (bool).  Frame ``i`` is centred on sample ``i * hop``.

    Raises:
        MetricError: a malformed input or one shorter than a frame.
    """
    metric = "f0_track"
    frame = _scaled(F0_FRAME, rate, metric)
    audio = checked_wave(wave, metric)
    if audio.size < frame:
        raise MetricError(metric, f"too short: {audio.size} samples, needs at least {frame}")
    import librosa  # imported here: importing audiotok.metrics stays light

    f0, voiced, _ = librosa.pyin(
        audio,
        fmin=F0_MIN_HZ,
        fmax=F0_MAX_HZ,
        sr=rate,
        frame_length=frame,
        hop_length=frame // 4,
        fill_na=0.0,
    )
    return f0.astype(np.float64), voiced.astype(bool)


def f0_metrics(
    reference: np.ndarray,
    degraded: np.ndarray,
    rate: int,
    reference_track: tuple[np.ndarray, np.ndarray] | None = None,
) -> F0Scores:
    """F0 RMSE in cents (frames voiced in both) and voicing decision error (all frames).

    Args:
        reference: ``[samples]``.
        degraded: ``[samples]``, aligned with the reference.
        rate: their rate in Hz.
        reference_track: ``f0_track(reference, rate)`` when already computed.

    Raises:
        MetricError: a malformed pair, a silent reference, a ``reference_track`` of another
            length, or no frame voiced in both signals (the RMSE would be undefined).
    """
    metric = "f0_metrics"
    ref, deg = checked_pair(reference, degraded, metric)
    try:
        ref_f0, ref_voiced = reference_track if reference_track is not None else f0_track(ref, rate)
        deg_f0, deg_voiced = f0_track(deg, rate)
    except MetricError as error:  # name this metric, not the helper
        raise MetricError(metric, error.reason) from error
    ref_f0, ref_voiced = np.asarray(ref_f0, dtype=np.float64), np.asarray(ref_voiced, dtype=bool)
    if not ref_f0.shape == ref_voiced.shape == deg_f0.shape:
        raise MetricError(
            metric,
            f"reference_track has {ref_f0.shape} frames, the degraded signal "
            f"{deg_f0.shape}: it was computed for another signal or rate",
        )
    both = ref_voiced & deg_voiced & (ref_f0 > 0) & (deg_f0 > 0)
    if not both.any():
        raise MetricError(metric, "no frames voiced in both")
    cents = 1200.0 * np.log2(deg_f0[both] / ref_f0[both])
    return F0Scores(
        rmse_cents=float(np.sqrt(np.mean(cents**2))),
        voicing_error=float(np.mean(ref_voiced != deg_voiced)),
    )


def _scaled(samples_at_16k: int, rate: int, metric: str) -> int:
    """An analysis size given at 16 kHz, scaled to ``rate`` (the same duration)."""
    if rate <= 0:
        raise MetricError(metric, f"rate must be positive, got {rate}")
    return max(1, round(samples_at_16k * rate / BASE_RATE))


@lru_cache(maxsize=16)
def _hann(size: int) -> np.ndarray:
    """Periodic Hann window ``[size]`` (the STFT convention: overlap-adds to a constant)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size) / size)


def _stft_magnitude(wave: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| ``[frames, n_fft // 2 + 1]`` of ``[samples]``, Hann window of ``n_fft``.

    Frames are centred on samples ``0, hop, 2 hop, ...`` (zero padding of ``n_fft // 2`` on
    each side), as librosa's default.
    """
    padded = np.pad(wave.astype(np.float64), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.abs(np.fft.rfft(frames * _hann(n_fft), axis=1))


@lru_cache(maxsize=16)
def _mel_filters(rate: int, n_fft: int) -> np.ndarray:
    """Slaney mel filterbank ``[80, n_fft // 2 + 1]`` from 0 Hz to rate/2."""
    from audiotok.features.mel import slaney_mel_filters  # torch: imported on first use

    filters = slaney_mel_filters(rate, n_fft, MEL_BANDS, dtype=np.float64)
    filters.setflags(write=False)  # shared through the cache
    return filters


def _mel(wave: np.ndarray, rate: int, n_fft: int, hop: int) -> np.ndarray:
    """Mel magnitude spectrogram ``[frames, 80]``."""
    return _stft_magnitude(wave, n_fft, hop) @ _mel_filters(rate, n_fft).T
