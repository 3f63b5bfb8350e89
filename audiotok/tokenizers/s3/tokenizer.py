"""`S3Tokenizer`: the CosyVoice S3 speech tokenizers as `AudioTokenizer` families.

Specs (no options): ``s3-v1-50hz`` (4096 codes, 50 Hz), ``s3-v1-25hz`` (4096, 25 Hz),
``s3-v2`` and ``s3-v3`` (6561, 25 Hz). Encode-only.

Encoding: one Whisper log-mel per input (its -80 dB floor is relative to the input's own
peak, as in the reference), then windows (see `windows.py` for the exact-count merge rule:
``ceil(mel_frames / S)`` tokens, ``mel_frames = num_samples // 160``, S = 2 at 50 Hz, 4 at
25 Hz), then length-bucketed batches of windows with padding masks; windows of one long
input can share a batch with other inputs. Every input gets exactly its batch-of-one codes,
and memory is bounded by ``config.batch_frames``, whatever the input's length.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import torch

from audiotok.features.mel import WhisperMelConfig, whisper_log_mel_chunked
from audiotok.tokenizers.base import (
    DEBUG_SEED,
    AudioTokenizer,
    TokenizerConfig,
    check_weights_or_debug,
    random_init,
)
from audiotok.tokenizers.registry import register_tokenizer
from audiotok.tokenizers.s3.checkpoint import load_model
from audiotok.tokenizers.s3.config import MEL_HOP, PRESETS, S3Config
from audiotok.tokenizers.s3.model import S3Model
from audiotok.tokenizers.s3.quantizers import FiniteScalarQuantizer, VectorQuantizer
from audiotok.tokenizers.s3.windows import Window, bucket, merge, plan_windows
from audiotok.tokens import Tokens


class S3Tokenizer(AudioTokenizer):
    """An S3 tokenizer around an `S3Model` (see the module docstring)."""

    can_decode: ClassVar[bool] = False
    streaming: ClassVar[bool] = False
    needs_weights: ClassVar[bool] = True

    def __init__(self, config: S3Config, spec: str, model: S3Model) -> None:
        super().__init__(config, spec)
        self.s3_config = model.config
        self.model = model.float().eval()
        self.mel_config = WhisperMelConfig(n_mels=model.config.n_mels)
        # "fp32" gives the published models' codes exactly; "bf16" runs the encoder under
        # bfloat16 autocast (AMX CPUs, CUDA): faster, with a few codes flipped near ties.
        self.precision = "fp32"

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        config: TokenizerConfig,
        *,
        spec: str,
        weights: str | Path | None = None,
        debug: bool = False,
        verify_sha256: bool = True,
    ) -> S3Tokenizer:
        """Load ``weights`` (see `checkpoint.load_model`), or with ``debug=True`` build a tiny
        random model (warns; tests only). ``verify_sha256=False`` accepts self-made ONNX files.
        """
        assert isinstance(config, S3Config)
        check_weights_or_debug(spec, weights, debug)
        if debug:
            return cls.random(config.debug_variant(), spec)
        model = load_model(config, weights, verify_sha256=verify_sha256, what=spec)
        return cls(config, spec, model)

    @classmethod
    def random(cls, config: S3Config, spec: str, seed: int = DEBUG_SEED) -> S3Tokenizer:
        """A randomly initialised model of ``config`` whose codes vary (tests only)."""
        with random_init(spec, seed):
            tokenizer = cls(config, spec, S3Model(config))
            tokenizer._calibrate_random()
        return tokenizer

    def _calibrate_random(self) -> None:
        """Spread random codes: a zero VQ codebook or a tiny FSQ projection gives one code."""
        quantizer = self.model.quantizer
        noise = 0.1 * torch.randn(self.sample_rate)
        mel = self.log_mel(noise)
        hidden, _ = self.model.encode(mel[None], torch.tensor([mel.shape[-1]]))
        if isinstance(quantizer, VectorQuantizer):
            # Codewords near real frames, so that many of them are nearest to some frame.
            frames = torch.nn.functional.normalize(hidden[0], dim=-1)
            picks = frames[torch.randint(frames.shape[0], (quantizer.codebook.shape[0],))]
            quantizer.codebook.copy_(picks + 0.3 * torch.randn_like(picks) / picks.shape[1] ** 0.5)
        elif isinstance(quantizer, FiniteScalarQuantizer):
            # Centre and scale every projected dim to unit spread over the probe frames.
            quantizer.proj.bias.zero_()
            projected = quantizer.proj(hidden[0])
            scale = 1.0 / projected.std(dim=0).clamp_min(1e-6)
            quantizer.proj.weight.mul_(scale[:, None])
            quantizer.proj.bias.copy_(-projected.mean(dim=0) * scale)

    @classmethod
    def default_weights(cls, config: TokenizerConfig) -> str | None:
        assert isinstance(config, S3Config)
        return config.hub_id

    # ---- devices --------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> S3Tokenizer:
        self.model.to(device)
        return self

    # ---- encoding -------------------------------------------------------------------------
    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """``wave [N]`` at 16 kHz -> log-mel ``[n_mels, N // 160]`` (Whisper's, 128 bins)."""
        frames = wave.shape[-1] // MEL_HOP
        minimum = self.mel_config.n_fft // 2 + 1  # reflect padding needs this many samples
        if wave.shape[-1] < minimum:
            wave = torch.nn.functional.pad(wave, (0, minimum - wave.shape[-1]))
        # Chunked STFT: an hour of input never holds an hour of complex spectra.
        mel = whisper_log_mel_chunked(wave.to(self.device), self.mel_config)
        return mel[:, :frames]

    def encode_mels(self, mels: list[torch.Tensor]) -> list[torch.Tensor]:
        """Codes ``[T'_i]`` of each log-mel ``[n_mels, T_i]`` (windows, buckets, merge)."""
        cfg = self.s3_config
        plans = [
            plan_windows(
                i,
                int(mel.shape[-1]),
                cfg.window_frames,
                cfg.overlap_frames,
                cfg.total_stride,
                cfg.num_tokens,
            )
            for i, mel in enumerate(mels)
        ]
        results: dict[tuple[int, int], torch.Tensor] = {}
        work = [w for plan in plans for w in plan if w.length > 0]
        with torch.inference_mode():
            for batch in bucket(work, cfg.batch_frames):
                for win, codes in zip(batch, self._run_batch(mels, batch), strict=True):
                    results[(win.item, win.start)] = codes
        out = []
        for plan in plans:
            kept = [w for w in plan if w.length > 0]
            out.append(merge(kept, [results[(w.item, w.start)] for w in kept]))
        return out

    def _run_batch(self, mels: list[torch.Tensor], batch: list[Window]) -> list[torch.Tensor]:
        longest = batch[0].length
        padded = mels[0].new_zeros(len(batch), self.s3_config.n_mels, longest)
        for row, win in enumerate(batch):
            padded[row, :, : win.length] = mels[win.item][:, win.start : win.start + win.length]
        lengths = torch.tensor([w.length for w in batch], device=padded.device)
        with torch.autocast(
            padded.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        ):
            codes, code_lengths = self.model.quantize(padded, lengths)
        codes = codes.cpu()
        return [codes[row, : int(n)].clone() for row, n in enumerate(code_lengths.cpu())]

    def _encode(self, waves: list[torch.Tensor]) -> list[Tokens]:
        mels = [self.log_mel(wave) for wave in waves]
        codes = self.encode_mels(mels)
        return [
            self._make_tokens(c[None].long(), int(w.shape[-1]))
            for c, w in zip(codes, waves, strict=True)
        ]


def _fixed(preset: str) -> Callable[[str | None], S3Config]:
    def parse(option: str | None) -> S3Config:
        if option is not None:
            raise ValueError("S3 tokenizers take no option")
        return PRESETS[preset]

    return parse


for _spec, _preset in (
    ("s3-v1-50hz", "v1_50hz"),
    ("s3-v1-25hz", "v1_25hz"),
    ("s3-v2", "v2"),
    ("s3-v3", "v3"),
):
    register_tokenizer(_spec, parse_option=_fixed(_preset))(S3Tokenizer)
