"""TTL on both: a key written with a time to live, read until it is gone, and the expiry event each sends.

NATS KV (nats-server >= 2.11) takes a per-key TTL on ``create`` in whole seconds; a bucket with
``limit_marker_ttl`` turns the expiry into a PURGE event that watchers see. Redis takes a TTL on
any ``SET`` (``EX``/``PX``, to the millisecond) and, with keyspace notifications on, publishes an
``expired`` event — to whoever is subscribed at that moment.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ..errors import KeyNotFound, NotSupported, ServerError
from . import _common as c
from .results import NATS, REDIS, Comparison, Result, Skipped, TtlResult

if TYPE_CHECKING:
    import redis.asyncio
    from nats.aio.client import Client as NATS_Client

__all__ = ["ttl"]

BUCKET = "cmp_ttl"
KEY = "session.alice"
POLL = 0.02


async def _until_gone(exists: object, ttl: float) -> float | None:
    """Seconds until ``await exists()`` turns false, polling every 20 ms, at most ``ttl + WAIT`` s."""
    started = time.monotonic()
    while time.monotonic() - started < ttl + c.WAIT:
        if not await exists():  # type: ignore[operator]
            return time.monotonic() - started
        await asyncio.sleep(POLL)
    return None


async def _nats(nc: NATS_Client | None, seconds: int) -> Result:
    try:
        kv = await c.scratch_bucket(BUCKET, nc, history=1, limit_marker_ttl=seconds)
    except (NotSupported, ServerError) as err:
        return Skipped(NATS, f"per-key TTL needs nats-server 2.11 or newer: {err}")
    try:
        events: list[str] = []
        watch = await kv.watch(KEY, updates_only=True)

        async def listen() -> None:
            async for entry in watch:
                events.append(entry.operation)

        listener = asyncio.create_task(listen())

        async def exists() -> bool:
            try:
                await kv.get(KEY)
                return True
            except KeyNotFound:  # KeyDeleted too: the expiry leaves a PURGE marker
                return False

        await kv.create(KEY, "logged-in", ttl=seconds)
        present = await exists()
        gone = await _until_gone(exists, seconds)
        deadline = time.monotonic() + c.WAIT
        while "PURGE" not in events and time.monotonic() < deadline:
            await asyncio.sleep(POLL)
        await watch.stop()
        await listener
    finally:
        await c.drop_bucket(kv)
    heard = "a PURGE entry on the watch" if "PURGE" in events else None
    return TtlResult(NATS, seconds, present, gone, heard,
                     f"kv.create(key, value, ttl={seconds}) in a bucket with limit_marker_ttl (whole seconds, >= 1)")


async def _redis(r: redis.asyncio.Redis, seconds: int) -> TtlResult:
    key = f"cmp:ttl:{KEY}"
    await r.delete(key)
    previous = await c.config_value(r, "notify-keyspace-events")
    await r.config_set("notify-keyspace-events", "Ex")  # E = keyevent channel, x = expired events
    pubsub = r.pubsub()
    channel = f"__keyevent@{c.keyspace_db(r)}__:expired"
    try:
        await pubsub.subscribe(channel)
        while (msg := await pubsub.get_message(timeout=c.WAIT)) is None or msg["type"] != "subscribe":
            if msg is None:
                raise TimeoutError(f"Redis did not confirm SUBSCRIBE {channel}")
        await r.set(key, "logged-in", px=int(seconds * 1000))

        async def exists() -> bool:
            return bool(await r.exists(key))

        present = await exists()
        gone = await _until_gone(exists, seconds)
        heard = None
        deadline = time.monotonic() + c.WAIT
        while heard is None and time.monotonic() < deadline:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if msg is not None and c.text(msg["data"]) == key:
                heard = f"'expired' on {channel}"
    finally:
        await pubsub.aclose()
        await r.config_set("notify-keyspace-events", previous)
        await r.delete(key)
    return TtlResult(REDIS, seconds, present, gone, heard,
                     f"SET key value PX {int(seconds * 1000)} (milliseconds; EXPIRE works on any key)")


async def ttl(r: redis.asyncio.Redis | None, *, nc: NATS_Client | None = None, seconds: int = 1) -> Comparison:
    """Write a key with a ``seconds`` TTL on both systems at once; time how long until a read finds nothing."""
    results: tuple[Result, ...]
    if r is None:
        results = (await _nats(nc, seconds), c.missing_redis())
    else:  # both at once: the wait for expiry is the slow part
        results = tuple(await asyncio.gather(_nats(nc, seconds), _redis(r, seconds)))
    measured = [x for x in results if isinstance(x, TtlResult)]
    return Comparison(
        f"A key with a {seconds} s TTL", results,
        takeaway="; ".join(f"{x.system}: gone after {x.gone_after:.2f} s" if x.gone_after is not None
                           else f"{x.system}: still there" for x in measured)
                 + ". Both expire keys on their own and tell subscribers; NATS takes whole seconds per key, "
                   "Redis milliseconds.",
    )
