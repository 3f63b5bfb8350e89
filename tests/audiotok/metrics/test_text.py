"""Text error rates."""

from __future__ import annotations

import pytest

from audiotok.metrics.text import (
    character_error_rate,
    edit_distance,
    normalize_text,
    word_error_rate,
)


def test_edit_distance() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert edit_distance("flaw", "lawn") == edit_distance("lawn", "flaw") == 2


def test_normalize_text() -> None:
    assert normalize_text("  Héllo, World!  ") == "héllo world"
    assert normalize_text("Ｆｕｌｌ－ｗｉｄｔｈ") == "full width"  # NFKC, then '-' is punctuation
    assert normalize_text("नमस्ते") == "नमस्ते"  # combining vowel signs are kept


def test_character_error_rate() -> None:
    assert character_error_rate("abcd", "abxd") == 0.25
    assert character_error_rate("Mr. Quilter", "mr quilter") == 0.0  # normalised
    assert character_error_rate("Mr. Quilter", "mr quilter", normalize=False) > 0
    # corpus rate: total edits over total reference length, not a mean of rates
    assert character_error_rate(["ab", "cdef"], ["ab", ""]) == pytest.approx(4 / 6)
    assert character_error_rate("", "") == 0.0 and character_error_rate("", "ab") == 2.0
    assert character_error_rate("ab", "abcdef") == 2.0  # insertions can exceed 1
    with pytest.raises(ValueError):
        character_error_rate(["a"], ["a", "b"])
    with pytest.raises(TypeError):
        character_error_rate("a", ["a"])


def test_word_error_rate() -> None:
    ref = "the cat sat on the mat"
    assert word_error_rate(ref, "The cat sat on the mat.") == 0.0
    assert word_error_rate(ref, "the cat sat on mat") == pytest.approx(1 / 6)
    assert word_error_rate(ref, "a cat sat in the hat") == pytest.approx(3 / 6)
    assert word_error_rate([ref, "hello"], ["the cat", "hello world"]) == pytest.approx(5 / 7)


def test_semantic_tokenizer_keeps_its_names() -> None:
    from models.semantic_tokenizer import vocab

    assert vocab.character_error_rate(["abcd"], ["abxd"]) == 0.25
    assert vocab.character_error_rate(["a?"], ["a"]) == 0.5  # no normalisation there
    assert vocab.normalize_text is normalize_text and vocab.edit_distance is edit_distance
