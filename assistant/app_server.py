"""The app's server process: Streamlit, with the facade loaded while the server starts.

`isms-assistant ui` runs `python -m assistant.app_server ui/app.py <streamlit options>`. Streamlit has no
start-up hook and runs the app's script only when a browser connects, so this starts a thread that builds the
shared facade (`shared_assistant`, for the ISMS_INDEX_DIR / ISMS_CORPUS_DIR the app will use) and loads the
index, the question encoder and the lexical models, then hands the process to Streamlit's own command line.
The first page then finds the index loaded instead of loading it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)


def _warm(index_dir: str, corpus_dir: str) -> None:
    try:
        from assistant.service import shared_assistant

        shared_assistant(index_dir, corpus_dir).warm()
    except Exception:  # noqa: BLE001 - the app still starts; its first page loads the index itself
        log.exception("loading the index while the server starts failed")


def main() -> None:
    folders = (os.environ.get("ISMS_INDEX_DIR", ""), os.environ.get("ISMS_CORPUS_DIR", ""))
    threading.Thread(target=_warm, args=folders, name="isms-warm-up", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
