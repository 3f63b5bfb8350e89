"""File rows and segment records: ids, drop and error records, and the final shard rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from data_prep.discover import Source

Row = dict[str, Any]
Rows = list[Row]
Segment = dict[str, Any]  # one planned segment of a row, carried through the stages

# Stage names, in order, as they appear in drop and error records and in the manifest.
STAGES = ("discover", "decode", "segment", "filter", "asr", "tokenize", "speaker", "write")
# ``no_text_reason`` of a kept segment that neither a transcript nor ASR gave text to.
NO_TRANSCRIPT = "no_transcript"


def initial_row(source: Source) -> Row:
    return {
        "source": source.to_dict(),
        "duration": 0.0,
        "sample_rate": 0,
        "wave": None,
        "gain": 1.0,
        "segments": [],
        "dropped": [],
        "errors": []
        if source.error is None
        else [_error_record(source.to_dict(), "discover", *source.error, seconds=0.0)],
    }


def segment_id(source_id: str, index: int) -> str:
    return f"{source_id}-{index:05d}"


def token_column(spec: str) -> str:
    """``opus@12kbps`` -> ``tokens_opus_12kbps``."""
    return "tokens_" + re.sub(r"[^0-9a-zA-Z]+", "_", spec).strip("_").lower()


def _error_record(
    source: dict[str, Any], stage: str, reason: str, detail: str, *, seconds: float
) -> dict[str, Any]:
    return {
        "path": source["path"],
        "source_id": source["source_id"],
        "stage": stage,
        "reason": reason,
        "detail": detail,
        "seconds": seconds,
    }


def fail(row: Row, stage: str, reason: str, detail: str) -> None:
    """Turn ``row`` into a failed file: one error record holding all its seconds."""
    row["segments"], row["dropped"], row["wave"] = [], [], None
    row["errors"] = [_error_record(row["source"], stage, reason, detail, seconds=row["duration"])]


def drop(
    row: Row,
    segment: dict[str, Any] | None,
    stage: str,
    reason: str,
    figure: float | None,
    *,
    threshold: float | None = None,
    seconds: float | None = None,
    detail: str | None = None,
) -> None:
    """Record a dropped segment (or, with ``segment=None``, a part or all of the file)."""
    source = row["source"]
    record = {
        "segment": None if segment is None else segment_id(source["source_id"], segment["index"]),
        "source_id": source["source_id"],
        "path": source["path"],
        "stage": stage,
        "reason": reason,
        "figure": None if figure is None else float(figure),
        "threshold": threshold,
        "seconds": float(segment["duration"] if seconds is None and segment else seconds or 0.0),
    }
    if detail:
        record["detail"] = detail
    row["dropped"].append(record)


def alive(row: Row) -> bool:
    return not row["errors"]


def isolate(rows: Rows, stage: str, fn: Callable[[Rows], None]) -> Rows:
    """Run ``fn`` (which updates rows in place) on the live rows; if it raises, run it row by
    row and turn each row that still fails into an error record of ``stage``."""
    live = [row for row in rows if alive(row) and row["segments"]]
    if not live:
        return rows
    saved = [(list(r["dropped"]), [dict(s) for s in r["segments"]]) for r in live]
    try:
        fn(live)
        return rows
    except Exception:
        if len(live) == 1:
            fail_exception(live[0], stage)
            return rows
    for row, (dropped, segments) in zip(live, saved, strict=True):
        row["dropped"], row["segments"] = dropped, segments  # undo the failed batch's changes
        try:
            fn([row])
        except Exception:
            fail_exception(row, stage)
    return rows


def fail_exception(row: Row, stage: str) -> None:
    import sys

    exc = sys.exc_info()[1]
    fail(row, stage, f"{stage}_failed", f"{type(exc).__name__}: {exc}")


def finalize(row: Row, audio_flac: bool = False) -> dict[str, Any]:
    """The file's result for the `ShardWriter`: its shard rows (one per kept segment, columns
    of `data_prep.shards.SHARD_COLUMNS` plus token columns) and its drop and error records.
    A segment without text gets ``text=""`` and the reason in ``no_text_reason``."""
    source = row["source"]
    out = []
    for seg in row["segments"] if alive(row) else []:
        record: dict[str, Any] = {
            "id": segment_id(source["source_id"], seg["index"]),
            "source_id": source["source_id"],
            "source_path": source["path"],
            "start": float(seg["start"]),
            "end": float(seg["end"]),
            "duration": float(seg["duration"]),
            "sample_rate": int(row["sample_rate"]),
            "language": seg["language"],
            "language_source": seg["language_source"],
            "text": seg["text"] or "",
            "text_source": seg["text_source"] if seg["text"] else None,
            "no_text_reason": None if seg["text"] else seg["no_text_reason"] or NO_TRANSCRIPT,
            "asr_text": seg["asr_text"],
            "asr_cer": seg["asr_cer"],
            "asr_avg_logprob": seg["asr_avg_logprob"],
            "asr_no_speech_prob": seg["asr_no_speech_prob"],
            "asr_compression_ratio": seg["asr_compression_ratio"],
            "speaker": source.get("speaker"),
            "speaker_embedding": None
            if seg["speaker_embedding"] is None
            else np.asarray(seg["speaker_embedding"], dtype=np.float32),
            "snr_db": seg["snr_db"],
            "speech_ratio": seg["speech_ratio"],
            "clipping_ratio": seg["clipping_ratio"],
            "dnsmos_ovrl": seg["dnsmos_ovrl"],
        }
        for column, (codes, frame_rate) in seg["tokens"].items():
            record[column] = codes
            record[f"{column}_frame_rate"] = frame_rate
        if audio_flac:
            record["audio_flac"] = flac_bytes(seg["wave"], row["sample_rate"])
        out.append(record)
    return {
        "source_id": source["source_id"],
        "path": source["path"],
        "duration": float(row["duration"]),
        "rows": out,
        "dropped": row["dropped"] if alive(row) else [],
        "errors": row["errors"],
    }


def flac_bytes(wave: np.ndarray, sample_rate: int) -> bytes:
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(wave, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()
