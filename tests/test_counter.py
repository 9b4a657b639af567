"""Server-side counters (kvnb.counter) against a real nats-server: exact totals however many writers add."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import kvnb

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def counter(nc: kvnb.client.NATS, bucket_name: str) -> AsyncIterator[kvnb.Counter]:
    made = await kvnb.open_counter(bucket_name, fresh=True, nc=nc)
    try:
        yield made
    finally:
        await kvnb.delete_counter(bucket_name, nc=nc)


async def test_add_returns_the_new_total(counter: kvnb.Counter) -> None:
    assert await counter.add("post.1") == 1
    assert await counter.add("post.1", 5) == 6
    assert await counter.add("post.1", -2) == 4
    assert await counter.add("post.1", 0) == 4
    assert await counter.get("post.1") == 4


async def test_a_key_never_incremented_is_zero(counter: kvnb.Counter) -> None:
    assert await counter.get("never") == 0
    assert await counter.values() == {}


async def test_big_numbers_are_exact(counter: kvnb.Counter) -> None:
    big = 10**30
    assert await counter.add("big", big) == big
    assert await counter.add("big", 1) == big + 1


async def test_concurrent_increments_are_exact(counter: kvnb.Counter) -> None:
    await asyncio.gather(*(counter.add("hits") for _ in range(400)))
    assert await counter.get("hits") == 400


async def test_values_by_pattern(counter: kvnb.Counter) -> None:
    await counter.add("post.1", 2)
    await counter.add("post.2", 3)
    await counter.add("user.1", 7)
    assert await counter.values() == {"post.1": 2, "post.2": 3, "user.1": 7}
    assert await counter.values("post.*") == {"post.1": 2, "post.2": 3}


async def test_watch_yields_totals_and_deltas(counter: kvnb.Counter) -> None:
    await counter.add("post.1", 2)
    async with counter.watch("post.>") as watch:
        await watch.wait_caught_up(10)
        await counter.add("post.1", 5)
        await counter.add("other", 1)  # not matched
        await counter.add("post.2", -1)
        seen = []
        async for entry in watch:
            seen.append((entry.key, entry.value, entry.delta))
            if len(seen) == 3:
                break
    assert seen == [("post.1", 2, 2), ("post.1", 7, 5), ("post.2", -1, -1)]


async def test_watch_several_patterns(counter: kvnb.Counter) -> None:
    async with counter.watch(["post.*", "user.*"], updates_only=True) as watch:
        await watch.wait_caught_up(10)
        for key in ("post.1", "other.1", "user.1"):
            await counter.add(key)
        keys = []
        async for entry in watch:
            keys.append(entry.key)
            if len(keys) == 2:
                break
    assert keys == ["post.1", "user.1"]


async def test_reopening_keeps_the_totals(counter: kvnb.Counter) -> None:
    await counter.add("post.1", 3)
    again = await kvnb.open_counter(counter.name, nc=counter.nc)
    assert await again.get("post.1") == 3
    fresh = await kvnb.open_counter(counter.name, fresh=True, nc=counter.nc)
    assert await fresh.get("post.1") == 0


@pytest.mark.parametrize("bad", [1.5, "5", True, None, 2.0])
async def test_non_integer_increments_are_refused_before_sending(counter: kvnb.Counter, bad: object) -> None:
    with pytest.raises(kvnb.InvalidValue, match="whole number"):
        await counter.add("post.1", bad)  # type: ignore[arg-type]
    assert await counter.values() == {}


async def test_a_counter_cannot_be_a_kv_bucket(nc: kvnb.client.NATS, bucket_name: str) -> None:
    code, description = await kvnb.counter.ask_server_for_counter_bucket(bucket_name, nc=nc)
    assert code == 10052 and "discard new" in description
    assert bucket_name not in [b.name for b in await kvnb.list_buckets(nc)]


async def test_counters_are_not_listed_as_buckets(counter: kvnb.Counter) -> None:
    kv = await kvnb.open_bucket(counter.name + "_kv", nc=counter.nc, fresh=True)
    try:
        names = [b.name for b in await kvnb.list_buckets(counter.nc)]
        assert kv.name in names and counter.name not in names
    finally:
        await kvnb.delete_bucket(kv.name, nc=counter.nc)


async def test_an_old_server_is_named(nc: kvnb.client.NATS, bucket_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nc._current_server, "server_version", "2.10.7")
    with pytest.raises(kvnb.NotSupported, match=r"counters needs nats-server 2\.12 or newer; this server is 2\.10\.7"):
        await kvnb.open_counter(bucket_name, nc=nc)


async def test_list_buckets_pages_through_many(nc: kvnb.client.NATS, bucket_name: str) -> None:
    names = [f"{bucket_name}_{i}" for i in range(260)]  # more than one page of the server's stream list (256)
    await asyncio.gather(*(kvnb.open_bucket(n, nc=nc, storage="memory") for n in names))
    try:
        infos = await kvnb.list_buckets(nc)
        listed = [b.name for b in infos]
        assert set(names) <= set(listed) and listed == sorted(listed)
        assert all(isinstance(b, kvnb.BucketInfo) for b in infos)
    finally:
        await asyncio.gather(*(kvnb.delete_bucket(n, nc=nc) for n in names))
