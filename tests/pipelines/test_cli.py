from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.tokens import Tokens, load_tokens_arrow
from pipelines.cli import main
from tests.signals import speech_like


def _corpus(root: Path) -> tuple[list[Path], list[Path]]:
    good = []
    for i, (seconds, rate) in enumerate([(1.0, 16000), (1.7, 44100), (0.6, 8000)]):
        path = root / ("sub" if i == 2 else ".") / f"good{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, speech_like(seconds, rate, seed=i), rate)
        good.append(path)
    bad = [root / "empty.wav", root / "text.flac"]
    bad[0].write_bytes(b"")
    bad[1].write_text("this is not audio at all, just words\n" * 20)
    return good, bad


def test_tokenize_skips_bad_files_and_reports_them(tmp_path, capsys) -> None:
    good, _bad = _corpus(tmp_path / "in")
    out = tmp_path / "out"
    code = main(["tokenize", str(tmp_path / "in"), "-t", "mulaw", "-o", str(out)])
    assert code == 0
    written = sorted(p.relative_to(out) for p in out.rglob("*.npz"))
    assert written == sorted(
        Path(p.relative_to(tmp_path / "in")).with_suffix(".wav.npz") for p in good
    )
    tokens = Tokens.load(out / "good1.wav.npz")
    assert tokens.spec == "mulaw" and tokens.duration == pytest.approx(1.7, abs=0.01)
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert sorted(Path(e["path"]).name for e in errors) == ["empty.wav", "text.flac"]
    assert all(e["reason"] for e in errors)
    captured = capsys.readouterr()
    assert "3 file(s) tokenized" in captured.out and "2 failed" in captured.out


def test_tokenize_to_arrow(tmp_path) -> None:
    good, _ = _corpus(tmp_path / "in")
    out = tmp_path / "out"
    assert (
        main(["tokenize", *map(str, good), "-t", "g722", "-o", str(out), "--format", "arrow"]) == 0
    )
    items = load_tokens_arrow(out / "tokens.arrow")
    assert [t.spec for t in items] == ["g722"] * 3


def test_tokenize_exits_nonzero_when_nothing_succeeds(tmp_path) -> None:
    _, bad = _corpus(tmp_path / "in")
    assert main(["tokenize", *map(str, bad), "-t", "mulaw", "-o", str(tmp_path / "o")]) == 1


def test_unknown_tokenizer_is_a_clean_error(tmp_path, capsys) -> None:
    code = main(["tokenize", str(tmp_path), "-t", "nope", "-o", str(tmp_path / "o")])
    assert code == 2
    assert "unknown tokenizer 'nope'" in capsys.readouterr().err


def test_list_tokenizers_prints_every_preset(capsys) -> None:
    assert main(["list-tokenizers"]) == 0
    out = capsys.readouterr().out
    for spec in ("encodec-24khz@6kbps", "opus@12kbps", "codec2@3200", "mimi@8"):
        assert spec in out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert lines["mulaw"].endswith("available")
    # no weights are cached here: the status says which id is needed instead of "available"
    assert "needs weights: facebook/encodec_24khz" in lines["encodec-24khz@6kbps"]


def test_info_describes_audio_and_tokens(tmp_path, capsys) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros((22050, 2), dtype=np.float32), 22050)
    assert main(["info", str(wav)]) == 0
    out = capsys.readouterr().out
    assert "22050 Hz" in out and "channels:    2" in out and "1.000 s" in out
    assert main(["tokenize", str(wav), "-t", "mulaw", "-o", str(tmp_path / "t")]) == 0
    assert main(["info", str(tmp_path / "t" / "a.wav.npz")]) == 0
    assert "tokenizer:   mulaw" in capsys.readouterr().out


def test_info_on_corrupt_file_is_a_clean_error(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    assert main(["info", str(bad)]) == 2
    assert "bad.wav" in capsys.readouterr().err


def test_demo_writes_tokens_and_audio(tmp_path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "original.wav").is_file()
    assert (tmp_path / "opus_6kbps.wav").is_file() and (tmp_path / "opus_6kbps.npz").is_file()
    assert str(tmp_path.resolve()) in out
    original = sf.info(tmp_path / "original.wav")
    decoded, rate = sf.read(tmp_path / "mulaw.wav")
    # decoded audio is trimmed to the input's length at the codec's own rate
    assert rate == 8000 and len(decoded) == round(original.frames * 8000 / original.samplerate)


def test_tokenize_with_s3_weights_from_a_directory(tmp_path, capsys) -> None:
    """`audiotok tokenize --tokenizer s3-v2 --weights DIR` with a safetensors checkpoint."""
    import warnings

    from audiotok.tokenizers import get_tokenizer
    from audiotok.tokenizers.s3 import S3Tokenizer, save_pretrained

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        random_model = get_tokenizer("s3-v2", debug=True)
    assert isinstance(random_model, S3Tokenizer)
    save_pretrained(random_model.model, tmp_path / "weights")
    wav = tmp_path / "in" / "speech.wav"
    wav.parent.mkdir()
    sf.write(wav, speech_like(2.0, 16000, seed=4), 16000)
    out = tmp_path / "out"
    argv = ["tokenize", str(wav), "-t", "s3-v2", "--weights", str(tmp_path / "weights")]
    assert main([*argv, "-o", str(out)]) == 0
    tokens = Tokens.load(out / "speech.wav.npz")
    assert tokens.spec == "s3-v2" and tokens.num_frames == 50  # 2 s at 25 Hz
    expected = random_model.encode_one(speech_like(2.0, 16000, seed=4), 16000)
    assert torch.equal(tokens.codes, expected.codes)


def test_tokenize_s3_without_weights_is_a_clean_error(tmp_path, capsys) -> None:
    code = main(["tokenize", str(tmp_path), "-t", "s3-v2", "-o", str(tmp_path / "o")])
    assert code == 2
    assert "s3-v2" in capsys.readouterr().err
