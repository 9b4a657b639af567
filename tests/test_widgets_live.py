"""Live widgets against a real nats-server: WatchFeed, Timeline, BucketTable; closing and re-creating."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import kvnb

BOUND = 10.0  # seconds for updates that take milliseconds: generous for a loaded machine


async def until(condition: Callable[[], bool], timeout: float = BOUND) -> None:
    """Wait (bounded) until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def consumers(kv: kvnb.KV) -> int:
    return (await kv.js.stream_info(f"KV_{kv.name}")).state.consumer_count


async def until_consumers(kv: kvnb.KV, n: int, timeout: float = BOUND) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (found := await consumers(kv)) != n:
        assert loop.time() < deadline, f"{found} consumers, expected {n}"
        await asyncio.sleep(0.05)


def event_rows(feed: kvnb.WatchFeed) -> list[tuple[str, int, str]]:
    return [(r["key"], r["rev"], r["op"]) for r in feed.rows if r["k"] == "e"]


async def test_feed_shows_initial_values_the_caught_up_moment_and_live_writes(kv: kvnb.KV, nats_server: Any) -> None:
    await kv.put("a", "1")
    await kv.put("b", "2")
    await kv.put("a", "3")
    feed = kvnb.WatchFeed(kv)
    try:
        await feed.ready()
        assert feed.caught_up and [r["k"] for r in feed.rows] == ["c", "e", "e"]
        assert event_rows(feed) == [("a", 3, "PUT"), ("b", 2, "PUT")]
        writer = await kvnb.connect(nats_server.url)  # a separate client, like another program
        try:
            other = await kvnb.open_bucket(kv.name, nc=writer)
            await other.put("c", "4")
            await other.delete("b")
        finally:
            await writer.close()
        await until(lambda: feed.model.events == 4)
        assert event_rows(feed)[:2] == [("b", 5, "DEL"), ("c", 4, "PUT")]
        assert repr(feed).splitlines()[0] == f"WatchFeed('>' on {kv.name!r}): 4 events, caught up"
    finally:
        await feed.aclose()


async def test_feed_replaying_history_shows_revisions_no_longer_kept(nc: Any, bucket_name: str) -> None:
    kv = await kvnb.open_bucket(bucket_name, history=1, nc=nc, fresh=True)
    try:
        for i in range(5):
            await kv.put("a", str(i))  # history 1: revisions 1-4 are superseded and dropped
        await kv.put("b", "x")
        feed = kvnb.WatchFeed(kv, include_history=True)
        try:
            await feed.ready()
            kinds = [(r["k"], r.get("rev") or (r["first"], r["last"])) for r in feed.rows]
            assert kinds == [("c", 6), ("e", 6), ("e", 5), ("g", (1, 4))]
            assert "revisions 1–4 not seen (4): no longer kept" in feed.rows[-1]["text"]
        finally:
            await feed.aclose()
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


async def test_feed_ignore_deletes_hides_markers(kv: kvnb.KV) -> None:
    feed = kvnb.WatchFeed(kv, ignore_deletes=True)
    try:
        await feed.ready()
        await kv.put("a", "1")
        await kv.delete("a")
        await kv.put("a", "2")
        await until(lambda: feed.model.events == 3)
        assert event_rows(feed) == [("a", 3, "PUT"), ("a", 1, "PUT")]
        assert feed.model.gaps == 0 and feed.model.hidden == 1
    finally:
        await feed.aclose()


async def test_close_stops_the_watch_and_deletes_its_consumer(kv: kvnb.KV) -> None:
    feed = kvnb.WatchFeed(kv, "orders.>")
    await feed.ready()
    assert await consumers(kv) == 1
    feed.close()  # sync, as from a notebook cell
    await until_consumers(kv, 0)
    assert feed.closed and feed._watch is not None and feed._watch.stopped


async def test_recreating_a_widget_closes_the_previous_ones_watch(kv: kvnb.KV) -> None:
    first = kvnb.WatchFeed(kv, ">")
    await first.ready()
    second = kvnb.WatchFeed(kv, ">")  # re-running the cell
    other = kvnb.WatchFeed(kv, "a.>")  # another pattern is another widget
    try:
        await second.ready()
        await other.ready()
        assert first.closed and not second.closed and not other.closed
        await until_consumers(kv, 2)
    finally:
        await second.aclose()
        await other.aclose()
    await until_consumers(kv, 0)


