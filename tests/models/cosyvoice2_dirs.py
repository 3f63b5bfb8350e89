"""CosyVoice 2 model directories with random weights, written as users get them: the official
layout (``llm.pt``, ``flow.pt``, ``hift.pt``, ``cosyvoice2.yaml``, ``campplus.onnx``,
``speech_tokenizer_v2.onnx``, ``CosyVoice-BlankEN/``, ``spk2info.pt``) and ours."""

from __future__ import annotations

from pathlib import Path

import torch

from audiotok.tokenizers.s3 import S3Tokenizer, get_config, load_model
from models.tts.cosyvoice2 import files
from models.tts.cosyvoice2.campplus import CAMPPlus
from models.tts.cosyvoice2.loading import random_parts, save
from models.tts.cosyvoice2.model import CosyVoice2Parts
from models.tts.cosyvoice2.prompt import PromptFrontEnd
from models.tts.cosyvoice2.voice import PromptEncoder
from tests.audiotok.tokenizers.s3_onnx_writer import write_official_like_onnx
from tests.audiotok.tokenizers.s3_reference import reference_model
from tests.models.test_cosyvoice2_prompt import tiny_campplus

SPEAKER = "speaker-a"


def parts_with_files(folder: Path, seed: int = 0) -> CosyVoice2Parts:
    """Random debug parts whose front ends are ONNX files in ``folder`` (the official kinds:
    a CAM++ stand-in graph and an S3 v2 tokenizer ONNX of debug size) and a built-in speaker."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = random_parts(seed)
    campplus = folder / files.CAMPPLUS
    tiny_campplus(campplus, seed=seed)
    tokenizer_file = folder / files.SPEECH_TOKENIZER
    state = reference_model("v2", seed=seed, width=128, heads=2, blocks=2).state_dict()
    write_official_like_onnx(state, "v2", tokenizer_file)
    config = get_config("v2_debug")
    tokenizer = S3Tokenizer(
        config, "s3-v2", load_model(config, tokenizer_file, verify_sha256=False)
    )
    assert isinstance(parts.prompt, PromptEncoder)
    front = PromptFrontEnd(CAMPPlus(campplus), parts.prompt.front.config)
    parts.prompt = PromptEncoder(front, tokenizer, parts.text)
    parts.files = {"campplus": campplus, "speech_tokenizer": tokenizer_file}
    generator = torch.Generator().manual_seed(seed + 1)
    parts.speakers = {SPEAKER: {"embedding": torch.randn(1, 192, generator=generator)}}
    return parts


def official_dir(folder: Path, seed: int = 0) -> Path:
    """A model directory in the official layout, random weights (see the module docstring)."""
    parts = parts_with_files(folder.parent / f"{folder.name}-files", seed)
    return save(parts, folder, "official")


def own_dir(folder: Path, seed: int = 0) -> Path:
    parts = parts_with_files(folder.parent / f"{folder.name}-files", seed)
    return save(parts, folder, "safetensors")
