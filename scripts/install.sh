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
log="$venv/install.log"
: > "$log"
# pip's own chatter goes to the log; on failure its tail is shown.
pip_install() {
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check "$@" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "pip install $* failed; full log: $log" >&2
    exit 1
  fi
}
echo "installing into $venv (log: $log)"
pip_install --upgrade pip

# torch first and explicitly: left to the resolver, a plain "torch" requirement pulls a
# multi-GB CUDA build. Set AUDIOTOK_TORCH (e.g. "torch==2.13.0+cu126") to choose another.
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  pip_install "${AUDIOTOK_TORCH:-torch==2.13.0}"
fi
pip_install -e ".${extras}"
# Resemblyzer, for the weights file (pretrained.pt) of audiotok.speaker's encoder, which is our
# own implementation and never imports the package. --no-deps: it requires webrtcvad, a C
# extension that needs a compiler and pkg_resources, and only its silence trimming uses it.
pip_install --no-deps "Resemblyzer==0.1.4"
if [ -n "$extras" ]; then
  # The reference S3 tokenizer, for parity tests only. --no-deps: it requires torchaudio,
  # which must not be installed (the tests give it a stand-in module instead).
  pip_install --no-deps "s3tokenizer==0.3.0"
  # The official CosyVoice 2 code, the parity reference of models/tts (tests only). --no-deps:
  # it requires torchaudio, onnxruntime-gpu and a training stack the tests do not use.
  pip_install --no-deps "cosyvoice-minicpmo==0.1.0"
fi

# torchaudio pins an older torch and breaks transformers' audio utilities beside a newer one;
# nothing here needs it, so it must not be in the environment.
if "$venv/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torchaudio') is None)"; then
  echo "removing torchaudio from $venv (it conflicts with this torch; audiotok does not use it)"
  "$venv/bin/python" -m pip uninstall --quiet -y torchaudio >>"$log" 2>&1
fi
