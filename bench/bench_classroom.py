"""One classroom server under a workshop's load: how many participants before it bends.

Each simulated participant logs in to its own account with its own connection (its nkey) and, for
``SECONDS``: keeps a kvnb watch on its own bucket; puts 5 values a second (timed one by one); every
10 s runs a 4-writer compare-and-set race on one key (and checks nothing was lost); reads the shared
bucket's copy every 2 s; records an exercise attempt in its ``progress`` bucket every 10 s; and every
10 s tries to read another participant's bucket (which must fail). The instructor posts to the shared
bucket every 5 s. All on loopback, all in this process; the server's CPU and RSS come from /proc.

Reported per class size: put latency p50 / p99, server CPU (% of one core) and peak RSS, this
client process's CPU (it shares the 2 cores: at large sizes the client itself is part of the limit),
errors, and reads across accounts. Goal at 50 participants: p99 ≤ 25 ms, 0 errors, 0 cross-account reads.

Alone: ``python -m bench --only classroom`` (both sizes, docs/benchmarks.md updated), or
``python -m bench.bench_classroom --participants 50 --seconds 60`` (prints only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats.errors
import nats.js.errors

import kvnb
from kvnb.classroom import Classroom, open_shared_bucket, participant_js_prefix, start_classroom
from kvnb.client import close_connection
from kvnb.progress import record
from kvnb.watch import Watch

from ._harness import Row, print_rows, row

GROUP = "Classroom server under a workshop's load (one server, loopback)"
SIZES = [int(n) for n in os.environ.get("KVNB_BENCH_CLASSROOM_SIZES", "50,200").split(",") if n.strip()]
SECONDS = float(os.environ.get("KVNB_BENCH_CLASSROOM_SECONDS", "60"))
PUTS_PER_SECOND = 5
RACE_EVERY = 10.0
RACE_WRITERS, RACE_INCREMENTS = 4, 5
SHARED_READ_EVERY = 2.0
PROGRESS_EVERY = 10.0
PROBE_EVERY = 10.0
DENIED = (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError,
          nats.js.errors.NotFoundError)
OP_TIMEOUT = 5.0  # a single operation slower than this counts as an error
P99_GOAL = 0.025
BASELINE_SECONDS = 30.0  # one participant alone: 150 puts, enough for a p99


@dataclass
class Tally:
    """What every participant adds to."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    cross_reads: int = 0
    probes: int = 0
    races: int = 0
    lost_updates: int = 0
    watched: int = 0
    foreign_in_watch: int = 0
    shared_reads: int = 0
    progress: int = 0

    def error(self, what: str, err: BaseException) -> None:
        key = f"{what}: {type(err).__name__}"
        self.errors[key] = self.errors.get(key, 0) + 1


