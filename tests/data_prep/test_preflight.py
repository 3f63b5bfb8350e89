"""The configuration check: a missing package, model file or program stops `prepare`, `bench`
and `tokenize` before any file is read, with one line per problem and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from audiotok.errors import BackendUnavailableError
from audiotok.requirements import ConfigurationError, PackageData, Problem, check
from data_prep import PrepareConfig, prepare
from data_prep.preflight import prepare_problems
from pipelines.bench.config import BenchConfig
from pipelines.bench.preflight import bench_problems
from tests.conftest import REPO_ROOT

INSTALL = "pip install --no-deps Resemblyzer==0.1.4"

# Imported by the CLI's interpreter (PYTHONPATH): hides the Resemblyzer package as if it had
# never been installed, and records at exit whether Ray was ever imported.
BLOCKER = """
import atexit, json, os, sys

class HideResemblyzer:
    def find_spec(self, name, path=None, target=None):
        if name == "resemblyzer" or name.startswith("resemblyzer."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, HideResemblyzer())

@atexit.register
def _report():
    with open(os.environ["AUDIOTOK_TEST_MARKER"], "w") as f:
        json.dump({"ray_imported": "ray" in sys.modules}, f)
"""


class _Hidden:
    """A meta-path finder hiding one top-level package (as if not installed)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == self.name or name.startswith(self.name + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


@pytest.fixture
def no_resemblyzer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "meta_path", [_Hidden("resemblyzer"), *sys.meta_path])
    for name in [m for m in sys.modules if m == "resemblyzer" or m.startswith("resemblyzer.")]:
        monkeypatch.delitem(sys.modules, name)


def _speech_dir(tmp_path: Path) -> Path:
    import soundfile as sf

    from tests.signals import speech_like

    folder = tmp_path / "speech"
    folder.mkdir()
    sf.write(folder / "a.wav", speech_like(3.0, 16000), 16000)
    return folder


def test_problem_line_names_package_and_command_once() -> None:
    requirement = PackageData("not_a_package_xyz", "pretrained.pt", "Resemblyzer", INSTALL)
    [problem] = check("speaker stage (resemblyzer)", [requirement], "use `--speaker-encoder none`")
    line = problem.line()
    assert line == (
        "speaker stage (resemblyzer): needs pretrained.pt from the Python package Resemblyzer, "
        f"which is not installed; install it with `{INSTALL}`; or use `--speaker-encoder none`"
    )
    assert line.count("Python package") == 1 and line.count("pip install") == 1


def test_default_prepare_config_is_ready_here() -> None:
    assert prepare_problems(PrepareConfig()) == []


def test_missing_resemblyzer_is_one_line_with_the_fix(no_resemblyzer: None) -> None:
    [problem] = prepare_problems(PrepareConfig())
    assert problem.component == "speaker stage (resemblyzer)"
    assert "Resemblyzer, which is not installed" in problem.reason
    assert INSTALL in problem.fix and "--speaker-encoder none" in (problem.alternative or "")
    # The encoder itself, built anyway, says the same thing.
    from audiotok.speaker import get_speaker_encoder

    with pytest.raises(BackendUnavailableError) as caught:
        get_speaker_encoder("resemblyzer")
    assert str(caught.value).count("pip install") == 1 and INSTALL in str(caught.value)


def test_every_problem_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import audiotok.tokenizers.classic.codec2 as codec2

    monkeypatch.setattr(codec2.shutil, "which", lambda tool: None)
    config = PrepareConfig.from_dict(
        {
            "segment": {"vad_options": {"model_path": str(tmp_path / "vad.onnx")}},
            "asr": {"model": str(tmp_path / "no-model")},
            "tokenize": {"specs": ["opus@12kbps", "codec2@3200", "nocodec@1kbps"]},
            "speaker": {"encoder": "ecapa"},
        }
    )
    lines = [p.line() for p in prepare_problems(config)]
    assert len(lines) == 5, lines
    assert "vad.onnx does not exist" in lines[0] and "segment: {enabled: false}" in lines[0]
    assert "no-model/model.bin does not exist" in lines[1] and "--asr none" in lines[1]
    assert "c2enc not found on PATH" in lines[2] and "codec2@3200 out of" in lines[2]
    assert "unknown tokenizer 'nocodec@1kbps'" in lines[3]
    assert "unknown speaker encoder 'ecapa'" in lines[4] and "resemblyzer" in lines[4]


