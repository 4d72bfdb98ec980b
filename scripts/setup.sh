#!/usr/bin/env bash
# Create .venv and install ISMS Assistant. Idempotent; safe to re-run.
#   bash scripts/setup.sh        the app, its test tools ([dev]) and the evaluation baselines' LangChain ([eval])
#   bash scripts/setup.sh app    the app only (what scripts/run.sh needs)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
case "${1:-}" in
  app) TARGET="." ;;
  "") TARGET=".[dev,eval]" ;;
  *) echo "usage: bash scripts/setup.sh [app]" >&2; exit 2 ;;
esac
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch==2.13.0+cpu: the CPU build. Where it is not on a local wheel path, pip needs PyTorch's CPU
# package index as an extra index (see README); a plain `torch` would pull a multi-GB CUDA build.
.venv/bin/pip install --disable-pip-version-check -q -e "$TARGET" ${PIP_EXTRA:-}
