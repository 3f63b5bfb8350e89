"""Evaluation metrics."""

from audiotok.metrics.text import (
    character_error_rate,
    edit_distance,
    normalize_text,
    word_error_rate,
)

__all__ = ["character_error_rate", "edit_distance", "normalize_text", "word_error_rate"]
