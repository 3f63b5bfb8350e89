"""Shared fixtures: offline Hub, the shared speech data, a speech-like test signal."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.signals import speech_like

# Tests never reach the network: a Hub lookup must fail fast and clearly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    return Path(os.environ.get("AUDIOTOK_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-speech folder; tests using it skip when it is absent."""
    path = shared_data_dir()
    if not (path / "real").is_dir():
        pytest.skip(f"shared speech data not found at {path} (set AUDIOTOK_SHARED_DATA)")
    return path


@pytest.fixture
def speech_16k() -> np.ndarray:
    return speech_like(1.0, 16000)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")
    parser.addoption("--run-network", action="store_true", help="run tests needing the Hub")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    reasons = {
        "slow": None if config.getoption("--run-slow") else "slow test: pass --run-slow",
        "network": None
        if config.getoption("--run-network")
        else "needs the network: --run-network",
        "gpu": None if torch.cuda.is_available() else "needs a CUDA device",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))
