"""One exception family for kvnb.

Every message names the rule that was broken and shows how to fix it, so a learner
reading a traceback in a notebook knows what to change without opening the docs.
"""

from __future__ import annotations

__all__ = [
    "BucketConfigMismatch",
    "BucketNotFound",
    "Conflict",
    "ConnectError",
    "DrainTimeout",
    "InvalidBatch",
    "InvalidBucketName",
    "InvalidInput",
    "InvalidKey",
    "InvalidOption",
    "InvalidValue",
    "KeyDeleted",
    "KeyNotFound",
    "KvnbError",
    "NotSupported",
    "PermissionDenied",
    "RevisionNotFound",
    "ServerError",
    "ServerNotFound",
    "ServerStartError",
    "WatchStopped",
]


class KvnbError(Exception):
    """Base class of every error kvnb raises on purpose."""


# --- bad input: raised before anything is sent --------------------------------------------


class InvalidInput(KvnbError, ValueError):
    """An argument broke a rule; nothing was sent to the server."""


class InvalidKey(InvalidInput):
    """A key broke the NATS KV key rules."""


class InvalidBucketName(InvalidInput):
    """A bucket name broke the NATS KV bucket-name rules."""


class InvalidValue(InvalidInput):
    """A value had the wrong type or was too large for the bucket."""


class InvalidOption(InvalidInput):
    """An option (history, TTL, storage, revision, ...) was out of range or of the wrong type."""


class InvalidBatch(InvalidInput):
    """An atomic batch broke a rule (too many operations, a bucket without ``atomic``, a key
    written twice with a condition); nothing of the batch was sent."""


# --- outcomes of KV operations -------------------------------------------------------------


class Conflict(KvnbError):
    """An optimistic-concurrency write lost: the key's revision was not the one expected.

    Attributes: ``key``, ``expected`` (the revision the caller passed, 0 for create) and
    ``current`` (the key's revision on the server when the write was refused, or None when
    the server did not say).
    """

    def __init__(self, key: str, expected: int, current: int | None, operation: str = "update"):
        self.key = key
        self.expected = expected
        self.current = current
        self.operation = operation
        if operation == "create":
            what = f"create({key!r}) refused: the key already exists"
            if current is not None:
                what += f" at revision {current}"
            fix = "use update(key, value, last=<current revision>) or pick another key"
            rule = "create succeeds only when the key has no value (never written, deleted or purged)"
        else:
            now = f"is at revision {current}" if current is not None else "has moved on"
            what = (
                f"{operation}({key!r}, last={expected}) refused: the key {now}, "
                f"not at revision {expected} as you expected"
            )
            fix = "get() the key again, decide on the new value, and retry with last=<its revision>"
            rule = "a write with last=N succeeds only if N is the key's latest revision"
        super().__init__(f"{what}. Rule: {rule}. Fix: {fix}.")


class KeyNotFound(KvnbError, LookupError):
    """The key has never been written (or history no longer holds the asked revision)."""

    def __init__(self, bucket: str, key: str, revision: int | None = None):
        self.bucket = bucket
        self.key = key
        self.revision = revision
        if revision is None:
            msg = (
                f"key {key!r} not found in bucket {bucket!r}. "
                f"Fix: put({key!r}, value) first, or list what exists with keys()."
            )
        else:
            msg = (
                f"key {key!r} has no revision {revision} in bucket {bucket!r}: either that revision "
                f"belongs to another key (revisions are shared by all keys of a bucket) or the "
                f"bucket's history no longer keeps it. Fix: use history({key!r}) to see the revisions that exist."
            )
        super().__init__(msg)

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError does not, keep it plain
        return self.args[0]


class KeyDeleted(KeyNotFound):
    """The key's latest entry is a delete (DEL) or purge (PURGE) marker."""

    def __init__(self, bucket: str, key: str, revision: int, operation: str):
        self.bucket = bucket
        self.key = key
        self.revision = revision
        self.operation = operation
        verb = "deleted" if operation == "DEL" else "purged"
        LookupError.__init__(
            self,
            f"key {key!r} in bucket {bucket!r} was {verb} at revision {revision} ({operation} marker). "
            f"Fix: put({key!r}, value) to give it a value again, or history({key!r}) to see earlier values.",
        )


class RevisionNotFound(KeyNotFound):
    """A revision asked for (``revert``) is not one of the key's kept revisions.

    ``reason`` says why: ``"other-key"`` (it belongs to another key), ``"not-kept"`` (history
    or a purge dropped it), ``"newer"`` (after the key's latest revision) or ``"marker"`` (a DEL
    or PURGE marker: there is no value to bring back).
    """

    def __init__(self, bucket: str, key: str, revision: int, reason: str, message: str):
        self.bucket = bucket
        self.key = key
        self.revision = revision
        self.reason = reason
        LookupError.__init__(self, message)


class BucketNotFound(KvnbError, LookupError):
    """No bucket of that name exists on the server."""

    def __str__(self) -> str:
        return self.args[0]


class BucketConfigMismatch(KvnbError):
    """A bucket exists with other settings than the ones asked for."""


# --- the server and the connection ---------------------------------------------------------


class ServerError(KvnbError):
    """The NATS server refused or failed an operation for a reason kvnb does not model."""


class PermissionDenied(ServerError):
    """The server refused an operation because your user (or account) lacks permission for its subject.

    ``subject`` is the subject that was denied, when the server named it.
    """

    def __init__(self, message: str, subject: str | None = None):
        super().__init__(message)
        self.subject = subject


class ServerNotFound(KvnbError, FileNotFoundError):
    """No nats-server binary could be found."""


class ServerStartError(KvnbError, RuntimeError):
    """The bundled nats-server did not start or did not become ready."""


class ConnectError(KvnbError, ConnectionError):
    """No NATS server answered at the address, or it refused the credentials."""


class NotSupported(KvnbError):
    """The connected server is too old for the feature asked for."""


class WatchStopped(KvnbError, RuntimeError):
    """A stopped watch was asked for more entries: it will never deliver any."""


class DrainTimeout(KvnbError, TimeoutError):
    """:func:`kvnb.drain` waited for a revision that did not reach the watch in time."""
