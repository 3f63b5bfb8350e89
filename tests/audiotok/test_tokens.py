from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from audiotok.tokens import (
    Tokens,
    load_tokens_arrow,
    save_tokens_arrow,
    tokens_from_arrow,
    tokens_to_arrow,
)


def _codec_tokens(frames: int = 30, seed: int = 0) -> Tokens:
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 1024, (8, frames), generator=generator)
    return Tokens(codes, 75.0, (1024,) * 8, 24000, "encodec-24khz@6kbps", frames * 320)


def _bitstream_tokens() -> Tokens:
    payload = torch.tensor(list(b"\x01\x02\x03\xff\x00\x10\x20"))[None, :]
    return Tokens(payload, 875.0, (256,), 8000, "opus@6kbps", 64, torch.tensor([3, 4]))


def _assert_same(a: Tokens, b: Tokens) -> None:
    assert torch.equal(a.codes, b.codes)
    assert (a.frame_rate, a.codebook_sizes, a.sample_rate, a.spec, a.num_samples) == (
        b.frame_rate,
        b.codebook_sizes,
        b.sample_rate,
        b.spec,
        b.num_samples,
    )
    if a.packet_lengths is None:
        assert b.packet_lengths is None
    else:
        assert b.packet_lengths is not None
        assert torch.equal(a.packet_lengths, b.packet_lengths)


def test_bitrate_arithmetic() -> None:
    tokens = _codec_tokens()
    assert tokens.num_codebooks == 8 and tokens.num_frames == 30
    assert tokens.bitrate == pytest.approx(75 * 8 * 10)
    assert tokens.duration == pytest.approx(30 * 320 / 24000)
    mixed = Tokens(torch.zeros(2, 5, dtype=torch.long), 25.0, (4096, 6561), 16000, "x", 3200)
    assert mixed.bitrate == pytest.approx(25 * (12 + math.log2(6561)))


def test_bitstream_tokens_split_into_packets() -> None:
    tokens = _bitstream_tokens()
    assert tokens.is_bitstream
    assert tokens.to_bytes() == b"\x01\x02\x03\xff\x00\x10\x20"
    assert tokens.packets() == [b"\x01\x02\x03", b"\xff\x00\x10\x20"]
    assert tokens.bitrate == pytest.approx(875 * 8)


def test_invalid_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"\[K, T\]"):
        Tokens(torch.zeros(5, dtype=torch.long), 1.0, (2,), 8000, "x", 5)
    with pytest.raises(ValueError, match="codebook_sizes"):
        Tokens(torch.zeros(2, 5, dtype=torch.long), 1.0, (2,), 8000, "x", 5)
    with pytest.raises(ValueError, match="packet_lengths"):
        Tokens(torch.zeros(1, 5, dtype=torch.long), 1.0, (256,), 8000, "x", 5, torch.tensor([2]))


@pytest.mark.parametrize("make", [_codec_tokens, _bitstream_tokens])
def test_npz_round_trip(tmp_path, make) -> None:
    tokens = make()
    loaded = Tokens.load(tokens.save(tmp_path / "t.npz"))
    _assert_same(tokens, loaded)


def test_npz_stores_compact_integers(tmp_path) -> None:
    path = _codec_tokens().save(tmp_path / "t.npz")
    with np.load(path) as data:
        assert data["codes"].dtype == np.int16


def test_arrow_round_trip(tmp_path) -> None:
    items = [_codec_tokens(30, 0), _codec_tokens(12, 1), _bitstream_tokens()]
    table = tokens_to_arrow(items)
    assert table.num_rows == 3
    for a, b in zip(items, tokens_from_arrow(table), strict=True):
        _assert_same(a, b)
    for a, b in zip(
        items, load_tokens_arrow(save_tokens_arrow(items, tmp_path / "t.arrow")), strict=True
    ):
        _assert_same(a, b)
