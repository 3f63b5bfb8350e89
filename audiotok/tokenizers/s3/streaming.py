"""Chunk-by-chunk encoding for the streaming S3 variant (``S3Config.causal``).

Beyond the published models: with ``causal=True`` the convs and the FSMN look back only,
and attention is chunked (a frame sees its own chunk of ``chunk_tokens`` frames and the
``left_chunks`` before it, or all earlier chunks when -1). The look-ahead is then bounded by
one chunk: ``chunk_tokens * total_stride`` mel frames (e.g. 25 tokens = 100 frames = 1 s).

`S3Stream` feeds mel frames as they come and returns the codes of every completed chunk;
concatenated they equal `S3Model.quantize` on the whole input under the same mask. The
caller supplies the mel: Whisper's -80 dB floor is relative to the peak of the whole
utterance, which a live stream has to fix in advance (e.g. from a calibration segment).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from audiotok.tokenizers.s3.blocks import LayerCache
from audiotok.tokenizers.s3.model import S3Model


@dataclass
class StreamState:
    """Everything a stream carries between chunks.

    Attributes:
        pending: mel frames ``[B, n_mels, F]`` not yet part of a complete chunk.
        conv1_context, conv2_context: the last ``kernel - 1`` input frames of each conv.
        caches: per block, keys/values of the visible past and the FSMN's left context.
        position: output frames emitted so far (positions of the next chunk start here).
    """

    pending: Tensor
    conv1_context: Tensor | None = None
    conv2_context: Tensor | None = None
    caches: list[LayerCache] = field(default_factory=list)
    position: int = 0


class S3Stream:
    """Incremental encoder over a causal `S3Model` (all items of a batch advance together)."""

    def __init__(self, model: S3Model):
        if not model.config.causal:
            raise ValueError("streaming needs a causal S3 config (causal=True)")
        self.model = model.eval()
        self.config = model.config
        self.chunk_frames = self.config.chunk_tokens * self.config.total_stride

    def initial_state(self, batch: int = 1) -> StreamState:
        param = next(self.model.parameters())
        pending = param.new_zeros(batch, self.config.n_mels, 0)
        return StreamState(pending, caches=[LayerCache() for _ in self.model.blocks])

    @torch.inference_mode()
    def push(self, state: StreamState, mel: Tensor) -> Tensor:
        """Append ``mel [B, n_mels, F]``; codes ``[B, n]`` of the chunks it completes."""
        state.pending = torch.cat((state.pending, mel.to(state.pending)), dim=-1)
        out = []
        while state.pending.shape[-1] >= self.chunk_frames:
            chunk = state.pending[..., : self.chunk_frames]
            state.pending = state.pending[..., self.chunk_frames :]
            out.append(self._step(state, chunk, self.chunk_frames))
        return self._cat(state, out)

    @torch.inference_mode()
    def flush(self, state: StreamState) -> Tensor:
        """Codes ``[B, n]`` of the last, partial chunk (end of input)."""
        frames = state.pending.shape[-1]
        if frames == 0:
            return self._cat(state, [])
        stride = self.config.total_stride
        padded = -(-frames // stride) * stride  # zeros: what the full pass's mask leaves
        chunk = torch.nn.functional.pad(state.pending, (0, padded - frames))
        state.pending = state.pending[..., frames:]
        return self._step(state, chunk, frames)

    def _step(self, state: StreamState, mel: Tensor, valid: int) -> Tensor:
        """One chunk: ``mel [B, n_mels, F]`` of which the first ``valid`` frames are real."""
        model, batch = self.model, mel.shape[0]
        lengths = torch.full((batch,), valid, dtype=torch.long, device=mel.device)
        x, lengths, state.conv1_context = model.conv_step(
            model.conv1, mel, lengths, state.conv1_context
        )
        x, lengths, state.conv2_context = model.conv_step(
            model.conv2, x, lengths, state.conv2_context
        )
        tokens = int(lengths[0])
        x = model.positions(x.permute(0, 2, 1)[:, :tokens], state.position)
        past = 0 if state.caches[0].keys is None else state.caches[0].keys.shape[2]
        bias = x.new_zeros(1, 1, 1, past + tokens)  # every visible key is real: no masking
        frame_mask = x.new_ones(batch, tokens, 1)
        rotary = model.rotary(state.position, tokens, x.device)
        for block, cache in zip(model.blocks, state.caches, strict=True):
            x = block(x, bias, frame_mask, rotary, cache)
            self._forget(cache)
        state.position += tokens
        return model.quantizer(x)

    def _forget(self, cache: LayerCache) -> None:
        """Keep only the keys/values the next chunk may see (``left_chunks`` chunks)."""
        if self.config.left_chunks < 0 or cache.keys is None or cache.values is None:
            return
        keep = self.config.left_chunks * self.config.chunk_tokens
        start = cache.keys.shape[2] - keep
        cache.keys = cache.keys[:, :, start:] if keep else cache.keys[:, :, :0]
        cache.values = cache.values[:, :, start:] if keep else cache.values[:, :, :0]

    @staticmethod
    def _cat(state: StreamState, parts: list[Tensor]) -> Tensor:
        if parts:
            return torch.cat(parts, dim=-1)
        return torch.zeros(state.pending.shape[0], 0, dtype=torch.long)
