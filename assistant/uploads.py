"""Safe document uploads into the corpus folder: type, size and content checked; no path traversal.

The uploaded name is reduced to a plain file name (no folders, no leading dot, a small character set),
the destination folder must be an existing folder inside the corpus (or the new ``uploads/`` folder),
and the final path is resolved and checked to lie inside the corpus before anything is written.
The content must load with the same loader the ingest uses, so a renamed binary or a corrupt PDF is
refused with the loader's reason. Files are written atomically (temporary file, then rename).
A batch with more files than ISMS_MAX_UPLOADS_PER_BATCH, or with a file over ISMS_MAX_FILE_MB, is refused
whole before anything is read or written (``check_batch``).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from assistant.errors import LoadError, UploadRejected
from assistant.ingest.loaders import SUPPORTED_SUFFIXES, load_file

UPLOAD_FOLDER = "uploads"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,150}$")


@dataclass(frozen=True)
class SavedUpload:
    source: str  # path relative to the corpus root
    size: int
    replaced: bool


def safe_file_name(name: str) -> str:
    """The plain file name of an upload, or UploadRejected (folders, '..', odd characters, bad type)."""
    raw = (name or "").strip()
    base = PureWindowsPath(PurePosixPath(raw).name).name  # strips a/b/c.md and a\\b\\c.md alike
    if not base or base in (".", "..") or base != raw:
        raise UploadRejected(f"{raw!r}: upload a plain file name, without folders")
    if not _SAFE_NAME.match(base) or ".." in base:
        raise UploadRejected(
            f"{raw!r}: file names may use letters, digits, spaces and . _ ( ) + - only, and must not start with a dot"
        )
    suffix = Path(base).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        allowed = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UploadRejected(f"{base}: file type {suffix or '(none)'} is not supported; use one of {allowed}")
    return base


def corpus_folders(corpus: Path) -> list[str]:
    """Existing folders inside the corpus (relative, no hidden ones, no symlinks), plus the uploads folder."""
    root = corpus.resolve()
    folders = {UPLOAD_FOLDER}
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and not (Path(dirpath) / d).is_symlink()]
        for d in dirnames:
            folders.add((Path(dirpath) / d).relative_to(root).as_posix())
    return sorted(folders)


def target_path(corpus: Path, folder: str, file_name: str) -> Path:
    """Resolved destination inside the corpus; UploadRejected for anything that would land outside."""
    root = corpus.resolve()
    if folder not in corpus_folders(corpus):
        raise UploadRejected(f"folder {folder!r} is not a folder of the corpus")
    target = (root / folder / safe_file_name(file_name)).resolve()
    if not target.is_relative_to(root) or target.parent == root.parent:
        raise UploadRejected(f"{file_name!r} would be written outside the corpus")
    return target


def check_batch(names_and_sizes: Sequence[tuple[str, int]], max_count: int, max_mb: float) -> None:
    """Refuse a whole upload batch before anything is read or written: more files than `max_count`
    (ISMS_MAX_UPLOADS_PER_BATCH), or any file over `max_mb` (ISMS_MAX_FILE_MB)."""
    if len(names_and_sizes) > max_count:
        raise UploadRejected(
            f"{len(names_and_sizes)} files chosen; the limit is {max_count} files per upload "
            f"(ISMS_MAX_UPLOADS_PER_BATCH): add them in smaller batches"
        )
    too_big = [(name, size) for name, size in names_and_sizes if size > max_mb * 1024 * 1024]
    if too_big:
        listed = ", ".join(f"{name} ({size / 1_048_576:.1f} MB)" for name, size in too_big)
        raise UploadRejected(f"over the {max_mb:g} MB limit per file (ISMS_MAX_FILE_MB): {listed}")


def check_content(file_name: str, data: bytes, max_mb: float) -> None:
    """Refuse empty, oversized or unreadable files (the ingest's own loader decides)."""
    if not data:
        raise UploadRejected(f"{file_name}: the file is empty")
    if len(data) > max_mb * 1024 * 1024:
        raise UploadRejected(f"{file_name}: {len(data) / 1_048_576:.1f} MB is over the {max_mb:g} MB limit")
    suffix = Path(file_name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="isms-upload-") as tmp:
        probe = Path(tmp) / f"upload{suffix}"
        probe.write_bytes(data)
        try:
            doc = load_file(probe)
        except LoadError as exc:
            raise UploadRejected(f"{file_name}: cannot be read as {suffix}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any parser failure means the file is refused
            raise UploadRejected(f"{file_name}: cannot be read as {suffix}: {exc.__class__.__name__}") from None
    if not doc.blocks and not doc.table:
        raise UploadRejected(f"{file_name}: no readable text found")


def save_upload(corpus: Path, folder: str, file_name: str, data: bytes, max_mb: float,
                replace: bool = False) -> SavedUpload:
    """Validate and write one upload; returns where it went."""
    name = safe_file_name(file_name)
    target = target_path(corpus, folder, name)
    check_content(name, data, max_mb)
    existed = target.exists()
    if existed and not replace:
        raise UploadRejected(f"{target.relative_to(corpus.resolve()).as_posix()} already exists; tick 'Replace' to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return SavedUpload(source=target.relative_to(corpus.resolve()).as_posix(), size=len(data), replaced=existed)
