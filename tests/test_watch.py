"""kvnb.Watch: kvnb's own resumable watcher, against real nats-servers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from _helpers import server_without_jetstream

import kvnb
from kvnb.client import NATS
from kvnb.server import launch
from kvnb.watch import CAUGHT_UP, INACTIVE_THRESHOLD, Watch

TIMEOUT = 10.0  # a bound for things that take milliseconds; failing tests fail instead of hanging
HEARTBEAT_SILENCE = 3.0  # seconds of missed heartbeats after which a watch gives a lost consumer up


async def until(condition: Callable[[], bool], timeout: float = TIMEOUT, what: str = "condition") -> None:
    """Poll ``condition()`` until it holds; an AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.01)


async def take(stream: AsyncIterator[object], n: int, timeout: float = TIMEOUT) -> list[object]:
    """The next ``n`` items of ``stream``, or a TimeoutError."""

    async def collect() -> list[object]:
        return [await anext(stream) for _ in range(n)]

    return await asyncio.wait_for(collect(), timeout)


def shown(items: list[object]) -> list[object]:
    return [item if item is CAUGHT_UP else (item.key, item.operation) for item in items]  # type: ignore[attr-defined]


async def consumer_count(kv: kvnb.KV) -> int:
    return (await kv.js.stream_info(f"KV_{kv.name}")).state.consumer_count


async def test_does_not_end_at_the_initial_marker(kv: kvnb.KV) -> None:
    async with kv.watch() as watch:
        entries = aiter(watch)
        await watch.wait_caught_up(TIMEOUT)
        await kv.put("later", "1")
        got = await take(entries, 1)
    assert shown(got) == [("later", "PUT")]


async def test_caught_up_comes_in_order(kv: kvnb.KV) -> None:
    await kv.put("a", "1")
    await kv.put("b", "1")
    await kv.put("a", "2")
    async with kv.watch() as watch:
        events = watch.events()
        first = await take(events, 3)
        assert watch.caught_up.is_set()
        await kv.put("c", "1")
        first += await take(events, 1)
    assert shown(first) == [("b", "PUT"), ("a", "PUT"), CAUGHT_UP, ("c", "PUT")]
    assert [e.text for e in first if e is not CAUGHT_UP] == ["1", "2", "1"]  # type: ignore[attr-defined]


async def test_caught_up_on_an_empty_bucket(kv: kvnb.KV) -> None:
    async with kv.watch() as watch:
        await watch.wait_caught_up(TIMEOUT)
        assert await take(watch.events(), 1) == [CAUGHT_UP]


async def test_include_history(kv: kvnb.KV) -> None:
    revs = [await kv.put("k", str(i)) for i in range(3)]
    async with kv.watch(include_history=True) as watch:
        got = await take(watch.events(), 4)
    assert [e.revision for e in got[:3]] == revs  # type: ignore[attr-defined]
    assert got[3] is CAUGHT_UP
    async with kv.watch() as latest_only:
        got = await take(latest_only.events(), 2)
    assert [e.revision for e in got[:1]] == revs[-1:]  # type: ignore[attr-defined]


async def test_ignore_deletes(kv: kvnb.KV) -> None:
    await kv.put("a", "1")
    await kv.delete("a")
    await kv.put("b", "1")
    await kv.purge("b")
    await kv.put("c", "1")
    async with kv.watch(ignore_deletes=True) as watch:
        events = watch.events()
        got = await take(events, 2)
        await kv.delete("c")
        await kv.put("d", "1")
        got += await take(events, 1)
    assert shown(got) == [("c", "PUT"), CAUGHT_UP, ("d", "PUT")]
    async with kv.watch() as with_deletes:
        got = await take(with_deletes.events(), 5)
    assert shown(got) == [("a", "DEL"), ("b", "PURGE"), ("c", "DEL"), ("d", "PUT"), CAUGHT_UP]


async def test_updates_only(kv: kvnb.KV) -> None:
    await kv.put("old", "1")
    async with kv.watch(updates_only=True) as watch:
        events = watch.events()
        assert await take(events, 1) == [CAUGHT_UP]
        await kv.put("new", "1")
        got = await take(events, 1)
    assert shown(got) == [("new", "PUT")]


async def test_from_revision(kv: kvnb.KV) -> None:
    revs = [await kv.put(f"k{i}", "v") for i in range(4)]
    await kv.put("k0", "again")
    async with kv.watch(from_revision=revs[2]) as watch:
        got = await take(watch.events(), 4)
    assert [getattr(e, "revision", e) for e in got] == [revs[2], revs[3], revs[3] + 1, CAUGHT_UP]


