"""The CosyVoice 2 prompt front end: the prompt mel against Matcha-TTS's ``mel_spectrogram``
(the official feature extractor), padded batches, the trim, and the CAM++ plumbing on a tiny
ONNX graph built here (the official ``campplus.onnx`` is not shipped with the tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.audio.resample import sinc_resample
from audiotok.features.kaldi_fbank import KaldiFbankConfig, kaldi_fbank
from models.tts.cosyvoice2.campplus import CAMPPlus, CAMPPlusConfig
from models.tts.cosyvoice2.prompt import (
    PRESETS,
    PromptConfig,
    PromptFrontEnd,
    PromptMelConfig,
    preset,
    prompt_log_mel,
    to_prompt_rate,
    trim_prompt,
)
from models.tts.generator import SynthesisError

SAMPLE = Path(__file__).resolve().parents[2] / "audiotok" / "assets" / "sample_en.flac"
MATCHA_AUDIO = "matcha/utils/audio.py"
BINS, DIM = 80, 192


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    wave, rate = sf.read(SAMPLE, dtype="float32")
    assert rate == 16000
    return wave


def matcha_audio() -> ModuleType:
    """``matcha/utils/audio.py`` loaded by path (the ``matcha.utils`` package imports hydra)."""
    spec = importlib.util.find_spec("matcha")
    roots = list(spec.submodule_search_locations or []) if spec else []
    candidates = [Path(root).parent / MATCHA_AUDIO for root in roots]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        pytest.skip("reference: pip install --no-deps cosyvoice-minicpmo (gives matcha)")
    pytest.importorskip("librosa")
    module_spec = importlib.util.spec_from_file_location("matcha_audio_reference", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def reference_mel(wave_24k: np.ndarray) -> np.ndarray:
    """The official prompt mel (``cosyvoice2.yaml``'s feat_extractor) ``[frames, 80]``."""
    mel = matcha_audio().mel_spectrogram(
        torch.from_numpy(wave_24k)[None],
        n_fft=1920,
        num_mels=80,
        sampling_rate=24000,
        hop_size=480,
        win_size=1920,
        fmin=0,
        fmax=8000,
        center=False,
    )
    return mel[0].T.numpy()


def tiny_campplus(path: Path, out_dim: int = DIM, seed: int = 0) -> np.ndarray:
    """An ONNX stand-in for CAM++ with its input and output layout: ``feats [1, T, 80]`` ->
    ``[1, out_dim]`` = ``[mean of x^2 over time, max over time] @ W``; returns ``W``."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(seed).standard_normal((2 * BINS, out_dim)).astype(np.float32)
    nodes = [
        helper.make_node("Mul", ["feats", "feats"], ["squares"]),
        helper.make_node("ReduceMean", ["squares"], ["power"], axes=[1], keepdims=0),
        helper.make_node("ReduceMax", ["feats"], ["peak"], axes=[1], keepdims=0),
        helper.make_node("Concat", ["power", "peak"], ["stats"], axis=1),
        helper.make_node("MatMul", ["stats", "weight"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_campplus",
        [helper.make_tensor_value_info("feats", TensorProto.FLOAT, [1, "frames", BINS])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, out_dim])],
        initializer=[numpy_helper.from_array(weight, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return weight


# --- prompt mel --------------------------------------------------------------------------


def test_prompt_mel_matches_the_reference(speech: np.ndarray) -> None:
    for wave in (sinc_resample(speech, 16000, 24000), sinc_resample(speech[:12345], 16000, 24000)):
        ours, frames = prompt_log_mel(torch.from_numpy(wave))
        reference = reference_mel(wave)
        assert ours.shape == (1, BINS, wave.size // 480) and int(frames[0]) == wave.size // 480
        assert reference.shape == (wave.size // 480, BINS)
        np.testing.assert_allclose(ours[0].T.numpy(), reference, atol=1e-5, rtol=0)


def test_front_end_resamples_then_takes_the_mel(speech: np.ndarray) -> None:
    front = PromptFrontEnd()
    mel = front.prompt_mel(speech[:20000])
    assert mel.dtype == np.float32 and mel.shape == (20000 * 3 // 2 // 480, BINS)
    np.testing.assert_allclose(
        mel, reference_mel(sinc_resample(speech[:20000], 16000, 24000)), atol=1e-5, rtol=0
    )


def test_a_padded_batch_equals_each_prompt_alone(speech: np.ndarray) -> None:
    waves = [speech[:9000], speech[3000:19001], speech[100:1100]]
    front = PromptFrontEnd()
    batched = front.prompt_mels(waves)
    for wave, mel in zip(waves, batched, strict=True):
        np.testing.assert_allclose(mel, front.prompt_mel(wave), atol=1e-5, rtol=0)
    # frames past an item's end hold the log floor
    config = PromptMelConfig()
    padded = torch.zeros(2, 4800)
    padded[0] = torch.from_numpy(sinc_resample(speech[:3200], 16000, 24000))
    padded[1, :1500] = padded[0, :1500]
    mels, frames = prompt_log_mel(padded, torch.tensor([4800, 1500]), config)
    assert frames.tolist() == [10, 3]
    assert torch.all(mels[1, :, 3:] == float(np.log(config.log_floor)))
    alone, _ = prompt_log_mel(padded[1, :1500])
    torch.testing.assert_close(mels[1, :, :3], alone[0], atol=1e-5, rtol=0)


def test_a_prompt_too_short_for_the_mel_is_refused() -> None:
    with pytest.raises(SynthesisError) as caught:
        PromptFrontEnd().prompt_mel(np.ones(400, np.float32) * 0.1)  # 600 samples at 24 kHz
    assert caught.value.reason == "voice_too_short"


# --- the trim ----------------------------------------------------------------------------


@pytest.mark.parametrize(("frames", "tokens", "kept"), [(101, 60, 50), (80, 30, 30), (7, 3, 3)])
def test_trim_keeps_two_frames_per_token(frames: int, tokens: int, kept: int) -> None:
    mel, ids = trim_prompt(np.zeros((frames, BINS)), list(range(tokens)))
    # the official rule: token_len = min(int(mel_frames / 2), n_tokens)
    assert kept == min(int(frames / 2), tokens)
    assert mel.shape == (2 * kept, BINS) and ids == list(range(kept))
    mel_t, ids_t = trim_prompt(torch.zeros(frames, BINS), torch.arange(tokens), token_mel_ratio=2)
    assert mel_t.shape == (2 * kept, BINS) and ids_t.tolist() == list(range(kept))


# --- CAM++ -------------------------------------------------------------------------------


def test_campplus_runs_mean_normalised_fbank(tmp_path: Path, speech: np.ndarray) -> None:
    weight = tiny_campplus(tmp_path / "campplus.onnx")
    campplus = CAMPPlus(tmp_path / "campplus.onnx")
    wave = speech[:32000]
    fbank = kaldi_fbank(wave, KaldiFbankConfig(num_mel_bins=BINS))
    features = fbank - fbank.mean(axis=0, keepdims=True)
    np.testing.assert_allclose(campplus.features(wave), features, atol=1e-6)
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-5)
    stats = np.concatenate([(features**2).mean(axis=0), features.max(axis=0)])
    vector = campplus.embed(wave)
    assert vector.shape == (DIM,) and vector.dtype == np.float32
    np.testing.assert_allclose(vector, stats @ weight, rtol=1e-4, atol=1e-4)


def test_campplus_features_are_kaldis(tmp_path: Path, speech: np.ndarray) -> None:
    knf = pytest.importorskip("kaldi_native_fbank")
    tiny_campplus(tmp_path / "campplus.onnx")
    options = knf.FbankOptions()
    options.frame_opts.dither = 0.0
    options.mel_opts.num_bins = BINS
    options.energy_floor = 1.0
    computer = knf.OnlineFbank(options)
    wave = speech[:16000]
    computer.accept_waveform(16000, wave.tolist())
    computer.input_finished()
    kaldi = np.array([computer.get_frame(i) for i in range(computer.num_frames_ready)])
    expected = kaldi - kaldi.mean(axis=0, keepdims=True)
    ours = CAMPPlus(tmp_path / "campplus.onnx").features(wave)
    assert np.abs(ours - expected).max() <= 1e-3


@pytest.mark.parametrize(
    ("wave", "reason"),
    [
        (np.full(16000 * 3 // 10, 0.1, np.float32), "voice_too_short"),  # 0.3 s: 28 frames
        (np.zeros(16000, np.float32), "voice_silent"),
        (np.full(16000, 1e-4, np.float32), "voice_silent"),  # -80 dBFS
        (np.full(16000, np.nan, np.float32), "voice_silent"),
    ],
)
def test_campplus_refuses_short_or_silent_prompts(
    tmp_path: Path, wave: np.ndarray, reason: str
) -> None:
    tiny_campplus(tmp_path / "campplus.onnx")
    with pytest.raises(SynthesisError) as caught:
        CAMPPlus(tmp_path / "campplus.onnx").embed(wave)
    assert caught.value.reason == reason


def test_campplus_checks_the_vector_size(tmp_path: Path, speech: np.ndarray) -> None:
    tiny_campplus(tmp_path / "other.onnx", out_dim=10)
    with pytest.raises(ValueError, match="10 values"):
        CAMPPlus(tmp_path / "other.onnx").embed(speech[:16000])


# --- the whole prompt --------------------------------------------------------------------


def test_prepare_gives_the_trimmed_mel_tokens_and_vector(
    tmp_path: Path, speech: np.ndarray
) -> None:
    tiny_campplus(tmp_path / "campplus.onnx")
    front = PromptFrontEnd(campplus_path=tmp_path / "campplus.onnx")
    wave = speech[:33000]  # 49500 samples at 24 kHz: 103 mel frames
    tokens = list(range(60))  # more than the 51 that 103 frames hold: the trim cuts them
    prepared = front.prepare(wave, tokens)
    assert prepared.mel.shape == (102, BINS) and prepared.speech_tokens.tolist() == tokens[:51]
    np.testing.assert_array_equal(prepared.mel, front.prompt_mel(wave)[:102])
    assert front.campplus is not None
    np.testing.assert_array_equal(prepared.speaker, front.campplus.embed(wave))
    short = front.prepare(wave, tokens[:40])
    assert short.mel.shape == (80, BINS) and short.speech_tokens.size == 40
    with pytest.raises(ValueError, match="no CAM"):
        PromptFrontEnd().speaker_vector(wave)


def test_to_prompt_rate_mixes_down_and_resamples(speech: np.ndarray) -> None:
    wave_48k = sinc_resample(speech[:16000], 16000, 48000)
    stereo = np.stack([wave_48k, wave_48k])
    out = to_prompt_rate(stereo, 48000)
    assert out.shape == (16000,) and out.dtype == np.float32
    np.testing.assert_allclose(out, sinc_resample(wave_48k, 48000, 16000), atol=1e-7)
    np.testing.assert_array_equal(to_prompt_rate(speech, 16000), speech)


def test_presets_and_config_round_trip() -> None:
    assert set(PRESETS) == {"cosyvoice2-0.5b", "debug"}
    config = preset("cosyvoice2-0.5b")
    assert config.mel == PromptMelConfig() and config.mel.pad == 720 and config.mel.frame_rate == 50
    assert config.speaker.fbank.num_mel_bins == BINS and config.speaker.embedding_dim == DIM
    assert PromptConfig.from_dict(config.to_dict()) == config
    assert CAMPPlusConfig.from_dict(config.speaker.to_dict()) == config.speaker
    with pytest.raises(ValueError, match="unknown"):
        PromptConfig.from_dict({"hop": 3})
    with pytest.raises(ValueError, match="unknown"):
        PromptConfig.from_dict({"mel": {"hop": 3}})
    with pytest.raises(ValueError, match="known"):
        preset("nope")
    with pytest.raises(ValueError, match="CAM"):
        PromptConfig(prompt_rate=24000)
