"""Bad input, table-driven: each case raises exactly one kvnb error whose message names the rule.

"Exactly one" means one exception of the expected kvnb class with no chained cause behind it, so
a learner sees one message, not a cascade. Each message must name the rule broken (a keyword
checked per case) and say how to fix it. The Playground widget shows the same errors inline,
as its result line, never as a traceback.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import kvnb
from kvnb import server as kvnb_server
from kvnb.server import Server, launch

FIX_WORDS = ("Fix", "Example", "fix:", "example")


@dataclass
class Ctx:
    """What a case may use: buckets on the session server, its URL, monkeypatch, a temp dir."""

    kv: kvnb.KV
    small: kvnb.KV  # max_value_size=64
    url: str
    monkeypatch: pytest.MonkeyPatch
    tmp: Path
    cleanup: list[Callable[[], Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Ctx], Awaitable[Any]]
    error: type[kvnb.KvnbError]
    rule: str  # a word of the rule that the message must contain (case-insensitive)
    playground: tuple[Any, ...] | None = None  # (action, key, value[, last]) when the Playground can show it


async def _stale_update(ctx: Ctx) -> None:
    first = await ctx.kv.put("stale", "1")
    await ctx.kv.put("stale", "2")
    await ctx.kv.update("stale", "3", last=first)


async def _stale_delete(ctx: Ctx) -> None:
    first = await ctx.kv.put("stale_del", "1")
    await ctx.kv.put("stale_del", "2")
    await ctx.kv.delete("stale_del", last=first)


async def _create_existing(ctx: Ctx) -> None:
    await ctx.kv.put("exists", "1")
    await ctx.kv.create("exists", "2")


async def _get_deleted(ctx: Ctx) -> None:
    await ctx.kv.put("gone", "1")
    await ctx.kv.delete("gone")
    await ctx.kv.get("gone")


async def _closed_port(ctx: Ctx) -> None:
    with socket.socket() as s:  # a port that was free a moment ago and where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await kvnb.connect(f"nats://127.0.0.1:{port}")


async def _no_server_at_all(ctx: Ctx) -> None:
    ctx.monkeypatch.delenv("NATS_URL", raising=False)
    ctx.monkeypatch.setattr(kvnb_server._default, "value", None)
    await kvnb.open_bucket("nowhere")


async def _port_taken(ctx: Ctx) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        server = launch(port=s.getsockname()[1], name="kvnb-port-taken")
        server.stop()  # not reached when the check works


async def _missing_binary(ctx: Ctx) -> None:
    ctx.monkeypatch.setenv("KVNB_NATS_SERVER", str(ctx.tmp / "no-such-nats-server"))
    launch(name="kvnb-missing-binary").stop()


def _nats_url(value: str) -> Callable[[Ctx], Awaitable[Any]]:
    async def call(ctx: Ctx) -> None:
        ctx.monkeypatch.setenv("NATS_URL", value)
        await kvnb.connect()

    return call


async def _wrong_password(ctx: Ctx) -> None:
    password = secrets.token_hex(8)  # made up per run: nothing secret is committed
    config = ctx.tmp / "auth.conf"
    config.write_text(f'authorization {{ user: "learner", password: "{password}" }}\n')
    server = launch(name="kvnb-auth", config_file=config)
    ctx.cleanup.append(server.stop)
    await kvnb.connect(server.url, user="learner", password=password + "x")


async def _mismatched_bucket(ctx: Ctx) -> None:
    await kvnb.open_bucket(ctx.kv.name, history=3, nc=ctx.kv.nc)


async def _batch_too_big(ctx: Ctx) -> None:
    kv = await kvnb.open_bucket(f"{ctx.kv.name}_atomic", atomic=True, fresh=True, nc=ctx.kv.nc)
    try:
        async with kv.batch() as b:
            for i in range(1001):
                b.put(f"k.{i}", "v")
    finally:
        await kvnb.delete_bucket(kv.name, nc=kv.nc)


async def _batch_without_atomic(ctx: Ctx) -> None:
    async with ctx.kv.batch() as b:
        b.put("k", "v")


async def _counter_text_increment(ctx: Ctx) -> None:
    counter = await kvnb.open_counter(f"{ctx.kv.name}_c", fresh=True, nc=ctx.kv.nc)
    try:
        await counter.add("likes", "5")  # type: ignore[arg-type]
    finally:
        await kvnb.delete_counter(counter.name, nc=ctx.kv.nc)


async def _revert_other_key(ctx: Ctx) -> None:
    other = await ctx.kv.put("size", "L")
    await ctx.kv.put("color", "blue")
    await ctx.kv.revert("color", other)


async def _revert_not_kept(ctx: Ctx) -> None:
    kv = await kvnb.open_bucket(f"{ctx.kv.name}_h1", history=1, fresh=True, nc=ctx.kv.nc)
    try:
        first = await kv.put("color", "blue")
        await kv.put("color", "red")
        await kv.revert("color", first)
    finally:
        await kvnb.delete_bucket(kv.name, nc=kv.nc)


CASES = [
    # keys
    Case("key-empty", lambda c: c.kv.put("", "v"), kvnb.InvalidKey, "empty", ("put", "", "v")),
    Case("key-space", lambda c: c.kv.put("my key", "v"), kvnb.InvalidKey, "space", ("put", "my key", "v")),
    Case("key-wildcard", lambda c: c.kv.put("a.*", "v"), kvnb.InvalidKey, "wildcard", ("put", "a.*", "v")),
    Case("key-leading-dot", lambda c: c.kv.put(".a", "v"), kvnb.InvalidKey, "dot", ("put", ".a", "v")),
    Case("key-double-dot", lambda c: c.kv.get("a..b"), kvnb.InvalidKey, "two dots", ("get", "a..b")),
    Case("key-trailing-dot", lambda c: c.kv.delete("a."), kvnb.InvalidKey, "ends with a dot", ("delete", "a.")),
    Case("key-not-str", lambda c: c.kv.put(42, "v"), kvnb.InvalidKey, "must be a str"),
    Case("key-trailing-newline", lambda c: c.kv.put("a.b\n", "v"), kvnb.InvalidKey, "letters, digits",
         ("put", "a.b\n", "v")),
    Case("key-unicode", lambda c: c.kv.put("café", "v"), kvnb.InvalidKey, "letters, digits", ("put", "café", "v")),
    Case("pattern-partial-wildcard", lambda c: c.kv.keys("a.b*"), kvnb.InvalidKey, "whole token"),
    Case("pattern-gt-not-last", lambda c: c.kv.entries("a.>.b"), kvnb.InvalidKey, "last token"),
    # bucket names
    Case("bucket-dot", lambda c: kvnb.open_bucket("my.bucket", nc=c.kv.nc), kvnb.InvalidBucketName, "no dots"),
    Case("bucket-empty", lambda c: kvnb.open_bucket("", nc=c.kv.nc), kvnb.InvalidBucketName, "letters, digits"),
    Case("bucket-trailing-newline", lambda c: kvnb.open_bucket("abc\n", nc=c.kv.nc), kvnb.InvalidBucketName,
         "letters, digits"),
    Case("bucket-space", lambda c: kvnb.delete_bucket("my bucket", nc=c.kv.nc), kvnb.InvalidBucketName, "spaces"),
    Case("bucket-too-long", lambda c: kvnb.open_bucket("b" * 300, nc=c.kv.nc), kvnb.InvalidBucketName,
         "at most 252 characters"),
    Case("bucket-other-settings", _mismatched_bucket, kvnb.BucketConfigMismatch, "other settings"),
    # values and sizes
    Case("value-int", lambda c: c.kv.put("k", 42), kvnb.InvalidValue, "str or bytes"),
    Case("value-dict", lambda c: c.kv.put("k", {"on": True}), kvnb.InvalidValue, "str or bytes"),
    Case("value-over-bucket-limit", lambda c: c.small.put("k", "x" * 65), kvnb.InvalidValue, "at most 64 bytes"),
    Case("value-over-server-limit", lambda c: c.kv.put("k", b"x" * (c.kv.nc.max_payload + 1)), kvnb.InvalidValue,
         "at most"),
    # revisions
    Case("update-stale-revision", _stale_update, kvnb.Conflict, "latest revision"),
    Case("delete-stale-revision", _stale_delete, kvnb.Conflict, "latest revision"),
    Case("create-existing", _create_existing, kvnb.Conflict, "already exists"),
    Case("update-negative-last", lambda c: c.kv.update("k", "v", last=-1), kvnb.InvalidOption, "revision",
         ("update", "k", "v", -1)),
    Case("update-str-last", lambda c: c.kv.update("k", "v", last="3"), kvnb.InvalidOption, "int"),
    Case("get-revision-zero", lambda c: c.kv.get("k", revision=0), kvnb.InvalidOption, ">= 1"),
    Case("get-missing", lambda c: c.kv.get("never.written"), kvnb.KeyNotFound, "not found", ("get", "never.written")),
    Case("get-deleted", _get_deleted, kvnb.KeyDeleted, "deleted"),
    # bucket options and TTLs
    Case("history-zero", lambda c: kvnb.open_bucket("h0", history=0, nc=c.kv.nc), kvnb.InvalidOption, "history"),
    Case("history-too-deep", lambda c: kvnb.open_bucket("h65", history=65, nc=c.kv.nc), kvnb.InvalidOption, "64"),
    Case("ttl-half-second", lambda c: kvnb.open_bucket("t05", ttl=0.5, nc=c.kv.nc), kvnb.InvalidOption,
         "at least 1 second"),
    Case("create-ttl-fraction", lambda c: c.kv.create("k2", "v", ttl=1.5), kvnb.InvalidOption, "whole seconds"),
    Case("purge-ttl-str", lambda c: c.kv.purge("k", ttl="5"), kvnb.InvalidOption, "seconds"),
    Case("storage-unknown", lambda c: kvnb.open_bucket("s", storage="disk", nc=c.kv.nc), kvnb.InvalidOption,
         "one of"),
    Case("replicas-zero", lambda c: kvnb.open_bucket("r0", replicas=0, nc=c.kv.nc), kvnb.InvalidOption, "replicas"),
    Case("watch-two-starts", lambda c: _sync(lambda: c.kv.watch(">", include_history=True, updates_only=True)),
         kvnb.InvalidOption, "choose one"),
    # beyond nats-py: batches, counters, revert, several watch patterns
    Case("batch-too-big", _batch_too_big, kvnb.InvalidBatch, "at most 1000"),
    Case("batch-without-atomic", _batch_without_atomic, kvnb.InvalidBatch, "atomic=True"),
    Case("counter-text-increment", _counter_text_increment, kvnb.InvalidValue, "whole number"),
    Case("revert-other-key", _revert_other_key, kvnb.RevisionNotFound, "belongs to key"),
    Case("revert-not-kept", _revert_not_kept, kvnb.RevisionNotFound, "no longer keeps"),
    Case("watch-overlapping-patterns", lambda c: _sync(lambda: c.kv.watch(["orders.>", "orders.eu.*"])),
         kvnb.InvalidKey, "must not overlap"),
    Case("update-without-atomic", lambda c: kvnb.open_bucket(c.kv.name, update=True, nc=c.kv.nc), kvnb.InvalidOption,
         "needs atomic=True"),
    Case("atomic-not-bool", lambda c: kvnb.open_bucket("a1", atomic="yes", nc=c.kv.nc), kvnb.InvalidOption,
         "True or False"),
    # servers and connections
    Case("no-server-at-port", _closed_port, kvnb.ConnectError, "cannot connect"),
    Case("no-server-started", _no_server_at_all, kvnb.ConnectError, "start_server"),
    Case("port-taken", _port_taken, kvnb.ServerStartError, "already in use"),
    Case("port-out-of-range", lambda c: _sync(lambda: kvnb.start_server(port=70000)), kvnb.InvalidOption, "65535"),
    Case("missing-binary", _missing_binary, kvnb.ServerNotFound, "not an executable"),
    Case("nats-url-bad-scheme", _nats_url("http://127.0.0.1:4222"), kvnb.InvalidOption, "scheme"),
    Case("nats-url-bad-port", _nats_url("nats://127.0.0.1:port"), kvnb.InvalidOption, "port"),
    Case("nats-url-no-host", _nats_url("nats://:4222"), kvnb.InvalidOption, "host"),
    Case("wrong-credentials", _wrong_password, kvnb.ConnectError, "password"),
]


async def _sync(fn: Callable[[], Any]) -> Any:
    return fn()


@pytest.fixture
async def ctx(kv: kvnb.KV, nats_server: Server, monkeypatch: pytest.MonkeyPatch,
              tmp_path: Path) -> Any:
    small = await kvnb.open_bucket(f"{kv.name}_small", max_value_size=64, fresh=True, nc=kv.nc)
    context = Ctx(kv=kv, small=small, url=nats_server.url, monkeypatch=monkeypatch, tmp=tmp_path)
    try:
        yield context
    finally:
        for stop in context.cleanup:
            stop()
        await kvnb.delete_bucket(small.name, nc=kv.nc)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_bad_input_raises_one_kvnb_error_naming_the_rule(ctx: Ctx, case: Case) -> None:
    with pytest.raises(kvnb.KvnbError) as caught:
        await asyncio.wait_for(case.call(ctx), 20)
    err = caught.value
    assert type(err) is case.error or isinstance(err, case.error), f"{type(err).__name__}: {err}"
    message = str(err)
    assert case.rule.lower() in message.lower(), f"the message does not name the rule ({case.rule!r}): {message}"
    assert any(word in message for word in FIX_WORDS), f"the message shows no fix or example: {message}"
    # one error: nothing chained behind it that a traceback would print as well
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__), \
        f"{type(err).__name__} carries a chained {type(err.__context__ or err.__cause__).__name__}"


PLAYGROUND_CASES = [c for c in CASES if c.playground is not None]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", PLAYGROUND_CASES, ids=[c.id for c in PLAYGROUND_CASES])
async def test_playground_shows_bad_input_inline(kv: kvnb.KV, case: Case) -> None:
    playground_cls = getattr(kvnb, "Playground", None)
    if playground_cls is None:
        pytest.skip("kvnb.Playground does not exist yet")
    pg = playground_cls(kv)
    try:
        action, key, *rest = case.playground  # type: ignore[misc]
        value = rest[0] if rest else None
        last = rest[1] if len(rest) > 1 else None
        text = await asyncio.wait_for(pg.do(action, key, value, last=last), 20)  # never raises
        assert pg.ok is False
        assert text == pg.result
        assert case.rule.lower() in pg.result.lower(), pg.result
        assert "Traceback" not in pg.result and "Traceback" not in repr(pg)
        assert pg.result in repr(pg)  # the inline result line of the text view
        assert "kvnb-pg-result" in pg._repr_html_() and "Traceback" not in pg._repr_html_()
    finally:
        await pg.aclose()
