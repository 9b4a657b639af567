"""Revert a key to an earlier revision, as ``nats kv revert`` does: the old value becomes a new revision.

History is never rewritten: reverting writes the value ``key`` had at ``revision`` again, on top.
The write is conditional on the key's latest revision as read just before, so a concurrent
write makes it fail with :class:`~kvnb.errors.Conflict` instead of being silently undone::

    rev = await kv.put("color", "blue")
    await kv.put("color", "red")
    await kv.revert("color", rev)      # -> a new revision whose value is "blue"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import validation as v
from .errors import KeyDeleted, KeyNotFound, RevisionNotFound

if TYPE_CHECKING:
    from .bucket import KV

__all__ = ["revert"]


async def revert(kv: KV, key: str, revision: int) -> int:
    """Write ``key``'s value at ``revision`` as its new latest revision; returns that revision."""
    v.check_key(key)
    v.check_revision(revision, what="revision")
    at_marker = False
    try:
        latest = (await kv.get(key)).revision
    except KeyDeleted as deleted:
        latest, at_marker = deleted.revision, True  # a tombstone is a revision too: revert may bring the key back
    except KeyNotFound:
        raise RevisionNotFound(
            kv.name, key, revision, "not-kept",
            f"revert({key!r}, {revision}): key {key!r} has no revisions in bucket {kv.name!r} (never written, "
            f"or purged from history). Rule: revert writes again a value the bucket still keeps. "
            f"Fix: kv.history({key!r}) lists what is kept; put() a value instead.",
        ) from None
    if revision > latest and await _owner(kv, revision) is None:
        raise RevisionNotFound(
            kv.name, key, revision, "newer",
            f"revert({key!r}, {revision}): bucket {kv.name!r} has no revision {revision} (not written yet); "
            f"{key!r}'s latest revision is {latest}. Rule: revert takes one of the key's earlier revisions. "
            f"Fix: kv.history({key!r}) lists them.",
        )
    if revision == latest and not at_marker:
        return latest  # already there: nothing to write
    old = await _revision_of(kv, key, revision)
    return await kv.update(key, old, last=latest)


async def _revision_of(kv: KV, key: str, revision: int) -> bytes:
    """The value ``key`` had at ``revision``, or a :class:`RevisionNotFound` that says why not."""
    history = {e.revision: e for e in await kv.history(key)}
    entry = history.get(revision)
    if entry is not None:
        if entry.is_marker:
            raise RevisionNotFound(
                kv.name, key, revision, "marker",
                f"revert({key!r}, {revision}): revision {revision} is a {entry.operation} marker, it has no value "
                f"to bring back. Rule: revert writes an earlier value again. Fix: pick a PUT revision from "
                f"kv.history({key!r}), or kv.delete({key!r}) to delete it.",
            )
        return entry.value
    owner = await _owner(kv, revision)
    if owner is not None and owner != key:
        raise RevisionNotFound(
            kv.name, key, revision, "other-key",
            f"revert({key!r}, {revision}): revision {revision} belongs to key {owner!r}, not {key!r}. Rule: "
            f"revisions are shared by every key of a bucket; revert takes one of this key's own. "
            f"Fix: kv.history({key!r}) lists them.",
        )
    kept = sorted(history)
    raise RevisionNotFound(
        kv.name, key, revision, "not-kept",
        f"revert({key!r}, {revision}): bucket {kv.name!r} no longer keeps revision {revision} of {key!r} "
        f"(it keeps {kv.history_depth} per key; a purge drops them all). Kept now: {kept}. Rule: revert can only "
        f"bring back a value the bucket still holds. Fix: pick one of {kept}, or open the bucket with a "
        "larger history for next time.",
    )


async def _owner(kv: KV, revision: int) -> str | None:
    """The key of the bucket's message at ``revision`` (any key), or None when the bucket no longer has it."""
    try:
        msg = await kv.js.get_msg(kv._stream, seq=revision, direct=kv._direct)
    except Exception:
        return None
    subject = msg.subject or ""
    return subject[len(kv._pre):] if subject.startswith(kv._pre) else None
