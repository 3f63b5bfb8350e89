"""End-to-end debug recipe on the shared data (slow: a few minutes of CPU training)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.semantic_tokenizer.debug_recipe import DebugRecipeConfig, run_debug_recipe


@pytest.mark.slow
def test_debug_recipe_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    if not (shared_data / "text" / "tatoeba").is_dir():
        pytest.skip(f"Tatoeba text not found under {shared_data}")
    config = DebugRecipeConfig(
        shared_data=str(shared_data),
        cache_dir=str(tmp_path / "cache"),
        output_dir=str(tmp_path / "run"),
        max_seconds=240.0,
        max_steps=800,
        backend="local",
        num_threads=1,
    )
    result = run_debug_recipe(config)
    print(result.summary())
    assert result.loss_last < 0.5 * result.loss_first
    assert result.utilisation > 0.5
    assert result.probe_accuracy > 0.5
    assert result.dev_cer < 0.9