async def test_a_server_error_shows_in_the_widget(nc: Any, bucket_name: str) -> None:
    kv = await kvnb.open_bucket(bucket_name, nc=nc, fresh=True)
    await kvnb.delete_bucket(bucket_name, nc=nc)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    try:
        for widget in (kvnb.WatchFeed(kv), kvnb.Timeline(kv), kvnb.BucketTable(kv), kvnb.TimeTravel(kv)):
            await widget.ready()
            assert "does not exist" in widget.error or "no bucket" in widget.error, widget.error
            assert repr(widget).splitlines()[1].startswith("error: ")
            assert "kvnb-error" in widget._repr_html_()
            await widget.aclose()
        await asyncio.sleep(0.05)
    finally:
        loop.set_exception_handler(None)
    assert unhandled == []


async def test_timeline_live_marks_and_gone_revisions(kv: kvnb.KV) -> None:
    small = await kvnb.open_bucket(kv.name + "_h2", history=2, nc=kv.nc, fresh=True)
    try:
        await small.put("a", "1")
        await small.put("b", "2")
        tl = kvnb.Timeline(small)
        try:
            await tl.ready()
            assert tl.model.to_text() == ["a  P1", "b  P2"]
            await small.put("a", "3")
            await small.put("a", "4")  # history 2: revision 1 is gone now
            await small.purge("b")  # and 2, by the purge
            await until(lambda: tl.model.last_revision == 5)
            assert tl.model.to_text() == ["a  (P1) P3 P4", "b  (P2) X5"]
            first = repr(tl).splitlines()[0]
            assert first == f"Timeline('>' on {small.name!r}): 2 keys, revisions 1..5, history 2, 2 no longer kept"
        finally:
            await tl.aclose()
    finally:
        await kvnb.delete_bucket(small.name, nc=kv.nc)


async def test_table_updates_live_and_toggles_deleted_keys(kv: kvnb.KV) -> None:
    await kv.put("a", "1")
    await kv.put("b", "2")
    table = kvnb.BucketTable(kv)
    try:
        await table.ready()
        assert [(r["key"], r["value"]) for r in table.rows] == [("a", "1"), ("b", "2")]
        await kv.delete("b")
        await kv.put("c", "3")
        await until(lambda: [r["key"] for r in table.rows] == ["a", "c"])
        table.show_deleted = True  # the toggle
        await until(lambda: len(table.rows) == 3)
        assert [(r["key"], r["deleted"], r["rev"]) for r in table.rows][1] == ("b", True, 3)
        assert repr(table).splitlines()[0] == (f"BucketTable({kv.name!r}): 2 keys, 1 deleted (shown greyed), "
                                               "last revision 4")
    finally:
        await table.aclose()


async def test_a_lost_server_shows_in_the_widget_and_the_feed_resumes(bucket_name: str) -> None:
    from kvnb.server import launch

    with launch(name="kvnb-widget-fault") as server:
        nc = await kvnb.connect(server.url)
        try:
            kv = await kvnb.open_bucket(bucket_name, history=10, nc=nc)
            await kv.put("a", "1")
            feed = kvnb.WatchFeed(kv)
            try:
                await feed.ready()
                server.kill()
                await until(lambda: "connection" in feed.error)  # the widget looks once a second
                server.restart()
                await until(lambda: feed.error == "", timeout=2 * BOUND)
                await kv.put("a", "2")
                await until(lambda: feed.model.events == 2)
                assert event_rows(feed)[0] == ("a", 2, "PUT") and feed.model.gaps == 0
            finally:
                await feed.aclose()
        finally:
            await kvnb.client.close_connection(nc)


async def test_widgets_need_a_running_loop_and_accept_the_sync_facade(kv: kvnb.KV) -> None:
    import threading

    from kvnb.sync import SyncKV

    raised: list[BaseException] = []

    def make_without_a_loop() -> None:
        try:
            kvnb.WatchFeed(kv)
        except BaseException as err:
            raised.append(err)

    thread = threading.Thread(target=make_without_a_loop)
    thread.start()
    thread.join()
    assert len(raised) == 1 and isinstance(raised[0], kvnb.InvalidInput) and "running event loop" in str(raised[0])
    feed = kvnb.WatchFeed(SyncKV(kv))  # the blocking facade's bucket works too
    try:
        await feed.ready()
        assert feed.kv is kv and feed.caught_up
    finally:
        await feed.aclose()


