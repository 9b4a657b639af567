"""Self-checks of notebook 05 (delete, purge and TTL)."""

from __future__ import annotations

from typing import Any

import nats.js.errors

from ..bucket import KV
from ._core import Passed, fail, require_bucket

__all__ = ["cache_bucket", "delete_vs_purge", "expiring_key"]


async def delete_vs_purge(kv: KV) -> Passed:
    """Exercise 5.1: ``session.alice`` deleted (history kept), ``session.bob`` purged (history gone)."""
    name = "Exercise 5.1 (delete or purge)"
    require_bucket(name, kv, "await kvnb.checks.delete_vs_purge(kv)")
    alice = await kv.history("session.alice")
    bob = await kv.history("session.bob")
    if not alice or alice[-1].operation == "PUT":
        raise fail(name, "session.alice still has a value: remove it with kv.delete('session.alice').")
    if alice[-1].operation == "PURGE":
        raise fail(name, "session.alice was purged, so her earlier values are gone for good (a purge cannot be "
                         "undone). Her history should stay: use kv.delete(). Re-running the setup cell writes "
                         "new values for her (it does not bring the purged ones back); then delete() her.")
    if not any(e.operation == "PUT" for e in alice):
        raise fail(name, "session.alice has no earlier values in history; re-run the setup cell (it writes new "
                         "ones), then kv.delete('session.alice').")
    if not bob or bob[-1].operation == "PUT":
        raise fail(name, "session.bob still has a value: remove it with kv.purge('session.bob').")
    if bob[-1].operation == "DEL" or len(bob) > 1:
        raise fail(name, f"session.bob's history still has {len(bob)} entries: delete() keeps them. purge() drops "
                         "every earlier revision and leaves one PURGE marker.")
    kept = sum(1 for e in alice if e.operation == "PUT")
    return Passed(name, f"alice: {kept} earlier value(s) kept + a DEL marker; bob: a single PURGE marker.")


async def _where_else(kv: KV, key: str) -> list[str]:
    """Other buckets on the same server that hold ``key`` (a create into the wrong bucket)."""
    found = []
    try:
        streams = await kv.js.streams_info()
    except Exception:  # listing is only for a better hint
        return []
    for info in streams:
        stream = info.config.name or ""
        if not stream.startswith("KV_") or stream == f"KV_{kv.name}":
            continue
        try:
            await kv.js.get_last_msg(stream, f"$KV.{stream[3:]}.{key}")
        except Exception:
            continue
        found.append(stream[3:])
    return found


async def expiring_key(kv: KV, *, key: str = "otp.login", value: str = "4711", ttl: int = 1) -> Passed:
    """Exercise 5.2: ``key`` was created in bucket ``kv`` with a per-key TTL of ``ttl`` seconds.

    Hints name the bucket the exercise uses (``kv.name``, also the notebook's variable name).
    """
    name = "Exercise 5.2 (a key that expires)"
    require_bucket(name, kv, "await kvnb.checks.expiring_key(tokens, ttl=30)")
    var = kv.name
    example = f"await {var}.create({key!r}, {value!r}, ttl={ttl})"
    try:
        msg = await kv.js.get_last_msg(f"KV_{kv.name}", f"$KV.{kv.name}.{key}")
    except nats.js.errors.NotFoundError:
        elsewhere = await _where_else(kv, key)
        if elsewhere:
            raise fail(name, f"{key!r} is in bucket {elsewhere[0]!r}, not in {kv.name!r}: create it in the bucket "
                             f"the exercise names. Example: {example}") from None
        raise fail(name, f"bucket {kv.name!r} has no {key!r}. Example: {example}. (Once created, it expires after "
                         f"{ttl} s, as it should: run the check within that time.)") from None
    headers = msg.headers or {}
    if headers.get("Nats-Marker-Reason"):  # a marker the server wrote when the key's TTL ran out
        raise fail(name, f"{key!r} in {kv.name!r} has expired (the server left a PURGE marker): it lived its {ttl} s. "
                         f"Create it again and run the check right after. Example: {example}")
    if headers.get("KV-Operation") in ("DEL", "PURGE"):
        raise fail(name, f"{key!r} is a {headers['KV-Operation']} marker; create it with a value. Example: {example}")
    if (msg.data or b"").decode() != value:
        raise fail(name, f"{key!r} holds {(msg.data or b'').decode()!r}, expected {value!r}. Purge it "
                         f"(await {var}.purge({key!r})), then: {example}")
    if "Nats-TTL" not in headers:
        raise fail(name, f"{key!r} has no TTL of its own, it would live forever: put() has no per-key TTL. Purge it "
                         f"(await {var}.purge({key!r})), then: {example}")
    if headers["Nats-TTL"] not in (str(ttl), f"{ttl}s"):
        raise fail(name, f"{key!r} lives {headers['Nats-TTL']} s; make it {ttl} s. Purge it "
                         f"(await {var}.purge({key!r})), then: {example}")
    return Passed(name, f"{key!r} in {kv.name!r} carries Nats-TTL: {headers['Nats-TTL']}; the server removes it on "
                        "time.")


async def cache_bucket(cache: Any, *, ttl: float = 2) -> Passed:
    """Exercise 5.3: a bucket whose values live ``ttl`` seconds, with expiry visible to watchers."""
    name = "Exercise 5.3 (a cache bucket)"
    if not isinstance(cache, KV):
        raise fail(name, f"pass the bucket you opened (a kvnb.KV), got {type(cache).__name__}. Example: "
                         f"page_cache = await kvnb.open_bucket('page_cache', ttl={ttl:g}, ..., fresh=True)")
    info = await cache.info()
    if info.ttl != ttl:
        now = f"{info.ttl:g} s" if info.ttl else "forever"
        raise fail(name, f"values in bucket {cache.name!r} live {now}; open it with ttl={ttl:g} "
                         "(and fresh=True to replace it).")
    if not info.limit_marker_ttl:
        raise fail(name, f"expiry is silent in bucket {cache.name!r}: add limit_marker_ttl=1 so the server writes a "
                         "PURGE marker that watchers see when a value expires.")
    return Passed(name, f"values live {info.ttl:g} s; expiry leaves a marker for {info.limit_marker_ttl:g} s.")
