"""kvnb's KV wrapper: nats-py's KV semantics with the rough edges smoothed.

- entries say ``"PUT"``, ``"DEL"`` or ``"PURGE"`` (never None), and carry ``created``;
- values may be ``str`` (UTF-8) or bytes; an empty value is ``b""`` from get() and watch();
- ``keys()`` on an empty bucket is ``[]`` and ``keys(pattern)`` honours NATS wildcards;
- one :class:`~kvnb.errors.Conflict` for every lost optimistic write (server codes 10071, 10164);
- ``get()`` of a deleted key raises :class:`~kvnb.errors.KeyDeleted`, of a missing one
  :class:`~kvnb.errors.KeyNotFound`; ``history()`` of a missing key is ``[]``;
- bad input raises before anything is sent, with the rule and an example.

Example::

    kv = await kvnb.open_bucket("demo", history=10, fresh=True)
    rev = await kv.put("featureX.enabled", "true")
    await kv.update("featureX.enabled", "false", last=rev)
"""

from __future__ import annotations

import asyncio
import re
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api

from . import permissions
from . import validation as v
from .client import default_connection, ensure_fresh
from .entry import Entry, Operation
from .errors import (
    BucketConfigMismatch,
    BucketNotFound,
    Conflict,
    KeyDeleted,
    KeyNotFound,
    NotSupported,
    ServerError,
)
from .server import current_server, server_starts
from .watch import CAUGHT_UP, Watch

if TYPE_CHECKING:
    from .batch import Batch

__all__ = ["KV", "BucketInfo", "delete_bucket", "open_bucket"]

_UNSET: Any = object()
_WRONG_LAST = re.compile(r"wrong last sequence: (\d+)")
_valid_key = v.VALID_KEY.fullmatch  # check_key's fast path, without the call (it runs on every put/get)
_task_of, _running_loop = permissions.task_of, permissions.running_loop
_EXPECTED_LAST = api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE
_MARKER = "Nats-Marker-Reason"


@dataclass(frozen=True)
class BucketInfo:
    """A bucket's settings and size, from its stream."""

    name: str
    history: int
    ttl: float | None
    storage: str
    replicas: int
    max_value_size: int
    values: int
    bytes: int
    first_revision: int
    last_revision: int
    limit_marker_ttl: float | None
    direct: bool
    atomic: bool = False
    """Atomic multi-key batches allowed (``allow_atomic``, :meth:`KV.batch`)."""


def _operation(headers: dict[str, str] | None) -> Operation:
    """A stored message's operation, from the headers a delete, purge or the server (a TTL's expiry) sets."""
    if not headers:
        return "PUT"
    op = headers.get("KV-Operation")
    if op in ("DEL", "PURGE"):
        return op  # type: ignore[return-value]
    reason = headers.get("Nats-Marker-Reason")
    if reason is not None:
        return "DEL" if reason == "Remove" else "PURGE"
    return "PUT"


def _header_size(headers: dict[str, str]) -> int:
    """Bytes of the header block nats-py sends: ``NATS/1.0\\r\\n`` + ``Key: value\\r\\n`` each + ``\\r\\n``."""
    return 10 + sum(len(k.encode()) + 2 + len(val.encode()) + 2 for k, val in headers.items()) + 2


# An update's header block less the digits of its revision (ASCII: one byte each).
_UPDATE_HEADER_SIZE = _header_size({_EXPECTED_LAST: ""})


