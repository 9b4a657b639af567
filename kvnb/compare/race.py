"""Optimistic concurrency under racing writers: revision CAS (NATS) vs WATCH/MULTI/EXEC (Redis)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ..scenarios.race import run_race
from . import _common as c
from .results import NATS, REDIS, Comparison, ConcurrencyResult, Result

if TYPE_CHECKING:
    import redis.asyncio
    from nats.aio.client import Client as NATS_Client

__all__ = ["race"]

BUCKET = "cmp_race"
KEY = "counter"


async def _redis_writer(r: redis.asyncio.Redis, key: str, increments: int) -> int:
    from redis.exceptions import WatchError

    conflicts = 0
    async with r.pipeline(transaction=True) as pipe:  # WATCH is per connection: one pipeline per writer
        for _ in range(increments):
            while True:
                try:
                    await pipe.watch(key)
                    current = int(c.text(await pipe.get(key)))
                    pipe.multi()
                    pipe.set(key, current + 1)
                    await pipe.execute()  # refused (WatchError) if the key changed since WATCH
                    break
                except WatchError:
                    conflicts += 1
    return conflicts


def _takeaway(results: tuple[Result, ...]) -> str:
    measured = [r for r in results if isinstance(r, ConcurrencyResult)]
    outcome = "; ".join(f"{r.system} ended at {r.final} of {r.expected} ({r.conflicts} conflicts retried)"
                        for r in measured)
    verdict = "no update was lost" if all(r.lost_updates == 0 for r in measured) else "UPDATES WERE LOST"
    return (f"{outcome}: {verdict}. NATS checks the expected revision with each write, whatever the connection "
            "(writers could even share one); Redis's WATCH belongs to a connection, so each writer needs its own.")


async def race(r: redis.asyncio.Redis | None, *, nc: NATS_Client | None = None,
               writers: int = 8, increments: int = 25) -> Comparison:
    """``writers`` writers each add 1 to a shared counter ``increments`` times, retrying on conflict.

    NATS: ``get`` then ``update(key, value, last=revision)``. Redis: ``WATCH``, ``GET``, then
    ``MULTI``/``SET``/``EXEC``. Both must end at exactly ``writers × increments``.
    """
    kv = await c.scratch_bucket(BUCKET, nc, history=1)
    try:
        started = time.perf_counter()
        # kvnb's racing writers (the Race widget's engine): each its own connection, like separate programs
        outcome = await run_race(kv, KEY, writers=writers, increments=increments, cas=True)
        seconds = time.perf_counter() - started
    finally:
        await c.drop_bucket(kv)
    nats = ConcurrencyResult(NATS, writers, increments, outcome.final_value, outcome.conflicts, seconds,
                             "get → update(key, value, last=revision); retry on Conflict (one connection per writer)")
    redis_side: Result
    if r is None:
        redis_side = c.missing_redis()
    else:
        key = f"cmp:race:{KEY}"
        await r.set(key, 0)
        started = time.perf_counter()
        conflicts = await asyncio.gather(*(_redis_writer(r, key, increments) for _ in range(writers)))
        seconds = time.perf_counter() - started
        final = int(c.text(await r.get(key)))
        await r.delete(key)
        redis_side = ConcurrencyResult(
            REDIS, writers, increments, final, sum(conflicts), seconds,
            "WATCH → GET → MULTI/SET/EXEC; retry on WatchError (one connection per writer)")
    return Comparison(
        f"{writers} racing writers, optimistic concurrency", (nats, redis_side),
        takeaway=_takeaway((nats, redis_side)),
    )
