"""NATS KV vs Redis, side by side on real servers: the same scenario run on both, results in one table.

Each scenario is a coroutine that takes a ``redis.asyncio.Redis`` (or None when Redis is not
installed: the Redis column then says how to install it) and, optionally, a NATS connection
``nc`` (default: kvnb's shared connection). It uses scratch buckets and keys it creates and
removes, and returns a :class:`Comparison` that a notebook shows as a table.

Example (top-level ``await`` in a notebook)::

    import kvnb
    from kvnb import compare
    from kvnb.redis_server import start_redis

    kvnb.start_server()
    r = start_redis().client()
    await compare.history(r)                 # NATS keeps N revisions, Redis the latest
    await compare.watch_away(r)              # resume from a revision vs pub/sub
    await compare.race(r, writers=8)         # revision CAS vs WATCH/MULTI/EXEC
    await compare.persistence()              # SIGKILL: file storage vs Redis defaults vs AOF
    await compare.ttl(r)                     # keys that expire
    await compare.throughput(r, n=1000)      # puts and gets per second, measured now
"""

from __future__ import annotations

from .history import history
from .persistence import persistence
from .race import race
from .results import (
    NATS,
    REDIS,
    REDIS_AOF,
    REDIS_DEFAULT,
    Comparison,
    ConcurrencyResult,
    HistoryResult,
    PersistenceResult,
    Skipped,
    ThroughputResult,
    TtlResult,
    WatchAwayResult,
)
from .throughput import throughput
from .ttl import ttl
from .watch_away import watch_away

__all__ = [
    "NATS",
    "REDIS",
    "REDIS_AOF",
    "REDIS_DEFAULT",
    "Comparison",
    "ConcurrencyResult",
    "HistoryResult",
    "PersistenceResult",
    "Skipped",
    "ThroughputResult",
    "TtlResult",
    "WatchAwayResult",
    "history",
    "persistence",
    "race",
    "throughput",
    "ttl",
    "watch_away",
]
