#!/usr/bin/env bash
# Install everything (venv, package, test tools, the eval extra, headless Chromium for browser tests) and run
# all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f .ci/install-browser.sh ]; then bash .ci/install-browser.sh || echo "chromium not installed: browser tests will skip"; fi
bash .ci/install-postgres.sh || echo "PostgreSQL not installed: the PostgreSQL tests will fail in CI and skip elsewhere"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
.venv/bin/ruff check assistant ui evals tests
set +e
.venv/bin/python -m pytest -m "" -q -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$status"
