from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from data_prep.shards import (
    ShardWriter,
    clean_partial,
    committed_sources,
    read_sidecar,
    shard_paths,
    sidecar_paths,
)


def _result(sid: str, n: int, *, errors: int = 0) -> dict:
    rows = [
        {
            "id": f"{sid}-{i:05d}",
            "source_id": sid,
            "source_path": f"/x/{sid}.wav",
            "start": float(i),
            "end": float(i) + 1,
            "duration": 1.0,
            "sample_rate": 16000,
            "text": "hi",
            "speaker_embedding": np.ones(4, np.float32),
            "tokens_mulaw": np.arange(6, dtype=np.int32).reshape(1, 6) + i,
            "tokens_mulaw_frame_rate": 8000.0,
        }
        for i in range(n)
    ]
    return {
        "source_id": sid,
        "path": f"/x/{sid}.wav",
        "duration": float(n) + 0.5,
        "rows": rows,
        "dropped": [{"segment": None, "stage": "segment", "reason": "non_speech", "seconds": 0.5}],
        "errors": [{"path": f"/x/{sid}.wav", "stage": "decode", "reason": "x"}] * errors,
    }


def test_groups_never_split_and_bounds_respected(tmp_path) -> None:
    with ShardWriter(tmp_path, token_columns=["tokens_mulaw"], max_rows=5) as writer:
        for sid, n in [("a", 3), ("b", 3), ("c", 7), ("d", 0), ("e", 1)]:
            writer.add(_result(sid, n, errors=int(n == 0)))
    shards = shard_paths(tmp_path)
    groups = []
    for shard in shards:
        table = pq.read_table(shard)
        assert table.num_rows <= 5 or len(set(table["source_id"].to_pylist())) == 1
        groups.append(sorted(set(table["source_id"].to_pylist())))
        assert os.path.exists(sidecar_paths(shard)[0]) and os.path.exists(sidecar_paths(shard)[1])
    assert groups == [["a"], ["b"], ["c"], ["e"]]
    done = committed_sources(tmp_path)
    assert sorted(done) == ["a", "b", "c", "d", "e"]
    assert done["d"]["status"] == "error" and done["c"]["segments"] == 7
    table = pq.read_table(shards[0])
    assert table["tokens_mulaw"].to_pylist()[1] == [[1, 2, 3, 4, 5, 6]]
    assert table.schema.field("tokens_mulaw").type.value_type.value_type == "int32"
    errors = [r for s in shards for r in read_sidecar(sidecar_paths(s)[0])]
    assert [e["path"] for e in errors] == ["/x/d.wav"]


def test_interrupted_commit_leaves_nothing_visible_and_is_cleaned(tmp_path, monkeypatch) -> None:
    writer = ShardWriter(tmp_path, token_columns=["tokens_mulaw"], max_rows=100)
    writer.add(_result("a", 2))
    writer.flush()
    writer.add(_result("b", 2))

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(KeyboardInterrupt):
        writer.flush()
    monkeypatch.undo()
    # The failed shard is invisible: no parquet, no tmp; only its orphan sidecars remain.
    assert [p.name for p in shard_paths(tmp_path)] == ["part-00000.parquet"]
    assert not list((tmp_path / "shards").glob("*.tmp"))
    assert sorted(committed_sources(tmp_path)) == ["a"]
    (tmp_path / "shards" / ".part-00009.parquet.tmp").write_bytes(b"half a shard")
    removed = {p.name for p in clean_partial(tmp_path)}
    assert removed == {
        "_part-00001.errors.jsonl",
        "_part-00001.dropped.jsonl",
        ".part-00009.parquet.tmp",
    }
    # A new writer continues the numbering after the committed shards.
    with ShardWriter(tmp_path, token_columns=["tokens_mulaw"]) as again:
        again.add(_result("b", 2))
    assert [p.name for p in shard_paths(tmp_path)] == ["part-00000.parquet", "part-00001.parquet"]


def test_exception_inside_context_discards_the_buffer(tmp_path) -> None:
    with pytest.raises(RuntimeError), ShardWriter(tmp_path) as writer:
        writer.add(_result("a", 1))
        raise RuntimeError("crash")
    assert shard_paths(tmp_path) == [] and committed_sources(tmp_path) == {}


def test_flac_column_and_empty_shard_schema(tmp_path) -> None:
    with ShardWriter(tmp_path, token_columns=["tokens_mulaw"], audio_flac=True) as writer:
        writer.add(_result("only-dropped", 0))
    table = pq.read_table(shard_paths(tmp_path)[0])
    assert table.num_rows == 0 and "audio_flac" in table.column_names
