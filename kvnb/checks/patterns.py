"""Self-checks of notebook 06 (patterns)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ..bucket import KV
from ..errors import Conflict, KeyNotFound
from ._core import Passed, fail, require_callable

__all__ = ["flag_reader", "renew_lease"]


async def flag_reader(kv: KV, fn: Callable[..., Awaitable[Any]]) -> Passed:
    """Exercise 6.1: ``fn(kv, name, default=False)`` reads ``flags.<name>`` as a bool, ``default`` when unset."""
    name = "Exercise 6.1 (read a flag)"
    require_callable(name, fn, "await kvnb.checks.flag_reader(kv, flag)")
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
