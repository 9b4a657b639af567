"""kvnb's KV operations against nats-py's ``KeyValue``: put, get and update, sequential and 500 at once.

Both sides run against one bundled server, each on its own connection, each on its own
bucket made with the same settings (file storage, history 1, direct get), so the only
difference measured is the Python layer kvnb adds (validation, encoding, error mapping).
"""

from __future__ import annotations

import asyncio

import nats
from nats.js import api

import kvnb
from kvnb.server import launch

from ._harness import ROUNDS, Row, interleaved, median, print_rows, row, run_async, throughput_row

GROUP = "KV operations (ops/s, higher is better)"
SEQ_OPS = 100  # per timed chunk
CONCURRENCY = 500
KEYS = [f"bench.key{i}" for i in range(CONCURRENCY)]
VALUE = b"x" * 64


async def _measure(rounds: int) -> list[Row]:
    with launch(name="kvnb-bench") as server:
        raw_nc = await nats.connect(server.url)
        kv_nc = await kvnb.connect(server.url)
        try:
            js = raw_nc.jetstream()
            # names of equal length: nats-py scans the stream name on every get, and it is in every subject
            for bucket in ("bench_nats", "bench_kvnb"):
                await js.create_key_value(api.KeyValueConfig(bucket=bucket, history=1, direct=True,
                                                             storage=api.StorageType.FILE))
            raw = await js.key_value("bench_nats")
            kv = await kvnb.open_bucket("bench_kvnb", nc=kv_nc)
            return await _workloads(raw, kv, rounds)
        finally:
            await raw_nc.close()
            await kv_nc.close()


async def _workloads(raw, kv: kvnb.KV, rounds: int) -> list[Row]:  # type: ignore[no-untyped-def]
    rows: list[Row] = []
    one = KEYS[0]

    # --- put ---
    async def raw_put_seq() -> None:
        for _ in range(SEQ_OPS):
            await raw.put(one, VALUE)

    async def kv_put_seq() -> None:
        for _ in range(SEQ_OPS):
            await kv.put(one, VALUE)

    async def raw_put_conc() -> None:
        await asyncio.gather(*(raw.put(k, VALUE) for k in KEYS))

    async def kv_put_conc() -> None:
        await asyncio.gather(*(kv.put(k, VALUE) for k in KEYS))

    # warm up both sides (connections, server-side stream files, Python caches)
    await raw_put_conc()
    await kv_put_conc()
    timing = await interleaved({"kvnb": kv_put_seq, "raw": raw_put_seq}, rounds=rounds)
    rows.append(throughput_row(GROUP, "put, sequential", timing, SEQ_OPS))
    timing = await interleaved({"kvnb": kv_put_conc, "raw": raw_put_conc}, rounds=rounds)
    rows.append(throughput_row(GROUP, f"put, {CONCURRENCY} concurrent", timing, CONCURRENCY))
    # A/A calibration: nats-py against itself (a second connection and bucket) shows the noise floor
    raw_twin = await raw_twin_bucket(kv)

    async def twin_put_conc() -> None:
        await asyncio.gather(*(raw_twin.put(k, VALUE) for k in KEYS))

    await twin_put_conc()
    timing = await interleaved({"kvnb": twin_put_conc, "raw": raw_put_conc}, rounds=rounds)
    calibration = throughput_row(GROUP, f"put, {CONCURRENCY} concurrent: nats-py vs nats-py (A/A noise floor)",
                                 timing, CONCURRENCY, min_ratio=None)
    calibration["note"] = "both columns are raw nats-py (two connections, two buckets); " + calibration["note"]
    rows.append(calibration)

    # --- get ---
    async def raw_get_seq() -> None:
        for _ in range(SEQ_OPS):
            await raw.get(one)

    async def kv_get_seq() -> None:
        for _ in range(SEQ_OPS):
            await kv.get(one)

    async def raw_get_conc() -> None:
        await asyncio.gather(*(raw.get(k) for k in KEYS))

    async def kv_get_conc() -> None:
        await asyncio.gather(*(kv.get(k) for k in KEYS))

    timing = await interleaved({"kvnb": kv_get_seq, "raw": raw_get_seq}, rounds=rounds)
    rows.append(throughput_row(GROUP, "get, sequential", timing, SEQ_OPS))
    timing = await interleaved({"kvnb": kv_get_conc, "raw": raw_get_conc}, rounds=rounds)
    rows.append(throughput_row(GROUP, f"get, {CONCURRENCY} concurrent", timing, CONCURRENCY))

    # --- update (compare-and-set on the revision each side last wrote) ---
    raw_last = {k: (await raw.get(k)).revision for k in KEYS}
    kv_last = {k: (await kv.get(k)).revision for k in KEYS}

    async def raw_update_seq() -> None:
        for _ in range(SEQ_OPS):
            raw_last[one] = await raw.update(one, VALUE, last=raw_last[one])

    async def kv_update_seq() -> None:
        for _ in range(SEQ_OPS):
            kv_last[one] = await kv.update(one, VALUE, last=kv_last[one])

    async def raw_update_conc() -> None:
        revs = await asyncio.gather(*(raw.update(k, VALUE, last=raw_last[k]) for k in KEYS))
        raw_last.update(zip(KEYS, revs, strict=True))

    async def kv_update_conc() -> None:
        revs = await asyncio.gather(*(kv.update(k, VALUE, last=kv_last[k]) for k in KEYS))
        kv_last.update(zip(KEYS, revs, strict=True))

    timing = await interleaved({"kvnb": kv_update_seq, "raw": raw_update_seq}, rounds=rounds)
    rows.append(throughput_row(GROUP, "update (CAS), sequential", timing, SEQ_OPS))
    timing = await interleaved({"kvnb": kv_update_conc, "raw": raw_update_conc}, rounds=rounds)
    rows.append(throughput_row(GROUP, f"update (CAS), {CONCURRENCY} concurrent", timing, CONCURRENCY))
    rows.append(await _client_side_put(raw, kv, rounds))
    return rows


