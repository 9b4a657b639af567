"""Self-checks of notebook 05 (delete, purge and TTL)."""

from __future__ import annotations

from typing import Any

import nats.js.errors

from ..bucket import KV
from ._core import Passed, fail

__all__ = ["cache_bucket", "delete_vs_purge", "expiring_key"]


async def delete_vs_purge(kv: KV) -> Passed:
    """Exercise 5.1: ``session.alice`` deleted (history kept), ``session.bob`` purged (history gone)."""
    name = "Exercise 5.1 (delete or purge)"
    alice = await kv.history("session.alice")
    bob = await kv.history("session.bob")
    if not alice or alice[-1].operation == "PUT":
        raise fail(name, "session.alice still has a value: remove it with delete().")
    if alice[-1].operation == "PURGE":
        raise fail(name, "session.alice was purged, so her earlier values are gone too. Her history should stay: "
                         "use delete(). (Re-run the setup cell to get her history back.)")
    if not any(e.operation == "PUT" for e in alice):
        raise fail(name, "session.alice has no earlier values in history; re-run the setup cell, then delete() her.")
    if not bob or bob[-1].operation == "PUT":
        raise fail(name, "session.bob still has a value: remove it with purge().")
    if bob[-1].operation == "DEL" or len(bob) > 1:
        raise fail(name, f"session.bob's history still has {len(bob)} entries: delete() keeps them. purge() drops "
                         "every earlier revision and leaves one PURGE marker.")
    return Passed(name, f"alice: {len(alice) - 1} old value(s) + a DEL marker; bob: a single PURGE marker.")


async def expiring_key(kv: KV, *, key: str = "otp.login", value: str = "4711", ttl: int = 1) -> Passed:
    """Exercise 5.2: ``key`` was created with a per-key TTL of ``ttl`` seconds."""
    name = "Exercise 5.2 (a key that expires)"
    try:
        msg = await kv.js.get_last_msg(f"KV_{kv.name}", f"$KV.{kv.name}.{key}")
    except nats.js.errors.NotFoundError:
        raise fail(name, f"{key!r} does not exist (if you created it more than {ttl} s ago it has expired, as it "
                         "should: run your cell and this check together, or re-run both).") from None
    headers = msg.headers or {}
    if headers.get("KV-Operation") in ("DEL", "PURGE"):
        raise fail(name, f"{key!r} is a {headers['KV-Operation']} marker; create it with a value: "
                         f"await kv.create({key!r}, {value!r}, ttl={ttl})")
    if (msg.data or b"").decode() != value:
        raise fail(name, f"{key!r} holds {(msg.data or b'').decode()!r}, expected {value!r}.")
    if "Nats-TTL" not in headers:
        raise fail(name, f"{key!r} has no TTL of its own, it would live forever: "
                         f"await kv.create({key!r}, {value!r}, ttl={ttl}) (put() has no per-key TTL).")
    if headers["Nats-TTL"] not in (str(ttl), f"{ttl}s"):
        raise fail(name, f"{key!r} lives {headers['Nats-TTL']} s; make it {ttl} s.")
    return Passed(name, f"{key!r} carries Nats-TTL: {headers['Nats-TTL']}; the server removes it on time.")


async def cache_bucket(cache: Any, *, ttl: float = 2) -> Passed:
    """Exercise 5.3: a bucket whose values live ``ttl`` seconds, with expiry visible to watchers."""
    name = "Exercise 5.3 (a cache bucket)"
    if not isinstance(cache, KV):
        raise fail(name, f"pass the bucket you opened (a kvnb.KV), got {type(cache).__name__}.")
    info = await cache.info()
    if info.ttl != ttl:
        now = f"{info.ttl:g} s" if info.ttl else "forever"
        raise fail(name, f"values in this bucket live {now}; open it with ttl={ttl:g} "
                         "(and fresh=True to replace it).")
    if not info.limit_marker_ttl:
        raise fail(name, "expiry is silent in this bucket: add limit_marker_ttl=1 so the server writes a PURGE "
                         "marker that watchers see when a value expires.")
    return Passed(name, f"values live {info.ttl:g} s; expiry leaves a marker for {info.limit_marker_ttl:g} s.")
