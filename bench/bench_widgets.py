"""The widgets under load: feed ingest vs a raw nats-py watcher, front-end syncs, memory, Timeline render.

- **feed ingest, replay**: 20,000 puts are in the bucket; a :class:`kvnb.WatchFeed` and a raw
  nats-py watcher (``watchall(include_history=True)``) each read all of them, alternating,
  from start to "caught up". Ratio kvnb ÷ raw of the seconds (goal ≤ 1.10).
- **feed during a live burst**: both are attached and caught up; another connection puts 20,000
  values as fast as it can; the time until each has seen the last revision (goal ≤ 1.10), and
  the feed's messages to the front end per second meanwhile (goal ≤ 20) with their bytes/s.
- **memory**: 1,000,000 synthetic events fed to an offline WatchFeed (and to a Timeline) on a
  running loop, refreshes included; the traced peak of Python memory (bounded: the ring).
- **Timeline render**: 50 keys × 64 revisions into a Timeline, its snapshot serialized as the
  kernel would (model + JSON), goal ≤ 50 ms.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import nats

import kvnb
from kvnb.model import event
from kvnb.server import launch

from ._harness import ROUNDS, Row, median, print_rows, row, run_async

GROUP = "Widgets"
BURST = 20_000
KEYS = 400  # the burst spreads over this many keys: 50 revisions each, all kept with history 64
BATCH = 500  # puts in flight at once
SYNTHETIC = 1_000_000
TL_KEYS, TL_REVS = 50, 64


class CommMeter:
    """Counts what a widget sends through its comm (messages and JSON bytes)."""

    def __init__(self, widget: Any) -> None:
        self.messages = 0
        self.bytes = 0
        original = widget.comm.send

        def send(data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
            self.messages += 1
            self.bytes += len(json.dumps(data, separators=(",", ":")))
            original(data=data, metadata=metadata, buffers=buffers)

        widget.comm.send = send


async def _burst(kv: kvnb.KV, n: int = BURST) -> None:
    value = b"v" * 32
    for start in range(0, n, BATCH):
        await asyncio.gather(*(kv.put(f"k{i % KEYS}", value) for i in range(start, min(n, start + BATCH))))


# --- feed ingest: replay ----------------------------------------------------------------------

async def _replay(url: str, rounds: int) -> Row:
    writer = await kvnb.connect(url)
    raw_nc = await nats.connect(url)
    try:
        kv = await kvnb.open_bucket("bench_feed_replay", history=64, storage="memory", nc=writer, fresh=True)
        await _burst(kv)
        raw = await raw_nc.jetstream().key_value("bench_feed_replay")

        async def kvnb_side() -> None:
            feed = kvnb.WatchFeed(kv, include_history=True)
            await feed.ready(timeout=120)
            assert feed.model.events == BURST, feed.model.events
            await feed.aclose()

        async def raw_side() -> None:
            watcher = await raw.watchall(include_history=True, inactive_threshold=5)
            seen = 0
            async for entry in watcher:
                if entry is None:
                    break
                seen += 1
            assert seen == BURST, seen
            await watcher.stop()

        await kvnb_side()  # warm up both
        await raw_side()
        wall: dict[str, list[float]] = {"kvnb": [], "raw": []}
        cpu: dict[str, list[float]] = {"kvnb": [], "raw": []}
        sides = {"kvnb": kvnb_side, "raw": raw_side}
        for pair in range(rounds * 2):  # back-to-back pairs, alternating who goes first
            gc.collect()
            for name in ("kvnb", "raw") if pair % 2 == 0 else ("raw", "kvnb"):
                c0, t0 = time.process_time(), time.perf_counter()
                await sides[name]()
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
        await kvnb.delete_bucket("bench_feed_replay", nc=writer)
    finally:
        await raw_nc.close()
        await writer.close()
    ratios = sorted(k / r for k, r in zip(wall["kvnb"], wall["raw"], strict=True))  # time kvnb ÷ time raw
    cpu_k, cpu_r = (median(cpu[side]) / BURST * 1e6 for side in ("kvnb", "raw"))
    return row(GROUP, f"WatchFeed ingest of a {BURST:,}-revision replay: time ÷ raw nats-py watcher",
               kvnb=BURST / median(wall["kvnb"]), raw=BURST / median(wall["raw"]), unit="ev/s",
               ratio=median(ratios), max_ratio=1.10,
               note=f"watch + model + refreshes to caught up vs watchall(include_history=True); {len(ratios)} "
                    f"alternating pairs, ratios {ratios[0]:.2f}–{ratios[-1]:.2f}; client CPU per event: "
                    f"kvnb {cpu_k:.1f} µs, raw {cpu_r:.1f} µs")


# --- feed during a live burst -------------------------------------------------------------------

async def _live(url: str, rounds: int) -> list[Row]:
    writer = await kvnb.connect(url)
    reader = await kvnb.connect(url)
    raw_nc = await nats.connect(url)
    lags, syncs, rates = [], [], []
    try:
        for _ in range(rounds):
            kv = await kvnb.open_bucket("bench_feed_live", history=64, storage="memory", nc=writer, fresh=True)
            kv_reader = await kvnb.open_bucket("bench_feed_live", nc=reader)
            raw = await raw_nc.jetstream().key_value("bench_feed_live")
            feed = kvnb.WatchFeed(kv_reader)
            meter = CommMeter(feed)
            await feed.ready()
            raw_seen = 0
            watcher = await raw.watchall(inactive_threshold=5)

            async def raw_loop(watcher: Any = watcher) -> None:
                nonlocal raw_seen
                async for entry in watcher:
                    if entry is not None:
                        raw_seen = entry.revision

            raw_task = asyncio.create_task(raw_loop())
            await asyncio.sleep(0.1)
            target = BURST
            done: dict[str, float] = {}
            messages0, bytes0 = meter.messages, meter.bytes
            t0 = time.perf_counter()
            burst = asyncio.create_task(_burst(kv))
            deadline = t0 + 120
            while len(done) < 2 and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                if "kvnb" not in done and feed.model.last_revision >= target:
                    done["kvnb"] = now - t0
                    messages, sent_bytes = meter.messages - messages0, meter.bytes - bytes0
                if "raw" not in done and raw_seen >= target:
                    done["raw"] = now - t0
            await burst
            assert len(done) == 2, f"not all revisions seen: kvnb {feed.model.last_revision}, raw {raw_seen}"
            lags.append(done["kvnb"] / done["raw"])
            syncs.append(messages / done["kvnb"])
            rates.append(sent_bytes / done["kvnb"])
            assert feed.model.gaps == 0, "history 64 keeps every revision: no gap expected"
            raw_task.cancel()
            await watcher.stop()
            await feed.aclose()
            await kvnb.delete_bucket("bench_feed_live", nc=writer)
    finally:
        await raw_nc.close()
        await reader.close()
        await writer.close()
    return [
        row(GROUP, f"WatchFeed during a live {BURST:,}-put burst: time to see the last put (ratio)",
            kvnb=None, raw=None, unit="", ratio=median(lags), max_ratio=1.10,
            note=f"kvnb ÷ raw nats-py watcher, both attached; {rounds} rounds, {min(lags):.2f}–{max(lags):.2f}"),
        row(GROUP, "WatchFeed front-end messages per second during the burst", kvnb=median(syncs), raw=None,
            unit="msg/s", max_abs=20.0,
            note=f"max {max(syncs):.1f}; {median(rates) / 1024:.0f} KiB/s sent (JSON), ring of 200 rows"),
    ]


# --- memory -------------------------------------------------------------------------------------

def _rss() -> int | None:
    """This process's resident memory in bytes (Linux), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _synthetic(n: int) -> Iterator[Any]:
    created = datetime.now(UTC)
    for r in range(1, n + 1):
        yield event(f"k{r % 1000}", r, f"value-{r}", created=created, delta=0)


