"""Faults where nothing may be lost: server crashes, leader failover, restarts under a watch, racing CAS.

Every test is bounded in time. ``make test`` runs a few rounds; the ``stress`` variants
(``pytest -m stress``) run 20 rounds of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import kvnb
from kvnb.client import close_connection
from kvnb.server import Server, launch

STRESS_ROUNDS = int(os.environ.get("KVNB_STRESS_ROUNDS", "20"))
ELECTION = 10.0  # seconds: a leader election after a SIGKILL took 4-8 s here (randomized timeouts)


async def until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``condition()`` until true; an AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.01)


# --- helpers ---------------------------------------------------------------------------------


class Burst:
    """Concurrent puts of distinct keys (``writers`` tasks) until :meth:`finish`; remembers what was acknowledged."""

    def __init__(self, kv: kvnb.KV, *, writers: int = 8, prefix: str = "b", attempt_timeout: float = 1.0) -> None:
        self.kv = kv
        self.writers = writers
        self.prefix = prefix
        self.attempt_timeout = attempt_timeout
        self.acked: dict[str, tuple[int, str]] = {}  # key -> (revision, value)
        self.ack_times: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Future[Any] | None = None

    def start(self) -> Burst:
        self._task = asyncio.gather(*(self._writer(w) for w in range(self.writers)))
        return self

    async def _writer(self, w: int) -> None:
        n = 0
        while not self._stop.is_set():
            key, value = f"{self.prefix}.{w}.{n}", f"{w}:{n}"
            n += 1
            try:
                revision = await asyncio.wait_for(self.kv.put(key, value), self.attempt_timeout)
            except (kvnb.KvnbError, TimeoutError):
                await asyncio.sleep(0.02)  # not acknowledged: no promise was made about it
                continue
            self.acked[key] = (revision, value)
            self.ack_times.append(time.monotonic())

    def acked_since(self, moment: float) -> int:
        return sum(1 for t in self.ack_times if t >= moment)

    async def finish(self) -> dict[str, tuple[int, str]]:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)
        return self.acked


async def read_all(kv: kvnb.KV, within: float = 5 * ELECTION) -> list[kvnb.Entry]:
    """``kv.entries()``, retried: right after a failover the cluster may still be electing the
    JetStream meta leader that creates consumers, so reading can time out for a few seconds.
    This test is about what was kept, not about how soon it can be read."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await kv.entries()
        except kvnb.ServerError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def lost(acked: dict[str, tuple[int, str]], entries: list[kvnb.Entry]) -> list[str]:
    """Acknowledged puts the bucket does not hold with the same revision and value."""
    found = {e.key: (e.revision, e.text) for e in entries}
    return sorted(key for key, expected in acked.items() if found.get(key) != expected)


# --- SIGKILL of a single server during a burst (file storage) -------------------------------


async def sigkill_during_burst(server: Server, name: str) -> int:
    nc = await kvnb.connect(server.url)
    try:
        kv = await kvnb.open_bucket(name, history=1, storage="file", fresh=True, nc=nc)
        burst = Burst(kv).start()
        # kill at a different moment each round, with writes in flight (and some acknowledged already)
        await until(lambda: burst.acked, 10, "a first put was acknowledged")
        await asyncio.sleep(random.uniform(0.1, 0.5))
        server.kill()
        acked = await burst.finish()
    finally:
        await close_connection(nc)
    assert acked, "no put was acknowledged before the kill: the test proved nothing"
    server.restart()
    nc = await kvnb.connect(server.url)
    try:
        kv = await kvnb.open_bucket(name, nc=nc)
        missing = lost(acked, await kv.entries())
    finally:
        await close_connection(nc)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged puts lost after SIGKILL: {missing[:5]}"
    return len(acked)


@pytest.mark.timeout(60)
async def test_sigkill_server_during_put_burst_keeps_every_acked_put(tmp_path: Path) -> None:
    with launch(store_dir=tmp_path / "store", name="kvnb-fault") as server:
        for n in range(3):
            await sigkill_during_burst(server, f"burst{n}")


