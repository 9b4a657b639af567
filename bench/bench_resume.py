"""A watch across a server restart: kvnb's Watch against nats-py's KV watcher, on the same restart.

A writer puts a revision every 20 ms into a file-storage bucket (history 64, 100 keys) while
both watchers follow it. The server restarts (SIGTERM, same port and store). Measured: the time
from the server being ready again to each watcher delivering its first revision, and whether
each watcher delivered every revision in the stream exactly once. Both sides use connections
with the same fast reconnect (every 0.1 s), so the difference is the watcher alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time

import nats
import nats.errors

import kvnb
from kvnb.server import Server, launch

from ._harness import Row, median, print_rows, row, run_async

GROUP = "Watch resume after a server restart (lower is better)"
ROUNDS = int(os.environ.get("KVNB_BENCH_RESUME_ROUNDS", "3"))  # each costs ~20 s: nats-py's watcher is slow
KEYS = 100
WRITE_EVERY = 0.02
GIVE_UP = 45.0


class _Log:
    """Revisions a watcher delivered, with the time each arrived."""

    def __init__(self) -> None:
        self.revisions: list[int] = []
        self.arrivals: list[float] = []
        self.caught_up = asyncio.Event()

    def add(self, revision: int) -> None:
        self.revisions.append(revision)
        self.arrivals.append(time.monotonic())

    def first_after(self, moment: float) -> float | None:
        return next((t - moment for t in self.arrivals if t >= moment), None)


async def _follow_kvnb(kv: kvnb.KV, log: _Log, stop: asyncio.Event) -> None:
    async with kv.watch(">") as watch:
        async for item in watch.events():
            if item is kvnb.CAUGHT_UP:
                log.caught_up.set()
            else:
                log.add(item.revision)  # type: ignore[union-attr]
            if stop.is_set():
                return


async def _follow_raw(raw_kv, log: _Log, stop: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
    watcher = await raw_kv.watchall()
    try:
        while not stop.is_set():
            try:
                entry = await watcher.updates(timeout=0.5)
            except nats.errors.TimeoutError:
                continue
            if entry is None:  # nats-py's "initial values delivered"
                log.caught_up.set()
            else:
                log.add(entry.revision)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(watcher.stop(), 1.0)


async def _writer(kv: kvnb.KV, stop: asyncio.Event, acks: _Log) -> None:
    i = 0
    while not stop.is_set():
        try:
            # a short timeout: a put sent into the dying socket must not hold the writer back
            acks.add(await asyncio.wait_for(kv.put(f"k{i % KEYS}", str(i)), 0.2))
            i += 1
        except (kvnb.KvnbError, TimeoutError):
            pass  # the server is away: try again
        await asyncio.sleep(WRITE_EVERY)


async def _silence(_err: BaseException) -> None:
    pass


async def _one_round(server: Server, n: int) -> dict[str, float | int | None]:
    writer_nc = await kvnb.connect(server.url)
    kv_nc = await kvnb.connect(server.url)
    raw_nc = await nats.connect(server.url, reconnect_time_wait=0.1, max_reconnect_attempts=-1, error_cb=_silence)
    stop_writer, stop_watchers = asyncio.Event(), asyncio.Event()
    kv_log, raw_log, acks = _Log(), _Log(), _Log()
    tasks: list[asyncio.Task[None]] = []
    try:
        name = f"resume{n}"
        writer_kv = await kvnb.open_bucket(name, history=64, storage="file", fresh=True, nc=writer_nc)
        kv = await kvnb.open_bucket(name, nc=kv_nc)
        raw_kv = await raw_nc.jetstream().key_value(name)
        tasks = [asyncio.create_task(_follow_kvnb(kv, kv_log, stop_watchers)),
                 asyncio.create_task(_follow_raw(raw_kv, raw_log, stop_watchers))]
        await asyncio.wait_for(asyncio.gather(kv_log.caught_up.wait(), raw_log.caught_up.wait()), 10)
        tasks.append(asyncio.create_task(_writer(writer_kv, stop_writer, acks)))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.restart)  # blocking; the loop keeps running meanwhile
        ready = time.monotonic()
        deadline = ready + GIVE_UP
        while time.monotonic() < deadline and (kv_log.first_after(ready) is None or raw_log.first_after(ready) is None):
            await asyncio.sleep(0.05)
        stop_writer.set()
        await tasks.pop()
        truth = {e.revision for e in await writer_kv.entries(include_history=True, include_markers=True)}
        last = max(truth)
        settle = time.monotonic() + 10
        while time.monotonic() < settle and not (kv_log.revisions[-1:] == [last] and raw_log.revisions[-1:] == [last]):
            await asyncio.sleep(0.05)
        return {
            "kvnb": kv_log.first_after(ready), "raw": raw_log.first_after(ready),
            "kvnb_missed": len(truth - set(kv_log.revisions)), "raw_missed": len(truth - set(raw_log.revisions)),
            "kvnb_dupes": len(kv_log.revisions) - len(set(kv_log.revisions)),
            "raw_dupes": len(raw_log.revisions) - len(set(raw_log.revisions)),
            "revisions": len(truth), "writer": acks.first_after(ready),
        }
    finally:
        stop_writer.set()
        stop_watchers.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in (writer_nc, kv_nc, raw_nc):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)


async def _measure(rounds: int) -> list[Row]:
    results = []
    with tempfile.TemporaryDirectory(prefix="kvnb-bench-resume-") as store, \
            launch(store_dir=store, name="kvnb-bench-resume") as server:
        for n in range(rounds):
            results.append(await _one_round(server, n))

    def values(side: str) -> list[float]:
        return [r[side] if r[side] is not None else float("inf") for r in results]  # type: ignore[misc]

    kv_t, raw_t = values("kvnb"), values("raw")
    missed = {side: sum(int(r[f"{side}_missed"] or 0) for r in results) for side in ("kvnb", "raw")}
    dupes = {side: sum(int(r[f"{side}_dupes"] or 0) for r in results) for side in ("kvnb", "raw")}
    total = sum(int(r["revisions"] or 0) for r in results)
    result = row(
        GROUP, "server ready → first revision delivered", kvnb=median(kv_t), raw=median(raw_t), unit="s",
        ratio=median([k / r for k, r in zip(kv_t, raw_t, strict=True)]), max_abs=2.0,
        note=(f"{rounds} restarts, {total} revisions: missed kvnb {missed['kvnb']}, raw {missed['raw']}; "
              f"delivered twice kvnb {dupes['kvnb']}, raw {dupes['raw']}; "
              f"kvnb per restart {', '.join(f'{t * 1000:.0f} ms' for t in kv_t)} (the writer's first put was "
              f"acknowledged {', '.join(f'{w * 1000:.0f} ms' for w in values('writer'))} after ready)"),
    )
    result["ok"] = bool(result["ok"]) and missed["kvnb"] == 0 and dupes["kvnb"] == 0
    result["goal"] += ", 0 missed, 0 twice"
    return [result]


def run(rounds: int = ROUNDS) -> list[Row]:
    """Measure and return the table rows."""
    return run_async(_measure, min(rounds, ROUNDS))


if __name__ == "__main__":
    print_rows(run())
