"""Watch while away: a subscriber leaves for a moment and comes back. What happened meanwhile?

NATS KV keeps changes in a stream, so a watcher that remembers its last revision resumes
right after it (``from_revision``) and gets everything it missed, as far as the bucket's
history still holds it. Redis keyspace notifications are pub/sub: fire and forget, delivered
only to whoever is subscribed at that instant, and they name the key and the command, not the value.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

from . import _common as c
from .results import NATS, REDIS, Comparison, Result, WatchAwayResult

if TYPE_CHECKING:
    import redis.asyncio
    from nats.aio.client import Client as NATS_Client
    from redis.asyncio.client import PubSub

    from ..bucket import KV
    from ..watch import Watch

__all__ = ["watch_away"]

BUCKET = "cmp_watch"
KEY = "sensor.temp"


async def _pump_watch(watch: Watch, queue: asyncio.Queue[str]) -> None:
    async for entry in watch:
        queue.put_nowait(entry.text)


async def _nats(kv: KV, before: int, away: int, after: int) -> WatchAwayResult:
    values = iter(f"{20 + i * 0.5:.1f}" for i in range(before + away + after))
    queue: asyncio.Queue[str] = asyncio.Queue()
    watch = await kv.watch(KEY, updates_only=True)
    pump = asyncio.create_task(_pump_watch(watch, queue))
    try:
        for _ in range(before):
            await kv.put(KEY, next(values))
        got_before = await c.collect(queue, before, wait=c.PATIENT, idle=c.PATIENT)
    finally:
        last = watch.last_revision  # all a watcher needs to remember to resume
        await watch.stop()
        await pump
    for _ in range(away):  # nobody is watching now
        await kv.put(KEY, next(values))
    queue = asyncio.Queue()
    watch = await kv.watch(KEY, from_revision=last + 1)
    pump = asyncio.create_task(_pump_watch(watch, queue))
    try:
        for _ in range(after):
            await kv.put(KEY, next(values))
        got_after = await c.collect(queue, away + after, wait=c.PATIENT, idle=c.PATIENT)
    finally:
        await watch.stop()
        await pump
    return WatchAwayResult(NATS, before, away, after, got_before, got_after,
                           f"kv.watch(key, from_revision=last+1) with last = revision {last}, the last one seen")


async def _subscribe(r: redis.asyncio.Redis, *channels: str) -> PubSub:
    pubsub = r.pubsub()
    await pubsub.subscribe(*channels)
    # SUBSCRIBE is only in force once confirmed: writes before the confirmation are not delivered.
    confirmed = 0
    while confirmed < len(channels):
        msg = await pubsub.get_message(timeout=c.WAIT)
        if msg is None:
            raise TimeoutError(f"Redis did not confirm SUBSCRIBE {' '.join(channels)} within {c.WAIT} s")
        confirmed += msg["type"] == "subscribe"
    return pubsub


async def _heard(r: redis.asyncio.Redis, pubsub: PubSub, barrier: str) -> list[str]:
    """Every notification Redis has delivered to this subscriber so far, without waiting on a timer.

    Redis sends a subscriber its messages in the order they were published, so once a message
    published on ``barrier`` *now* arrives, nothing published earlier can still be on its way.
    """
    await r.publish(barrier, "end")
    got: list[str] = []
    deadline = time.monotonic() + c.WAIT
    while (remaining := deadline - time.monotonic()) > 0:
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining)
        if msg is None:
            continue
        if c.text(msg["channel"]) == barrier:
            return got
        got.append(c.text(msg["data"]))
    raise TimeoutError(f"the barrier message on {barrier} did not come back within {c.WAIT} s")


async def _redis(r: redis.asyncio.Redis, before: int, away: int, after: int) -> WatchAwayResult:
    key = f"cmp:watch:{KEY}"
    values = iter(f"{20 + i * 0.5:.1f}" for i in range(before + away + after))
    previous = await c.config_value(r, "notify-keyspace-events")
    await r.config_set("notify-keyspace-events", "K$")  # off by default: K = keyspace channel, $ = string commands
    channel = f"__keyspace@{c.keyspace_db(r)}__:{key}"
    barrier = f"kvnb:barrier:{uuid.uuid4().hex}"  # a private channel that marks "everything before this"

    async def listen_while_writing(count: int) -> list[str]:
        pubsub = await _subscribe(r, channel, barrier)
        try:
            for _ in range(count):
                await r.set(key, next(values))
            return await _heard(r, pubsub, barrier)
        finally:
            await pubsub.aclose()

    try:
        got_before = await listen_while_writing(before)
        for _ in range(away):  # nobody is subscribed now
            await r.set(key, next(values))
        got_after = await listen_while_writing(after)
    finally:
        await r.config_set("notify-keyspace-events", previous)
        await r.delete(key)
    return WatchAwayResult(REDIS, before, away, after, got_before, got_after,
                           f"SUBSCRIBE {channel} (keyspace notifications 'K$'): events name the command, not the value")


async def watch_away(r: redis.asyncio.Redis | None, *, nc: NATS_Client | None = None,
                     before: int = 3, away: int = 5, after: int = 2) -> Comparison:
    """A subscriber hears ``before`` writes, leaves while ``away`` writes happen, returns for ``after`` more."""
    kv = await c.scratch_bucket(BUCKET, nc, history=64)
    try:
        nats = await _nats(kv, before, away, after)
    finally:
        await c.drop_bucket(kv)
    redis_side: Result = c.missing_redis() if r is None else await _redis(r, before, away, after)
    return Comparison(
        "A subscriber away for a moment", (nats, redis_side),
        takeaway="; ".join(f"{x.system} missed {x.missed} of {x.written} changes"
                           for x in (nats, redis_side) if isinstance(x, WatchAwayResult))
                 + ". A NATS watcher resumes from the last revision it saw; Redis pub/sub delivers only "
                   "to whoever listens at that instant.",
        notes=["NATS can replay only what the bucket still keeps: with history=1 a resumed watch gets the latest "
               "value of each key, not every intermediate one.",
               "Redis Streams (XADD/XREAD from an id) can resume too, but they are a separate log "
               "you write next to your keys."],
    )
