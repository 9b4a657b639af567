"""Every exercise self-check passes on a right answer and fails with a useful hint on a wrong one."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import kvnb
import kvnb.checks as checks
from kvnb.checks import NotYet, Passed


async def not_yet(check: Awaitable[Any] | Callable[[], Any], *phrases: str) -> NotYet:
    """Run a check that must fail (a coroutine, or a lambda for a plain check); its hint must
    mention every phrase (case-insensitive)."""
    with pytest.raises(NotYet) as info:
        if isinstance(check, Awaitable):
            await check
        else:
            check()
    hint = str(info.value).lower()
    for phrase in phrases:
        assert phrase.lower() in hint, f"{phrase!r} not in hint: {info.value}"
    return info.value


def test_not_yet_renders_as_a_hint_not_a_traceback() -> None:
    err = NotYet("Exercise 9.9 (x)", "use create()")
    assert err._render_traceback_() == ["\u274c Exercise 9.9 (x): not yet.", "   Hint: use create()"]
    assert isinstance(err, AssertionError) and isinstance(err, kvnb.KvnbError)
    passed = Passed("Exercise 9.9 (x)", "fine")
    assert passed and "well done" in repr(passed)


def test_every_check_is_exported() -> None:
    public = [name for name in checks.__all__ if name not in ("NotYet", "Passed")]
    assert len(public) >= 14
    assert all(callable(getattr(checks, name)) for name in public)


# --- 01 put and get --------------------------------------------------------------------------

async def test_rooms_stored(kv: kvnb.KV) -> None:
    await kv.put("sensors.kitchen.temp", "21.5")
    await kv.put("sensors.bedroom.temp", "18")
    await not_yet(checks.rooms_stored(kv), "sensors.garage.temp", "kv.put")
    await kv.put("sensors.garage", "9")
    await not_yet(checks.rooms_stored(kv), "'sensors.garage'", "dots")
    await kv.put("sensors.garage.temp", "nine")
    await not_yet(checks.rooms_stored(kv), "'nine'", "expected '9'")
    await kv.put("sensors.garage.temp", "9")
    assert await checks.rooms_stored(kv)


async def test_temp_pattern() -> None:
    assert checks.temp_pattern("sensors.*.temp")
    await not_yet(lambda: checks.temp_pattern("sensors.>"), "humidity", "'>'")
    await not_yet(lambda: checks.temp_pattern("sensors.kitchen.temp"), "does not match", "exactly one token")
    await not_yet(lambda: checks.temp_pattern("sensors.*"), "does not match")
    await not_yet(lambda: checks.temp_pattern("*.*.temp"), "weather.kitchen.temp")
    await not_yet(lambda: checks.temp_pattern("sensors.te*"), "wildcard must be a whole token")
    await not_yet(lambda: checks.temp_pattern(42), "pattern string")


async def test_profile_json(kv: kvnb.KV) -> None:
    await not_yet(checks.profile_json(kv), "no value under 'users.ada'")
    await kv.put("users.ada", str({"name": "Ada", "languages": ["Python"]}))
    await not_yet(checks.profile_json(kv), "json.dumps", "single quotes")
    await kv.put("users.ada", json.dumps({"name": "Ada", "languages": []}))
    await not_yet(checks.profile_json(kv), "non-empty list")
    await kv.put("users.ada", json.dumps(["Ada"]))
    await not_yet(checks.profile_json(kv), "make it an object")
    await kv.put("users.ada", json.dumps({"name": "Ada", "languages": ["Python", "Go"]}))
    assert await checks.profile_json(kv)


# --- 02 revisions ----------------------------------------------------------------------------

async def test_value_before(kv: kvnb.KV) -> None:
    await kv.put("config.mode", "dev")
    await not_yet(checks.value_before(kv, "dev"), "fewer than two values")
    await kv.put("config.mode", "test")
    await kv.put("config.color", "blue")
    await kv.put("config.mode", "prod")
    await not_yet(checks.value_before(kv, "prod"), "latest value", "[-2]")
    await not_yet(checks.value_before(kv, "dev"), "history('config.mode')")
    entry = (await kv.history("config.mode"))[-2]
    await not_yet(checks.value_before(kv, entry), "entry.text")
    assert await checks.value_before(kv, "test")


async def test_keeps_last(nc: Any, bucket_name: str) -> None:
    await not_yet(checks.keeps_last("notes"), "kvnb.KV")
    notes = await kvnb.open_bucket(bucket_name, history=10, nc=nc, fresh=True)
    try:
        await not_yet(checks.keeps_last(notes), "history=5")
        notes = await kvnb.open_bucket(bucket_name, history=5, nc=nc, fresh=True)
        await not_yet(checks.keeps_last(notes), "no history")
        for i in range(1, 7):
            await notes.put("note", f"v{i}")
        await not_yet(checks.keeps_last(notes), "['v2', 'v3', 'v4', 'v5', 'v6']", "'v7'")
        await notes.put("note", "v7")
        assert await checks.keeps_last(notes)
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


async def test_state_at(kv: kvnb.KV) -> None:
    await kv.put("a", "1")           # 1
    await kv.put("b", "1")           # 2
    await kv.put("a", "2")           # 3
    await kv.delete("b")             # 4
    await kv.put("c", "1")           # 5
    await not_yet(checks.state_at(kv, 4, ["a"]), "dict")
    await not_yet(checks.state_at(kv, 4, {"a": "2", "b": "1"}), "['b']", "drop keys")
    await not_yet(checks.state_at(kv, 4, {"a": "2", "c": "1"}), "['c']")
    await not_yet(checks.state_at(kv, 2, {"a": "1"}), "['b']", "missing")
    await not_yet(checks.state_at(kv, 3, {"a": "1", "b": "1"}), "'a' was '2'")
    assert await checks.state_at(kv, 4, {"a": "2"})
    assert await checks.state_at(kv, 2, {"a": "1", "b": "1"})


# --- 03 watch --------------------------------------------------------------------------------

def _entry(key: str, value: str = "new", revision: int = 1, operation: str = "PUT") -> kvnb.Entry:
    return kvnb.Entry(bucket="b", key=key, value=value.encode(), revision=revision, operation=operation)  # type: ignore[arg-type]


async def test_watch_options() -> None:
    right = [_entry("orders.1", revision=2), _entry("orders.2", revision=5)]
    assert checks.watch_options(right)
    await not_yet(lambda: checks.watch_options([_entry("orders.1"), _entry("prices.apple", "3"), _entry("orders.2")]),
                  "'prices.apple'", "orders.>")
    await not_yet(lambda: checks.watch_options([_entry("orders.1"), _entry("orders.1", "", operation="DEL"),
                                        _entry("orders.2")]), "ignore_deletes=True")
    await not_yet(lambda: checks.watch_options([_entry("orders.0", "old"), *right]), "updates_only=True")
    await not_yet(lambda: checks.watch_options([_entry("orders.2")]), "expected put orders.1")
    await not_yet(lambda: checks.watch_options("orders"), "list of entry")


async def test_resumed(kv: kvnb.KV) -> None:
    for i in range(3):
        await kv.put(f"k{i}", "x")                       # revisions 1..3
    last_seen = 3
    await kv.put("k0", "y")                              # 4
    await kv.delete("k1")                                # 5
    async with kv.watch(">", from_revision=last_seen + 1) as w:
        await w.wait_caught_up(5)
        got = [w_entry async for w_entry in _take(w, 2)]
    assert await checks.resumed(kv, last_seen, got)
    async with kv.watch(">", include_history=True) as w:
        everything = [e async for e in _take(w, 5)]
    await not_yet(checks.resumed(kv, last_seen, everything), "again", "last_seen + 1")
    await not_yet(checks.resumed(kv, last_seen, []), "missed revision(s) [4, 5]", "updates_only")
    await not_yet(checks.resumed(kv, last_seen, got[:1]), "missed revision(s) [5]", "from_revision")


async def _take(watch: kvnb.Watch, n: int):  # type: ignore[no-untyped-def]
    count = 0
    async for entry in watch:
        yield entry
        count += 1
        if count == n:
            return


# --- 04 conflicts ----------------------------------------------------------------------------

async def test_claim(kv: kvnb.KV) -> None:
    async def right(kv: kvnb.KV, key: str, owner: str) -> bool:
        try:
            await kv.create(key, owner)
            return True
        except kvnb.Conflict:
            return False

    async def with_put(kv: kvnb.KV, key: str, owner: str) -> bool:
        await kv.put(key, owner)
        return True

    async def lets_conflict_escape(kv: kvnb.KV, key: str, owner: str) -> bool:
        await kv.create(key, owner)
        return True

    async def returns_revision(kv: kvnb.KV, key: str, owner: str) -> int:
        return await kv.create(key, owner)

    assert await checks.claim(kv, right)
    await not_yet(checks.claim(kv, with_put), "use create()")
    await not_yet(checks.claim(kv, lets_conflict_escape), "catch it", "return false")
    await not_yet(checks.claim(kv, returns_revision), "return true")
    await not_yet(checks.claim(kv, "claim"), "pass the function itself")


async def test_cas_increment(kv: kvnb.KV) -> None:
    async def right(kv: kvnb.KV, key: str) -> int:
        while True:
            entry = await kv.get(key)
            try:
                await kv.update(key, str(int(entry.text) + 1), last=entry.revision)
                return int(entry.text) + 1
            except kvnb.Conflict:
                continue

    async def lost_updates(kv: kvnb.KV, key: str) -> int:
        entry = await kv.get(key)
        await kv.put(key, str(int(entry.text) + 1))
        return int(entry.text) + 1

    async def no_retry(kv: kvnb.KV, key: str) -> int:
        entry = await kv.get(key)
        await kv.update(key, str(int(entry.text) + 1), last=entry.revision)
        return int(entry.text) + 1

    async def returns_nothing(kv: kvnb.KV, key: str) -> None:
        await right(kv, key)

    assert await checks.cas_increment(kv, right)
    await not_yet(checks.cas_increment(kv, lost_updates), "updates were lost", "last=entry.revision")
    await not_yet(checks.cas_increment(kv, no_retry), "conflict", "retry")
    await not_yet(checks.cas_increment(kv, returns_nothing), "return the new value")


# --- 05 delete, purge, TTL -------------------------------------------------------------------

async def _sessions(kv: kvnb.KV) -> None:
    for value in ("cart=1", "cart=2"):
        await kv.put("session.alice", value)
        await kv.put("session.bob", value)


async def test_delete_vs_purge(kv: kvnb.KV) -> None:
    await _sessions(kv)
    await not_yet(checks.delete_vs_purge(kv), "alice still has a value", "delete()")
    await kv.purge("session.alice")
    await not_yet(checks.delete_vs_purge(kv), "alice was purged", "use delete()")
    await _sessions(kv)
    await kv.delete("session.alice")
    await not_yet(checks.delete_vs_purge(kv), "bob still has a value", "purge()")
    await kv.delete("session.bob")
    await not_yet(checks.delete_vs_purge(kv), "delete() keeps them", "purge()")
    await kv.purge("session.bob")
    assert await checks.delete_vs_purge(kv)


async def test_expiring_key(kv: kvnb.KV) -> None:
    await not_yet(checks.expiring_key(kv, ttl=30), "does not exist")
    await kv.put("otp.login", "4711")
    await not_yet(checks.expiring_key(kv, ttl=30), "no ttl of its own", "ttl=30")
    await kv.delete("otp.login")
    await not_yet(checks.expiring_key(kv, ttl=30), "del marker")
    await kv.create("otp.login", "1234", ttl=30)
    await not_yet(checks.expiring_key(kv, ttl=30), "expected '4711'")
    await kv.purge("otp.login")
    await kv.create("otp.login", "4711", ttl=60)
    await not_yet(checks.expiring_key(kv, ttl=30), "lives 60 s")
    await kv.purge("otp.login")
    await kv.create("otp.login", "4711", ttl=30)
    assert await checks.expiring_key(kv, ttl=30)


async def test_cache_bucket(nc: Any, bucket_name: str) -> None:
    await not_yet(checks.cache_bucket("page_cache"), "kvnb.KV")
    try:
        silent = await kvnb.open_bucket(bucket_name, ttl=2, nc=nc, fresh=True)
        await not_yet(checks.cache_bucket(silent), "limit_marker_ttl")
        forever = await kvnb.open_bucket(bucket_name, nc=nc, fresh=True)
        await not_yet(checks.cache_bucket(forever), "forever", "ttl=2")
        right = await kvnb.open_bucket(bucket_name, ttl=2, limit_marker_ttl=1, nc=nc, fresh=True)
        assert await checks.cache_bucket(right)
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


# --- 06 patterns -----------------------------------------------------------------------------

async def test_flag_reader(kv: kvnb.KV) -> None:
    async def right(kv: kvnb.KV, name: str, default: bool = False) -> bool:
        try:
            return (await kv.get(f"flags.{name}")).text == "true"
        except kvnb.KeyNotFound:
            return default

    async def returns_text(kv: kvnb.KV, name: str, default: bool = False) -> Any:
        try:
            return (await kv.get(f"flags.{name}")).text
        except kvnb.KeyNotFound:
            return default

    async def no_default(kv: kvnb.KV, name: str, default: bool = False) -> bool:
        return (await kv.get(f"flags.{name}")).text == "true"

    async def ignores_default(kv: kvnb.KV, name: str, default: bool = False) -> bool:
        try:
            return (await kv.get(f"flags.{name}")).text == "true"
        except kvnb.KeyNotFound:
            return False

    async def no_default_param(kv: kvnb.KV, name: str) -> bool:
        try:
            return (await kv.get(f"flags.{name}")).text == "true"
        except kvnb.KeyNotFound:
            return False

    assert await checks.flag_reader(kv, right)
    await not_yet(checks.flag_reader(kv, returns_text), "return a bool", "truthy")
    await not_yet(checks.flag_reader(kv, no_default), "catch kvnb.keynotfound")
    await not_yet(checks.flag_reader(kv, ignores_default), "default=true", "expected true")
    await not_yet(checks.flag_reader(kv, no_default_param), "default parameter")


async def test_renew_lease(kv: kvnb.KV) -> None:
    async def right(kv: kvnb.KV, key: str, me: str, last: int) -> int | None:
        try:
            return await kv.update(key, me, last=last)
        except kvnb.Conflict:
            return None

    async def with_put(kv: kvnb.KV, key: str, me: str, last: int) -> int:
        return await kv.put(key, me)

    async def lets_conflict_escape(kv: kvnb.KV, key: str, me: str, last: int) -> int:
        return await kv.update(key, me, last=last)

    async def returns_nothing(kv: kvnb.KV, key: str, me: str, last: int) -> None:
        await right(kv, key, me, last)

    assert await checks.renew_lease(kv, right)
    await not_yet(checks.renew_lease(kv, with_put), "overwrote svc-b", "last=last")
    await not_yet(checks.renew_lease(kv, lets_conflict_escape), "catch it and return none")
    await not_yet(checks.renew_lease(kv, returns_nothing), "return the new revision")


async def test_lock_by_hand(kv: kvnb.KV) -> None:
    async def try_lock(kv: kvnb.KV, key: str, owner: str) -> int | None:
        try:
            return await kv.create(key, owner)
        except kvnb.Conflict:
            return None

    async def unlock(kv: kvnb.KV, key: str, revision: int) -> bool:
        try:
            await kv.delete(key, last=revision)
        except kvnb.Conflict:
            return False
        return True

    async def with_put(kv: kvnb.KV, key: str, owner: str) -> int:
        return await kv.put(key, owner)

    async def lets_conflict_escape(kv: kvnb.KV, key: str, owner: str) -> int:
        return await kv.create(key, owner)

    async def blind_unlock(kv: kvnb.KV, key: str, revision: int) -> bool:
        await kv.delete(key)
        return True

    async def unlock_raises(kv: kvnb.KV, key: str, revision: int) -> bool:
        await kv.delete(key, last=revision)
        return True

    async def unlock_returns_nothing(kv: kvnb.KV, key: str, revision: int) -> None:
        await unlock(kv, key, revision)

    assert await checks.lock_by_hand(kv, try_lock, unlock)
    await not_yet(checks.lock_by_hand(kv, with_put, unlock), "job-2 got the lock", "kv.create")
    await not_yet(checks.lock_by_hand(kv, lets_conflict_escape, unlock), "catch kvnb.conflict and return none")
    await not_yet(checks.lock_by_hand(kv, try_lock, blind_unlock), "released job-2's lock", "last=revision")
    await not_yet(checks.lock_by_hand(kv, try_lock, unlock_raises), "return false")
    await not_yet(checks.lock_by_hand(kv, try_lock, unlock_returns_nothing), "return false")
    await not_yet(checks.lock_by_hand(kv, try_lock, 42), "pass the function itself")


# --- 07 under the hood -----------------------------------------------------------------------

async def test_stream_and_subject() -> None:
    right = ("KV_x-y", "$KV.x-y.a.b", "KV_backup", "$KV.x-y.a.b")
    assert checks.stream_and_subject(*right)
    await not_yet(lambda: checks.stream_and_subject("KV_shop", "$KV.shop.orders.42"), "bucket 'x-y'", "apply the rule")
    await not_yet(lambda: checks.stream_and_subject("kv_x-y", *right[1:]), "upper-case kv_")
    await not_yet(lambda: checks.stream_and_subject("KV_x_y", *right[1:]), "hyphens are allowed")
    await not_yet(lambda: checks.stream_and_subject("x-y", *right[1:]), "kv_<bucket>")
    await not_yet(lambda: checks.stream_and_subject("KV_x-y", "KV.x-y.a.b", *right[2:]), "dollar sign")
    await not_yet(lambda: checks.stream_and_subject("KV_x-y", "$KV.x-y.a_b", *right[2:]), "dots kept")
    await not_yet(lambda: checks.stream_and_subject("KV_x-y", "$KV.x-y.a.b"), "now the mirror", "mirror_stream")
    await not_yet(lambda: checks.stream_and_subject("KV_x-y", "$KV.x-y.a.b", "KV_x-y", "$KV.x-y.a.b"),
                  "stream of its own")
    await not_yet(lambda: checks.stream_and_subject("KV_x-y", "$KV.x-y.a.b", "KV_backup", "$KV.backup.a.b"),
                  "origin bucket's subject")


async def test_raw_update(kv: kvnb.KV) -> None:
    async def right(js: Any, bucket: str, key: str, value: str, last: int) -> int:
        ack = await js.publish(f"$KV.{bucket}.{key}", value.encode(),
                               headers={"Nats-Expected-Last-Subject-Sequence": str(last)})
        return ack.seq

    async def no_header(js: Any, bucket: str, key: str, value: str, last: int) -> int:
        return (await js.publish(f"$KV.{bucket}.{key}", value.encode())).seq

    async def wrong_subject(js: Any, bucket: str, key: str, value: str, last: int) -> int:
        return (await js.publish(f"$KV.{bucket}.other", value.encode())).seq

    async def returns_ack(js: Any, bucket: str, key: str, value: str, last: int) -> Any:
        return await js.publish(f"$KV.{bucket}.{key}", value.encode(),
                                headers={"Nats-Expected-Last-Subject-Sequence": str(last)})

    assert await checks.raw_update(kv, right)
    await not_yet(checks.raw_update(kv, no_header), "stale last revision", "nats-expected-last-subject-sequence")
    await not_yet(checks.raw_update(kv, wrong_subject), "not 'shipped'")
    await not_yet(checks.raw_update(kv, returns_ack), "ack.seq")


async def test_raw_delete(kv: kvnb.KV) -> None:
    async def right(js: Any, bucket: str, key: str) -> None:
        await js.publish(f"$KV.{bucket}.{key}", b"", headers={"KV-Operation": "DEL"})

    async def empty_put(js: Any, bucket: str, key: str) -> None:
        await js.publish(f"$KV.{bucket}.{key}", b"")

    async def purges(js: Any, bucket: str, key: str) -> None:
        await js.publish(f"$KV.{bucket}.{key}", b"", headers={"KV-Operation": "PURGE", "Nats-Rollup": "sub"})

    assert await checks.raw_delete(kv, right)
    await not_yet(checks.raw_delete(kv, empty_put), "kv-operation: del")
    await not_yet(checks.raw_delete(kv, purges), "purge", "no rollup")
