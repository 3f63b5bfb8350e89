"""`BitstreamTokenizer`: shared machinery of the classic codecs.

A classic codec turns audio into packets of bytes. Its tokens are those bytes (one codebook of
256 symbols, ``frame_rate`` = bytes per second of audio) and the packet boundaries. Codecs also
delay the audio (encoder look-ahead, filter banks, decoder overlap-add) by an amount neither
PyAV nor the Codec 2 tools report, so each codec config is calibrated once per process: a
deterministic speech-like signal goes through the codec and the lag of the decoded audio is
found by (whitened) cross-correlation. Decoding drops that lag so the output lines up with
the input.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from audiotok.tokenizers.base import AudioTokenizer, TokenizerConfig
from audiotok.tokens import Tokens

AlignMethod = Literal["waveform", "envelope"]

# Search window for the codec delay: long enough for MP3 (about 70 ms) and Codec 2 700C
# (about 45 ms); a little negative in case a decoder over-compensates its own delay.
_MAX_LAG_S = 0.15
_MIN_LAG_S = -0.02
_CALIBRATION_S = 1.5


@dataclass(frozen=True)
class Alignment:
    """How a codec shifts audio.

    Attributes:
        lag: samples by which the decoded audio trails the input (negative: leads it).
        tail_pad: zeros to append before encoding so the decoded audio still covers the
            last input sample after the lag is dropped (codecs whose flush does not emit
            their delayed samples, e.g. G.722).
    """

    lag: int
    tail_pad: int


class BitstreamTokenizer(AudioTokenizer):
    """Base of tokenizers whose tokens are a codec's bitstream bytes.

    Subclasses implement `_encode_packets`, `_decode_packets` and `frame_samples`; this class
    does padding, `Tokens` assembly, delay calibration and alignment of decoded audio.
    """

    align_method: ClassVar[AlignMethod] = "waveform"
    _alignments: ClassVar[dict[tuple[type, TokenizerConfig], Alignment]] = {}

    # ---- for subclasses -------------------------------------------------------------------
    @property
    @abstractmethod
    def frame_samples(self) -> int:
        """Samples per codec frame; encoder input is zero-padded to a multiple of it."""

    @abstractmethod
    def _encode_packets(self, wave: np.ndarray) -> list[bytes]:
        """Encode float32 ``[samples]`` (a multiple of `frame_samples`) into packets."""

    @abstractmethod
    def _decode_packets(self, packets: list[bytes]) -> np.ndarray:
        """Decode packets into float32 ``[samples]``, unaligned and untrimmed."""

    # ---- AudioTokenizer -------------------------------------------------------------------
    def _encode(self, waves: list[torch.Tensor]) -> list[Tokens]:
        return [self._encode_one(wave) for wave in waves]

    def _decode(self, tokens: list[Tokens]) -> list[torch.Tensor]:
        out = []
        for item in tokens:
            # Fresh decoder per item (inside _decode_packets): no state leaks between items.
            decoded = self._decode_packets(item.packets())
            aligned = apply_alignment(decoded, self.alignment().lag, item.num_samples)
            out.append(torch.from_numpy(aligned))
        return out

    # ---- alignment ------------------------------------------------------------------------
    def alignment(self) -> Alignment:
        """The codec's delay, measured once per (class, config) and cached."""
        key = (type(self), self.config)
        if key not in self._alignments:
            self._alignments[key] = self._calibrate()
        return self._alignments[key]

    def _calibrate(self) -> Alignment:
        reference = calibration_signal(self.sample_rate, _CALIBRATION_S)
        reference = _pad_to_multiple(reference, self.frame_samples)
        decoded = self._decode_packets(self._encode_packets(reference))
        lag = estimate_lag(reference, decoded, self.sample_rate, self.align_method)
        # The reference is a whole number of frames, so the encoder had no padding slack:
        # whatever the decoded audio lacks here it lacks for any input length.
        tail_pad = max(0, reference.size + lag - decoded.size)
        return Alignment(lag=lag, tail_pad=tail_pad)

    # ---- helpers --------------------------------------------------------------------------
    def _encode_one(self, wave: torch.Tensor) -> Tokens:
        num_samples = int(wave.numel())
        if num_samples == 0:
            raise ValueError(f"{self.spec}: cannot encode an empty waveform")
        samples = np.clip(wave.numpy().astype(np.float32), -1.0, 1.0)
        tail = np.zeros(self.alignment().tail_pad, dtype=np.float32)
        padded = _pad_to_multiple(np.concatenate([samples, tail]), self.frame_samples)
        packets = [p for p in self._encode_packets(padded) if p]  # empty packets carry nothing
        data = np.frombuffer(b"".join(packets), dtype=np.uint8)
        codes = torch.from_numpy(data.astype(np.int64)).unsqueeze(0)
        return self._make_tokens(
            codes,
            num_samples,
            frame_rate=data.size * self.sample_rate / num_samples,
            packet_lengths=torch.tensor([len(p) for p in packets], dtype=torch.long),
        )


