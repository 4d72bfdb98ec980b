#!/usr/bin/env bash
# Create .venv and install ISMS Assistant with its test tools. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch==2.13.0+cpu: the CPU build. Where it is not on a local wheel path, pip needs PyTorch's CPU
# package index as an extra index (see README); a plain `torch` would pull a multi-GB CUDA build.
.venv/bin/pip install --disable-pip-version-check -q -e ".[dev]" ${PIP_EXTRA:-}