@pytest.mark.stress
@pytest.mark.timeout(300)
async def test_sigkill_server_during_put_burst_stress(tmp_path: Path) -> None:
    with launch(store_dir=tmp_path / "store", name="kvnb-fault") as server:
        for n in range(STRESS_ROUNDS):
            await sigkill_during_burst(server, f"burst{n}")


# --- SIGKILL of the leader of an R3 bucket during a burst -----------------------------------

needs_cluster = pytest.mark.skipif(importlib.util.find_spec("kvnb.cluster") is None,
                                   reason="kvnb.cluster (start_cluster) is not written yet")


async def _leader(cluster: Any, name: str, nc: Any, within: float = 5 * ELECTION) -> Any:
    """The node leading the bucket's stream; retried while a fresh bucket or a rejoined node settles."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await cluster.leader_of(name, nc)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def leader_kill_during_burst(cluster: Any, name: str) -> None:
    nc = await kvnb.connect(cluster.url)
    try:
        kv = await kvnb.open_bucket(name, replicas=3, history=1, storage="file", fresh=True, nc=nc)
        leader = await _leader(cluster, name, nc)
        burst = Burst(kv, writers=4, attempt_timeout=0.5).start()
        try:
            await until(lambda: burst.acked, 10, "a first put was acknowledged")
            await asyncio.sleep(random.uniform(0.2, 0.7))
            await leader.kill_async()
            killed_at = time.monotonic()
            # keep writing until the new leader has taken a good number of writes
            deadline = killed_at + 5 * ELECTION
            while time.monotonic() < deadline and burst.acked_since(killed_at) < 50:
                await asyncio.sleep(0.1)
        finally:
            acked = await burst.finish()
        assert burst.acked_since(killed_at) >= 50, "writes did not resume after the leader died: no failover"
        missing = lost(acked, await read_all(kv))
        assert not missing, f"{len(missing)} of {len(acked)} acknowledged puts lost in the failover: {missing[:5]}"
        # the killed node comes back and catches up; still nothing lost
        await leader.restart_async()
        await asyncio.to_thread(cluster.wait_healthy, 5 * ELECTION)
        missing = lost(acked, await read_all(kv))
        assert not missing, f"{len(missing)} acknowledged puts lost after the old leader rejoined: {missing[:5]}"
    finally:
        await close_connection(nc)


@needs_cluster
@pytest.mark.timeout(120)
async def test_sigkill_r3_leader_during_burst_keeps_every_acked_put(tmp_path: Path) -> None:
    from kvnb.cluster import start_cluster

    with start_cluster(3, store_dir=tmp_path / "cluster", name="kvnb-fault", fresh=True, progress=False) as cluster:
        await leader_kill_during_burst(cluster, "r3burst")


@needs_cluster
@pytest.mark.stress
@pytest.mark.timeout(900)
async def test_sigkill_r3_leader_stress(tmp_path: Path) -> None:
    from kvnb.cluster import start_cluster

    with start_cluster(3, store_dir=tmp_path / "cluster", name="kvnb-fault", fresh=True, progress=False) as cluster:
        for n in range(STRESS_ROUNDS):
            await leader_kill_during_burst(cluster, f"r3burst{n}")


# --- a watch across restarts ----------------------------------------------------------------


def watch_feed_class() -> Any:
    cls = getattr(kvnb, "WatchFeed", None)
    if cls is None and importlib.util.find_spec("kvnb.widgets.feed") is not None:
        from kvnb.widgets.feed import WatchFeed as cls  # until kvnb re-exports it
    return cls


async def watch_across_restarts(server: Server, restarts: int) -> None:
    per_step = 15
    nc = await kvnb.connect(server.url)
    feed = None
    watch = None
    try:
        kv = await kvnb.open_bucket("across", history=64, storage="file", fresh=True, nc=nc)
        written = 0

        async def write(n: int) -> None:
            nonlocal written
            for _ in range(n):
                await kv.put(f"k{written % 20}", str(written))
                written += 1

        await write(per_step)  # some history before the watch starts
        watch = kv.watch(">", include_history=True)
        await watch.start()
        seen: list[int] = []

        async def collect() -> None:
            async for entry in watch:
                seen.append(entry.revision)

        collector = asyncio.create_task(collect())
        feed_cls = watch_feed_class()
        if feed_cls is not None:
            feed = feed_cls(kv, ">", include_history=True, max_rows=100_000)
            await feed.ready(timeout=10)
        for n in range(restarts):
            await write(per_step)
            if n % 3 == 0:
                server.restart()  # blocking, as a notebook cell would do it: the loop is frozen meanwhile
            elif n % 3 == 1:
                await asyncio.to_thread(server.restart)  # while the loop runs
            else:
                server.kill()  # a crash
                server.restart()
            await write(per_step)
        expected = list(range(1, written + 1))
        # a resume takes milliseconds once the server is back; a loaded machine gets 15 s
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (seen[-1:] != [written] or watch.error is not None or (
                feed is not None and feed.model.last_revision < written)):
            await asyncio.sleep(0.02)
        await watch.stop()
        await asyncio.wait_for(collector, 5)
        assert watch.error is None
        twice = sorted({r for r in seen if seen.count(r) > 1})
        assert not twice, f"revisions delivered twice: {twice}"
        assert seen == expected, f"missed revisions: {sorted(set(expected) - set(seen))[:10]}"
        assert watch.resumes >= restarts, "the watch did not resume after each restart"
        if feed is not None:
            events = [item.revision for item in reversed(feed.model.items()) if hasattr(item, "operation")]
            assert events == expected, f"feed missed {sorted(set(expected) - set(events))[:10]} or repeated revisions"
            assert feed.model.gaps == 0 and feed.model.events == written
    finally:
        if watch is not None:
            await watch.stop()
        if feed is not None:
            await feed.aclose()
        await close_connection(nc)


@pytest.mark.timeout(60)
async def test_watch_and_feed_across_restarts_miss_nothing_repeat_nothing(tmp_path: Path) -> None:
    with launch(store_dir=tmp_path / "store", name="kvnb-fault") as server:
        await watch_across_restarts(server, restarts=3)


@pytest.mark.stress
@pytest.mark.timeout(300)
async def test_watch_across_restarts_stress(tmp_path: Path) -> None:
    with launch(store_dir=tmp_path / "store", name="kvnb-fault") as server:
        await watch_across_restarts(server, restarts=STRESS_ROUNDS)


# --- racing compare-and-set writers ---------------------------------------------------------


async def cas_race(url: str, bucket: str, writers: int = 8, increments: int = 100) -> None:
    conns = [await kvnb.connect(url) for _ in range(writers)]
    try:
        kvs = [await kvnb.open_bucket(bucket, history=1, fresh=True, nc=conns[0])]
        kvs += [await kvnb.open_bucket(bucket, nc=c) for c in conns[1:]]
        first = await kvs[0].put("counter", "0")

        async def writer(kv: kvnb.KV) -> int:
            done = conflicts = 0
            while done < increments:
                entry = await kv.get("counter")
                try:
                    await kv.update("counter", str(int(entry.text) + 1), last=entry.revision)
                    done += 1
                except kvnb.Conflict:
                    conflicts += 1
            return conflicts

        conflicts = await asyncio.gather(*(writer(kv) for kv in kvs))
        final = await kvs[0].get("counter")
        assert final.text == str(writers * increments), f"lost updates: {final.text} != {writers * increments}"
        # exactly one revision per successful update: no write slipped past a conflict
        assert final.revision == first + writers * increments
        assert sum(conflicts) > 0, "the writers never collided: the race was not a race"
    finally:
        for c in conns:
            with contextlib.suppress(Exception):
                await c.close()


@pytest.mark.timeout(60)
async def test_8_writers_x_100_cas_increments_make_800(nats_server: Server, bucket_name: str) -> None:
    await cas_race(nats_server.url, bucket_name)


@pytest.mark.stress
@pytest.mark.timeout(600)
async def test_cas_race_stress(nats_server: Server, bucket_name: str) -> None:
    for n in range(STRESS_ROUNDS):
        await cas_race(nats_server.url, f"{bucket_name}_{n}")

