"""Configuration of the supervised semantic tokenizer and its presets.

The model is a Whisper-style encoder (two 1-D convolutions, sinusoidal positions, pre-LN
transformer blocks) with a quantizer after block ``quantizer_after`` and a CTC character head on
top of the remaining blocks. Frame rate = ``sample_rate / hop_length / prod(conv_strides)``:
``(1, 2)`` gives Whisper's 50 Hz, ``(2, 2)`` the 25 Hz of S3 v1-25Hz/v2/v3.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

QuantizerKind = Literal["vq", "fsq"]


@dataclass
class QuantizerConfig:
    """Quantizer settings.

    ``kind="vq"``: EMA vector quantiser with ``codebook_size`` codes of ``code_dim`` dims
    (encoder features are projected down to ``code_dim`` first), commitment weight
    ``commitment``, EMA ``decay`` and dead-code restarts when a code's EMA count falls below
    ``dead_threshold``. ``kind="fsq"``: finite scalar quantisation with per-dimension ``levels``
    (codebook size = prod(levels)).
    """

    kind: QuantizerKind = "vq"
    codebook_size: int = 256
    code_dim: int = 16
    commitment: float = 0.25
    decay: float = 0.95
    dead_threshold: float = 0.5
    epsilon: float = 1e-5
    levels: tuple[int, ...] = (8, 5, 5, 5)

    @property
    def num_codes(self) -> int:
        return math.prod(self.levels) if self.kind == "fsq" else self.codebook_size


@dataclass
class SemanticTokenizerConfig:
    """Every hyperparameter of :class:`SemanticTokenizer`.

    ``vocab_size`` is the CTC output size (characters + blank + unk); it is filled in from the
    character vocabulary when a model is built for training.
    """

    n_mels: int = 128
    d_model: int = 128
    num_heads: int = 4
    ffn_dim: int = 512
    num_layers: int = 4
    quantizer_after: int = 2
    conv_strides: tuple[int, int] = (1, 2)
    max_positions: int = 1500
    dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    vocab_size: int = 32
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)
    sample_rate: int = 16000
    hop_length: int = 160

    def __post_init__(self) -> None:
        if isinstance(self.quantizer, dict):
            quant = dict(self.quantizer)
            if "levels" in quant:
                quant["levels"] = tuple(quant["levels"])
            self.quantizer = QuantizerConfig(**quant)
        self.conv_strides = (int(self.conv_strides[0]), int(self.conv_strides[1]))
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} not divisible by {self.num_heads} heads")
        if not 0 <= self.quantizer_after <= self.num_layers:
            raise ValueError(
                f"quantizer_after must be in [0, {self.num_layers}], got {self.quantizer_after}"
            )

    @property
    def downsample(self) -> int:
        """Mel frames per token."""
        return self.conv_strides[0] * self.conv_strides[1]

    @property
    def frame_rate(self) -> float:
        """Tokens per second."""
        return self.sample_rate / self.hop_length / self.downsample

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SemanticTokenizerConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> SemanticTokenizerConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def debug_config(**overrides: Any) -> SemanticTokenizerConfig:
    """~1 M parameters, 50 Hz, 256-code VQ after block 2 of 4: trains on a CPU in minutes."""
    base = SemanticTokenizerConfig(
        d_model=128,
        num_heads=4,
        ffn_dim=512,
        num_layers=4,
        quantizer_after=2,
        conv_strides=(1, 2),
        quantizer=QuantizerConfig(kind="vq", codebook_size=256, code_dim=16),
    )
    return _override(base, overrides)


def tiny_config(**overrides: Any) -> SemanticTokenizerConfig:
    """Whisper-tiny-sized encoder (384-d, 6 heads, 4 blocks), 25 Hz, FSQ 6,561 codes (3^8)."""
    base = SemanticTokenizerConfig(
        d_model=384,
        num_heads=6,
        ffn_dim=1536,
        num_layers=6,
        quantizer_after=4,
        conv_strides=(2, 2),
        max_positions=750,
        dropout=0.1,
        quantizer=QuantizerConfig(kind="fsq", levels=(3,) * 8),
    )
    return _override(base, overrides)


def small_config(**overrides: Any) -> SemanticTokenizerConfig:
    """Whisper-small-sized encoder (768-d, 12 heads, 12 blocks), 25 Hz, 4,096-code VQ after 6."""
    base = SemanticTokenizerConfig(
        d_model=768,
        num_heads=12,
        ffn_dim=3072,
        num_layers=12,
        quantizer_after=6,
        conv_strides=(2, 2),
        max_positions=750,
        dropout=0.1,
        quantizer=QuantizerConfig(kind="vq", codebook_size=4096, code_dim=32),
    )
    return _override(base, overrides)


PRESETS = {"debug": debug_config, "tiny": tiny_config, "small": small_config}


def preset_config(name: str, **overrides: Any) -> SemanticTokenizerConfig:
    """A preset by name (``debug``, ``tiny``, ``small``) with field overrides."""
    try:
        return PRESETS[name](**overrides)
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}") from None


def _override(base: SemanticTokenizerConfig, overrides: dict[str, Any]) -> SemanticTokenizerConfig:
    data = base.to_dict()
    quant = overrides.pop("quantizer", None)
    data.update(overrides)
    if isinstance(quant, QuantizerConfig):
        data["quantizer"] = asdict(quant)
    elif isinstance(quant, dict):
        data["quantizer"].update(quant)
    return SemanticTokenizerConfig.from_dict(data)