class _ProcStat:
    """CPU seconds and RSS of a process, from /proc (Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    def rss(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


async def _timed(what: str, tally: Tally, coro: Any) -> Any:
    try:
        return await asyncio.wait_for(coro, OP_TIMEOUT)
    except Exception as err:
        tally.error(what, err)
        return None


@dataclass
class Clock:
    """The load starts once every participant is connected and watching: setup is not measured."""

    expected: int
    ready: int = 0
    go: asyncio.Event = field(default_factory=asyncio.Event)
    start: float = 0.0
    end: float = 0.0
    seconds: float = 60.0

    async def arrive(self) -> None:
        self.ready += 1
        if self.ready == self.expected:
            self.start = time.monotonic() + 0.5
            self.end = self.start + self.seconds
            self.go.set()
        await self.go.wait()


async def _participant(room: Classroom, user: str, others: list[str], tally: Tally, clock: Clock) -> None:
    nc = None
    try:
        nc = await room.connect(user)
        kv = await kvnb.open_bucket("bench", history=5, nc=nc)
        shared = await open_shared_bucket(nc)
        watch = Watch(nc, bucket="bench", updates_only=True)
        await watch.start()
    except Exception as err:
        tally.error("setup", err)
        await clock.arrive()
        if nc is not None:
            await close_connection(nc)
        return
    await clock.arrive()
    start, end = clock.start, clock.end
    try:

        async def follow() -> None:
            async for entry in watch:
                tally.watched += 1
                if not entry.text.startswith(user + ":"):
                    tally.foreign_in_watch += 1

        async def puts() -> None:
            n, due = 0, start + random.uniform(0, 1 / PUTS_PER_SECOND)
            while due < end:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                n += 1
                t0 = time.perf_counter()
                if await _timed("put", tally, kv.put(f"k.{n % 20}", f"{user}:{n}")) is not None:
                    tally.latencies.append(time.perf_counter() - t0)
                due += 1 / PUTS_PER_SECOND

        async def race() -> None:
            async def writer() -> None:
                for _ in range(RACE_INCREMENTS):
                    while True:
                        entry = await kv.get("race")
                        try:
                            await kv.update("race", f"{user}:{int(entry.text.split(':')[1]) + 1}",
                                            last=entry.revision)
                            break
                        except kvnb.Conflict:
                            continue

            await kv.put("race", f"{user}:0")
            await asyncio.gather(*(writer() for _ in range(RACE_WRITERS)))
            final = int((await kv.get("race")).text.split(":")[1])
            tally.races += 1
            tally.lost_updates += RACE_WRITERS * RACE_INCREMENTS - final

        async def every(period: float, what: str, job: Any) -> None:
            due = start + random.uniform(0, period)
            while due < end:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await _timed(what, tally, job())
                due += period

        async def shared_read() -> None:
            with contextlib.suppress(kvnb.KeyNotFound):
                await shared.get("announcement")
            tally.shared_reads += 1

        async def progress() -> None:
            await record(random.choice(["rooms_stored", "temp_pattern", "claim"]), random.random() < 0.5, nc=nc)
            tally.progress += 1

        async def probe() -> None:
            # Reaching into another participant's account must fail; a success is a cross-account read.
            other = random.choice(others)
            tally.probes += 1
            try:
                await nc.jetstream(prefix=participant_js_prefix(other), timeout=1.0).stream_info("KV_bench")
                tally.cross_reads += 1
            except DENIED:
                pass

        follower = asyncio.create_task(follow())
        await asyncio.gather(puts(), every(RACE_EVERY, "race", race),
                             every(SHARED_READ_EVERY, "shared read", shared_read),
                             every(PROGRESS_EVERY, "progress", progress), every(PROBE_EVERY, "probe", probe))
        await asyncio.sleep(0.2)  # the last puts' deliveries
        await watch.stop()
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
    except Exception as err:
        tally.error("participant", err)
    finally:
        await close_connection(nc)


async def _instructor(room: Classroom, clock: Clock, tally: Tally) -> None:
    nc = await room.connect("instructor")
    try:
        shared = await open_shared_bucket(nc, instructor=True)
        await clock.go.wait()
        n = 0
        while time.monotonic() < clock.end:
            n += 1
            await _timed("announcement", tally, shared.put("announcement", f"note {n}"))
            await asyncio.sleep(5.0)
    finally:
        await close_connection(nc)


async def _measure(participants: int, seconds: float) -> dict[str, Any]:
    room = await asyncio.to_thread(start_classroom, participants)
    try:
        server = _ProcStat(room.server.pid)  # type: ignore[arg-type]
        me = _ProcStat(os.getpid())
        tally = Tally()
        users = room.users
        clock = Clock(expected=len(users), seconds=seconds)
        rss_peak = 0
        lags: list[float] = []
        load: list[float] = []

        async def sample() -> None:
            # Server memory once a second; this process's loop lag (how late a 10 ms sleep wakes up):
            # what a put's latency includes on top of the server's answer.
            nonlocal rss_peak
            await clock.go.wait()
            load.append(os.getloadavg()[0])
            next_rss = 0.0
            while time.monotonic() < clock.end:
                t0 = time.monotonic()
                await asyncio.sleep(0.01)
                lags.append(time.monotonic() - t0 - 0.01)
                if t0 >= next_rss:
                    rss_peak, next_rss = max(rss_peak, server.rss()), t0 + 1.0
            load.append(os.getloadavg()[0])

        cpu0: dict[str, float] = {}

        async def mark_start() -> None:
            await clock.go.wait()
            await asyncio.sleep(max(0.0, clock.start - time.monotonic()))
            cpu0.update(server=server.cpu(), client=me.cpu(), t=time.monotonic())

        tasks = [_participant(room, u, [o for o in users if o != u], tally, clock) for u in users]
        await asyncio.gather(mark_start(), sample(), _instructor(room, clock, tally), *tasks)
        wall = time.monotonic() - cpu0["t"]
        server_cpu = (server.cpu() - cpu0["server"]) / wall
        client_cpu = (me.cpu() - cpu0["client"]) / wall
    finally:
        await asyncio.to_thread(room.stop)
    lat = sorted(tally.latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) >= 100 else [float("nan")] * 99
    lag = statistics.quantiles(lags, n=100) if len(lags) >= 100 else [float("nan")] * 99
    return {
        "loop_lag_p99": lag[98], "load": max(load) if load else float("nan"),
        "participants": participants, "seconds": seconds, "puts": len(lat), "p50": q[49], "p99": q[98],
        "max": lat[-1] if lat else float("nan"), "server_cpu": server_cpu, "client_cpu": client_cpu,
        "rss": rss_peak, "errors": sum(tally.errors.values()), "error_kinds": tally.errors,
        "cross_reads": tally.cross_reads, "probes": tally.probes, "races": tally.races,
        "lost_updates": tally.lost_updates, "watched": tally.watched, "foreign_in_watch": tally.foreign_in_watch,
        "shared_reads": tally.shared_reads, "progress": tally.progress,
        "expected_puts": int(participants * seconds * PUTS_PER_SECOND),
    }


def _rows(result: dict[str, Any], baseline: dict[str, Any] | None = None) -> list[Row]:
    n = result["participants"]
    goal = n <= 50
    note = (f"{result['puts']:,} puts of {result['expected_puts']:,} scheduled in {result['seconds']:.0f} s, "
            f"max {result['max'] * 1000:.0f} ms; server CPU {result['server_cpu'] * 100:.0f}% of a core, "
            f"peak RSS {result['rss'] / 2**20:.0f} MiB; this client process {result['client_cpu'] * 100:.0f}% "
            f"(its event loop woke up to {result['loop_lag_p99'] * 1000:.0f} ms late, p99); "
            f"machine load average {result['load']:.1f} on {os.cpu_count()} cores; "
            f"{result['races']} races, {result['lost_updates']} lost updates; watches delivered "
            f"{result['watched']:,} ({result['foreign_in_watch']} not the participant's own); "
            f"{result['shared_reads']:,} shared reads, {result['progress']:,} progress records; "
            f"{result['errors']} errors{(' ' + json.dumps(result['error_kinds'])) if result['errors'] else ''}; "
            f"{result['cross_reads']} of {result['probes']} cross-account reads succeeded")
    if baseline is not None:
        note += (f"; baseline on this machine in the same run, 1 participant alone: p50 "
                 f"{baseline['p50'] * 1000:.1f} ms, p99 {baseline['p99'] * 1000:.1f} ms")
    p99 = row(GROUP, f"{n} participants: put latency p99", kvnb=result["p99"], raw=None, unit="s",
              max_abs=P99_GOAL if goal else None, note=note)
    clean = result["errors"] == 0 and result["cross_reads"] == 0 and result["lost_updates"] == 0 \
        and result["foreign_in_watch"] == 0
    if goal:
        p99["ok"] = bool(p99["ok"]) and clean
        p99["goal"] += ", 0 errors, 0 cross-account reads"
    p50 = row(GROUP, f"{n} participants: put latency p50", kvnb=result["p50"], raw=None, unit="s")
    return [p50, p99]


def run(sizes: list[int] | None = None, seconds: float = SECONDS) -> list[Row]:
    """Measure each class size in turn (default 50 then 200) and return the table rows."""
    os.environ.pop("NATS_URL", None)
    rows: list[Row] = []
    # What this (shared, busy) machine gives one participant alone: the floor the class sizes compare to.
    baseline = asyncio.run(_measure(1, min(seconds, BASELINE_SECONDS)))
    print(f"[bench] classroom baseline: p50 {baseline['p50'] * 1000:.2f} ms, p99 {baseline['p99'] * 1000:.2f} ms",
          flush=True)
    for n in sizes or SIZES:
        result = asyncio.run(_measure(n, seconds))
        print(f"[bench] classroom {n}: " + json.dumps({k: v for k, v in result.items() if k != "error_kinds"}),
              flush=True)
        rows += _rows(result, baseline)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_classroom", description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, action="append", help="class size (repeat for several)")
    parser.add_argument("--seconds", type=float, default=SECONDS, help=f"load duration (default {SECONDS:g})")
    args = parser.parse_args(argv)
    print_rows(run(args.participants, args.seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
