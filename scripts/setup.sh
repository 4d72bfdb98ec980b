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
# Skip the install when nothing it depends on changed since the last one: a stamp of pyproject.toml's hash and
# the target (a restart then takes seconds instead of a silent half-minute `pip install`).
STAMP=.venv/.isms-install-stamp
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1) $TARGET ${PIP_EXTRA:-}"
FULL="$(sha256sum pyproject.toml | cut -d' ' -f1) .[dev,eval] ${PIP_EXTRA:-}"
if [ -f "$STAMP" ] && { grep -qxF "$WANT" "$STAMP" || { [ "$TARGET" = "." ] && grep -qxF "$FULL" "$STAMP"; }; }; then
  echo "ISMS Assistant: dependencies unchanged since the last install (pyproject.toml); skipping pip install" >&2
  exit 0
fi
echo "ISMS Assistant: installing $TARGET into .venv (first run: a few minutes)…" >&2
.venv/bin/pip install --disable-pip-version-check -q -e "$TARGET" ${PIP_EXTRA:-}
echo "$WANT" > "$STAMP"
