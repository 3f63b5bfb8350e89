"""The Ray Data executor (one pool per model stage, and fused) gives what the plain loop gives."""

from __future__ import annotations

from data_prep import prepare
from tests.data_prep.test_prepare import corrupt_files, fsdd_files, shard_rows, small_config


def test_ray_matches_the_plain_loop(shared_data, tmp_path) -> None:
    import ray

    files = [*fsdd_files(shared_data, 8), *corrupt_files(tmp_path / "bad").values()]
    config = small_config(
        shards={"max_rows": 3}, speaker={"enabled": False}, ray={"fuse_stages": False}
    )
    fused = small_config(
        shards={"max_rows": 3}, speaker={"enabled": False}, ray={"fuse_stages": True}
    )
    local_report = prepare(files, tmp_path / "local", config, use_ray=False, progress=False)
    local_rows = {r["id"]: r for r in shard_rows(tmp_path / "local")}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for name, cfg in [("ray", config), ("fused", fused)]:
            report = prepare(files, tmp_path / name, cfg, workers=1, progress=False)
            rows = {r["id"]: r for r in shard_rows(tmp_path / name)}
            assert sorted(rows) == sorted(local_rows) and rows
            for key, row in rows.items():
                assert row["tokens_mulaw"] == local_rows[key]["tokens_mulaw"]
                assert row["duration"] == local_rows[key]["duration"]
            for part in ("files", "segments", "seconds", "drop_reasons", "error_reasons"):
                assert report.manifest[part] == local_report.manifest[part]
            assert report.manifest["runs"][-1]["mode"] == "ray"
    finally:
        ray.shutdown()