class _ServerErrors:
    """Turn nats-py's transport errors into one kvnb error that says what to check.

    With a ``guard`` (:mod:`kvnb.permissions`) the block is registered as using ``subjects``:
    a permission violation the server reports for one of them cancels it at once and raises
    :class:`~kvnb.errors.PermissionDenied` (``task``: the caller registered itself already).

    A class rather than ``@contextlib.contextmanager`` (cheaper). put, get and update do not
    enter it at all on success: they build one only in their ``except`` branch.
    """

    __slots__ = ("_own", "bucket", "guard", "js_prefix", "subjects", "task", "what")

    def __init__(self, what: str, guard: permissions.Guard | None = None, subjects: tuple[str, ...] = (), *,
                 js_prefix: str = permissions.DEFAULT_JS_PREFIX, bucket: str = "",
                 task: asyncio.Task[Any] | None = None) -> None:
        self.what = what
        self.guard = guard
        self.subjects = subjects
        self.js_prefix = js_prefix
        self.bucket = bucket
        self.task = task
        self._own = False

    def __enter__(self) -> None:
        if self.guard is not None and self.task is None:
            self.task = self.guard.enter(self.subjects)
            self._own = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        try:
            return exc_type is not None and self._map(exc_type, exc)
        finally:
            if self._own and self.guard is not None and self.task is not None:
                self.guard.leave(self.task)

    def _map(self, exc_type: type[BaseException], exc: BaseException | None = None) -> bool:
        what, guard = self.what, self.guard
        if guard is not None:
            found = None
            if issubclass(exc_type, asyncio.CancelledError):
                found = guard.take(self.task)  # None: a real cancel, let it through
            elif issubclass(exc_type, (TimeoutError, nats.errors.TimeoutError)):
                found = guard.recent(self.subjects)
            if found is not None:
                raise permissions.permission_error(what, *found) from None
        if issubclass(exc_type, (TimeoutError, nats.errors.TimeoutError)):
            if guard is not None:  # it knows the server and whether JetStream answered before: rank the causes
                raise ServerError(permissions.unavailable_message(
                    what, timed_out=True, server_info=guard.server_info, js_ok=guard.js_ok)) from None
            raise ServerError(
                f"{what}: the server did not answer in time. Common causes: the server was stopped or is "
                "restarting, the bucket's stream has no leader yet (cluster), or your user lacks permission "
                "(the server does not answer denied requests). "
                "Fix: retry; check kvnb.current_server() and `kvnb doctor`."
            ) from None
        if issubclass(exc_type, nats.errors.ConnectionClosedError):
            raise ServerError(
                f"{what}: the connection is closed. Fix: open the bucket again (kvnb.open_bucket)."
            ) from None
        if issubclass(exc_type, nats.js.errors.NoStreamResponseError):
            shared = permissions.no_stream(what, self.subjects[0] if self.subjects else "?", self.bucket,
                                           self.js_prefix)
            if shared is not None:  # a bucket of another account: it takes no writes from this one
                raise shared from None
            raise BucketNotFound(
                f"{what}: no bucket answered; it was probably deleted. Fix: open_bucket(...) to create it again."
            ) from None
        if issubclass(exc_type, (nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError)):
            if self.js_prefix == permissions.DEFAULT_JS_PREFIX and any(".DIRECT.GET." in s for s in self.subjects):
                # the stream itself answers direct gets: nobody answering means the bucket is gone
                raise BucketNotFound(
                    f"{what}: bucket {self.bucket!r} did not answer; it was probably deleted. "
                    "Fix: open_bucket(...) to create it again."
                ) from None
            raise permissions.no_api(what, self.js_prefix, exc, guard=guard) from None
        return False


_server_errors = _ServerErrors


