"""`CosyVoice2Generator` end to end on random debug weights: loading both layouts (and
converting between them), batched requests equal to lone ones, streaming equal to the flow's
chunk-masked output, per-line errors, and memory that stays flat over hundreds of requests."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from audiotok.errors import WeightsNotFoundError
from models.tts.cosyvoice2 import files
from models.tts.cosyvoice2.loading import load_dir, random_generator, save
from models.tts.cosyvoice2.model import CosyVoice2Generator
from models.tts.generator import SynthesisRequest, Voice
from models.tts.registry import load_generator
from tests.models.cosyvoice2_dirs import SPEAKER, official_dir, parts_with_files

SAMPLE = Path(__file__).resolve().parents[2] / "audiotok" / "assets" / "sample_en.flac"
pytestmark = pytest.mark.filterwarnings("ignore:cosyvoice2. a debug RANDOMLY")


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return official_dir(tmp_path_factory.mktemp("cosyvoice2") / "official")


@pytest.fixture(scope="module")
def generator(official: Path) -> CosyVoice2Generator:
    return load_dir(official)


@pytest.fixture(scope="module")
def voice() -> Voice:
    import soundfile as sf

    wave, rate = sf.read(SAMPLE, dtype="float32")
    return Voice(wave[: 3 * rate], rate, "a short prompt", str(SAMPLE))


def _request(name: str, text: str, **kwargs: object) -> SynthesisRequest:
    return SynthesisRequest(name, text, seed=7, greedy=True, **kwargs)  # type: ignore[arg-type]


def test_official_layout_loads_and_speaks_like_the_parts_it_was_written_from(
    tmp_path: Path, official: Path, generator: CosyVoice2Generator
) -> None:
    written = CosyVoice2Generator(parts_with_files(tmp_path / "parts"))
    request = [_request("a", "hello there.")]
    expected, got = written.synthesize(request)[0], generator.synthesize(request)[0]
    assert got.error is None and got.audio.size > 0
    assert got.speech_tokens == expected.speech_tokens
    np.testing.assert_allclose(got.audio, expected.audio, atol=1e-5)
    assert generator.speakers == [SPEAKER]


def test_conversion_both_ways_keeps_the_output(
    tmp_path: Path, official: Path, generator: CosyVoice2Generator, voice: Voice
) -> None:
    ours = save(generator.parts, tmp_path / "ours", "safetensors")
    assert files.is_own(ours) and not (ours / files.OFFICIAL_PARTS["lm"]).exists()
    back = save(load_dir(ours).parts, tmp_path / "back", "official")
    requests = [_request("a", "hello."), _request("b", "one more line.", voice=voice)]
    reference = generator.synthesize(requests)
    for directory in (ours, back):
        for want, got in zip(reference, load_dir(directory).synthesize(requests), strict=True):
            assert got.error is None
            assert got.speech_tokens == want.speech_tokens
            assert got.prompt_speech_tokens == want.prompt_speech_tokens
            np.testing.assert_allclose(got.speaker_embedding, want.speaker_embedding, atol=1e-6)
            np.testing.assert_allclose(got.audio, want.audio, atol=1e-5)


def test_a_batch_gives_each_line_its_lone_result(
    generator: CosyVoice2Generator, voice: Voice
) -> None:
    requests = [
        _request("a", "hello."),
        _request("b", "A longer line. It has two sentences!", voice=voice),
        _request("c", "ok", speaker=SPEAKER),
    ]
    together = generator.synthesize(requests)
    for request, batched in zip(requests, together, strict=True):
        alone = generator.synthesize([request])[0]
        assert batched.speech_tokens == alone.speech_tokens
        assert batched.audio.shape == alone.audio.shape
        np.testing.assert_allclose(batched.audio, alone.audio, atol=1e-4)
    lengths = {len(r.speech_tokens) for r in together}
    assert len(lengths) == 3  # the lines really differ in length


def test_the_voice_prompt_is_trimmed_to_two_mel_frames_a_token(
    generator: CosyVoice2Generator, voice: Voice
) -> None:
    result = generator.synthesize([_request("a", "hello.", voice=voice)])[0]
    assert result.error is None and result.prompt_mel is not None and result.mel is not None
    assert result.prompt_mel.shape == (80, 2 * len(result.prompt_speech_tokens))
    assert len(result.prompt_speech_tokens) > 50  # 3 s at 25 tokens/s, less the trim
    assert result.prompt_text_tokens == generator.parts.text.encode("a short prompt")
    assert result.mel.shape == (80, 2 * len(result.speech_tokens))
    assert result.audio.size == 480 * result.mel.shape[1]
    assert len(result.speaker_embedding) == 192


def test_stream_gives_the_flows_chunk_masked_mel_and_the_joined_audio(
    generator: CosyVoice2Generator, voice: Voice
) -> None:
    request = _request("s", "a line long enough to stream in several chunks, surely.", voice=voice)
    chunks = list(generator.stream(request))
    assert chunks[-1].final and all(not c.final for c in chunks[:-1])
    assert len(chunks) >= 4  # 25 tokens, then growing chunks
    result = chunks[-1].result
    assert result is not None and result.error is None and result.mel is not None
    np.testing.assert_array_equal(np.concatenate([c.audio for c in chunks]), result.audio)
    assert result.audio.size == 480 * result.mel.shape[1] == 960 * len(result.speech_tokens)
    # the same tokens offline with the streaming mask: the same mel
    parts = generator.parts
    condition = generator._condition(request)
    offline = parts.flow.inference(
        [torch.tensor(result.speech_tokens)],
        [condition.prompt_speech],
        [condition.prompt_mel],
        condition.speaker[None],
        streaming=True,
    )
    np.testing.assert_allclose(result.mel, offline.mel[0].numpy(), atol=1e-4)
    times = [c.seconds for c in chunks]
    assert times == sorted(times)


def test_bad_lines_get_their_own_errors_and_the_others_are_spoken(
    generator: CosyVoice2Generator,
) -> None:
    silent = Voice(np.zeros(48000, np.float32), 16000, "quiet", "silent.wav")
    short = Voice(0.1 * np.ones(1600, np.float32), 16000, "short", "short.wav")
    results = generator.synthesize(
        [
            _request("ok", "hello."),
            _request("empty", "   "),
            _request("speaker", "hello.", speaker="nobody"),
            _request("silent", "hello.", voice=silent),
            _request("short", "hello.", voice=short),
        ]
    )
    reasons = {r.id: r.error.reason if r.error else None for r in results}
    assert reasons == {
        "ok": None,
        "empty": "empty_text",
        "speaker": "unknown_speaker",
        "silent": "voice_silent",
        "short": "voice_too_short",
    }
    assert results[0].audio.size > 0 and all(r.audio.size == 0 for r in results[1:])


def test_missing_files_and_sources_are_named_and_nothing_falls_back(
    tmp_path: Path, official: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(official, broken)
    (broken / "flow.pt").unlink()
    with pytest.raises(WeightsNotFoundError, match=r"missing flow\.pt .*huggingface-cli download"):
        load_generator(str(broken))
    with pytest.raises(WeightsNotFoundError, match="no model given"):
        load_generator(None)
    with pytest.raises(WeightsNotFoundError, match="no such directory"):
        load_generator(str(tmp_path / "nowhere"))
    with pytest.raises(WeightsNotFoundError, match="not a model directory"):
        load_generator(str(tmp_path))


def test_the_official_yaml_is_read_with_its_tags_ignored(tmp_path: Path, official: Path) -> None:
    """The real file's HyperPyYAML tags (``!new:``, ``!ref``, ``!name:``) read as data."""
    tagged = tmp_path / "tagged"
    shutil.copytree(official, tagged)
    spec = yaml.safe_load((official / files.OFFICIAL_YAML).read_text())
    estimator = spec["flow"]["decoder"]["estimator"]
    text = f"""
chunk_size: 25
token_mel_ratio: 2
llm: !new:cosyvoice.llm.llm.Qwen2LM
    sampling: !name:cosyvoice.utils.common.ras_sampling
        top_p: 0.8
        top_k: 25
        win_size: 10
        tau_r: 0.1
flow: !new:cosyvoice.flow.flow.CausalMaskedDiffWithXvec
    token_mel_ratio: !ref <token_mel_ratio>
    pre_lookahead_len: 3
    encoder: !new:cosyvoice.transformer.upsample_encoder.UpsampleConformerEncoder
        attention_heads: {spec["flow"]["encoder"]["attention_heads"]}
        linear_units: {spec["flow"]["encoder"]["linear_units"]}
        static_chunk_size: !ref <chunk_size>
    decoder: !new:cosyvoice.flow.flow_matching.CausalConditionalCFM
        cfm_params: !new:omegaconf.DictConfig
            content:
                t_scheduler: 'cosine'
                inference_cfg_rate: 0.7
        estimator: !new:cosyvoice.flow.decoder.CausalConditionalDecoder
            channels: {estimator["channels"]}
            attention_head_dim: {estimator["attention_head_dim"]}
            n_blocks: {estimator["n_blocks"]}
            num_mid_blocks: {estimator["num_mid_blocks"]}
            num_heads: {estimator["num_heads"]}
            act_fn: 'gelu'
            static_chunk_size: !ref <chunk_size> * <token_mel_ratio>
hift: !new:cosyvoice.hifigan.generator.HiFTGenerator
    base_channels: {spec["hift"]["base_channels"]}
    f0_predictor: !new:cosyvoice.hifigan.f0_predictor.ConvRNNF0Predictor
        cond_channels: {spec["hift"]["f0_predictor"]["cond_channels"]}
"""
    (tagged / files.OFFICIAL_YAML).write_text(text)
    request = [_request("a", "hello.")]
    want = load_dir(official).synthesize(request)[0]
    got = load_dir(tagged).synthesize(request)[0]
    np.testing.assert_allclose(got.audio, want.audio, atol=1e-6)
    # a tag that would run code is refused by the safe loader, never executed
    (tagged / files.OFFICIAL_YAML).write_text("x: !!python/object/apply:os.system ['exit 3']\n")
    with pytest.raises(yaml.YAMLError):
        load_dir(tagged)


