"""KV events as the model sees them, and the small text helpers every view shares.

An event is a :class:`kvnb.Entry` (key, revision, operation, value, created, delta): the watch
yields them, so the model stores them as they come instead of copying each one. Anything with
those attributes works too, which is how tests feed the model without a server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..entry import Entry, Operation

__all__ = ["OP_LETTERS", "Event", "EventLike", "created_ms", "event", "op_letter", "preview"]

# Told apart by a letter as well as a colour: P(ut), D(elete), X (purge: crossed out).
OP_LETTERS: dict[str, str] = {"PUT": "P", "DEL": "D", "PURGE": "X"}
Event = Entry


class EventLike(Protocol):
    """What the model reads from an event."""

    key: str
    revision: int
    operation: Operation
    value: bytes
    created: datetime | None
    delta: int | None


def event(key: str, revision: int, value: str | bytes = "", operation: Operation = "PUT", *,
          bucket: str = "", created: datetime | None = None, delta: int | None = None) -> Entry:
    """Make an event by hand (tests, offline widgets): ``event("a", 3, "on")``."""
    data = value.encode() if isinstance(value, str) else bytes(value)
    return Entry(bucket=bucket, key=key, value=data, revision=revision, operation=operation,
                 created=created, delta=delta)


def op_letter(operation: str) -> str:
    """``"PUT"`` -> ``"P"``, ``"DEL"`` -> ``"D"``, ``"PURGE"`` -> ``"X"``."""
    return OP_LETTERS.get(operation, "?")


def preview(value: bytes, width: int = 40) -> str:
    """The value as one short line of text: UTF-8 (bad bytes as U+FFFD), newlines shown as ⏎."""
    if len(value) <= width:  # the common case, kept cheap: it runs once per event
        text = value.decode("utf-8", errors="replace")
        if text.isprintable():
            return text
    text = value[: width * 4].decode("utf-8", errors="replace")
    text = text.replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎").replace("\t", " ")
    if len(text) > width or len(value) > width * 4:
        return text[: width - 1] + "…"
    return text


def created_ms(created: datetime | None) -> int | None:
    """Epoch milliseconds (what the browser's Date wants), or None."""
    return None if created is None else int(created.timestamp() * 1000)
