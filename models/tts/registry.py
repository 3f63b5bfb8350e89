"""Which `SpeechGenerator` family a model directory holds, and loading it.

A family registers a detector (does this directory hold one of mine?), a loader, a random
debug builder and a converter. CosyVoice 2 is the one built in; the TouchTTS models we train
register here too, so ``audiotok tts --model DIR`` and the translation cascade load either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audiotok.errors import WeightsNotFoundError
from models.tts.generator import SpeechGenerator


@dataclass(frozen=True)
class GeneratorFamily:
    """A model family's entry points."""

    name: str
    detect: Callable[[Path], bool]
    load: Callable[[Path, str, str], SpeechGenerator]  # (directory, device, dtype)
    random: Callable[[str], SpeechGenerator]  # (device)
    convert: Callable[[Path, Path, str], Path]  # (source, out, to)
    resolve: Callable[[str], Path]  # Hub id or directory -> directory


_FAMILIES: dict[str, GeneratorFamily] = {}


def register_family(family: GeneratorFamily) -> None:
    _FAMILIES[family.name] = family


def _builtin() -> None:
    if "cosyvoice2" not in _FAMILIES:
        from models.tts.cosyvoice2.loading import FAMILY

        register_family(FAMILY)


def family_of(directory: Path) -> GeneratorFamily:
    """The family whose detector accepts ``directory``.

    Raises:
        WeightsNotFoundError: no family recognises it (the message lists what each expects).
    """
    _builtin()
    for family in _FAMILIES.values():
        if family.detect(directory):
            return family
    raise WeightsNotFoundError(
        f"tts model {directory}: not a model directory of any known family "
        f"({', '.join(_FAMILIES)}); a CosyVoice 2 directory holds llm.pt, flow.pt, hift.pt "
        "(official layout) or config.json + lm.safetensors (ours)"
    )


def load_generator(
    source: str | Path | None,
    *,
    random_weights: bool = False,
    device: str = "cpu",
    dtype: str = "float32",
    family: str = "cosyvoice2",
) -> SpeechGenerator:
    """A generator from a directory or Hub id, or (``random_weights``) a random debug model.

    Nothing falls back to random weights: without ``random_weights`` a missing model is a
    `WeightsNotFoundError`.
    """
    _builtin()
    if random_weights:
        return _FAMILIES[family].random(device)
    if source is None:
        raise WeightsNotFoundError("tts: no model given (--model DIR|ID)")
    directory = _FAMILIES[family].resolve(str(source))
    return family_of(directory).load(directory, device, dtype)


def convert_model(source: str | Path, out: Path, *, to: str = "safetensors") -> Path:
    """Write ``source``'s model to ``out`` in the ``to`` layout."""
    _builtin()
    directory = _FAMILIES["cosyvoice2"].resolve(str(source))
    return family_of(directory).convert(directory, out, to)
