"""WebDataset export of synth and prepare-style shards, read back with ``webdataset``."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_prep.export import ExportError, export_webdataset, tar_key
from data_prep.read import decode_audio_bytes, encode_flac_bytes, read_pandas
from data_prep.synth import run_synth
from pipelines.cli import main
from tests.data_prep.synth_helpers import OWN_EN, OWN_FR, write_pair

wds = pytest.importorskip("webdataset")


def read_tars(folder: Path) -> list[dict]:
    urls = [str(path) for path in sorted(folder.glob("*.tar"))]
    return list(wds.WebDataset(urls, shardshuffle=False))


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")
def test_synth_shards_to_webdataset(tmp_path: Path) -> None:
    src, tgt = write_pair(tmp_path / "text", OWN_EN, OWN_FR)
    shards = tmp_path / "synth"
    run_synth(src, tgt, "en", "fr", shards, speakers=2, voices_per_line=2, workers=2)
    report = export_webdataset(shards, tmp_path / "wds", samples_per_tar=4)
    assert report.samples == 6 and report.tars == ["shard-000000.tar", "shard-000001.tar"]
    samples = read_tars(tmp_path / "wds")
    table = read_pandas(shards).set_index("id")
    assert [s["__key__"] for s in samples] == list(table.index)
    for sample in samples:
        assert {"src.flac", "tgt.flac", "json"} <= set(sample)
        meta = json.loads(sample["json"])
        row = table.loc[meta["id"]]
        assert meta["src_text"] == row["src_text"] and meta["tgt_text"] == row["tgt_text"]
        assert "src_audio_flac" not in meta
        audio, rate = decode_audio_bytes(sample["tgt.flac"])
        assert rate == 16000 and len(audio) / rate == pytest.approx(meta["tgt_duration"])
    index = json.loads((tmp_path / "wds" / "index.json").read_text())
    assert [t["samples"] for t in index["tars"]] == [4, 2]
    assert main(["export-webdataset", str(shards), "--out", str(tmp_path / "cli")]) == 0
    assert len(read_tars(tmp_path / "cli")) == 6


def test_prepare_style_shards_with_tokens(tmp_path: Path) -> None:
    rate = 16000
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate // 2) / rate)).astype(np.float32)
    codes = [np.arange(6, dtype=np.int32).reshape(2, 3) + i for i in range(3)]
    table = pa.table(
        {
            "id": ["clip/a.wav#0", "clip/a.wav#1", "clip/b.wav#0"],
            "duration": [0.5, 0.5, 0.5],
            "sample_rate": pa.array([rate] * 3, pa.int32()),
            "text": ["one", None, "three"],
            "speaker_embedding": [[0.1, 0.2], None, [0.3, 0.4]],
            "tokens_encodec-24khz@1.5kbps": pa.array(
                [c.tolist() for c in codes], pa.list_(pa.list_(pa.int32()))
            ),
            "audio_flac": [encode_flac_bytes(tone, rate)] * 3,
        }
    )
    shards = tmp_path / "prepared"
    shards.mkdir()
    pq.write_table(table, shards / "part-00000.parquet")
    (shards / "_part-00000.errors.jsonl").write_text("")
    export_webdataset(shards, tmp_path / "wds")
    samples = read_tars(tmp_path / "wds")
    assert [s["__key__"] for s in samples] == [tar_key(i) for i in table["id"].to_pylist()]
    extension = "tokens_encodec-24khz@1_5kbps.npy"
    for sample, expected in zip(samples, codes, strict=True):
        assert set(sample) >= {"flac", "json", extension}
        np.testing.assert_array_equal(np.load(io.BytesIO(sample[extension])), expected)
        audio, _ = decode_audio_bytes(sample["flac"])
        assert np.abs(audio - tone).max() < 1e-3
    meta = json.loads(samples[1]["json"])
    assert meta["id"] == "clip/a.wav#1" and meta["text"] is None
    assert meta["token_files"] == {"tokens_encodec-24khz@1.5kbps": extension}
    with pytest.raises(ExportError, match="no Parquet shards"):
        export_webdataset(tmp_path / "wds", tmp_path / "nothing")
