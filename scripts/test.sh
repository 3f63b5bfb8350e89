#!/usr/bin/env bash
# Installs audiotok with its dev tools, then runs the checks CI runs: ruff, the layer contract
# (import-linter), mypy and the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
bin="${AUDIOTOK_VENV:-.venv}/bin"

python_paths=(audiotok pipelines models data_prep tests scripts)
"$bin/ruff" check "${python_paths[@]}"
"$bin/ruff" format --check "${python_paths[@]}"
"$bin/lint-imports"
"$bin/mypy"

status=0
"$bin/python" -m pytest "$@" || status=$?
# pytest exits 5 when a selection collects no tests: that is not a failure of the code.
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests"
  status=0
fi
exit "$status"
