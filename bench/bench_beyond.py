"""KV beyond nats-py: what atomic batches, counters and multi-pattern watches buy, against what nats-py offers.

- an atomic batch of 100 puts (kvnb) vs 100 awaited puts (nats-py's ``KeyValue.put``): goal ≤ 0.5× the time;
- 8 writers incrementing one key: kvnb's server-side counter vs compare-and-set with nats-py's
  ``KeyValue`` (get, update(last=), retry on a wrong-sequence error): goal ≥ 5× the throughput;
- one kvnb watch of two patterns vs two watches (one per pattern): events/s and server-side consumers.

All against one bundled server (file storage), in alternating pairs (see ``_harness.interleaved``).
"""

from __future__ import annotations

import asyncio
import time

import nats
import nats.js.errors
from nats.js import api

import kvnb
from kvnb.server import launch

from ._harness import ROUNDS, Row, interleaved, median, print_rows, quartiles, row, run_async

GROUP = "Beyond nats-py: batches, counters, multi-pattern watch"
BATCH = 100
VALUE = b"x" * 64
WRITERS, EACH = 8, 25
WATCH_EVENTS = 2000  # matched entries each watch variant delivers (plus as many unmatched)


async def _measure(rounds: int) -> list[Row]:
    with launch(name="kvnb-bench-beyond") as server:
        ncs = [await kvnb.connect(server.url) for _ in range(WRITERS)]
        raws = [await nats.connect(server.url) for _ in range(WRITERS)]
        try:
            return [await _batch(ncs[0], raws[0], rounds), *await _counters(ncs, raws, rounds),
                    *await _watch(ncs[0], rounds)]
        finally:
            for nc in ncs:
                await kvnb.client.close_connection(nc)
            for raw in raws:
                await raw.close()


async def _batch(nc: kvnb.client.NATS, raw_nc: nats.NATS, rounds: int) -> Row:
    kv = await kvnb.open_bucket("bench_batch", atomic=True, storage="file", nc=nc, fresh=True)
    js = raw_nc.jetstream()
    await js.create_key_value(api.KeyValueConfig(bucket="bench_puts", history=1, direct=True,
                                                 storage=api.StorageType.FILE))
    raw = await js.key_value("bench_puts")
    keys = [f"order.{i}" for i in range(BATCH)]

    async def batch() -> None:
        async with kv.batch() as b:
            for key in keys:
                b.put(key, VALUE)

    async def awaited_puts() -> None:
        for key in keys:
            await raw.put(key, VALUE)

    timing = await interleaved({"kvnb": batch, "raw": awaited_puts}, rounds=rounds)
    wall = timing["wall"]
    ratios = [k / r for k, r in zip(wall["kvnb"], wall["raw"], strict=True)]  # time: lower is better
    lo, hi = quartiles(ratios)
    return row(GROUP, f"{BATCH} puts: one atomic batch (kvnb) vs {BATCH} awaited puts (nats-py); time",
               kvnb=median(wall["kvnb"]), raw=median(wall["raw"]), unit="s", ratio=median(ratios), max_ratio=0.5,
               note=f"{len(ratios)} alternating pairs, middle half of ratios {lo:.2f}–{hi:.2f}; the batch is "
                    "all-or-nothing, the puts are not")