async def _memory() -> list[Row]:
    rows: list[Row] = []
    for name, make in (("WatchFeed", lambda: kvnb.WatchFeed(max_rows=200)),
                       ("Timeline", lambda: kvnb.Timeline(history=64, max_keys=100))):
        widget = make()
        meter = CommMeter(widget)
        source = _synthetic(SYNTHETIC)
        widget.feed(itertools.islice(source, 50_000))  # warm up: the ring / lanes are full
        await asyncio.sleep(0.1)
        gc.collect()
        base = peak = _rss() or 0
        t0 = time.perf_counter()
        while chunk := list(itertools.islice(source, 10_000)):
            widget.feed(chunk)
            await asyncio.sleep(0)  # a burst arrives over loop turns: refreshes run meanwhile
            peak = max(peak, _rss() or 0)
        elapsed = time.perf_counter() - t0
        widget.close()
        rows.append(row(GROUP, f"{name}: resident memory growth over {SYNTHETIC:,} events", kvnb=(peak - base) / 2**20,
                        raw=None, unit="MiB", max_abs=20.0,
                        note=f"peak RSS while feeding 10k-event chunks (a chunk in flight included); "
                             f"{meter.messages} front-end messages; {SYNTHETIC / elapsed:,.0f} ev/s incl. making "
                             "the events"))
    return rows


# --- Timeline render ------------------------------------------------------------------------------

async def _timeline_render(rounds: int) -> list[Row]:
    created = datetime.now(UTC)
    events = [event(f"sensor{r % TL_KEYS:02d}.temp", r, f"{20 + r % 7}.{r % 10}", created=created, delta=0)
              for r in range(1, TL_KEYS * TL_REVS + 1)]
    times, sizes, delta_sizes = [], [], []
    for _ in range(max(3, rounds * 3)):
        tl = kvnb.Timeline(history=64, max_revisions=TL_REVS)
        gc.collect()
        t0 = time.perf_counter()
        tl.model.extend(events)
        payload = json.dumps({"type": "snapshot", "seq": 1, "data": tl._snapshot()}, separators=(",", ":"))
        times.append(time.perf_counter() - t0)
        sizes.append(len(payload))
        tl.model.add(event("sensor00.temp", TL_KEYS * TL_REVS + 1, "21.5"))
        delta_sizes.append(len(json.dumps(tl.model.take_delta(), separators=(",", ":"))))
        tl.close()
    return [row(GROUP, f"Timeline {TL_KEYS} keys × {TL_REVS} revisions: model + JSON snapshot", kvnb=median(times),
                raw=None, unit="s", max_abs=0.050,
                note=f"snapshot {median(sizes) / 1024:.0f} KiB once; then one new mark is a "
                     f"{median(delta_sizes)} B delta")]


async def _measure(rounds: int) -> list[Row]:
    rows: list[Row] = []
    rows += await _timeline_render(rounds)
    rows += await _memory()
    with launch(name="kvnb-bench-widgets") as server:
        rows.append(await _replay(server.url, rounds))
        rows += await _live(server.url, max(1, rounds // 2 + 1))
    return rows


def run(rounds: int = ROUNDS) -> list[Row]:
    """Measure and return the table rows."""
    return run_async(_measure, rounds)


if __name__ == "__main__":
    print_rows(run())
