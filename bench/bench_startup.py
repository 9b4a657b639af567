"""From "start a server" to the first acknowledged put: kvnb against nats-py's default connect path.

kvnb: ``kvnb.start_server()`` then ``open_bucket`` and ``put`` on the default connection.
Raw: spawn the same nats-server binary, call ``nats.connect()`` with its defaults at once, make
the bucket and put. nats-py's first attempt meets a port that is not listening yet and then
waits its ``reconnect_time_wait`` (2 s) before trying again; kvnb waits for the server's
ports file and log line instead.
"""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

import nats
from nats.js import api

import kvnb
from kvnb import _process
from kvnb.server import HOST, find_nats_server

from ._harness import ROUNDS, Row, median, print_rows, row, run_async

GROUP = "Start-up (lower is better)"


async def _kvnb_first_put() -> tuple[float, float]:
    """Seconds from start_server() to the first put acknowledged, and how much of it start_server() took."""
    t0 = time.perf_counter()
    server = kvnb.start_server(fresh=True)
    t1 = time.perf_counter()
    try:
        kv = await kvnb.open_bucket("first", history=1)
        await kv.put("hello", "world")
        t2 = time.perf_counter()
    finally:
        await kvnb.close_default_connection()
        server.stop()
    return t2 - t0, t1 - t0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


async def _silence(_err: BaseException) -> None:
    pass


async def _raw_first_put() -> float:
    """Seconds from spawning nats-server to the first put acknowledged through nats-py's defaults."""
    with tempfile.TemporaryDirectory(prefix="kvnb-bench-raw-") as store:
        port = _free_port()
        argv = [str(find_nats_server()), "--addr", HOST, "--port", str(port), "--jetstream", "--store_dir", store]
        t0 = time.perf_counter()
        proc = _process.spawn(argv, log_path=Path(store) / "server.log")
        try:
            # nats-py's defaults, as its docs show; error_cb only keeps its per-attempt tracebacks off the table
            nc = await nats.connect(f"nats://{HOST}:{port}", error_cb=_silence)
            try:
                js = nc.jetstream()
                kv = await js.create_key_value(api.KeyValueConfig(bucket="first", history=1))
                await kv.put("hello", b"world")
                elapsed = time.perf_counter() - t0
            finally:
                await nc.close()
        finally:
            _process.terminate(proc)
    return elapsed


async def _measure(rounds: int) -> list[Row]:
    kv_total: list[float] = []
    kv_spawn: list[float] = []
    raw_total: list[float] = []
    for _ in range(rounds):
        total, spawn = await _kvnb_first_put()
        kv_total.append(total)
        kv_spawn.append(spawn)
        raw_total.append(await _raw_first_put())
    after = [t - s for t, s in zip(kv_total, kv_spawn, strict=True)]
    raw_note = "raw: spawn nats-server, nats.connect() with its defaults (first attempt refused → 2 s wait)"
    return [
        # The goal: once the start call has returned, the first operation is quick. For raw
        # nats-py the start call (spawning the process) returns at once, before the server listens.
        row(GROUP, "first put after the start call returned", kvnb=median(after), raw=median(raw_total), unit="s",
            ratio=median([a / r for a, r in zip(after, raw_total, strict=True)]), max_abs=0.050,
            note=f"{rounds} rounds; kvnb: connect + open_bucket + put after start_server(); {raw_note}"),
        row(GROUP, "start server → first put acknowledged", kvnb=median(kv_total), raw=median(raw_total), unit="s",
            ratio=median([k / r for k, r in zip(kv_total, raw_total, strict=True)]),
            note=f"kvnb's start_server() itself: {median(kv_spawn) * 1000:.0f} ms (spawn, wait for ready)"),
    ]


def run(rounds: int = ROUNDS) -> list[Row]:
    """Measure and return the table rows."""
    return run_async(_measure, rounds)


if __name__ == "__main__":
    print_rows(run())
