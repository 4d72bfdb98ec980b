#!/usr/bin/env bash
# Install, ingest the sample corpus (incremental) and start the Streamlit app.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh app
exec .venv/bin/isms-assistant ui "$@"