class KV:
    """A NATS KV bucket. Made by :func:`open_bucket`; every method is a coroutine except :meth:`watch`."""

    def __init__(self, nc: NATS, info: api.StreamInfo, *, js_prefix: str = "$JS.API") -> None:
        self.nc = nc
        self.js = nc.jetstream(prefix=js_prefix)
        self._js_prefix = js_prefix
        self._guard = permissions.guard(nc)
        self._guard.js_ok = True  # a bucket opened: JetStream answers this connection's account
        config = info.config
        self.name: str = (config.name or "")[3:]
        self._stream = config.name or ""
        self._pre = f"$KV.{self.name}."
        self.history_depth: int = config.max_msgs_per_subject or 1
        self.max_value_size: int = config.max_msg_size if config.max_msg_size not in (None, -1) else -1
        self._direct = bool(config.allow_direct)
        self.atomic: bool = bool(config.allow_atomic)  # atomic batches allowed (kv.batch())
        # JetStream API subjects this bucket's reads use (a permission denial names one of them)
        self._api_get = f"{js_prefix}.DIRECT.GET.{self._stream}" if self._direct else \
            f"{js_prefix}.STREAM.MSG.GET.{self._stream}"
        self._api_get_pre = self._api_get + "."  # + key subject: a direct get of a key's latest entry

    def __repr__(self) -> str:
        return f"<kvnb.KV bucket {self.name!r}, history {self.history_depth}>"

    # --- helpers ------------------------------------------------------------------------------
    def _limit(self) -> int | None:
        limit = self.nc.max_payload if self.nc.is_connected else None
        if self.max_value_size >= 0 and (limit is None or self.max_value_size < limit):
            limit = self.max_value_size
        return limit

    def _encode(self, value: Any) -> bytes:
        return v.to_bytes(value, max_size=self._limit())

    def _check_size(self, data: bytes, headers: dict[str, str] | None, what: str) -> None:
        """The server counts headers in max_value_size (and max_payload): check the whole message."""
        if headers is None:  # a plain put: to_bytes() already checked the value against the limit
            return
        limit = self._limit()
        if limit is None:
            return
        extra = _header_size(headers)
        if len(data) + extra > limit:
            raise v.InvalidValue(
                f"{what} needs {len(data)} bytes of value plus {extra} bytes of headers, but this bucket allows "
                f"at most {limit} bytes per message. Rule: NATS counts a message's headers in max_value_size, "
                "so create, update, delete and purge need room beyond the value. Example: "
                f"open_bucket({self.name!r}, max_value_size={max(1024, len(data) + extra)}, fresh=True)"
            )

    async def _publish(self, key: str, data: bytes, headers: dict[str, str] | None, *, what: str,
                       expected: int | None = None, operation: str = "put") -> int:
        """The write path of create, delete and purge (put and update inline it: they are the hot ones)."""
        self._check_size(data, headers, what)
        nc = self.nc
        if getattr(nc, "_kvnb_fresh_at", None) != server_starts():  # hot path: skip the call when fresh
            await ensure_fresh(nc)
        subject = self._pre + key
        guard = self._guard
        task = guard.enter((subject,))  # a permission violation on subject cancels this call at once
        try:
            ack = await self.js.publish(subject, data, headers=headers)
        except BaseException:
            self._write_failed(key, subject, task, expected, operation, what)
            raise  # not reached: _write_failed always raises
        finally:
            guard.leave(task)
        return ack.seq

    def _write_failed(self, key: str, subject: str, task: asyncio.Task[Any], expected: int | None,
                      operation: str, what: str | None = None) -> NoReturn:
        """Raise the kvnb error for the exception being handled in a write (called from ``except``).

        Server refusals become :class:`Conflict` (lost compare-and-set) or :class:`ServerError`;
        denials and transport errors are mapped by :class:`_ServerErrors`; anything else (a real
        cancel, KeyboardInterrupt ...) is re-raised as it is.
        """
        err = sys.exc_info()[1]
        what = what or f"{operation}({key!r})"  # formatted only now: nothing on the way of a good write
        if isinstance(err, nats.js.errors.APIError):
            if err.err_code in (10071, 10164) and expected is not None:
                found = _WRONG_LAST.search(err.description or "")
                current = int(found.group(1)) if found else None
                raise Conflict(key, expected, current, operation) from None
            raise ServerError(f"{what}: the server refused it: {err.description} (code {err.err_code}).") from None
        try:
            with _server_errors(what, self._guard, (subject,), js_prefix=self._js_prefix, bucket=self.name,
                                task=task):
                raise  # the exception the caller is handling, for _server_errors to map
        except ServerError as mapped:
            if type(mapped) is ServerError and isinstance(err, (TimeoutError, nats.errors.TimeoutError)):
                # the request left; a server that was only slow or frozen still applies it later
                raise ServerError(
                    f"{mapped} Note: this write may still be applied when the server answers again; "
                    f"read the key (kv.get({key!r})) before you write it again."
                ) from None
            raise

    # --- writes -------------------------------------------------------------------------------
    # put, update and get are written out flat (no helper coroutine, no context manager, nothing
    # formatted unless something fails): each costs within a few percent of raw nats-py's
    # (bench/bench_kv.py). The slow paths call the same checks as the other methods.
    async def put(self, key: str, value: str | bytes) -> int:
        """Store ``value`` under ``key``; returns the new revision."""
        if type(key) is not str or _valid_key(key) is None:
            v.check_key(key)  # raises, with the rule that was broken
        nc = self.nc
        kind = type(value)
        try:
            data = value if kind is bytes else value.encode() if kind is str else self._encode(value)
        except UnicodeEncodeError:  # a lone surrogate: the slow path names the rule
            data = self._encode(value)
        size = len(data)
        if size > nc.max_payload or size > self.max_value_size >= 0:
            data = self._encode(value)  # over a limit: the exact rule (and its message) decides
        if getattr(nc, "_kvnb_fresh_at", None) != server_starts():
            await ensure_fresh(nc)
        subject = self._pre + key
        # guard.enter()/leave() inline (see permissions.Guard): a denial of subject cancels this call at once
        guard, task = self._guard, _task_of(_running_loop())
        inflight = guard.inflight
        inflight[task] = subject
        if guard.inbox_denial is not None:
            guard.enter((subject,))
        try:
            ack = await self.js.publish(subject, data)
        except BaseException:
            self._write_failed(key, subject, task, None, "put")
            raise  # not reached
        finally:
            inflight.pop(task, None)
            if guard.cancelled:
                guard.cancelled.pop(task, None)
        return ack.seq

    async def create(self, key: str, value: str | bytes, *, ttl: float | None = None) -> int:
        """Store ``value`` only if ``key`` has no value (never written, deleted or purged).

        ``ttl`` (whole seconds >= 1, nats-server >= 2.11) makes this revision expire on its own.
        Raises :class:`Conflict` when the key already has a value.
        """
        v.check_key(key)
        data = self._encode(value)
        seconds = v.to_seconds(ttl, what="ttl", whole=True)
        headers = {api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE: "0"}
        if seconds is not None:
            headers["Nats-TTL"] = str(int(seconds))
        try:
            return await self._publish(key, data, headers, what=f"create({key!r})", expected=0, operation="create")
        except Conflict as conflict:
            # A delete or purge marker is a revision too; create may replace a tombstone.
            try:
                await self.get(key)
            except KeyDeleted as deleted:
                headers[api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE] = str(deleted.revision)
                return await self._publish(key, data, headers, what=f"create({key!r})",
                                           expected=deleted.revision, operation="create")
            except KeyNotFound:
                pass
            raise Conflict(key, 0, conflict.current, "create") from None

    async def update(self, key: str, value: str | bytes, last: int) -> int:
        """Store ``value`` only if ``key``'s latest revision is ``last``; returns the new revision.

        Raises :class:`Conflict` (with the current revision) when another write came first.
        """
        if type(key) is not str or _valid_key(key) is None:
            v.check_key(key)
        if type(last) is not int or last < 0:  # bool is not int here: check_revision rejects it
            v.check_revision(last, what="last", allow_zero=True)
        last_s = str(last)
        headers = {_EXPECTED_LAST: last_s}
        nc = self.nc
        kind = type(value)
        try:
            data = value if kind is bytes else value.encode() if kind is str else self._encode(value)
        except UnicodeEncodeError:  # a lone surrogate: the slow path names the rule
            data = self._encode(value)
        size = len(data) + _UPDATE_HEADER_SIZE + len(last_s)
        if size > nc.max_payload or size > self.max_value_size >= 0:
            data = self._encode(value)  # over a limit: the exact rules (and their messages) decide
            self._check_size(data, headers, f"update({key!r})")
        if getattr(nc, "_kvnb_fresh_at", None) != server_starts():
            await ensure_fresh(nc)
        subject = self._pre + key
        guard, task = self._guard, _task_of(_running_loop())  # guard.enter()/leave() inline, as in put
        inflight = guard.inflight
        inflight[task] = subject
        if guard.inbox_denial is not None:
            guard.enter((subject,))
        try:
            ack = await self.js.publish(subject, data, headers=headers)
        except BaseException:
            self._write_failed(key, subject, task, last, "update")
            raise  # not reached
        finally:
            inflight.pop(task, None)
            if guard.cancelled:
                guard.cancelled.pop(task, None)
        return ack.seq

    async def delete(self, key: str, *, last: int | None = None) -> int:
        """Place a DEL marker (a tombstone; earlier revisions stay in history). Returns its revision.

        With ``last``, only if the key's latest revision is ``last`` (else :class:`Conflict`).
        """
        v.check_key(key)
        headers = {"KV-Operation": "DEL"}
        if last is not None:
            headers[api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE] = str(v.check_revision(last, what="last"))
        return await self._publish(key, b"", headers, what=f"delete({key!r})", expected=last, operation="delete")

    async def purge(self, key: str, *, ttl: float | None = None) -> int:
        """Place a PURGE marker and drop every earlier revision of ``key``. Returns its revision.

        ``ttl`` (whole seconds >= 1, nats-server >= 2.11) removes the marker itself after that long.
        """
        v.check_key(key)
        seconds = v.to_seconds(ttl, what="ttl", whole=True)
        headers = {"KV-Operation": "PURGE", api.Header.ROLLUP: "sub"}
        if seconds is not None:
            headers["Nats-TTL"] = str(int(seconds))
        return await self._publish(key, b"", headers, what=f"purge({key!r})")

    async def purge_deletes(self, *, older_than: float = 0) -> int:
        """Remove DEL/PURGE markers (and what they hide) older than ``older_than`` seconds; returns how many."""
        markers = [e for e in await self.entries(include_markers=True) if e.is_marker]
        now = datetime.now().astimezone()
        removed = 0
        for entry in markers:
            age = (now - entry.created).total_seconds() if entry.created else float("inf")
            keep = 1 if older_than > 0 and age < older_than else 0
            if keep:
                continue
            with _server_errors(f"purge_deletes() on {entry.key!r}", self._guard,
                                (f"{self._js_prefix}.STREAM.PURGE.{self._stream}",), js_prefix=self._js_prefix):
                await self.js.purge_stream(self._stream, subject=self._pre + entry.key, keep=0)
            removed += 1
        return removed

    # --- reads --------------------------------------------------------------------------------
    async def get(self, key: str, *, revision: int | None = None) -> Entry:
        """The latest entry of ``key`` (or the one at ``revision``).

        Raises :class:`KeyNotFound` when there is none and :class:`KeyDeleted` when the entry is a
        DEL or PURGE marker.
        """
        if type(key) is not str or _valid_key(key) is None:
            v.check_key(key)
        if revision is not None:
            v.check_revision(revision, what="revision")
        nc = self.nc
        if getattr(nc, "_kvnb_fresh_at", None) != server_starts():
            await ensure_fresh(nc)
        subject = self._pre + key
        api_subject = self._api_get_pre + subject if self._direct and revision is None else self._api_get
        guard, task = self._guard, _task_of(_running_loop())  # guard.enter()/leave() inline, as in put
        inflight = guard.inflight
        inflight[task] = api_subject
        if guard.inbox_denial is not None:
            guard.enter((api_subject,))
        try:
            if revision is None:
                msg = await self.js.get_msg(self._stream, subject=subject, direct=self._direct)
            else:
                msg = await self.js.get_msg(self._stream, seq=revision, direct=self._direct)
        except nats.js.errors.NotFoundError:
            raise KeyNotFound(self.name, key, revision) from None
        except BaseException as err:
            if isinstance(err, nats.js.errors.APIError) and not isinstance(
                    err, nats.js.errors.ServiceUnavailableError):  # that one: no JetStream API answered
                if err.err_code == 10037 or err.code == 404:  # no message found
                    raise KeyNotFound(self.name, key, revision) from None
                raise ServerError(
                    f"get({key!r}): the server refused it: {err.description} (code {err.err_code})."
                ) from None
            with _server_errors(f"get({key!r})", guard, (api_subject,), js_prefix=self._js_prefix, task=task):
                raise
            raise  # not reached
        finally:
            inflight.pop(task, None)
            if guard.cancelled:
                guard.cancelled.pop(task, None)
        if msg.subject != subject:
            raise KeyNotFound(self.name, key, revision)
        headers = msg.headers
        operation = _operation(headers) if headers and ("KV-Operation" in headers or _MARKER in headers) else "PUT"
        if operation != "PUT":
            raise KeyDeleted(self.name, key, msg.seq or 0, operation)
        return Entry(self.name, key, msg.data or b"", msg.seq or 0, "PUT", msg.time)

    async def get_value(self, key: str, default: Any = None) -> str | None:
        """The latest value of ``key`` as text, or ``default`` when missing or deleted."""
        try:
            return (await self.get(key)).text
        except KeyNotFound:
            return default

    async def keys(self, pattern: str = ">") -> list[str]:
        """Keys that have a value now (deleted ones excluded), sorted; ``[]`` for an empty bucket.

        ``pattern`` uses NATS wildcards: ``*`` one token, ``>`` all the rest (``'sensors.*.temp'``).
        """
        v.check_pattern(pattern)
        return sorted(e.key for e in await self._snapshot(pattern, include_history=False, headers_only=True)
                      if not e.is_marker)

    async def history(self, key: str) -> list[Entry]:
        """Every revision the bucket still keeps for ``key``, oldest first; ``[]`` if none."""
        v.check_key(key)
        return await self._snapshot(key, include_history=True)

    async def entries(self, pattern: str = ">", *, include_history: bool = False,
                      include_markers: bool = False) -> list[Entry]:
        """A snapshot: the latest entry of every key (or every kept revision), in revision order."""
        v.check_pattern(pattern)
        found = await self._snapshot(pattern, include_history=include_history)
        return found if include_markers else [e for e in found if not e.is_marker]

    async def _snapshot(self, pattern: str, *, include_history: bool, headers_only: bool = False) -> list[Entry]:
        await ensure_fresh(self.nc)
        watch = Watch(self.nc, bucket=self.name, pattern=pattern, include_history=include_history,
                      js_prefix=self._js_prefix, headers_only=headers_only, snapshot=True)
        with _server_errors(f"reading bucket {self.name!r}"):
            await watch.start()
        found: list[Entry] = []
        try:
            async for item in watch.events():
                if item is CAUGHT_UP:
                    break
                found.append(item)  # type: ignore[arg-type]
        finally:
            await watch.stop()
        return found

    def watch(self, pattern: str | list[str] = ">", *, include_history: bool = False, ignore_deletes: bool = False,
              updates_only: bool = False, from_revision: int | None = None) -> Watch:
        """A live :class:`~kvnb.watch.Watch` of keys matching ``pattern`` (or a list of patterns).

        Use ``async for entry in kv.watch(...)``, ``async with kv.watch(...) as w`` or
        ``w = await kv.watch(...)``. By default it first delivers the latest entry of each key,
        then every change; ``include_history`` delivers every kept revision first, ``updates_only``
        only changes from now on, ``from_revision`` everything from that revision. It sets
        ``caught_up`` when the initial values are in, and resumes by itself after a reconnect.
        Several patterns (``['orders.>', 'users.*']``, not overlapping) share one server-side
        consumer (nats-server 2.10+).
        """
        patterns = v.check_patterns(pattern)
        if len(patterns) > 1:
            _needs_version(self.nc, (2, 10), "a watch of several patterns")
        chosen = [name for name, on in (("include_history", include_history), ("updates_only", updates_only),
                                        ("from_revision", from_revision is not None)) if on]
        if len(chosen) > 1:
            raise v.InvalidOption(
                f"choose one of include_history, updates_only and from_revision, not {' and '.join(chosen)}: "
                "they say where the watch starts. Example: kv.watch('orders.>', include_history=True)"
            )
        if from_revision is not None:
            v.check_revision(from_revision, what="from_revision")
        return Watch(self.nc, bucket=self.name, pattern=patterns[0] if len(patterns) == 1 else patterns,
                     include_history=include_history, ignore_deletes=ignore_deletes, updates_only=updates_only,
                     from_revision=from_revision, js_prefix=self._js_prefix)

    # --- beyond nats-py: kvnb.batch and kvnb.revert -------------------------------------------
    def batch(self) -> Batch:
        """An atomic batch: ``async with kv.batch() as b:`` then ``b.put/create/update/delete/purge``.

        All operations commit together when the block ends, at consecutive revisions
        (``b.revisions``), or none do. Needs a bucket opened with ``atomic=True``.
        """
        from .batch import Batch

        return Batch(self)

    async def revert(self, key: str, revision: int) -> int:
        """Write the value ``key`` had at ``revision`` as a new revision (if the key did not change meanwhile)."""
        from .revert import revert

        return await revert(self, key, revision)

    async def info(self) -> BucketInfo:
        """The bucket's settings and current size."""
        await ensure_fresh(self.nc)
        with _server_errors(f"info of bucket {self.name!r}", self._guard,
                            (f"{self._js_prefix}.STREAM.INFO.{self._stream}",), js_prefix=self._js_prefix):
            try:
                si = await self.js.stream_info(self._stream)
            except nats.js.errors.NotFoundError:
                raise BucketNotFound(
                    f"bucket {self.name!r} no longer exists. Fix: open_bucket({self.name!r}) to create it again."
                ) from None
        return _bucket_info(si)


