"""S3 weights: official-layout ONNX files, reference state dicts, our safetensors, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audiotok.errors import WeightsNotFoundError
from audiotok.tokenizers import get_tokenizer
from audiotok.tokenizers.s3 import S3Tokenizer, get_config, load_model, save_pretrained
from audiotok.tokenizers.s3.onnx_import import sha256_of
from tests.audiotok.tokenizers.s3_onnx_writer import write_official_like_onnx
from tests.audiotok.tokenizers.s3_reference import import_reference, reference_model
from tests.signals import speech_like

PRESETS = ["v1_50hz", "v1_25hz", "v2", "v3"]


def _small_reference(preset: str) -> torch.nn.Module:
    # The debug presets' shapes (width 128, 2 heads of 64, 2 blocks): ONNX files stay small.
    return reference_model(preset, seed=7, width=128, heads=2, blocks=2)


def _audio() -> list[torch.Tensor]:
    return [
        torch.from_numpy(speech_like(3.0, 16000, seed=1)).float().reshape(-1),
        torch.from_numpy(speech_like(1.3, 16000, seed=2)).float().reshape(-1),
    ]


def _reference_codes(model: torch.nn.Module, waves: list[torch.Tensor]) -> list[torch.Tensor]:
    s3tokenizer = import_reference()
    out = []
    for wave in waves:
        mel = s3tokenizer.log_mel_spectrogram(wave, n_mels=128)
        codes, lengths = model.quantize(mel[None], torch.tensor([mel.shape[-1]]))  # type: ignore[operator]
        out.append(codes[0, : int(lengths[0])].long())
    return out


@pytest.mark.parametrize("preset", PRESETS)
def test_onnx_in_the_official_layout_loads_like_the_reference_converter(
    preset: str, tmp_path: Path
) -> None:
    original = _small_reference(preset)
    path = write_official_like_onnx(original.state_dict(), preset, tmp_path / "tok.onnx")

    # The reference's own converter reads our file back to the same tensors...
    converted = reference_model(preset, seed=99, width=128, heads=2, blocks=2)
    converted.init_from_onnx(str(path))  # type: ignore[operator]
    for key, value in original.state_dict().items():
        assert torch.equal(converted.state_dict()[key], value), key

    # ... and our loader (hash check off: a self-made file) gives the reference's codes.
    config = get_config(f"{preset}_debug")
    model = load_model(config, path, verify_sha256=False)
    ours = S3Tokenizer(config, f"s3-{preset}", model)
    waves = _audio()
    expected = _reference_codes(converted, waves)
    got = [t.codes[0] for t in ours.encode(waves, 16000)]
    for want, have in zip(expected, got, strict=True):
        assert torch.equal(have, want)
    assert len(set(torch.cat(expected).tolist())) > 20


def test_onnx_with_a_wrong_sha256_is_refused(tmp_path: Path) -> None:
    path = write_official_like_onnx(_small_reference("v2").state_dict(), "v2", tmp_path / "x.onnx")
    config = get_config("v2_debug")  # keeps the published v2 hash
    with pytest.raises(WeightsNotFoundError, match="SHA-256") as err:
        load_model(config, path)
    assert sha256_of(path) in str(err.value)
    assert config.onnx_sha256 is not None and config.onnx_sha256 in str(err.value)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_reference_state_dict_files_load(suffix: str, tmp_path: Path) -> None:
    reference = _small_reference("v1_25hz")
    path = tmp_path / f"reference{suffix}"
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    if suffix == ".pt":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    config = get_config("v1_25hz_debug")
    ours = S3Tokenizer(config, "s3-v1-25hz", load_model(config, path))
    waves = _audio()
    got = [t.codes[0] for t in ours.encode(waves, 16000)]
    for want, have in zip(_reference_codes(reference, waves), got, strict=True):
        assert torch.equal(have, want)


def test_pickled_objects_are_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"encoder.conv1.weight": torch.zeros(1), "x": object()}, path)
    with pytest.raises(Exception, match=r"(?i)weights_only|unsupported|global"):
        load_model(get_config("v2_debug"), path)


def test_save_pretrained_round_trip(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="RANDOMLY"):
        tokenizer = get_tokenizer("s3-v2", debug=True)
    assert isinstance(tokenizer, S3Tokenizer)
    save_pretrained(tokenizer.model, tmp_path / "mine")
    assert {p.name for p in (tmp_path / "mine").iterdir()} == {"config.json", "model.safetensors"}
    again = get_tokenizer("s3-v2", weights=tmp_path / "mine")
    assert isinstance(again, S3Tokenizer)
    assert again.model.config == tokenizer.model.config
    waves = _audio()
    for a, b in zip(tokenizer.encode(waves, 16000), again.encode(waves, 16000), strict=True):
        assert torch.equal(a.codes, b.codes)
    with pytest.raises(WeightsNotFoundError, match="expected"):
        get_tokenizer("s3-v1-50hz", weights=tmp_path / "mine")  # a 25 Hz model


def test_missing_weights_name_the_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match=r"speech_tokenizer_v2\.onnx"):
        get_tokenizer("s3-v2")  # default Hub repository, offline in tests
    with pytest.raises(WeightsNotFoundError, match=r"config\.json.*speech_tokenizer_v3\.onnx"):
        get_tokenizer("s3-v3", weights=tmp_path)  # an empty directory
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        get_tokenizer("s3-v1-25hz", weights=tmp_path / "nope.onnx")
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "config.json").write_text("{}")
    with pytest.raises(WeightsNotFoundError, match=r"model\.safetensors"):
        get_tokenizer("s3-v2", weights=tmp_path / "partial")
