"""Every bad input raises a KvnbError that names the rule and shows an example, before anything is sent."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

import kvnb
from kvnb import validation as v
from kvnb.client import NATS

Call = Callable[[kvnb.KV, NATS], Awaitable[Any]]

# (id, call, error class, regex the message must match: it names the rule)
BAD_KEYS: list[tuple[str, object, str]] = [
    ("space", "a b", r"contains space.*letters, digits"),
    ("star", "a*b", r"wildcard '\*'.*not for keys"),
    ("star-token", "a.*", r"wildcard '\*'"),
    ("gt", "a.>", r"wildcard '>'"),
    ("leading-dot", ".a", r"starts with a dot"),
    ("trailing-dot", "a.", r"ends with a dot"),
    ("double-dot", "a..b", r"two dots"),
    ("empty", "", r"empty"),
    ("non-ascii", "café", r"contains 'é'"),
    ("int", 5, r"must be a str, got int"),
    ("bytes", b"key", r"must be a str, got bytes"),
    ("none", None, r"must be a str, got NoneType"),
]

KEY_METHODS: dict[str, Callable[[kvnb.KV, Any], Awaitable[Any]]] = {
    "put": lambda kv, k: kv.put(k, "v"),
    "get": lambda kv, k: kv.get(k),
    "create": lambda kv, k: kv.create(k, "v"),
    "update": lambda kv, k: kv.update(k, "v", last=1),
    "delete": lambda kv, k: kv.delete(k),
    "purge": lambda kv, k: kv.purge(k),
    "history": lambda kv, k: kv.history(k),
}


def _other_cases() -> list[Any]:
    cases: list[tuple[str, Call, type[kvnb.KvnbError], str]] = [
        # patterns
        ("pattern-space", lambda kv, nc: kv.keys("a b"), kvnb.InvalidKey, r"contains space"),
        ("pattern-partial-star", lambda kv, nc: kv.keys("a*"), kvnb.InvalidKey, r"whole token"),
        ("pattern-gt-not-last", lambda kv, nc: kv.keys("a.>.b"), kvnb.InvalidKey, r"> may only be the last"),
        ("pattern-empty", lambda kv, nc: kv.keys(""), kvnb.InvalidKey, r"non-empty str"),
        ("pattern-int", lambda kv, nc: kv.entries(5), kvnb.InvalidKey, r"non-empty str"),  # type: ignore[arg-type]
        ("watch-pattern", lambda kv, nc: _watch(kv, "a..b"), kvnb.InvalidKey, r"two dots"),
        # bucket names
        ("bucket-dot", lambda kv, nc: kvnb.open_bucket("a.b", nc=nc), kvnb.InvalidBucketName, r"no dots.*'a_b'"),
        ("bucket-space", lambda kv, nc: kvnb.open_bucket("my bucket", nc=nc), kvnb.InvalidBucketName,
         r"letters, digits, - and _ only"),
        ("bucket-empty", lambda kv, nc: kvnb.open_bucket("", nc=nc), kvnb.InvalidBucketName, r"letters, digits"),
        ("bucket-int", lambda kv, nc: kvnb.open_bucket(7, nc=nc), kvnb.InvalidBucketName, r"must be a str"),  # type: ignore[arg-type]
        ("delete-bucket-dot", lambda kv, nc: kvnb.delete_bucket("a.b", nc=nc), kvnb.InvalidBucketName, r"no dots"),
        # bucket settings
        ("history-65", lambda kv, nc: kvnb.open_bucket("h", history=65, nc=nc), kvnb.InvalidOption, r"from 1 to 64"),
        ("history-0", lambda kv, nc: kvnb.open_bucket("h", history=0, nc=nc), kvnb.InvalidOption, r"from 1 to 64"),
        ("history-str", lambda kv, nc: kvnb.open_bucket("h", history="5", nc=nc), kvnb.InvalidOption, r"an int"),  # type: ignore[arg-type]
        ("history-bool", lambda kv, nc: kvnb.open_bucket("h", history=True, nc=nc), kvnb.InvalidOption, r"an int"),
        ("ttl-half-second", lambda kv, nc: kvnb.open_bucket("h", ttl=0.5, nc=nc), kvnb.InvalidOption, r"at least 1 s"),
        ("ttl-timedelta", lambda kv, nc: kvnb.open_bucket("h", ttl=timedelta(milliseconds=500), nc=nc),
         kvnb.InvalidOption, r"at least 1 s"),
        ("ttl-str", lambda kv, nc: kvnb.open_bucket("h", ttl="5", nc=nc), kvnb.InvalidOption, r"number of seconds"),  # type: ignore[arg-type]
        ("storage", lambda kv, nc: kvnb.open_bucket("h", storage="ssd", nc=nc), kvnb.InvalidOption,
         r"'file', 'memory'"),
        ("replicas", lambda kv, nc: kvnb.open_bucket("h", replicas=0, nc=nc), kvnb.InvalidOption, r"from 1 to 5"),
        ("max-value-size", lambda kv, nc: kvnb.open_bucket("h", max_value_size=0, nc=nc), kvnb.InvalidOption,
         r"positive int"),
        ("marker-ttl", lambda kv, nc: kvnb.open_bucket("h", limit_marker_ttl=0.1, nc=nc), kvnb.InvalidOption,
         r"at least 1 s"),
        # values
        ("value-int", lambda kv, nc: kv.put("k", 42), kvnb.InvalidValue, r"str or bytes, got int"),  # type: ignore[arg-type]
        ("value-none", lambda kv, nc: kv.put("k", None), kvnb.InvalidValue, r"str or bytes, got NoneType"),  # type: ignore[arg-type]
        ("value-dict", lambda kv, nc: kv.create("k", {"a": 1}), kvnb.InvalidValue, r"str or bytes, got dict"),  # type: ignore[arg-type]
        ("value-too-big", lambda kv, nc: kv.put("k", "x" * 17), kvnb.InvalidValue, r"17 bytes.*at most 16"),
        ("update-too-big", lambda kv, nc: kv.update("k", b"x" * 17, last=1), kvnb.InvalidValue, r"at most 16"),
        ("create-headers-too-big", lambda kv, nc: kv.create("new", "v"), kvnb.InvalidValue, r"bytes of headers"),
        ("delete-headers-too-big", lambda kv, nc: kv.delete("k"), kvnb.InvalidValue, r"bytes of headers"),
        # per-key TTLs
        ("create-ttl", lambda kv, nc: kv.create("k", "v", ttl=0.5), kvnb.InvalidOption, r"at least 1 s"),
        ("create-ttl-zero", lambda kv, nc: kv.create("k", "v", ttl=0), kvnb.InvalidOption, r"at least 1 s"),
        ("create-ttl-fraction", lambda kv, nc: kv.create("k", "v", ttl=1.5), kvnb.InvalidOption, r"whole seconds"),
        ("purge-ttl", lambda kv, nc: kv.purge("k", ttl=0.9), kvnb.InvalidOption, r"at least 1 s"),
        # revisions
        ("update-last-negative", lambda kv, nc: kv.update("k", "v", last=-1), kvnb.InvalidOption, r"int >= 0"),
        ("update-last-str", lambda kv, nc: kv.update("k", "v", last="3"), kvnb.InvalidOption, r"int >= 0"),  # type: ignore[arg-type]
        ("update-last-float", lambda kv, nc: kv.update("k", "v", last=1.0), kvnb.InvalidOption, r"int >= 0"),  # type: ignore[arg-type]
        ("delete-last-zero", lambda kv, nc: kv.delete("k", last=0), kvnb.InvalidOption, r"int >= 1"),
        ("get-revision-zero", lambda kv, nc: kv.get("k", revision=0), kvnb.InvalidOption, r"int >= 1"),
        ("watch-from-zero", lambda kv, nc: _watch(kv, ">", from_revision=0), kvnb.InvalidOption, r"int >= 1"),
        ("watch-two-modes", lambda kv, nc: _watch(kv, ">", include_history=True, updates_only=True),
         kvnb.InvalidOption, r"choose one of"),
        # connections and servers
        ("connect-url", lambda kv, nc: kvnb.connect("http://x:1"), kvnb.InvalidOption, r"scheme nats://"),
    ]
    return [pytest.param(call, cls, rule, id=name) for name, call, cls, rule in cases]


async def _watch(kv: kvnb.KV, pattern: str, **options: Any) -> None:
    kv.watch(pattern, **options)


@pytest.fixture
async def small(nc: NATS, bucket_name: str) -> kvnb.KV:
    kv = await kvnb.open_bucket(bucket_name, history=2, max_value_size=16, nc=nc, fresh=True)
    await kv.put("k", "fits in 16 bytes")
    return kv


def _check_message(err: BaseException, rule: str) -> None:
    text = str(err)
    assert isinstance(err, kvnb.KvnbError)
    assert isinstance(err, ValueError)  # InvalidInput is a ValueError too: plain `except ValueError` works
    assert re.search(rule, text, re.S), f"{text!r} does not name the rule {rule!r}"
    assert "Example" in text, f"{text!r} shows no example"


@pytest.mark.parametrize("method", sorted(KEY_METHODS))
@pytest.mark.parametrize(("key", "rule"), [pytest.param(k, r, id=i) for i, k, r in BAD_KEYS])
async def test_bad_keys(small: kvnb.KV, nc: NATS, method: str, key: object, rule: str) -> None:
    sent = dict(nc.stats)
    with pytest.raises(kvnb.InvalidKey) as err:
        await KEY_METHODS[method](small, key)
    _check_message(err.value, rule)
    assert nc.stats == sent, "something was sent before the input was checked"


@pytest.mark.parametrize(("call", "cls", "rule"), _other_cases())
async def test_bad_input(small: kvnb.KV, nc: NATS, call: Call, cls: type[kvnb.KvnbError], rule: str) -> None:
    sent = dict(nc.stats)
    with pytest.raises(cls) as err:
        await call(small, nc)
    _check_message(err.value, rule)
    assert nc.stats == sent, "something was sent before the input was checked"


async def test_the_limits_themselves_are_fine(small: kvnb.KV) -> None:
    # The rules reject only what is wrong: the edge values go through.
    assert await small.put("k", "x" * 16) > 0
    assert await small.put("fresh-key_1/=x.A", b"") > 0
    assert await small.keys("k") == ["k"]


async def test_headers_count_in_max_value_size(nc: NATS, bucket_name: str) -> None:
    # The server counts headers in max_value_size; kvnb's count must match it to the byte.
    kv = await kvnb.open_bucket(bucket_name, max_value_size=64, nc=nc, fresh=True)
    try:
        room = 64 - 52  # create() sends "Nats-Expected-Last-Subject-Sequence: 0" (52 header bytes)
        sent = dict(nc.stats)
        with pytest.raises(kvnb.InvalidValue) as err:
            await kv.create("a", "x" * (room + 1))
        assert nc.stats == sent
        _check_message(err.value, r"52 bytes of headers.*at most 64 bytes per message")
        assert await kv.create("a", "x" * room) > 0  # the server takes exactly this much
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


async def test_update_counts_its_header_like_the_server(nc: NATS, bucket_name: str) -> None:
    # update() sizes its header without building it ("Nats-Expected-Last-Subject-Sequence: <last>"):
    # the count must still match the server's to the byte, for bytes and str values alike.
    kv = await kvnb.open_bucket(bucket_name, max_value_size=64, nc=nc, fresh=True)
    try:
        rev = await kv.put("a", b"")
        header = 51 + len(str(rev))
        for value in (b"x" * (64 - header + 1), "x" * (64 - header + 1)):
            sent = dict(nc.stats)
            with pytest.raises(kvnb.InvalidValue) as err:
                await kv.update("a", value, last=rev)
            assert nc.stats == sent
            _check_message(err.value, rf"{header} bytes of headers.*at most 64 bytes per message")
        assert await kv.update("a", "x" * (64 - header), last=rev) > rev  # the server takes exactly this much
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


async def test_bad_bucket_name_is_reported_before_looking_for_a_server() -> None:
    kvnb.stop_server()
    with pytest.raises(kvnb.InvalidBucketName):
        await kvnb.open_bucket("a.b")  # not ConnectError: the input is checked first


def test_key_rule_accepts_valid_keys() -> None:
    for key in ("a", "a.b.c", "A-b_c/d=e.0", "x" * 200):
        assert v.check_key(key) == key
    for pattern in ("*", ">", "a.*.c", "a.>", "*.>"):
        assert v.check_pattern(pattern) == pattern
