"""Corpus preparation: Ray Data pipeline stages, shard writer, synthetic corpora."""
