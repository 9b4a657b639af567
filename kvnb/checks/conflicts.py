"""Self-checks of notebook 04 (conflicts and optimistic concurrency)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ..bucket import KV
from ..errors import Conflict
from ._core import Passed, fail, require_async, require_bucket, require_callable

__all__ = ["cas_increment", "claim"]

RUN_LIMIT = 30.0  # seconds the concurrent part of a check may take before it counts as stuck
HOT_ATTEMPTS = 1_000  # update attempts on the hot key after which a retry loop counts as unbounded
HOT_LIMIT = 10.0  # seconds the hot-key part waits at most


def _fresh_key(prefix: str) -> str:
    # a new key per run, so the check can run any number of times on the same bucket
    return f"check.{prefix}.{uuid.uuid4().hex[:8]}"


async def claim(kv: KV, fn: Callable[[KV, str, str], Awaitable[Any]]) -> Passed:
    """Exercise 4.1: ``fn(kv, key, owner)`` takes a job only if nobody has, returning True/False."""
    name = "Exercise 4.1 (claim a job)"
    require_bucket(name, kv, "await kvnb.checks.claim(kv, claim)")
    require_callable(name, fn, "await kvnb.checks.claim(kv, claim)")
    require_async(name, fn, "async def claim(kv, key, owner): ...")
    key = _fresh_key("job")
    try:
        results = await asyncio.wait_for(
            asyncio.gather(fn(kv, key, "alice"), fn(kv, key, "bob"), return_exceptions=True), RUN_LIMIT)
    except TimeoutError:
        raise fail(name, f"two claims did not finish within {RUN_LIMIT:g} s; one create() per claim is enough.") \
            from None
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


class _AlwaysBeaten:
    """A hot key: before each ``update`` the learner's code makes, another writer increments it.

    Everything goes to the real bucket; the server refuses each update (a real ``Conflict``),
    so a retry loop never succeeds here and must give up after a bounded number of attempts.
    """

    def __init__(self, kv: KV) -> None:
        self._kv = kv
        self.attempts = 0
        self.too_many = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kv, name)

    async def update(self, key: str, value: str | bytes, last: int) -> int:
        self.attempts += 1
        if self.attempts > HOT_ATTEMPTS:
            self.too_many.set()
        current = await self._kv.get(key)
        await self._kv.put(key, str(int(current.text) + 1))  # the other writer gets in first
        return await self._kv.update(key, value, last=last)


async def cas_increment(kv: KV, fn: Callable[[KV, str], Awaitable[Any]], *, workers: int = 4,
                        times: int = 10) -> Passed:
    """Exercise 4.2: ``fn(kv, key)`` adds 1 to a counter safely under concurrency and returns the new value.

    Then the check runs ``fn`` once on a key where another writer always comes first: a loop that
    retries without a bound never ends there (the check stops it after ``HOT_ATTEMPTS`` attempts
    or ``HOT_LIMIT`` seconds); a bounded one gives up with an error.
    """
    name = "Exercise 4.2 (a safe increment)"
    require_bucket(name, kv, "await kvnb.checks.cas_increment(kv, increment)")
    require_callable(name, fn, "await kvnb.checks.cas_increment(kv, increment)")
    require_async(name, fn, "async def increment(kv, key): ...")
    key = _fresh_key("counter")
    await kv.put(key, "0")

    async def worker() -> list[Any]:
        return [await fn(kv, key) for _ in range(times)]

    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(workers)), return_exceptions=True), RUN_LIMIT)
    except TimeoutError:
        raise fail(name, f"{workers} workers x {times} increments did not finish within {RUN_LIMIT:g} s.") from None
    for r in results:
        if isinstance(r, Conflict):
            raise fail(name, "an increment raised kvnb.Conflict: that is the signal to retry. Loop: get, compute, "
                             "update(key, new, last=entry.revision); on Conflict go round again (a bounded "
                             "number of times).")
        if isinstance(r, BaseException):
            raise fail(name, f"an increment raised {type(r).__name__}: {r}")
    total = workers * times
    final = (await kv.get(key)).text
    returned = [v for r in results if isinstance(r, list) for v in r]
    if final != str(total) and None in returned:
        raise fail(name, f"the counter says {final}, not {total}: {returned.count(None)} call(s) returned None "
                         "without storing their increment. When the attempts run out, raise an error instead of "
                         "returning (the caller must know), and allow enough attempts for a few concurrent writers.")
    if final != str(total):
        raise fail(name, f"{workers} workers x {times} increments should give {total}, the counter says {final}: "
                         f"{total - int(final) if final.isdigit() else 'some'} updates were lost. A put() after "
                         "a get() overwrites other writers; use update(..., last=entry.revision) and retry "
                         "on Conflict.")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in returned) or \
            sorted(returned) != list(range(1, total + 1)):
        raise fail(name, "the counter is right, but return the new value you wrote (as an int), each call its own.")
    await _gives_up_on_a_hot_key(name, kv, fn)
    return Passed(name, f"{total} increments by {workers} concurrent workers, none lost; on a key where another "
                        "writer always came first, it gave up after a bounded number of attempts.")


async def _gives_up_on_a_hot_key(name: str, kv: KV, fn: Callable[[KV, str], Awaitable[Any]]) -> None:
    hot = _AlwaysBeaten(kv)
    key = _fresh_key("hot")
    await kv.put(key, "0")
    task = asyncio.ensure_future(fn(hot, key))  # type: ignore[arg-type]
    alarm = asyncio.ensure_future(hot.too_many.wait())
    try:
        await asyncio.wait({task, alarm}, timeout=HOT_LIMIT, return_when=asyncio.FIRST_COMPLETED)
    finally:
        alarm.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if not hot.too_many.is_set():
            raise fail(name, f"on a key where another writer always comes first, increment(kv, key) was still "
                             f"retrying after {HOT_LIMIT:g} s ({hot.attempts} attempts). If your loop has a bound, "
                             "it is too generous or backs off too long: give up within a few seconds. If it has "
                             "none, bound the attempts (rule 2) and raise an error when they run out.")
        raise fail(name, f"on a key where another writer always comes first, increment(kv, key) was still retrying "
                         f"after {hot.attempts} attempts: the loop has no bound. Rule 2 of the retry loop: bound the "
                         "attempts (for attempt in range(max_attempts): ...) and raise an error when they run out, "
                         "so a hot key cannot spin forever.")
    if task.exception() is None:
        raise fail(name, f"on a key where another writer always comes first, increment(kv, key) returned "
                         f"{task.result()!r} although none of its {hot.attempts} updates was stored. When the "
                         "attempts run out, raise an error (e.g. RuntimeError) so the caller knows it did not happen.")
