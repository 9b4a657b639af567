"""Atomic batches (kvnb.batch) against a real nats-server: all of a batch lands, at consecutive revisions, or none.

Includes a SIGKILL of the server in the middle of a batch of 500: after the restart every key of
the batch is there, or none is.
"""

from __future__ import annotations

import asyncio
import random
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import kvnb
from kvnb.client import close_connection
from kvnb.server import launch

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def akv(nc: kvnb.client.NATS, bucket_name: str) -> AsyncIterator[kvnb.KV]:
    bucket = await kvnb.open_bucket(bucket_name, history=10, atomic=True, fresh=True, nc=nc)
    try:
        yield bucket
    finally:
        await kvnb.delete_bucket(bucket_name, nc=nc)


async def test_every_operation_commits_at_consecutive_revisions(akv: kvnb.KV) -> None:
    stock = await akv.put("stock.apple", "10")
    await akv.put("cart.1", "apple")
    await akv.put("old.1", "x")
    async with akv.batch() as b:
        b.put("order.1.status", "paid")
        b.create("order.1.id", "1")
        b.update("stock.apple", "9", last=stock)
        b.delete("cart.1")
        b.purge("old.1")
    assert b.revisions == list(range(stock + 3, stock + 8))
    assert (await akv.get("order.1.status")).text == "paid"
    assert (await akv.get("order.1.id")).revision == b.revisions[1]
    assert (await akv.get("stock.apple")).text == "9"
    with pytest.raises(kvnb.KeyDeleted):
        await akv.get("cart.1")
    assert [e.operation for e in await akv.history("old.1")] == ["PURGE"]


async def test_entries_keep_the_batch_id_sequence_and_commit(akv: kvnb.KV) -> None:
    async with akv.batch() as b:
        for i in range(3):
            b.put(f"k.{i}", str(i))
    entries = await akv.entries()
    assert [e.batch_id for e in entries] == [b.batch_id] * 3
    assert [e.batch_sequence for e in entries] == [1, 2, 3]
    assert [e.batch_commit for e in entries] == [False, False, True]
    await akv.put("k.0", "plain")
    plain = await akv.history("k.0")
    assert plain[-1].batch_id is None and plain[-1].batch_sequence is None and not plain[-1].batch_commit


async def test_a_stale_condition_refuses_the_whole_batch(akv: kvnb.KV) -> None:
    first = await akv.put("stock.apple", "10")
    now = await akv.put("stock.apple", "8")
    before = await akv.info()
    with pytest.raises(kvnb.Conflict) as caught:
        async with akv.batch() as b:
            b.put("order.2.status", "paid")
            b.put("order.2.total", "5")
            b.update("stock.apple", "9", last=first)
    assert caught.value.key == "stock.apple"
    assert caught.value.expected == first and caught.value.current == now
    assert "none of its writes" in str(caught.value)
    assert b.revisions == []
    assert (await akv.info()).last_revision == before.last_revision
    assert await akv.keys("order.>") == []


async def test_create_of_an_existing_key_refuses_the_batch_before_sending(akv: kvnb.KV) -> None:
    rev = await akv.put("order.3.id", "3")
    last = (await akv.info()).last_revision
    with pytest.raises(kvnb.Conflict) as caught:
        async with akv.batch() as b:
            b.put("order.3.status", "new")
            b.create("order.3.id", "3")
    assert caught.value.key == "order.3.id" and caught.value.current == rev
    assert (await akv.info()).last_revision == last


async def test_create_may_replace_a_tombstone(akv: kvnb.KV) -> None:
    await akv.put("seat.1", "ann")
    await akv.delete("seat.1")
    async with akv.batch() as b:
        b.create("seat.1", "bob")
    assert (await akv.get("seat.1")).text == "bob"


async def test_an_exception_inside_the_block_sends_nothing(akv: kvnb.KV) -> None:
    last = (await akv.info()).last_revision
    with pytest.raises(ZeroDivisionError):
        async with akv.batch() as b:
            b.put("a", "1")
            b.put("b", "2")
            1 / 0  # noqa: B018
    assert (await akv.info()).last_revision == last
    assert b.revisions == []


