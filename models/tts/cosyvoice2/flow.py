"""`CausalFlow`: speech tokens -> 80-bin mel at 50 frames/s, in the voice of a speaker vector
and a prompt mel (CosyVoice 2's ``CausalMaskedDiffWithXvec``; the timbre-conditioned vocoder).

Tokens (the prompt's, then the new ones) are embedded, run through the upsampling Conformer
(`FlowEncoder`: x2, so two mel frames per token) and projected to the mel width; that is the
flow's condition ``mu``. The sampler (`FlowSampler`: a causal U-Net estimator, Euler steps on a
cosine schedule, classifier-free guidance) turns the fixed noise into mel, given ``mu``, the
projected speaker vector and the prompt mel over the prompt's frames (zeros after).

Offline, `inference` runs many requests in one pass (right-padded; each item's frames start at
0, so each sees the same noise as alone). Streaming, `start_stream` / `stream_step` keep the
encoder's and the sampler's state per request, so a chunk costs only its own frames instead of
the whole prefix the official code recomputes each time.

The official ``flow.pt`` keys: ``input_embedding``, ``spk_embed_affine_layer``, ``encoder.*``,
``encoder_proj``, ``decoder.estimator.*`` (the sampler itself has no parameters).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.tts.cosyvoice2.flow_encoder import FlowEncoder, FlowEncoderConfig
from models.tts.cosyvoice2.flow_encoder import debug as encoder_debug
from models.tts.cosyvoice2.flow_estimator import CausalEstimator, EstimatorConfig
from models.tts.cosyvoice2.flow_estimator import debug as estimator_debug
from models.tts.cosyvoice2.flow_sampler import CFMConfig, FlowSampler
from models.tts.cosyvoice2.flow_sampler import debug as cfm_debug


@dataclass(frozen=True)
class FlowConfig:
    """Every hyperparameter of the flow; the token and mel widths, the look-ahead and the
    chunking are the encoder's and the estimator's own (one place each).

    Attributes:
        vocab: speech token codes (embedding rows).
        speaker_dim: speaker vector width (CAM++: 192).
        encoder, estimator, cfm: the three parts' configs.
    """

    vocab: int = 6561
    speaker_dim: int = 192
    encoder: FlowEncoderConfig = field(default_factory=FlowEncoderConfig)
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    cfm: CFMConfig = field(default_factory=CFMConfig)

    def __post_init__(self) -> None:
        if self.estimator.chunk_frames != self.encoder.chunk_frames:
            raise ValueError(
                f"flow: the estimator's chunk of {self.estimator.chunk_frames} frames differs "
                f"from the encoder's {self.encoder.chunk_frames}"
            )

    @property
    def token_width(self) -> int:
        return self.encoder.input_size

    @property
    def mel_bins(self) -> int:
        return self.estimator.mel_bins

    @property
    def token_mel_ratio(self) -> int:
        """Mel frames per token."""
        return self.encoder.upsample_stride

    @property
    def pre_lookahead(self) -> int:
        """Tokens the encoder reads past a piece's end."""
        return self.encoder.pre_lookahead

    @property
    def chunk_tokens(self) -> int:
        """The streaming chunk the model was trained with, in tokens."""
        return self.encoder.chunk_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlowConfig:
        parts = {
            "encoder": _build(FlowEncoderConfig, data.get("encoder", {})),
            "estimator": _build(EstimatorConfig, data.get("estimator", {})),
            "cfm": _build(CFMConfig, data.get("cfm", {})),
        }
        plain = {k: v for k, v in data.items() if k not in parts}
        return cls(**plain, **parts)


def cosyvoice2() -> FlowConfig:
    """The official CosyVoice2-0.5B flow."""
    return FlowConfig()


def debug() -> FlowConfig:
    """A tiny flow for tests: the debug encoder and estimator, the official sampler, the
    official vocabulary (S3 v2's codes) and speaker width."""
    return FlowConfig(encoder=encoder_debug(), estimator=estimator_debug(), cfm=cfm_debug())


PRESETS = {"cosyvoice2": cosyvoice2, "debug": debug}


