"""Character vocabulary for the CTC head, greedy CTC decoding and character error rate."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

BLANK = "<blank>"
UNK = "<unk>"


def normalize_text(text: str) -> str:
    """NFKC, lower case, punctuation and symbols removed, whitespace collapsed.

    Combining marks (Devanagari/Bengali vowel signs, accents) are kept.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    kept = [" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text]
    return " ".join("".join(kept).split())


@dataclass
class CharVocab:
    """Characters with index 0 = CTC blank and 1 = unknown."""

    chars: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index = {ch: i + 2 for i, ch in enumerate(self.chars)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> CharVocab:
        """Every character of the (already normalised) ``texts`` seen ``min_count`` times."""
        counts: dict[str, int] = {}
        for text in texts:
            for ch in text:
                counts[ch] = counts.get(ch, 0) + 1
        return cls(sorted(ch for ch, n in counts.items() if n >= min_count))

    @property
    def size(self) -> int:
        return len(self.chars) + 2

    def __len__(self) -> int:
        return self.size

    def encode(self, text: str) -> list[int]:
        return [self._index.get(ch, 1) for ch in text]

    def decode(self, ids: Iterable[int]) -> str:
        out = []
        for i in ids:
            if i >= 2:
                out.append(self.chars[i - 2])
            elif i == 1:
                out.append("?")
        return "".join(out)

    def to_json(self) -> str:
        return json.dumps({"blank": BLANK, "unk": UNK, "chars": self.chars}, ensure_ascii=False)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> CharVocab:
        return cls(list(json.loads(Path(path).read_text(encoding="utf-8"))["chars"]))


def ctc_greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best path: argmax per frame, merge repeats, drop blanks (index 0).

    Args:
        log_probs: ``[B, T, V]`` scores.
        lengths: valid frames per item ``[B]``.
    """
    best = log_probs.argmax(-1).cpu()
    out = []
    for row, n in zip(best, lengths.cpu().tolist(), strict=True):
        ids = row[: int(n)].tolist()
        merged = [t for j, t in enumerate(ids) if t != 0 and (j == 0 or t != ids[j - 1])]
        out.append(merged)
    return out


def edit_distance(ref: Sequence[object], hyp: Sequence[object]) -> int:
    """Levenshtein distance between two sequences."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1]


def character_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Total character edits over total reference characters."""
    edits = sum(edit_distance(r, h) for r, h in zip(refs, hyps, strict=True))
    return edits / max(1, sum(len(r) for r in refs))
