"""Server-side counters (ADR-49, nats-server 2.12+): the server adds, so writers never conflict.

A KV counter is read, add, write back with ``update(last=)``, and retry on a conflict: with many
writers most attempts lose. A counter stream takes an increment (header ``Nats-Incr: +N``) and
the server computes the total itself, exactly, however many clients add at once::

    likes = await kvnb.open_counter("likes")
    await likes.add("post.1")            # -> 1 (the new total)
    await likes.add("post.1", 5)         # -> 6
    await likes.get("post.1")            # -> 6 (0 for a key never incremented)
    await likes.values()                 # {'post.1': 6}

A counter is not a KV bucket and cannot be one: the server refuses counters on a stream that
discards new messages, as every bucket does (:func:`ask_server_for_counter_bucket` shows its
answer). A counter lives in its own stream ``CTR_<name>`` on subjects ``$CTR.<name>.<key>``;
keys follow the KV key rules.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import api

from . import permissions
from . import validation as v
from .bucket import _server_errors
from .client import default_connection, ensure_fresh
from .entry import Entry
from .errors import BucketConfigMismatch, InvalidValue, ServerError
from .watch import CAUGHT_UP, CaughtUp, Watch

__all__ = ["Counter", "CounterEntry", "CounterWatch", "ask_server_for_counter_bucket", "delete_counter",
           "open_counter"]

STREAM_PREFIX = "CTR_"
SUBJECT_PREFIX = "$CTR."


@dataclass(frozen=True, slots=True)
class CounterEntry:
    """A counter's total after one increment: ``value`` the total, ``delta`` what was added."""

    counter: str
    key: str
    value: int
    delta: int | None
    revision: int
    created: datetime | None = None

    def __repr__(self) -> str:
        delta = f" ({self.delta:+d})" if self.delta is not None else ""
        return f"CounterEntry({self.key!r} = {self.value}{delta} @ revision {self.revision})"


def _total(data: bytes | None) -> int:
    """The total a counter message carries: ``{"val": "N"}``."""
    return int(json.loads(data or b"{}").get("val", "0"))


def _entry(counter: str, entry: Entry) -> CounterEntry:
    incr = entry.headers.get("Nats-Incr") if entry.headers else None
    return CounterEntry(counter, entry.key, _total(entry.value), int(incr) if incr is not None else None,
                        entry.revision, entry.created)


