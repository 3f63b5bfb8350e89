"""DNSMOS P.835 (SIG, BAK, OVRL) and P.808 MOS with the ONNX models shipped by ``speechmos``.

The models come from Microsoft's DNS Challenge.  Facts they need: 16 kHz input scored in
9.01 s windows every 1 s (a shorter clip is doubled until it is long enough); the P.835
model takes the raw window ``[1, 144160]`` and its three raw outputs go through the
published cubic/quadratic calibration polynomials; the P.808 model takes a 120-bin mel
(n_fft 321, hop 160) in dB relative to the window's maximum, scaled as ``(dB + 40) / 40``,
of the window without its last 160 samples.  Window scores are averaged.  (``speechmos``
itself computes window ends in floating point and so skips some windows one sample short;
every window is scored here, so its figures can differ from ours by a few hundredths.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from audiotok._components import onnx_session, package_file, require_module
from audiotok._waves import mono_at_rate
from audiotok.requirements import ONNXRUNTIME, PackageData, PythonPackage, Requirement

SAMPLE_RATE = 16000
WINDOW_S = 9.01
WINDOW = int(WINDOW_S * SAMPLE_RATE)  # 144160 samples
WHAT = "DNSMOS"

# (coefficients, highest power first) of np.poly1d for SIG, BAK, OVRL
_POLY = {
    False: ((-0.08397278, 1.22083953, 0.0052439), (-0.13166888, 1.60915514, -0.39604546),
            (-0.06766283, 1.11546468, 0.04602535)),
    True: ((-0.01019296, 0.02751166, 1.19576786, -0.24348726),
           (-0.04976499, 0.44276479, -0.1644611, 0.96883132),
           (-0.00533021, 0.005101, 1.18058466, -0.11236046)),
}  # fmt: skip


def _models(personalized: bool) -> tuple[tuple[str, str], tuple[str, str]]:
    """(package, file) of the P.835 and P.808 models."""
    folder = "pdnsmos_models" if personalized else "dnsmos_models"
    return ("speechmos", f"{folder}/sig_bak_ovr.onnx"), ("speechmos", "dnsmos_models/model_v8.onnx")


@dataclass(frozen=True)
class DNSMOSScores:
    """Mean opinion scores on a 1-5 scale: speech signal, background, overall, and P.808 (NaN
    when it was not asked for)."""

    sig: float
    bak: float
    ovrl: float
    p808: float


class DNSMOS:
    """DNSMOS scorer; sessions are built once.

    Args:
        personalized: use the personalised P.835 model (penalises interfering talkers).
        num_threads: onnxruntime intra-op threads.

    Raises:
        BackendUnavailableError: onnxruntime or ``speechmos`` (the model files) is missing.
    """

    def __init__(self, personalized: bool = False, num_threads: int = 1) -> None:
        self.personalized = personalized
        p835, p808 = (
            package_file(*model, what=WHAT, package="speechmos") for model in _models(personalized)
        )
        self._p835 = onnx_session(p835, what=WHAT, num_threads=num_threads)
        self._p808 = onnx_session(p808, what=WHAT, num_threads=num_threads)
        self._librosa: Any = require_module("librosa", what=WHAT, package="librosa")

    @staticmethod
    def requirements(personalized: bool = False) -> list[Requirement]:
        """onnxruntime, librosa and the two ONNX files of ``speechmos``."""
        models = [PackageData(*m, distribution="speechmos") for m in _models(personalized)]
        return [ONNXRUNTIME, PythonPackage("librosa", "librosa"), *models]

    def __call__(self, wave: np.ndarray, sample_rate: int, p808: bool = True) -> DNSMOSScores:
        """Score one waveform ``[N]`` (any rate; resampled to 16 kHz). ``p808=False`` skips the
        P.808 model (half the work) and leaves ``p808`` NaN.

        Raises:
            ValueError: samples outside [-1, 1] (the models were trained on that range), or
                an empty input.
        """
        audio = mono_at_rate(wave, sample_rate, SAMPLE_RATE, WHAT)
        if audio.size == 0:
            raise ValueError("DNSMOS: empty waveform")
        if np.abs(audio).max() > 1.0:
            raise ValueError("DNSMOS: samples must lie in [-1, 1]; peak-normalise first")
        while audio.size < WINDOW:  # the reference repeats by doubling
            audio = np.concatenate([audio, audio])
        hops = int(np.floor(audio.size / SAMPLE_RATE - WINDOW_S)) + 1
        windows = np.stack(
            [audio[i * SAMPLE_RATE : i * SAMPLE_RATE + WINDOW] for i in range(hops)]
        ).astype(np.float32)  # [W, 144160]
        # One window per run: batching all of a long file's windows made onnxruntime hold
        # about 150 MB per window (1.8 GB for 20 s), for no gain in speed on CPU.
        raw = np.concatenate([self._p835.run(None, {"input_1": w[None]})[0] for w in windows])
        sig, bak, ovrl = (
            np.poly1d(c)(raw[:, i]).mean() for i, c in enumerate(_POLY[self.personalized])
        )
        p808_mean = float("nan")
        if p808:
            scores = [
                self._p808.run(None, {"input_1": self._p808_features(w[:-160])[None]})[0][0, 0]
                for w in windows
            ]
            p808_mean = float(np.mean(scores))
        return DNSMOSScores(float(sig), float(bak), float(ovrl), p808_mean)

    def _p808_features(self, window: np.ndarray) -> np.ndarray:
        """``[144000]`` -> ``[900, 120]`` float32 scaled dB mel."""
        mel = self._librosa.feature.melspectrogram(
            y=window, sr=SAMPLE_RATE, n_fft=321, hop_length=160, n_mels=120
        )
        scaled = (self._librosa.power_to_db(mel, ref=np.max) + 40) / 40
        return np.asarray(scaled.T, dtype=np.float32)


@lru_cache(maxsize=2)
def _scorer(personalized: bool) -> DNSMOS:
    return DNSMOS(personalized=personalized)


def dnsmos(wave: np.ndarray, sample_rate: int, personalized: bool = False) -> DNSMOSScores:
    """`DNSMOS` scores of one waveform with a cached scorer (see `DNSMOS.__call__`)."""
    return _scorer(personalized)(wave, sample_rate)
