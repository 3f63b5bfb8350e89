"""Loading S3 weights: official ONNX, the reference package's state dict, our own directory.

``weights`` may be
- an ``.onnx`` file (official: its SHA-256 is checked against the published value);
- a ``.pt``/``.pth``/``.bin`` state dict of the reference package's model (read with
  ``torch.load(weights_only=True)``: no pickled code runs) or a ``.safetensors`` file with
  either the reference's names or ours;
- a directory made by `save_pretrained` (``config.json`` + ``model.safetensors``) or holding
  the preset's ONNX file (e.g. a downloaded Hub repository);
- a Hugging Face repository id holding the ONNX file (the presets' defaults).

Nothing falls back to random weights: a missing file is a `WeightsNotFoundError` that names
the files looked for and how to supply them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import torch

from audiotok.errors import WeightsNotFoundError
from audiotok.tokenizers.s3.config import S3Config
from audiotok.tokenizers.s3.model import S3Model
from audiotok.tokenizers.s3.onnx_import import check_sha256, onnx_state_dict

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
_FILE_SUFFIXES = (".onnx", ".safetensors", *_TORCH_SUFFIXES)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, nothing else

# Reference package name -> ours (regex, replacement); applied in order, first match wins.
_REFERENCE_TO_OURS: tuple[tuple[str, str], ...] = (
    (r"^encoder\.positional_embedding$", "pos_embedding"),
    (r"^encoder\.conv([12])\.(weight|bias)$", r"conv\1.\2"),
    (r"^encoder\.blocks\.(\d+)\.attn\.query\.", r"blocks.\1.attn.q_proj."),
    (r"^encoder\.blocks\.(\d+)\.attn\.key\.", r"blocks.\1.attn.k_proj."),
    (r"^encoder\.blocks\.(\d+)\.attn\.value\.", r"blocks.\1.attn.v_proj."),
    (r"^encoder\.blocks\.(\d+)\.attn\.out\.", r"blocks.\1.attn.o_proj."),
    (r"^encoder\.blocks\.(\d+)\.attn\.fsmn_block\.weight$", r"blocks.\1.attn.fsmn.weight"),
    (r"^encoder\.blocks\.(\d+)\.attn_ln\.", r"blocks.\1.attn_norm."),
    (r"^encoder\.blocks\.(\d+)\.mlp_ln\.", r"blocks.\1.mlp_norm."),
    (r"^encoder\.blocks\.(\d+)\.mlp\.0\.", r"blocks.\1.fc1."),
    (r"^encoder\.blocks\.(\d+)\.mlp\.2\.", r"blocks.\1.fc2."),
    (r"^quantizer\._codebook\.embed$", "quantizer.codebook"),
    (r"^quantizer\._codebook\.project_down\.", "quantizer.proj."),
)


def map_reference_key(key: str) -> str:
    """Our parameter name for one of the reference package's (``encoder.blocks.0.attn.query
    .weight`` -> ``blocks.0.attn.q_proj.weight``); unknown names raise KeyError."""
    for pattern, replacement in _REFERENCE_TO_OURS:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    raise KeyError(key)


def from_reference_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a reference-package state dict to ours (tensors are shared, not copied)."""
    return {map_reference_key(key): value for key, value in state.items()}


def is_reference_state_dict(state: dict[str, Any]) -> bool:
    return any(key.startswith(("encoder.", "quantizer._codebook")) for key in state)


def empty_model(config: S3Config) -> S3Model:
    """An `S3Model` without storage (meta device): `load_into` then assigns the tensors, so
    loading never spends time or memory on a random init."""
    with torch.device("meta"):
        return S3Model(config)


