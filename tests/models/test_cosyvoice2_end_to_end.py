"""End to end against the official code: the reference's own LM, flow and HiFT with random
weights, their state dicts written as the official ``llm.pt``, ``flow.pt``, ``hift.pt`` (+ the
yaml, tokenizer, CAM++ and S3 files), loaded by our loader; greedy decoding of the same line
through both gives the same tokens, the same mel and the same waveform."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from models.tts.cosyvoice2 import files
from models.tts.cosyvoice2.decode import SamplingConfig
from models.tts.cosyvoice2.flow import FlowConfig
from models.tts.cosyvoice2.flow import debug as flow_debug
from models.tts.cosyvoice2.hift_config import debug as hift_debug
from models.tts.cosyvoice2.lm_config import SpeechLMConfig
from models.tts.cosyvoice2.lm_config import debug as lm_debug
from models.tts.cosyvoice2.loading import load_dir, official_yaml
from models.tts.cosyvoice2.model import CosyVoice2Generator, _seed
from models.tts.cosyvoice2.text import write_debug_tokenizer
from models.tts.generator import SynthesisRequest, Voice
from tests.audiotok.tokenizers.s3_onnx_writer import write_official_like_onnx
from tests.audiotok.tokenizers.s3_reference import reference_model
from tests.models.cosyvoice_reference import reference_lm, reference_module
from tests.models.test_cosyvoice2_flow_encoder import reference_encoder
from tests.models.test_cosyvoice2_flow_estimator import reference_estimator
from tests.models.test_cosyvoice2_flow_sampler import reference_cfm
from tests.models.test_cosyvoice2_hift import reference_hift
from tests.models.test_cosyvoice2_prompt import tiny_campplus

SAMPLE = Path(__file__).resolve().parents[2] / "audiotok" / "assets" / "sample_en.flac"


def reference_flow(config: FlowConfig, seed: int) -> Any:
    """The reference ``CausalMaskedDiffWithXvec`` around the reference encoder and sampler,
    every weight seeded."""
    module = reference_module("flow.flow")
    with torch.random.fork_rng(devices=[]):
        flow = module.CausalMaskedDiffWithXvec(
            input_size=config.token_width,
            output_size=config.mel_bins,
            spk_embed_dim=config.speaker_dim,
            output_type="mel",
            vocab_size=config.vocab,
            input_frame_rate=25,
            only_mask_loss=True,
            token_mel_ratio=config.token_mel_ratio,
            pre_lookahead_len=config.pre_lookahead,
            encoder=reference_encoder(config.encoder, seed),
            decoder=reference_cfm(reference_estimator(config.estimator, seed), config.cfm),
        )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (flow.input_embedding, flow.spk_embed_affine_layer, flow.encoder_proj):
            for parameter in layer.parameters():
                noise = torch.randn(parameter.shape, generator=generator)
                scale = 1 / math.sqrt(parameter.shape[-1]) if parameter.dim() > 1 else 0.1
                parameter.copy_(noise * scale)
    return flow.eval()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An official-layout directory written from reference modules, and those modules."""
    folder = tmp_path_factory.mktemp("official")
    text_dir = folder / files.OFFICIAL_TEXT_DIR
    lm_config: SpeechLMConfig = lm_debug()
    flow_config, hift_config = flow_debug(), hift_debug()
    lm = reference_lm(lm_config, text_dir, seed=3)  # writes the Qwen2 body's config.json
    write_debug_tokenizer(text_dir)
    flow, hift = reference_flow(flow_config, seed=4), reference_hift(hift_config, seed=5)
    torch.save(lm.state_dict(), folder / "llm.pt")
    torch.save(flow.state_dict(), folder / "flow.pt")
    torch.save(hift.state_dict(), folder / "hift.pt")
    spec = official_yaml(flow_config, hift_config, SamplingConfig(), lm_config)
    (folder / files.OFFICIAL_YAML).write_text(yaml.safe_dump(spec))
    tiny_campplus(folder / files.CAMPPLUS)
    state = reference_model("v2", seed=6, width=128, heads=2, blocks=2).state_dict()
    write_official_like_onnx(state, "v2", folder / files.SPEECH_TOKENIZER)
    return folder, {"lm": lm, "flow": flow, "hift": hift, "hift_config": hift_config}


def _argmax(scores: torch.Tensor, decoded: list[int], sampling: int) -> torch.Tensor:
    return scores.argmax().reshape(1)


def _reference_line(
    modules: dict[str, Any], generator: CosyVoice2Generator, request: SynthesisRequest
) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """The official chain on our front ends' inputs: LM (greedy), flow, HiFT (its source
    seeded as ours is for this line)."""
    condition = generator._condition(request)
    text = torch.tensor(generator.parts.text.encode(generator.parts.text.split(request.text)[0]))
    lm, flow, hift = modules["lm"], modules["flow"], modules["hift"]
    lm.sampling = _argmax
    tokens = list(
        lm.inference(
            text=text[None],
            text_len=torch.tensor([text.numel()]),
            prompt_text=condition.prompt_text[None],
            prompt_text_len=torch.tensor([condition.prompt_text.numel()]),
            prompt_speech_token=condition.prompt_speech[None],
            prompt_speech_token_len=torch.tensor([condition.prompt_speech.numel()]),
            embedding=torch.zeros(1, 192),
        )
    )
    prompt = condition.prompt_speech[None]
    mel, _ = flow.inference(
        token=torch.tensor(tokens)[None],
        token_len=torch.tensor([len(tokens)]),
        prompt_token=prompt,
        prompt_token_len=torch.tensor([prompt.shape[1]]),
        prompt_feat=condition.prompt_mel[None],
        prompt_feat_len=torch.tensor([condition.prompt_mel.shape[0]]),
        embedding=condition.speaker[None],
        streaming=False,
        finalize=True,
    )
    seed = _seed(request, 0)
    assert seed is not None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        wave, _ = hift.inference(speech_feat=mel)
    return tokens, mel[0], wave[0]


def test_greedy_synthesis_equals_the_official_chain(setup: tuple[Path, dict[str, Any]]) -> None:
    import soundfile as sf

    folder, modules = setup
    generator = load_dir(folder)  # strict loading of every reference state dict
    wave, rate = sf.read(SAMPLE, dtype="float32")
    voice = Voice(wave[: 2 * rate], rate, "a short prompt", str(SAMPLE))
    request = SynthesisRequest("a", "hi.", voice=voice, greedy=True, seed=11)
    ours = generator.synthesize([request])[0]
    assert ours.error is None and ours.mel is not None
    tokens, mel, wave_ref = _reference_line(modules, generator, request)
    assert ours.speech_tokens == tokens
    mel_diff = float((torch.from_numpy(ours.mel) - mel).abs().max())
    wave_diff = float(np.abs(ours.audio - wave_ref.numpy()).max())
    print(f"end to end: {len(tokens)} tokens, mel max diff {mel_diff:.2e}, wave {wave_diff:.2e}")
    assert mel_diff <= 1e-3, mel_diff
    assert ours.audio.shape == tuple(wave_ref.shape)
    assert wave_diff <= 1e-3, wave_diff


def test_sampling_settings_come_from_the_yaml(setup: tuple[Path, dict[str, Any]]) -> None:
    folder, _ = setup
    spec = yaml.safe_load((folder / files.OFFICIAL_YAML).read_text())
    assert load_dir(folder).parts.sampling == replace(
        SamplingConfig(),
        top_p=spec["llm"]["sampling"]["top_p"],
        top_k=spec["llm"]["sampling"]["top_k"],
    )
