"""Self-checks of notebook 07 (under the hood: the stream, subjects and headers)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import nats.js.errors

from ..bucket import KV
from ._core import Passed, fail, require_callable

__all__ = ["raw_delete", "raw_update", "stream_and_subject"]


def stream_and_subject(stream: Any, subject: Any, mirror_stream: Any = None, put_subject: Any = None, *,
                       bucket: str = "x-y", key: str = "a.b", mirror: str = "backup") -> Passed:
    """Exercise 7.1: the stream of bucket ``bucket``, the subject of ``key``, and for a mirror bucket
    ``mirror`` of ``bucket``: the stream that holds the copy and the subject a put of ``key`` goes to."""
    name = "Exercise 7.1 (names on the wire)"
    if stream == "KV_shop" or subject == "$KV.shop.orders.42":
        raise fail(name, f"those are the names of bucket 'shop' from this notebook; the question is about bucket "
                         f"{bucket!r} and key {key!r}: apply the rule to them.")
    if stream != f"KV_{bucket}":
        if isinstance(stream, str) and stream.lower() == f"kv_{bucket}":
            hint = "stream names are upper-case KV_ then the bucket name"
        elif isinstance(stream, str) and stream.replace("_", "-") == f"KV-{bucket}":
            hint = "the bucket name is kept exactly as it is (hyphens are allowed in names); only the prefix is KV_"
        else:
            hint = "a bucket is the stream KV_<bucket>"
        raise fail(name, f"stream = {stream!r} is not it: {hint}.")
    if subject != f"$KV.{bucket}.{key}":
        hint = "subjects are $KV.<bucket>.<key>, with the key's dots kept as they are (they are subject tokens)"
        if isinstance(subject, str) and subject.startswith("KV."):
            hint = "it starts with a dollar sign: $KV.<bucket>.<key>"
        raise fail(name, f"subject = {subject!r} is not it: {hint}.")
    if mirror_stream is None or put_subject is None:
        raise fail(name, f"now the mirror: set mirror_stream (the stream of the mirror bucket {mirror!r}) and "
                         f"put_subject (where a put of {key!r} through it is published), and pass them too.")
    if mirror_stream != f"KV_{mirror}":
        hint = (f"{mirror_stream!r} is the origin's stream; a mirror bucket is a stream of its own, named the same "
                "way as any bucket" if mirror_stream == f"KV_{bucket}" else "every bucket, a mirror too, is KV_<name>")
        raise fail(name, f"mirror_stream = {mirror_stream!r} is not it: {hint}.")
    if put_subject != f"$KV.{bucket}.{key}":
        hint = ("a mirror captures no subjects of its own (it copies the origin's stream), so a put through it is "
                "published on the origin bucket's subject and reaches the mirror when it copies it")
        raise fail(name, f"put_subject = {put_subject!r} is not it: {hint}.")
    return Passed(name, f"bucket {bucket!r} is {stream}, key {key!r} is {subject}; the mirror {mirror!r} is "
                        f"{mirror_stream} and its writes go to {put_subject}.")


RawUpdate = Callable[[Any, str, str, str, int], Awaitable[Any]]


async def raw_update(kv: KV, fn: RawUpdate, *, key: str = "check.raw_update") -> Passed:
    """Exercise 7.2: ``fn(js, bucket, key, value, last)`` publishes like ``kv.update`` would."""
    name = "Exercise 7.2 (update by hand)"
    require_callable(name, fn, "await kvnb.checks.raw_update(kv, raw_update)")
    rev = await kv.put(key, "packed")
    try:
        seq = await fn(kv.js, kv.name, key, "shipped", rev)
    except Exception as err:  # the learner's code: show what went wrong
        raise fail(name, f"with the right last revision your function raised {type(err).__name__}: {err}. "
                         "Publish to $KV.<bucket>.<key> with "
                         "headers={'Nats-Expected-Last-Subject-Sequence': str(last)}.") from None
    entry = await kv.get(key)
    if entry.text != "shipped":
        raise fail(name, f"after your function the key holds {entry.text!r}, not 'shipped': publish the value to "
                         f"the key's subject $KV.{kv.name}.{key}.")
    if seq != entry.revision:
        raise fail(name, f"return the stream sequence of the write (ack.seq = {entry.revision}), got {seq!r}.")
    try:
        await fn(kv.js, kv.name, key, "lost", rev)  # rev is stale now
    except nats.js.errors.APIError as err:
        if err.err_code != 10071:
            raise fail(name, f"the stale write failed, but with {err.description} (code {err.err_code}) "
                             "instead of 'wrong last sequence' (10071).") from None
    except Exception as err:
        raise fail(name, f"the stale write raised {type(err).__name__}: {err}; let nats-py's error through.") from None
    else:
        raise fail(name, "the server accepted a write with a stale last revision: add the header "
                         "Nats-Expected-Last-Subject-Sequence: str(last) so the server can refuse it.")
    if (await kv.get(key)).text != "shipped":
        raise fail(name, "the stale write changed the value; it must not.")
    return Passed(name, "kv.update(key, value, last) is exactly this publish with one header.")


RawDelete = Callable[[Any, str, str], Awaitable[Any]]


async def raw_delete(kv: KV, fn: RawDelete, *, key: str = "check.raw_delete") -> Passed:
    """Exercise 7.3: ``fn(js, bucket, key)`` places a DEL marker the way ``kv.delete`` does."""
    name = "Exercise 7.3 (delete by hand)"
    require_callable(name, fn, "await kvnb.checks.raw_delete(kv, raw_delete)")
    await kv.put(key, "v1")
    try:
        await fn(kv.js, kv.name, key)
    except Exception as err:
        raise fail(name, f"your function raised {type(err).__name__}: {err}.") from None
    history = await kv.history(key)
    last = history[-1] if history else None
    if last is None or last.operation == "PURGE" or len(history) == 1:
        raise fail(name, "the old value vanished from history: that is a purge (the Nats-Rollup header). "
                         "A delete only adds a marker: headers={'KV-Operation': 'DEL'} and no rollup.")
    if last.operation == "PUT":
        raise fail(name, f"the latest entry is a PUT of {last.text!r}: without the header KV-Operation: DEL "
                         "an empty message is just an empty value.")
    return Passed(name, f"revision {last.revision} is a DEL marker and {history[0].text!r} is still in history.")
