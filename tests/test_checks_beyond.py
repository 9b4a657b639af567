"""Self-checks of notebook 10: pass on a right answer, a hint on a wrong one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import kvnb
import kvnb.checks as checks
from kvnb.checks import NotYet, Passed

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def akv(nc: kvnb.client.NATS, bucket_name: str) -> AsyncIterator[kvnb.KV]:
    bucket = await kvnb.open_bucket(bucket_name, history=10, atomic=True, fresh=True, nc=nc)
    yield bucket
    await kvnb.delete_bucket(bucket_name, nc=nc)


@pytest.fixture
async def likes(nc: kvnb.client.NATS, bucket_name: str) -> AsyncIterator[kvnb.Counter]:
    counter = await kvnb.open_counter(bucket_name, fresh=True, nc=nc)
    yield counter
    await kvnb.delete_counter(bucket_name, nc=nc)


async def hint_of(check: object, *phrases: str) -> str:
    with pytest.raises(NotYet) as info:
        await check  # type: ignore[misc]
    hint = str(info.value).lower()
    assert all(p.lower() in hint for p in phrases), hint
    return hint


async def place_order(kv: kvnb.KV, order_id: str, total: int) -> list[int]:
    async with kv.batch() as b:
        b.create(f"orders.{order_id}.status", "placed")
        b.put(f"orders.{order_id}.total", str(total))
    return b.revisions


async def test_atomic_order(akv: kvnb.KV) -> None:
    assert isinstance(await checks.atomic_order(akv, place_order), Passed)

    async def one_by_one(kv: kvnb.KV, order_id: str, total: int) -> list[int]:
        return [await kv.create(f"orders.{order_id}.status", "placed"),
                await kv.put(f"orders.{order_id}.total", str(total))]

    await hint_of(checks.atomic_order(akv, one_by_one), "one batch")

    async def with_put(kv: kvnb.KV, order_id: str, total: int) -> list[int]:
        async with kv.batch() as b:
            b.put(f"orders.{order_id}.status", "placed")
            b.put(f"orders.{order_id}.total", str(total))
        return b.revisions

    await hint_of(checks.atomic_order(akv, with_put), "b.create")


async def test_undo(kv: kvnb.KV) -> None:
    async def undo(kv: kvnb.KV, key: str) -> int:
        history = await kv.history(key)
        return await kv.revert(key, history[-2].revision)

    assert isinstance(await checks.undo(kv, undo), Passed)

    async def put_again(kv: kvnb.KV, key: str) -> int:
        return await kv.put(key, "red")

    await hint_of(checks.undo(kv, put_again), "kv.revert")


async def test_like_counter(likes: kvnb.Counter, kv: kvnb.KV) -> None:
    async def like(counter: kvnb.Counter, post: str) -> int:
        return await counter.add(post)

    assert isinstance(await checks.like_counter(likes, like), Passed)

    async def forgets_total(counter: kvnb.Counter, post: str) -> None:
        await counter.add(post)

    await hint_of(checks.like_counter(likes, forgets_total), "return")

    async def get_then_add_twice(counter: kvnb.Counter, post: str) -> int:
        await asyncio.sleep(0)
        await counter.add(post)
        return await counter.add(post)

    await hint_of(checks.like_counter(likes, get_then_add_twice), "should give 200")


async def test_learner_stubs_get_a_hint(akv: kvnb.KV, likes: kvnb.Counter) -> None:
    async def stub(*args: object) -> None:
        raise NotImplementedError("Exercise: write your code here, then run the check below")

    await hint_of(checks.atomic_order(akv, stub), "NotImplementedError")
    await hint_of(checks.undo(akv, stub), "NotImplementedError")
    await hint_of(checks.like_counter(likes, stub), "NotImplementedError")
