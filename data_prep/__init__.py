"""Corpus preparation: Ray Data pipeline stages, shard writer, synthetic corpora.

``prepare(inputs, out_dir, PrepareConfig())`` runs discover -> decode -> VAD segmentation ->
quality filter -> ASR cross-check -> tokenizers -> speaker embedding -> Parquet shards.
"""

from data_prep.config import PrepareConfig
from data_prep.discover import Source, discover
from data_prep.pipeline import PrepareReport, prepare
from data_prep.shards import ShardWriter, committed_sources, shard_schema

__all__ = [
    "PrepareConfig",
    "PrepareReport",
    "ShardWriter",
    "Source",
    "committed_sources",
    "discover",
    "prepare",
    "shard_schema",
]
