"""Corpus: what the index holds, upload documents (validated), re-ingest with a progress bar."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from assistant.errors import IndexNotReady, IngestLocked, UploadRejected
from ui.common import get_assistant, get_user, is_admin, md_code, md_escape, table_or_cards

assistant = get_assistant()
user = get_user()
admin = is_admin(user)
settings = assistant.settings

st.title("Corpus")
st.caption(f"Documents folder {md_code(str(settings.corpus_dir))} · index {md_code(str(settings.index_dir))}")


def run_ingest() -> bool:
    """Ingest with a progress bar, then show what changed; False (and the reason) when it could not run."""
    bar = st.progress(0.0, text="Starting…")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(min(1.0, done / total) if total else 1.0, text=f"{stage.capitalize()}: {done} of {total}")

    try:
        summary = assistant.ingest(progress=progress)
    except (IngestLocked, FileNotFoundError) as exc:
        bar.empty()
        st.error(str(exc))
        return False
    bar.progress(1.0, text=f"Done in {summary.seconds:.1f} s")
    st.success(
        f"Index generation {summary.generation}: {summary.files} files, {summary.chunks} passages "
        f"({summary.embedded} embedded, {summary.copied} reused) in {summary.seconds:.1f} s — "
        f"added {len(summary.added)}, changed {len(summary.changed)}, removed {len(summary.removed)}, "
        f"unchanged {len(summary.unchanged)}, skipped {len(summary.skipped)}."
    )
    for label, items in (("Added", summary.added), ("Changed", summary.changed), ("Removed", summary.removed)):
        if items:
            st.markdown(f"**{label}:** " + ", ".join(md_code(s) for s in items))
    return True


if not assistant.has_index():
    st.info("No index has been built yet. Building it reads every document in the folder above "
            "(about a minute for the sample corpus).")
    if st.button("Build the index", type="primary", icon=":material/build:") and run_ingest():
        st.button("Continue")
    st.stop()

try:
    info = assistant.status(user.role)  # counts within the user's clearance; skipped files only for admins
    visible = assistant.visible_documents(user.role)
except IndexNotReady as exc:
    st.error(str(exc))
    st.stop()

cols = st.columns(3)
cols[0].metric("Documents you can see", len(visible))
cols[1].metric("Passages you can search", info["chunks"])
cols[2].metric("Index generation", info["generation"])
st.caption(f"Last ingest {md_escape((info.get('created') or '—').replace('T', ' ')[:16])} UTC")

st.subheader("Documents")
rows = [
    {"document": doc.title, "path": doc.source, "type": doc.doc_type, "classification": doc.classification,
     "owner": doc.owner, "review date": doc.review_date, "passages": doc.passages}
    for doc in visible
]
table_or_cards(pd.DataFrame(rows), "documents", lambda r: (
    r["document"], [r["path"], r["classification"], f"owner {r['owner']}" if r["owner"] else "",
                    f"review {r['review date']}" if r["review date"] else ""]), hide_index=True, width="stretch")

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
    st.caption("Uploads and re-ingest are for the ISMS lead.")

if admin:
    st.subheader("Add documents")
    allowed = assistant.upload_types()
    with st.form("upload", clear_on_submit=True):
        uploads = st.file_uploader(
            f"Documents ({', '.join(allowed)}; up to {settings.max_file_mb:g} MB each, "
            f"{settings.max_uploads_per_batch} files at a time)", type=allowed,
            accept_multiple_files=True,
        )
        folders = assistant.upload_folders()
        folder = st.selectbox("Folder", folders, index=folders.index("uploads"))
        replace = st.checkbox("Replace files that already exist")
        submitted = st.form_submit_button("Add to corpus", icon=":material/upload:", type="primary")
    if submitted:
        files = uploads or []
        try:  # the whole batch is checked (count, sizes) before anything is read or written
            assistant.check_upload_batch([(up.name, up.size) for up in files])
        except UploadRejected as exc:
            st.error(f"Nothing uploaded — {md_escape(str(exc), bold=False)}")
            files = None
        saved = 0
        for up in files or []:
            try:
                result = assistant.save_upload(folder, up.name, up.getvalue(), replace)
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
        run_ingest()
