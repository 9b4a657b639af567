"""Every exercise self-check passes on a right answer and fails with a useful hint on a wrong one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import kvnb
import kvnb.checks as checks
from kvnb.checks import NotYet, Passed, conflicts


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
    await not_yet(checks.rooms_stored(kv), "'nine'", "expected the reading '9'", "not a number")
    await kv.put("sensors.garage.temp", "9.5")
    await not_yet(checks.rooms_stored(kv), "reads as 9.5, not 9")
    await kv.put("sensors.garage.temp", "9")
    assert await checks.rooms_stored(kv)
    await kv.put("sensors.bedroom.temp", "18.0")     # the same reading, written another way (issue: 1.1)
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


def _replay(entries: list[kvnb.Entry], revision: int) -> dict[str, str]:
    state: dict[str, str] = {}
    for e in entries:
        if e.revision > revision:
            break
        if e.operation in ("DEL", "PURGE"):
            state.pop(e.key, None)
        else:
            state[e.key] = e.text
    return state


async def test_state_at(kv: kvnb.KV) -> None:
    await kv.put("a", "1")           # 1
    await kv.put("b", "1")           # 2
    await kv.put("a", "2")           # 3
    await kv.delete("b")             # 4
    await kv.put("c", "1")           # 5

    def keeps_deleted(entries: list[kvnb.Entry], revision: int) -> dict[str, str]:
        return {e.key: e.text for e in entries if e.revision <= revision}

    def ignores_revision(entries: list[kvnb.Entry], revision: int) -> dict[str, str]:
        return _replay(entries, 10**9)

    def returns_list(entries: list[kvnb.Entry], revision: int) -> list[str]:
        return list(_replay(entries, revision))

    def crashes(entries: list[kvnb.Entry], revision: int) -> dict[str, str]:
        return {e.key: e.json() for e in entries}

    assert await checks.state_at(kv, _replay)
    await not_yet(checks.state_at(kv, keeps_deleted), "['b']", "del marker", "entry.operation")
    await not_yet(checks.state_at(kv, ignores_revision), "written after revision", "<=")
    await not_yet(checks.state_at(kv, returns_list), "return a dict")
    await not_yet(checks.state_at(kv, crashes), "raised")
    await not_yet(checks.state_at(kv, {"a": "2"}), "pass the function itself")


async def test_state_at_refuses_the_timetravel_shortcut(kv: kvnb.KV) -> None:
    """The lazy answer of issue 14: reading the bucket through TimeTravel instead of the entries given."""
    await kv.put("config.mode", "dev")
    await kv.put("users.ada", "online")
    await kv.delete("users.ada")
    tt = kvnb.TimeTravel(kv)
    await tt.load()

    def shortcut(entries: list[kvnb.Entry], revision: int) -> dict[str, str]:
        return dict(tt.state_at(revision))

    hint = await not_yet(checks.state_at(kv, shortcut), "tt.state_at", "entries", "['config.mode', 'users.ada']")
    assert "made-up history" in str(hint)


async def test_state_at_needs_a_marker(kv: kvnb.KV) -> None:
    await kv.put("a", "1")
    await not_yet(checks.state_at(kv, _replay), "no del or purge marker", "users.ada")


# --- 03 watch --------------------------------------------------------------------------------

def _entry(key: str, value: str = "new", revision: int = 1, operation: str = "PUT") -> kvnb.Entry:
    return kvnb.Entry(bucket="b", key=key, value=value.encode(), revision=revision, operation=operation)  # type: ignore[arg-type]


async def test_watch_options() -> None:
    right = [_entry("orders.1", revision=2), _entry("orders.2", revision=5)]
    assert await checks.watch_options(right)
    await not_yet(checks.watch_options([_entry("orders.1"), _entry("prices.apple", "3"), _entry("orders.2")]),
                  "'prices.apple'", "orders.>")
    await not_yet(checks.watch_options([_entry("orders.1"), _entry("orders.1", "", operation="DEL"),
                                        _entry("orders.2")]), "ignore_deletes=True")
    await not_yet(checks.watch_options([_entry("orders.0", "old"), *right]), "updates_only=True")
    await not_yet(checks.watch_options([_entry("orders.2")]), "expected put orders.1")
    await not_yet(checks.watch_options("orders"), "running watch", "my_watch")


async def _orders(kv: kvnb.KV) -> int:
    """The writes of exercise 3.1's check cell; returns the last revision."""
    await kv.put("orders.1", "new")
    await kv.put("prices.apple", "3")
    await kv.delete("orders.1")
    return await kv.put("orders.2", "new")


