"""ASR that knows its limits: no English transcript is invented for other speech.

The default ASR, Whisper tiny.en, is English-only. Run on the shared multilingual recordings
(English, and German, Spanish, French, Italian, Japanese, Korean, Portuguese):
- with no language given, its evidence (token log-probability, no-speech probability,
  compression ratio) decides, and only English speech keeps ASR text;
- with the languages given, it is not run on the non-English files at all.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from audiotok.metrics.text import character_error_rate
from data_prep import PrepareConfig, prepare
from data_prep.shards import shard_paths

ENGLISH = {"test.wav", "diarization_test.wav"}


def _config(**asr: object) -> PrepareConfig:
    return PrepareConfig.from_dict(
        {
            "asr": {"enabled": True, **asr},
            "tokenize": {"specs": ["mulaw"]},
            "speaker": {"enabled": False},
        }
    )


def _rows(out: Path) -> list[dict]:
    return [row for shard in shard_paths(out) for row in pq.read_table(shard).to_pylist()]


def _transcripts(folder: Path) -> dict[str, tuple[str, str]]:
    with open(folder / "transcripts.tsv", encoding="utf-8") as f:
        return {
            r["file"]: (r["language"], r["transcript"]) for r in csv.DictReader(f, delimiter="\t")
        }


@pytest.fixture(scope="module")
def speech(shared_data: Path) -> list[Path]:
    pytest.importorskip("faster_whisper")
    folder = shared_data / "real" / "multilingual"
    return [*sorted(folder.glob("test*.wav")), folder / "diarization_test.wav"]


def test_unknown_language_gets_no_made_up_english(speech, shared_data, tmp_path) -> None:
    out = tmp_path / "out"
    prepare(speech, out, _config(), use_ray=False, progress=False)
    rows = _rows(out)
    names = {Path(r["source_path"]).name for r in rows}
    assert names == {p.name for p in speech}  # every file kept: its segments are training data
    reference = _transcripts(shared_data / "real" / "multilingual")["test.wav"][1]
    for row in rows:
        name = Path(row["source_path"]).name
        assert row["asr_avg_logprob"] is not None  # the evidence is in the shard
        if name in ENGLISH:
            assert row["text"] and row["text_source"] == "asr", row
            assert row["language"] == "en" and row["language_source"] == "asr"
            assert row["no_text_reason"] is None
        else:
            assert row["text"] == "" and row["text_source"] is None, (name, row["asr_text"])
            assert row["no_text_reason"] in {"asr_low_logprob", "asr_repetitive", "asr_empty"}
            assert row["language"] is None and row["language_source"] is None
            assert row["asr_text"] is not None  # what tiny.en wrote is kept for inspection
    [english] = [r for r in rows if Path(r["source_path"]).name == "test.wav"]
    assert character_error_rate(reference, english["text"]) < 0.15


def test_given_languages_keep_tiny_en_off_other_speech(speech, shared_data, tmp_path) -> None:
    """A manifest gives every file's language and transcript, except test_es.wav's text."""
    folder = shared_data / "real" / "multilingual"
    facts = _transcripts(folder)
    manifest = tmp_path / "corpus.tsv"
    lines = ["path\tlanguage\ttext"]
    for path in speech:
        language, text = facts.get(path.name, ("en", ""))
        lines.append(f"{path}\t{language}\t{'' if path.name == 'test_es.wav' else text}")
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    prepare([manifest], out, _config(), use_ray=False, progress=False)
    rows = _rows(out)
    for row in rows:
        name = Path(row["source_path"]).name
        assert row["language_source"] == "given"
        if name in ENGLISH:
            assert row["language"] == "en" and row["asr_text"]  # tiny.en ran
            assert row["text"]
        else:
            assert row["language"] == facts[name][0]
            assert row["asr_text"] is None and row["asr_avg_logprob"] is None  # never ran
            if name == "test_es.wav":
                assert row["text"] == "" and row["no_text_reason"] == "asr_language_not_covered"
            else:
                assert row["text"] == facts[name][1] and row["text_source"] == "given"
    [english] = [r for r in rows if Path(r["source_path"]).name == "test.wav"]
    assert english["text_source"] == "given" and english["asr_cer"] < 0.5  # cross-checked


def test_require_text_drops_what_has_no_usable_text(speech, tmp_path) -> None:
    files = [p for p in speech if p.name in {"test.wav", "test_fr.wav", "test_ko.wav"}]
    out = tmp_path / "out"
    prepare(files, out, _config(require_text=True), use_ray=False, progress=False)
    assert {Path(r["source_path"]).name for r in _rows(out)} == {"test.wav"}
    lines = (out / "dropped.jsonl").read_text(encoding="utf-8").splitlines()
    asr_drops = {
        Path(record["path"]).name: record["reason"]
        for record in map(json.loads, lines)
        if record["stage"] == "asr"
    }
    assert set(asr_drops) == {"test_fr.wav", "test_ko.wav"}
    assert set(asr_drops.values()) <= {"asr_low_logprob", "asr_repetitive", "asr_empty"}
