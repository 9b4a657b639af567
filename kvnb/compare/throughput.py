"""Throughput of simple puts and gets, measured here and now on both systems (not claimed).

Two shapes each: one request at a time (wait for each reply: the latency-bound case) and all
requests in flight at once (NATS: concurrent ``put``/``get`` coroutines on one connection;
Redis: one non-transactional pipeline, its usual way to batch). Both clients are Python, on
loopback: the numbers say as much about the clients and this machine as about the servers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from . import _common as c
from .results import NATS, REDIS, Comparison, Result, ThroughputResult

if TYPE_CHECKING:
    import redis.asyncio
    from nats.aio.client import Client as NATS_Client

__all__ = ["throughput"]

BUCKET = "cmp_speed"


async def _timed(run: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await run()
    return time.perf_counter() - started


async def _nats(nc: NATS_Client | None, n: int, storage: str) -> ThroughputResult:
    kv = await c.scratch_bucket(BUCKET, nc, history=1, storage=storage)
    keys = [f"k.{i}" for i in range(n)]
    try:
        async def puts() -> None:
            for key in keys:
                await kv.put(key, "v")

        async def gets() -> None:
            for key in keys:
                await kv.get(key)

        put_s = await _timed(puts)
        get_s = await _timed(gets)
        batch_put_s = await _timed(lambda: asyncio.gather(*(kv.put(key, "w") for key in keys)))
        batch_get_s = await _timed(lambda: asyncio.gather(*(kv.get(key) for key in keys)))
    finally:
        await c.drop_bucket(kv)
    return ThroughputResult(NATS, n, put_s, get_s, batch_put_s, batch_get_s,
                            f"kv.put / kv.get ({storage} storage); in flight: asyncio.gather on one connection")


async def _redis(r: redis.asyncio.Redis, n: int) -> ThroughputResult:
    keys = [f"cmp:speed:k.{i}" for i in range(n)]

    async def puts() -> None:
        for key in keys:
            await r.set(key, "v")

    async def gets() -> None:
        for key in keys:
            await r.get(key)

    async def pipelined(command: str) -> None:
        async with r.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(key, "w") if command == "set" else pipe.get(key)
            await pipe.execute()

    try:
        put_s = await _timed(puts)
        get_s = await _timed(gets)
        batch_put_s = await _timed(lambda: pipelined("set"))
        batch_get_s = await _timed(lambda: pipelined("get"))
    finally:
        await c.scratch_keys(r, "cmp:speed:")
    return ThroughputResult(REDIS, n, put_s, get_s, batch_put_s, batch_get_s,
                            "SET / GET (in memory); in flight: one pipeline (transaction=False)")


async def throughput(r: redis.asyncio.Redis | None, *, nc: NATS_Client | None = None, n: int = 1000,
                     storage: str = "file") -> Comparison:
    """Time ``n`` puts and ``n`` gets on each system, one at a time and all in flight (NATS first, then Redis)."""
    nats = await _nats(nc, n, storage)
    redis_side: Result = c.missing_redis() if r is None else await _redis(r, n)
    return Comparison(
        f"Throughput of {n} simple puts and gets, measured now", (nats, redis_side),
        takeaway="Measured on this machine in this run, with Python clients on loopback: compare the shapes "
                 "(one at a time vs in flight) more than the absolute numbers, which drift from run to run.",
        notes=["NATS acknowledges a put once it is stored in the bucket's stream (file storage by default); "
               "Redis answers once the value is in memory."],
    )
