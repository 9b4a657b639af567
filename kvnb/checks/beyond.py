"""Self-checks of notebook 10 (atomic batches, revert, server-side counters)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ..bucket import KV
from ..counter import Counter
from ..errors import Conflict, InvalidBatch, KeyNotFound
from ._core import NotYet, Passed, fail, guarded, require_callable

__all__ = ["atomic_order", "like_counter", "undo"]


def _fresh(prefix: str) -> str:
    # a new name per run, so the check can run any number of times on the same bucket
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def atomic_order(kv: KV, fn: Callable[[KV, str, int], Awaitable[Any]]) -> Passed:
    """Exercise 10.1: ``fn(kv, order_id, total)`` places an order in one atomic batch and returns its revisions."""
    name = "Exercise 10.1 (an order in one batch)"
    require_callable(name, fn, "await kvnb.checks.atomic_order(kv, place_order)")
    fn = guarded(name, fn, InvalidBatch, Conflict)
    order = _fresh("check")
    try:
        revisions = await fn(kv, order, 42)
    except InvalidBatch as err:
        raise fail(name, f"the batch was refused: {err}") from None
    except Conflict as err:
        raise fail(name, f"a new order was refused: {err}") from None
    entries = {e.key: e for e in await kv.entries(f"orders.{order}.>")}
    status, total = entries.get(f"orders.{order}.status"), entries.get(f"orders.{order}.total")
    if status is None or total is None:
        raise fail(name, f"expected orders.{order}.status and orders.{order}.total, found {sorted(entries)}.")
    if (status.text, total.text) != ("placed", "42"):
        raise fail(name, f"status should be 'placed' and total '42', got {status.text!r} and {total.text!r}.")
    if status.batch_id is None or status.batch_id != total.batch_id:
        raise fail(name, "the two keys were not written by one batch: use `async with kv.batch() as b:` and "
                         "b.create(...) / b.put(...) inside it.")
    if not isinstance(revisions, list) or sorted(revisions) != sorted([status.revision, total.revision]):
        raise fail(name, f"return b.revisions after the block (the new revisions), got {revisions!r}.")
    try:
        await fn(kv, order, 99)
    except Conflict:
        pass
    except InvalidBatch as err:
        raise fail(name, f"placing the same order twice should raise kvnb.Conflict, it raised "
                         f"{type(err).__name__}: {err}") from None
    else:
        raise fail(name, "placing the same order twice succeeded: write the status with b.create(...), which "
                         "refuses a key that already has a value, and the whole batch with it.")
    if (await kv.get(f"orders.{order}.total")).text != "42":
        raise fail(name, "the refused second order still changed the total: both writes belong in the same batch.")
    return Passed(name, f"order {order} landed whole at revisions {sorted(revisions)}; placing it again was "
                        "refused whole.")


async def undo(kv: KV, fn: Callable[[KV, str], Awaitable[Any]]) -> Passed:
    """Exercise 10.2: ``fn(kv, key)`` brings back the value before the latest one, with kv.revert."""
    name = "Exercise 10.2 (undo)"
    require_callable(name, fn, "await kvnb.checks.undo(kv, undo)")
    fn = guarded(name, fn, KeyNotFound)
    key = _fresh("check.undo.")
    first = await kv.put(key, "blue")
    await kv.put(key, "red")
    try:
        revision = await fn(kv, key)
    except KeyNotFound as err:
        raise fail(name, f"{err}") from None
    latest = await kv.get(key)
    if latest.text != "blue":
        raise fail(name, f"after undo the key should be 'blue' again, it is {latest.text!r}. Take the revision "
                         "before the latest from kv.history(key) and pass it to kv.revert(key, revision).")
    if revision != latest.revision:
        raise fail(name, f"return what kv.revert returns (the new revision, {latest.revision}), got {revision!r}.")
    if revision == first:
        raise fail(name, "revert writes a new revision; it never rewrites history.")
    await fn(kv, key)
    if (await kv.get(key)).text != "red":
        raise fail(name, "undo twice should bring 'red' back (the value before the latest is 'red' now).")
    return Passed(name, "blue came back as a new revision, and undoing the undo brought red back.")


async def like_counter(counter: Counter, fn: Callable[[Counter, str], Awaitable[Any]], *, workers: int = 8,
                       times: int = 25) -> Passed:
    """Exercise 10.3: ``fn(counter, post)`` adds a like and returns the new total, exact under concurrency."""
    name = "Exercise 10.3 (likes)"
    require_callable(name, fn, "await kvnb.checks.like_counter(likes, like)")
    fn = guarded(name, fn)
    post = _fresh("check.post.")

    async def worker() -> list[Any]:
        return [await fn(counter, post) for _ in range(times)]

    results = await asyncio.gather(*(worker() for _ in range(workers)), return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r if isinstance(r, NotYet) else fail(name, f"a like raised {type(r).__name__}: {r}")
    total = workers * times
    final = await counter.get(post)
    if final != total:
        raise fail(name, f"{workers} workers x {times} likes should give {total}, the counter says {final}. "
                         "Use counter.add(post) (the server adds; no get, no retry).")
    returned = [v for r in results if isinstance(r, list) for v in r]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in returned) or \
            sorted(returned) != list(range(1, total + 1)):
        raise fail(name, "the total is right; now return what counter.add returns (the new total), each call its own.")
    return Passed(name, f"{total} likes by {workers} concurrent workers, exact, without one retry.")
