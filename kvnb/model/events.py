"""KV events as the model sees them, and the small text helpers every view shares.

An event is a :class:`kvnb.Entry` (key, revision, operation, value, created, delta): the watch
yields them, so the model stores them as they come instead of copying each one. Anything with
those attributes works too, which is how tests feed the model without a server.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Protocol

from ..entry import Entry, Operation

__all__ = ["OP_LETTERS", "OP_WORDS", "BytesPreview", "Event", "EventLike", "bytes_preview", "created_ms", "event",
           "natural_key", "natural_sorted", "op_letter", "preview", "shown_value"]

# Told apart by a letter as well as a colour: P(ut), D(elete), X (purge: crossed out).
OP_LETTERS: dict[str, str] = {"PUT": "P", "DEL": "D", "PURGE": "X"}
# What each operation did, in words a learner knows (hover titles, detail lines, legends).
OP_WORDS: dict[str, str] = {"PUT": "put (a new value)", "DEL": "delete (a delete marker)",
                            "PURGE": "purge (a purge marker; older revisions removed)"}
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


class BytesPreview(str):
    """A preview of a value that is not text: ``<1,024 bytes: 89 50 4e 47 …>`` (a ``str``, marked by its type)."""

    __slots__ = ()


_HEX_SHOWN = 8  # bytes spelled out in hex


def bytes_preview(value: bytes) -> BytesPreview:
    """``<1,024 bytes: 89 50 4e 47 0d 0a 1a 0a …>``: the size and the first bytes in hex."""
    n = len(value)
    size = f"{n:,} byte{'s' if n != 1 else ''}"
    if not n:
        return BytesPreview(f"<{size}>")
    more = " …" if n > _HEX_SHOWN else ""
    return BytesPreview(f"<{size}: {value[:_HEX_SHOWN].hex(' ')}{more}>")


def _is_text(text: str) -> bool:
    """Printable once newlines and tabs are allowed (control characters mean the value is binary)."""
    return text.isprintable() or text.replace("\n", "").replace("\r", "").replace("\t", "").isprintable()


def preview(value: bytes, width: int = 40) -> str:
    """The value as one short line of text: UTF-8 text (newlines shown as ↵, long text cut with …), or,
    when the value is not text (not UTF-8, or control characters), a :class:`BytesPreview`
    ``<1,024 bytes: 89 50 4e 47 …>``. Every view shows values through this one helper."""
    if len(value) <= width:  # the common case, kept cheap: it runs once per event
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return bytes_preview(value)
        if text.isprintable():
            return text
        if not _is_text(text):
            return bytes_preview(value)
    else:
        head = value[: width * 4]
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as err:
            # a multi-byte character cut at the end of the head is still text; anything else is not
            if err.start < len(head) - 3 or len(head) == len(value):
                return bytes_preview(value)
            text = head[: err.start].decode("utf-8")
        if not _is_text(text):
            return bytes_preview(value)
    text = text.replace("\r\n", "↵").replace("\n", "↵").replace("\r", "↵").replace("\t", " ")
    if len(text) > width or len(value) > width * 4:
        return text[: width - 1] + "…"
    return text


def shown_value(text: str) -> str:
    """A preview as a view shows it: text in double quotes (``"blue"``), bytes as they are (``<4 bytes: …>``)."""
    if isinstance(text, BytesPreview):
        return str(text)
    return json.dumps(text, ensure_ascii=False)


_CHUNKS = re.compile(r"(\d+)")


def natural_key(key: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for key names as people read them: ``k2`` before ``k10``, ``sensor.9`` before ``sensor.10``."""
    return tuple((1, int(part)) if i % 2 else (0, part) for i, part in enumerate(_CHUNKS.split(key)))


def natural_sorted(keys: object) -> list[str]:
    """``sorted(keys)`` in natural order (see :func:`natural_key`)."""
    return sorted(keys, key=natural_key)  # type: ignore[call-overload]


def created_ms(created: datetime | None) -> int | None:
    """Epoch milliseconds (what the browser's Date wants), or None."""
    return None if created is None else int(created.timestamp() * 1000)
