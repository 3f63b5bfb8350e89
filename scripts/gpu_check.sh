#!/usr/bin/env bash
# The checks that need a CUDA device, as one short run: install, show the device, run the
# gpu-marked tests. Use on a machine with an NVIDIA GPU; AUDIOTOK_TORCH must then name a CUDA
# build of torch (e.g. "torch==2.13.0" from PyPI) unless the venv already has one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
bin="${AUDIOTOK_VENV:-.venv}/bin"
"$bin/python" -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
"$bin/python" -m pytest -m gpu -q "$@"
