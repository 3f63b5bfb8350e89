"""The files of a CosyVoice 2 model directory, in the official layout and in ours.

Official (``FunAudioLLM/CosyVoice2-0.5B``)::

    cosyvoice2.yaml            architecture (HyperPyYAML: read here as plain data, tags ignored)
    llm.pt, flow.pt, hift.pt   state dicts (torch.load(weights_only=True))
    campplus.onnx              speaker vector from Kaldi fbank
    speech_tokenizer_v2.onnx   S3 v2 tokens of the voice prompt
    CosyVoice-BlankEN/         the Qwen2 text tokenizer and the LM body's config.json
    spk2info.pt                built-in speakers (optional)

Ours (written by ``audiotok tts-convert``)::

    config.json                every part's config dataclass, as JSON
    lm.safetensors, flow.safetensors, hift.safetensors
    campplus.onnx, speech_tokenizer_v2.onnx (or speech_tokenizer/: an S3 save_pretrained folder)
    tokenizer/                 the text tokenizer
    speakers.safetensors       built-in speakers (optional)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from audiotok.errors import WeightsNotFoundError

HUB_ID = "FunAudioLLM/CosyVoice2-0.5B"
OFFICIAL_YAML = "cosyvoice2.yaml"
OFFICIAL_PARTS = {"lm": "llm.pt", "flow": "flow.pt", "hift": "hift.pt"}
CAMPPLUS = "campplus.onnx"
SPEECH_TOKENIZER = "speech_tokenizer_v2.onnx"
SPEECH_TOKENIZER_DIR = "speech_tokenizer"
OFFICIAL_TEXT_DIR = "CosyVoice-BlankEN"
OFFICIAL_SPEAKERS = "spk2info.pt"
OWN_CONFIG = "config.json"
OWN_PARTS = {"lm": "lm.safetensors", "flow": "flow.safetensors", "hift": "hift.safetensors"}
OWN_TEXT_DIR = "tokenizer"
OWN_SPEAKERS = "speakers.safetensors"
GET_IT = (
    f"download the model with `huggingface-cli download {HUB_ID} --local-dir DIR` "
    "and pass --model DIR (or --model with the Hub id on a machine that reaches the Hub)"
)


def is_official(directory: Path) -> bool:
    return (directory / OFFICIAL_PARTS["lm"]).is_file() or (directory / OFFICIAL_YAML).is_file()


def is_own(directory: Path) -> bool:
    return (directory / OWN_CONFIG).is_file() and (directory / OWN_PARTS["lm"]).is_file()


def resolve(source: str | Path) -> Path:
    """A model directory: ``source`` itself, or the Hub snapshot of id ``source``.

    Raises:
        WeightsNotFoundError: neither a directory nor a reachable Hub id.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists() or str(source).startswith((".", "/", "~")) or str(source).count("/") != 1:
        raise WeightsNotFoundError(f"tts model {source}: no such directory; {GET_IT}")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(source)))
    except Exception as exc:  # offline, unknown repo: both mean "not here"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsNotFoundError(
            f"tts model {source}: could not fetch it from the Hub ({first}); {GET_IT}"
        ) from exc


def require_file(directory: Path, name: str, what: str) -> Path:
    """``directory / name``, or one line naming the missing file and where to get it."""
    path = directory / name
    if not path.exists():
        raise WeightsNotFoundError(f"tts model {directory}: missing {name} ({what}); {GET_IT}")
    return path


def read_official_yaml(path: Path) -> dict[str, Any]:
    """``cosyvoice2.yaml`` as plain data: every custom tag (``!new:``, ``!name:``, ``!ref``,
    ``!apply:``) is dropped and its node read as the mapping, list or scalar it holds, so
    nothing is constructed or executed. ``!ref <name>`` becomes the referenced top-level value
    when it is a plain reference, else stays the string."""
    text = path.read_text(encoding="utf-8")
    data = yaml.load(text, Loader=_TagIgnoringLoader)  # a SafeLoader: plain data only
    if not isinstance(data, dict):
        raise WeightsNotFoundError(f"{path}: not a mapping")
    return {key: _resolve_refs(value, data) for key, value in data.items()}


class _TagIgnoringLoader(yaml.SafeLoader):
    """Safe loading; unknown tags yield the plain node value instead of an error."""


def _plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    value = loader.construct_scalar(node)
    return _Ref(str(value)) if suffix == "ref" else value


_TagIgnoringLoader.add_multi_constructor("!", _plain)


class _Ref(str):
    """The text of a ``!ref`` node."""


def _resolve_refs(value: Any, top: dict[str, Any]) -> Any:
    if isinstance(value, _Ref):
        name = value.strip()
        if name.startswith("<") and name.endswith(">") and name[1:-1] in top:
            return _resolve_refs(top[name[1:-1]], top)
        return _evaluate_ref(name, top)
    if isinstance(value, dict):
        return {k: _resolve_refs(v, top) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, top) for v in value]
    return value


def _evaluate_ref(expression: str, top: dict[str, Any]) -> Any:
    """``<a> * <b>``-style products of numeric top-level values (the only arithmetic the
    official file uses); anything else stays text."""
    parts = [p.strip() for p in expression.split("*")]
    product: int | float = 1
    for part in parts:
        name = part[1:-1] if part.startswith("<") and part.endswith(">") else None
        value = _resolve_refs(top.get(name), top) if name else None
        if not isinstance(value, int | float):
            return expression
        product *= value
    return product