async def test_pattern(kv: kvnb.KV) -> None:
    for key in ("orders.1", "orders.2.lines", "ordersx", "users.1"):
        await kv.put(key, "v")
    async with kv.watch("orders.*") as watch:
        got = await take(watch.events(), 2)
    assert shown(got) == [("orders.1", "PUT"), CAUGHT_UP]


async def test_entries_carry_revision_time_and_delta(kv: kvnb.KV) -> None:
    r1 = await kv.put("a", "1")
    r2 = await kv.put("b", "2")
    async with kv.watch() as watch:
        first, second = await take(aiter(watch), 2)
    assert (first.revision, second.revision) == (r1, r2)  # type: ignore[attr-defined]
    assert (first.delta, second.delta) == (1, 0)  # type: ignore[attr-defined]
    assert first.created is not None and first.bucket == kv.name  # type: ignore[attr-defined]
    assert watch.last_revision == r2


async def test_last_revision_is_received_consumed_revision_is_yielded(kv: kvnb.KV) -> None:
    revs = [await kv.put("k", str(i)) for i in range(3)]
    async with kv.watch("k", include_history=True) as watch:
        await watch.wait_caught_up(TIMEOUT)
        # Everything has arrived, nothing has been taken yet.
        assert (watch.last_revision, watch.consumed_revision, watch.pending()) == (revs[-1], 0, 4)
        events = watch.events()
        for rev in revs:
            assert (await take(events, 1))[0].revision == rev  # type: ignore[attr-defined]
            assert (watch.last_revision, watch.consumed_revision) == (revs[-1], rev)
        assert await take(events, 1) == [CAUGHT_UP]
        assert watch.consumed_revision == revs[-1]  # CAUGHT_UP is no entry
    async with kv.watch("k", updates_only=True, ignore_deletes=True) as skipping:
        put = await kv.put("k", "new")
        await take(aiter(skipping), 1)
        gone = await kv.delete("k")  # received, but ignore_deletes never hands it to the iterator
        await until(lambda: skipping.last_revision == gone, what="the delete marker reached the watch")
        assert (skipping.last_revision, skipping.consumed_revision) == (gone, put)


async def test_stop_deletes_the_consumer_and_ends_iteration(kv: kvnb.KV) -> None:
    assert await consumer_count(kv) == 0
    watch = await kv.watch()
    assert await consumer_count(kv) == 1
    info = await kv.js.consumer_info(f"KV_{kv.name}", watch._consumer)  # type: ignore[arg-type]
    # nats-py's watcher leaves consumers for 5 minutes; kvnb's go away soon after a crash.
    assert info.config.inactive_threshold == INACTIVE_THRESHOLD <= 30
    reader = asyncio.ensure_future(take(aiter(watch), 1))
    await asyncio.sleep(0.01)
    await watch.stop()
    assert await consumer_count(kv) == 0
    with pytest.raises(StopAsyncIteration):
        await reader
    assert watch.stopped


async def test_async_with_stops_it(kv: kvnb.KV) -> None:
    async with kv.watch():
        assert await consumer_count(kv) == 1
    assert await consumer_count(kv) == 0
    await kv.keys()
    await kv.history("x")
    assert await consumer_count(kv) == 0  # snapshots clean up after themselves too


async def test_resumes_when_its_consumer_is_deleted(kv: kvnb.KV) -> None:
    async with kv.watch() as watch:
        await watch.wait_caught_up(TIMEOUT)
        await kv.js.delete_consumer(f"KV_{kv.name}", watch._consumer)  # type: ignore[arg-type]
        revs = [await kv.put("k", str(i)) for i in range(3)]
        # Only silence gives a deleted push consumer away: three missed 1 s heartbeats, noticed by a
        # watchdog that looks once a second (3-4 s). A loaded machine delays timers: allow 5x that.
        got = await take(aiter(watch), 3, timeout=5 * (HEARTBEAT_SILENCE + 1))
        assert [e.revision for e in got] == revs  # type: ignore[attr-defined]
        assert watch.resumes >= 1  # counted before the new consumer's first entry could be taken
        assert await consumer_count(kv) == 1  # the new one; the old one is gone


