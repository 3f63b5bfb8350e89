"""S3 parity with the reference ``s3tokenizer`` package (0.3.0) on real speech.

No official weights can be downloaded here, so both sides get the same seeded random
weights: the reference model is built with its own full-size configs, its state dict is
mapped onto `S3Model`, and the codes must be IDENTICAL. Each side uses its own mel front end.
The reference's random init would give (almost) one code everywhere, so `reference_model`
spreads the quantizer; the tests check the codes vary, so agreement is not vacuous.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audiotok.audio import load_audio
from audiotok.features.mel import WhisperMelConfig, whisper_log_mel
from audiotok.tokenizers.s3 import S3Tokenizer, get_config
from audiotok.tokenizers.s3.checkpoint import (
    empty_model,
    from_reference_state_dict,
    load_into,
    map_reference_key,
)
from tests.audiotok.tokenizers.s3_reference import import_reference, reference_model

SECONDS = 2.5  # full-size models are slow on CPU: short excerpts of three languages
FILES = ("test_de.wav", "test_ja.wav", "test_fr.wav")


@pytest.fixture(scope="module")
def speech(shared_data: Path) -> list[torch.Tensor]:
    folder = shared_data / "real" / "multilingual"
    waves = []
    for name in FILES:
        audio = load_audio(folder / name, sample_rate=16000, mono=True)
        waves.append(torch.from_numpy(audio.samples[0, : int(SECONDS * 16000)].copy()))
    return waves


def test_our_mel_equals_the_reference_mel_exactly(speech: list[torch.Tensor]) -> None:
    s3tokenizer = import_reference()
    lengths = torch.tensor([w.shape[0] for w in speech])
    batch = torch.nn.utils.rnn.pad_sequence(speech, batch_first=True)
    ours, frames = whisper_log_mel(batch, lengths, WhisperMelConfig(n_mels=128))
    for i, wave in enumerate(speech):
        reference = s3tokenizer.log_mel_spectrogram(wave, n_mels=128)
        assert reference.shape[-1] == int(frames[i]) == wave.shape[0] // 160
        # Bit-identical: same filters, same STFT, same clamp relative to the item's peak.
        assert torch.equal(ours[i, :, : reference.shape[-1]], reference)


@pytest.mark.parametrize("preset", ["v1_50hz", "v1_25hz", "v2", "v3"])
def test_codes_identical_to_reference(preset: str, speech: list[torch.Tensor]) -> None:
    s3tokenizer = import_reference()
    reference = reference_model(preset, seed=1234)
    config = get_config(preset)
    model = empty_model(config)
    load_into(model, from_reference_state_dict(reference.state_dict()), "reference")
    ours = S3Tokenizer(config, f"s3-{preset}", model)

    expected = []
    for wave in speech:  # the reference one by one, with its own mel
        mel = s3tokenizer.log_mel_spectrogram(wave, n_mels=128)
        codes, lengths = reference.quantize(mel[None], torch.tensor([mel.shape[-1]]))
        expected.append(codes[0, : int(lengths[0])].long())
    got = [t.codes[0] for t in ours.encode(speech, 16000)]  # ours as one batch

    for want, have, wave in zip(expected, got, speech, strict=True):
        assert have.shape == want.shape == (config.num_tokens(wave.shape[0] // 160),)
        assert torch.equal(have, want)
    distinct = len(set(torch.cat(expected).tolist()))
    assert distinct > 20, f"random codes too uniform ({distinct} distinct): parity is vacuous"


def test_every_reference_key_maps_onto_our_model() -> None:
    for preset in ("v1_50hz", "v2"):
        reference = reference_model(preset, seed=0, width=128, heads=2, blocks=1)
        ours = set(empty_model(get_config(f"{preset}_debug")).state_dict())
        mapped = {map_reference_key(k) for k in reference.state_dict()}
        ours_1_block = {k for k in ours if not k.startswith("blocks.1.")}
        assert mapped == ours_1_block
    with pytest.raises(KeyError):
        map_reference_key("encoder.something_else")
