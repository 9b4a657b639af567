"""Self-checks of notebook 06 (patterns)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ..bucket import KV
from ..errors import Conflict, KeyDeleted, KeyNotFound
from ._core import Passed, fail, guarded, require_callable

__all__ = ["flag_reader", "lock_by_hand", "renew_lease"]


async def flag_reader(kv: KV, fn: Callable[..., Awaitable[Any]]) -> Passed:
    """Exercise 6.1: ``fn(kv, name, default=False)`` reads ``flags.<name>`` as a bool, ``default`` when unset."""
    name = "Exercise 6.1 (read a flag)"
    require_callable(name, fn, "await kvnb.checks.flag_reader(kv, flag)")
    fn = guarded(name, fn, KeyNotFound, TypeError)
    tag = uuid.uuid4().hex[:6]
    on, off, gone, never = (f"check_{tag}_{n}" for n in ("on", "off", "gone", "never"))
    await kv.put(f"flags.{on}", "true")
    await kv.put(f"flags.{off}", "false")
    await kv.put(f"flags.{gone}", "true")
    await kv.delete(f"flags.{gone}")
    cases = [((on,), {}, True, "a flag set to 'true'"),
             ((off,), {}, False, "a flag set to 'false'"),
             ((never,), {}, False, "a flag never set (default False)"),
             ((never,), {"default": True}, True, "a flag never set with default=True"),
             ((gone,), {"default": True}, True, "a deleted flag with default=True")]
    for args, kwargs, wanted, what in cases:
        try:
            got = await fn(kv, *args, **kwargs)
        except KeyNotFound as err:
            kind = "deleted" if "deleted" in str(err) else "missing"
            raise fail(name, f"for {what} your function raised {type(err).__name__}: a {kind} flag means "
                             "'use the default'. Catch kvnb.KeyNotFound (KeyDeleted is a kind of it).") from None
        except TypeError as err:
            raise fail(name, f"call flag(kv, name, default=...) failed: {err}. Give it a default parameter.") from None
        if not isinstance(got, bool):
            raise fail(name, f"for {what} you returned {got!r} ({type(got).__name__}); return a bool: "
                             "entry.text == 'true'. (The string 'false' is truthy in Python!)")
        if got != wanted:
            raise fail(name, f"for {what} you returned {got}, expected {wanted}.")
    return Passed(name, "true, false, missing and deleted flags all read right.")


async def renew_lease(kv: KV, fn: Callable[[KV, str, str, int], Awaitable[Any]]) -> Passed:
    """Exercise 6.2: ``fn(kv, key, me, last)`` renews a lease only if ``me`` still holds it."""
    name = "Exercise 6.2 (renew a lease)"
    require_callable(name, fn, "await kvnb.checks.renew_lease(kv, renew)")
    fn = guarded(name, fn, Conflict)
    key = f"check.lease.{uuid.uuid4().hex[:8]}"
    mine = await kv.create(key, "svc-a")
    try:
        renewed = await fn(kv, key, "svc-a", mine)
    except Conflict:
        raise fail(name, "renewing a lease you still hold raised Conflict: "
                         "pass last= the revision you wrote.") from None
    entry = await kv.get(key)
    if not isinstance(renewed, int) or isinstance(renewed, bool) or renewed != entry.revision:
        raise fail(name, f"return the new revision of your renewal ({entry.revision}), got {renewed!r}; the next "
                         "renewal needs it as last=.")
    if entry.text != "svc-a":
        raise fail(name, f"after renewing, the lease names {entry.text!r}; write your own name ('svc-a').")
    await kv.put(key, "svc-b")  # svc-a was too slow: svc-b took over
    try:
        late = await fn(kv, key, "svc-a", renewed)
    except Conflict:
        raise fail(name, "when the lease was lost your function raised Conflict: catch it and return None.") from None
    now = (await kv.get(key)).text
    if now != "svc-b":
        raise fail(name, "you overwrote svc-b's lease: a renewal must be update(key, me, last=last), which fails "
                         "when someone else wrote after you.")
    if late is not None:
        raise fail(name, f"when the lease is lost return None, got {late!r}.")
    await kv.delete(key)
    try:
        gone = await fn(kv, key, "svc-a", renewed)
    except Conflict:
        raise fail(name, "when the lease expired your function raised Conflict: return None.") from None
    if gone is not None:
        raise fail(name, f"after the lease was deleted (or expired) return None, got {gone!r}.")
    return Passed(name, "renewed while held, refused once svc-b took over or the lease was gone.")


async def lock_by_hand(kv: KV, try_lock: Callable[[KV, str, str], Awaitable[Any]],
                       unlock: Callable[[KV, str, int], Awaitable[Any]]) -> Passed:
    """Exercise 6.3: ``try_lock(kv, key, owner)`` takes a free lock (its revision, else None);
    ``unlock(kv, key, revision)`` releases it only if that revision is still the key's latest."""
    name = "Exercise 6.3 (a lock by hand)"
    require_callable(name, try_lock, "await kvnb.checks.lock_by_hand(locks, try_lock, unlock)")
    require_callable(name, unlock, "await kvnb.checks.lock_by_hand(locks, try_lock, unlock)")
    try_lock, unlock = guarded(name, try_lock, Conflict), guarded(name, unlock, Conflict)
    key = f"check.lock.{uuid.uuid4().hex[:8]}"

    async def take(owner: str) -> Any:
        try:
            return await try_lock(kv, key, owner)
        except Conflict:
            raise fail(name, f"try_lock(kv, key, {owner!r}) raised Conflict while someone held the lock: catch "
                             "kvnb.Conflict and return None (a busy lock is an answer, not an error).") from None

    async def release(revision: int, who: str) -> Any:
        try:
            return await unlock(kv, key, revision)
        except Conflict:
            raise fail(name, f"unlock(kv, key, {revision}) by {who} raised Conflict: catch it and return False "
                             "(the lock had moved on: it is not yours to release).") from None

    first = await take("job-1")
    if not isinstance(first, int) or isinstance(first, bool):
        raise fail(name, f"taking a free lock returned {first!r}; return the revision kv.create() gave you "
                         "(unlock needs it as last=).")
    holder = await kv.get(key)
    if holder.text != "job-1" or holder.revision != first:
        raise fail(name, f"after try_lock(kv, key, 'job-1') the key holds {holder.text!r} at revision "
                         f"{holder.revision}; write the owner's name and return that write's revision.")
    second = await take("job-2")
    now = (await kv.get(key)).text
    if second is not None or now != "job-1":
        raise fail(name, "job-2 got the lock while job-1 held it: take it with kv.create(key, owner), which "
                         "the server refuses when the key already has a value (put always succeeds).")
    await kv.delete(key)                    # job-1's lock expired (the TTL safety net) ...
    taken = await take("job-2")             # ... and job-2 took it
    if not isinstance(taken, int) or isinstance(taken, bool):
        raise fail(name, f"after job-1's lock expired, job-2's try_lock returned {taken!r}: create() can take a "
                         "key whose latest entry is a delete marker; return its revision.")
    late = await release(first, "job-1, waking up late")
    try:
        still = (await kv.get(key)).text
    except KeyNotFound:
        still = None
    if still != "job-2":
        raise fail(name, "job-1, waking up late, released job-2's lock: unlock must be "
                         "kv.delete(key, last=revision), which the server refuses once anyone wrote after you.")
    if late is not False:
        raise fail(name, f"a release that was refused returned {late!r}; return False.")
    released = await release(taken, "job-2")
    if released is not True:
        raise fail(name, f"job-2 releasing its own lock returned {released!r}; return True when the delete worked.")
    try:
        await kv.get(key)
    except KeyDeleted:
        pass
    else:
        raise fail(name, "after unlock the key still has a value: delete it (kv.delete(key, last=revision)).")
    if not isinstance(await take("job-3"), int):
        raise fail(name, "after a release the lock should be free for job-3.")
    await kv.delete(key)
    return Passed(name, "one holder at a time, and a late holder cannot release someone else's lock.")