async def test_an_empty_batch_writes_nothing(akv: kvnb.KV) -> None:
    async with akv.batch() as b:
        pass
    assert b.revisions == [] and (await akv.info()).last_revision == 0


async def test_a_thousand_operations_is_the_limit(akv: kvnb.KV) -> None:
    async with akv.batch() as b:
        for i in range(1000):
            b.put(f"many.{i}", str(i))
    assert len(b.revisions) == 1000 and b.revisions[-1] - b.revisions[0] == 999
    assert len(await akv.keys("many.>")) == 1000
    last = (await akv.info()).last_revision
    with pytest.raises(kvnb.InvalidBatch, match="at most 1000"):
        async with akv.batch() as b:
            for i in range(1001):
                b.put(f"more.{i}", str(i))
    assert (await akv.info()).last_revision == last


async def test_a_bucket_without_atomic_is_refused_before_anything_is_sent(kv: kvnb.KV) -> None:
    assert not kv.atomic
    with pytest.raises(kvnb.InvalidBatch, match="atomic=True"):
        kv.batch()


async def test_a_conditioned_key_may_appear_once(akv: kvnb.KV) -> None:
    async with akv.batch() as b:
        b.put("x", "1")
        with pytest.raises(kvnb.InvalidBatch, match="only once"):
            b.update("x", "2", last=0)
        b.put("x", "3")  # a plain overwrite of a plain write is fine
    assert (await akv.get("x")).text == "3"


async def test_operations_after_the_block_are_refused(akv: kvnb.KV) -> None:
    async with akv.batch() as b:
        b.put("x", "1")
    with pytest.raises(kvnb.InvalidBatch, match="already sent"):
        b.put("y", "2")


async def test_bad_keys_and_values_fail_when_recorded(akv: kvnb.KV) -> None:
    with pytest.raises(kvnb.InvalidKey):
        async with akv.batch() as b:
            b.put("bad key", "v")
    with pytest.raises(kvnb.InvalidValue):
        async with akv.batch() as b:
            b.put("k", 42)  # type: ignore[arg-type]
    assert (await akv.info()).last_revision == 0


async def test_existing_bucket_gets_atomic_only_when_asked(kv: kvnb.KV) -> None:
    with pytest.raises(kvnb.BucketConfigMismatch, match="update=True"):
        await kvnb.open_bucket(kv.name, atomic=True, nc=kv.nc)
    assert not (await kv.info()).atomic
    await kv.put("kept", "yes")
    with pytest.warns(UserWarning, match="atomic batches turned on"):
        upgraded = await kvnb.open_bucket(kv.name, atomic=True, update=True, nc=kv.nc)
    assert upgraded.atomic and (await upgraded.info()).atomic
    assert (await upgraded.get("kept")).text == "yes"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # already atomic: opened as it is, no warning
        again = await kvnb.open_bucket(kv.name, atomic=True, update=True, nc=kv.nc)
    assert again.atomic


