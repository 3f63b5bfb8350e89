"""Human-readable descriptions of audio files and token files."""

from __future__ import annotations

from pathlib import Path

from audiotok.audio import audio_info
from audiotok.tokens import Tokens, load_tokens_arrow


def describe(path: Path) -> str:
    """Describe a token file (``.npz``/``.arrow``) or an audio file; raises on unreadable input."""
    if path.suffix == ".npz":
        return _describe_tokens(Tokens.load(path))
    if path.suffix == ".arrow":
        items = load_tokens_arrow(path)
        return "\n\n".join(_describe_tokens(t) for t in items) or f"{path}: no rows"
    info = audio_info(path)
    duration = "unknown" if info.duration is None else f"{info.duration:.3f} s"
    return "\n".join(
        [
            f"path:        {info.path}",
            f"format:      {info.format} / {info.codec} (read by {info.backend})",
            f"sample rate: {info.sample_rate} Hz",
            f"channels:    {info.channels}",
            f"duration:    {duration}",
        ]
    )


def _describe_tokens(tokens: Tokens) -> str:
    lines = [
        f"tokenizer:   {tokens.spec}",
        f"codes:       {tokens.num_codebooks} codebook(s) x {tokens.num_frames} frames",
        f"codebooks:   {', '.join(str(s) for s in tokens.codebook_sizes)}",
        f"frame rate:  {tokens.frame_rate:.3f} /s",
        f"duration:    {tokens.duration:.3f} s at {tokens.sample_rate} Hz",
        f"bitrate:     {tokens.bitrate / 1000:.3f} kbps",
    ]
    if tokens.packet_lengths is not None:
        lines.append(f"packets:     {len(tokens.packet_lengths)}")
    return "\n".join(lines)
