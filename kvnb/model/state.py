"""The bucket as it was at revision N, rebuilt from the history the server still keeps.

A key's state at revision N is its newest entry with a revision ≤ N. History only ever loses a
key's *oldest* revisions (the depth limit, a PURGE, a TTL), so for N at or after the oldest
kept revision of a key the answer is exact. Before it, the answer depends on why nothing older
is kept:

- fewer revisions kept than the history depth, and the oldest is not a PURGE marker (and the
  bucket has no TTL): nothing older ever existed, so the key did not exist yet;
- otherwise older revisions may have existed and were dropped: the state is **unknowable**.

Example::

    h = BucketHistory([event("a", 3, "x"), event("a", 4, "y"), event("b", 5, "z")], history=2)
    h.state_at(4)              # {'a': 'y'}: b did not exist yet
    h.state_at(2).unknowable   # ('a',): history 2 keeps a's revisions 3 and 4; older ones were dropped
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from .events import EventLike, natural_key, natural_sorted, preview, shown_value

__all__ = ["BucketHistory", "BucketState", "KeyAt"]


class KeyAt:
    """One key at a revision: ``status`` is ``"value"``, ``"deleted"``, ``"absent"`` or ``"unknowable"``."""

    __slots__ = ("entry", "key", "reason", "status")

    def __init__(self, key: str, status: str, entry: EventLike | None = None, reason: str = "") -> None:
        self.key = key
        self.status = status
        self.entry = entry
        self.reason = reason

    def __repr__(self) -> str:
        rev = f" @ {self.entry.revision}" if self.entry is not None else ""
        return f"KeyAt({self.key!r}, {self.status}{rev})"


class BucketState(dict[str, str]):
    """The keys that had a value at ``revision``, as ``{key: value text}``.

    It compares equal to a plain dict. Extra attributes: ``revision``; ``unknowable`` (keys whose
    state then cannot be known from the history kept); ``deleted`` (``{key: (revision, "DEL"|"PURGE")}``
    for keys whose newest entry was a tombstone); ``entries`` (``{key: entry}`` behind each value);
    ``complete`` (False when some key is unknowable); ``reasons`` (why each key is unknowable).
    """

    revision: int
    unknowable: tuple[str, ...]
    deleted: dict[str, tuple[int, str]]
    entries: dict[str, EventLike]
    reasons: dict[str, str]

    @property
    def complete(self) -> bool:
        return not self.unknowable


class BucketHistory:
    """Every revision still kept (from ``kv.entries(include_history=True, include_markers=True)``).

    ``history`` is the bucket's history depth; ``ttl`` its max age in seconds (None: forever);
    ``first_revision``/``last_revision`` the stream's (default: from the entries).
    """

    def __init__(self, entries: Iterable[EventLike], *, history: int, ttl: float | None = None,
                 first_revision: int | None = None, last_revision: int | None = None) -> None:
        self.history = history
        self.ttl = ttl
        by_key: dict[str, list[EventLike]] = {}
        for entry in sorted(entries, key=lambda e: e.revision):
            by_key.setdefault(entry.key, []).append(entry)
        self._by_key = by_key
        self._revs = {key: [e.revision for e in found] for key, found in by_key.items()}
        revisions = [e.revision for found in by_key.values() for e in found]
        self.last_revision = last_revision if last_revision is not None else max(revisions, default=0)
        self.first_revision = first_revision if first_revision is not None else min(revisions, default=0)

    @property
    def keys(self) -> list[str]:
        return natural_sorted(self._by_key)

    def revisions(self) -> list[int]:
        """Every kept revision, ascending."""
        return sorted(r for revs in self._revs.values() for r in revs)

    def history_of(self, key: str) -> list[EventLike]:
        return list(self._by_key.get(key, []))

    def key_at(self, key: str, revision: int) -> KeyAt:
        """What ``key`` was at ``revision``."""
        found = self._by_key.get(key)
        if not found:
            return KeyAt(key, "absent")
        revs = self._revs[key]
        i = bisect.bisect_right(revs, revision)
        if i > 0:
            entry = found[i - 1]
            return KeyAt(key, "value" if entry.operation == "PUT" else "deleted", entry)
        oldest = found[0]
        if oldest.operation == "PURGE":
            return KeyAt(key, "unknowable", reason=(
                f"{key!r} was purged at revision {oldest.revision}: a purge removes every earlier revision"))
        if len(found) >= self.history:
            return KeyAt(key, "unknowable", reason=(
                f"the bucket keeps only {self.history} revision{'s' if self.history != 1 else ''} per key and "
                f"{key!r} has {len(found)} newer ones (from revision {oldest.revision}): older ones were dropped"))
        if self.ttl:
            return KeyAt(key, "unknowable", reason=(
                f"values live {self.ttl:g} s in this bucket: {key!r} may have had one that expired"))
        return KeyAt(key, "absent")

    def state_at(self, revision: int) -> BucketState:
        """The bucket at ``revision`` (1 ≤ revision); later revisions give the latest state."""
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
            from ..errors import InvalidOption

            raise InvalidOption(f"revision must be an int >= 1, got {revision!r}. Example: state_at(3)")
        state = BucketState()
        unknowable: list[str] = []
        state.deleted = {}
        state.entries = {}
        state.reasons = {}
        for key in sorted(self._by_key, key=natural_key):
            at = self.key_at(key, revision)
            if at.status == "value":
                state[key] = at.entry.value.decode("utf-8", errors="replace")  # type: ignore[union-attr]
                state.entries[key] = at.entry  # type: ignore[assignment]
            elif at.status == "deleted":
                state.deleted[key] = (at.entry.revision, at.entry.operation)  # type: ignore[union-attr]
            elif at.status == "unknowable":
                unknowable.append(key)
                state.reasons[key] = at.reason
        state.revision = revision
        state.unknowable = tuple(unknowable)
        return state

    def describe(self, revision: int) -> dict[str, Any]:
        """Rows for a view: every key with its status at ``revision`` and a note on what is unknowable."""
        state = self.state_at(revision)
        rows: list[dict[str, Any]] = []
        for key in sorted(self._by_key, key=natural_key):
            if key in state:
                e = state.entries[key]
                value = preview(e.value, 60)
                rows.append({"key": key, "status": "value", "value": value, "shown": shown_value(value),
                             "rev": e.revision})
            elif key in state.deleted:
                rev, op = state.deleted[key]
                rows.append({"key": key, "status": "deleted", "value": "", "rev": rev, "op": op})
            elif key in state.reasons:
                rows.append({"key": key, "status": "unknowable", "value": "", "rev": None,
                             "reason": state.reasons[key]})
        notes = []
        if state.unknowable:
            n = len(state.unknowable)
            notes.append(f"{n} key{'s' if n != 1 else ''} unknowable at revision {revision}: the history this "
                         f"bucket keeps (depth {self.history}) no longer reaches back that far.")
        if self.first_revision and revision < self.first_revision:
            notes.append(f"Revision {revision} is older than anything the bucket still keeps "
                         f"(oldest kept: {self.first_revision}).")
        note = " ".join(notes)
        return {"revision": revision, "rows": rows, "note": note, "unknowable": list(state.unknowable)}