async def test_watch_options_reads_a_live_watch(kv: kvnb.KV) -> None:
    await kv.put("orders.0", "old")
    my_watch = await kv.watch("orders.>", updates_only=True, ignore_deletes=True)
    assert await checks.watch_options(my_watch, up_to=await _orders(kv))
    assert my_watch.stopped                                   # the check stops it

    my_watch = await kv.watch("orders.>", ignore_deletes=True)      # forgot updates_only
    await not_yet(checks.watch_options(my_watch, up_to=await _orders(kv)), "updates_only=True")
    my_watch = await kv.watch("prices.>", updates_only=True)       # wrong pattern: bounded wait, then a hint
    await not_yet(checks.watch_options(my_watch, up_to=await _orders(kv)), "'prices.>'", "orders.>")


async def test_watch_options_closed_watch_gets_a_hint_not_a_traceback(kv: kvnb.KV) -> None:
    """Issue 14, 3.1: the answer written with `async with` is closed when its cell ends."""
    async with kv.watch("orders.>", updates_only=True, ignore_deletes=True) as my_watch:
        pass
    await not_yet(checks.watch_options(my_watch, up_to=await _orders(kv)), "my_watch is stopped", "async with",
                  "keep it open")
    never_started = kv.watch("orders.>", updates_only=True, ignore_deletes=True)
    await not_yet(checks.watch_options(never_started, up_to=await _orders(kv)), "never started", "await it")


async def _resume_setup(kv: kvnb.KV) -> int:
    for i in range(3):
        await kv.put(f"k{i}", "x")                       # revisions 1..3
    await kv.put("k0", "y")                              # 4
    await kv.delete("k1")                                # 5
    return 3


async def test_resumed(kv: kvnb.KV) -> None:
    last_seen = await _resume_setup(kv)
    resumed_watch = await kv.watch(">", from_revision=last_seen + 1)
    assert await checks.resumed(kv, last_seen, resumed_watch)
    assert resumed_watch.stopped
    await not_yet(checks.resumed(kv, last_seen, await kv.watch(">", include_history=True)),
                  "again", "last_seen + 1")
    await not_yet(checks.resumed(kv, last_seen, await kv.watch(">", updates_only=True)),
                  "missed revision(s) [4, 5, 6", "updates_only", "from_revision")
    await not_yet(checks.resumed(kv, last_seen, await kv.watch("k0", from_revision=last_seen + 1)),
                  "missed", "'>'")
    await not_yet(checks.resumed(kv, "3", resumed_watch), "last_seen")
    await not_yet(checks.resumed("kv", last_seen, resumed_watch), "kvnb.kv")


async def test_resumed_refuses_a_snapshot(kv: kvnb.KV) -> None:
    """The lazy answer of issue 14: kv.entries(...) filtered above last_seen passes for a watch."""
    last_seen = await _resume_setup(kv)
    snapshot = [e for e in await kv.entries(include_history=True, include_markers=True) if e.revision > last_seen]
    await not_yet(checks.resumed(kv, last_seen, snapshot), "resumed_watch is a list", "snapshot", "running watch")
    async with kv.watch(">", from_revision=last_seen + 1) as resumed_watch:
        await kvnb.drain(resumed_watch)
    await not_yet(checks.resumed(kv, last_seen, resumed_watch), "resumed_watch is stopped", "async with")
    read_already = await kv.watch(">", from_revision=last_seen + 1)
    await kvnb.drain(read_already, up_to=5)
    await not_yet(checks.resumed(kv, last_seen, read_already), "already read from")


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


async def _bounded(kv: kvnb.KV, key: str) -> int:
    for _ in range(100):
        entry = await kv.get(key)
        try:
            await kv.update(key, str(int(entry.text) + 1), last=entry.revision)
            return int(entry.text) + 1
        except kvnb.Conflict:
            continue
    raise RuntimeError(f"gave up incrementing {key!r} after 100 attempts")


async def test_cas_increment(kv: kvnb.KV) -> None:
    right = _bounded

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
    await not_yet(checks.cas_increment(kv, "increment"), "pass the function itself")
    await not_yet(checks.cas_increment(kv, lambda kv, key: 1), "async def")


