"""Stages 2-7 on plain rows: one dict per source file carrying its segments through the stages.

A stage is a callable ``rows -> rows`` on a list of file rows, so the same code runs in a plain
loop and inside Ray Data ``map_batches``. Pure stages (`decode_rows`, `filter_rows`) are
functions; model stages (`Segmenter`, `Transcriber`, `Tokenize`, `EmbedSpeakers`) are classes
built once per process (a Ray actor) and called on batches.

A file row (see `initial_row`):

``source`` (the `Source` as a dict), ``duration`` (source seconds), ``sample_rate``, ``wave``
(float32 ``[N]``, until segmentation), ``gain`` (loudness gain applied, 1.0 if none),
``segments`` (list of segment dicts), ``dropped`` and ``errors`` (records).

A segment dict: ``index``, ``start``, ``end``, ``duration``, ``wave``, ``speech`` (speech
regions relative to the segment), ``text``, ``text_source``, ``no_text_reason``,
``asr_text``, ``asr_cer``, ``asr_avg_logprob``, ``asr_no_speech_prob``,
``asr_compression_ratio``, ``language``, ``language_source``, quality figures,
``speaker_embedding``, ``tokens`` (column -> (codes, rate)).

Accounting: every second of a decoded file ends up either in a kept segment or in a drop
record (``non_speech`` for what lies outside the segments), and a failed file is one error
record carrying the file's probed duration; so seconds in = kept + dropped + failed.
"""

from data_prep.stages.decode import decode_rows
from data_prep.stages.filter import QualityFilter
from data_prep.stages.models import (
    EmbedSpeakers,
    Tokenize,
    Transcriber,
    accept_transcript,
    asr_enabled,
)
from data_prep.stages.rows import (
    STAGES,
    Row,
    Rows,
    finalize,
    flac_bytes,
    initial_row,
    segment_id,
    token_column,
)
from data_prep.stages.segment import Segmenter, assign_text, plan_segments

__all__ = [
    "STAGES",
    "EmbedSpeakers",
    "QualityFilter",
    "Row",
    "Rows",
    "Segmenter",
    "Tokenize",
    "Transcriber",
    "accept_transcript",
    "asr_enabled",
    "assign_text",
    "decode_rows",
    "finalize",
    "flac_bytes",
    "initial_row",
    "plan_segments",
    "segment_id",
    "token_column",
]
