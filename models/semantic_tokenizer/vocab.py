"""Character vocabulary for the CTC head, greedy CTC decoding and character error rate.

`normalize_text`, `edit_distance` and the error rates live in `audiotok.metrics.text`; they
are re-exported here under their old names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from audiotok.metrics.text import character_error_rate as _character_error_rate
from audiotok.metrics.text import edit_distance, normalize_text

__all__ = [
    "BLANK",
    "UNK",
    "CharVocab",
    "character_error_rate",
    "ctc_greedy_decode",
    "edit_distance",
    "normalize_text",
]

BLANK = "<blank>"
UNK = "<unk>"


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


def character_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Total character edits over total reference characters, on the texts as given.

    `audiotok.metrics.text.character_error_rate` without its normalisation: the texts here
    are already normalised (by `normalize_text`) or decoded from the vocabulary.
    """
    return _character_error_rate(refs, hyps, normalize=False)
