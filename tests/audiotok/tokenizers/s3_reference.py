"""Helpers for the S3 tests: the reference ``s3tokenizer`` package without torchaudio.

The reference imports torchaudio at import time only for its audio loader, which the tests
never use; a stand-in module satisfies the import (real torchaudio must not be installed).
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from tests.stand_ins import stand_ins, torchaudio_modules


def import_reference() -> Any:
    """The ``s3tokenizer`` package, imported with a torchaudio stand-in (`tests.stand_ins`)."""
    if "s3tokenizer" in sys.modules:
        return sys.modules["s3tokenizer"]
    with stand_ins(torchaudio_modules()):
        import s3tokenizer
    return s3tokenizer


# preset -> (reference class path, reference model name)
REFERENCE_NAMES = {
    "v1_50hz": ("model", "S3Tokenizer", "speech_tokenizer_v1"),
    "v1_25hz": ("model", "S3Tokenizer", "speech_tokenizer_v1_25hz"),
    "v2": ("model_v2", "S3TokenizerV2", "speech_tokenizer_v2_25hz"),
    "v3": ("model_v3", "S3TokenizerV3", "speech_tokenizer_v3_25hz"),
}


def reference_model(
    preset: str, seed: int, *, width: int = 1280, heads: int = 20, blocks: int | None = None
) -> Any:
    """A seeded random reference model; a random (not zero) VQ codebook so codes vary.

    Full size by default (the reference's own configs); smaller ``width``/``heads``/
    ``blocks`` for quick tests (head size must stay 64 for the rotary variants).
    """
    import importlib

    import_reference()
    module_name, class_name, name = REFERENCE_NAMES[preset]
    module = importlib.import_module(f"s3tokenizer.{module_name}")
    config_class = module.ModelConfigV3 if preset == "v3" else module.ModelConfig
    config = config_class()  # a fresh one: the reference mutates its default instance
    config.n_audio_state, config.n_audio_head = width, heads
    if blocks is not None:
        config.n_audio_layer = blocks
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        model = getattr(module, class_name)(name, config)
        if preset.startswith("v1"):
            # The reference initialises the codebook to zeros: every frame would get code 0,
            # and random unit codewords still leave most frames nearest to a few of them.
            # Codewords near the model's own (normalised) frames on speech-like audio spread
            # the codes.
            embed = model.quantizer._codebook.embed
            frames = _probe_frames(model)
            picks = frames[torch.randint(frames.shape[0], (embed.shape[0],))]
            embed.copy_(picks + 0.5 * torch.randn_like(picks) / picks.shape[1] ** 0.5)
        else:
            # Default init projects to values well inside (-0.5, 0.5): nearly one code.
            # Centre and scale each projected dim to unit spread on speech-like audio.
            project = model.quantizer._codebook.project_down
            projected = project(_probe_frames(model, normalise=False))
            scale = 1.0 / projected.std(dim=0).clamp_min(1e-6)
            project.weight.mul_(scale[:, None])
            project.bias.sub_(projected.mean(dim=0)).mul_(scale)
    return model.eval()


def _probe_frames(model: Any, normalise: bool = True) -> torch.Tensor:
    """(L2-normalised) encoder frames ``[T, width]`` of 4 s of a speech-like signal."""
    from tests.signals import speech_like

    s3tokenizer = import_reference()
    wave = torch.from_numpy(speech_like(4.0, 16000)).float().reshape(-1)
    mel = s3tokenizer.log_mel_spectrogram(wave, 128)
    hidden, _ = model.encoder(mel[None], torch.tensor([mel.shape[-1]]))
    frames = hidden[0].float()
    return torch.nn.functional.normalize(frames, dim=-1) if normalise else frames