def _needs_version(nc: NATS, version: tuple[int, int], feature: str) -> None:
    have = nc.connected_server_version
    if (have.major, have.minor) < version:
        raise NotSupported(
            f"{feature} needs nats-server {version[0]}.{version[1]} or newer; this server is "
            f"{have.major}.{have.minor}.{have.patch}. "
            "Fix: use kvnb's bundled server (kvnb.start_server()) or upgrade the server you connect to."
        )


def _bucket_info(si: api.StreamInfo) -> BucketInfo:
    c, s = si.config, si.state
    marker = getattr(c, "subject_delete_marker_ttl", None)
    return BucketInfo(
        name=(c.name or "")[3:], history=c.max_msgs_per_subject or 1,
        ttl=c.max_age or None, storage=str(getattr(c.storage, "value", c.storage)),
        replicas=c.num_replicas or 1,
        max_value_size=c.max_msg_size if c.max_msg_size is not None else -1,
        values=s.messages, bytes=s.bytes, first_revision=s.first_seq, last_revision=s.last_seq,
        limit_marker_ttl=marker or None, direct=bool(c.allow_direct), atomic=bool(c.allow_atomic),
    )


async def open_bucket(name: str, *, history: int = _UNSET, ttl: float | None = _UNSET, storage: str | None = _UNSET,
                      replicas: int = _UNSET, max_value_size: int | None = _UNSET,
                      limit_marker_ttl: float | None = _UNSET, description: str | None = None,
                      atomic: bool = _UNSET, update: bool = False,
                      fresh: bool = False, nc: NATS | None = None, js_prefix: str = "$JS.API") -> KV:
    """Open the bucket ``name``, creating it when it does not exist.

    Settings (defaults in brackets): ``history`` revisions kept per key [1, at most 64], ``ttl``
    seconds a value lives [forever], ``storage`` "file" or "memory" [file; memory when the bundled
    server was started with ``memory=True``], ``replicas`` [1], ``max_value_size`` bytes [server
    limit], ``limit_marker_ttl`` seconds a server-made PURGE marker stays when a TTL expires a key
    [none; nats-server >= 2.11], ``atomic`` allows atomic multi-key batches (:meth:`KV.batch`)
    [False; nats-server >= 2.12].

    An existing bucket is opened as it is; passing a setting that differs from it raises
    :class:`BucketConfigMismatch` (nothing is changed). ``update=True`` turns ``atomic`` on for an
    existing bucket (data kept; a warning says it was changed). ``fresh=True`` deletes the bucket and its
    data first and creates it anew. ``nc`` defaults to the shared connection to the default server.
    """
    v.check_bucket_name(name)
    given = {k: val for k, val in dict(history=history, ttl=ttl, storage=storage, replicas=replicas,
                                       max_value_size=max_value_size, limit_marker_ttl=limit_marker_ttl,
                                       atomic=atomic).items()
             if val is not _UNSET}
    if "atomic" in given and not isinstance(atomic, bool):
        raise v.InvalidOption(
            f"atomic must be True or False, got {atomic!r}. Example: open_bucket('shop', atomic=True)"
        )
    if update is not False and (update is not True or atomic is not True):
        raise v.InvalidOption(
            f"update={update!r} needs atomic=True: it only turns atomic batches on for an existing bucket (the one "
            "setting that can change without losing data). Example: open_bucket('shop', atomic=True, update=True)"
        )
    if "history" in given:
        v.check_history(history)
    ttl_s = v.to_seconds(given.get("ttl"), what="ttl")
    marker_s = v.to_seconds(given.get("limit_marker_ttl"), what="limit_marker_ttl")
    if "storage" in given and storage is not None:
        v.check_choice(storage, what="storage", choices=("file", "memory"))
    if "replicas" in given:
        v.check_replicas(replicas)
    if given.get("max_value_size") is not None and (
            isinstance(max_value_size, bool) or not isinstance(max_value_size, int) or max_value_size < 1):
        raise v.InvalidOption(
            f"max_value_size must be a positive int (bytes), got {max_value_size!r}. Example: max_value_size=1024"
        )
    if nc is None:
        nc = await default_connection()
    await ensure_fresh(nc)
    js = nc.jetstream(prefix=js_prefix)
    stream = f"KV_{name}"
    api_subjects = tuple(f"{js_prefix}.STREAM.{request}.{stream}" for request in ("INFO", "CREATE", "DELETE"))
    with _server_errors(f"open_bucket({name!r})", permissions.guard(nc), api_subjects, js_prefix=js_prefix,
                        bucket=name):
        if fresh:
            await _delete_stream(js, stream)
        else:
            try:
                si = await js.stream_info(stream)
            except nats.js.errors.NotFoundError:
                si = None
            if si is not None:
                if atomic is True and not si.config.allow_atomic and update:
                    from .batch import enable_atomic

                    si = await enable_atomic(nc, js_prefix, stream, create=False)
                    warnings.warn(f"open_bucket({name!r}): atomic batches turned on for the existing bucket "
                                  "(its data is kept).", UserWarning, stacklevel=2)
                _check_matches(name, _bucket_info(si), given, ttl_s, marker_s)
                return KV(nc, si, js_prefix=js_prefix)
        if marker_s is not None and nc.connected_server_version.minor < 11 and nc.connected_server_version.major == 2:
            raise NotSupported(
                f"limit_marker_ttl needs nats-server 2.11 or newer; this server is {nc.connected_server_version}."
            )
        if atomic is True:
            _needs_version(nc, (2, 12), "atomic=True (atomic batches)")
        server = current_server()
        default_storage = "memory" if server is not None and server.memory else "file"
        chosen_storage = given.get("storage") or default_storage
        config = api.KeyValueConfig(
            bucket=name, description=description, history=given.get("history", 1), ttl=ttl_s,
            storage=api.StorageType(chosen_storage), replicas=given.get("replicas", 1),
            max_value_size=given.get("max_value_size"), direct=True, limit_marker_ttl=marker_s,
        )
        try:
            await js.create_key_value(config)
        except nats.js.errors.ServiceUnavailableError:
            raise  # no JetStream API answered: _server_errors explains it
        except nats.js.errors.APIError as err:
            raise ServerError(
                f"open_bucket({name!r}): the server refused to create it: {err.description} (code {err.err_code})."
            ) from None
        if atomic is True:
            from .batch import enable_atomic

            si = await enable_atomic(nc, js_prefix, stream, create=True)
        else:
            si = await js.stream_info(stream)
    return KV(nc, si, js_prefix=js_prefix)