def _build(kind: Any, data: dict[str, Any]) -> Any:
    """A config dataclass from JSON data (lists back to tuples where the field is a tuple)."""
    values = {}
    defaults = kind()
    for key, value in data.items():
        if isinstance(value, list) and isinstance(getattr(defaults, key, None), tuple):
            value = _to_tuple(value)
        values[key] = value
    return kind(**values)


def _to_tuple(value: Any) -> Any:
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


@dataclass
class FlowOutput:
    """Mel of the new tokens: ``mel [B, M, F]`` right-padded, ``lengths [B]`` frames."""

    mel: torch.Tensor
    lengths: torch.Tensor


@dataclass
class FlowStream:
    """One request's streaming state: the encoder's and the sampler's, and what is left of
    the prompt's frames to drop from the first output."""

    encoder: Any
    sampler: Any
    prompt_mel: torch.Tensor  # [M, Tm]
    frames_done: int = 0  # mel frames of the whole sequence (prompt included) emitted so far
    prompt_frames: int = 0


class CausalFlow(nn.Module):
    """Tokens + speaker vector + prompt mel -> mel (see the module docstring)."""

    def __init__(self, config: FlowConfig) -> None:
        super().__init__()
        self.config = config
        self.input_embedding = nn.Embedding(config.vocab, config.token_width)
        self.spk_embed_affine_layer = nn.Linear(config.speaker_dim, config.mel_bins)
        self.encoder = FlowEncoder(config.encoder)
        self.encoder_proj = nn.Linear(config.encoder.width, config.mel_bins)
        self.decoder = FlowSampler(config.cfm, CausalEstimator(config.estimator))

    def speaker_condition(self, speaker: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` speaker vectors -> ``[B, M]`` (L2-normalised, then the affine map)."""
        return self.spk_embed_affine_layer(F.normalize(speaker, dim=1))

    def embed(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` ids (padding anywhere past ``lengths``) -> ``[B, T, token_width]``, zero
        past each length."""
        valid = torch.arange(tokens.shape[1], device=tokens.device)[None] < lengths[:, None]
        return self.input_embedding(tokens.clamp(min=0)) * valid[..., None]

    @torch.inference_mode()
    def inference(
        self,
        tokens: list[torch.Tensor],
        prompt_tokens: list[torch.Tensor],
        prompt_mels: list[torch.Tensor],
        speakers: torch.Tensor,
        *,
        streaming: bool = False,
    ) -> FlowOutput:
        """Mel for each request's new tokens, all requests in one pass.

        Args:
            tokens: per request, the new speech tokens ``[T_i]``.
            prompt_tokens: per request, the prompt's tokens ``[P_i]`` (may be empty).
            prompt_mels: per request, the prompt's mel ``[Tm_i, M]`` (``Tm_i = ratio * P_i``).
            speakers: ``[B, D]``.
            streaming: the chunk-masked attention of streaming (the official model is trained
                with both); offline synthesis uses full attention.

        Returns:
            mel ``[B, M, max F_i]`` with ``F_i = ratio * T_i`` and the lengths.
        """
        device = speakers.device
        sequences = [
            torch.cat([p, t]).to(device) for p, t in zip(prompt_tokens, tokens, strict=True)
        ]
        lengths = torch.tensor([len(s) for s in sequences], device=device)
        ids = nn.utils.rnn.pad_sequence(sequences, batch_first=True)  # [B, L]
        x = self.embed(ids, lengths)
        h, h_lengths = self.encoder(x, lengths, streaming=streaming)  # [B, 2L, C]
        mu = self.encoder_proj(h).transpose(1, 2)  # [B, M, 2L]
        frames = mu.shape[2]
        cond = mu.new_zeros(mu.shape)
        for row, mel in enumerate(prompt_mels):
            cond[row, :, : mel.shape[0]] = mel.to(mu).T
        mask = (torch.arange(frames, device=device)[None] < h_lengths[:, None]).to(mu)[:, None]
        spks = self.speaker_condition(speakers.to(mu))
        mel = self.decoder.sample(mu, mask, spks, cond, streaming=streaming)  # [B, M, 2L]
        starts = [m.shape[0] for m in prompt_mels]
        new = [self.config.token_mel_ratio * len(t) for t in tokens]
        out = mel.new_zeros(len(tokens), self.config.mel_bins, max(new, default=0))
        for row, (start, count) in enumerate(zip(starts, new, strict=True)):
            out[row, :, :count] = mel[row, :, start : start + count]
        return FlowOutput(out.float(), torch.tensor(new))

    def start_stream(self, prompt_mel: torch.Tensor, speaker: torch.Tensor) -> FlowStream:
        """A request's streaming state; ``prompt_mel [Tm, M]``, ``speaker [D]``."""
        spks = self.speaker_condition(speaker[None].to(self.spk_embed_affine_layer.weight))
        return FlowStream(
            encoder=self.encoder.start_stream(),
            sampler=self.decoder.start_stream(spks),
            prompt_mel=prompt_mel.T.to(spks),
            prompt_frames=int(prompt_mel.shape[0]),
        )

    @torch.inference_mode()
    def stream_step(
        self, state: FlowStream, tokens: torch.Tensor, context: torch.Tensor | None
    ) -> torch.Tensor:
        """Mel of the next piece of the sequence: ``tokens [n]`` (the prompt's tokens are the
        first piece's start), ``context [pre_lookahead]`` the tokens after them, None at the
        end. Pieces must end on multiples of ``chunk_tokens`` from the sequence's start (the
        last excepted). Returns the new frames ``[M, ratio * n]``, less the prompt's frames.
        """
        device = self.input_embedding.weight.device
        x = self.input_embedding(tokens.to(device).clamp(min=0))[None]  # [1, n, C]
        ctx = (
            None if context is None else self.input_embedding(context.to(device).clamp(min=0))[None]
        )
        h = self.encoder.stream_step(state.encoder, x, ctx)  # [1, 2n, C]
        mu = self.encoder_proj(h).transpose(1, 2)  # [1, M, 2n]
        start, count = state.frames_done, mu.shape[2]
        cond = mu.new_zeros(mu.shape)
        prompt = state.prompt_mel[:, start : start + count]
        cond[0, :, : prompt.shape[1]] = prompt
        mel = self.decoder.stream_step(state.sampler, mu, cond)[0]  # [M, 2n]
        state.frames_done += count
        skip = max(0, state.prompt_frames - start)
        return mel[:, skip:].float()

    def reference_state(self) -> dict[str, torch.Tensor]:
        """The weights under the official ``flow.pt`` names."""
        state = {
            key: value
            for key, value in self.state_dict().items()
            if not key.startswith(("encoder.", "decoder."))
        }
        state.update({f"encoder.{k}": v for k, v in self.encoder.reference_state().items()})
        estimator = self.decoder.estimator.reference_state()
        state.update({f"decoder.estimator.{k}": v for k, v in estimator.items()})
        return state

    @classmethod
    def from_reference_state(cls, state: dict[str, torch.Tensor], config: FlowConfig) -> CausalFlow:
        """Build from an official ``flow.pt`` state dict (strict).

        Raises:
            ValueError: keys are missing or unexpected (the message lists them).
        """
        model = cls(config)
        # The whole key set first, so that the message names keys as the state spells them
        # (the parts' own checks would drop their ``encoder.`` / ``decoder.estimator.``).
        expected = set(model.reference_state())
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - expected)
        if missing or unexpected:
            raise ValueError(
                "flow state dict does not fit the config: "
                f"missing {missing[:8]}, unexpected {unexpected[:8]}"
            )
        own = {k: v for k, v in state.items() if not k.startswith(("encoder.", "decoder."))}
        model.load_state_dict(own, strict=False)
        encoder = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
        estimator = {
            k[len("decoder.estimator.") :]: v
            for k, v in state.items()
            if k.startswith("decoder.estimator.")
        }
        model.encoder = FlowEncoder.from_reference_state(encoder, config.encoder)
        model.decoder = FlowSampler(
            config.cfm, CausalEstimator.from_reference_state(estimator, config.estimator)
        )
        return model.eval()