async def test_a_resumed_entry_never_arrives_before_its_resume_is_counted(kv: kvnb.KV) -> None:
    # nats-server may send a new consumer's first messages before its reply to the create request, so
    # entries can be handed out before add_consumer returns: ``resumes`` and ``error`` must be right by then.
    # (Counted after add_consumer returned, a probe like this saw it unchanged in 3 of 200 rounds, once.)
    async with kv.watch() as watch:
        await watch.wait_caught_up(TIMEOUT)
        entries = aiter(watch)
        for i in range(50):
            before = watch.resumes
            await kv.js.delete_consumer(f"KV_{kv.name}", watch._consumer)  # type: ignore[arg-type]
            revs = [await kv.put("k", f"{i}.{j}") for j in range(3)]
            watch._schedule_resume("test")  # what the heartbeat watchdog does after 3 s of silence
            got = await take(entries, 3)
            assert ([e.revision for e in got], watch.resumes, watch.error) == (revs, before + 1, None)  # type: ignore[attr-defined]
            await until(lambda: watch._consumer is not None and watch._resuming.done(),  # type: ignore[union-attr]
                        what="the resume finished")


@pytest.mark.parametrize("how", ["restart", "kill"])
async def test_resumes_across_a_server_restart(tmp_path: Path, how: str) -> None:
    with launch(store_dir=tmp_path / "store") as server:
        nc = await kvnb.connect(server.url)
        try:
            kv = await kvnb.open_bucket("resume", history=64, nc=nc)
            written = [await kv.put(f"k{i % 5}", str(i)) for i in range(20)]
            async with kv.watch(include_history=True) as watch:
                seen = await take(aiter(watch), 10)
                if how == "kill":
                    server.kill()
                server.restart()
                written += [await asyncio.wait_for(kv.put(f"k{i % 5}", str(i)), TIMEOUT) for i in range(20, 40)]
                seen += await take(aiter(watch), 30)
                await asyncio.sleep(0.05)  # a duplicate would arrive right behind the last entry
                assert watch.pending() == 0  # nothing delivered twice
                assert watch.resumes >= 1
        finally:
            await kvnb.client.close_connection(nc)
    revisions = [e.revision for e in seen]  # type: ignore[attr-defined]
    assert revisions == written
    assert [e.text for e in seen] == [str(i) for i in range(40)]  # type: ignore[attr-defined]


