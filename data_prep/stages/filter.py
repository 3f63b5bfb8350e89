"""Stage 4: quality filters (duration, speech ratio, clipping, SNR, optional DNSMOS)."""

from __future__ import annotations

import math

from data_prep.config import (
    FilterConfig,
    SegmentConfig,
)
from data_prep.stages.rows import (
    Row,
    Rows,
    alive,
    drop,
    fail_exception,
)


class QualityFilter:
    """Stage 4: figures per segment, then bounds; the first failed bound drops the segment."""

    stage = "filter"

    def __init__(self, filter_config: FilterConfig, segment_config: SegmentConfig) -> None:
        self.config = filter_config
        self.min_seconds = segment_config.min_seconds
        self.max_seconds = segment_config.max_seconds if segment_config.enabled else math.inf

    def __call__(self, rows: Rows) -> Rows:
        for row in rows:
            if alive(row) and row["segments"]:
                try:
                    self._filter(row)
                except Exception:
                    fail_exception(row, self.stage)
        return rows

    def _filter(self, row: Row) -> None:
        from audiotok import quality
        from audiotok.vad import SpeechSegment

        cfg, rate = self.config, row["sample_rate"]
        kept = []
        for seg in row["segments"]:
            duration = seg["duration"]
            checks: list[tuple[str, float | None, float | None, bool]] = [
                ("too_short", duration, self.min_seconds, duration < self.min_seconds),
                ("too_long", duration, self.max_seconds, duration > self.max_seconds + 1e-3),
            ]
            if cfg.enabled:
                wave = seg["wave"]
                regions = [SpeechSegment(s, e) for s, e in seg["speech"] or [(0.0, duration)]]
                raw = wave / row["gain"] if row["gain"] != 1.0 else wave
                seg["clipping_ratio"] = float(quality.clipping_ratio(raw))
                if seg["speech"] is not None:
                    seg["speech_ratio"] = float(quality.speech_ratio(regions, duration))
                    seg["snr_db"] = float(quality.estimate_snr_db(wave, rate, regions))
                if cfg.dnsmos:
                    seg["dnsmos_ovrl"] = float(quality.dnsmos(wave, rate).ovrl)
                checks += [
                    _low("low_speech_ratio", seg["speech_ratio"], cfg.min_speech_ratio),
                    _high("clipping", seg["clipping_ratio"], cfg.max_clipping_ratio),
                    _low("low_snr", seg["snr_db"], cfg.min_snr_db),
                    _low(
                        "low_dnsmos",
                        seg["dnsmos_ovrl"],
                        cfg.min_dnsmos_ovrl if cfg.dnsmos else None,
                    ),
                ]
            failed = next((c for c in checks if c[3]), None)
            if failed is None:
                kept.append(seg)
            else:
                drop(row, seg, self.stage, failed[0], failed[1], threshold=failed[2])
        row["segments"] = kept


def _low(
    reason: str, figure: float | None, bound: float | None
) -> tuple[str, float | None, float | None, bool]:
    bad = figure is not None and bound is not None and not figure >= bound
    return reason, figure, bound, bad


def _high(
    reason: str, figure: float | None, bound: float | None
) -> tuple[str, float | None, float | None, bool]:
    bad = figure is not None and bound is not None and not figure <= bound
    return reason, figure, bound, bad
