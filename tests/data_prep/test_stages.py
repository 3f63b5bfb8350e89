from __future__ import annotations

import pytest

from data_prep.config import PrepareConfig, SegmentConfig
from data_prep.stages import assign_text, plan_segments, token_column


def test_plan_segments_merges_splits_and_pads() -> None:
    cfg = SegmentConfig(min_seconds=2.0, max_seconds=10.0, max_gap_seconds=1.0, pad_seconds=0.1)
    # Two close regions merge; a far one starts a new segment; a 25 s region is cut in 3.
    spans = plan_segments([(1.0, 3.0), (3.5, 5.0), (8.0, 9.0), (12.0, 37.0)], 40.0, cfg)
    assert spans[0] == (0.9, 5.1) and spans[1] == (7.9, 9.1)
    long = spans[2:]
    assert len(long) == 3 and long[0][0] == pytest.approx(11.9) and long[-1][1] == 37.1
    assert all(e - s <= 10.0 + 1e-6 for s, e in spans)
    # Merging stops when the span would exceed max_seconds.
    spans = plan_segments([(0.0, 6.0), (6.5, 12.0)], 12.0, cfg)
    assert len(spans) == 2
    assert plan_segments([], 5.0, cfg) == []


def test_assign_text_untimed_and_timed() -> None:
    source = {"text": "hello", "timed": []}
    assert assign_text(source, [(0.1, 2.0)], 3.0, 30.0) == ["hello"]
    assert assign_text(source, [(0.1, 1.0), (1.5, 2.0)], 3.0, 30.0) == [None, None]
    assert assign_text(source, [(0.1, 2.0)], 40.0, 30.0) == [None]
    timed = {"text": None, "timed": [(0.0, 1.0, "a"), (1.2, 2.0, "b"), (5.0, 7.0, "c")]}
    # Segment 1 holds a and b entirely; segment 2 cuts c in half: its text is unreliable.
    assert assign_text(timed, [(0.0, 2.1), (4.0, 6.0)], 8.0, 30.0) == ["a b", None]


def test_config_yaml_json_and_hash(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "segment: {min_seconds: 1, max_seconds: 20}\ntokenize: {specs: mulaw}\n"
        "asr: {enabled: false}\nray: {workers: 3}\n"
    )
    cfg = PrepareConfig.load(path)
    assert cfg.segment.min_seconds == 1.0 and cfg.tokenize.specs == ("mulaw",)
    assert not cfg.asr.enabled and cfg.ray.workers == 3
    again = tmp_path / "c.json"
    again.write_text('{"segment": {"min_seconds": 1.0, "max_seconds": 20.0}, '
                     '"tokenize": {"specs": ["mulaw"]}, "asr": {"enabled": false}}')  # fmt: skip
    assert PrepareConfig.load(again).hash() == cfg.hash()  # execution settings are not hashed
    assert PrepareConfig().hash() != cfg.hash()
    (tmp_path / "bad.yaml").write_text("segment: {min_secs: 1}\n")
    with pytest.raises(ValueError, match="min_secs"):
        PrepareConfig.load(tmp_path / "bad.yaml")
    (tmp_path / "evil.yaml").write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(Exception, match="constructor"):
        PrepareConfig.load(tmp_path / "evil.yaml")


def test_token_column_names() -> None:
    assert token_column("opus@12kbps") == "tokens_opus_12kbps"
    assert token_column("encodec-24khz@1.5kbps") == "tokens_encodec_24khz_1_5kbps"


def test_transcriber_takes_the_workers_thread_budget(monkeypatch) -> None:
    import torch

    import audiotok.asr
    from data_prep.config import ASRConfig
    from data_prep.stages.models import Transcriber

    built: list[dict] = []
    monkeypatch.setattr(audiotok.asr, "get_asr", lambda name, **opts: built.append(opts))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # as RayStage sets it in a one-thread worker
        Transcriber(ASRConfig())
        Transcriber(ASRConfig(options={"cpu_threads": 3}))  # an explicit setting wins
    finally:
        torch.set_num_threads(before)
    assert built == [
        {"model": "tiny.en", "cpu_threads": 1},
        {"model": "tiny.en", "cpu_threads": 3},
    ]
