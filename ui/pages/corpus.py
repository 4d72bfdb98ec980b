"""Corpus: what the index holds, upload documents (validated), re-ingest with a progress bar."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from assistant.config import classification_rank
from assistant.errors import IndexNotReady, IngestLocked
from assistant.ingest.loaders import SUPPORTED_SUFFIXES
from assistant.ingest.pipeline import IngestSummary
from ui.common import clearance, get_assistant, get_user, is_admin, md_code, md_escape
from ui.uploads import UploadRejected, check_batch, corpus_folders, save_upload

assistant = get_assistant()
user = get_user()
admin = is_admin(user)
max_rank = clearance(user)
settings = assistant.settings

st.title("Corpus")
st.caption(f"Documents folder {md_code(str(settings.corpus_dir))} · index {md_code(str(settings.index_dir))}")


def run_ingest() -> IngestSummary | None:
    bar = st.progress(0.0, text="Starting…")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(min(1.0, done / total) if total else 1.0, text=f"{stage.capitalize()}: {done} of {total}")

    try:
        summary = assistant.ingest(progress=progress)
    except IngestLocked as exc:
        bar.empty()
        st.error(str(exc))
        return None
    except FileNotFoundError as exc:
        bar.empty()
        st.error(str(exc))
        return None
    bar.progress(1.0, text=f"Done in {summary.seconds:.1f} s")
    return summary


def show_summary(summary: IngestSummary) -> None:
    st.success(
        f"Index generation {summary.generation}: {summary.files} files, {summary.chunks} passages "
        f"({summary.embedded} embedded, {summary.copied} reused) in {summary.seconds:.1f} s — "
        f"added {len(summary.added)}, changed {len(summary.changed)}, removed {len(summary.removed)}, "
        f"unchanged {len(summary.unchanged)}, skipped {len(summary.skipped)}."
    )
    for label, items in (("Added", summary.added), ("Changed", summary.changed), ("Removed", summary.removed)):
        if items:
            st.markdown(f"**{label}:** " + ", ".join(md_code(s) for s in items))


if not assistant.has_index():
    st.info("No index has been built yet. Building it reads every document in the folder above "
            "(about a minute for the sample corpus).")
    if st.button("Build the index", type="primary", icon=":material/build:"):
        summary = run_ingest()
        if summary is not None:
            show_summary(summary)
            st.button("Continue")
    st.stop()

try:
    info = assistant.status()
    manifest = assistant.index.generation.manifest
except IndexNotReady as exc:
    st.error(str(exc))
    st.stop()

files = manifest.get("files", {})
visible = {src: rec for src, rec in files.items() if classification_rank(rec.get("classification", "internal")) <= max_rank}
cols = st.columns(3)
cols[0].metric("Documents you can see", len(visible), help=f"{len(files)} in the index in total")
cols[1].metric("Passages", info["chunks"])
cols[2].metric("Index generation", info["generation"])
st.caption(f"Last ingest {md_escape((info.get('created') or '—').replace('T', ' ')[:16])} UTC")

st.subheader("Documents")
rows = [
    {"document": rec.get("title", ""), "path": src, "type": rec.get("doc_type", ""),
     "classification": rec.get("classification", ""), "owner": rec.get("owner", ""),
     "review date": rec.get("review_date", ""), "passages": len(rec.get("chunk_ids", []))}
    for src, rec in sorted(visible.items())
]
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

skipped = info.get("skipped", {})
register_errors = info.get("register_errors", {})
if admin:
    st.subheader("Skipped files")
    if skipped:
        st.dataframe(pd.DataFrame([{"path": s, "reason": r} for s, r in sorted(skipped.items())]),
                     hide_index=True, width="stretch")
    else:
        st.caption("None: every file in the folder was indexed.")
    if register_errors:
        st.subheader("Register rows with problems")
        st.dataframe(pd.DataFrame([{"register": s, "problem": e} for s, errs in sorted(register_errors.items())
                                   for e in errs]), hide_index=True, width="stretch")
else:
    st.caption(f"{len(skipped)} file(s) were skipped at the last ingest. Uploads and re-ingest are for the ISMS lead.")

if admin:
    st.subheader("Add documents")
    allowed = sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES)
    with st.form("upload", clear_on_submit=True):
        uploads = st.file_uploader(
            f"Documents ({', '.join(allowed)}; up to {settings.max_file_mb:g} MB each, "
            f"{settings.max_uploads_per_batch} files at a time)", type=allowed,
            accept_multiple_files=True,
        )
        folder = st.selectbox("Folder", corpus_folders(settings.corpus_dir),
                              index=corpus_folders(settings.corpus_dir).index("uploads"))
        replace = st.checkbox("Replace files that already exist")
        submitted = st.form_submit_button("Add to corpus", icon=":material/upload:", type="primary")
    if submitted:
        files = uploads or []
        try:  # the whole batch is checked (count, sizes) before anything is read or written
            check_batch([(up.name, up.size) for up in files], settings.max_uploads_per_batch, settings.max_file_mb)
        except UploadRejected as exc:
            st.error(f"Nothing uploaded — {md_escape(str(exc), bold=False)}")
            files = None
        saved = 0
        for up in files or []:
            try:
                result = save_upload(settings.corpus_dir, folder, up.name, up.getvalue(), settings.max_file_mb, replace)
            except UploadRejected as exc:
                st.error(f"Not uploaded — {exc}")
                continue
            saved += 1
            st.success(f"Saved {md_code(result.source)} ({result.size / 1024:.0f} KB)"
                       + (" — replaced the previous version" if result.replaced else ""))
        if files == []:
            st.warning("Choose at least one file.")
        elif saved:
            st.info("Re-ingest to make the new documents searchable.")

    st.subheader("Re-ingest")
    st.caption("Incremental: unchanged files are reused, changed files re-read, deleted files dropped. "
               "Questions keep being answered from the current index until the new one is complete.")
    if st.button("Re-ingest now", icon=":material/sync:"):
        summary = run_ingest()
        if summary is not None:
            show_summary(summary)
