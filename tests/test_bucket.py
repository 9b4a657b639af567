"""The KV wrapper (kvnb.bucket) against the session's real nats-server."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from _helpers import server_without_jetstream

import kvnb
from kvnb import permissions
from kvnb.client import NATS
from kvnb.server import Server, launch

# --- operations and values ------------------------------------------------------------------

async def test_operations_are_named(kv: kvnb.KV) -> None:
    await kv.put("a", "1")
    await kv.delete("a")
    await kv.put("b", "1")
    await kv.purge("b")
    assert [e.operation for e in await kv.history("a")] == ["PUT", "DEL"]
    assert [e.operation for e in await kv.history("b")] == ["PURGE"]  # a purge drops what came before
    await kv.put("c", "x")
    got = await kv.get("c")
    assert got.operation == "PUT"
    assert isinstance(got.created, datetime)  # nats-py leaves it None on get()
    ops = {e.key: e.operation for e in await kv.entries(include_markers=True)}
    assert ops == {"a": "DEL", "b": "PURGE", "c": "PUT"}


async def test_str_and_bytes_values(kv: kvnb.KV) -> None:
    await kv.put("text", "héllo ✓")
    await kv.put("raw", b"\x00\xff\x10")
    await kv.put("array", bytearray(b"ab"))
    assert (await kv.get("text")).value == "héllo ✓".encode()
    assert (await kv.get("text")).text == "héllo ✓"
    assert (await kv.get("raw")).value == b"\x00\xff\x10"
    assert (await kv.get("array")).value == b"ab"


async def test_empty_value_is_the_same_from_get_and_watch(kv: kvnb.KV) -> None:
    rev = await kv.put("empty", "")
    got = await kv.get("empty")
    async with kv.watch("empty") as watch:
        watched = await anext(aiter(watch))
    assert got.value == watched.value == b""
    assert got.revision == watched.revision == rev
    assert (await kv.history("empty"))[0].value == b""


# --- keys --------------------------------------------------------------------------------------

async def test_keys_of_an_empty_bucket(kv: kvnb.KV) -> None:
    assert await kv.keys() == []
    assert await kv.keys("a.*") == []


async def test_keys_without_deleted_ones(kv: kvnb.KV) -> None:
    for key in ("x", "y", "z"):
        await kv.put(key, "1")
    await kv.delete("y")
    await kv.purge("z")
    assert await kv.keys() == ["x"]


async def test_keys_pattern_uses_nats_wildcards_not_substrings(kv: kvnb.KV) -> None:
    for key in ("sensors.kitchen.temp", "sensors.hall.temp", "sensors.kitchen.humidity",
                "sensors.temp", "xsensors.a.temp", "top"):
        await kv.put(key, "1")
    assert await kv.keys("sensors.*.temp") == ["sensors.hall.temp", "sensors.kitchen.temp"]
    assert await kv.keys("sensors.>") == [
        "sensors.hall.temp", "sensors.kitchen.humidity", "sensors.kitchen.temp", "sensors.temp"]
    assert await kv.keys("*") == ["top"]
    assert await kv.keys("temp") == []  # a substring match would return four keys
    assert await kv.keys("sensors") == []
    assert len(await kv.keys()) == 6


# --- conflicts -----------------------------------------------------------------------------------

async def test_failed_create_is_a_conflict(kv: kvnb.KV) -> None:
    rev = await kv.create("k", "first")
    with pytest.raises(kvnb.Conflict) as err:
        await kv.create("k", "second")
    assert (err.value.key, err.value.expected, err.value.current) == ("k", 0, rev)
    assert "'k'" in str(err.value) and str(rev) in str(err.value)
    assert (await kv.get("k")).text == "first"


async def test_failed_update_is_a_conflict(kv: kvnb.KV) -> None:
    r1 = await kv.put("k", "1")
    r2 = await kv.update("k", "2", last=r1)
    assert r2 > r1
    with pytest.raises(kvnb.Conflict) as err:
        await kv.update("k", "3", last=r1)
    assert (err.value.key, err.value.expected, err.value.current) == ("k", r1, r2)
    text = str(err.value)
    assert f"last={r1}" in text and f"revision {r2}" in text and "Fix:" in text
    assert (await kv.get("k")).text == "2"


async def test_failed_delete_with_last_is_a_conflict(kv: kvnb.KV) -> None:
    r1 = await kv.put("k", "1")
    r2 = await kv.put("k", "2")
    with pytest.raises(kvnb.Conflict) as err:
        await kv.delete("k", last=r1)
    assert (err.value.key, err.value.expected, err.value.current) == ("k", r1, r2)
    assert (await kv.get("k")).text == "2"
    deleted = await kv.delete("k", last=r2)
    assert deleted > r2


async def test_update_of_a_missing_key_with_last_is_a_conflict(kv: kvnb.KV) -> None:
    with pytest.raises(kvnb.Conflict) as err:
        await kv.update("never", "v", last=5)
    assert err.value.expected == 5
    assert err.value.current == 0


# --- reads ----------------------------------------------------------------------------------------

async def test_missing_key(kv: kvnb.KV) -> None:
    with pytest.raises(kvnb.KeyNotFound) as err:
        await kv.get("nope")
    assert not isinstance(err.value, kvnb.KeyDeleted)
    assert "'nope'" in str(err.value)
    assert await kv.get_value("nope", "fallback") == "fallback"


async def test_deleted_and_purged_keys(kv: kvnb.KV) -> None:
    await kv.put("d", "1")
    drev = await kv.delete("d")
    await kv.put("p", "1")
    prev = await kv.purge("p")
    with pytest.raises(kvnb.KeyDeleted) as deleted:
        await kv.get("d")
    assert (deleted.value.revision, deleted.value.operation) == (drev, "DEL")
    with pytest.raises(kvnb.KeyDeleted) as purged:
        await kv.get("p")
    assert (purged.value.revision, purged.value.operation) == (prev, "PURGE")
    assert isinstance(purged.value, kvnb.KeyNotFound)  # `except KeyNotFound` covers both
    assert "purged" in str(purged.value) and "deleted" in str(deleted.value)


async def test_get_at_a_revision(kv: kvnb.KV) -> None:
    r1 = await kv.put("k", "one")
    other = await kv.put("other", "x")
    r2 = await kv.put("k", "two")
    drev = await kv.delete("k")
    assert (await kv.get("k", revision=r1)).text == "one"
    assert (await kv.get("k", revision=r2)).text == "two"
    with pytest.raises(kvnb.KeyNotFound) as err:
        await kv.get("k", revision=other)  # revisions are shared: this one belongs to "other"
    assert err.value.revision == other
    with pytest.raises(kvnb.KeyNotFound):
        await kv.get("k", revision=drev + 100)
    with pytest.raises(kvnb.KeyDeleted):
        await kv.get("k", revision=drev)


async def test_history(kv: kvnb.KV) -> None:
    assert await kv.history("missing") == []
    revs = [await kv.put("h", str(i)) for i in range(3)]
    await kv.put("h2", "not mine")
    history = await kv.history("h")
    assert [e.revision for e in history] == revs
    assert [e.text for e in history] == ["0", "1", "2"]


async def test_history_is_limited_by_the_bucket(nc: NATS, bucket_name: str) -> None:
    kv = await kvnb.open_bucket(bucket_name, history=2, nc=nc, fresh=True)
    try:
        for i in range(5):
            await kv.put("k", str(i))
        assert [e.text for e in await kv.history("k")] == ["3", "4"]
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


async def test_create_over_a_tombstone(kv: kvnb.KV) -> None:
    await kv.put("k", "1")
    drev = await kv.delete("k")
    rev = await kv.create("k", "again")
    assert rev > drev
    assert (await kv.get("k")).text == "again"
    prev = await kv.purge("k")
    assert await kv.create("k", "third") > prev


async def test_entries(kv: kvnb.KV) -> None:
    await kv.put("a", "1")
    await kv.put("a", "2")
    await kv.put("b", "1")
    await kv.delete("b")
    assert [(e.key, e.text) for e in await kv.entries()] == [("a", "2")]
    assert [(e.key, e.operation) for e in await kv.entries(include_markers=True)] == [("a", "PUT"), ("b", "DEL")]
    assert len(await kv.entries(include_history=True, include_markers=True)) == 4


# --- opening buckets ---------------------------------------------------------------------------

async def test_open_existing_bucket_as_it_is(nc: NATS, bucket_name: str) -> None:
    kv = await kvnb.open_bucket(bucket_name, history=5, nc=nc, fresh=True)
    try:
        await kv.put("k", "kept")
        again = await kvnb.open_bucket(bucket_name, nc=nc)
        assert again.history_depth == 5
        assert (await again.get("k")).text == "kept"
        same = await kvnb.open_bucket(bucket_name, history=5, nc=nc)
        assert (await same.get("k")).text == "kept"
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


async def test_open_with_other_settings_changes_nothing(nc: NATS, bucket_name: str) -> None:
    kv = await kvnb.open_bucket(bucket_name, history=5, nc=nc, fresh=True)
    try:
        for i in range(4):
            await kv.put("k", str(i))
        with pytest.raises(kvnb.BucketConfigMismatch) as err:
            await kvnb.open_bucket(bucket_name, history=2, nc=nc)
        text = str(err.value)
        assert "history=2" in text and "it has 5" in text and "fresh=True" in text
        with pytest.raises(kvnb.BucketConfigMismatch, match="storage"):
            await kvnb.open_bucket(bucket_name, storage="memory", nc=nc)
        info = await kv.info()
        assert (info.history, info.storage) == (5, "file")
        assert len(await kv.history("k")) == 4  # a create-or-update with history 2 would have cut it
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


async def test_fresh_recreates(nc: NATS, bucket_name: str) -> None:
    kv = await kvnb.open_bucket(bucket_name, history=5, nc=nc, fresh=True)
    try:
        await kv.put("k", "old")
        await kv.put("k", "older")
        new = await kvnb.open_bucket(bucket_name, history=2, storage="memory", nc=nc, fresh=True)
        assert await new.keys() == []
        info = await new.info()
        assert (info.history, info.storage, info.last_revision) == (2, "memory", 0)  # the counter starts again
        assert await new.put("k", "new") == 1
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


async def test_info(kv: kvnb.KV) -> None:
    await kv.put("a", "12345")
    info = await kv.info()
    assert info.name == kv.name
    assert info.history == 10
    assert info.values == 1
    assert info.last_revision == 1
    assert info.direct is True


async def test_delete_bucket(nc: NATS, bucket_name: str) -> None:
    await kvnb.open_bucket(bucket_name, nc=nc)
    assert await kvnb.delete_bucket(bucket_name, nc=nc) is True
    assert await kvnb.delete_bucket(bucket_name, nc=nc) is False


async def test_a_deleted_bucket_says_so(nc: NATS, bucket_name: str) -> None:
    kv = await kvnb.open_bucket(bucket_name, nc=nc)
    await kvnb.delete_bucket(bucket_name, nc=nc)
    with pytest.raises(kvnb.BucketNotFound, match="open_bucket"):
        await kv.put("k", "v")
    with pytest.raises(kvnb.BucketNotFound):
        await kv.info()


async def test_purge_deletes(kv: kvnb.KV) -> None:
    await kv.put("a", "1")
    await kv.delete("a")
    await kv.put("b", "1")
    await kv.purge("b")
    await kv.put("c", "1")
    assert await kv.purge_deletes(older_than=3600) == 0  # the markers are younger than an hour
    assert await kv.purge_deletes() == 2
    assert await kv.history("a") == [] and await kv.history("b") == []
    assert [e.key for e in await kv.entries(include_markers=True)] == ["c"]
    assert (await kv.js.stream_info(f"KV_{kv.name}")).state.consumer_count == 0  # no watcher left behind


# --- permission denials ---------------------------------------------------------------------

DENIAL_BOUND = 3.0  # seconds; a denied request is never answered, and nats-py alone would wait 5 s


@pytest.fixture(scope="module")
def perm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """Account OWNER: ``admin`` may do anything, ``learner`` may write only bucket ``open``, ``noapi`` may not
    use the JetStream API, ``noinbox`` may not receive replies. Account GUEST imports read access to bucket
    ``shared`` under ``$JS.owner.API``."""
    password = secrets.token_hex(8)
    learner = {"publish": {"allow": ["$JS.API.>", "$KV.open.>"]}, "subscribe": {"allow": ["_INBOX.>"]}}
    noapi = {"publish": {"allow": ["$KV.>"]}, "subscribe": {"allow": ["_INBOX.>"]}}
    noinbox = {"subscribe": {"allow": ["mine.>"]}}
    shared = ("STREAM.INFO.KV_shared", "DIRECT.GET.KV_shared.>")
    exports = ", ".join(f'{{ service: "$JS.API.{s}" }}' for s in shared)
    imports = ", ".join(f'{{ service: {{ account: OWNER, subject: "$JS.API.{s}" }}, to: "$JS.owner.API.{s}" }}'
                        for s in shared)
    users = [f"{{ user: {name}, password: {password}, permissions: {json.dumps(perms)} }}"
             for name, perms in (("learner", learner), ("noapi", noapi), ("noinbox", noinbox))]
    config = (
        "accounts {\n"
        f"  OWNER: {{ jetstream: enabled, users: [ {{ user: admin, password: {password} }}, {', '.join(users)} ],\n"
        f"          exports: [ {exports} ] }}\n"
        f"  GUEST: {{ jetstream: enabled, users: [ {{ user: guest, password: {password} }} ],\n"
        f"          imports: [ {imports} ] }}\n"
        "}\n"
    )
    path = tmp_path_factory.mktemp("perm") / "perm.conf"
    path.write_text(config)
    server = launch(config_file=path, name="kvnb-perm")
    try:
        yield server, password
    finally:
        server.stop()


@pytest.fixture
async def logins(perm_server: tuple[Server, str]) -> AsyncIterator[Callable[[str], Awaitable[NATS]]]:
    server, password = perm_server
    made: list[NATS] = []

    async def login(user: str) -> NATS:
        made.append(await kvnb.connect(server.url, user=user, password=password))
        return made[-1]

    try:
        yield login
    finally:
        for conn in made:
            await kvnb.client.close_connection(conn)


async def test_a_denied_write_is_a_permission_error_at_once(logins: Callable[[str], Awaitable[NATS]]) -> None:
    admin = await logins("admin")
    locked = await kvnb.open_bucket("locked", history=2, nc=admin, fresh=True)
    rev = await locked.put("mode", "blue")
    await kvnb.open_bucket("open", history=2, nc=admin, fresh=True)
    learner = await logins("learner")
    mine = await kvnb.open_bucket("locked", nc=learner)  # the JetStream API is allowed, $KV.locked.> is not
    assert (await mine.get("mode")).text == "blue"
    writable = await kvnb.open_bucket("open", nc=learner)
    # A denied write and an allowed one in flight together on one connection: only the denied one fails.
    denied, allowed = await asyncio.wait_for(
        asyncio.gather(mine.put("mode", "red"), writable.put("mode", "green"), return_exceptions=True), DENIAL_BOUND)
    assert isinstance(allowed, int) and (await writable.get("mode")).revision == allowed
    assert isinstance(denied, kvnb.PermissionDenied), denied
    assert denied.subject == "$KV.locked.mode"
    text = str(denied)
    assert "put('mode'): permission denied: your user may not publish to '$KV.locked.mode'" in text
    assert 'allow publish to "$KV.locked.>"' in text and "Rule:" in text and "Fix:" in text
    for write in (mine.update("mode", "red", last=rev), mine.delete("mode"), mine.create("new", "x")):
        with pytest.raises(kvnb.PermissionDenied, match=r"may not publish to '\$KV\.locked\."):
            await asyncio.wait_for(write, DENIAL_BOUND)
    assert (await locked.get("mode")).revision == rev


async def test_denied_gets_and_lost_replies_on_an_open_bucket_fail_at_once(
        logins: Callable[[str], Awaitable[NATS]]) -> None:
    # put, get and update register with the permission guard inline (their hot path): check they still
    # fail at once, for a denied read and for a user whose replies cannot arrive.
    admin = await logins("admin")
    locked = await kvnb.open_bucket("locked", history=2, nc=admin, fresh=True)
    rev = await locked.put("mode", "blue")
    info = await admin.jetstream().stream_info("KV_locked")
    noapi = kvnb.KV(await logins("noapi"), info)  # may publish to $KV.>, not to the JetStream API
    with pytest.raises(kvnb.PermissionDenied, match="may not publish to") as err:
        await asyncio.wait_for(noapi.get("mode"), DENIAL_BOUND)
    assert err.value.subject == "$JS.API.DIRECT.GET.KV_locked.$KV.locked.mode"
    noinbox = kvnb.KV(await logins("noinbox"), info)
    calls = {"put": lambda: noinbox.put("mode", "red"), "get": lambda: noinbox.get("mode"),
             "update": lambda: noinbox.update("mode", "red", last=rev)}
    for name, call in calls.items():
        with pytest.raises(kvnb.PermissionDenied, match=rf"{name}\('mode'\): permission denied: .*may not subscribe"):
            await asyncio.wait_for(call(), DENIAL_BOUND)


async def test_a_denied_open_bucket_names_the_api_subject(logins: Callable[[str], Awaitable[NATS]]) -> None:
    noapi = await logins("noapi")
    with pytest.raises(kvnb.PermissionDenied) as err:
        await asyncio.wait_for(kvnb.open_bucket("locked", nc=noapi), DENIAL_BOUND)
    assert err.value.subject == "$JS.API.STREAM.INFO.KV_locked"
    assert "open_bucket('locked'): permission denied" in str(err.value)
    assert 'allow publish to "$JS.API.STREAM.INFO.KV_locked"' in str(err.value)


async def test_no_permission_for_the_reply_inbox_says_so(logins: Callable[[str], Awaitable[NATS]]) -> None:
    noinbox = await logins("noinbox")
    for _ in range(2):  # the first request meets the denial; later ones must not wait for a reply either
        with pytest.raises(kvnb.PermissionDenied, match=r"may not subscribe to '_inbox\..*allow subscribe to "
                                                         r'"_INBOX\.>"'):
            await asyncio.wait_for(kvnb.open_bucket("locked", nc=noinbox), DENIAL_BOUND)


async def test_a_bucket_shared_by_another_account_is_read_only(logins: Callable[[str], Awaitable[NATS]]) -> None:
    admin = await logins("admin")
    owned = await kvnb.open_bucket("shared", history=2, nc=admin, fresh=True)
    await owned.put("motd", "hello")
    guest = await logins("guest")
    shared = await kvnb.open_bucket("shared", nc=guest, js_prefix="$JS.owner.API")
    assert (await shared.get("motd")).text == "hello"  # reads are exported to GUEST
    with pytest.raises(kvnb.PermissionDenied, match=r"no stream in your account takes writes to '\$KV\.shared\.motd'"):
        await asyncio.wait_for(shared.put("motd", "hacked"), DENIAL_BOUND)  # was: BucketNotFound "probably deleted"
    with pytest.raises(kvnb.PermissionDenied, match=r"no JetStream API answered at '\$JS\.owner\.API'"):
        await kvnb.open_bucket("other", nc=guest, js_prefix="$JS.owner.API")  # was: a raw ServiceUnavailableError
    with pytest.raises(kvnb.PermissionDenied, match="no JetStream API answered"):
        await kvnb.open_bucket("shared", nc=guest, js_prefix="$JS.owner.API", fresh=True)  # delete is not exported
    assert (await owned.get("motd")).text == "hello"


# --- "no JetStream answered": the likely cause first ---------------------------------------------

STANDALONE = {"server_name": "s", "jetstream": True}
CLUSTER_NODE = {"server_name": "n1", "jetstream": True, "cluster": "kvnb"}
NO_JETSTREAM = {"server_name": "s"}  # nats-server leaves "jetstream" out of INFO when it runs without it


@pytest.mark.parametrize(("inputs", "expected"), [
    # the server's own error code decides
    ({"err_code": 10008, "server_info": CLUSTER_NODE}, [permissions.CLUSTER_BUSY]),
    ({"err_code": 10076, "server_info": CLUSTER_NODE}, [permissions.NOT_ON_SERVER]),
    ({"err_code": 10039, "server_info": STANDALONE}, [permissions.NOT_FOR_ACCOUNT]),
    # else INFO: no JetStream on this server / a cluster node / nothing known
    ({"server_info": NO_JETSTREAM}, [permissions.NOT_ON_SERVER]),
    ({"server_info": NO_JETSTREAM, "timed_out": True}, [permissions.NOT_ON_SERVER]),
    ({"server_info": CLUSTER_NODE, "timed_out": True},
     [permissions.CLUSTER_BUSY, permissions.RESTARTING, permissions.NO_ACCESS]),
    ({"server_info": STANDALONE, "timed_out": True}, [permissions.RESTARTING, permissions.NO_ACCESS]),
    ({"server_info": STANDALONE}, [permissions.NOT_FOR_ACCOUNT, permissions.NO_ACCESS]),
    ({}, [permissions.NOT_ENABLED, permissions.NO_ACCESS]),
    # an earlier success on this connection: JetStream is enabled, do not blame its setup
    ({"server_info": CLUSTER_NODE, "js_ok": True},
     [permissions.CLUSTER_BUSY, permissions.RESTARTING, permissions.NO_ACCESS]),
    ({"server_info": STANDALONE, "js_ok": True}, [permissions.RESTARTING, permissions.NO_ACCESS]),
])
def test_unavailable_causes_come_most_likely_first(inputs: dict[str, object], expected: list[str]) -> None:
    assert permissions.unavailable_causes(**inputs) == expected  # type: ignore[arg-type]


def test_unavailable_message_words_one_cause_or_a_ranked_list() -> None:
    busy = permissions.unavailable_message("open_bucket('b')", err_code=10008, server_info=CLUSTER_NODE,
                                           description="JetStream system temporarily unavailable")
    assert busy.startswith("open_bucket('b'): the server answered 'JetStream system temporarily unavailable' "
                           "(JetStream error 10008): the cluster's JetStream has no leader right now")
    assert "retry in a few seconds" in busy and "Fix:" in busy and "not enabled" not in busy
    ranked = permissions.unavailable_message("put('k')", timed_out=True, server_info=CLUSTER_NODE)
    first, second = ranked.index("(1) the cluster's JetStream has no leader"), ranked.index("(2) the server is stopped")
    assert ranked.startswith("put('k'): the server did not answer in time. Likely causes, most likely first:")
    assert first < second < ranked.index("(3) your user may not use the JetStream API")


@pytest.fixture(scope="module")
def no_jetstream_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server_without_jetstream(Path(tmp_path_factory.mktemp("nojs"))) as url:
        yield url


async def test_a_server_without_jetstream_is_named_as_the_cause(no_jetstream_url: str) -> None:
    nc = await kvnb.connect(no_jetstream_url)
    try:
        for _ in range(2):  # the same answer every time, and nothing about clusters or accounts
            with pytest.raises(kvnb.ServerError) as err:
                await asyncio.wait_for(kvnb.open_bucket("orders", nc=nc), 10)
            text = str(err.value)
            assert text.startswith("open_bucket('orders'): no JetStream API answered: JetStream is not enabled on "
                                   "this server. Fix: start nats-server with --jetstream"), text
            assert not any(word in text for word in ("cluster", "leader", "account", "permission")), text
    finally:
        await kvnb.client.close_connection(nc)


async def test_get_from_a_deleted_bucket_says_the_bucket_is_gone(nc, bucket_name) -> None:
    kv = await kvnb.open_bucket(bucket_name, nc=nc, fresh=True)
    await kv.put("k", "v")
    await kvnb.delete_bucket(bucket_name, nc=nc)
    with pytest.raises(kvnb.BucketNotFound, match="deleted"):
        await kv.get("k")


@pytest.mark.parametrize("method", ["put", "update", "create"])
async def test_a_str_that_is_not_valid_unicode_is_an_invalid_value(kv, method) -> None:
    args = ("k", "bad \udc80 text", 0) if method == "update" else ("k", "bad \udc80 text")
    sent = kv.nc.stats["out_msgs"]
    with pytest.raises(kvnb.InvalidValue, match="UTF-8"):
        await getattr(kv, method)(*args)
    assert kv.nc.stats["out_msgs"] == sent


async def test_a_frozen_server_is_blamed_before_permissions_when_a_put_times_out(tmp_path: Path) -> None:
    # The bucket opened on this connection, so JetStream works for it: a request that now goes
    # unanswered most likely meets a stopped or restarting server, and the error says that first.
    server = launch(store_dir=tmp_path / "store", name="kvnb-frozen")
    nc = await kvnb.connect(server.url)
    try:
        kv = await kvnb.open_bucket("frozen", nc=nc)
        await kv.put("k", "1")
        os.kill(server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(kvnb.ServerError) as err:
                await kv.put("k", "2")
        finally:
            os.kill(server.pid, signal.SIGCONT)
        text = str(err.value)
        assert text.startswith("put('k'): the server did not answer in time. Likely causes, most likely first: "
                               "(1) the server is stopped or restarting."), text
        assert "(2) your user may not use the JetStream API" in text and "not enabled" not in text
        # The put had left before the server froze: it is applied once the server runs again, as the error warns.
        assert "this write may still be applied" in text and "kv.get('k')" in text
        deadline = time.monotonic() + 10
        while (await kv.get("k")).value != b"2":
            assert time.monotonic() < deadline, "the put sent before the freeze was never applied"
            await asyncio.sleep(0.05)
    finally:
        await kvnb.client.close_connection(nc)
        server.stop()


async def test_the_longest_bucket_name_the_server_takes_is_accepted(nc: kvnb.client.NATS) -> None:
    """252 characters is the server's own limit (KV_ + name ≤ 255): kvnb's check is neither stricter nor looser."""
    name = "b" * kvnb.validation.MAX_BUCKET_NAME
    kv = await kvnb.open_bucket(name, nc=nc, fresh=True)
    try:
        assert await kv.put("k", "v") == 1
    finally:
        assert await kvnb.delete_bucket(name, nc=nc)
    with pytest.raises(kvnb.InvalidBucketName, match="at most 252"):
        await kvnb.open_bucket(name + "b", nc=nc)
