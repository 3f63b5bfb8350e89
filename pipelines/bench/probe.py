"""A downstream probe on frozen tokens (DASB in small): FSDD spoken digits.

Each tokenizer encodes a balanced subset of the Free Spoken Digit Dataset recordings
(``<digit>_<speaker>_<index>.wav``); an utterance becomes its normalised bag of codes per
codebook (bytes for bitstream codecs); a multinomial logistic regression is trained on them for

- ``digit_accuracy``: the spoken digit, with one speaker held out of training entirely;
- ``speaker_accuracy``: the speaker, on recordings (every third index) held out of training.

So semantic tokenizers are judged on what their tokens carry, not on waveform fidelity.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from audiotok.audio import load_audio
from audiotok.errors import AudiotokError
from audiotok.tokenizers import AudioTokenizer
from audiotok.tokens import Tokens
from models.semantic_tokenizer.probe import logistic_regression_accuracy

FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


class ProbeDataError(AudiotokError, ValueError):
    """The probe folder does not hold FSDD recordings from at least two speakers."""


@dataclass(frozen=True)
class ProbeItem:
    path: Path
    digit: int
    speaker: str
    index: int


def fsdd_items(folder: str | Path, max_files: int) -> list[ProbeItem]:
    """A subset balanced over speakers and digits: the lowest indices of each (digit,
    speaker), about ``max_files`` in all but at least 3 of each (the speaker task holds out
    every third)."""
    groups: dict[tuple[int, str], list[ProbeItem]] = defaultdict(list)
    for path in sorted(Path(folder).glob("*.wav")):
        match = FSDD_NAME.match(path.name)
        if match:
            digit, speaker, index = int(match[1]), match[2], int(match[3])
            groups[(digit, speaker)].append(ProbeItem(path, digit, speaker, index))
    speakers = sorted({speaker for _, speaker in groups})
    if len(speakers) < 2:
        raise ProbeDataError(f"{folder}: need FSDD recordings of two or more speakers")
    per_group = max(3, max_files // max(1, len(groups)))
    items = []
    for key in sorted(groups):
        items.extend(sorted(groups[key], key=lambda item: item.index)[:per_group])
    return items


def bag_of_codes(tokens: Tokens) -> np.ndarray:
    """``[sum of codebook sizes]``: each codebook's code histogram, normalised to sum 1."""
    codes = tokens.codes.numpy()
    parts = []
    for codebook, size in zip(codes, tokens.codebook_sizes, strict=True):
        histogram = np.bincount(codebook, minlength=size).astype(np.float32)
        parts.append(histogram / max(1.0, histogram.sum()))
    return np.concatenate(parts)


def probe_tokenizer(tokenizer: AudioTokenizer, items: list[ProbeItem]) -> dict[str, float]:
    """Digit accuracy (held-out speaker) and speaker accuracy (held-out recordings)."""
    waves = [load_audio(item.path, mono=True) for item in items]
    tokens = []
    for start in range(0, len(waves), 16):
        batch = waves[start : start + 16]
        with torch.inference_mode():
            tokens.extend(tokenizer.encode([w.samples[0] for w in batch], batch[0].sample_rate))
    features = torch.from_numpy(np.stack([bag_of_codes(t) for t in tokens]))
    speakers = sorted({item.speaker for item in items})
    held_out = speakers[-1]
    digits = torch.tensor([item.digit for item in items])
    speaker_ids = torch.tensor([speakers.index(item.speaker) for item in items])
    digit_train = torch.tensor([item.speaker != held_out for item in items])
    rank = _rank_in_group(items)
    speaker_train = torch.tensor([r % 3 != 2 for r in rank])
    return {
        "digit_accuracy": _accuracy(features, digits, digit_train, 10),
        "speaker_accuracy": _accuracy(features, speaker_ids, speaker_train, len(speakers)),
        "probe_files": float(len(items)),
    }


def _rank_in_group(items: list[ProbeItem]) -> list[int]:
    """Position of each item among the recordings of its (digit, speaker)."""
    seen: dict[tuple[int, str], int] = defaultdict(int)
    ranks = []
    for item in items:
        ranks.append(seen[(item.digit, item.speaker)])
        seen[(item.digit, item.speaker)] += 1
    return ranks


def _accuracy(x: torch.Tensor, y: torch.Tensor, train: torch.Tensor, classes: int) -> float:
    return logistic_regression_accuracy(
        x[train], y[train], x[~train], y[~train], num_classes=classes
    )