async def raw_twin_bucket(kv: kvnb.KV):  # type: ignore[no-untyped-def]
    """nats-py's KeyValue on kvnb's connection, on a bucket made like the others (for the A/A row)."""
    js = kv.nc.jetstream()
    await js.create_key_value(api.KeyValueConfig(bucket="bench_twin", history=1, direct=True,
                                                 storage=api.StorageType.FILE))
    return await js.key_value("bench_twin")


class _Ack:
    seq = 1


async def _no_network(subject: str, payload: bytes = b"", timeout: float | None = None, stream: str | None = None,
                      headers: dict[str, str] | None = None, msg_ttl: float | None = None) -> _Ack:
    return _Ack()


async def _client_side_put(raw, kv: kvnb.KV, rounds: int) -> Row:  # type: ignore[no-untyped-def]
    """What each library does per put before and after the network: JetStream publish replaced by a stub.

    Without the server and the socket in the way this is steady even on a busy machine, and the
    difference is exactly the work kvnb adds (key rule check, value encoding and size check, the
    restart check, error mapping).
    """
    n = 2000
    key = KEYS[1]

    async def kv_puts() -> None:
        for _ in range(n):
            await kv.put(key, VALUE)

    async def raw_puts() -> None:
        for _ in range(n):
            await raw.put(key, VALUE)

    kv.js.publish = _no_network  # type: ignore[method-assign]
    raw._js.publish = _no_network
    try:
        timing = await interleaved({"kvnb": kv_puts, "raw": raw_puts}, rounds=rounds, pairs_per_round=4)
    finally:
        del kv.js.publish
        del raw._js.publish
    kv_us, raw_us = (median(timing["cpu"][side]) / n * 1e6 for side in ("kvnb", "raw"))
    ratios = [k / r for k, r in zip(timing["cpu"]["kvnb"], timing["cpu"]["raw"], strict=True)]
    return row(GROUP, "put, client-side CPU per call (network stubbed; lower is better)", kvnb=kv_us, raw=raw_us,
               unit="µs", ratio=median(ratios),
               note=f"kvnb adds {kv_us - raw_us:.1f} µs per put: key rule check, value encoding and size check, "
                    "restart check, permission-guard registration")


def run(rounds: int = ROUNDS) -> list[Row]:
    """Measure and return the table rows."""
    return run_async(_measure, rounds)


if __name__ == "__main__":
    print_rows(run())
