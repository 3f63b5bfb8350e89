"""The demo's prepare run on the embedded sample, and reading its shards back."""

from __future__ import annotations

import io

import soundfile as sf

from pipelines.demo import run_prepare_demo


def test_prepare_demo_shards_read_back_with_pandas_and_datasets(tmp_path) -> None:
    import datasets
    import pandas as pd

    shards, manifest = run_prepare_demo(tmp_path)
    files = sorted(str(p) for p in (shards / "shards").glob("part-*.parquet"))
    assert files and manifest["files"] == {"in": 1, "kept": 1, "dropped": 0, "failed": 0}
    # the shard folder holds only shards to readers: sidecars and temporaries are _/. files
    frame = pd.read_parquet(shards / "shards")
    assert len(frame) == manifest["segments"]["kept"] >= 1
    row = frame.iloc[0]
    assert row["sample_rate"] == 16000 and len(row["speaker_embedding"]) == 256
    assert row["tokens_opus_12kbps_frame_rate"] > 0 and len(row["tokens_mulaw"]) == 1
    audio, rate = sf.read(io.BytesIO(row["audio_flac"]))
    assert rate == 16000 and abs(len(audio) / rate - row["duration"]) < 1e-3
    dataset = datasets.load_dataset(
        "parquet",
        data_files=str(shards / "shards" / "*.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )
    assert dataset.num_rows == len(frame) and "tokens_mulaw" in dataset.column_names