def _check_matches(name: str, info: BucketInfo, given: dict[str, Any], ttl_s: float | None,
                   marker_s: float | None) -> None:
    wanted = dict(given)
    if "ttl" in wanted:
        wanted["ttl"] = ttl_s
    if "limit_marker_ttl" in wanted:
        wanted["limit_marker_ttl"] = marker_s
    if wanted.get("storage") is None:
        wanted.pop("storage", None)
    if wanted.get("max_value_size") is None and "max_value_size" in wanted:
        wanted["max_value_size"] = -1
    differ = [f"{k}={val!r} (it has {getattr(info, k)!r})" for k, val in wanted.items() if getattr(info, k) != val]
    if differ:
        if wanted.get("atomic") is True and not info.atomic and len(differ) == 1:
            raise BucketConfigMismatch(
                f"bucket {name!r} already exists without atomic batches. Nothing was changed. "
                f"Fix: open_bucket({name!r}, atomic=True, update=True) turns them on and keeps its data "
                f"(or fresh=True deletes it and creates it anew)."
            )
        raise BucketConfigMismatch(
            f"bucket {name!r} already exists with other settings: you asked for {', '.join(differ)}. "
            f"Nothing was changed. Fix: open_bucket({name!r}) without those settings to use it as it is, "
            f"or open_bucket({name!r}, ..., fresh=True) "
            "to delete it (and its data) and create it with yours."
        )