async def _counters(ncs: list[kvnb.client.NATS], raws: list[nats.NATS], rounds: int) -> list[Row]:
    counter = await kvnb.open_counter("bench_counter", nc=ncs[0], fresh=True)
    counters = [kvnb.Counter(nc, await nc.jetstream().stream_info("CTR_bench_counter")) for nc in ncs]
    js = raws[0].jetstream()
    await js.create_key_value(api.KeyValueConfig(bucket="bench_cas", history=1, direct=True,
                                                 storage=api.StorageType.FILE))
    buckets = [await raw.jetstream().key_value("bench_cas") for raw in raws]
    await buckets[0].put("hits", b"0")
    conflicts = [0]

    async def counter_writer(c: kvnb.Counter) -> None:
        for _ in range(EACH):
            await c.add("hits")

    async def cas_writer(bucket) -> None:  # type: ignore[no-untyped-def]
        for _ in range(EACH):
            while True:
                entry = await bucket.get("hits")
                try:
                    await bucket.update("hits", str(int(entry.value) + 1).encode(), last=entry.revision)
                    break
                except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.BadRequestError):
                    conflicts[0] += 1

    async def with_counter() -> None:
        await asyncio.gather(*(counter_writer(c) for c in counters))

    async def with_cas() -> None:
        await asyncio.gather(*(cas_writer(b) for b in buckets))

    pairs = 4  # a contended CAS round is slow: fewer pairs per round
    before_counter, before_cas = await counter.get("hits"), int((await buckets[0].get("hits")).value)
    timing = await interleaved({"kvnb": with_counter, "raw": with_cas}, rounds=rounds, pairs_per_round=pairs)
    runs = len(timing["wall"]["kvnb"]) + 1  # + the warm-up run
    total = WRITERS * EACH
    exact = (await counter.get("hits") - before_counter == runs * total
             and int((await buckets[0].get("hits")).value) - before_cas == runs * total)
    wall = timing["wall"]
    ratios = [r / k for k, r in zip(wall["kvnb"], wall["raw"], strict=True)]  # throughput: counter ÷ CAS
    lo, hi = quartiles(ratios)
    return [row(GROUP, f"{WRITERS} writers × {EACH} increments of one key: counter (kvnb) vs CAS (nats-py)",
                kvnb=total / median(wall["kvnb"]), raw=total / median(wall["raw"]), unit="ops/s",
                ratio=median(ratios), min_ratio=5,
                note=f"{len(ratios)} alternating pairs, middle half of ratios {lo:.2f}–{hi:.2f}; CAS retried "
                     f"{conflicts[0] / runs:.0f} conflicts per run; both totals exact: {'yes' if exact else 'NO'}")]


async def _watch(nc: kvnb.client.NATS, rounds: int) -> list[Row]:
    kv = await kvnb.open_bucket("bench_watch", history=1, storage="file", nc=nc, fresh=True)
    half = WATCH_EVENTS // 2
    await asyncio.gather(*(kv.put(f"orders.{i}", VALUE) for i in range(half)),
                         *(kv.put(f"users.{i}", VALUE) for i in range(half)),
                         *(kv.put(f"other.{i}", VALUE) for i in range(WATCH_EVENTS)))
    consumers: dict[str, int] = {}

    async def take(watch: kvnb.Watch, expected: int) -> None:
        n = 0
        async for _ in watch:
            n += 1
            if n == expected:
                return

    async def one_watch() -> None:
        async with kv.watch(["orders.*", "users.*"]) as watch:
            consumers["one"] = await _consumer_count(kv)
            await take(watch, WATCH_EVENTS)

    async def two_watches() -> None:
        async with kv.watch("orders.*") as orders, kv.watch("users.*") as users:
            consumers["two"] = await _consumer_count(kv)
            await asyncio.gather(take(orders, half), take(users, half))

    timing = await interleaved({"kvnb": one_watch, "raw": two_watches}, rounds=rounds, pairs_per_round=4)
    wall = timing["wall"]
    ratios = [r / k for k, r in zip(wall["kvnb"], wall["raw"], strict=True)]
    lo, hi = quartiles(ratios)
    return [
        row(GROUP, f"watch of {WATCH_EVENTS} entries on 2 patterns: one watch vs two (both kvnb); events/s",
            kvnb=WATCH_EVENTS / median(wall["kvnb"]), raw=WATCH_EVENTS / median(wall["raw"]), unit="events/s",
            ratio=median(ratios), min_ratio=0.8,
            note=f"{len(ratios)} alternating pairs, middle half of ratios {lo:.2f}–{hi:.2f}; "
                 f"{WATCH_EVENTS} unmatched entries in between; the baseline column is two kvnb watches "
                 "(nats-py's watcher takes one pattern)"),
        row(GROUP, "server-side consumers while watching 2 patterns: one watch vs two", kvnb=consumers["one"],
            raw=consumers["two"], unit="", max_ratio=0.5,
            note="counted on the stream while each variant runs"),
    ]


async def _consumer_count(kv: kvnb.KV) -> int:
    return (await kv.js.stream_info(f"KV_{kv.name}")).state.consumer_count


def run(rounds: int = ROUNDS) -> list[Row]:
    """Measure and return the table rows."""
    return run_async(_measure, rounds)


if __name__ == "__main__":
    started = time.perf_counter()
    print_rows(run())
    print(f"{time.perf_counter() - started:.0f} s")
