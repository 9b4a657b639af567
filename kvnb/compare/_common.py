"""Small helpers shared by the scenarios: scratch buckets and keys, waiting for messages, skipping Redis."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..bucket import KV, delete_bucket, open_bucket
from ..errors import KvnbError
from ..redis_server import INSTALL_HINT
from .results import REDIS, Skipped

if TYPE_CHECKING:
    import redis.asyncio
    from nats.aio.client import Client as NATS

WAIT = 10.0
"""Seconds a scenario waits at most for a message it expects (a bound, not a timing)."""
GRACE = 0.15
"""Seconds a scenario keeps listening after the expected messages, to catch extras (duplicates)."""
PATIENT = 15.0
"""Seconds to wait for messages a system guarantees to deliver (a bound for a loaded machine, not a timing)."""
IDLE = 1.0
"""Seconds of silence after which a scenario stops waiting for messages that may never come."""


def missing_redis(system: str = REDIS) -> Skipped:
    return Skipped(system, f"no Redis to compare with (redis-server is probably not installed). Fix: {INSTALL_HINT} "
                           "Then pass start_redis().client() to the scenario.")


def text(value: Any) -> str:
    """A Redis reply as text, whether the client decodes responses or not."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


async def scratch_bucket(name: str, nc: NATS | None, **settings: Any) -> KV:
    """A fresh bucket for one scenario (deleted and re-created, so reruns start from nothing)."""
    return await open_bucket(name, fresh=True, nc=nc, **settings)


async def drop_bucket(kv: KV) -> None:
    try:
        await delete_bucket(kv.name, nc=kv.nc)
    except KvnbError:
        pass  # the scenario's result matters more than the cleanup


async def scratch_keys(r: redis.asyncio.Redis, prefix: str) -> None:
    """Delete every Redis key under ``prefix`` (the Redis side of a fresh bucket)."""
    keys = [key async for key in r.scan_iter(match=f"{prefix}*")]
    if keys:
        await r.delete(*keys)


async def collect(queue: asyncio.Queue[str], count: int, *, wait: float = WAIT, idle: float = IDLE,
                  grace: float = GRACE) -> list[str]:
    """Take up to ``count`` items, then whatever else arrives within ``grace`` s.

    Gives up after ``wait`` s in all, or after ``idle`` s without any item (what was lost never comes).
    """
    got: list[str] = []
    deadline = time.monotonic() + wait
    while len(got) < count:
        remaining = min(deadline - time.monotonic(), idle)
        if remaining <= 0:
            break
        try:
            got.append(await asyncio.wait_for(queue.get(), remaining))
        except TimeoutError:
            break
    end = time.monotonic() + grace
    while (remaining := end - time.monotonic()) > 0:
        try:
            got.append(await asyncio.wait_for(queue.get(), remaining))
        except TimeoutError:
            break
    return got


async def config_value(r: redis.asyncio.Redis, name: str) -> str:
    """One Redis setting as text (CONFIG GET answers bytes or str keys, depending on the client)."""
    found = await r.config_get(name)
    return text(found.get(name, found.get(name.encode(), "")))


def keyspace_db(r: redis.asyncio.Redis) -> int:
    """The database number a client uses (keyspace notification channels name it)."""
    return int(r.connection_pool.connection_kwargs.get("db", 0) or 0)
