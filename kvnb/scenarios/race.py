"""Racing writers: N clients increment one counter key at the same time.

With ``cas=True`` each writer loops ``get`` + ``update(key, n + 1, last=revision)`` and, when
another writer came first (:class:`kvnb.Conflict`), reads again and retries: no increment is
lost, so the final value equals the number of successful increments. With ``cas=False`` it does
``get`` + plain ``put``: every put succeeds, and the increments other writers overwrote are lost.

By default each writer has its own connection (like separate programs); when a second
connection cannot be made (e.g. credentials kvnb cannot copy), the writers share the bucket's
connection as independent tasks, which races just the same.

:func:`run_counter_race` races the same writers on a server-side counter (:mod:`kvnb.counter`):
each sends "+1" and the server adds, so nothing conflicts and nothing is lost.

Example::

    result = await run_race(kv, "counter", writers=4, increments=25)
    print(result.summary())
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import validation as v
from ..errors import Conflict, InvalidOption, KvnbError
from ..model.race import RaceResult, RaceStats

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from ..bucket import KV
    from ..counter import Counter

__all__ = ["check_race_args", "run_counter_race", "run_race"]

log = logging.getLogger("kvnb.race")
MAX_WRITERS = 32
MAX_INCREMENTS = 10_000


def check_race_args(key: str, writers: int, increments: int) -> None:
    """Raise a kvnb error naming the rule when a race argument is out of range."""
    v.check_key(key)
    for name, value, top in (("writers", writers, MAX_WRITERS), ("increments", increments, MAX_INCREMENTS)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise InvalidOption(f"{name} must be an int from 1 to {top}, got {value!r}. Example: {name}=4")


async def run_race(kv: KV, key: str, *, writers: int = 4, increments: int = 25, cas: bool = True,
                   separate_connections: bool = True, stats: RaceStats | None = None,
                   on_change: Callable[[], None] | None = None, max_attempts: int = 10_000) -> RaceResult:
    """Reset ``key`` to 0, race ``writers`` clients doing ``increments`` increments each, return the verdict.

    ``stats`` (a :class:`~kvnb.model.RaceStats`) is filled as the race goes and ``on_change`` is
    called after every attempt, so a view can animate it. A writer gives up an increment after
    ``max_attempts`` conflicts in a row.
    """
    check_race_args(key, writers, increments)
    stats = stats if stats is not None else RaceStats(writers, increments, cas=cas)
    notify = on_change or (lambda: None)
    await kv.put(key, "0")
    buckets, connections = await _open_writers(kv, writers, separate_connections)
    stats.started = time.perf_counter()
    try:
        await asyncio.gather(*(_writer(i, buckets[i], key, increments, cas, stats, notify, max_attempts)
                               for i in range(writers)))
    finally:
        for nc in connections:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2.0)
    entry = await kv.get(key)
    try:
        final = int(entry.text)
    except ValueError:
        final = -1
    result = stats.finish(final)
    notify()
    return result


async def run_counter_race(counter: Counter, key: str, *, writers: int = 4, increments: int = 25,
                           separate_connections: bool = True, stats: RaceStats | None = None,
                           on_change: Callable[[], None] | None = None) -> RaceResult:
    """Set ``key``'s counter to 0, then ``writers`` clients each add 1 ``increments`` times; return the verdict."""
    check_race_args(key, writers, increments)
    stats = stats if stats is not None else RaceStats(writers, increments, mode="counter")
    notify = on_change or (lambda: None)
    current = await counter.get(key)
    if current:
        await counter.add(key, -current)  # a counter cannot be set, only moved: back to 0
    counters, connections = await _open_counters(counter, writers, separate_connections)
    stats.started = time.perf_counter()

    async def writer(i: int) -> None:
        try:
            for _ in range(increments):
                await counters[i].add(key)
                stats.record(i, "ok")
                notify()
        except KvnbError as err:  # the server went away, the counters were deleted
            stats.record(i, "error", str(err))
            notify()
        finally:
            stats.writer_done(i)

    try:
        await asyncio.gather(*(writer(i) for i in range(writers)))
    finally:
        for nc in connections:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2.0)
    result = stats.finish(await counter.get(key))
    notify()
    return result


async def _open_counters(counter: Counter, writers: int, separate: bool) -> tuple[list[Counter], list[NATS]]:
    """One counter handle per writer, each on its own connection when possible."""
    if not separate:
        return [counter] * writers, []
    from ..counter import Counter

    connections: list[NATS] = []
    try:
        info = await counter.js.stream_info(counter._stream)
        for i in range(writers):
            connections.append(await _clone_connection(counter.nc, name=f"kvnb-race-counter-{i}"))
    except Exception as err:  # fall back to one shared connection
        log.info("race: separate connections unavailable (%s); writers share one connection", err)
        for nc in connections:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2.0)
        return [counter] * writers, []
    return [Counter(nc, info, js_prefix=counter._js_prefix) for nc in connections], connections


async def _writer(i: int, kv: KV, key: str, increments: int, cas: bool, stats: RaceStats,
                  notify: Callable[[], None], max_attempts: int) -> None:
    try:
        for _ in range(increments):
            for _attempt in range(max_attempts):
                entry = await kv.get(key)
                n = int(entry.text)
                try:
                    if cas:
                        await kv.update(key, str(n + 1), last=entry.revision)
                    else:
                        await kv.put(key, str(n + 1))
                except Conflict:
                    stats.record(i, "conflict")
                    notify()
                    continue
                stats.record(i, "ok")
                notify()
                break
            else:
                stats.record(i, "error", f"gave up after {max_attempts} conflicts in a row")
                notify()
                return
    except (KvnbError, ValueError) as err:  # the key was deleted or overwritten with text, the server went away
        stats.record(i, "error", str(err))
        notify()
    finally:
        stats.writer_done(i)


async def _open_writers(kv: KV, writers: int, separate: bool) -> tuple[list[KV], list[NATS]]:
    """One bucket handle per writer, each on its own connection when possible."""
    if not separate:
        return [kv] * writers, []
    from ..bucket import open_bucket

    connections: list[NATS] = []
    buckets: list[KV] = []
    try:
        for i in range(writers):
            nc = await _clone_connection(kv.nc, name=f"kvnb-race-writer-{i}")
            connections.append(nc)
            buckets.append(await open_bucket(kv.name, nc=nc, js_prefix=getattr(kv, "_js_prefix", "$JS.API")))
    except Exception as err:  # fall back to one shared connection: the race is the same, only less "separate"
        log.info("race: separate connections unavailable (%s); writers share one connection", err)
        for nc in connections:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2.0)
        return [kv] * writers, []
    return buckets, connections


async def _clone_connection(nc: NATS, *, name: str) -> NATS:
    """A new connection to the server ``nc`` is connected to, with the same credentials."""
    from ..client import connect

    url = nc.connected_url
    if url is None:
        raise ConnectionError("the bucket's connection is not connected")
    options: dict[str, Any] = {}
    for key in ("user", "password", "token", "tls", "tls_hostname"):
        if nc.options.get(key):
            options[key] = nc.options[key]
    if getattr(nc, "_user_credentials", None):
        options["user_credentials"] = nc._user_credentials
    if getattr(nc, "_nkeys_seed", None):
        options["nkeys_seed"] = nc._nkeys_seed
    prefix = bytes(getattr(nc, "_inbox_prefix", b"_INBOX")).decode()
    if prefix != "_INBOX":
        options["inbox_prefix"] = prefix
    return await connect(url.geturl(), name=name, **options)
