"""Synthetic parallel speech: engines, the paired corpus on all six Tatoeba pairs, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pytest

from data_prep.read import decode_audio_bytes, read_pandas
from data_prep.synth import (
    EspeakEngine,
    SynthInputError,
    TTSError,
    UnknownTTSEngineError,
    VoiceSpec,
    get_tts_engine,
    run_synth,
)
from data_prep.synth.corpus import clean_text
from pipelines.cli import main
from tests.data_prep.synth_helpers import OWN_EN, OWN_FR, TATOEBA, tatoeba_pair, write_pair

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")
LINES, SPEAKERS = 3, 2


def median_f0(samples: np.ndarray, rate: int) -> float:
    f0 = librosa.yin(samples, fmin=50, fmax=500, sr=rate, frame_length=1024)
    rms = librosa.feature.rms(y=samples, frame_length=1024, hop_length=256)[0][: len(f0)]
    return float(np.median(f0[rms > 0.3 * rms.max()]))


@pytest.fixture(scope="module")
def six_pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """en -> xx for the six DS2ST-LM languages: 3 line pairs x 2 speakers each."""
    outputs = {}
    for language in TATOEBA:
        eng, other = tatoeba_pair(language)
        out = tmp_path_factory.mktemp(f"synth-en-{language}")
        run_synth(
            eng,
            other,
            "en",
            language,
            out,
            speakers=SPEAKERS,
            voices_per_line=SPEAKERS,
            limit=LINES,
            workers=2,
        )
        outputs[language] = out
    return outputs


@needs_espeak
@pytest.mark.parametrize("language", list(TATOEBA))
def test_six_pairs_paired_rows(six_pairs: dict[str, Path], language: str) -> None:
    out = six_pairs[language]
    eng, other = tatoeba_pair(language)
    df = read_pandas(out)
    assert len(df) == LINES * SPEAKERS
    assert set(df["pair"]) == {f"en-{language}"}
    assert set(df["speaker"]) == {"spk000", "spk001"}
    src_lines = eng.read_text(encoding="utf-8").splitlines()[:LINES]
    tgt_lines = other.read_text(encoding="utf-8").splitlines()[:LINES]
    for row in df.itertuples():
        assert row.src_text == clean_text(src_lines[row.line])  # text preserved
        assert row.tgt_text == clean_text(tgt_lines[row.line])
        for side in ("src", "tgt"):
            samples, rate = decode_audio_bytes(getattr(row, f"{side}_audio_flac"))
            assert rate == row.sample_rate == 16000
            assert getattr(row, f"{side}_duration") > 0.3
            assert len(samples) / rate == pytest.approx(getattr(row, f"{side}_duration"))
            assert np.abs(samples).max() > 0.05
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == LINES * SPEAKERS and manifest["lines"] == LINES
    assert manifest["hours"] == pytest.approx(
        (df["src_duration"].sum() + df["tgt_duration"].sum()) / 3600
    )
    assert (out / "errors.jsonl").read_text() == ""


@needs_espeak
@pytest.mark.parametrize("language", list(TATOEBA))
def test_six_pairs_speakers_differ(six_pairs: dict[str, Path], language: str) -> None:
    df = read_pandas(six_pairs[language])
    groups = dict(list(df.groupby("speaker")))
    params = {spk: json.loads(group["voice_params"].iloc[0]) for spk, group in groups.items()}
    assert params["spk000"] != params["spk001"]
    for spk, group in df.groupby("speaker"):
        assert group["voice_params"].nunique() == 1  # one voice per speaker, both sides
        assert params[spk]["tgt_voice"].split("+")[1] == params[spk]["variant"]
    f0 = {
        spk: np.median(
            [
                median_f0(*decode_audio_bytes(data))
                for side in ("src", "tgt")
                for data in group[f"{side}_audio_flac"]
            ]
        )
        for spk, group in df.groupby("speaker")
    }
    assert max(f0.values()) / min(f0.values()) > 1.2, f0


def test_voices_deterministic_per_speaker() -> None:
    engine = EspeakEngine()
    a, b = engine.voice_for_speaker("spk007", "fr"), engine.voice_for_speaker("spk007", "hi")
    assert (a.variant, a.pitch, a.rate) == (b.variant, b.pitch, b.rate)
    assert a == EspeakEngine().voice_for_speaker("spk007", "fr")
    voices = {engine.voice_for_speaker(f"spk{i:03d}", "en") for i in range(8)}
    assert len(voices) == 8
    assert {v.variant for v in engine.voices("ur")} >= {"m1", "m7", "f1", "f4"}
    assert isinstance(get_tts_engine("espeak-ng"), EspeakEngine)
    with pytest.raises(UnknownTTSEngineError, match="espeak-ng"):
        get_tts_engine("no-such-tts")
    with pytest.raises(TTSError, match="unsupported language"):
        engine.voices("xx")


def test_missing_binary_names_text_and_language(tmp_path: Path) -> None:
    engine = EspeakEngine(binary=str(tmp_path / "no-espeak-ng"))
    voice = VoiceSpec("espeak-ng", "fr", "fr-fr", "m3")
    with pytest.raises(TTSError) as caught:
        engine.synthesize("Bonjour tout le monde.", "fr", voice)
    assert caught.value.reason == "engine_missing"
    assert "Bonjour tout le monde." in str(caught.value) and "'fr'" in str(caught.value)
    src, tgt = write_pair(tmp_path / "text", OWN_EN, OWN_FR)
    with pytest.raises(TTSError, match="engine missing"):
        run_synth(src, tgt, "en", "fr", tmp_path / "out", engine=engine)


def test_failing_binary_reports_stderr(tmp_path: Path) -> None:
    fake = tmp_path / "espeak-ng"
    fake.write_text("#!/bin/sh\necho 'synthesis exploded' >&2\nexit 3\n")
    fake.chmod(0o755)
    engine = EspeakEngine(binary=str(fake))
    with pytest.raises(TTSError, match="synthesis exploded") as caught:
        engine.synthesize("Hola.", "es", engine.voice_for_speaker("spk000", "es"))
    assert caught.value.reason == "engine_failed" and caught.value.text == "Hola."


class _FlakyEngine(EspeakEngine):
    """Fails on one sentence, as a real engine might on text it cannot handle."""

    def synthesize(self, text: str, language: str, voice: VoiceSpec) -> tuple[np.ndarray, int]:
        if "chaise" in text:
            raise TTSError(self.name, language, text, "engine_failed", "cannot")
        return super().synthesize(text, language, voice)


@needs_espeak
def test_bad_lines_go_to_errors_jsonl_and_cli(tmp_path: Path) -> None:
    src_lines = [*OWN_EN, "", "word " * 30]
    tgt_lines = [*OWN_FR, "Vide à gauche.", "mot " * 30]
    src, tgt = write_pair(tmp_path / "text", src_lines, tgt_lines)
    out = tmp_path / "out"
    report = run_synth(
        src,
        tgt,
        "en",
        "fr",
        out,
        speakers=3,
        engine=_FlakyEngine(),
        max_chars=100,
        workers=2,
        rows_per_shard=2,
    )
    assert report.rows == 2
    assert dict(report.skipped) == {"empty": 1, "too_long": 1, "tts_engine_failed": 1}
    records = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    assert {(r["line"], r["reason"], r["side"]) for r in records} == {
        (1, "tts_engine_failed", "tgt"),
        (3, "empty", "src"),
        (4, "too_long", "both"),
    }
    df = read_pandas(out)
    assert sorted(df["line"]) == [0, 2] and list(df["speaker"]) == ["spk000", "spk002"]
    # a second run with the same settings resumes: nothing is redone
    again = run_synth(src, tgt, "en", "fr", out, speakers=3, max_chars=100, rows_per_shard=2)
    assert again.rows == 0 and again.resumed_lines == 5
    with pytest.raises(SynthInputError, match="another run"):
        run_synth(src, tgt, "en", "fr", out, speakers=4)
    # the CLI on a fresh folder
    cli_out = tmp_path / "cli"
    code = main(
        [
            "synth",
            "--pairs",
            str(src),
            str(tgt),
            "--src-lang",
            "en",
            "--tgt-lang",
            "fr",
            "--out",
            str(cli_out),
            "--speakers",
            "2",
            "--limit",
            "2",
        ]
    )
    assert code == 0
    assert len(pd.read_parquet(cli_out / "shards")) == 2


def test_misaligned_and_bad_language(tmp_path: Path) -> None:
    src, tgt = write_pair(tmp_path, OWN_EN, OWN_FR[:2])
    with pytest.raises(SynthInputError, match="aligned"):
        run_synth(src, tgt, "en", "fr", tmp_path / "out")
    src, tgt = write_pair(tmp_path, OWN_EN, OWN_FR)
    with pytest.raises(TTSError, match="unsupported language"):
        run_synth(src, tgt, "en", "klingon", tmp_path / "out")
    assert (
        main(
            [
                "synth",
                "--pairs",
                str(src),
                str(tgt),
                "--src-lang",
                "en",
                "--tgt-lang",
                "xx",
                "--out",
                str(tmp_path / "cli"),
            ]
        )
        == 2
    )
