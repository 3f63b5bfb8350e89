"""The environment rules the project depends on."""

from __future__ import annotations

import subprocess
import sys


def test_importing_every_layer_pulls_in_no_torchaudio_bound_package() -> None:
    code = (
        "import sys, audiotok, audiotok.tokenizers.builtin, pipelines.cli, models, data_prep\n"
        "bad = sorted({'torchaudio', 'encodec', 'speechbrain', 'vocos', 's3tokenizer'}"
        " & set(sys.modules))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_audiotok_import_is_light() -> None:
    """The foundation must not import transformers or the codecs' libraries up front."""
    code = "import sys, audiotok; print(sorted({'transformers', 'librosa'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
