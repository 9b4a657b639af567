"""kvnb's KV watcher: one ordered push consumer that kvnb owns, and resumes in milliseconds.

nats-py's watcher cannot start from a revision and, after a server restart, recovers only once
two 5 s heartbeats are missed (~20 s). This one remembers the last revision it delivered and,
on a reconnect, a consumer-sequence gap or silence longer than three heartbeats, makes a new
consumer that starts right after it: nothing missed, nothing twice. The client layer
(``KV.watch``) and every live widget use this class.

Example::

    async with kv.watch("orders.>") as watch:
        async for entry in watch:          # Entry objects, never None
            print(entry.operation, entry.key, entry.revision)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import nats.errors
import nats.js.errors
from nats.js import api

from . import permissions
from .entry import Entry, Operation
from .errors import BucketNotFound, DrainTimeout, InvalidInput, ServerError, WatchStopped

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

__all__ = ["CAUGHT_UP", "CaughtUp", "DrainTimeout", "Watch", "WatchStopped", "drain", "route_deliveries"]

log = logging.getLogger("kvnb.watch")

HEARTBEAT = 1.0  # seconds between the server's idle heartbeats
INACTIVE_THRESHOLD = 10.0  # the server drops a consumer nobody listens to after this long
HIGH_WATER = 20_000  # entries queued before flow control stops answering (memory bound)
_MARKER_REASONS: Final = {"MaxAge": "PURGE", "Purge": "PURGE", "Remove": "DEL"}
DELETE_TIMEOUT = 1.0  # seconds a consumer delete may take when a watch stops


def consumer_name() -> str:
    """A fresh consumer name, chosen before the create request so a watch can always delete what it made.

    Random, not a counter: whoever sees one name must not be able to guess the next.
    """
    return f"kvnb_{secrets.token_hex(12)}"


def route_deliveries(nc: NATS, js_prefix: str, deliver_prefix: str) -> None:
    """Send the deliveries of watches made through ``js_prefix`` on ``nc`` to ``deliver_prefix.<random>``.

    A consumer in another account delivers into that account's subject space; the subjects it
    exports to yours are the only ones that arrive (a classroom's instructor reaches participant
    ``p1`` through ``$JS.p1.API`` and receives what ``p1``'s account exports as ``_DLV_p1.>``).
    """
    routes: dict[str, str] = getattr(nc, "_kvnb_deliver_prefixes", None) or {}
    routes[js_prefix] = deliver_prefix
    nc._kvnb_deliver_prefixes = routes  # type: ignore[attr-defined]


def _deliver_subject(nc: NATS, js_prefix: str) -> str:
    """A deliver subject nobody can predict: nats-py's inboxes count up from a fixed prefix."""
    routes: dict[str, str] = getattr(nc, "_kvnb_deliver_prefixes", None) or {}
    prefix = routes.get(js_prefix)
    if prefix is None:
        own = getattr(nc, "_inbox_prefix", None)
        prefix = bytes(own).decode() if isinstance(own, bytes | bytearray) else "_INBOX"
    return f"{prefix}.{secrets.token_urlsafe(18)}"


class CaughtUp:
    """Marks the moment a watch has delivered every value that existed when it started."""

    _instance: CaughtUp | None = None

    def __new__(cls) -> CaughtUp:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "CAUGHT_UP"


CAUGHT_UP: Final = CaughtUp()
_END: Final = object()


class Watch:
    """A live view of the keys matching ``pattern`` in one bucket; iterate it for :class:`Entry` items.

    Made by :meth:`kvnb.KV.watch`. ``caught_up`` is an :class:`asyncio.Event` set once the
    initial values (latest per key, or all history with ``include_history``) have arrived;
    :meth:`events` yields :data:`CAUGHT_UP` in order among the entries. ``resumes`` counts
    consumers re-created after faults.

    Two revisions tell how far it got (0 before the first):

    - ``last_revision``: the newest revision *received* from the server. It moves as soon as a
      message arrives, before any iterator takes it (see :meth:`pending`), and also for the
      DEL/PURGE markers that ``ignore_deletes`` drops. A resume starts after it.
    - ``consumed_revision``: the revision of the last :class:`Entry` an iterator (``async for``
      or :meth:`events`) has yielded: what your code has been handed. Remember this one to
      start a later watch where you stopped reading (``from_revision=consumed_revision + 1``).
    """

    def __init__(self, nc: NATS, *, bucket: str, pattern: str | Sequence[str] = ">", include_history: bool = False,
                 ignore_deletes: bool = False, updates_only: bool = False,
                 from_revision: int | None = None, js_prefix: str = "$JS.API",
                 flow_control: bool = True, headers_only: bool = False, snapshot: bool = False,
                 stream: str | None = None, subject_prefix: str | None = None) -> None:
        self._nc = nc
        self.bucket = bucket
        # Several patterns share one consumer (filter_subjects, nats-server >= 2.10).
        self.patterns: tuple[str, ...] = (pattern,) if isinstance(pattern, str) else tuple(pattern)
        self.pattern = ", ".join(self.patterns)
        # stream / subject_prefix: another stream laid out like a bucket (kvnb.counter's counters)
        self._stream = stream or f"KV_{bucket}"
        self._subject_prefix = subject_prefix or f"$KV.{bucket}."
        self._filters = [self._subject_prefix + p for p in self.patterns]
        self._js = nc.jetstream(prefix=js_prefix)
        self._js_prefix = js_prefix
        self._include_history = include_history
        self._ignore_deletes = ignore_deletes
        self._updates_only = updates_only
        self._from_revision = from_revision
        self._flow_control = flow_control
        self._headers_only = headers_only
        self._snapshot = snapshot  # read up to CAUGHT_UP and stop: no resume bookkeeping needed
        self._floor = 0  # the stream's last revision just before the first consumer was made
        # Every revision <= _position has been seen (delivered, superseded or not matching): a
        # resume starts right after it. None until known: a resume then starts like the first time.
        self._position: int | None = None
        self._started = False
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self.caught_up = asyncio.Event()
        self.last_revision = 0
        self.consumed_revision = 0
        self.resumes = 0
        self.error: str | None = None
        self._last_created: datetime | None = None
        self._generation = 0
        self._expected_cseq = 1
        self._sub: Subscription | None = None
        # The consumer this watch made, or may have made: named before the create request, so that
        # stop() can delete it even when the create's answer never arrived (cancelled, timed out).
        self._consumer: str | None = None
        self._cleanups: set[asyncio.Task[None]] = set()  # consumer deletes in flight
        self._last_activity = time.monotonic()
        self._held_flow_control: list[str] = []
        self._watchdog: asyncio.Task[None] | None = None
        self._resuming: asyncio.Task[None] | None = None
        self._replies: set[asyncio.Task[None]] = set()  # flow-control answers in flight
        self._remove_listener = None
        self._stopped = False
        self.rejected = 0
        """Messages dropped because no consumer of this watch sent them (forged or stray deliveries)."""

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> Watch:
        """Create the consumer; raises if the bucket or server cannot be reached. Idempotent."""
        if self._started:
            return self
        self._started = True
        guard = permissions.guard(self._nc)
        what = f"cannot watch bucket {self.bucket!r}"
        api = f"{self._js_prefix}.CONSUMER.CREATE.{self._stream}"
        subjects = (f"{self._js_prefix}.STREAM.INFO.{self._stream}", api, api + ".>")
        task = guard.enter(subjects)
        try:
            await self._subscribe(initial=True)
        except asyncio.CancelledError:
            self._started = False
            found = guard.take(task)  # cancelled because the server denied a subject: say so
            if found is None:
                raise
            raise permissions.permission_error(what, *found) from None
        except nats.js.errors.ServiceUnavailableError as err:
            self._started = False
            raise permissions.no_api(what, self._js_prefix, err, guard=guard) from None
        except nats.js.errors.NotFoundError:
            self._started = False
            raise BucketNotFound(
                f"cannot watch bucket {self.bucket!r}: it does not exist. "
                f"Fix: kvnb.open_bucket({self.bucket!r}) creates it."
            ) from None
        except nats.js.errors.APIError as err:  # refused for another reason: say which
            self._started = False
            raise ServerError(f"{what}: the server refused it: {err.description} (code {err.err_code}).") from None
        except nats.errors.ConnectionClosedError:
            self._started = False
            raise ServerError(f"{what}: the connection is closed. Fix: connect again (kvnb.connect), "
                              "open the bucket again and start a new watch.") from None
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as err:
            self._started = False  # a later start() tries again
            found = guard.recent(subjects)
            if found is not None:
                raise permissions.permission_error(what, *found) from None
            raise ServerError(permissions.unavailable_message(
                what, timed_out=isinstance(err, nats.errors.TimeoutError), server_info=guard.server_info,
                js_ok=guard.js_ok,
            ) + " Then start the watch again.") from None
        except BaseException:
            self._started = False
            raise
        finally:
            guard.leave(task)
            if not self._started:
                self._abandon_consumer()
        guard.js_ok = True  # JetStream answers on this connection: later errors need not blame its setup
        from .client import add_reconnect_listener

        self._remove_listener = add_reconnect_listener(self._nc, self._on_reconnect)
        self._watchdog = asyncio.create_task(self._watch_heartbeats())
        return self

    async def stop(self) -> None:
        """Stop delivering, delete the server-side consumer, end every iterator."""
        if self._stopped:
            return
        self._stopped = True
        if self._remove_listener is not None:
            self._remove_listener()
        tasks = [t for t in (self._watchdog, self._resuming) if t is not None and t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        # Let the cancelled tasks finish now, not as "Task was destroyed but it is pending" later.
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._drop_consumer()
        await asyncio.gather(*self._cleanups, return_exceptions=True)
        self._queue.put_nowait(_END)

    close = stop

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` ran (also at the end of an ``async with`` block): nothing more arrives."""
        return self._stopped

    @property
    def started(self) -> bool:
        """True once the watch has made its consumer (``await watch``, ``async with`` or iterating it)."""
        return self._started

    async def __aenter__(self) -> Watch:
        return await self.start()

    def __await__(self):  # type: ignore[no-untyped-def]
        return self.start().__await__()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_caught_up(self, timeout: float | None = None) -> None:
        """Wait until the initial values have arrived."""
        await asyncio.wait_for(self.caught_up.wait(), timeout)

    # --- iteration ---------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[Entry]:
        return self._entries()

    async def _entries(self) -> AsyncIterator[Entry]:
        async for item in self.events():
            if isinstance(item, Entry):
                yield item

    async def events(self) -> AsyncIterator[Entry | CaughtUp]:
        """Entries and, once, :data:`CAUGHT_UP`, in the order they happened; ends at :meth:`stop`."""
        await self.start()
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)  # let other iterators end too
                return
            if self._held_flow_control and self._queue.qsize() < HIGH_WATER // 2:
                self._release_flow_control()
            if item is not CAUGHT_UP:
                self.consumed_revision = item.revision  # type: ignore[attr-defined]
            yield item  # type: ignore[misc]

    def pending(self) -> int:
        """Entries received but not yet taken by an iterator."""
        return self._queue.qsize()

    # --- consumer management ---------------------------------------------------------------
    def _config(self, initial: bool) -> api.ConsumerConfig:
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.NONE,
            max_deliver=1,
            filter_subject=self._filters[0] if len(self._filters) == 1 else None,
            filter_subjects=self._filters if len(self._filters) > 1 else None,
            flow_control=self._flow_control,
            idle_heartbeat=HEARTBEAT,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=INACTIVE_THRESHOLD,
            replay_policy=api.ReplayPolicy.INSTANT,
            headers_only=self._headers_only or None,
        )
        if not initial and self._position is not None:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = self._position + 1
        elif self._from_revision is not None:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = self._from_revision
        elif self._updates_only:
            config.deliver_policy = api.DeliverPolicy.NEW
        elif self._include_history:
            config.deliver_policy = api.DeliverPolicy.ALL
        else:
            config.deliver_policy = api.DeliverPolicy.LAST_PER_SUBJECT
        return config

    async def _subscribe(self, *, initial: bool) -> None:
        self._generation += 1
        generation = self._generation
        inbox = _deliver_subject(self._nc, self._js_prefix)
        config = self._config(initial)
        if not initial and self._position is not None:
            # The stream may have been recreated with fewer messages: resume by time instead.
            info = await self._js.stream_info(self._stream)
            if info.state.last_seq < self._position and self._last_created is not None:
                config.deliver_policy = api.DeliverPolicy.BY_START_TIME
                config.opt_start_seq = None
                config.opt_start_time = self._last_created.isoformat()  # type: ignore[assignment]
                self._position = 0
        elif initial and not self._snapshot and not self._updates_only:
            # Once caught up, everything up to here has been seen: a resume must start after it,
            # even if no entry matched (else it would replay the initial values, or skip writes).
            self._floor = (await self._js.stream_info(self._stream)).state.last_seq
        config.deliver_subject = inbox
        config.name = consumer_name()

        async def on_message(msg: Msg) -> None:
            if generation == self._generation and not self._stopped:
                self._on_message(msg)

        self._sub = await self._nc.subscribe(inbox, cb=on_message, pending_msgs_limit=-1, pending_bytes_limit=-1)
        self._expected_cseq = 1
        # A resume is counted (and its error cleared) before add_consumer returns: the new consumer's first
        # entries can reach a reader before this coroutine runs again, and must not find the old state.
        resuming, previous_error = not initial, self.error
        if resuming:
            self.resumes += 1
            self.error = None
        self._consumer = config.name  # before the request: if its answer never comes, stop() still deletes it
        try:
            info = await self._js.add_consumer(self._stream, config)
        except BaseException as err:
            if resuming:
                self.resumes -= 1
                self.error = previous_error
            if isinstance(err, nats.js.errors.APIError):  # refused (an answer came): nothing was made
                self._consumer = None
            await self._sub.unsubscribe()
            self._sub = None
            raise
        self._consumer = info.name
        self._last_activity = time.monotonic()
        if initial:
            start = None
            if self._updates_only:  # the consumer starts after the stream's last revision
                start = info.delivered.stream_seq or 0
            elif self._from_revision is not None:
                start = self._from_revision - 1
            if start is not None:
                self._position = max(self._position or 0, start)
        if not self.caught_up.is_set() and info.num_pending == 0 and info.delivered.consumer_seq == 0 \
                and self._expected_cseq == 1:
            self._mark_caught_up()

    async def _drop_consumer(self) -> None:
        sub, consumer = self._sub, self._consumer
        self._sub = self._consumer = None
        if sub is None and consumer is None:
            return
        # One task, made before anything is awaited, and shielded: a resume that stop() cancels anywhere in here
        # (the unsubscribe awaits too) forgets neither the unsubscribe nor the delete; stop() awaits the task.
        await asyncio.shield(self._spawn_cleanup(self._release(sub, consumer)))

    async def _release(self, sub: Subscription | None, consumer: str | None) -> None:
        """Stop the deliveries of ``sub``, then delete ``consumer``."""
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if consumer is not None:
            await self._delete_consumer(consumer)

    async def _delete_consumer(self, name: str) -> None:
        """Delete consumer ``name`` if it exists (best effort: the server drops it after its inactive threshold)."""
        if self._nc.is_connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._js.delete_consumer(self._stream, name), DELETE_TIMEOUT)

    def _spawn_cleanup(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._cleanups.add(task)  # stop() waits for these
        task.add_done_callback(self._cleanups.discard)
        return task

    def _abandon_consumer(self) -> None:
        """After a failed start: delete in the background a consumer the create may have made anyway."""
        name, self._consumer = self._consumer, None
        if name is not None:
            self._spawn_cleanup(self._delete_consumer(name))

    def _mark_caught_up(self) -> None:
        self._position = max(self._position or 0, self._floor)
        self.caught_up.set()
        self._queue.put_nowait(CAUGHT_UP)

    # --- message handling (runs in nats-py's subscription task) -----------------------------
    def _on_message(self, msg: Msg) -> None:
        self._last_activity = time.monotonic()
        headers = msg.headers
        if not msg.data and headers and headers.get("Status") is not None:
            self._on_status(msg, headers)
            return
        # Only deliveries of the consumer this watch made count: the server names stream and consumer
        # in the reply subject, which a plain publish cannot set and another consumer does not match.
        tokens = (msg.reply or "").split(".")
        try:
            if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
                origin = tokens[2], tokens[3]
                sseq, cseq, ts, pending = int(tokens[5]), int(tokens[6]), int(tokens[7]), int(tokens[8])
            else:  # v2: $JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>...
                origin = tokens[4], tokens[5]
                sseq, cseq, ts, pending = int(tokens[7]), int(tokens[8]), int(tokens[9]), int(tokens[10])
        except (IndexError, ValueError):
            origin = None
        if origin != (self._stream, self._consumer) or tokens[:2] != ["$JS", "ACK"] \
                or not msg.subject.startswith(self._subject_prefix):
            self.rejected += 1
            return
        if cseq != self._expected_cseq:
            self._schedule_resume(f"consumer sequence gap (expected {self._expected_cseq}, got {cseq})")
            return
        self._expected_cseq = cseq + 1
        if self._position is None or sseq > self._position:  # never deliver a revision twice
            self._position = self.last_revision = sseq
            operation: Operation = "PUT"
            if headers:
                op = headers.get("KV-Operation")
                if op in ("DEL", "PURGE"):
                    operation = op
                else:
                    reason = headers.get("Nats-Marker-Reason")
                    if reason is not None:
                        operation = _MARKER_REASONS.get(reason, "PURGE")  # type: ignore[assignment]
            created = datetime.fromtimestamp(ts / 1e9, UTC)
            self._last_created = created
            if not (self._ignore_deletes and operation != "PUT"):
                self._queue.put_nowait(Entry(
                    bucket=self.bucket, key=msg.subject[len(self._subject_prefix):], value=msg.data,
                    revision=sseq, operation=operation, created=created, delta=pending, headers=headers or None,
                ))
        if pending == 0 and not self.caught_up.is_set():
            self._mark_caught_up()

    def _on_status(self, msg: Msg, headers: dict[str, str]) -> None:
        if headers.get("Status") != "100":  # 409 consumer deleted and friends: start over
            self._schedule_resume(f"status {headers.get('Status')} {headers.get('Description', '')}".strip())
            return
        if msg.reply:  # flow-control request: answer now, or when the reader catches up
            self._answer_flow_control(msg.reply)
            return
        stalled = headers.get("Nats-Consumer-Stalled")
        if stalled:
            self._answer_flow_control(stalled)
        last = headers.get("Nats-Last-Consumer")
        if last is not None and int(last) >= self._expected_cseq:
            self._schedule_resume(f"heartbeat says consumer sequence {last}, only {self._expected_cseq - 1} seen")

    def _answer_flow_control(self, subject: str) -> None:
        if self._queue.qsize() >= HIGH_WATER:
            self._held_flow_control.append(subject)  # the reader is behind: let the server wait
            return
        self._reply(subject)

    def _release_flow_control(self) -> None:
        held, self._held_flow_control = self._held_flow_control, []
        for subject in held:
            self._reply(subject)

    def _reply(self, subject: str) -> None:
        task = asyncio.ensure_future(self._nc.publish(subject, b""))
        self._replies.add(task)  # keep a reference until done, or the task may vanish
        task.add_done_callback(self._replies.discard)

    # --- recovery ----------------------------------------------------------------------------
    async def _on_reconnect(self) -> None:
        self._schedule_resume("reconnected")

    def _schedule_resume(self, why: str) -> None:
        if self._stopped or (self._resuming is not None and not self._resuming.done()):
            return
        self._generation += 1  # ignore everything the old consumer still sends
        self._resuming = asyncio.ensure_future(self._resume(why))

    async def _resume(self, why: str) -> None:
        log.debug("watch %s %s: resuming after revision %s (%s)", self.bucket, self.pattern, self._position, why)
        delay = 0.05
        while not self._stopped:
            await self._drop_consumer()
            try:
                await self._subscribe(initial=False)
            except Exception as err:  # server still away: try again shortly
                self.error = f"watch interrupted ({why}); retrying: {err or type(err).__name__}"
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            return

    async def _watch_heartbeats(self) -> None:
        while not self._stopped:
            await asyncio.sleep(HEARTBEAT)
            silent = time.monotonic() - self._last_activity
            if silent > 3 * HEARTBEAT and self._nc.is_connected and self._queue.qsize() < HIGH_WATER:
                self._schedule_resume(f"no heartbeat for {silent:.1f} s")


def _stopped_message(watch: Watch) -> str:
    return (
        f"this watch of {watch.pattern!r} in bucket {watch.bucket!r} is stopped, so it will never deliver "
        "anything more. Rule: a watch delivers only while it runs; `async with kv.watch(...) as w:` stops it "
        "when the block ends, and the block ends with its cell. Fix: keep it open with "
        "`w = await kv.watch(...)` (and `await w.stop()` when you are done), or drain it inside the block."
    )


async def drain(watch: Watch, up_to: int = 0, quiet: float = 0, timeout: float = 15) -> list[Entry]:
    """The entries ``watch`` has delivered so far, once it is caught up and has received ``up_to``.

    An ``async for`` over a watch never ends by itself; ``drain`` is the bounded way to collect what
    arrived. It waits until the watch has delivered its initial values (``caught_up``) and has
    received revision ``up_to`` (typically the revision your last write returned; markers that
    ``ignore_deletes`` leaves out count), then returns every :class:`Entry` waiting in the watch,
    without the :data:`CAUGHT_UP` marker. With ``quiet=s`` it also keeps whatever else arrives until
    the watch has been silent for ``s`` seconds (to show that nothing more comes). The watch keeps
    running; call it again for what comes next.

    Waiting for a known revision, not for a moment of silence, gives the same answer on a slow or
    busy machine. Raises :class:`WatchStopped` for a stopped watch (with the fix), and
    :class:`DrainTimeout` when ``up_to`` has not arrived within ``timeout`` seconds.

    Example::

        w = await kv.watch("orders.>")
        rev = await kv.put("orders.1", "new")
        entries = await kvnb.drain(w, up_to=rev)     # [..., Entry(PUT 'orders.1' = 'new' @ rev)]
        await w.stop()
    """
    if not isinstance(watch, Watch):
        raise InvalidInput(
            f"drain() takes a running kvnb.Watch, got {type(watch).__name__}. "
            "Example: w = await kv.watch('orders.>'); entries = await kvnb.drain(w, up_to=rev)"
        )
    if watch.stopped:
        raise WatchStopped(_stopped_message(watch))
    await watch.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout  # a bound, so a watch that never gets there cannot hang a notebook
    while not (watch.caught_up.is_set() and watch.last_revision >= up_to):
        if watch.stopped:
            raise WatchStopped(_stopped_message(watch))
        if loop.time() >= deadline:
            state = "caught up" if watch.caught_up.is_set() else "not yet caught up"
            raise DrainTimeout(
                f"revision {up_to} did not reach the watch of {watch.pattern!r} in bucket {watch.bucket!r} within "
                f"{timeout:g} s (it is {state}, at revision {watch.last_revision}). Likely: revision {up_to} is a "
                "write to a key the pattern does not match, or to another bucket. Fix: pass up_to= the revision "
                "of your last write to a key this watch matches."
            )
        await asyncio.sleep(0.01)
    got: list[Entry | CaughtUp] = []
    items = watch.events()
    try:
        for _ in range(watch.pending()):  # what has arrived waits in the watch: take it all
            try:
                got.append(await anext(items))
            except StopAsyncIteration:  # stopped meanwhile: what arrived before is still returned
                break
        while quiet and not watch.stopped:  # listen a little longer, to show that nothing more comes
            try:
                got.append(await asyncio.wait_for(anext(items), quiet))
            except (TimeoutError, StopAsyncIteration):
                break
    finally:
        await items.aclose()
    return [item for item in got if isinstance(item, Entry)]