def apply_alignment(decoded: np.ndarray, lag: int, num_samples: int) -> np.ndarray:
    """Drop ``lag`` leading samples (or prepend ``-lag`` zeros), then trim/zero-pad.

    Args:
        decoded: float ``[samples]`` straight from the decoder.
        lag: delay of ``decoded`` relative to the input, in samples.
        num_samples: the input length to return.

    Returns:
        float32 ``[num_samples]``.
    """
    decoded = np.asarray(decoded, dtype=np.float32)
    if lag >= 0:
        shifted = decoded[lag:]
    else:
        shifted = np.concatenate([np.zeros(-lag, dtype=np.float32), decoded])
    out = np.zeros(num_samples, dtype=np.float32)
    n = min(num_samples, shifted.size)
    out[:n] = shifted[:n]
    return out


def estimate_lag(
    reference: np.ndarray, decoded: np.ndarray, sample_rate: int, method: AlignMethod
) -> int:
    """Lag in samples of ``decoded`` behind ``reference`` (both float ``[samples]``).

    ``waveform``: peak of the phase-transform weighted cross-correlation (GCC-PHAT). The
    whitening matters: AMR-NB's 80 Hz high-pass pre-filter shifts the phase of low pitch
    harmonics, and a plain cross-correlation of voiced speech then peaks about 40 samples
    late, while GCC-PHAT weighs every frequency equally and finds the pure delay.
    ``envelope``: plain cross-correlation of 10 ms amplitude envelopes, for vocoders such as
    Codec 2 whose output phase is synthetic and so does not follow the input waveform.
    """
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(decoded, dtype=np.float64)
    if method == "envelope":
        x, y = _envelope(x, sample_rate), _envelope(y, sample_rate)
    size = 1 << int(np.ceil(np.log2(x.size + y.size + 1)))
    cross = np.fft.rfft(y, size) * np.conj(np.fft.rfft(x, size))
    if method == "waveform":
        magnitude = np.abs(cross)
        cross = cross / np.maximum(magnitude, 1e-9 * magnitude.max())
    corr = np.fft.irfft(cross, size)
    lags = np.arange(int(_MIN_LAG_S * sample_rate), int(_MAX_LAG_S * sample_rate) + 1)
    return int(lags[np.argmax(corr[lags])])  # negative lags index the circular tail


def calibration_signal(sample_rate: int, seconds: float) -> np.ndarray:
    """Deterministic voiced-speech-like float32 ``[samples]``.

    The pitch glides along two incommensurate modulations so the signal never repeats within
    the lag search window (a periodic signal would give several equal correlation peaks), and
    the harmonics stop at 3.6 kHz so narrow-band codecs keep all of them.
    """
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 150 + 50 * np.sin(2 * np.pi * 1.3 * t) + 20 * np.sin(2 * np.pi * 0.37 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    top = min(3600.0, 0.45 * sample_rate)
    wave = sum(np.sin(k * phase) / k for k in range(1, int(top // 200) + 1))
    envelope = 0.55 - 0.45 * np.cos(2 * np.pi * 3.1 * t)
    noise = 0.01 * np.random.default_rng(1234).standard_normal(t.size)
    out = 0.4 * envelope * wave / np.max(np.abs(wave)) + noise
    return out.astype(np.float32)


def _envelope(x: np.ndarray, sample_rate: int) -> np.ndarray:
    width = max(1, sample_rate // 100)
    env = np.convolve(np.abs(x), np.ones(width) / width, mode="same")
    return env - env.mean()


def _pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    extra = (-x.size) % multiple
    return np.concatenate([x, np.zeros(extra, dtype=x.dtype)]) if extra else x