def test_prepare_raises_before_reading_anything(
    no_resemblyzer: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import audiotok.units
    import data_prep.pipeline as pipeline

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started despite a configuration problem")

    monkeypatch.setattr(pipeline, "discover", forbidden)
    monkeypatch.setattr(audiotok.units, "init_local_ray", forbidden)
    with pytest.raises(ConfigurationError) as caught:
        prepare([_speech_dir(tmp_path)], tmp_path / "out", PrepareConfig(), workers=2)
    assert caught.value.lines()[0].startswith("prepare: speaker stage (resemblyzer): ")
    assert not (tmp_path / "out").exists()


def test_bench_problems(no_resemblyzer: None) -> None:
    lines = [p.line() for p in bench_problems(BenchConfig())]
    assert len(lines) == 1 and lines[0].startswith("metric speaker_sim: ")  # utmos is a skip
    assert bench_problems(BenchConfig(metrics=("si_sdr", "dnsmos"))) == []
    [unknown] = bench_problems(BenchConfig(tokenizers=("mulaw",), metrics=("mos",)))
    assert "unknown metric 'mos'" in unknown.line()


def _cli(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(textwrap.dedent(BLOCKER))
    marker = tmp_path / "marker.json"
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO_ROOT}"}
    env["AUDIOTOK_TEST_MARKER"] = str(marker)
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, json.loads(marker.read_text())


def test_cli_prepare_stops_with_exit_2_and_starts_no_ray(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result, marker = _cli(["prepare", str(_speech_dir(tmp_path)), "--out", str(out)], tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "audiotok: error: prepare: speaker stage (resemblyzer): needs pretrained.pt from the "
        "Python package Resemblyzer, which is not installed; install it with "
        f"`{INSTALL}`; or turn the stage off with `--speaker-encoder none`"
    ]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert marker == {"ray_imported": False}
    assert not out.exists()


def test_cli_bench_and_tokenize_stop_with_exit_2(tmp_path: Path) -> None:
    speech = _speech_dir(tmp_path)
    bench, marker = _cli(["bench", "--data", str(speech), "--out", str(tmp_path / "b")], tmp_path)
    assert bench.returncode == 2 and marker == {"ray_imported": False}
    assert (
        bench.stderr.strip()
        .splitlines()[0]
        .startswith("audiotok: error: bench: metric speaker_sim: needs pretrained.pt")
    )
    tokenize, _ = _cli(["tokenize", str(speech), "-t", "opus@7bps", "-o", str(tmp_path)], tmp_path)
    assert tokenize.returncode == 2 and "tokenize: tokenizer opus@7bps:" in tokenize.stderr
    assert "Traceback" not in bench.stderr + tokenize.stderr


def test_problem_is_picklable() -> None:
    import pickle

    error = ConfigurationError("prepare", [Problem("x", "y", "z")])
    assert pickle.loads(pickle.dumps(error)).lines() == error.lines()


def test_check_flag_reports_every_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture, request: pytest.FixtureRequest
) -> None:
    from pipelines.cli import main

    out = tmp_path / "out"
    assert main(["prepare", str(tmp_path), "--out", str(out), "--check", "--asr", "none"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "prepare: segment stage (VAD 'silero'): ready",
        "prepare: tokenize stage (opus@12kbps): ready",
        "prepare: speaker stage (resemblyzer): ready",
    ]
    assert not out.exists()
    assert main(["bench", "--data", "x", "--out", str(out), "--check", "--metrics", "utmos"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "bench: metric utmos: will be skipped: audiotok has no UTMOS predictor yet"
    )
    request.getfixturevalue("no_resemblyzer")
    assert main(["prepare", str(tmp_path), "--out", str(out), "--check"]) == 2
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("prepare: speaker stage (resemblyzer): needs pretrained.pt")
