"""Text error rates: character error rate (CER) and word error rate (WER).

Both are Levenshtein edits (substitutions, insertions, deletions, each costing 1) divided by
the length of the reference, summed over a corpus when lists are given (the corpus rate is
total edits over total reference length, not a mean of per-item rates).  A rate can exceed 1
when the hypothesis has many insertions.  An empty reference (or corpus) counts as length 1,
so against an empty reference an empty hypothesis scores 0 and ``k`` units score ``k``.

Normalisation (`normalize_text`, on by default): Unicode NFKC, lower case, every punctuation,
symbol, separator and control character replaced by a space, whitespace collapsed.
Combining marks (accents, Indic vowel signs) are kept.  CER counts the spaces between words
as characters; WER splits on whitespace.  Languages written without spaces (Japanese,
Chinese) should be scored with CER.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Hashable, Sequence


def normalize_text(text: str) -> str:
    """NFKC, lower case, punctuation and symbols removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    kept = [" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text]
    return " ".join("".join(kept).split())


def edit_distance(reference: Sequence[Hashable], hypothesis: Sequence[Hashable]) -> int:
    """Levenshtein distance between two sequences (characters, words, token ids)."""
    if len(reference) < len(hypothesis):  # keep the row short: O(min(n, m)) memory
        reference, hypothesis = hypothesis, reference
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, start=1):
        current = [i]
        for j, h in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def _pairs(
    reference: str | Sequence[str], hypothesis: str | Sequence[str]
) -> list[tuple[str, str]]:
    if isinstance(reference, str) != isinstance(hypothesis, str):
        raise TypeError("reference and hypothesis must both be strings or both be lists")
    if isinstance(reference, str) and isinstance(hypothesis, str):
        return [(reference, hypothesis)]
    if len(reference) != len(hypothesis):
        raise ValueError(f"{len(reference)} references but {len(hypothesis)} hypotheses")
    return list(zip(reference, hypothesis, strict=True))


def _rate(pairs: list[tuple[Sequence[Hashable], Sequence[Hashable]]]) -> float:
    edits = sum(edit_distance(ref, hyp) for ref, hyp in pairs)
    return edits / max(1, sum(len(ref) for ref, _ in pairs))


def character_error_rate(
    reference: str | Sequence[str], hypothesis: str | Sequence[str], *, normalize: bool = True
) -> float:
    """Character edits over reference characters (see the module docstring).

    Args:
        reference: one reference text or a list of them.
        hypothesis: the recognised text(s), the same shape as ``reference``.
        normalize: apply `normalize_text` to both first.
    """
    pairs = _pairs(reference, hypothesis)
    if normalize:
        pairs = [(normalize_text(r), normalize_text(h)) for r, h in pairs]
    return _rate(list(pairs))


def word_error_rate(
    reference: str | Sequence[str], hypothesis: str | Sequence[str], *, normalize: bool = True
) -> float:
    """Word edits over reference words; words are whitespace-separated after normalisation."""
    pairs = _pairs(reference, hypothesis)
    if normalize:
        pairs = [(normalize_text(r), normalize_text(h)) for r, h in pairs]
    return _rate([(r.split(), h.split()) for r, h in pairs])