def load_into(
    model: S3Model,
    state: dict[str, torch.Tensor],
    source: str,
    *,
    allow_missing_ln_bias: bool = False,
) -> None:
    """Copy ``state`` (our names) into ``model``; any missing, extra or misshaped tensor is
    an error naming it. ``allow_missing_ln_bias``: some ONNX exports drop all-zero LayerNorm
    shifts (the reference loads v3 non-strictly for this); they are then zero.
    """
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    if allow_missing_ln_bias:
        for key in [k for k in missing if re.search(r"_norm\.bias$", k)]:
            state = {**state, key: torch.zeros_like(expected[key])}
            missing.remove(key)
    unexpected = [key for key in state if key not in expected]
    shapes = [
        f"{key}: {tuple(state[key].shape)} vs {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    if missing or unexpected or shapes:
        raise WeightsNotFoundError(
            f"{source} does not fit an S3 model {model.config.name}: missing {missing[:8]}, "
            f"unexpected {unexpected[:8]}, shape mismatches {shapes[:8]}"
        )
    state = {k: v.to(torch.float32).contiguous() for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or torch state-dict file (never unpickles objects)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsNotFoundError(f"{path} is not a state dict of tensors")
    return state


def save_pretrained(model: S3Model, directory: str | Path) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (our names) to ``directory``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = dataclasses.asdict(model.config)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    state = {key: value.detach().contiguous().cpu() for key, value in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE))
    return directory


def load_pretrained(directory: str | Path) -> S3Model:
    """The model a `save_pretrained` directory holds, with its own config."""
    directory = Path(directory)
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not (directory / name).is_file()]
    if missing:
        raise WeightsNotFoundError(f"{directory} lacks {', '.join(missing)}")
    fields = json.loads((directory / CONFIG_FILE).read_text())
    fields["codebook_sizes"] = tuple(fields["codebook_sizes"])
    config = S3Config(**fields)
    model = empty_model(config)
    load_into(model, read_tensors(directory / WEIGHTS_FILE), str(directory))
    return model.eval()


def load_model(
    config: S3Config, weights: str | Path | None, *, verify_sha256: bool = True, what: str = "s3"
) -> S3Model:
    """Build the model ``config`` describes and load ``weights`` (see the module docstring).

    A `save_pretrained` directory brings its own config; it must agree with ``config`` on
    rates and codebook (a debug directory loads under its full-size spec).
    """
    source = weights if weights is not None else config.hub_id
    if source is None:
        raise WeightsNotFoundError(f"{what}: no weights given and the preset has no default")
    path = Path(source).expanduser()
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        model = load_pretrained(path)
        _check_compatible(model.config, config, what, path)
        return model
    if path.is_dir():
        if config.onnx_file and (path / config.onnx_file).is_file():
            path = path / config.onnx_file
        else:
            raise WeightsNotFoundError(
                f"{what}: {path} holds neither {CONFIG_FILE} + {WEIGHTS_FILE} (save_pretrained) "
                f"nor {config.onnx_file}; download the official ONNX file into it"
            )
    elif not path.exists():
        if not _HUB_ID.match(str(source)) or path.suffix in _FILE_SUFFIXES:
            raise WeightsNotFoundError(
                f"{what}: weights file {path} does not exist (expected the official "
                f"{config.onnx_file}, a reference state dict, or a save_pretrained directory)"
            )
        path = _download(config, str(source), what)
    return _load_file(config, path, verify_sha256=verify_sha256, what=what)


def _load_file(config: S3Config, path: Path, *, verify_sha256: bool, what: str) -> S3Model:
    model = empty_model(config)
    if path.suffix == ".onnx":
        if verify_sha256:
            check_sha256(path, config.onnx_sha256, what)
        state = from_reference_state_dict(onnx_state_dict(path, config.quantizer))
        load_into(model, state, str(path), allow_missing_ln_bias=True)
    elif path.suffix in (".safetensors", *_TORCH_SUFFIXES):
        state = read_tensors(path)
        if is_reference_state_dict(state):
            state = from_reference_state_dict(state)
        load_into(model, state, str(path))
    else:
        raise WeightsNotFoundError(
            f"{what}: cannot read {path}: expected .onnx, .safetensors, "
            f"{'/'.join(_TORCH_SUFFIXES)} or a directory"
        )
    return model.eval()


def _download(config: S3Config, repo_id: str, what: str) -> Path:
    """``config.onnx_file`` from Hub repository ``repo_id`` (cached by huggingface_hub)."""
    if not config.onnx_file:
        raise WeightsNotFoundError(f"{what}: the preset names no ONNX file to fetch")
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, config.onnx_file))
    except Exception as exc:  # offline, unknown repo, missing file: all mean "not here"
        raise WeightsNotFoundError(
            f"{what}: could not get {config.onnx_file} from {repo_id!r} "
            f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}). "
            f"Pass weights=<path to {config.onnx_file}> (official file, SHA-256 "
            f"{config.onnx_sha256}), a directory holding it, or a save_pretrained directory "
            "(config.json + model.safetensors)."
        ) from exc


def _check_compatible(found: S3Config, wanted: S3Config, what: str, path: Path) -> None:
    ours = (found.sample_rate, found.frame_rate, found.codebook_sizes, found.conv1_stride)
    theirs = (wanted.sample_rate, wanted.frame_rate, wanted.codebook_sizes, wanted.conv1_stride)
    if ours != theirs:
        raise WeightsNotFoundError(
            f"{what}: {path} holds a model with (rate, frame rate, codebooks, stride) {ours}, "
            f"expected {theirs}"
        )
