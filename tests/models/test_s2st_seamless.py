"""The ``seamless`` backend on tiny random models: every segment gets text and audio at the
stated rate in both voice modes, the shared speech encoder gives what transformers' own
`generate` gives, re-voicing is the CosyVoice 2 vocoder speaking Seamless's tokens in the
segment's voice, failures stay with their segment, a saved model loads from its directory,
missing models are errors (never random weights), and the seed fixes the output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from audiotok.errors import WeightsNotFoundError
from models.s2st.seamless import (
    RANDOM_MAX_TOKENS,
    SeamlessTranslator,
    build_seamless,
    random_seamless,
)
from models.s2st.translator import SegmentInput, TranslationSetupError, TranslatorOptions
from models.tts.generator import TokenRequest, TokenVocoder, Voice
from tests.signals import speech_like

pytestmark = [
    pytest.mark.filterwarnings("ignore:seamless. a tiny RANDOMLY"),
    pytest.mark.filterwarnings("ignore:cosyvoice2. a debug RANDOMLY"),
    pytest.mark.filterwarnings("ignore:s3-v2. a tiny RANDOMLY"),
]
SEED = 5


def _options(**changes: Any) -> TranslatorOptions:
    values: dict[str, Any] = {"source": "fr", "target": "en", "random_weights": True, "seed": SEED}
    return TranslatorOptions(**{**values, **changes})


def _segments() -> list[SegmentInput]:
    noise = np.random.default_rng(1).standard_normal(40000).astype(np.float32) * 0.1
    return [
        SegmentInput("f-0", speech_like(1.0, 16000, seed=1), 16000, "fr", seed=10),
        SegmentInput("f-1", noise, 16000, "fr", seed=11),
        SegmentInput("f-2", speech_like(1.6, 24000, seed=2), 24000, "fr", seed=12),
        SegmentInput("g-0", speech_like(1.3, 16000, seed=3), 16000, None, seed=13),
    ]


@pytest.fixture(scope="module")
def plain() -> SeamlessTranslator:
    return build_seamless(_options(voice="none"))


@pytest.fixture(scope="module")
def revoiced() -> SeamlessTranslator:
    return build_seamless(_options(voice="keep"))


@pytest.mark.parametrize(("voice", "rate"), [("none", 16000), ("keep", 24000)])
def test_every_segment_gets_text_and_audio_at_the_stated_rate(voice: str, rate: int) -> None:
    translator = build_seamless(_options(voice=voice))
    segments = _segments()
    outputs = translator.translate(segments)
    assert translator.sample_rate == rate
    assert translator.voice_preserving is (voice == "keep")
    assert [o.id for o in outputs] == [s.id for s in segments]
    stages = {"s2st", "asr"} | ({"revoice"} if voice == "keep" else set())
    for segment, output in zip(segments, outputs, strict=True):
        assert output.error is None, output.error
        assert isinstance(output.target_text, str) and output.target_text
        assert output.audio.dtype == np.float32 and output.audio.ndim == 1
        assert output.audio.size > 0 and np.isfinite(output.audio).all()
        assert output.sample_rate == rate
        assert set(output.stage_s) == stages and all(v > 0 for v in output.stage_s.values())
        known = segment.source_language is not None
        assert output.source_language == segment.source_language
        assert bool(output.source_text) is known  # Seamless's ASR needs the language
    # one batch: its time is shared out in proportion to segment length
    ratio = outputs[1].stage_s["s2st"] / outputs[0].stage_s["s2st"]
    assert ratio == pytest.approx(segments[1].wave.size / segments[0].wave.size)
    assert len({o.target_text for o in outputs}) > 1  # the random model hears its input


def test_describe_names_the_parts_and_marks_the_random_ones(
    plain: SeamlessTranslator, revoiced: SeamlessTranslator
) -> None:
    assert plain.describe() == {
        "backend": "seamless",
        "model": "tiny random SeamlessM4T v2",
        "revoice": "none (Seamless's own voice)",
        "source_text": "Seamless's own ASR",
        "voice_preserving": False,
        "random": ["model"],
    }
    described = revoiced.describe()
    assert described["random"] == ["model", "revoice"]
    assert described["voice_preserving"] is True
    assert "CosyVoice 2" in described["revoice"]


def test_the_shared_encoder_gives_what_plain_generate_gives(plain: SeamlessTranslator) -> None:
    segments = [s for s in _segments() if s.sample_rate == 16000]
    outputs = plain.translate(segments)
    parts = plain.parts
    inputs = parts.features(
        [s.wave for s in segments], sampling_rate=16000, padding=True, return_tensors="pt"
    )
    with torch.inference_mode():
        speech = parts.model.generate(**inputs, tgt_lang="eng", return_intermediate_token_ids=True)
        heard = parts.model.generate(**inputs, tgt_lang="fra", generate_speech=False)
    texts = parts.tokenizer.batch_decode(speech.sequences, skip_special_tokens=True)
    transcripts = parts.tokenizer.batch_decode(heard.sequences, skip_special_tokens=True)
    lengths = speech.waveform_lengths.reshape(-1)
    for row, (segment, output) in enumerate(zip(segments, outputs, strict=True)):
        assert output.target_text == texts[row].strip()
        want = speech.waveform[row, : int(lengths[row])].numpy()
        np.testing.assert_allclose(output.audio, want, atol=1e-5)
        if segment.source_language is not None:
            assert output.source_text == transcripts[row].strip()
    assert len(speech.sequences[0]) <= RANDOM_MAX_TOKENS + 2  # start + language tokens


def test_revoicing_speaks_seamless_tokens_in_the_segment_voice(
    plain: SeamlessTranslator, revoiced: SeamlessTranslator
) -> None:
    segments = _segments()
    seamless, kept = plain.translate(segments), revoiced.translate(segments)
    vocoder = revoiced.revoicer
    assert isinstance(vocoder, TokenVocoder)
    for segment, own, output in zip(segments, seamless, kept, strict=True):
        assert output.target_text == own.target_text  # the same random Seamless
        tokens = vocoder.speech_tokens(own.audio, 16000)
        voice = Voice(segment.wave, segment.sample_rate, "", segment.id)
        want = vocoder.speak_tokens([TokenRequest(segment.id, tokens, voice, seed=segment.seed)])
        np.testing.assert_allclose(output.audio, want[0].audio, atol=1e-4)
        assert abs(output.audio.size - 1.5 * own.audio.size) <= 2 * 960  # 16 -> 24 kHz
    other = vocoder.speak_tokens(
        [TokenRequest("x", tokens, Voice(segments[0].wave, 16000), seed=segments[-1].seed)]
    )[0]
    assert float(np.abs(other.audio - kept[-1].audio).max()) > 1e-3  # the voice matters


def test_bad_segments_fail_alone(plain: SeamlessTranslator, revoiced: SeamlessTranslator) -> None:
    good = _segments()[0]
    bad = [
        SegmentInput("short", good.wave[:800], 16000, "fr"),
        SegmentInput("silent", np.zeros(16000, np.float32), 16000, "fr"),
        SegmentInput("nan", np.full(16000, np.nan, np.float32), 16000, "fr"),
        SegmentInput("tagalog", good.wave, 16000, "tl"),
    ]
    alone = plain.translate([good])[0]
    outputs = plain.translate([*bad, good])
    reasons = [o.error.reason if o.error else None for o in outputs]
    assert reasons == ["no_speech", "no_speech", "no_speech", "unsupported_language", None]
    assert all(o.audio.size == 0 for o in outputs[:3])
    np.testing.assert_allclose(outputs[-1].audio, alone.audio, atol=1e-5)
    too_short_voice = SegmentInput("brief", good.wave[:4000], 16000, "fr")  # 0.25 s
    kept = revoiced.translate([too_short_voice, good])
    assert kept[0].error is not None and kept[0].error.reason == "revoice_failed"
    assert "voice_too_short" in kept[0].error.detail
    assert kept[1].error is None and kept[1].audio.size > 0


def test_a_failing_batch_is_retried_segment_by_segment(
    plain: SeamlessTranslator, monkeypatch: pytest.MonkeyPatch
) -> None:
    segments = [s for s in _segments() if s.sample_rate == 16000]
    # each alone: transformers' speech adapter reads past an item's end, so a padded batch
    # differs a little from its items alone
    expected = [plain.translate([segment])[0] for segment in segments]
    longest = max(range(len(segments)), key=lambda i: segments[i].wave.size)
    features = plain.parts.features([segments[longest].wave], sampling_rate=16000)
    frames = len(features["input_features"][0])
    generate = plain.parts.model.generate

    def failing(*args: Any, **kwargs: Any) -> Any:
        if kwargs["input_features"].shape[1] >= frames:  # any batch holding the longest
            raise RuntimeError("out of memory (simulated)")
        return generate(*args, **kwargs)

    monkeypatch.setattr(plain.parts.model, "generate", failing)
    outputs = plain.translate(segments)
    for i, (want, got) in enumerate(zip(expected, outputs, strict=True)):
        if i == longest:
            assert got.error is not None and got.error.reason == "s2st_failed"
            assert "simulated" in got.error.detail and got.audio.size == 0
        else:
            assert got.error is None and got.target_text == want.target_text
            np.testing.assert_allclose(got.audio, want.audio, atol=1e-5)


def test_a_failing_revoicing_batch_is_retried_segment_by_segment(
    revoiced: SeamlessTranslator, monkeypatch: pytest.MonkeyPatch
) -> None:
    segments = _segments()
    expected = [revoiced.translate([segment])[0] for segment in segments]
    vocoder = revoiced.revoicer
    assert vocoder is not None
    speak = vocoder.speak_tokens

    def failing(requests: list[TokenRequest]) -> Any:
        if any(request.id == "f-1" for request in requests):
            raise RuntimeError("vocoder failure (simulated)")
        return speak(requests)

    monkeypatch.setattr(vocoder, "speak_tokens", failing)
    outputs = [revoiced.translate([segment])[0] for segment in segments]
    together = revoiced.translate(segments)
    for want, alone, got in zip(expected, outputs, together, strict=True):
        if got.id == "f-1":
            for failed in (alone, got):
                assert failed.error is not None and failed.error.reason == "revoice_failed"
                assert failed.audio.size == 0
        else:
            assert alone.error is None and got.error is None
            np.testing.assert_allclose(alone.audio, want.audio, atol=1e-5)
            assert got.audio.size > 0 and got.sample_rate == 24000


def test_the_same_seed_gives_the_same_output_and_another_seed_another(
    plain: SeamlessTranslator,
) -> None:
    segments = _segments()
    first = plain.translate(segments)
    again = build_seamless(_options(voice="none")).translate(segments)
    other = build_seamless(_options(voice="none", seed=SEED + 1)).translate(segments)
    for a, b in zip(first, again, strict=True):
        assert (a.target_text, a.source_text) == (b.target_text, b.source_text)
        np.testing.assert_array_equal(a.audio, b.audio)
    assert any(
        a.target_text != c.target_text
        or a.audio.shape != c.audio.shape
        or not np.allclose(a.audio, c.audio)
        for a, c in zip(first, other, strict=True)
    )


def test_a_saved_model_loads_from_its_directory_and_translates_the_same(
    tmp_path: Path, plain: SeamlessTranslator
) -> None:
    parts = random_seamless(SEED)
    for part in (parts.model, parts.features, parts.tokenizer):
        part.save_pretrained(tmp_path)
    loaded = build_seamless(_options(voice="none", model=str(tmp_path), random_weights=False))
    assert loaded.describe()["model"] == str(tmp_path) and loaded.describe()["random"] == []
    segments = _segments()
    for want, got in zip(plain.translate(segments), loaded.translate(segments), strict=True):
        assert (got.target_text, got.source_text) == (want.target_text, want.source_text)
        np.testing.assert_allclose(got.audio, want.audio, atol=1e-5)


def _write(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def _saved_without(path: Path, name: str) -> Path:
    """A saved random model directory lacking one file."""
    parts = random_seamless(SEED)
    for part in (parts.model, parts.features, parts.tokenizer):
        part.save_pretrained(path)
    (path / name).unlink()
    return path


@pytest.mark.parametrize(
    "source",
    [
        lambda tmp: str(tmp / "no-such-dir"),
        lambda tmp: str(_write(tmp / "empty", {"notes.txt": "no model here"})),
        lambda tmp: str(_write(tmp / "config-only", {"config.json": "{}"})),
        lambda tmp: str(_saved_without(tmp / "saved", "model.safetensors")),
        lambda tmp: "nobody-here/no-such-seamless",  # the tests' Hub is offline
    ],
    ids=["missing-dir", "no-config", "no-tokenizer", "no-weights", "hub-id"],
)
def test_a_missing_model_is_an_error_even_with_random_weights(
    tmp_path: Path, source: Callable[[Path], str]
) -> None:
    name = source(tmp_path)
    with pytest.raises(WeightsNotFoundError, match="seamless model") as caught:
        build_seamless(_options(voice="none", model=name))
    assert Path(name).name in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"voice": "clone"}, "--voice must be keep or none"),
        ({"asr_model": "tiny"}, "--asr-model belong to the cascade"),
        ({"voice": "none", "tts_model": "x"}, "--tts-model re-voices"),
        ({"target": "ja"}, "cannot speak 'ja'"),
        ({"source": "it"}, "cannot transcribe 'it'"),
    ],
)
def test_settings_it_cannot_honour_are_rejected(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(TranslationSetupError, match=match):
        build_seamless(_options(**changes))


@pytest.mark.gpu
def test_it_runs_on_a_gpu_like_on_the_cpu(plain: SeamlessTranslator) -> None:
    segments = _segments()
    on_gpu = build_seamless(_options(voice="keep", device="cuda")).translate(segments)
    on_cpu = plain.translate(segments)
    for cpu, gpu in zip(on_cpu, on_gpu, strict=True):
        assert gpu.error is None and gpu.sample_rate == 24000 and gpu.audio.size > 0
        assert gpu.target_text == cpu.target_text