def gone_marks(tl: kvnb.Timeline) -> dict[int, str]:
    return {m.revision: m.gone for m in tl.model.marks() if m.gone}


async def test_purge_deletes_turns_marks_gone_and_empties_tombstones(kv: kvnb.KV) -> None:
    """The watch never hears of purge_deletes: the widgets learn it from the stream's per-key counts."""
    for value in ("1", "2", "3"):
        await kv.put("carol", value)
    await kv.delete("carol")  # revision 4
    await kv.put("dave", "x")
    await kv.purge("dave")  # revision 6: dave's 5 is removed by the purge itself
    await kv.put("erin", "e")  # revision 7
    tl = kvnb.Timeline(kv)
    table = kvnb.BucketTable(kv, show_deleted=True)
    tt = kvnb.TimeTravel(kv)
    try:
        await tl.ready()
        await table.ready()
        await tt.ready()
        await until(lambda: tl.kept is not None and tl.kept.requests > 0)  # the poller is running
        assert gone_marks(tl) == {} and list(tl.model.gaps) == [(5, 5)]  # 5 was never there to see
        assert [r["key"] for r in table.rows] == ["carol", "dave", "erin"]
        assert [r["key"] for r in tt.view["rows"]] == ["carol", "dave", "erin"]
        started = asyncio.get_running_loop().time()
        await kv.purge_deletes()
        await until(lambda: gone_marks(tl) == {1: "removed", 2: "removed", 3: "removed", 4: "removed", 6: "removed"})
        await until(lambda: [r["key"] for r in table.rows] == ["erin"])
        await until(lambda: [r["key"] for r in tt.view["rows"]] == ["erin"])
        assert tl.model.lane("erin").n_gone == 0  # what the stream still holds stays
        assert "5 no longer kept" in repr(tl).splitlines()[0]
        html = tl._repr_html_()
        assert 'data-revision="4" data-op="DEL" data-gone="removed"' in html
        # about one request a second: a look (and a count only after a removal)
        elapsed = asyncio.get_running_loop().time() - started
        assert tl.kept.count_requests <= tl.kept.requests <= 2 * (elapsed + 2)
    finally:
        for widget in (tl, table, tt):
            await widget.aclose()


async def test_expired_values_turn_gone(nc: kvnb.client.NATS, bucket_name: str) -> None:
    kv = await kvnb.open_bucket(bucket_name, history=5, ttl=1, nc=nc, fresh=True)
    tl = kvnb.Timeline(kv)
    table = kvnb.BucketTable(kv)
    try:
        await tl.ready()
        await table.ready()
        rev = await kv.put("short", "lived")
        await until(lambda: [r["key"] for r in table.rows] == ["short"])
        await until(lambda: gone_marks(tl) == {rev: "removed"})  # expired after 1 s, seen within a poll
        await until(lambda: table.rows == [])
    finally:
        await tl.aclose()
        await table.aclose()
        await kvnb.delete_bucket(bucket_name, nc=nc)


async def test_a_binary_value_is_shown_as_bytes_in_every_widget(kv: kvnb.KV) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(1016)
    await kv.put("logo.png", png)
    feed = kvnb.WatchFeed(kv)
    table = kvnb.BucketTable(kv)
    tl = kvnb.Timeline(kv)
    tt = kvnb.TimeTravel(kv)
    try:
        for widget in (feed, table, tl, tt):
            await widget.ready()
        expected = "<1,024 bytes: 89 50 4e 47 0d 0a 1a 0a …>"
        assert [r["v"] for r in feed.rows if r["k"] == "e"] == [expected]
        assert table.rows[0]["shown"] == expected and tt.view["rows"][0]["shown"] == expected
        assert tl.model.marks()[0].value == expected
        for widget in (feed, table, tl, tt):
            html = widget._repr_html_()
            assert expected.replace("<", "&lt;").replace(">", "&gt;") in html, type(widget).__name__
            assert "\ufffd" not in html and "PNG" not in html
    finally:
        for widget in (feed, table, tl, tt):
            await widget.aclose()
