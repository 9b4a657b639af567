"""Persistence across a hard kill: acknowledged writes, SIGKILL, restart, count what is left.

Three private servers, each killed with SIGKILL (no clean shutdown, no last save):

- NATS KV with file storage: each write is in the stream's file before it is acknowledged;
- Redis with its default settings: data lives in memory and reaches disk only in RDB snapshots
  (``save 3600 1 300 100 60 10000``, i.e. at the earliest a minute after start) or at a clean
  shutdown, so everything written since the last snapshot is lost;
- Redis with ``appendonly yes`` and ``appendfsync always``: every write is logged (and fsynced) first.

A process kill is not a power cut: it tests what the server wrote, not what the disk flushed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..bucket import open_bucket
from ..client import connect
from ..redis_server import launch_redis, redis_available
from ..server import launch
from . import _common as c
from .results import NATS, REDIS_AOF, REDIS_DEFAULT, Comparison, PersistenceResult, Result, Skipped

if TYPE_CHECKING:
    from ..redis_server import RedisServer

__all__ = ["nats_persistence", "persistence", "redis_persistence"]

BUCKET = "cmp_persist"


async def nats_persistence(writes: int) -> PersistenceResult:
    """A private nats-server (file storage): ``writes`` puts, SIGKILL, restart, count the keys."""
    server = launch(name="kvnb-persist")
    try:
        nc = await connect(server.url)
        try:
            kv = await open_bucket(BUCKET, storage="file", nc=nc)
            started = time.perf_counter()
            for i in range(writes):
                await kv.put(f"item.{i}", str(i))
            seconds = time.perf_counter() - started
        finally:
            await nc.close()
        server.kill()
        server.restart()
        nc = await connect(server.url)
        try:
            kv = await open_bucket(BUCKET, nc=nc)
            kept = len(await kv.keys())
        finally:
            await nc.close()
    finally:
        server.stop()
    return PersistenceResult(NATS, writes, kept, seconds, None, "bucket with storage='file'")


async def _redis_run(server: RedisServer, system: str, writes: int, how: str) -> PersistenceResult:
    r = server.client()
    try:
        started = time.perf_counter()
        for i in range(writes):
            await r.set(f"item.{i}", i)
        seconds = time.perf_counter() - started
        unsaved = int((await r.info("persistence"))["rdb_changes_since_last_save"])
    finally:
        await r.aclose()
    server.kill()
    server.restart()
    r = server.client()
    try:
        kept = int(await r.dbsize())
    finally:
        await r.aclose()
    return PersistenceResult(system, writes, kept, seconds, unsaved, how)


async def redis_persistence(writes: int, *, aof: bool) -> PersistenceResult:
    """A private redis-server (defaults, or AOF with appendfsync always): writes, SIGKILL, restart, DBSIZE."""
    server = launch_redis(appendonly=True, appendfsync="always") if aof else launch_redis()
    try:
        if aof:
            return await _redis_run(server, REDIS_AOF, writes, "--appendonly yes --appendfsync always")
        return await _redis_run(server, REDIS_DEFAULT, writes, "no AOF; default RDB snapshot rules")
    finally:
        server.stop()


def _takeaway(results: list[Result]) -> str:
    measured = [r for r in results if isinstance(r, PersistenceResult)]
    kept = [r.system for r in measured if r.lost == 0]
    lost = [f"{r.system} lost {r.lost} of {r.written}" for r in measured if r.lost]
    parts = []
    if kept:
        parts.append(f"{' and '.join(kept)} kept every acknowledged write")
    if lost:
        parts.append("; ".join(lost))
    return "; ".join(parts) + "."


async def persistence(*, writes: int = 200, redis: bool = True) -> Comparison:
    """Run the hard-kill test on NATS file storage, Redis defaults and Redis with AOF (``redis=False``: NATS only)."""
    results: list[Result] = [await nats_persistence(writes)]
    if redis and redis_available():
        results.append(await redis_persistence(writes, aof=False))
        results.append(await redis_persistence(writes, aof=True))
    else:
        results.append(c.missing_redis(REDIS_DEFAULT) if redis else Skipped(REDIS_DEFAULT, "redis=False"))
    return Comparison(
        "Acknowledged writes, then SIGKILL, then restart", tuple(results),
        takeaway=_takeaway(results),
        notes=["A SIGKILL tests what the server wrote to its files, not what the disk flushed: for power loss, "
               "NATS fsyncs every 2 min by default (sync_interval; sync_always for every write) "
               "and Redis as appendfsync says.",
               "Redis's default snapshot rules fire at the earliest 60 s after start (with 10,000 changes), "
               "and at a clean shutdown, so a SIGKILL a few seconds in loses every write."],
    )
