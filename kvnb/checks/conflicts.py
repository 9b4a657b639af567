"""Self-checks of notebook 04 (conflicts and optimistic concurrency)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ..bucket import KV
from ..errors import Conflict
from ._core import Passed, fail, require_callable

__all__ = ["cas_increment", "claim"]


def _fresh_key(prefix: str) -> str:
    # a new key per run, so the check can run any number of times on the same bucket
    return f"check.{prefix}.{uuid.uuid4().hex[:8]}"


async def claim(kv: KV, fn: Callable[[KV, str, str], Awaitable[Any]]) -> Passed:
    """Exercise 4.1: ``fn(kv, key, owner)`` takes a job only if nobody has, returning True/False."""
    name = "Exercise 4.1 (claim a job)"
    require_callable(name, fn, "await kvnb.checks.claim(kv, claim)")
    key = _fresh_key("job")
    results = await asyncio.gather(fn(kv, key, "alice"), fn(kv, key, "bob"), return_exceptions=True)
    for r in results:
        if isinstance(r, Conflict):
            raise fail(name, "the loser raised kvnb.Conflict: catch it (try/except kvnb.Conflict) and return False.")
        if isinstance(r, BaseException):
            raise fail(name, f"your function raised {type(r).__name__}: {r}")
        if not isinstance(r, bool):
            raise fail(name, f"return True when you got the job and False when someone else has it, got {r!r}.")
    if results == [True, True]:
        raise fail(name, "both alice and bob were told they own the job: put() overwrites. Use create(), which "
                         "succeeds only when the key has no value.")
    if results == [False, False]:
        raise fail(name, "nobody got the job: the first claim on a new key must succeed and return True.")
    winner = "alice" if results[0] else "bob"
    stored = (await kv.get(key)).text
    if stored != winner:
        raise fail(name, f"{winner} was told it got the job but the key says {stored!r}: store the owner's name.")
    late = await fn(kv, key, "carol")
    if late is not False or (await kv.get(key)).text != winner:
        raise fail(name, "a third claim on a taken job must return False and leave the owner unchanged.")
    return Passed(name, f"{winner} got it, the other was refused, and carol too, later.")


async def cas_increment(kv: KV, fn: Callable[[KV, str], Awaitable[Any]], *, workers: int = 4,
                        times: int = 10) -> Passed:
    """Exercise 4.2: ``fn(kv, key)`` adds 1 to a counter safely under concurrency and returns the new value."""
    name = "Exercise 4.2 (a safe increment)"
    require_callable(name, fn, "await kvnb.checks.cas_increment(kv, increment)")
    key = _fresh_key("counter")
    await kv.put(key, "0")

    async def worker() -> list[Any]:
        return [await fn(kv, key) for _ in range(times)]

    results = await asyncio.gather(*(worker() for _ in range(workers)), return_exceptions=True)
    for r in results:
        if isinstance(r, Conflict):
            raise fail(name, "an increment raised kvnb.Conflict: that is the signal to retry. Loop: get, compute, "
                             "update(key, new, last=entry.revision); on Conflict go round again.")
        if isinstance(r, BaseException):
            raise fail(name, f"an increment raised {type(r).__name__}: {r}")
    total = workers * times
    final = (await kv.get(key)).text
    if final != str(total):
        raise fail(name, f"{workers} workers x {times} increments should give {total}, the counter says {final}: "
                         f"{total - int(final) if final.isdigit() else 'some'} updates were lost. A put() after "
                         "a get() overwrites other writers; use update(..., last=entry.revision) and retry "
                         "on Conflict.")
    returned = [v for r in results if isinstance(r, list) for v in r]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in returned) or \
            sorted(returned) != list(range(1, total + 1)):
        raise fail(name, "the counter is right, but return the new value you wrote (as an int), each call its own.")
    return Passed(name, f"{total} increments by {workers} concurrent workers, none lost.")
