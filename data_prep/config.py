"""`PrepareConfig`: every knob of corpus preparation, one nested dataclass per stage.

A config is loaded from YAML (``yaml.safe_load``: plain data, never code) or JSON, and written
into the run's manifest together with `config_hash`, a SHA-256 of its canonical JSON form.
Unknown keys are errors, so a typo in a config file cannot be silently ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


@dataclass
class DiscoverConfig:
    """Finding inputs. ``hash_bytes``: bytes read from each end of a file for its content hash;
    ``language``: the language of every input whose manifest gives none (None: unknown)."""

    extensions: tuple[str, ...] = (
        ".wav",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".m4a",
        ".aac",
        ".mp4",
    )
    sidecar_transcripts: tuple[str, ...] = (".txt", ".lab")
    hash_bytes: int = 65536
    language: str | None = None


@dataclass
class DecodeConfig:
    """Decoding and standardising: rate, mono, optional loudness, bounds on what is read."""

    sample_rate: int = 16000
    loudness_lufs: float | None = None
    chunk_seconds: float = 60.0
    max_file_seconds: float = 4 * 3600.0


@dataclass
class SegmentConfig:
    """VAD segmentation. Speech regions (padded by ``pad_seconds``) are merged while the gap is
    at most ``max_gap_seconds`` and the span stays within ``max_seconds``; longer regions are
    cut into equal pieces of at most ``max_seconds``. ``enabled=False``: no VAD; the whole
    file is cut the same way. ``vad_options`` go to the detector's config (e.g.
    ``{threshold: 0.4}`` for Silero); ``min_seconds``/``max_seconds`` are also the filter's
    duration bounds, checked even when the other filters are off.
    """

    enabled: bool = True
    vad: str = "silero"
    vad_options: dict[str, Any] = field(default_factory=dict)
    min_seconds: float = 2.0
    max_seconds: float = 30.0
    max_gap_seconds: float = 1.0
    pad_seconds: float = 0.1


@dataclass
class FilterConfig:
    """Quality filter; a bound set to None is not checked."""

    enabled: bool = True
    min_speech_ratio: float | None = 0.3
    max_clipping_ratio: float | None = 0.01
    min_snr_db: float | None = 5.0
    dnsmos: bool = False
    min_dnsmos_ovrl: float | None = 3.0


@dataclass
class ASRConfig:
    """Transcription and cross-check. ``backend="none"`` skips the stage.

    The model runs only on segments whose language it covers (`ASRBackend.languages`; tiny.en:
    English) or whose language is unknown. A given transcript is cross-checked by CER (over
    ``max_cer`` drops the segment). Where none is given, ASR's text becomes the transcript
    only if the decoder's evidence passes every ``accept_*`` bound (None: not checked); a
    segment left without usable text is kept with empty text and the reason in
    ``no_text_reason``, or dropped with that reason when ``require_text`` is set. The default
    bounds were measured with ``scripts/measure_asr_evidence.py`` (English speech against
    seven other languages through tiny.en; see the README).
    """

    enabled: bool = True
    backend: str = "faster-whisper"
    model: str = "tiny.en"
    max_cer: float = 0.5
    accept_min_avg_logprob: float | None = -0.7
    accept_max_no_speech_prob: float | None = 0.6
    accept_max_compression_ratio: float | None = 2.4
    require_text: bool = False
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TokenizeConfig:
    """Tokenizers, one ``tokens_<spec>`` column each; ``debug`` builds tiny random models."""

    enabled: bool = True
    specs: tuple[str, ...] = ("opus@12kbps",)
    batch_size: int = 16
    weights: dict[str, str] = field(default_factory=dict)
    debug: bool = False


@dataclass
class SpeakerConfig:
    """Speaker embedding; ``encoder="none"`` skips it."""

    enabled: bool = True
    encoder: str = "resemblyzer"


@dataclass
class ShardConfig:
    """Shard bounds (a source's rows are never split, so one source may exceed them)."""

    max_rows: int = 2000
    max_bytes: int = 256 * 1024 * 1024
    audio_flac: bool = False


@dataclass
class RayConfig:
    """Execution: units of work of at most ``batch_files`` files and ``batch_megabytes`` of
    input (one file alone may be larger), actors per model stage (``workers``), GPUs per model actor
    when CUDA is present; ``fuse_stages`` runs all stages in one actor pool of ``workers``
    actors instead of one pool per model stage (fewer processes; better on few cores). None
    (the default) fuses when the Ray cluster has no GPU: on CPUs alone, per-stage pools only
    add processes and hand-overs (see ``scripts/bench_prepare.py``)."""

    batch_files: int = 64
    batch_megabytes: float = 16.0
    workers: int | None = None
    gpus_per_actor: float = 0.25
    fuse_stages: bool | None = None


@dataclass
class PrepareConfig:
    discover: DiscoverConfig = field(default_factory=DiscoverConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    asr: ASRConfig = field(default_factory=ASRConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    speaker: SpeakerConfig = field(default_factory=SpeakerConfig)
    shards: ShardConfig = field(default_factory=ShardConfig)
    ray: RayConfig = field(default_factory=RayConfig)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))

    def hash(self) -> str:
        """SHA-256 of the canonical JSON (sorted keys) of what shapes the output: every section
        but ``ray`` (execution only), so a resume with other ``--workers`` is the same run."""
        data = self.to_dict()
        data.pop("ray", None)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrepareConfig:
        return _build(cls, data, "config")

    @classmethod
    def load(cls, path: str | Path) -> PrepareConfig:
        """Read a YAML (``.yaml``/``.yml``, safe loader) or JSON config file."""
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config must be a mapping, got {type(data).__name__}")
        return cls.from_dict(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _build(cls: type[T], data: dict[str, Any], where: str) -> T:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {sorted(names)}")
    values: dict[str, Any] = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, value or {}, f"{where}.{name}")  # type: ignore[arg-type]
        elif typing.get_origin(kind) is tuple or kind is tuple:
            values[name] = tuple([value] if isinstance(value, str) else value)
        elif _accepts_float(kind) and isinstance(value, int) and not isinstance(value, bool):
            values[name] = float(value)
        else:
            values[name] = value
    return cls(**values)


def _accepts_float(kind: Any) -> bool:
    if kind is float:
        return True
    origin = typing.get_origin(kind)
    return origin in (typing.Union, types.UnionType) and float in typing.get_args(kind)