async def test_an_old_server_is_named(nc: kvnb.client.NATS, bucket_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bundled server is 2.15; an older one is simulated by the version it announced.
    monkeypatch.setattr(nc._current_server, "server_version", "2.11.4")
    with pytest.raises(kvnb.NotSupported, match=r"2\.12 or newer; this server is 2\.11\.4"):
        await kvnb.open_bucket(bucket_name, atomic=True, fresh=True, nc=nc)


# --- SIGKILL in the middle of a batch of 500 -------------------------------------------------


async def _batch_with_kill(server: Any, nc: kvnb.client.NATS, kv: kvnb.KV, prefix: str, kill_at: int) -> None:
    """Send a batch of 500 and SIGKILL the server right after message ``kill_at`` reached it, then restart it."""
    publish = nc.publish

    async def publish_then_maybe_kill(subject: str, payload: bytes = b"", reply: str = "",
                                      headers: dict[str, str] | None = None) -> None:
        await publish(subject, payload, reply=reply, headers=headers)
        if headers and headers.get("Nats-Batch-Sequence") == str(kill_at):
            if kill_at < 500:
                await nc.flush(timeout=2)  # the server has this message (and every one before it)
            else:  # the commit: kill at a random moment while the server may be applying the batch
                await asyncio.sleep(random.uniform(0, 0.005))
            server.kill()
            server.restart()  # the rest of the batch goes to the restarted server, after the reconnect

    nc.publish = publish_then_maybe_kill  # type: ignore[method-assign]
    try:
        async with kv.batch() as b:
            for i in range(500):
                b.put(f"{prefix}.{i}", f"v{i}")
    except kvnb.KvnbError:
        pass  # refused (incomplete batch) or unanswered: what counts is what the bucket holds
    finally:
        nc.publish = publish  # type: ignore[method-assign]


@pytest.mark.timeout(120)
async def test_sigkill_in_the_middle_of_a_batch_leaves_all_or_nothing(tmp_path: Path) -> None:
    # the first message, somewhere inside, the commit itself
    await sigkill_during_batches(tmp_path, [1, random.randint(2, 499), 500])


@pytest.mark.stress
@pytest.mark.timeout(600)
async def test_sigkill_in_the_middle_of_a_batch_stress(tmp_path: Path) -> None:
    await sigkill_during_batches(tmp_path, [random.choice([1, random.randint(2, 499), 500]) for _ in range(20)])


async def sigkill_during_batches(tmp_path: Path, kill_points: list[int]) -> None:
    outcomes = []
    with launch(store_dir=tmp_path / "store", name="kvnb-batch-kill") as server:
        for round_, kill_at in enumerate(kill_points):
            nc = await kvnb.connect(server.url)
            try:
                kv = await kvnb.open_bucket("orders", atomic=True, storage="file", nc=nc)
                await _batch_with_kill(server, nc, kv, f"r{round_}", kill_at)
            finally:
                await close_connection(nc)
            nc = await kvnb.connect(server.url)
            try:
                kv = await kvnb.open_bucket("orders", nc=nc)
                found = {e.key: e.text for e in await kv.entries(f"r{round_}.>")}
            finally:
                await close_connection(nc)
            assert len(found) in (0, 500), f"kill after message {kill_at}: {len(found)} of 500 keys of the batch"
            if found:
                assert found == {f"r{round_}.{i}": f"v{i}" for i in range(500)}
            if kill_at < 500:  # the commit never reached the first server: the batch cannot have been applied
                assert not found, f"kill after message {kill_at}: the batch was applied without its commit"
            outcomes.append((kill_at, len(found)))
    print("kill point -> keys of the batch after the restart:", outcomes)


async def test_a_batch_and_a_plain_writer_race_on_one_key(akv: kvnb.KV) -> None:
    """A writer changing a conditioned key between read and commit makes the batch fail whole, never half."""
    rev = await akv.put("stock.pear", "5")
    await akv.put("stock.pear", "4")  # someone else was faster
    results = await asyncio.gather(*(_try_batch(akv, i, rev) for i in range(4)), return_exceptions=True)
    assert all(isinstance(r, kvnb.Conflict) for r in results)
    assert await akv.keys("order.>") == []


async def _try_batch(kv: kvnb.KV, i: int, last: int) -> None:
    async with kv.batch() as b:
        b.put(f"order.{i}", "new")
        b.update("stock.pear", "3", last=last)


async def test_a_refusal_kvnb_could_not_foresee_names_the_fix(akv: kvnb.KV) -> None:
    # Someone turned atomic batches off behind this handle's back: the server refuses, kvnb says what to do.
    config = (await akv.js.stream_info(f"KV_{akv.name}")).config
    config.allow_atomic = False
    await akv.js.update_stream(config)
    with pytest.raises(kvnb.ServerError, match=r"nothing was written.*10174.*atomic=True, update=True"):
        async with akv.batch() as b:
            b.put("a", "1")
            b.put("b", "2")
    assert await akv.keys() == []
