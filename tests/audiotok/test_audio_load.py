"""load_audio / audio_info across formats, rates and channel counts, and PCM scaling."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiotok.audio import (
    SUPPORTED_EXTENSIONS,
    Audio,
    _pyav_backend,
    _soundfile_backend,
    audio_info,
    iter_audio_chunks,
    load_audio,
    resample,
)
from tests.audiotok.audio_writers import (
    CHANNEL_FREQS,
    LOSSY,
    dominant_frequency,
    tones,
    write_audio,
)

SECONDS = 1.0
WAV_SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]
# (extension, sample rates, channel counts) each codec supports.
FORMAT_CASES = [
    ("flac", (8000, 44100, 96000), (1, 2, 6)),
    ("ogg", (8000, 22050, 48000), (1, 2, 6)),
    ("opus", (16000, 48000), (1, 2, 6)),
    ("mp3", (8000, 22050, 44100, 48000), (1, 2)),
    ("m4a", (16000, 44100, 96000), (1, 2, 6)),
    ("aac", (22050, 48000), (1, 2)),
]
EXPECTED_BACKEND = {"m4a": "pyav", "aac": "pyav"}
EXPECTED_CODEC = {"flac": "flac", "ogg": "vorbis", "opus": "opus", "mp3": "mp3", "m4a": "aac"}


CASES = [
    pytest.param(extension, rate, channels, id=f"{extension}-{rate}-{channels}ch")
    for extension, rates, channel_counts in FORMAT_CASES
    for rate in rates
    for channels in channel_counts
]


def _full_band_channels(extension: str, channels: int) -> list[int]:
    """Channels a codec keeps full-band: lossy 5.1 encoders low-pass or re-level the LFE
    (index 3 for FFmpeg's AAC, index 5 in Vorbis/Opus order), so those are not compared."""
    if extension in LOSSY and channels == 6:
        return [0, 1, 2, 4]
    return list(range(channels))


def _check_tones(audio: Audio, checked: list[int]) -> None:
    """Each checked channel still carries its own tone (content and channel order survive)."""
    for channel in checked:
        found = dominant_frequency(audio.samples[channel], audio.sample_rate)
        expected = CHANNEL_FREQS[channel]
        assert abs(found - expected) <= max(3.0, 0.03 * expected), (channel, found)


@pytest.mark.parametrize("rate", [8000, 44100, 96000])
@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("subtype", WAV_SUBTYPES)
def test_wav_every_subtype_rate_and_channel_count(tmp_path, subtype, channels, rate):
    original = tones(SECONDS, rate, channels)
    path = write_audio(tmp_path / "x.wav", original, rate, subtype=subtype)
    audio = load_audio(path)
    assert audio.samples.dtype == np.float32
    assert audio.samples.shape == original.shape
    assert audio.sample_rate == rate
    assert audio.path == str(path)
    tolerance = {"PCM_U8": 1 / 64, "PCM_16": 1e-4}.get(subtype, 1e-6)
    np.testing.assert_allclose(audio.samples, original, atol=tolerance)


@pytest.mark.parametrize(("extension", "rate", "channels"), CASES)
def test_each_format_rate_and_channel_count(tmp_path, extension, rate, channels):
    original = tones(SECONDS, rate, channels)
    path = write_audio(tmp_path / f"x.{extension}", original, rate)
    audio = load_audio(path)
    assert audio.sample_rate == rate
    assert audio.channels == channels
    assert audio.samples.dtype == np.float32
    if extension in LOSSY:
        # Encoder delay and padding: within a couple of codec frames.
        assert abs(audio.num_frames - original.shape[1]) <= 2048 + rate // 50
        # Same level as the original away from the ends (where codecs ring at the hard cut).
        checked = _full_band_channels(extension, channels)
        middle = audio.samples[checked, rate // 4 : rate // 2]
        rms = np.sqrt(np.mean(middle.astype(np.float64) ** 2, axis=1))
        np.testing.assert_allclose(rms, 0.5 / np.sqrt(2), rtol=0.2)
    else:
        np.testing.assert_allclose(audio.samples, original, atol=1e-4)
    _check_tones(audio, _full_band_channels(extension, channels))


@pytest.mark.parametrize("extension", ["wav", "flac", "ogg", "opus", "mp3", "m4a", "aac"])
def test_audio_info_each_format(tmp_path, extension):
    rate, channels = 48000, 2
    path = write_audio(tmp_path / f"x.{extension}", tones(2.0, rate, channels), rate)
    info = audio_info(path)
    assert info.path == str(path)
    assert (info.sample_rate, info.channels) == (rate, channels)
    assert info.backend == EXPECTED_BACKEND.get(extension, "soundfile")
    assert info.codec == EXPECTED_CODEC.get(extension, info.codec)
    assert info.num_frames is not None and info.duration is not None
    assert abs(info.duration - 2.0) < 0.1
    assert info.num_frames == pytest.approx(info.duration * rate, abs=1)
    if extension in ("wav", "flac"):
        assert info.num_frames == 2 * rate
    assert f".{extension}" in SUPPORTED_EXTENSIONS


def test_audio_info_names_wav_codec_and_format(tmp_path):
    path = write_audio(tmp_path / "x.wav", tones(0.1, 16000, 1), 16000, subtype="PCM_24")
    info = audio_info(path)
    assert (info.format, info.codec, info.num_frames) == ("wav", "pcm_s24", 1600)


@pytest.mark.parametrize(
    ("subtype", "dtype", "full_scale"),
    [("PCM_16", np.int16, 2**15), ("PCM_24", np.int32, 2**31), ("PCM_32", np.int32, 2**31)],
)
def test_integer_pcm_full_scale_maps_to_unit(tmp_path, subtype, dtype, full_scale):
    info = np.iinfo(dtype)
    pcm = np.array([info.max, info.min, 0, full_scale // 2], dtype=dtype)
    sf.write(tmp_path / "x.wav", pcm, 16000, subtype=subtype)
    samples = load_audio(tmp_path / "x.wav").samples[0]
    assert samples[1] == -1.0
    assert samples[0] == pytest.approx(1.0, abs=1e-4)
    assert samples[2] == 0.0
    assert samples[3] == pytest.approx(0.5, abs=1e-4)


def test_unsigned_8bit_is_centred(tmp_path):
    sf.write(tmp_path / "x.wav", np.array([1.0, -1.0, 0.0]), 8000, subtype="PCM_U8")
    samples = load_audio(tmp_path / "x.wav").samples[0]
    np.testing.assert_allclose(samples, [127 / 128, -1.0, 0.0])


@pytest.mark.parametrize("subtype", WAV_SUBTYPES)
def test_both_backends_scale_pcm_identically(tmp_path, subtype):
    path = write_audio(tmp_path / "x.wav", tones(0.2, 16000, 2, amplitude=0.9), 16000, subtype)
    decoded = []
    for backend in (_soundfile_backend, _pyav_backend):
        source = backend.open_source(str(path))
        decoded.append(np.concatenate(list(source.blocks(0, None, 4096)), axis=1))
        source.close()
    np.testing.assert_allclose(decoded[0], decoded[1], atol=1e-7)


def test_resample_and_mono(tmp_path):
    original = tones(1.0, 44100, 2)
    path = write_audio(tmp_path / "x.flac", original, 44100, subtype="PCM_24")
    audio = load_audio(path, sample_rate=16000, mono=True)
    assert (audio.sample_rate, audio.channels, audio.num_frames) == (16000, 1, 16000)
    expected = resample(original.mean(axis=0), 44100, 16000)
    np.testing.assert_allclose(audio.samples[0], expected, atol=1e-5)
    np.testing.assert_allclose(audio.mono, audio.samples[0])


@pytest.mark.parametrize("extension", ["wav", "flac", "mp3", "m4a"])
def test_offset_and_duration_select_a_slice(tmp_path, extension):
    rate = 44100
    path = write_audio(tmp_path / f"x.{extension}", tones(3.0, rate, 2), rate)
    whole = load_audio(path)
    part = load_audio(path, offset=1.25, duration=0.5)
    assert part.num_frames == round(0.5 * rate)
    start = round(1.25 * rate)
    reference = whole.samples[:, start : start + part.num_frames]
    # Lossy decoders restart after a seek; allow a little roughness there.
    atol = 1e-3 if extension in LOSSY else 0.0
    np.testing.assert_allclose(part.samples, reference, atol=atol)


def test_offset_past_the_end_gives_empty_audio(tmp_path):
    path = write_audio(tmp_path / "x.wav", tones(0.5, 8000, 2), 8000)
    audio = load_audio(path, offset=10.0)
    assert audio.samples.shape == (2, 0)


def test_iter_chunks_join_to_load_audio(tmp_path):
    path = write_audio(tmp_path / "x.wav", tones(2.0, 48000, 2), 48000, subtype="FLOAT")
    chunks = list(iter_audio_chunks(path, sample_rate=16000, mono=True, chunk_seconds=0.3))
    assert len(chunks) > 3
    assert all(chunk.dtype == np.float32 and chunk.shape[0] == 1 for chunk in chunks)
    loaded = load_audio(path, sample_rate=16000, mono=True)
    np.testing.assert_array_equal(np.concatenate(chunks, axis=1), loaded.samples)


def test_audio_value_type():
    audio = Audio(np.zeros((2, 800), dtype=np.float32), 8000)
    assert (audio.channels, audio.num_frames, audio.duration) == (2, 800, 0.1)
    assert audio.mono.shape == (800,)
    with pytest.raises(ValueError):
        Audio(np.zeros(800, dtype=np.float32), 8000)