async def test_cas_increment_refuses_an_unbounded_loop(kv: kvnb.KV, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lazy answer of issue 14: `while True` passes the concurrency test but spins forever on a hot key."""
    async def unbounded(kv: kvnb.KV, key: str) -> int:
        while True:
            entry = await kv.get(key)
            try:
                await kv.update(key, str(int(entry.text) + 1), last=entry.revision)
                return int(entry.text) + 1
            except kvnb.Conflict:
                continue

    async def gives_up_silently(kv: kvnb.KV, key: str) -> int | None:
        for _ in range(attempts):
            entry = await kv.get(key)
            try:
                await kv.update(key, str(int(entry.text) + 1), last=entry.revision)
                return int(entry.text) + 1
            except kvnb.Conflict:
                continue
        return None

    hint = await not_yet(checks.cas_increment(kv, unbounded), "increment(kv, key)", "no bound", "max_attempts")
    assert "attempts" in str(hint)
    async def backs_off_too_long(kv: kvnb.KV, key: str) -> int:
        for _ in range(100):
            entry = await kv.get(key)
            try:
                await kv.update(key, str(int(entry.text) + 1), last=entry.revision)
                return int(entry.text) + 1
            except kvnb.Conflict:
                await asyncio.sleep(0.2)
        raise RuntimeError("gave up")

    monkeypatch.setattr(conflicts, "HOT_LIMIT", 0.5)          # bound the wait of this test
    await not_yet(checks.cas_increment(kv, backs_off_too_long), "still retrying after 0.5 s", "too generous")
    monkeypatch.undo()
    attempts = 200
    await not_yet(checks.cas_increment(kv, gives_up_silently), "returned none", "raise an error")
    attempts = 1                                       # too few for 4 writers: some increments give up
    await not_yet(checks.cas_increment(kv, gives_up_silently), "returned none", "raise an error", "enough attempts")


# --- 05 delete, purge, TTL -------------------------------------------------------------------

async def _sessions(kv: kvnb.KV) -> None:
    for value in ("cart=1", "cart=2"):
        await kv.put("session.alice", value)
        await kv.put("session.bob", value)


async def test_delete_vs_purge(kv: kvnb.KV) -> None:
    await _sessions(kv)
    await not_yet(checks.delete_vs_purge(kv), "alice still has a value", "kv.delete('session.alice')")
    await kv.purge("session.alice")
    await not_yet(checks.delete_vs_purge(kv), "alice was purged", "use kv.delete()", "does not bring the purged")
    await _sessions(kv)
    await kv.delete("session.alice")
    await not_yet(checks.delete_vs_purge(kv), "bob still has a value", "kv.purge('session.bob')")
    await kv.delete("session.bob")
    await not_yet(checks.delete_vs_purge(kv), "delete() keeps them", "purge()")
    await kv.purge("session.bob")
    passed = await checks.delete_vs_purge(kv)
    assert "alice: 2 earlier value(s)" in repr(passed)     # the PURGE marker of the first try is not a value


async def test_expiring_key(kv: kvnb.KV) -> None:
    await not_yet(checks.expiring_key(kv, ttl=30), f"bucket '{kv.name}' has no 'otp.login'",
                  f"await {kv.name}.create('otp.login', '4711', ttl=30)")
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


async def test_expiring_key_refuses_the_wrong_bucket(nc: Any, kv: kvnb.KV, bucket_name: str) -> None:
    """The lazy answer of issue 14: the key created in the notebook's other bucket (`kv`, not `tokens`)."""
    tokens = await kvnb.open_bucket(f"{bucket_name}_tokens", history=5, limit_marker_ttl=1, nc=nc, fresh=True)
    try:
        await kv.create("otp.login", "4711", ttl=30)
        await not_yet(checks.expiring_key(tokens, ttl=30), f"is in bucket '{kv.name}', not in '{tokens.name}'",
                      f"await {tokens.name}.create('otp.login', '4711', ttl=30)")
        await tokens.create("otp.login", "4711", ttl=30)
        assert await checks.expiring_key(tokens, ttl=30)
    finally:
        await kvnb.delete_bucket(tokens.name, nc=nc)


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


# --- no traceback: every check of 01-05 answers a wrong type or a closed watch with a hint ------

async def _right_claim(kv: kvnb.KV, key: str, owner: str) -> bool:
    try:
        await kv.create(key, owner)
        return True
    except kvnb.Conflict:
        return False


WRONG = [None, 42, "kv", ["a"], {"a": "1"}]


@pytest.mark.parametrize("wrong", WRONG, ids=repr)
async def test_no_check_of_00_to_05_ends_in_a_traceback_for_a_wrong_type(kv: kvnb.KV, wrong: Any) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: checks.rooms_stored(wrong),
        lambda: checks.temp_pattern(wrong),
        lambda: checks.profile_json(wrong),
        lambda: checks.value_before(wrong, "x"),
        lambda: checks.keeps_last(wrong),
        lambda: checks.state_at(wrong, _replay),
        lambda: checks.state_at(kv, wrong),
        lambda: checks.watch_options(wrong, up_to=1),
        lambda: checks.resumed(wrong, 1, []),
        lambda: checks.resumed(kv, wrong, []),
        lambda: checks.resumed(kv, 1, wrong),
        lambda: checks.claim(wrong, _right_claim),
        lambda: checks.claim(kv, wrong),
        lambda: checks.cas_increment(wrong, _bounded),
        lambda: checks.cas_increment(kv, wrong),
        lambda: checks.delete_vs_purge(wrong),
        lambda: checks.expiring_key(wrong, ttl=30),
        lambda: checks.cache_bucket(wrong),
    ]
    for call in calls:
        with pytest.raises(NotYet):
            result = call()
            if isinstance(result, Awaitable):
                await result


async def test_no_check_of_03_ends_in_a_traceback_for_a_closed_watch(kv: kvnb.KV) -> None:
    for make in (lambda: checks.watch_options(closed, up_to=1), lambda: checks.resumed(kv, 0, closed)):
        async with kv.watch(">") as closed:
            pass
        await not_yet(make(), "is stopped", "async with")
