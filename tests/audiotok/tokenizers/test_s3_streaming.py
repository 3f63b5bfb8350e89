"""The streaming S3 variant: chunk by chunk with a state equals one pass under the same mask."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from audiotok.tokenizers.s3 import S3Tokenizer, get_config
from audiotok.tokenizers.s3.model import S3Model, chunk_mask
from audiotok.tokenizers.s3.streaming import S3Stream


def _causal(preset: str, left_chunks: int) -> S3Tokenizer:
    config = dataclasses.replace(
        get_config(f"{preset}_debug"), causal=True, chunk_tokens=10, left_chunks=left_chunks
    )
    with pytest.warns(UserWarning, match="RANDOMLY"):
        return S3Tokenizer.random(config, f"s3-{preset}")


@pytest.mark.parametrize(
    ("preset", "left_chunks"), [("v2", -1), ("v2", 2), ("v1_50hz", 1), ("v3", 0)]
)
def test_chunk_by_chunk_equals_one_masked_pass(preset: str, left_chunks: int) -> None:
    tokenizer = _causal(preset, left_chunks)
    wave = 0.1 * torch.randn(int(7.37 * 16000), generator=torch.Generator().manual_seed(4))
    mel = tokenizer.log_mel(wave)[None]  # [1, 128, T]
    full, lengths = tokenizer.model.quantize(mel, torch.tensor([mel.shape[-1]]))
    full = full[:, : int(lengths[0])]

    stream = S3Stream(tokenizer.model)
    state = stream.initial_state()
    parts, start = [], 0
    for size in (37, 1, 150, 64, 200, 3, 90):  # ragged pieces, not chunk-aligned
        parts.append(stream.push(state, mel[..., start : start + size]))
        start += size
    parts.append(stream.push(state, mel[..., start:]))
    parts.append(stream.flush(state))
    streamed = torch.cat(parts, dim=-1)

    assert streamed.shape == full.shape
    assert torch.equal(streamed, full)
    assert len(set(full[0].tolist())) > 20


def test_future_audio_does_not_change_finished_chunks() -> None:
    tokenizer = _causal("v2", -1)
    wave = 0.1 * torch.randn(4 * 16000, generator=torch.Generator().manual_seed(1))
    mel = tokenizer.log_mel(wave)[None]
    codes, _ = tokenizer.model.quantize(mel, torch.tensor([mel.shape[-1]]))
    changed = mel.clone()
    changed[..., 200:] = torch.randn_like(changed[..., 200:])  # from token 50 (chunk 5) on
    other, _ = tokenizer.model.quantize(changed, torch.tensor([mel.shape[-1]]))
    assert torch.equal(codes[:, :50], other[:, :50])
    assert not torch.equal(codes[:, 50:], other[:, 50:])


def test_chunk_mask() -> None:
    seen = chunk_mask(6, 2, 1, torch.device("cpu")).int().tolist()
    assert seen == [
        [1, 1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [0, 0, 1, 1, 1, 1],
        [0, 0, 1, 1, 1, 1],
    ]
    with pytest.raises(ValueError, match="causal"):
        S3Stream(S3Model(get_config("v2_debug")))
