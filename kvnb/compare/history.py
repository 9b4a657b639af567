"""History: NATS KV keeps the last N revisions of every key; Redis keeps the latest value."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _common as c
from .results import NATS, REDIS, Comparison, HistoryResult, Result

if TYPE_CHECKING:
    import redis.asyncio
    from nats.aio.client import Client as NATS_Client

__all__ = ["history"]

BUCKET = "cmp_history"
KEY = "config.color"
VALUES = ("red", "orange", "yellow", "green", "blue")


async def history(r: redis.asyncio.Redis | None, *, nc: NATS_Client | None = None,
                  values: tuple[str, ...] = VALUES, depth: int = 10) -> Comparison:
    """Write ``values`` to one key on both systems, then ask each for every value it still has.

    NATS uses a bucket with ``history=depth``; Redis a plain string key (SET/GET). ``r`` None
    (Redis not installed) shows the NATS side and a skipped Redis column.
    """
    kv = await c.scratch_bucket(BUCKET, nc, history=depth)
    try:
        for value in values:
            await kv.put(KEY, value)
        kept = [e.text for e in await kv.history(KEY)]
    finally:
        await c.drop_bucket(kv)
    nats = HistoryResult(NATS, list(values), kept,
                         f"bucket with history={depth}: kv.history(key) returns every kept revision")
    redis_side: Result
    if r is None:
        redis_side = c.missing_redis()
    else:
        key = f"cmp:history:{KEY}"
        await r.delete(key)
        for value in values:
            await r.set(key, value)
        latest = await r.get(key)
        await r.delete(key)
        redis_side = HistoryResult(REDIS, list(values), [c.text(latest)] if latest is not None else [],
                                   "SET overwrites; GET returns the latest (keeping old ones needs a list or a stream)")
    return Comparison(
        "History of one key", (nats, redis_side),
        takeaway="; ".join(f"{x.system} gave back {len(x.kept)} of {len(x.written)} values"
                           for x in (nats, redis_side) if isinstance(x, HistoryResult))
                 + f". A NATS bucket keeps up to history={depth} revisions per key (at most 64); "
                   "a Redis string keeps only its current value.",
    )
