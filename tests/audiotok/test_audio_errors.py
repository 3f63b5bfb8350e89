"""Every broken input gives an AudioLoadError with the right reason; cut files warn and load."""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotok.audio import TruncatedAudioWarning, audio_info, iter_audio_chunks, load_audio
from audiotok.errors import AudioLoadError
from tests.audiotok.audio_writers import tones, write_audio


def _wav_bytes(tmp_path: Path, subtype: str = "PCM_16", seconds: float = 0.5) -> bytes:
    rate = 16000
    path = write_audio(tmp_path / "good.wav", tones(seconds, rate, 1), rate, subtype=subtype)
    return path.read_bytes()


def _expect(path: Path, reason: str, *, both_backends: bool = False) -> AudioLoadError:
    """load_audio and audio_info both fail on ``path`` with ``reason``."""
    for call in (load_audio, audio_info):
        with pytest.raises(AudioLoadError) as caught:
            call(path)
        error = caught.value
        assert error.reason == reason, str(error)
        assert error.path == str(path)
        assert str(path) in str(error)
        if both_backends:
            assert "soundfile:" in error.detail and "pyav:" in error.detail
            assert error.__cause__ is not None
    return error


def test_missing_file(tmp_path):
    _expect(tmp_path / "missing.wav", "not_found")


def test_directory_is_not_a_file(tmp_path):
    _expect(tmp_path, "not_found")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    _expect(path, "empty_file")


@pytest.mark.parametrize("keep", [3, 11, 20, 30])
def test_wav_header_cut_short(tmp_path, keep):
    path = tmp_path / "cut.wav"
    path.write_bytes(_wav_bytes(tmp_path)[:keep])
    _expect(path, "truncated_header", both_backends=True)


@pytest.mark.parametrize("extension", ["flac", "ogg", "mp3"])
def test_other_headers_cut_short(tmp_path, extension):
    good = write_audio(tmp_path / f"good.{extension}", tones(0.5, 16000, 1), 16000)
    path = tmp_path / f"cut.{extension}"
    # For MP3, cut inside libsndfile's ID3 tag.
    path.write_bytes(good.read_bytes()[:20])
    _expect(path, "truncated_header")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.wav", b"this is a text file, not audio\n" * 20),
        ("noise.mp3", np.random.default_rng(1).bytes(5000)),
        ("noise.wav", np.random.default_rng(2).bytes(5000)),
        ("noise.m4a", np.random.default_rng(3).bytes(5000)),
    ],
)
def test_not_audio(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    _expect(path, "not_audio", both_backends=True)


def test_unknown_wav_codec(tmp_path):
    data = bytearray(_wav_bytes(tmp_path))
    assert data[12:16] == b"fmt "
    data[20:22] = struct.pack("<H", 0x1234)  # a format tag no decoder knows
    path = tmp_path / "codec.wav"
    path.write_bytes(bytes(data))
    error = _expect(path, "unsupported_codec", both_backends=True)
    assert "0x1234" in error.detail


def test_zero_sample_rate(tmp_path):
    data = bytearray(_wav_bytes(tmp_path))
    data[24:28] = struct.pack("<I", 0)
    path = tmp_path / "zero.wav"
    path.write_bytes(bytes(data))
    _expect(path, "zero_sample_rate", both_backends=True)


@pytest.mark.parametrize(("subtype", "bad"), [("FLOAT", np.nan), ("DOUBLE", np.inf)])
def test_non_finite_samples(tmp_path, subtype, bad):
    samples = tones(1.0, 8000, 2)
    samples[1, 5000] = bad
    path = write_audio(tmp_path / "nan.wav", samples, 8000, subtype=subtype)
    for call in (load_audio, lambda p: list(iter_audio_chunks(p, sample_rate=16000))):
        with pytest.raises(AudioLoadError) as caught:
            call(path)
        assert caught.value.reason == "non_finite_samples"
        assert "frame 5000" in caught.value.detail


def test_too_short(tmp_path):
    path = write_audio(tmp_path / "short.wav", tones(0.5, 16000, 1), 16000)
    assert load_audio(path, min_duration=0.5).num_frames == 8000
    with pytest.raises(AudioLoadError) as caught:
        load_audio(path, min_duration=1.0)
    assert caught.value.reason == "too_short"


def test_iter_chunks_checks_the_path_at_once(tmp_path):
    with pytest.raises(AudioLoadError):
        iter_audio_chunks(tmp_path / "missing.flac")


def test_cut_wav_returns_what_it_has_and_warns(tmp_path):
    original = tones(1.0, 16000, 2)
    good = write_audio(tmp_path / "good.wav", original, 16000)
    path = tmp_path / "interrupted.wav"
    path.write_bytes(good.read_bytes()[: 44 + 4 * 6000])  # header + 6000 stereo s16 frames
    with pytest.warns(TruncatedAudioWarning, match="interrupted.wav"):
        audio = load_audio(path)
    assert audio.num_frames == 6000
    np.testing.assert_allclose(audio.samples, original[:, :6000], atol=1e-4)
    with pytest.warns(TruncatedAudioWarning):
        chunks = list(iter_audio_chunks(path, chunk_seconds=0.1))
    assert sum(chunk.shape[1] for chunk in chunks) == 6000


def test_slice_before_the_cut_does_not_warn(tmp_path):
    good = write_audio(tmp_path / "good.wav", tones(1.0, 16000, 1), 16000)
    path = tmp_path / "interrupted.wav"
    path.write_bytes(good.read_bytes()[: 44 + 2 * 8000])
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncatedAudioWarning)
        assert load_audio(path, duration=0.25).num_frames == 4000


def test_cut_flac_returns_a_prefix_and_warns(tmp_path):
    original = tones(4.0, 16000, 1)
    good = write_audio(tmp_path / "good.flac", original, 16000)
    path = tmp_path / "interrupted.flac"
    data = good.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.warns(TruncatedAudioWarning, match="interrupted.flac"):
        audio = load_audio(path, chunk_seconds=1.0)
    assert 1.5 < audio.duration < 4.0
    np.testing.assert_allclose(audio.samples, original[:, : audio.num_frames], atol=1e-4)


def _corruptions(data: bytes) -> Iterator[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    for keep in (4, 50, 300, len(data) // 2, len(data) - 7):
        yield f"cut{keep}", data[:keep]
    for start in (0, 8, 40, len(data) // 2):
        damaged = bytearray(data)
        damaged[start : start + 64] = rng.bytes(len(damaged[start : start + 64]))
        yield f"noise@{start}", bytes(damaged)


@pytest.mark.parametrize("extension", ["wav", "flac", "ogg", "opus", "mp3", "m4a", "aac"])
def test_damaged_files_never_raise_library_errors(tmp_path, extension):
    good = write_audio(tmp_path / f"good.{extension}", tones(1.0, 16000, 2), 16000)
    for label, content in _corruptions(good.read_bytes()):
        path = tmp_path / f"{label}.{extension}"
        path.write_bytes(content)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncatedAudioWarning)
            try:
                audio = load_audio(path, sample_rate=8000, mono=True)
            except AudioLoadError as error:
                assert error.reason in AudioLoadError.REASONS
                continue
        assert audio.samples.ndim == 2 and audio.samples.dtype == np.float32


def test_soundfile_reads_what_it_wrote(tmp_path):
    # Guard for the fixtures above: the good file really is good.
    path = write_audio(tmp_path / "good.wav", tones(0.5, 16000, 1), 16000)
    assert sf.info(path).frames == 8000
