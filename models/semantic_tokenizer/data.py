"""Speech + text data for the semantic tokenizer: manifests and Parquet shards, one interface.

Sources:

- a plain manifest: TSV with a header row, or JSON lines, with ``path`` and ``text`` and
  optional ``speaker``, ``language``, ``duration`` (seconds; read from the file header when
  absent). Relative paths are resolved against the manifest's folder.
- Parquet shards with ``text`` and either ``audio`` (encoded WAV/FLAC/... bytes, or a struct
  with a ``bytes`` field as written by Hugging Face datasets) or ``path``; optional
  ``speaker``, ``language``, ``duration``.

:class:`SpeechTextDataset` yields :class:`Example` (log-mel + character ids);
:class:`LengthBucketSampler` makes batches of similar length under a frame budget, and
:func:`collate` pads them into a :class:`Batch` with masks.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audiotok.audio import audio_info, load_audio, resample
from audiotok.features.mel import WhisperMelConfig, whisper_log_mel
from models.semantic_tokenizer.vocab import CharVocab, normalize_text

MIN_SAMPLES = 1600  # 0.1 s at 16 kHz: shorter items are padded with silence


@dataclass
class Record:
    """One utterance's metadata. Exactly one of ``path`` / ``audio_ref`` locates the audio."""

    text: str
    path: str | None = None
    audio_ref: tuple[int, int] | None = None  # (shard index, row) for Parquet audio bytes
    speaker: str | None = None
    language: str | None = None
    duration: float | None = None


@dataclass
class Example:
    """``mel [n_mels, T]``, ``targets [L]`` character ids, with the source record's index."""

    index: int
    mel: torch.Tensor
    targets: torch.Tensor
    text: str
    speaker: str | None
    language: str | None


@dataclass
class Batch:
    """Padded batch.

    ``mels [B, n_mels, T]``, ``mel_lengths [B]``, ``targets [B, L]`` (0-padded),
    ``target_lengths [B]``, ``mel_mask [B, T]`` (True = valid), plus per-item metadata.
    """

    mels: torch.Tensor
    mel_lengths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor
    mel_mask: torch.Tensor
    texts: list[str] = field(default_factory=list)
    speakers: list[str | None] = field(default_factory=list)
    languages: list[str | None] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.mels.to(device, non_blocking=True),
            self.mel_lengths.to(device),
            self.targets.to(device),
            self.target_lengths.to(device),
            self.mel_mask.to(device),
            self.texts,
            self.speakers,
            self.languages,
            self.indices,
        )


def read_manifest(path: str | Path) -> list[Record]:
    """Records of a ``.tsv`` (header row, no quoting) or ``.jsonl``/``.json`` manifest."""
    path = Path(path)
    if path.suffix in {".jsonl", ".json"}:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
        header = lines[0].split("\t") if lines else []
        rows = [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]]
    records = []
    for i, row in enumerate(rows):
        if "path" not in row or "text" not in row:
            raise ValueError(f"{path}: row {i} needs 'path' and 'text' columns, got {sorted(row)}")
        audio_path = Path(row["path"])
        if not audio_path.is_absolute():
            audio_path = path.parent / audio_path
        duration = row.get("duration")
        records.append(
            Record(
                text=str(row["text"]),
                path=str(audio_path),
                speaker=row.get("speaker") or None,
                language=row.get("language") or None,
                duration=float(duration) if duration not in (None, "") else None,
            )
        )
    return records


