"""Tokenizing audio files into token files, one bad file never stopping the batch."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from audiotok.audio import Audio, load_audio
from audiotok.audio.files import find_audio_files
from audiotok.errors import AudiotokError
from audiotok.progress import advance
from audiotok.requirements import check, raise_if_problems
from audiotok.tokenizers import AudioTokenizer
from audiotok.tokenizers.registry import tokenizer_requirements
from audiotok.tokens import Tokens, save_tokens_arrow

# Errors one input can cause without saying anything about the others.
ITEM_ERRORS = (AudiotokError, ValueError, RuntimeError)


def check_tokenize(spec: str, *, weights: str | None = None, debug: bool = False) -> None:
    """Raise `ConfigurationError` before any file is read if ``spec`` cannot run here."""
    needs = tokenizer_requirements(spec, weights=weights, debug=debug)
    raise_if_problems("tokenize", check(f"tokenizer {spec}", needs))


@dataclass
class TokenizeReport:
    """What `tokenize_files` did: outputs written and inputs that failed (path, reason)."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds_of_audio: float = 0.0

    @property
    def succeeded(self) -> int:
        return len(self.written)


@dataclass(frozen=True)
class _Item:
    path: Path
    root: Path
    audio: Audio

    @property
    def relative(self) -> Path:
        try:
            return self.path.relative_to(self.root)
        except ValueError:
            return Path(self.path.name)


def tokenize_files(
    inputs: Iterable[str | Path],
    tokenizer: AudioTokenizer,
    out_dir: str | Path,
    *,
    fmt: str = "npz",
    batch_size: int = 8,
    progress: bool = True,
) -> TokenizeReport:
    """Encode every audio file under ``inputs`` and write its tokens.

    ``fmt="npz"`` writes ``OUT/<relative path>.npz`` per file; ``fmt="arrow"`` writes one
    ``OUT/tokens.arrow`` with a row per file (plus a ``path`` column). Inputs that fail are
    listed in ``OUT/errors.jsonl`` with the reason and skipped.
    """
    if fmt not in ("npz", "arrow"):
        raise ValueError(f"unknown token file format {fmt!r}; use 'npz' or 'arrow'")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = TokenizeReport()
    files = list(find_audio_files(inputs))
    encoded: list[tuple[_Item, Tokens]] = []
    bar = tqdm(total=len(files), unit="file", disable=not progress, desc=tokenizer.spec)
    for batch in _batches(_load_items(files, tokenizer, report, bar), batch_size):
        encoded.extend(_encode_batch(batch, tokenizer, report))
        advance(bar, len(batch))
    bar.close()
    _write(encoded, out, fmt, report)
    _write_errors(report.failed, out / "errors.jsonl")
    return report


def _load_items(
    files: Sequence[tuple[Path, Path]], tokenizer: AudioTokenizer, report: TokenizeReport, bar: tqdm
) -> Iterator[_Item]:
    for path, root in files:
        try:
            audio = load_audio(path, sample_rate=tokenizer.sample_rate, mono=True)
        except AudiotokError as exc:
            report.failed.append((str(path), str(exc)))
            advance(bar)
            continue
        yield _Item(path, root, audio)


def _batches(items: Iterator[_Item], size: int) -> Iterator[list[_Item]]:
    batch: list[_Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _encode_batch(
    batch: list[_Item], tokenizer: AudioTokenizer, report: TokenizeReport
) -> list[tuple[_Item, Tokens]]:
    """Encode a batch; if it fails, encode its items one by one to find the bad one."""
    try:
        tokens = tokenizer.encode([item.audio.mono for item in batch], tokenizer.sample_rate)
        return list(zip(batch, tokens, strict=True))
    except ITEM_ERRORS:
        if len(batch) == 1:
            raise
    results = []
    for item in batch:
        try:
            results.extend(_encode_batch([item], tokenizer, report))
        except ITEM_ERRORS as exc:
            report.failed.append((str(item.path), f"{tokenizer.spec}: {exc}"))
    return results


def _write(
    encoded: list[tuple[_Item, Tokens]], out: Path, fmt: str, report: TokenizeReport
) -> None:
    report.seconds_of_audio = sum(tokens.duration for _, tokens in encoded)
    if fmt == "arrow":
        if encoded:
            path = out / "tokens.arrow"
            table_items = [tokens for _, tokens in encoded]
            save_tokens_arrow(table_items, path, paths=[str(i.path) for i, _ in encoded])
            report.written.extend([path] * len(encoded))
        return
    for item, tokens in encoded:
        target = out / item.relative.with_suffix(item.relative.suffix + ".npz")
        target.parent.mkdir(parents=True, exist_ok=True)
        report.written.append(tokens.save(target))


def _write_errors(failed: list[tuple[str, str]], path: Path) -> None:
    if not failed:
        path.unlink(missing_ok=True)
        return
    with path.open("w", encoding="utf-8") as fh:
        for source, reason in failed:
            fh.write(json.dumps({"path": source, "reason": reason}) + "\n")