def raw_publish(port: int, subject: str, payload: bytes) -> None:
    """Publish with a bare socket, while the event loop (and every nats-py client on it) is blocked."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(b"CONNECT {}\r\nPUB %s %d\r\n%s\r\nPING\r\n" % (subject.encode(), len(payload), payload))
        reply = b""
        while b"PONG" not in reply:
            chunk = sock.recv(4096)
            assert chunk, reply
            reply += chunk


async def test_updates_only_resume_misses_nothing_written_during_an_outage(tmp_path: Path) -> None:
    with launch(store_dir=tmp_path / "store") as server:
        nc = await kvnb.connect(server.url)
        try:
            kv = await kvnb.open_bucket("resume", history=5, nc=nc)
            await kv.put("before", "x")
            async with kv.watch(updates_only=True) as watch:
                await watch.wait_caught_up(TIMEOUT)
                server.restart()
                # Written before this watch can resume, and before it has delivered anything at all.
                raw_publish(server.port, "$KV.resume.during", b"y")  # type: ignore[arg-type]
                got = await take(aiter(watch), 1)
                assert [(e.key, e.text) for e in got] == [("during", "y")]  # type: ignore[attr-defined]
                # One resume; a second one (watchdog and reconnect both noticing a slow restart) is harmless.
                assert watch.resumes >= 1
        finally:
            await kvnb.client.close_connection(nc)


async def test_two_watches_are_independent(kv: kvnb.KV, nc: NATS) -> None:
    async with kv.watch("a") as wa, kv.watch("b") as wb:
        await kv.put("a", "1")
        await kv.put("b", "2")
        (ea,), (eb,) = await take(aiter(wa), 1), await take(aiter(wb), 1)
    assert (ea.key, eb.key) == ("a", "b")  # type: ignore[attr-defined]


async def test_watching_a_deleted_bucket_says_so(nc: NATS, bucket_name: str) -> None:
    kv = await kvnb.open_bucket(bucket_name, nc=nc)
    await kvnb.delete_bucket(bucket_name, nc=nc)
    with pytest.raises(kvnb.BucketNotFound, match="open_bucket"):
        await kv.watch()


async def test_consumers_are_named_by_the_client(kv: kvnb.KV) -> None:
    async with kv.watch() as first, kv.watch() as second:
        names = {first._consumer, second._consumer}
        assert all(n and n.startswith("kvnb_") for n in names) and len(names) == 2
        listed = {c.name for c in await kv.js.consumers_info(f"KV_{kv.name}")}
        assert listed == names  # the server took the names kvnb chose before asking


async def test_stop_during_a_resume_deletes_the_consumer_whose_create_got_no_answer(kv: kvnb.KV) -> None:
    # The server makes the consumer, but stop() cancels the resume before the answer reaches the watch
    # (an answer that never arrives, held back here on purpose). The watch must still delete it: else it
    # stays until its inactive threshold (10 s), counting against the stream's consumer limit.
    watch = await kv.watch()
    await watch.wait_caught_up(TIMEOUT)
    create = watch._js.add_consumer
    made = asyncio.Event()

    async def answer_never_arrives(stream: str, config: object, **kwargs: object) -> object:
        await create(stream, config, **kwargs)  # type: ignore[arg-type]
        made.set()
        await asyncio.Event().wait()  # stop() cancels the resume here

    watch._js.add_consumer = answer_never_arrives  # type: ignore[method-assign]
    watch._schedule_resume("test")
    await asyncio.wait_for(made.wait(), TIMEOUT)
    assert await consumer_count(kv) == 1  # the resume's new consumer (the old one was deleted first)
    await watch.stop()
    assert await consumer_count(kv) == 0


async def test_stop_while_a_resume_unsubscribes_still_deletes_the_old_consumer(kv: kvnb.KV) -> None:
    # The resume has taken the old consumer from the watch and is unsubscribing from its deliveries (an
    # await) when stop() cancels it. The old consumer must still be deleted, and stop() must wait for that:
    # the watch no longer names it, so nothing else would (it stayed until its inactive threshold).
    watch = await kv.watch()
    await watch.wait_caught_up(TIMEOUT)
    sub = watch._sub
    assert sub is not None
    unsubscribe = sub.unsubscribe
    inside, go_on = asyncio.Event(), asyncio.Event()

    async def held_unsubscribe(*args: object, **kwargs: object) -> None:
        inside.set()
        await go_on.wait()  # stop() cancels the resume while it waits here
        await unsubscribe(*args, **kwargs)  # type: ignore[arg-type]

    sub.unsubscribe = held_unsubscribe  # type: ignore[method-assign]
    watch._schedule_resume("test")
    await asyncio.wait_for(inside.wait(), TIMEOUT)
    resuming = watch._resuming
    assert resuming is not None
    stopping = asyncio.ensure_future(watch.stop())
    await asyncio.wait([resuming], timeout=TIMEOUT)  # stop() has cancelled the resume
    assert resuming.done()
    go_on.set()
    await asyncio.wait_for(stopping, TIMEOUT)
    assert await consumer_count(kv) == 0

async def test_stop_at_any_moment_of_a_resume_leaves_no_consumer(kv: kvnb.KV) -> None:
    # No hooks: stop() lands somewhere in the resume (deleting the old consumer, asking for the stream's
    # state, creating the new one); whatever it interrupted, the server keeps no consumer of this watch.
    for round_ in range(24):
        watch = await kv.watch()
        await watch.wait_caught_up(TIMEOUT)
        watch._schedule_resume("test")
        for _ in range(round_ % 8):
            await asyncio.sleep(0)
        if round_ >= 8:
            await asyncio.sleep(0.0005 * (round_ - 8))
        await watch.stop()
        assert await consumer_count(kv) == 0, f"round {round_}: a consumer outlived stop()"


async def test_a_failed_start_leaves_no_consumer(kv: kvnb.KV) -> None:
    # start() cancelled while its create request is out (a wait_for that gave up): the consumer the
    # server made anyway is deleted in the background, not left for its inactive threshold.
    watch = kv.watch()
    create = watch._js.add_consumer
    made = asyncio.Event()

    async def slow_answer(stream: str, config: object, **kwargs: object) -> object:
        info = await create(stream, config, **kwargs)  # type: ignore[arg-type]
        made.set()
        await asyncio.sleep(TIMEOUT)
        return info

    watch._js.add_consumer = slow_answer  # type: ignore[method-assign]
    starting = asyncio.ensure_future(watch.start())
    await asyncio.wait_for(made.wait(), TIMEOUT)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    # well before the consumer's inactive threshold would remove it
    deadline = asyncio.get_running_loop().time() + INACTIVE_THRESHOLD / 2
    while await consumer_count(kv) != 0:
        assert asyncio.get_running_loop().time() < deadline, "the consumer of a cancelled start was left behind"
        await asyncio.sleep(0.01)


async def test_watching_on_a_server_without_jetstream_names_that_cause(tmp_path: Path) -> None:
    with server_without_jetstream(tmp_path / "nojs") as url:
        nc = await kvnb.connect(url)
        try:
            with pytest.raises(kvnb.ServerError) as err:
                await asyncio.wait_for(Watch(nc, bucket="orders").start(), TIMEOUT)
        finally:
            await kvnb.client.close_connection(nc)
    text = str(err.value)
    assert text.startswith("cannot watch bucket 'orders': no JetStream API answered: JetStream is not enabled "
                           "on this server. Fix: start nats-server with --jetstream"), text
    assert not any(word in text for word in ("cluster", "leader", "account")), text


# --- several patterns, one consumer (filter_subjects) ----------------------------------------


async def _fill_shop(kv: kvnb.KV) -> None:
    for key in ("orders.eu.1", "users.ann", "stock.apple", "orders.us.2", "users.ann.address"):
        await kv.put(key, "v")


async def test_several_patterns_share_one_consumer(kv: kvnb.KV) -> None:
    await _fill_shop(kv)
    async with kv.watch(["orders.>", "users.*"]) as watch:
        initial = await take(watch.events(), 4)
        assert shown(initial) == [("orders.eu.1", "PUT"), ("users.ann", "PUT"), ("orders.us.2", "PUT"), CAUGHT_UP]
        assert await consumer_count(kv) == 1
        assert watch.patterns == ("orders.>", "users.*")
        await kv.put("stock.pear", "v")
        await kv.delete("users.ann")
        await kv.put("orders.eu.3", "v")
        assert shown(await take(aiter(watch), 2)) == [("users.ann", "DEL"), ("orders.eu.3", "PUT")]
    assert await consumer_count(kv) == 0


async def test_several_patterns_with_include_history(kv: kvnb.KV) -> None:
    await kv.put("orders.1", "a")
    await kv.put("orders.1", "b")
    await kv.put("users.x", "c")
    await kv.put("other", "d")
    async with kv.watch(["orders.*", "users.*"], include_history=True) as watch:
        got = await take(aiter(watch), 3)
    assert [e.text for e in got] == ["a", "b", "c"]  # type: ignore[attr-defined]


async def test_several_patterns_with_ignore_deletes_and_updates_only(kv: kvnb.KV) -> None:
    await _fill_shop(kv)
    async with kv.watch(["orders.>", "users.*"], updates_only=True, ignore_deletes=True) as watch:
        await watch.wait_caught_up(TIMEOUT)
        await kv.delete("orders.eu.1")
        await kv.put("users.bob", "v")
        assert shown(await take(aiter(watch), 1)) == [("users.bob", "PUT")]


async def test_several_patterns_from_revision(kv: kvnb.KV) -> None:
    await kv.put("orders.1", "old")
    start = await kv.put("users.x", "v")
    await kv.put("other.1", "v")
    await kv.put("orders.2", "new")
    async with kv.watch(["orders.*", "users.*"], from_revision=start) as watch:
        got = await take(aiter(watch), 2)
    assert [e.key for e in got] == ["users.x", "orders.2"]  # type: ignore[attr-defined]


async def test_several_patterns_resume_after_their_consumer_is_lost(kv: kvnb.KV) -> None:
    async with kv.watch(["a.*", "b.*"]) as watch:
        await watch.wait_caught_up(TIMEOUT)
        await kv.js.delete_consumer(f"KV_{kv.name}", watch._consumer)  # type: ignore[arg-type]
        revs = [await kv.put(key, "v") for key in ("a.1", "c.1", "b.1")]
        watch._schedule_resume("test")  # what the heartbeat watchdog does after 3 s of silence
        got = await take(aiter(watch), 2)
        assert [e.revision for e in got] == [revs[0], revs[2]]  # type: ignore[attr-defined]
        assert watch.resumes == 1


async def test_overlapping_patterns_are_refused_before_sending(kv: kvnb.KV) -> None:
    with pytest.raises(kvnb.InvalidKey, match="overlap"):
        kv.watch(["orders.>", "orders.eu.*"])
    with pytest.raises(kvnb.InvalidKey, match="overlap"):
        kv.watch(["a.*", "a.*"])
    with pytest.raises(kvnb.InvalidKey, match="non-empty list"):
        kv.watch([])
    assert await consumer_count(kv) == 0


async def test_the_server_itself_refuses_overlapping_filters(kv: kvnb.KV) -> None:
    """Why kvnb checks: the server would refuse such a consumer (kvnb's rule is the server's)."""
    watch = Watch(kv.nc, bucket=kv.name, pattern=("orders.>", "orders.eu.*"))
    with pytest.raises(kvnb.ServerError, match=r"cannot overlap.*10138"):
        await watch.start()
    await watch.stop()


async def test_several_patterns_on_an_old_server_are_named(kv: kvnb.KV, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kv.nc._current_server, "server_version", "2.9.10")
    with pytest.raises(kvnb.NotSupported, match=r"2\.10 or newer; this server is 2\.9\.10"):
        kv.watch(["a.*", "b.*"])