def write_manifest(path: str | Path, records: Sequence[Record]) -> None:
    """Write records with a ``path`` as TSV (``.tsv``) or JSON lines (``.jsonl``)."""
    path = Path(path)
    rows = [
        {
            "path": r.path,
            "text": r.text,
            "speaker": r.speaker or "",
            "language": r.language or "",
            "duration": "" if r.duration is None else f"{r.duration:.4f}",
        }
        for r in records
    ]
    if path.suffix in {".jsonl", ".json"}:
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        return
    for row in rows:
        if any(ch in str(v) for v in row.values() for ch in "\t\n"):
            raise ValueError(f"tab or newline in a TSV field: {row}")
    header = list(rows[0]) if rows else ["path", "text"]
    lines = ["\t".join(header)] + ["\t".join(str(row[k]) for k in header) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class _ParquetAudio:
    """Lazy access to the ``audio`` column of Parquet shards (memory-mapped)."""

    def __init__(self, shards: Sequence[str]) -> None:
        self.shards = list(shards)
        self._tables: dict[int, object] = {}

    def read(self, shard: int, row: int) -> bytes:
        import pyarrow.parquet as pq

        table = self._tables.get(shard)
        if table is None:
            table = pq.read_table(self.shards[shard], columns=["audio"], memory_map=True)
            self._tables[shard] = table
        value = table.column("audio")[row].as_py()  # type: ignore[attr-defined]
        if isinstance(value, dict):
            value = value.get("bytes")
        if not isinstance(value, bytes | bytearray):
            raise ValueError(f"{self.shards[shard]} row {row}: no audio bytes")
        return bytes(value)

    def __getstate__(self) -> dict[str, object]:
        return {"shards": self.shards, "_tables": {}}


def read_parquet(shards: Sequence[str | Path]) -> tuple[list[Record], list[str]]:
    """Records of Parquet shards (audio bytes stay on disk until read)."""
    import pyarrow.parquet as pq

    records: list[Record] = []
    names = [str(s) for s in shards]
    for shard_index, shard in enumerate(names):
        schema = pq.read_schema(shard)
        wanted = [
            c for c in ("path", "text", "speaker", "language", "duration") if c in schema.names
        ]
        if "text" not in wanted or ("audio" not in schema.names and "path" not in wanted):
            raise ValueError(f"{shard}: needs 'text' and 'audio' or 'path' columns")
        columns = pq.read_table(shard, columns=wanted).to_pydict()
        for row in range(len(columns["text"])):
            path = columns["path"][row] if "path" in columns else None
            if path is not None and not Path(path).is_absolute():
                path = str(Path(shard).parent / path)
            records.append(
                Record(
                    text=str(columns["text"][row]),
                    path=path if "audio" not in schema.names else None,
                    audio_ref=(shard_index, row) if "audio" in schema.names else None,
                    speaker=columns.get("speaker", [None] * (row + 1))[row],
                    language=columns.get("language", [None] * (row + 1))[row],
                    duration=columns.get("duration", [None] * (row + 1))[row],
                )
            )
    return records, names


def write_parquet(path: str | Path, records: Sequence[Record], embed_audio: bool = True) -> None:
    """A Parquet shard of ``records`` (with paths): audio bytes embedded or paths kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data: dict[str, list[object]] = {
        "text": [r.text for r in records],
        "speaker": [r.speaker for r in records],
        "language": [r.language for r in records],
        "duration": [r.duration for r in records],
    }
    if embed_audio:
        data["audio"] = [Path(str(r.path)).read_bytes() for r in records]
    else:
        data["path"] = [r.path for r in records]
    pq.write_table(pa.table(data), str(path))


class SpeechTextDataset(torch.utils.data.Dataset[Example]):
    """Utterances from a manifest and/or Parquet shards as log-mel + character ids.

    ``cache_features`` keeps each computed log-mel in memory (fine for small corpora).
    """

    def __init__(
        self,
        records: Sequence[Record],
        vocab: CharVocab,
        *,
        parquet_shards: Sequence[str] = (),
        mel_config: WhisperMelConfig | None = None,
        normalize: bool = True,
        cache_features: bool = False,
    ) -> None:
        self.records = list(records)
        self.vocab = vocab
        self.mel_config = mel_config or WhisperMelConfig(n_mels=128)
        self.normalize = normalize
        self.cache_features = cache_features
        self._parquet = _ParquetAudio(parquet_shards)
        self._cache: dict[int, torch.Tensor] = {}

    @classmethod
    def from_sources(
        cls,
        sources: Sequence[str | Path],
        vocab: CharVocab | None = None,
        **kwargs: object,
    ) -> SpeechTextDataset:
        """From manifest files (``.tsv``/``.jsonl``) and Parquet shards (``.parquet``), mixed.

        Without ``vocab`` one is built from the (normalised) texts.
        """
        records: list[Record] = []
        shards = [str(s) for s in sources if str(s).endswith(".parquet")]
        for source in sources:
            if not str(source).endswith(".parquet"):
                records.extend(read_manifest(source))
        if shards:
            shard_records, shards = read_parquet(shards)
            records.extend(shard_records)
        if vocab is None:
            vocab = CharVocab.build(normalize_text(r.text) for r in records)
        return cls(records, vocab, parquet_shards=shards, **kwargs)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.records)

    def text(self, index: int) -> str:
        text = self.records[index].text
        return normalize_text(text) if self.normalize else text

    def load_wave(self, index: int) -> np.ndarray:
        """Mono float32 waveform at the mel sample rate."""
        record = self.records[index]
        rate = self.mel_config.sample_rate
        if record.audio_ref is not None:
            data = self._parquet.read(*record.audio_ref)
            samples, source_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
            return resample(samples.mean(axis=1), int(source_rate), rate)
        return load_audio(str(record.path), sample_rate=rate, mono=True).samples[0]

    def durations(self) -> list[float]:
        """Seconds per item: from the records, else the file header (or decoded bytes)."""
        out = []
        for i, record in enumerate(self.records):
            if record.duration is None:
                header = audio_info(record.path).duration if record.path is not None else None
                if header is None:
                    header = len(self.load_wave(i)) / self.mel_config.sample_rate
                record.duration = float(header)
            out.append(float(record.duration))
        return out

    def mel(self, index: int) -> torch.Tensor:
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        wave = torch.from_numpy(np.ascontiguousarray(self.load_wave(index)))
        if wave.numel() < MIN_SAMPLES:
            wave = torch.nn.functional.pad(wave, (0, MIN_SAMPLES - wave.numel()))
        mel, _ = whisper_log_mel(wave[None], None, self.mel_config)
        mel = mel[0]
        if self.cache_features:
            self._cache[index] = mel
        return mel

    def __getitem__(self, index: int) -> Example:
        record = self.records[index]
        text = self.text(index)
        return Example(
            index=index,
            mel=self.mel(index),
            targets=torch.tensor(self.vocab.encode(text), dtype=torch.long),
            text=text,
            speaker=record.speaker,
            language=record.language,
        )


def collate(examples: Sequence[Example]) -> Batch:
    """Pad a list of examples into a :class:`Batch` (mel padding = each item's floor value)."""
    n_mels = examples[0].mel.shape[0]
    mel_lengths = torch.tensor([e.mel.shape[1] for e in examples], dtype=torch.long)
    target_lengths = torch.tensor([e.targets.numel() for e in examples], dtype=torch.long)
    mels = torch.zeros(len(examples), n_mels, int(mel_lengths.max()))
    targets = torch.zeros(len(examples), max(1, int(target_lengths.max())), dtype=torch.long)
    for i, e in enumerate(examples):
        mels[i] = e.mel.min()
        mels[i, :, : e.mel.shape[1]] = e.mel
        targets[i, : e.targets.numel()] = e.targets
    mask = torch.arange(mels.shape[-1])[None, :] < mel_lengths[:, None]
    return Batch(
        mels=mels,
        mel_lengths=mel_lengths,
        targets=targets,
        target_lengths=target_lengths,
        mel_mask=mask,
        texts=[e.text for e in examples],
        speakers=[e.speaker for e in examples],
        languages=[e.language for e in examples],
        indices=[e.index for e in examples],
    )


class LengthBucketSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of similar-length items under ``max_frames`` padded mel frames each.

    Items are sorted by length with a little noise, cut into batches whose ``len * max_len``
    stays under the budget (and at most ``max_batch_size`` items), and the batch order is shuffled
    per epoch (``set_epoch``). With ``num_replicas > 1`` each rank takes every
    ``num_replicas``-th batch, after dropping the tail so that all ranks get the same count.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_frames: int,
        *,
        frames_per_second: float = 100.0,
        max_batch_size: int = 256,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.lengths = [max(1, int(d * frames_per_second)) for d in durations]
        self.max_frames = max_frames
        self.max_batch_size = max_batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = sorted(
            range(len(self.lengths)),
            key=lambda i: self.lengths[i] * (1 + (0.1 * rng.random() if self.shuffle else 0.0)),
        )
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0
        for i in order:
            longest_if = max(longest, self.lengths[i])
            if current and (
                longest_if * (len(current) + 1) > self.max_frames
                or len(current) >= self.max_batch_size
            ):
                batches.append(current)
                current, longest_if = [], self.lengths[i]
            current.append(i)
            longest = longest_if
        if current:
            batches.append(current)
        if self.shuffle:
            rng.shuffle(batches)
        usable = len(batches) - len(batches) % self.num_replicas
        if self.num_replicas > 1:
            batches = batches[:usable][self.rank :: self.num_replicas]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return len(self.batches())
