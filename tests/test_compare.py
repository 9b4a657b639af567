"""NATS KV vs Redis: each scenario's outcome, on a real nats-server and a real redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

import kvnb
from kvnb import compare
from kvnb.compare import NATS, REDIS, REDIS_AOF, REDIS_DEFAULT
from kvnb.compare.history import VALUES
from kvnb.redis_server import INSTALL_HINT, RedisServer, launch_redis, redis_available

needs_redis = pytest.mark.skipif(not redis_available(), reason=f"redis-server is not installed: {INSTALL_HINT}")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    if not redis_available():
        pytest.skip(f"redis-server is not installed: {INSTALL_HINT}")
    server = launch_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=[False, True], ids=["bytes", "str"])
async def r(redis_server: RedisServer, request: pytest.FixtureRequest) -> AsyncIterator[object]:
    """A redis-py client answering bytes, then one answering str (decode_responses): scenarios take both."""
    client = redis_server.client(decode_responses=request.param)
    try:
        yield client
    finally:
        await client.aclose()


async def _leftovers(nc: kvnb.client.NATS, r: object) -> tuple[list[str], list[bytes]]:
    streams = [name for name in await nc.jetstream().streams_info() if name.config.name.startswith("KV_cmp_")]
    keys = [key async for key in r.scan_iter(match="cmp:*")]  # type: ignore[attr-defined]
    return [s.config.name for s in streams], keys


async def test_history_nats_keeps_revisions_redis_the_latest(nc: kvnb.client.NATS, r: object) -> None:
    result = await compare.history(r, nc=nc, values=("a", "b", "c", "d"), depth=3)
    assert result[NATS].kept == ["b", "c", "d"]  # history=3 keeps the last three
    assert result[REDIS].kept == ["d"]
    assert await _leftovers(nc, r) == ([], [])


async def test_away_subscriber_misses_writes_on_redis_not_on_nats(nc: kvnb.client.NATS, r: object) -> None:
    await r.config_set("notify-keyspace-events", "Eg")  # type: ignore[attr-defined]  # a setting of the user's
    result = await compare.watch_away(r, nc=nc, before=2, away=4, after=3)
    nats, redis = result[NATS], result[REDIS]
    assert nats.received_before == ["20.0", "20.5"]
    # resumed from the last revision seen: the 4 writes made while away, then the 3 after, in order, once each
    assert nats.received_after_return == ["21.0", "21.5", "22.0", "22.5", "23.0", "23.5", "24.0"]
    assert nats.missed == 0
    assert len(redis.received_before) == 2
    assert redis.received_after_return == ["set"] * 3  # only what happened after resubscribing
    assert redis.missed == 4
    assert "missed 0 of 9" in result.takeaway and "missed 4 of 9" in result.takeaway
    assert await _leftovers(nc, r) == ([], [])
    assert (await r.config_get("notify-keyspace-events"))["notify-keyspace-events"] == "gE"  # restored


async def test_racing_writers_reach_exactly_n_on_both(nc: kvnb.client.NATS, r: object) -> None:
    result = await compare.race(r, nc=nc, writers=8, increments=10)
    for system in (NATS, REDIS):
        outcome = result[system]
        assert outcome.expected == 80
        assert outcome.final == 80, f"{system} lost updates"
        assert outcome.lost_updates == 0
    assert "no update was lost" in result.takeaway


async def test_sigkill_loses_redis_default_writes_only() -> None:
    result = await compare.persistence(writes=50)
    nats, default, aof = result[NATS], result[REDIS_DEFAULT], result[REDIS_AOF]
    assert (nats.written, nats.after_restart) == (50, 50)  # file storage kept every acknowledged write
    assert default.unsaved_at_kill == 50  # no snapshot had been taken yet ...
    assert default.after_restart == 0  # ... so the SIGKILL lost them all
    assert (aof.written, aof.after_restart) == (50, 50)  # appendfsync always kept them


async def test_ttl_expires_on_both_and_subscribers_hear_it(nc: kvnb.client.NATS, r: object) -> None:
    result = await compare.ttl(r, nc=nc, seconds=1)
    for system in (NATS, REDIS):
        outcome = result[system]
        assert outcome.present_at_once
        assert outcome.gone_after is not None, f"{system} key still there"
        assert outcome.gone_after > 0.8  # not before its time (polled every 20 ms)
        assert outcome.expiry_event is not None
    assert "PURGE" in result[NATS].expiry_event
    assert "expired" in result[REDIS].expiry_event
    assert await _leftovers(nc, r) == ([], [])


async def test_throughput_is_measured_and_cleaned_up(nc: kvnb.client.NATS, r: object) -> None:
    result = await compare.throughput(r, nc=nc, n=200)
    for system in (NATS, REDIS):
        outcome = result[system]
        assert outcome.n == 200
        assert min(outcome.put_seconds, outcome.get_seconds, outcome.batch_put_seconds, outcome.batch_get_seconds) > 0
    assert await _leftovers(nc, r) == ([], [])


async def test_without_redis_the_redis_column_says_how_to_install(nc: kvnb.client.NATS) -> None:
    result = await compare.history(None, nc=nc)
    assert result[NATS].kept == list(VALUES)
    skipped = result[REDIS]
    assert isinstance(skipped, compare.Skipped)
    assert "apt-get install redis-server" in skipped.reason
    assert "apt-get install redis-server" in result._repr_html_()


def test_comparison_renders_both_columns_escaped() -> None:
    cmp = compare.Comparison("A <b>title</b>", (
        compare.HistoryResult(NATS, ["x"], ["x"], "how <1>"),
        compare.Skipped(REDIS, "not installed"),
    ), takeaway="t & t")
    page = cmp._repr_html_()
    assert "A &lt;b&gt;title&lt;/b&gt;" in page and "how &lt;1&gt;" in page and "t &amp; t" in page
    headers, rows = cmp.table()
    assert headers == [NATS, REDIS]
    assert rows[-1][0] == "how"  # the explanation comes last
    assert ("skipped", ["", "not installed"]) in rows
    with pytest.raises(KeyError, match="this comparison has"):
        cmp["Memcached"]
