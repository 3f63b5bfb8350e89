"""`S3Config`: the figures of the CosyVoice S3 speech tokenizers (v1 50/25 Hz, v2, v3).

All four share a Whisper-style encoder on 128-bin log-mels at 16 kHz (hop 160, i.e. 100 mel
frames per second): two kernel-3 convolutions (the second always stride 2) and pre-norm
transformer blocks of width 1280 with 20 heads.

- v1 (50 Hz and 25 Hz): 6 blocks, sinusoidal absolute positions, a 4096-code VQ on the
  L2-normalised output. The 50 Hz model's first conv has stride 1, the 25 Hz one stride 2.
- v2: 6 blocks with rotary positions and an FSMN memory (a depthwise kernel-31 convolution
  over the values) in every attention; FSQ: project 1280 -> 8 dims, 3 levels each = 6561.
- v3: as v2 with 12 blocks.

``debug`` variants keep the strides, windows and codebooks (so frame rates and token counts
hold) and shrink width, heads and depth. Head size stays 64 so that the reference package's
rotary table (built for 64-dim heads) is valid for them too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from audiotok.tokenizers.base import TokenizerConfig

SAMPLE_RATE = 16_000
MEL_HOP = 160  # samples per mel frame: 100 mel frames per second
N_MELS = 128
WIDTH = 1280
HEADS = 20
FSQ_DIMS = 8
FSQ_LEVELS = 3
VQ_CODES = 4096
FSMN_KERNEL = 31
# The reference (and CosyVoice) cut inputs longer than 30 s into 30 s windows that overlap
# by 4 s; the encoders were trained on <= 30 s and v1's sinusoid table holds 30 s at 50 Hz.
WINDOW_SECONDS = 30.0
OVERLAP_SECONDS = 4.0

QuantizerKind = Literal["vq", "fsq"]


@dataclass(frozen=True)
class S3Config(TokenizerConfig):
    """Architecture, checkpoint and windowing of one S3 tokenizer.

    Attributes:
        name: preset name (``v1_50hz``, ``v1_25hz``, ``v2``, ``v3``, ``*_debug``).
        n_mels: mel bins of the input.
        width: model width (channels of both convs and of the blocks).
        heads: attention heads; head size is ``width // heads``.
        blocks: number of transformer blocks.
        mlp_ratio: hidden size of the MLP over ``width``.
        conv1_stride: stride of the first conv (1: 50 Hz, 2: 25 Hz); the second is 2.
        conv_kernel: kernel of both convs (padding keeps ``ceil(T / stride)`` frames).
        max_positions: rows of v1's sinusoid position table (30 s at 50 Hz).
        rotary: rotary positions on queries and keys (v2, v3) instead of absolute ones.
        rotary_theta: rotary base.
        fsmn: FSMN memory in every attention (v2, v3).
        fsmn_kernel: width of the FSMN depthwise conv (centred: half each side).
        quantizer: ``vq`` (nearest normalised codeword) or ``fsq``.
        codebook_size: number of codes.
        fsq_dims, fsq_levels: FSQ projection size and levels per dim
            (``fsq_levels ** fsq_dims == codebook_size``).
        layer_norm_eps: LayerNorm epsilon.
        hub_id: Hugging Face repository holding the official ONNX file; None: none.
        onnx_file: the ONNX file's name in that repository.
        onnx_sha256: its published SHA-256.
        window_seconds, overlap_seconds: long-input windows (see `windows.plan_windows`).
        batch_frames: bound on ``batch size * padded mel frames`` of one forward pass.
        causal: streaming variant: causal convs and FSMN, chunked attention (`streaming.py`).
        chunk_tokens: attention chunk in output frames when ``causal``.
        left_chunks: previous chunks a frame may attend to; -1: all of them.
        debug: a tiny random-init variant (tests only).
    """

    name: str = "v2"
    n_mels: int = N_MELS
    width: int = WIDTH
    heads: int = HEADS
    blocks: int = 6
    mlp_ratio: int = 4
    conv1_stride: int = 2
    conv_kernel: int = 3
    max_positions: int = 1500
    rotary: bool = True
    rotary_theta: float = 10000.0
    fsmn: bool = True
    fsmn_kernel: int = FSMN_KERNEL
    quantizer: QuantizerKind = "fsq"
    codebook_size: int = FSQ_LEVELS**FSQ_DIMS
    fsq_dims: int = FSQ_DIMS
    fsq_levels: int = FSQ_LEVELS
    layer_norm_eps: float = 1e-5
    hub_id: str | None = None
    onnx_file: str | None = None
    onnx_sha256: str | None = None
    window_seconds: float = WINDOW_SECONDS
    overlap_seconds: float = OVERLAP_SECONDS
    batch_frames: int = 4 * 3000
    causal: bool = False
    chunk_tokens: int = 25
    left_chunks: int = -1
    debug: bool = False

    # ---- derived figures ------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    @property
    def conv2_stride(self) -> int:
        return 2

    @property
    def total_stride(self) -> int:
        """Mel frames per output token: 2 (50 Hz) or 4 (25 Hz)."""
        return self.conv1_stride * self.conv2_stride

    @property
    def window_frames(self) -> int:
        return round(self.window_seconds * SAMPLE_RATE / MEL_HOP)

    @property
    def overlap_frames(self) -> int:
        return round(self.overlap_seconds * SAMPLE_RATE / MEL_HOP)

    def num_tokens(self, mel_frames: int) -> int:
        """Tokens of ``mel_frames`` frames: each stride-s, kernel-3, pad-1 conv maps L to
        ``(L - 1) // s + 1 = ceil(L / s)``, so the encoder gives ``ceil(frames / total_stride)``.
        """
        if mel_frames <= 0:
            return 0
        frames = (mel_frames - 1) // self.conv1_stride + 1
        return (frames - 1) // self.conv2_stride + 1

    def debug_variant(self) -> S3Config:
        """Tiny model with the same strides, windows and codebook (token counts hold)."""
        if self.debug:
            return self
        return dataclasses.replace(
            self, name=f"{self.name}_debug", width=128, heads=2, blocks=2, debug=True
        )


def _preset(name: str, **fields: object) -> S3Config:
    stride = int(fields.get("conv1_stride", 2))  # type: ignore[call-overload]
    frame_rate = SAMPLE_RATE / MEL_HOP / (stride * 2)
    codebook_size = int(fields.get("codebook_size", FSQ_LEVELS**FSQ_DIMS))  # type: ignore[call-overload]
    return S3Config(
        sample_rate=SAMPLE_RATE,
        frame_rate=frame_rate,
        codebook_sizes=(codebook_size,),
        name=name,
        **fields,  # type: ignore[arg-type]
    )


# Hashes as published with the reference package (s3tokenizer 0.3.0, `_SHA256S`); the files
# are also mirrored on the Hugging Face Hub under these repositories.
PRESETS: dict[str, S3Config] = {
    "v1_50hz": _preset(
        "v1_50hz",
        conv1_stride=1,
        rotary=False,
        fsmn=False,
        quantizer="vq",
        codebook_size=VQ_CODES,
        hub_id="FunAudioLLM/CosyVoice-300M",
        onnx_file="speech_tokenizer_v1.onnx",
        onnx_sha256="23b5a723ed9143aebfd9ffda14ac4c21231f31c35ef837b6a13bb9e5488abb1e",
    ),
    "v1_25hz": _preset(
        "v1_25hz",
        conv1_stride=2,
        rotary=False,
        fsmn=False,
        quantizer="vq",
        codebook_size=VQ_CODES,
        hub_id="FunAudioLLM/CosyVoice-300M-25Hz",
        onnx_file="speech_tokenizer_v1.onnx",
        onnx_sha256="56285ddd4a83e883ee0cb9f8d69c1089b53a94b1f78ff7e4a0224a27eb4cb486",
    ),
    "v2": _preset(
        "v2",
        hub_id="FunAudioLLM/CosyVoice2-0.5B",
        onnx_file="speech_tokenizer_v2.onnx",
        onnx_sha256="d43342aa12163a80bf07bffb94c9de2e120a8df2f9917cd2f642e7f4219c6f71",
    ),
    "v3": _preset(
        "v3",
        blocks=12,
        hub_id="FunAudioLLM/Fun-CosyVoice3-0.5B-2512",
        onnx_file="speech_tokenizer_v3.onnx",
        onnx_sha256="23236a74175dbdda47afc66dbadd5bcb41303c467a57c261cb8539ad9db9208d",
    ),
}
PRESETS.update({f"{name}_debug": cfg.debug_variant() for name, cfg in list(PRESETS.items())})


def get_config(name: str) -> S3Config:
    """A preset by name (``v1_50hz``, ``v1_25hz``, ``v2``, ``v3``, each also ``*_debug``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown S3 preset {name!r}; known: {', '.join(PRESETS)}") from None
