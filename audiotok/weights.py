"""Loading pretrained weights from a Hugging Face id or a local directory.

Real users have the Hub; offline machines have directories. Either way a missing checkpoint
becomes a `WeightsNotFoundError` that says what is missing and how to supply it, and nothing
ever falls back to random weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

from audiotok.errors import WeightsNotFoundError

M = TypeVar("M", covariant=True)


class _Pretrained(Protocol[M]):
    def from_pretrained(self, source: str, **kwargs: Any) -> M: ...


def load_hf_model(
    model_cls: _Pretrained[M], source: str | Path, *, what: str, revision: str | None = None
) -> M:
    """``model_cls.from_pretrained(source)`` with safetensors only and a clear error.

    Args:
        model_cls: a transformers model class.
        source: a Hub id (``facebook/encodec_24khz``) or a directory with ``config.json`` and
            ``*.safetensors``.
        what: the tokenizer spec or component name, used in error messages.
        revision: a Hub revision (branch, tag or commit) to pin.
    """
    local = Path(source).expanduser()
    if local.exists():
        _check_local_dir(local, what)
        source = str(local)
    try:
        return model_cls.from_pretrained(str(source), revision=revision, use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise WeightsNotFoundError(
            f"{what}: could not load weights from {source!r} ({_first_line(exc)}). Pass "
            "weights=<hub id> on a machine that reaches the Hugging Face Hub, or a local "
            "directory holding config.json and model.safetensors (e.g. made with "
            "`huggingface-cli download <id> --local-dir DIR`)."
        ) from exc


def is_cached(hub_id: str) -> bool:
    """Whether a Hub checkpoint's config is already in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(hub_id, "config.json")
    return isinstance(found, str)


def _check_local_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise WeightsNotFoundError(f"{what}: weights path {path} is not a directory")
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any(path.glob("*.safetensors")):
        missing.append("*.safetensors")
    if missing:
        raise WeightsNotFoundError(f"{what}: {path} lacks {', '.join(missing)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
