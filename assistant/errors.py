"""The errors the package raises for its callers (the CLI and the app) to catch, with one base class.

Each message says what went wrong in words the user can act on, so callers show it as it is.
"""

from __future__ import annotations


class ISMSError(Exception):
    """Base class of the errors below."""


class IndexNotReady(ISMSError):
    """The index is missing or unusable; the message says what to do."""


class IngestLocked(ISMSError):
    """Another ingest holds the lock on this index."""


class LoadError(ISMSError):
    """A file could not be read; the message says why, in words a user can act on."""


class SoAAccessError(ISMSError, ValueError):
    """The role may not see the SoA or the risk register that drafting and checks read."""


class UploadRejected(ISMSError, ValueError):
    """The upload was refused; the message says why in words the user can act on."""


class UsersFileError(ISMSError, ValueError):
    """The users file is missing or invalid; the message says what is wrong."""


class TooManySignIns(ISMSError):
    """Too many failed sign-ins for one user name in a short time: wait and try again."""


class QuestionTooLong(ISMSError, ValueError):
    """The question is longer than ISMS_MAX_QUESTION_CHARS."""


class UnknownControl(ISMSError, LookupError):
    """A control reference that is no ISO/IEC 27001:2022 Annex A id, 2013 id, title or alias."""


class EvalError(ISMSError, ValueError):
    """A question set or an evaluation option is invalid; the message says where."""


class SoAConflict(ISMSError, ValueError):
    """An SoA edit or approval based on a version of the control that someone else changed since."""


class DatabaseSchemaError(ISMSError):
    """The database holds tables of a newer layout than this version of the app knows."""