def _rss_bytes() -> int:
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("memory test: needs /proc (Linux)")
    line = next(x for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_memory_stays_flat_over_hundreds_of_requests() -> None:
    generator = random_generator()
    texts = ["a", "hi.", "ok"]

    def run(batches: int) -> None:
        for b in range(batches):
            requests = [
                SynthesisRequest(f"{b}-{i}", texts[i % 3], speaker="random", seed=b * 8 + i)
                for i in range(8)
            ]
            results = generator.synthesize(requests)
            assert all(r.error is None and r.audio.size for r in results)
        for chunk in generator.stream(SynthesisRequest("s", "hello.", speaker="random", seed=1)):
            assert chunk.audio.dtype == np.float32

    run(5)  # warm-up: allocator pools, caches
    gc.collect()
    before = _rss_bytes()
    run(25)  # 200 more requests
    gc.collect()
    growth = _rss_bytes() - before
    print(f"resident memory growth over 200 requests: {growth / 2**20:.1f} MiB")
    assert growth < 24 * 2**20, f"resident memory grew {growth / 2**20:.1f} MiB"


def test_python_api_mirrors_the_generator(generator: CosyVoice2Generator) -> None:
    from models.tts import TTS, SynthesisError

    tts = TTS(generator)
    (audio,) = tts.synthesize("hello.", speaker=SPEAKER, greedy=True, seed=7)
    (want,) = generator.synthesize([_request("0000", "hello.", speaker=SPEAKER)])
    assert audio.sample_rate == 24000 and audio.samples.shape == (1, want.audio.size)
    np.testing.assert_allclose(audio.samples[0], want.audio, atol=1e-6)
    chunks = list(tts.stream("hello there, streamed.", voice=SAMPLE, voice_text="hi", seed=2))
    assert len(chunks) >= 2 and all(c.samples.shape[0] == 1 for c in chunks)
    with pytest.raises(SynthesisError, match="empty_text"):
        tts.synthesize(["fine.", " "], speaker=SPEAKER)


def test_bfloat16_runs_the_lm_and_flow_in_half_precision_and_hift_in_float32() -> None:
    generator = random_generator(dtype="bfloat16")
    assert next(generator.parts.lm.parameters()).dtype == torch.bfloat16
    assert next(generator.parts.flow.parameters()).dtype == torch.bfloat16
    assert next(generator.parts.hift.parameters()).dtype == torch.float32
    (result,) = generator.synthesize([SynthesisRequest("a", "hi.", speaker="random", seed=1)])
    assert result.error is None and result.audio.dtype == np.float32
    assert np.isfinite(result.audio).all() and float(np.abs(result.audio).max()) > 0
