"""Synth shards load back with pandas, Hugging Face datasets and Ray; FLAC cells decode."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_prep.read import (
    decode_audio_bytes,
    iter_rows,
    load_hf_dataset,
    read_pandas,
    read_ray_dataset,
    shard_files,
)
from data_prep.synth import SYNTH_SCHEMA, run_synth
from tests.data_prep.synth_helpers import tatoeba_pair

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    eng, deu = tatoeba_pair("de")
    out = tmp_path_factory.mktemp("synth-de-en")
    # German -> English this time, two shards
    run_synth(deu, eng, "de", "en", out, speakers=2, limit=4, rows_per_shard=2, workers=2)
    return out


def test_pandas(synth_dir: Path) -> None:
    files = shard_files(synth_dir)
    assert [f.name for f in files] == ["part-00000.parquet", "part-00001.parquet"]
    df = pd.read_parquet(files)  # the directory also holds JSON side files: pass the shards
    assert len(df) == 4 and list(df.columns) == SYNTH_SCHEMA.names
    assert read_pandas(synth_dir, columns=["id", "src_text"]).shape == (4, 2)
    samples, rate = decode_audio_bytes(df["src_audio_flac"].iloc[0])
    assert samples.dtype == np.float32 and samples.ndim == 1 and rate == 16000
    assert len(samples) / rate == pytest.approx(df["src_duration"].iloc[0])
    assert [row["id"] for row in iter_rows(synth_dir, columns=["id"])] == list(df["id"])


def test_hugging_face_datasets(synth_dir: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    direct = datasets.load_dataset(
        "parquet",
        data_files=f"{synth_dir}/shards/*.parquet",
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )
    helper = load_hf_dataset(synth_dir, cache_dir=str(tmp_path / "hf"))
    assert len(direct) == len(helper) == 4
    row = helper[0]
    assert row["src_lang"] == "de" and row["tgt_lang"] == "en"
    samples, rate = decode_audio_bytes(row["tgt_audio_flac"])
    assert len(samples) / rate == pytest.approx(row["tgt_duration"])


def test_ray_data(synth_dir: Path) -> None:
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        rows = read_ray_dataset(synth_dir).take_all()
        assert len(rows) == 4
        assert sorted(r["id"] for r in rows) == sorted(read_pandas(synth_dir)["id"])
        samples, rate = decode_audio_bytes(rows[0]["src_audio_flac"])
        assert rate == 16000 and samples.size > 0
    finally:
        if started:
            ray.shutdown()