async def delete_bucket(name: str, *, nc: NATS | None = None) -> bool:
    """Delete bucket ``name`` and all its data; False if it did not exist."""
    v.check_bucket_name(name)
    if nc is None:
        nc = await default_connection()
    with _server_errors(f"delete_bucket({name!r})", permissions.guard(nc),
                        (f"$JS.API.STREAM.DELETE.KV_{name}", f"$JS.API.STREAM.INFO.KV_{name}")):
        return await _delete_stream(nc.jetstream(), f"KV_{name}")


async def _delete_stream(js: JetStreamContext, stream: str) -> bool:
    """Delete ``stream``; False if it did not exist.

    In a cluster only the stream's leader answers a delete. While its group changes leader the
    delete is applied and nobody answers (nats-server's processClusterDeleteStream), so after a
    timeout this looks: a stream that is gone now was deleted by this call. One that is still
    there is asked once more, then the timeout stands.
    """
    for attempt in (1, 2):
        try:
            return await js.delete_stream(stream)
        except nats.js.errors.NotFoundError:
            return attempt == 2  # on the second try: the first one deleted it
        except nats.errors.TimeoutError:
            try:
                await js.stream_info(stream)
            except nats.js.errors.NotFoundError:
                return True
            if attempt == 2:
                raise
    raise AssertionError("unreachable: the second attempt returns or raises")
