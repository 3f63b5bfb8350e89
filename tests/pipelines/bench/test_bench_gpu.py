"""`audiotok bench` on CUDA: the allocator's peak and a neural codec on the GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipelines.bench.config import BenchConfig
from pipelines.bench.job import run_bench
from pipelines.bench.measure import Measured

pytestmark = pytest.mark.gpu

SAMPLE = Path(__file__).resolve().parents[3] / "audiotok" / "assets" / "sample_en.flac"


def test_measured_reads_the_cuda_allocator_peak() -> None:
    with Measured("cuda") as measured:
        block = torch.ones(64 * 2**20 // 4, device="cuda")  # 64 MiB
        del block
    assert 60 < measured.peak_mb < 80


def test_bench_runs_a_neural_codec_on_cuda(tmp_path: Path) -> None:
    config = BenchConfig(
        tokenizers=("encodec-24khz@6kbps", "opus@12kbps"),
        metrics=("si_sdr", "stoi"),
        debug=True,
        device="cuda",
    )
    report = run_bench([SAMPLE], tmp_path, config, use_ray=True, progress=False)
    encodec = report.summary["tokenizers"][0]
    assert encodec["errors"] == 0 and encodec["decode_xrt"] > 0
    assert "(cuda" in report.summary["device"]  # "<GPU name> (cuda)"
