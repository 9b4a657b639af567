"""Server-side counters on a board: the latest total per key, the last increment, the largest total.

Takes counter entries (``key``, ``value`` the total, ``delta`` the increment, ``revision``), as
:class:`kvnb.CounterEntry` has them; pure data, no I/O.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["CounterBoardModel", "CounterLike"]


class CounterLike(Protocol):
    key: str
    value: int
    delta: int | None
    revision: int


class CounterBoardModel:
    """Latest total per key; ``rows()`` sorted by total (largest first) or by key."""

    def __init__(self) -> None:
        self.latest: dict[str, CounterLike] = {}
        self.last_revision = 0
        self.increments = 0  # entries taken (each is one increment the server applied)

    def add(self, entry: CounterLike) -> None:
        """Take one counter entry; an entry older than the key's known one is ignored."""
        known = self.latest.get(entry.key)
        if known is not None and known.revision >= entry.revision:
            return
        self.latest[entry.key] = entry
        self.last_revision = max(self.last_revision, entry.revision)
        self.increments += 1

    @property
    def total(self) -> int:
        """The sum of every counter on the board."""
        return sum(e.value for e in self.latest.values())

    def rows(self, *, by: str = "value", limit: int | None = None) -> list[dict[str, Any]]:
        """``key``, ``value``, ``delta``, ``rev`` and ``share`` (the total as a fraction of the largest, for a bar)."""
        entries = list(self.latest.values())
        if by == "key":
            entries.sort(key=lambda e: e.key)
        else:
            entries.sort(key=lambda e: (-e.value, e.key))
        top = max((abs(e.value) for e in entries), default=0) or 1
        return [{"key": e.key, "value": str(e.value), "delta": e.delta, "rev": e.revision,
                 "share": abs(e.value) / top} for e in entries[:limit]]

    def to_text(self, limit: int = 20) -> list[str]:
        rows = self.rows(limit=limit)
        width = max((len(r["key"]) for r in rows), default=0)
        return [f"{r['key']:<{width}}  {r['value']:>8}" + (f"  ({r['delta']:+d})" if r["delta"] is not None else "")
                for r in rows]
