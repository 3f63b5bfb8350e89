"""X-codec2 (``HKUSTAudio/xcodec2-hf``, transformers `Xcodec2Model`): spec ``xcodec2``.

The checkpoint's figures: 16 kHz, acoustic strides 2*2*4*4*5 = 320 samples per frame, so
50 Hz; one FSQ codebook with 8 dimensions of 4 levels = 4**8 = 65536 codes (16 bits), so
50 * 16 = 800 bps. Its semantic branch is a w2v-BERT 2.0 encoder (first 16 layers) fed Kaldi
log-mel filterbanks; `Xcodec2FeatureExtractor` computes them with torchaudio, which is not
usable here, so `kaldi_fbank` below computes the same features in torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from audiotok.tokenizers.neural._hf import HFCodecConfig, HFCodecTokenizer
from audiotok.tokenizers.registry import register_tokenizer

SAMPLE_RATE = 16_000
HOP = 320  # 2 * 2 * 4 * 4 * 5
LEVELS = (4,) * 8  # FSQ levels: one codebook of 4**8 codes
NUM_MEL_BINS = 80
FRAME_LENGTH, FRAME_SHIFT, FFT_LENGTH = 400, 160, 512  # 25 ms / 10 ms at 16 kHz
STACK = 2  # w2v-BERT takes pairs of stacked frames: 160 features at 50 Hz
MEL_PAD_VALUE = 1.0  # what the feature extractor pads spectrograms with


@dataclass(frozen=True)
class Xcodec2TokenizerConfig(HFCodecConfig):
    """No options: X-codec2 has a single codebook."""


def parse_xcodec2_option(option: str | None) -> Xcodec2TokenizerConfig:
    if option is not None:
        raise ValueError(f"xcodec2 takes no option, got {option!r}")
    return Xcodec2TokenizerConfig(
        sample_rate=SAMPLE_RATE,
        frame_rate=SAMPLE_RATE / HOP,  # 50.0
        codebook_sizes=(math.prod(LEVELS),),
        hub_id="HKUSTAudio/xcodec2-hf",
        hop_length=HOP,
    )


@lru_cache(maxsize=4)
def _mel_banks(device: torch.device) -> torch.Tensor:
    """Kaldi triangular mel filters (20 Hz .. 8 kHz) ``[257, 80]``, as SeamlessM4T/w2v-BERT."""
    from transformers.audio_utils import mel_filter_bank

    banks = mel_filter_bank(
        num_frequency_bins=FFT_LENGTH // 2 + 1,
        num_mel_filters=NUM_MEL_BINS,
        min_frequency=20,
        max_frequency=SAMPLE_RATE // 2,
        sampling_rate=SAMPLE_RATE,
        norm=None,
        mel_scale="kaldi",
        triangularize_in_mel_space=True,
    )
    return torch.as_tensor(banks, dtype=torch.float32, device=device)


def kaldi_fbank(wave: torch.Tensor) -> torch.Tensor:
    """Kaldi log-mel filterbank of ``wave [N]`` (float, any scale) -> ``[frames, 80]``.

    Matches ``torchaudio.compliance.kaldi.fbank`` with snip_edges, DC removal, pre-emphasis
    0.97, a povey window, 512-point power spectrum and log floored at float32 eps.
    """
    frames = wave.unfold(0, FRAME_LENGTH, FRAME_SHIFT)  # [F, 400]; snip_edges: no padding
    frames = frames - frames.mean(dim=1, keepdim=True)
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)  # replicate the first sample
    frames = frames - 0.97 * previous
    window = torch.hann_window(FRAME_LENGTH, periodic=False, device=wave.device).pow(0.85)
    power = torch.fft.rfft(frames * window, n=FFT_LENGTH).abs().pow(2)  # [F, 257]
    mel = power @ _mel_banks(wave.device)  # [F, 80]
    return mel.clamp_min(torch.finfo(torch.float32).eps).log()


def semantic_features(audio: torch.Tensor, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """What `Xcodec2FeatureExtractor` gives the semantic encoder, from ``audio [B, 1, L]``.

    Each item is cut to its own whole frames, padded by half a hop each side, turned into
    normalised filterbanks (2 per code frame), padded across the batch with 1.0 and stacked
    in pairs. Returns ``input_features [B, T, 160]`` and ``input_features_mask [B, T]``.
    """
    feats = []
    for i, length in enumerate(lengths):
        valid = math.ceil((length + 1) / HOP) * HOP  # the extractor appends one zero sample
        wave = torch.nn.functional.pad(audio[i, 0, :valid], (HOP // 2, HOP // 2))
        fbank = kaldi_fbank(wave * 2**15)  # Kaldi expects 16-bit sample values
        std = torch.sqrt(fbank.var(dim=0, unbiased=True) + 1e-7)
        feats.append((fbank - fbank.mean(dim=0)) / std)
    longest = max(f.shape[0] for f in feats)  # even: 2 filterbank frames per code frame
    batch = audio.new_full((len(feats), longest, NUM_MEL_BINS), MEL_PAD_VALUE)
    mask = torch.zeros(len(feats), longest, dtype=torch.long, device=audio.device)
    for i, fbank in enumerate(feats):
        batch[i, : fbank.shape[0]] = fbank
        mask[i, : fbank.shape[0]] = 1
    stacked = batch.reshape(len(feats), longest // STACK, NUM_MEL_BINS * STACK)
    return stacked, mask.reshape(len(feats), -1, STACK).min(dim=-1).values


@register_tokenizer("xcodec2", parse_option=parse_xcodec2_option, presets=(None,))
class Xcodec2Tokenizer(HFCodecTokenizer):
    """X-codec2: semantic (w2v-BERT) + acoustic encoders fused into one FSQ code per frame."""

    model_class_name = "Xcodec2Model"

    @classmethod
    def _debug_model_config(cls, config: HFCodecConfig) -> Any:
        from transformers import Wav2Vec2BertConfig, Xcodec2Config

        # Real rate, strides and FSQ levels; the transformer, convs and w2v-BERT shrink.
        semantic = Wav2Vec2BertConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            conv_depthwise_kernel_size=5,
            feature_projection_input_dim=NUM_MEL_BINS * STACK,
        )
        hidden = 32
        return Xcodec2Config(
            sampling_rate=SAMPLE_RATE,
            downsampling_ratios=[2, 2, 4, 4, 5],
            quantization_levels=list(LEVELS),
            hidden_size=hidden,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=16,
            encoder_hidden_size=4,
            quantization_dim=hidden + semantic.hidden_size,  # fused semantic + acoustic
            semantic_model_config=semantic,
        )

    def _calibrate_debug(self) -> None:
        # With random small inits the FSQ inputs are ~1e-4, far inside one quantisation
        # level, so every frame would get the same code: standardise them per dimension.
        project_in = self.model.quantizer.project_in
        outputs = self._probe(project_in).flatten(0, -2)  # [B * T, 8]
        mean, std = outputs.mean(dim=0), outputs.std(dim=0).clamp_min(1e-12)
        project_in.weight.div_(std[:, None])
        project_in.bias.sub_(mean).div_(std)

    def _padded_length(self, longest: int) -> int:
        # As the feature extractor: one extra zero sample, then whole frames. Items whose
        # length is a multiple of the hop get one extra frame, which the base class drops.
        return math.ceil((longest + 1) / HOP) * HOP

    def _encode_batch(
        self, audio: torch.Tensor, mask: torch.Tensor, lengths: list[int]
    ) -> torch.Tensor:
        features, features_mask = semantic_features(audio, lengths)
        out = self.model.encode(
            input_values=audio,
            input_features=features,
            padding_mask=mask,
            input_features_mask=features_mask,
        )
        return out.audio_codes  # [B, 1, T]

    def _decode_batch(self, codes: torch.Tensor, frames: list[int]) -> torch.Tensor:
        # One item at a time: the decoder's GroupNorm layers normalise over the whole time
        # axis (and its attention sees every frame), so padding a batch would change every
        # sample of the shorter items. Items are cut to their own frames first.
        audio = torch.zeros(codes.shape[0], codes.shape[-1] * HOP, device=codes.device)
        for i, count in enumerate(frames):
            wave = self.model.decode(audio_codes=codes[i : i + 1, :, :count]).audio_values
            audio[i, : wave.shape[-1]] = wave[0, 0]  # [1, 1, count * HOP]
        return audio