def check_increment(n: Any) -> int:
    """An increment must be a whole number (int, not bool); anything else raises :class:`InvalidValue`."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidValue(
            f"a counter increment must be a whole number (int), got {type(n).__name__} {n!r}. Rule: the server "
            "adds integers exactly (any size, negative to subtract); it refuses fractions and text. "
            "Example: await counter.add('post.1', 5) or counter.add('post.1', -1); convert text first: int('5')"
        )
    return n


class Counter:
    """Server-side counters, one per key. Made by :func:`open_counter`."""

    def __init__(self, nc: NATS, info: api.StreamInfo, *, js_prefix: str = "$JS.API") -> None:
        self.nc = nc
        self.js = nc.jetstream(prefix=js_prefix)
        self._js_prefix = js_prefix
        self._guard = permissions.guard(nc)
        self._stream = info.config.name or ""
        self.name: str = self._stream[len(STREAM_PREFIX):]
        self._pre = f"{SUBJECT_PREFIX}{self.name}."

    def __repr__(self) -> str:
        return f"<kvnb.Counter {self.name!r}>"

    async def add(self, key: str, n: int = 1) -> int:
        """Add ``n`` (negative subtracts) to ``key``'s counter; returns the new total."""
        v.check_key(key)
        check_increment(n)
        await ensure_fresh(self.nc)
        subject = self._pre + key
        with _server_errors(f"add({key!r}, {n})", self._guard, (subject,), js_prefix=self._js_prefix,
                            bucket=self.name):
            try:
                ack = await self.js.publish(subject, b"", headers={api.Header.INCR.value: f"{n:+d}"})
            except nats.js.errors.APIError as err:
                if isinstance(err, nats.js.errors.ServiceUnavailableError):
                    raise
                raise ServerError(f"add({key!r}, {n}): the server refused it: {err.description} "
                                  f"(code {err.err_code}).") from None
        return int(ack.val or 0)

    async def get(self, key: str) -> int:
        """``key``'s total; 0 when it was never incremented."""
        v.check_key(key)
        await ensure_fresh(self.nc)
        api_subject = f"{self._js_prefix}.DIRECT.GET.{self._stream}"
        with _server_errors(f"get({key!r})", self._guard, (api_subject,), js_prefix=self._js_prefix,
                            bucket=self.name):
            try:
                msg = await self.js.get_msg(self._stream, subject=self._pre + key, direct=True)
            except nats.js.errors.NotFoundError:
                return 0
        return _total(msg.data)

    async def values(self, pattern: str = ">") -> dict[str, int]:
        """Every key matching ``pattern`` with its total, in the order they were last changed."""
        v.check_pattern(pattern)
        await ensure_fresh(self.nc)
        watch = self._watch(pattern, snapshot=True)
        with _server_errors(f"values of counter {self.name!r}"):
            await watch.start()
        found: dict[str, int] = {}
        try:
            async for item in watch.events():
                if item is CAUGHT_UP:
                    break
                entry: Entry = item  # type: ignore[assignment]
                found[entry.key] = _total(entry.value)
        finally:
            await watch.stop()
        return found

    def watch(self, pattern: str | list[str] = ">", *, include_history: bool = False, updates_only: bool = False,
              from_revision: int | None = None) -> CounterWatch:
        """A live watch of the counters matching ``pattern``: first each current total, then every change.

        Yields :class:`CounterEntry` items; the options are those of :meth:`kvnb.KV.watch`.
        """
        patterns = v.check_patterns(pattern)
        if include_history and updates_only:
            raise v.InvalidOption("choose one of include_history and updates_only: they say where the watch "
                                  "starts. Example: counter.watch('post.>', updates_only=True)")
        if from_revision is not None:
            v.check_revision(from_revision, what="from_revision")
        return CounterWatch(self, self._watch(patterns if len(patterns) > 1 else patterns[0],
                                              include_history=include_history, updates_only=updates_only,
                                              from_revision=from_revision))

    def _watch(self, pattern: str | tuple[str, ...], **options: Any) -> Watch:
        return Watch(self.nc, bucket=self.name, pattern=pattern, js_prefix=self._js_prefix, stream=self._stream,
                     subject_prefix=self._pre, **options)


class CounterWatch:
    """A :class:`~kvnb.watch.Watch` of counters that yields :class:`CounterEntry` items."""

    def __init__(self, counter: Counter, watch: Watch) -> None:
        self.counter = counter
        self.watch = watch
        self.caught_up = watch.caught_up

    async def start(self) -> CounterWatch:
        await self.watch.start()
        return self

    async def stop(self) -> None:
        await self.watch.stop()

    close = stop

    async def __aenter__(self) -> CounterWatch:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __await__(self):  # type: ignore[no-untyped-def]
        return self.start().__await__()

    async def wait_caught_up(self, timeout: float | None = None) -> None:
        await self.watch.wait_caught_up(timeout)

    def __aiter__(self) -> AsyncIterator[CounterEntry]:
        return self._entries()

    async def _entries(self) -> AsyncIterator[CounterEntry]:
        async for item in self.events():
            if isinstance(item, CounterEntry):
                yield item

    async def events(self) -> AsyncIterator[CounterEntry | CaughtUp]:
        """Counter entries and, once, :data:`~kvnb.CAUGHT_UP`, in order; ends at :meth:`stop`."""
        async for item in self.watch.events():
            yield item if item is CAUGHT_UP else _entry(self.counter.name, item)  # type: ignore[arg-type]


