"""One entry of a KV bucket: what ``get``, ``history`` and ``watch`` return. Pure data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Operation = Literal["PUT", "DEL", "PURGE"]
OPERATIONS: tuple[Operation, ...] = ("PUT", "DEL", "PURGE")

__all__ = ["OPERATIONS", "Entry", "Operation"]


@dataclass(frozen=True, slots=True, init=False)
class Entry:
    """A revision of a key.

    ``revision`` is the bucket stream's sequence number: one counter shared by every key of
    the bucket, so a key's revisions are increasing but rarely consecutive. ``operation`` is
    ``"PUT"`` for a value, ``"DEL"`` for a delete marker and ``"PURGE"`` for a purge marker
    (markers have an empty value). ``delta`` is how many newer entries the watch still had
    to deliver when this one arrived (None from ``get``).

    ``headers`` are the stored message's headers as a watch delivers them (None from ``get``,
    or when the message had none). A revision written by an atomic batch keeps the batch's
    headers: :attr:`batch_id`, :attr:`batch_sequence` (1, 2, ...) and :attr:`batch_commit`
    (True on the batch's last revision) read them.
    """

    bucket: str
    key: str
    value: bytes
    revision: int
    operation: Operation = "PUT"
    created: datetime | None = None
    delta: int | None = None
    headers: Mapping[str, str] | None = field(default=None, compare=False)

    def __init__(self, bucket: str, key: str, value: bytes, revision: int, operation: Operation = "PUT",
                 created: datetime | None = None, delta: int | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        # Same signature as the generated one. A frozen dataclass's __init__ goes through
        # object.__setattr__ once per field (~3x slower); the slot setters skip that, and every
        # get() and every watched revision builds an Entry.
        _set_bucket(self, bucket)
        _set_key(self, key)
        _set_value(self, value)
        _set_revision(self, revision)
        _set_operation(self, operation)
        _set_created(self, created)
        _set_delta(self, delta)
        _set_headers(self, headers)

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

    @property
    def batch_id(self) -> str | None:
        """The id of the atomic batch that wrote this revision (``Nats-Batch-Id``), else None."""
        return self.headers.get("Nats-Batch-Id") if self.headers else None

    @property
    def batch_sequence(self) -> int | None:
        """This revision's place in its atomic batch, from 1 (``Nats-Batch-Sequence``), else None."""
        seq = self.headers.get("Nats-Batch-Sequence") if self.headers else None
        return int(seq) if seq is not None and seq.isdigit() else None

    @property
    def batch_commit(self) -> bool:
        """True on the last revision of an atomic batch (it carries ``Nats-Batch-Commit``).

        Its :attr:`batch_sequence` is the batch's size: the batch wrote revisions
        ``revision - batch_sequence + 1`` to ``revision``, consecutive.
        """
        return bool(self.headers) and "Nats-Batch-Commit" in self.headers  # type: ignore[operator]

    def __repr__(self) -> str:
        shown = self.text if len(self.value) <= 40 else self.text[:37] + "..."
        return f"Entry({self.operation} {self.key!r} = {shown!r} @ revision {self.revision})"


# The slot descriptors exist only on the class @dataclass(slots=True) returns, hence set up here.
_set_bucket = Entry.__dict__["bucket"].__set__
_set_key = Entry.__dict__["key"].__set__
_set_value = Entry.__dict__["value"].__set__
_set_revision = Entry.__dict__["revision"].__set__
_set_operation = Entry.__dict__["operation"].__set__
_set_created = Entry.__dict__["created"].__set__
_set_delta = Entry.__dict__["delta"].__set__
_set_headers = Entry.__dict__["headers"].__set__
