"""`SpeechLMConfig`: the CosyVoice 2 text-to-speech-token LM's shape, and its presets.

The LM is a Qwen2 decoder body (Qwen2.5-0.5B in the official model) fed with embeddings, not
text ids: ``[sos, text tokens (prompt text + text), task id, prompt speech tokens]``, then one
speech token at a time. Its own heads: ``llm_embedding`` (2 rows: sos/eos, task id),
``speech_embedding`` and ``llm_decoder`` over the ``speech_vocab`` codes plus 3 specials
(end of speech = ``speech_vocab``, then two ids that generation skips).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class SpeechLMConfig:
    """Every hyperparameter of the speech LM.

    Attributes:
        hidden: model width ``H`` (Qwen2 ``hidden_size``).
        layers, heads, kv_heads, intermediate: the Qwen2 body.
        text_vocab: rows of the body's token embedding (the text tokenizer's ids).
        speech_vocab: speech codes (6,561 for S3 v2's FSQ); the decoder has 3 more outputs.
        rope_theta, rms_norm_eps, max_positions: as in the Qwen2 config.
    """

    hidden: int = 896
    layers: int = 24
    heads: int = 14
    kv_heads: int = 2
    intermediate: int = 4864
    text_vocab: int = 151936
    speech_vocab: int = 6561
    rope_theta: float = 1_000_000.0
    rms_norm_eps: float = 1e-6
    max_positions: int = 32768

    @property
    def eos(self) -> int:
        """End of speech: the first id after the codes."""
        return self.speech_vocab

    @property
    def decoder_size(self) -> int:
        return self.speech_vocab + 3

    def qwen2_config(self) -> Any:
        """The transformers ``Qwen2Config`` of the body (eager attention: exact on CPU and the
        same numbers as the reference's default)."""
        from transformers import Qwen2Config

        # rope_theta as a plain keyword: transformers 4.x names it so, and 5.x still reads it
        # (into rope_parameters); typed stubs of 5.x no longer list it.
        legacy: dict[str, Any] = {"rope_theta": self.rope_theta}
        config = Qwen2Config(
            vocab_size=self.text_vocab,
            hidden_size=self.hidden,
            intermediate_size=self.intermediate,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            num_key_value_heads=self.kv_heads,
            max_position_embeddings=self.max_positions,
            rms_norm_eps=self.rms_norm_eps,
            tie_word_embeddings=True,
            use_sliding_window=False,
            **legacy,
        )
        config._attn_implementation = "eager"
        return config

    @classmethod
    def from_qwen2(cls, qwen2: dict[str, Any], speech_vocab: int = 6561) -> SpeechLMConfig:
        """From a Qwen2 ``config.json`` (the official model's ``CosyVoice-BlankEN/``)."""
        rope = qwen2.get("rope_theta") or (qwen2.get("rope_parameters") or {}).get("rope_theta")
        return cls(
            hidden=int(qwen2["hidden_size"]),
            layers=int(qwen2["num_hidden_layers"]),
            heads=int(qwen2["num_attention_heads"]),
            kv_heads=int(qwen2.get("num_key_value_heads", qwen2["num_attention_heads"])),
            intermediate=int(qwen2["intermediate_size"]),
            text_vocab=int(qwen2["vocab_size"]),
            speech_vocab=speech_vocab,
            rope_theta=float(rope or 10000.0),
            rms_norm_eps=float(qwen2.get("rms_norm_eps", 1e-6)),
            max_positions=int(qwen2.get("max_position_embeddings", 32768)),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpeechLMConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"speech LM config: unknown key(s) {', '.join(unknown)}")
        return cls(**data)


def cosyvoice2_0_5b() -> SpeechLMConfig:
    """The official CosyVoice2-0.5B LM (Qwen2.5-0.5B body)."""
    return SpeechLMConfig()


def debug() -> SpeechLMConfig:
    """A tiny LM for tests: 2 layers of width 64, 4 heads (2 KV heads), 1,000 text ids."""
    return SpeechLMConfig(
        hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, text_vocab=1000
    )


PRESETS = {"cosyvoice2-0.5b": cosyvoice2_0_5b, "debug": debug}
