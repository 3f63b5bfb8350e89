from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf

from data_prep.discover import content_hash, discover, source_id
from tests.signals import speech_like


def _wav(path: Path, seconds: float = 0.5, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, speech_like(seconds, 16000, seed=seed), 16000)
    return path


def test_directory_with_sidecar_transcripts_and_stable_ids(tmp_path) -> None:
    a = _wav(tmp_path / "in" / "a.wav", seed=1)
    _wav(tmp_path / "in" / "sub" / "b.flac", seed=2)
    (tmp_path / "in" / "notes.md").write_text("not audio")
    a.with_suffix(".txt").write_text("  hello   world \n")
    (tmp_path / "in" / "sub" / "b.lab").write_text("label text")
    sources = discover([tmp_path / "in"])
    assert [s.relative for s in sources] == ["a.wav", "sub/b.flac"]
    assert [s.text for s in sources] == ["hello world", "label text"]
    assert sources[0].source_id == source_id("a.wav", content_hash(a))
    # Same content and relative path elsewhere: same id; changed content: another id.
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "a.wav").write_bytes(a.read_bytes())
    assert discover([moved])[0].source_id == sources[0].source_id
    _wav(moved / "a.wav", seed=9)
    assert discover([moved])[0].source_id != sources[0].source_id


def test_glob_plain_file_and_duplicates(tmp_path) -> None:
    a = _wav(tmp_path / "x" / "a.wav")
    _wav(tmp_path / "x" / "b.wav", seed=3)
    sources = discover([str(tmp_path / "x" / "*.wav"), a])
    assert [s.relative for s in sources] == ["a.wav", "b.wav"]  # a.wav once


def test_tsv_csv_and_jsonl_manifests(tmp_path) -> None:
    _wav(tmp_path / "audio" / "a.wav")
    _wav(tmp_path / "audio" / "b.wav", seed=4)
    (tmp_path / "m.tsv").write_text(
        "file\tlanguage\ttranscript\tspeaker\naudio/a.wav\ten\tfirst one\tspk1\n"
        "audio/b.wav\tde\tzweite\tspk2\n"
    )
    (tmp_path / "m.csv").write_text("path,text\naudio/a.wav,first one\n")
    lines = [
        {"audio_path": "audio/b.wav", "start": 0.0, "end": 0.2, "text": "one"},
        {"audio_path": "audio/b.wav", "start": 0.25, "end": 0.4, "text": "two"},
        {"audio_path": str(tmp_path / "audio" / "a.wav"), "sentence": "abs"},
    ]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    tsv = discover([tmp_path / "m.tsv"])
    assert [(s.text, s.language, s.speaker) for s in tsv] == [
        ("first one", "en", "spk1"),
        ("zweite", "de", "spk2"),
    ]
    assert discover([tmp_path / "m.csv"])[0].source_id == tsv[0].source_id
    jsonl = discover([tmp_path / "m.jsonl"])
    assert jsonl[0].timed == [(0.0, 0.2, "one"), (0.25, 0.4, "two")] and jsonl[0].text is None
    assert jsonl[1].text == "abs"


def test_kaldi_directory_with_segments_and_pipes(tmp_path) -> None:
    data = tmp_path / "kaldi"
    _wav(data / "wav" / "r1.wav", seconds=1.0)
    _wav(data / "wav" / "r2.wav", seconds=1.0, seed=5)
    (data / "wav.scp").write_text("r1 wav/r1.wav\nr2 wav/r2.wav\nr3 sox x.wav -t wav - |\n")
    (data / "text").write_text("u1 hello there\nu2 general\n")
    (data / "utt2spk").write_text("u1 alice\nu2 alice\n")
    (data / "segments").write_text("u1 r1 0.0 0.4\nu2 r1 0.5 0.9\n")
    sources = discover([data])
    assert len(sources) == 3
    r1 = sources[0]
    assert r1.timed == [(0.0, 0.4, "hello there"), (0.5, 0.9, "general")]
    assert r1.speaker == "alice"
    assert sources[2].error is not None and sources[2].error[0] == "unsupported_input"
    # wav.scp named directly, without segments: text per recording.
    (data / "segments").unlink()
    (data / "text").write_text("r2 just text\n")
    by_path = {Path(s.path).name: s for s in discover([data / "wav.scp"])}
    assert by_path["r2.wav"].text == "just text"
