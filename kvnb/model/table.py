"""The current keys of a bucket: newest entry per key, tombstones included (a view may hide them)."""

from __future__ import annotations

from typing import Any

from .events import BytesPreview, EventLike, created_ms, natural_key, natural_sorted, op_letter, preview, shown_value

__all__ = ["TableModel"]


class TableModel:
    """Newest entry per key. ``show_deleted`` is a view choice; the model keeps tombstones either way."""

    def __init__(self) -> None:
        self.latest: dict[str, EventLike] = {}
        self.last_revision = 0
        self.caught_up = False
        self.changed = False

    def add(self, entry: EventLike) -> None:
        """Take one event; an entry older than the key's known one is ignored."""
        known = self.latest.get(entry.key)
        if known is not None and known.revision >= entry.revision:
            return
        self.latest[entry.key] = entry
        if entry.revision > self.last_revision:
            self.last_revision = entry.revision
        self.changed = True

    def apply_counts(self, counts: dict[str, int], *, upto: int | None = None) -> list[str]:
        """What the stream still holds (``{key: messages}``): keys it holds nothing of are dropped
        (their tombstones removed by ``purge_deletes``, or their values expired). A key whose newest
        entry is newer than ``upto`` (the stream's last revision when it counted) stays. Returns the
        keys dropped."""
        gone = [k for k, e in self.latest.items()
                if counts.get(k, 0) <= 0 and (upto is None or e.revision <= upto)]
        for key in gone:
            del self.latest[key]
        if gone:
            self.changed = True
        return gone

    def extend(self, entries: object) -> None:
        for entry in entries:  # type: ignore[attr-defined]
            self.add(entry)

    @property
    def live_keys(self) -> list[str]:
        """Keys that have a value now, in natural order (k2 before k10)."""
        return natural_sorted(k for k, e in self.latest.items() if e.operation == "PUT")

    @property
    def deleted_keys(self) -> list[str]:
        return natural_sorted(k for k, e in self.latest.items() if e.operation != "PUT")

    def rows(self, *, show_deleted: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows in natural key order: ``key``, ``value`` (preview), ``shown`` (the value as views show it:
        ``"text"`` or ``<N bytes: ...>``), ``rev``, ``op``, ``l`` (letter), ``t`` (ms), ``deleted``."""
        out = []
        for key in sorted(self.latest, key=natural_key):
            e = self.latest[key]
            deleted = e.operation != "PUT"
            if deleted and not show_deleted:
                continue
            if limit is not None and len(out) >= limit:
                break
            value = "" if deleted else preview(e.value, 60)
            out.append({"key": key, "value": value, "shown": "" if deleted else shown_value(value), "rev": e.revision,
                        "op": e.operation, "l": op_letter(e.operation), "t": created_ms(e.created),
                        "deleted": deleted})
        return out

    def to_text(self, *, show_deleted: bool = False, limit: int = 30) -> list[str]:
        """Deterministic lines (no ages)."""
        rows = self.rows(show_deleted=show_deleted)
        if not rows:
            return []
        width = min(24, max(len(r["key"]) for r in rows))
        lines = []
        for r in rows[:limit]:
            if r["deleted"]:
                what = f"{r['op']} tombstone"
            else:
                what = r["value"] if isinstance(r["value"], BytesPreview) else repr(r["value"])
            lines.append(f"{r['key']:<{width}}  rev {r['rev']:<6} {what}")
        if len(rows) > limit:
            lines.append(f"… {len(rows) - limit} more keys")
        return lines
