#!/usr/bin/env bash
# Installs everything audiotok needs into ./.venv (or $AUDIOTOK_VENV):
#   Debian packages (codec2 for the Codec2 tokenizer, espeak-ng for synthetic speech),
#   a CPU build of torch unless a torch is already there, then audiotok itself.
# Usage: scripts/install.sh [--dev]     (--dev adds pytest, ruff, mypy, import-linter)
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"
venv="${AUDIOTOK_VENV:-.venv}"

bash scripts/install_system_packages.sh

if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip

# torch first and explicitly: left to the resolver, a plain "torch" requirement pulls a
# multi-GB CUDA build. Set AUDIOTOK_TORCH (e.g. "torch==2.13.0+cu126") to choose another.
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  "${pip[@]}" "${AUDIOTOK_TORCH:-torch==2.13.0}"
fi
"${pip[@]}" -e ".${extras}"

# torchaudio pins an older torch and breaks transformers' audio utilities beside a newer one;
# nothing here needs it, so it must not be in the environment.
if "$venv/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torchaudio') is None)"; then
  echo "removing torchaudio from $venv (it conflicts with this torch; audiotok does not use it)"
  "$venv/bin/python" -m pip uninstall --quiet -y torchaudio
fi
