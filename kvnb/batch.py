"""Atomic multi-key batches (ADR-50): several writes that all land, at consecutive revisions, or none do.

nats-server 2.12+ commits a batch of messages to one stream as a unit once the stream allows
it (``allow_atomic``). nats-py has the header names but no batch API; this is one::

    kv = await kvnb.open_bucket("shop", history=10, atomic=True)
    async with kv.batch() as b:
        b.put("order.42.status", "paid")
        b.update("stock.apple", "7", last=rev)      # a condition: if it fails, nothing is written
        b.delete("cart.42")
    print(b.revisions)                              # e.g. [18, 19, 20]

Operations are only recorded inside the block; they are sent when it ends without an exception
(an exception inside the block sends nothing). Every rule that can be checked before sending is
(more than 1,000 operations, a bucket without ``atomic``, a key written twice with a condition).
The server then checks every condition at once and refuses the whole batch if one fails:
:class:`~kvnb.errors.Conflict` names the key and its current revision.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors
from nats.js import api
from nats.nuid import NUID

from . import validation as v
from .client import ensure_fresh
from .errors import Conflict, InvalidBatch, KeyDeleted, KeyNotFound, ServerError

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from .bucket import KV

__all__ = ["MAX_OPERATIONS", "Batch", "check_server", "enable_atomic"]

MAX_OPERATIONS = 1000  # the server's limit of messages in one atomic batch
ACK_EVERY = 100  # ask the server to confirm every so many messages: a failure shows early, memory stays bounded
_WRONG_LAST = re.compile(r"wrong last sequence: (\d+)")
_nuid = NUID()
# What to do when the server refuses a batch for a reason kvnb could not check before sending.
_FIXES = {
    10174: "Fix: the bucket no longer allows atomic batches; open_bucket('{name}', atomic=True, update=True) "
           "turns them on again.",
    10176: "The server received the batch incomplete (a reconnect in the middle of it?). Fix: send it again.",
    10199: "Fix: split it into batches of at most 1000 operations.",
    10210: "Rule: the server holds at most 50 unfinished batches per bucket. Fix: wait a moment and send it again.",
}


def check_server(nc: NATS, feature: str = "atomic batches") -> None:
    """Raise :class:`NotSupported` when the connected server is older than 2.12 (ADR-49/50 need it)."""
    from .bucket import _needs_version

    _needs_version(nc, (2, 12), feature)


async def enable_atomic(nc: NATS, js_prefix: str, stream: str, *, create: bool) -> api.StreamInfo:
    """Set ``allow_atomic`` on a bucket's stream (nats-py's KV config has no such setting)."""
    check_server(nc)
    js = nc.jetstream(prefix=js_prefix)
    config = (await js.stream_info(stream)).config
    config.allow_atomic = True
    try:
        return await js.update_stream(config)
    except nats.js.errors.APIError as err:
        if isinstance(err, nats.js.errors.ServiceUnavailableError):
            raise
        what = "create" if create else "update"
        raise ServerError(
            f"the server refused to {what} bucket {stream[3:]!r} with atomic batches: {err.description} "
            f"(code {err.err_code}). Fix: check the server version (2.12+) and the bucket's settings."
        ) from None


@dataclass(frozen=True, slots=True)
class _Op:
    operation: str  # put, create, update, delete, purge
    key: str
    data: bytes
    last: int | None  # the condition: the key's expected latest revision (0: no value yet), None: none


class Batch:
    """Writes to one bucket that commit together. Made by :meth:`kvnb.KV.batch`; use ``async with``.

    After the block, ``revisions`` holds the new revisions (consecutive, in the order of the
    operations) and ``batch_id`` the id every written entry carries (``Entry.batch_id``).
    """

    def __init__(self, kv: KV) -> None:
        if not kv.atomic:
            raise InvalidBatch(
                f"bucket {kv.name!r} does not allow atomic batches, so nothing was sent. Rule: a batch needs a "
                "bucket opened with atomic=True (the stream setting allow_atomic, nats-server 2.12+). "
                f"Fix: kv = await kvnb.open_bucket({kv.name!r}, atomic=True, update=True) turns it on and keeps "
                "the data."
            )
        self.kv = kv
        self.batch_id = _nuid.next().decode()
        self.revisions: list[int] = []
        self._ops: list[_Op] = []
        self._conditioned: set[str] = set()  # keys written with a condition
        self._written: set[str] = set()
        self._entered = False
        self._done = False

    def __repr__(self) -> str:
        state = f"committed at {self.revisions}" if self.revisions else f"{len(self._ops)} operations pending"
        return f"<kvnb.Batch on {self.kv.name!r}: {state}>"

    def __len__(self) -> int:
        return len(self._ops)

    # --- recording (nothing is sent until the block ends) -----------------------------------
    def put(self, key: str, value: str | bytes) -> None:
        """Store ``value`` under ``key``."""
        self._add("put", key, value, None)

    def create(self, key: str, value: str | bytes) -> None:
        """Store ``value`` only if ``key`` has no value (never written, deleted or purged)."""
        self._add("create", key, value, 0)

    def update(self, key: str, value: str | bytes, last: int) -> None:
        """Store ``value`` only if ``key``'s latest revision is ``last``."""
        self._add("update", key, value, v.check_revision(last, what="last", allow_zero=True))

    def delete(self, key: str, *, last: int | None = None) -> None:
        """Place a DEL marker (with ``last``: only if that is the key's latest revision)."""
        self._add("delete", key, b"", None if last is None else v.check_revision(last, what="last"))

    def purge(self, key: str) -> None:
        """Place a PURGE marker and drop the key's earlier revisions."""
        self._add("purge", key, b"", None)

    def _add(self, operation: str, key: str, value: Any, last: int | None) -> None:
        if self._done:
            raise InvalidBatch(
                f"this batch was already {'sent' if self.revisions else 'ended'}; {operation}({key!r}) was not "
                "recorded. Rule: operations go inside the `async with kv.batch() as b:` block. "
                "Fix: start a new batch for more writes."
            )
        v.check_key(key)
        data = self.kv._encode(value)
        if len(self._ops) >= MAX_OPERATIONS:
            raise InvalidBatch(
                f"a batch holds at most {MAX_OPERATIONS} operations; {operation}({key!r}) would be number "
                f"{len(self._ops) + 1}. Nothing was sent. Rule: nats-server commits at most {MAX_OPERATIONS} "
                "messages in one atomic batch. Fix: split the work into batches of up to "
                f"{MAX_OPERATIONS} (each one is atomic on its own)."
            )
        if key in self._conditioned or (last is not None and key in self._written):
            raise InvalidBatch(
                f"{operation}({key!r}) in a batch that already writes {key!r} with a condition (create, update "
                "or delete with last=). Rule: the server checks a condition against the revision before the "
                "batch, so a key with a condition may appear only once in a batch (and a condition cannot follow "
                "another write of the same key). Fix: write that key once, with the final value."
            )
        self._ops.append(_Op(operation, key, data, last))
        self._written.add(key)
        if last is not None:
            self._conditioned.add(key)

    # --- the block ----------------------------------------------------------------------------
    async def __aenter__(self) -> Batch:
        if self._entered:
            raise InvalidBatch("this batch was already used. Rule: one `async with` per batch. "
                               "Fix: call kv.batch() again.")
        self._entered = True
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> None:
        self._done = True
        if exc_type is not None:
            return  # an exception inside the block: nothing was sent, the exception goes on
        if self._ops:
            await self._commit()

    # --- sending ------------------------------------------------------------------------------
    def _headers(self, i: int, op: _Op) -> dict[str, str]:
        headers = {api.Header.BATCH_ID.value: self.batch_id, api.Header.BATCH_SEQUENCE.value: str(i)}
        if op.operation == "delete":
            headers["KV-Operation"] = "DEL"
        elif op.operation == "purge":
            headers["KV-Operation"] = "PURGE"
            headers[api.Header.ROLLUP.value] = "sub"
        if op.last is not None:
            headers[api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value] = str(op.last)
        if i == len(self._ops):
            headers[api.Header.BATCH_COMMIT.value] = "1"
        return headers

    async def _resolve_creates(self) -> None:
        """create() may replace a tombstone: its condition is then the marker's revision, not 0."""
        creates = [i for i, op in enumerate(self._ops) if op.operation == "create"]
        if not creates:
            return
        found = await asyncio.gather(*(_latest(self.kv, self._ops[i].key) for i in creates))
        for i, (revision, marker) in zip(creates, found, strict=True):
            op = self._ops[i]
            if revision and not marker:
                raise Conflict(op.key, 0, revision, "create")
            self._ops[i] = _Op(op.operation, op.key, op.data, revision)

    async def _commit(self) -> None:
        kv = self.kv
        await ensure_fresh(kv.nc)
        await self._resolve_creates()
        n = len(self._ops)
        messages = []
        for i, op in enumerate(self._ops, 1):
            headers = self._headers(i, op)
            kv._check_size(op.data, headers, f"batch {op.operation}({op.key!r})")
            messages.append((kv._pre + op.key, op.data, headers))
        nc = kv.nc
        subjects = (messages[0][0],)
        try:
            ack: dict[str, Any] = {}
            for i, (subject, data, headers) in enumerate(messages, 1):
                if i == n or i == 1 or i % ACK_EVERY == 0:
                    try:
                        reply = await nc.request(subject, data, headers=headers, timeout=kv.js._timeout)
                    except nats.errors.NoRespondersError:
                        raise nats.js.errors.NoStreamResponseError from None
                    ack = _check_reply(reply.data)
                else:
                    await nc.publish(subject, data, headers=headers)
        except BaseException:
            await self._failed(subjects)
            raise  # not reached
        seq = ack["seq"]
        self.revisions = list(range(seq - n + 1, seq + 1))

    async def _failed(self, subjects: tuple[str, ...]) -> None:
        """Raise the kvnb error for the exception being handled while sending (called from ``except``)."""
        from .bucket import _server_errors

        err = sys.exc_info()[1]
        kv = self.kv
        what = f"batch of {len(self._ops)} on bucket {kv.name!r}"
        if isinstance(err, nats.js.errors.APIError):
            if err.err_code in (10071, 10164):
                raise await self._conflict(err.description or "") from None
            fix = _FIXES.get(err.err_code or 0, "Fix: check the bucket with kv.info() and send the batch again.")
            raise ServerError(
                f"{what}: the server refused the whole batch, nothing was written: {err.description} "
                f"(code {err.err_code}). {fix}".replace("{name}", kv.name)
            ) from None
        try:
            with _server_errors(what, kv._guard, subjects, js_prefix=kv._js_prefix, bucket=kv.name):
                raise  # the exception being handled, for _server_errors to map
        except ServerError as mapped:
            if type(mapped) is ServerError and isinstance(err, (TimeoutError, nats.errors.TimeoutError)):
                raise ServerError(
                    f"{mapped} Note: if the commit reached the server, the whole batch may still be applied "
                    "(all of it or none of it, never part): read its keys before you write them again."
                ) from None
            raise

    async def _conflict(self, description: str) -> Conflict:
        """The server says a condition failed but not whose: read the conditioned keys to name it."""
        reported = _WRONG_LAST.search(description)
        current_said = int(reported.group(1)) if reported else None
        conditioned = [op for op in self._ops if op.last is not None]
        found = await asyncio.gather(*(_latest(self.kv, op.key) for op in conditioned), return_exceptions=True)
        culprit, current = (conditioned[0] if conditioned else self._ops[0]), current_said
        for op, got in zip(conditioned, found, strict=True):
            if not isinstance(got, BaseException) and got[0] != op.last:
                culprit, current = op, current_said if current_said is not None else got[0]
                break
        conflict = Conflict(culprit.key, culprit.last or 0, current, culprit.operation)
        conflict.args = (f"{conflict} The whole batch of {len(self._ops)} was refused: none of its writes happened.",)
        return conflict


def _check_reply(data: bytes) -> dict[str, Any]:
    """A batch message's answer: empty (stored, waiting for the commit), a PubAck, or an error."""
    if not data:
        return {}
    resp = json.loads(data)
    if "error" in resp:
        raise nats.js.errors.APIError.from_error(resp["error"])
    return resp


async def _latest(kv: KV, key: str) -> tuple[int, bool]:
    """(latest revision of ``key``, whether it is a DEL/PURGE marker); (0, False) when never written."""
    try:
        return (await kv.get(key)).revision, False
    except KeyDeleted as deleted:
        return deleted.revision, True
    except KeyNotFound:
        return 0, False
