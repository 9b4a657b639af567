"""kvnb.drain: collect what a running watch delivered, bounded; clear errors for a stopped watch."""

from __future__ import annotations

import pytest

import kvnb


async def test_drain_waits_for_the_revision_and_returns_entries_only(kv: kvnb.KV) -> None:
    await kv.put("a", "1")
    watch = await kv.watch(">")
    try:
        assert [e.text for e in await kvnb.drain(watch)] == ["1"]          # the initial value, no CAUGHT_UP
        rev = await kv.put("a", "2")
        got = await kvnb.drain(watch, up_to=rev)
        assert [(e.key, e.text, e.revision) for e in got] == [("a", "2", rev)]
        assert await kvnb.drain(watch) == []                                # nothing new: nothing returned
        assert not watch.stopped                                             # drain leaves the watch running
    finally:
        await watch.stop()


async def test_drain_counts_markers_that_ignore_deletes_leaves_out(kv: kvnb.KV) -> None:
    await kv.put("a", "1")
    watch = await kv.watch(">", updates_only=True, ignore_deletes=True)
    try:
        await kv.put("a", "2")
        deleted = await kv.delete("a")
        got = await kvnb.drain(watch, up_to=deleted)                        # returns at once: the marker arrived
        assert [e.text for e in got] == ["2"]
    finally:
        await watch.stop()


async def test_drain_quiet_keeps_listening(kv: kvnb.KV) -> None:
    async with kv.watch(">") as watch:
        rev = await kv.put("a", "1")
        got = await kvnb.drain(watch, up_to=rev, quiet=0.2)
    assert [e.text for e in got] == ["1"]


async def test_drain_starts_a_watch_that_was_not_awaited(kv: kvnb.KV) -> None:
    await kv.put("a", "1")
    watch = kv.watch(">")
    try:
        assert [e.text for e in await kvnb.drain(watch)] == ["1"]
    finally:
        await watch.stop()


async def test_a_stopped_watch_is_a_clear_error_not_stop_async_iteration(kv: kvnb.KV) -> None:
    """The mistake of issue 14, 3.1: a watch made in `async with` is stopped when its cell ends."""
    async with kv.watch(">") as watch:
        pass
    with pytest.raises(kvnb.WatchStopped) as info:
        await kvnb.drain(watch, up_to=1, timeout=5)
    message = str(info.value)
    assert "stopped" in message and "async with" in message and "w = await kv.watch(" in message
    assert isinstance(info.value, kvnb.KvnbError)


async def test_a_revision_that_never_comes_is_a_bounded_error(kv: kvnb.KV) -> None:
    watch = await kv.watch("orders.>")
    try:
        rev = await kv.put("prices.apple", "3")                             # not a key this watch matches
        with pytest.raises(kvnb.DrainTimeout) as info:
            await kvnb.drain(watch, up_to=rev, timeout=0.3)
        assert f"revision {rev}" in str(info.value) and "'orders.>'" in str(info.value)
        assert isinstance(info.value, TimeoutError)
    finally:
        await watch.stop()


async def test_drain_wants_a_watch() -> None:
    with pytest.raises(kvnb.InvalidInput, match=r"kvnb\.Watch, got list"):
        await kvnb.drain([])  # type: ignore[arg-type]