async def open_counter(name: str, *, fresh: bool = False, replicas: int = 1, nc: NATS | None = None,
                       js_prefix: str = "$JS.API") -> Counter:
    """Open the counters ``name`` (a stream ``CTR_<name>``), creating them when they do not exist.

    ``fresh=True`` deletes them first. Needs nats-server 2.12 or newer (:class:`NotSupported`).
    """
    from .batch import check_server
    from .bucket import _delete_stream

    v.check_bucket_name(name)
    v.check_replicas(replicas)
    if nc is None:
        nc = await default_connection()
    await ensure_fresh(nc)
    check_server(nc, "counters")
    js = nc.jetstream(prefix=js_prefix)
    stream = STREAM_PREFIX + name
    subjects = tuple(f"{js_prefix}.STREAM.{r}.{stream}" for r in ("INFO", "CREATE", "DELETE"))
    with _server_errors(f"open_counter({name!r})", permissions.guard(nc), subjects, js_prefix=js_prefix):
        if fresh:
            await _delete_stream(js, stream)
        try:
            si = await js.stream_info(stream)
        except nats.js.errors.NotFoundError:
            si = None
        if si is not None:
            if not si.config.allow_msg_counter:
                raise BucketConfigMismatch(
                    f"a stream {stream!r} exists but is not a counter stream. Nothing was changed. "
                    f"Fix: open_counter({name!r}, fresh=True) deletes it and creates counters."
                )
            return Counter(nc, si, js_prefix=js_prefix)
        from .server import current_server

        server = current_server()
        storage = api.StorageType.MEMORY if server is not None and server.memory else api.StorageType.FILE
        config = api.StreamConfig(
            name=stream, subjects=[f"{SUBJECT_PREFIX}{name}.>"], allow_msg_counter=True, allow_direct=True,
            discard=api.DiscardPolicy.OLD,  # a counter stream cannot discard new (server error 10052)
            max_msgs_per_subject=1,  # the latest message holds the total: older increments can go
            num_replicas=replicas, storage=storage,
        )
        try:
            si = await js.add_stream(config)
        except nats.js.errors.APIError as err:
            if isinstance(err, nats.js.errors.ServiceUnavailableError):
                raise
            raise ServerError(f"open_counter({name!r}): the server refused to create it: {err.description} "
                              f"(code {err.err_code}).") from None
    return Counter(nc, si, js_prefix=js_prefix)


async def delete_counter(name: str, *, nc: NATS | None = None) -> bool:
    """Delete the counters ``name`` and their totals; False if they did not exist."""
    from .bucket import _delete_stream

    v.check_bucket_name(name)
    if nc is None:
        nc = await default_connection()
    with _server_errors(f"delete_counter({name!r})", permissions.guard(nc),
                        (f"$JS.API.STREAM.DELETE.{STREAM_PREFIX}{name}",)):
        return await _delete_stream(nc.jetstream(), STREAM_PREFIX + name)


async def ask_server_for_counter_bucket(name: str, *, nc: NATS | None = None) -> tuple[int, str]:
    """Ask the server for a KV-shaped counter stream and return its refusal ``(error code, description)``.

    A KV bucket's stream discards new messages when full (``discard: new``); the server refuses
    counters on such a stream (10052). Nothing is created. For teaching: the server's own answer.
    """
    v.check_bucket_name(name)
    if nc is None:
        nc = await default_connection()
    js = nc.jetstream()
    config = api.StreamConfig(
        name=f"KV_{name}", subjects=[f"$KV.{name}.>"], allow_msg_counter=True, discard=api.DiscardPolicy.NEW,
        max_msgs_per_subject=1, allow_direct=True, allow_rollup_hdrs=True, deny_delete=True,
    )
    try:
        await js.add_stream(config)
    except nats.js.errors.APIError as err:
        return err.err_code or 0, err.description or ""
    await js.delete_stream(f"KV_{name}")  # not expected: the server accepted it; leave nothing behind
    return 0, "the server accepted a counter bucket"
