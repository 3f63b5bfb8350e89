#!/usr/bin/env bash
# Installs audiotok and runs its main job on the embedded sample, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
"${AUDIOTOK_VENV:-.venv}/bin/audiotok" demo "$@"
