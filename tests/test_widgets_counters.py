"""Race in counter mode and CounterBoard, against a real server (and the board offline)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import kvnb
from kvnb.model.counters import CounterBoardModel

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def likes(nc: kvnb.client.NATS, bucket_name: str) -> AsyncIterator[kvnb.Counter]:
    counter = await kvnb.open_counter(bucket_name, fresh=True, nc=nc)
    yield counter
    await kvnb.delete_counter(bucket_name, nc=nc)


async def test_counter_race_is_exact_without_conflicts(likes: kvnb.Counter) -> None:
    await likes.add("hits", 7)  # a previous value: the race starts from 0 anyway
    race = kvnb.Race(likes, "hits", writers=4, increments=10)
    try:
        assert race.mode == "counter"
        result = await race.run()
        assert result.ok and result.final_value == result.successes == 40
        assert result.conflicts == 0 and result.mode == "counter" and result.seconds > 0 and result.rate > 0
        assert await likes.get("hits") == 40
        text = repr(race).splitlines()
        assert text[0] == f"Race('hits' on counter {likes.name!r}): 4 writers × 10 increments, server-side counter"
        assert "a server-side counter (the server adds): nothing lost: final value 40 = 40 increments" in text[1]
        assert "increments/s" in text[2]
        assert race.state["mode"] == "counter" and "increments/s" in race.state["speed"]
        assert "increments/s" in race._static_html()
    finally:
        await race.aclose()


async def test_cas_and_counter_races_run_side_by_side(kv: kvnb.KV, likes: kvnb.Counter) -> None:
    cas = kvnb.Race(kv, "hits", writers=4, increments=10)
    server_side = kvnb.Race(likes, "hits", writers=4, increments=10)
    try:
        a, b = await asyncio.gather(cas.run(), server_side.run())
        assert a.ok and b.ok and a.final_value == b.final_value == 40
        assert a.mode == "cas" and b.mode == "counter" and b.conflicts == 0
        assert not cas.closed and not server_side.closed  # different keys in the registry: both stay
    finally:
        await cas.aclose()
        await server_side.aclose()


async def test_counter_board_follows_the_totals(likes: kvnb.Counter) -> None:
    await likes.add("post.1", 3)
    await likes.add("post.2", 5)
    await likes.add("user.1", 9)
    board = kvnb.CounterBoard(likes, "post.*")
    try:
        await board.ready(10)
        board.refresh()
        assert [(r["key"], r["value"]) for r in board.rows] == [("post.2", "5"), ("post.1", "3")]
        await likes.add("post.1", 4)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not board.rows or board.rows[0]["key"] != "post.1":
            assert loop.time() < deadline, board.rows
            await asyncio.sleep(0.02)
        assert board.rows[0] == {"key": "post.1", "value": "7", "delta": 4, "rev": 4, "share": 1.0}
        assert "2 counters, sum 12" in repr(board)
        assert 'data-key="post.1"' in board._static_html()
        await board.stop()
        assert board.stopped and "last revision 4" in board.stopped_note()
    finally:
        board.close()


async def test_counter_board_needs_counters(kv: kvnb.KV) -> None:
    with pytest.raises(kvnb.InvalidInput, match="open_counter"):
        kvnb.CounterBoard(kv)  # type: ignore[arg-type]


def test_board_model_sorts_by_total_and_by_key() -> None:
    model = CounterBoardModel()
    model.add(kvnb.CounterEntry("c", "b", 2, 2, 1))
    model.add(kvnb.CounterEntry("c", "a", 5, 5, 2))
    model.add(kvnb.CounterEntry("c", "b", 1, -1, 3))
    model.add(kvnb.CounterEntry("c", "a", 4, -1, 1))  # older than what is known: ignored
    assert [(r["key"], r["value"]) for r in model.rows()] == [("a", "5"), ("b", "1")]
    assert [r["key"] for r in model.rows(by="key")] == ["a", "b"]
    assert model.total == 6 and model.last_revision == 3
    assert model.to_text() == ["a         5  (+5)", "b         1  (-1)"]
