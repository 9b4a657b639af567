"""One entry of a KV bucket: what ``get``, ``history`` and ``watch`` return. Pure data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Operation = Literal["PUT", "DEL", "PURGE"]
OPERATIONS: tuple[Operation, ...] = ("PUT", "DEL", "PURGE")

__all__ = ["OPERATIONS", "Entry", "Operation"]


@dataclass(frozen=True, slots=True)
class Entry:
    """A revision of a key.

    ``revision`` is the bucket stream's sequence number: one counter shared by every key of
    the bucket, so a key's revisions are increasing but rarely consecutive. ``operation`` is
    ``"PUT"`` for a value, ``"DEL"`` for a delete marker and ``"PURGE"`` for a purge marker
    (markers have an empty value). ``delta`` is how many newer entries the watch still had
    to deliver when this one arrived (None from ``get``).
    """

    bucket: str
    key: str
    value: bytes
    revision: int
    operation: Operation = "PUT"
    created: datetime | None = None
    delta: int | None = None

    @property
    def text(self) -> str:
        """The value decoded as UTF-8 (undecodable bytes shown as U+FFFD)."""
        return self.value.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The value parsed as JSON."""
        return json.loads(self.value)

    @property
    def is_marker(self) -> bool:
        """True for a DEL or PURGE marker (a tombstone), False for a value."""
        return self.operation != "PUT"

    def __repr__(self) -> str:
        shown = self.text if len(self.value) <= 40 else self.text[:37] + "..."
        return f"Entry({self.operation} {self.key!r} = {shown!r} @ revision {self.revision})"
