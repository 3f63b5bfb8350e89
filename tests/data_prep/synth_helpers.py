"""Helpers shared by the synth, export and read-back tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_data_dir

# language code -> Tatoeba file code
TATOEBA = {"fr": "fra", "es": "spa", "de": "deu", "hi": "hin", "bn": "ben", "ur": "urd"}


def tatoeba_pair(language: str) -> tuple[Path, Path]:
    """(English file, other-language file) of one Tatoeba pair; skips when the data is absent."""
    code = TATOEBA[language]
    folder = shared_data_dir() / "text" / "tatoeba"
    eng, other = folder / f"tatoeba.{code}-eng.eng", folder / f"tatoeba.{code}-eng.{code}"
    if not (eng.is_file() and other.is_file()):
        pytest.skip(f"Tatoeba text not found at {folder} (set AUDIOTOK_SHARED_DATA)")
    return eng, other


def write_pair(folder: Path, src_lines: list[str], tgt_lines: list[str]) -> tuple[Path, Path]:
    """A tiny parallel text pair of our own (no shared data needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    src, tgt = folder / "text.en", folder / "text.fr"
    src.write_text("\n".join(src_lines) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(tgt_lines) + "\n", encoding="utf-8")
    return src, tgt


OWN_EN = ["Good morning.", "The cat sleeps on the chair.", "See you tomorrow."]
OWN_FR = ["Bonjour.", "Le chat dort sur la chaise.", "À demain."]
