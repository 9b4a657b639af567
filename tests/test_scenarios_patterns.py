"""Leases, leader election, locks and presence (kvnb.scenarios.leases / presence) against a real server.

Waits are bounded, never timed: a takeover must happen before a generous deadline. Where the test
must tell "immediate" from "after the TTL", the bucket's TTL is made much longer than the deadline.
Where a holder must keep its key *past* the TTL by renewing, the TTL is 2 s: renewals every 0.5-0.67 s
then survive a 1.3 s stall of a loaded machine, and the test watches for longer than the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import kvnb
from kvnb.scenarios.leases import EventLog, LeaderElection, Lease, Lock, LockTimeout, wait_for_leader
from kvnb.scenarios.presence import Heartbeat, Presence

RENEWED_TTL = 2  # seconds: the TTL of buckets where a holder must keep its key by renewing it
PAST_TTL = RENEWED_TTL + 0.5  # watching this long proves the renewals (not the first write) kept the key


@pytest.fixture
async def open_ttl_bucket(nc: Any, bucket_name: str) -> AsyncIterator[Callable[..., Awaitable[kvnb.KV]]]:
    """Open fresh buckets named after the test; all deleted at the end."""
    made: list[str] = []

    async def make(ttl: float | None = 1, *, markers: bool = True, suffix: str = "") -> kvnb.KV:
        name = f"{bucket_name}{suffix}"[:60]
        made.append(name)
        extra = {"limit_marker_ttl": 1} if markers and ttl else {}
        return await kvnb.open_bucket(name, ttl=ttl, nc=nc, fresh=True, **extra)

    yield make
    for name in made:
        with contextlib.suppress(kvnb.KvnbError):
            await kvnb.delete_bucket(name, nc=nc)


# --- Lease --------------------------------------------------------------------------------

async def test_lease_acquire_renew_release(kv: kvnb.KV) -> None:
    a, b = Lease(kv, "leader", "a"), Lease(kv, "leader", "b")
    assert await a.acquire() and a.held
    assert not await b.acquire() and not b.held
    first = a.revision
    assert await a.renew() and a.revision is not None and first is not None and a.revision > first
    assert await a.holder() == "a"
    assert await a.release() and not a.held
    assert await a.holder() is None
    assert await b.acquire() and await b.holder() == "b"      # free again after the release


async def test_a_holder_that_lost_the_lease_cannot_overwrite_the_next_one(kv: kvnb.KV) -> None:
    slow, fast = Lease(kv, "leader", "slow"), Lease(kv, "leader", "fast")
    assert await slow.acquire()
    await kv.delete("leader")                 # as if the lease expired while "slow" was frozen
    assert await fast.acquire()
    assert not await slow.renew() and not slow.held
    assert not await slow.release()           # nothing of fast's is touched
    assert await kv.get_value("leader") == "fast"


async def test_lease_rejects_bad_input(kv: kvnb.KV) -> None:
    with pytest.raises(kvnb.InvalidOption, match="owner"):
        Lease(kv, "leader", "")
    with pytest.raises(kvnb.InvalidKey):
        Lease(kv, "lead er", "a")


# --- Leader election ----------------------------------------------------------------------

async def test_election_needs_a_ttl_bucket(kv: kvnb.KV) -> None:
    with pytest.raises(kvnb.InvalidOption, match="needs a bucket with a ttl"):
        await LeaderElection(kv, "a").start()


async def test_renewing_slower_than_the_ttl_is_refused(open_ttl_bucket: Any) -> None:
    bucket = await open_ttl_bucket(1)
    with pytest.raises(kvnb.InvalidOption, match="shorter than the bucket's ttl"):
        await LeaderElection(bucket, "a", renew_every=1.5).start()
    with pytest.raises(kvnb.InvalidOption, match="renew_every"):
        LeaderElection(bucket, "a", renew_every=0)
    with pytest.raises(kvnb.InvalidOption, match="EventLog"):
        LeaderElection(bucket, "a", log=[])  # type: ignore[arg-type]


async def test_one_leader_which_keeps_its_lease_by_renewing(open_ttl_bucket: Any) -> None:
    bucket = await open_ttl_bucket(RENEWED_TTL)
    log = EventLog()
    candidates = [await LeaderElection(bucket, f"svc-{c}", log=log).start() for c in "abc"]
    try:
        leader = await wait_for_leader(candidates, timeout=10)
        first_revision = leader.lease.revision
        assert first_revision is not None
        await asyncio.sleep(PAST_TTL)         # longer than the TTL: only renewals keep the lease
        assert [c.is_leader for c in candidates].count(True) == 1 and leader.is_leader
        assert leader.lease.revision is not None and leader.lease.revision > first_revision
        assert await bucket.get_value("leader") == leader.name
        assert [e.what for e in log].count("became leader") == 1
    finally:
        for c in candidates:
            await c.stop()


async def test_a_crashed_leader_is_replaced_after_its_lease_expires(open_ttl_bucket: Any) -> None:
    bucket = await open_ttl_bucket(1)
    log = EventLog()
    candidates = [await LeaderElection(bucket, f"svc-{c}", log=log).start() for c in "abc"]
    try:
        first = await wait_for_leader(candidates, timeout=10)
        token = first.lease.revision
        await first.stop(resign=False)
        second = await wait_for_leader(candidates, timeout=10)
        assert second is not first and second.lease.revision is not None and token is not None
        assert second.lease.revision > token          # the fencing token grew
        assert await bucket.get_value("leader") == second.name
        assert any(e.who == first.name and e.what == "stopped (crashed)" for e in log)
    finally:
        for c in candidates:
            await c.stop()


async def test_a_resigning_leader_hands_over_at_once(open_ttl_bucket: Any) -> None:
    bucket = await open_ttl_bucket(30)                # a takeover within 10 s cannot be the TTL's doing
    candidates = [await LeaderElection(bucket, f"svc-{c}", renew_every=1).start() for c in "ab"]
    try:
        first = await wait_for_leader(candidates, timeout=10)
        await first.stop(resign=True)
        second = await wait_for_leader(candidates, timeout=10)
        assert second is not first and first.state == "stopped"
    finally:
        for c in candidates:
            await c.stop()


async def test_wait_for_leader_times_out_with_the_states(open_ttl_bucket: Any) -> None:
    bucket = await open_ttl_bucket(30)
    await bucket.create("leader", "someone-else")
    candidate = await LeaderElection(bucket, "svc-a", renew_every=1).start()
    try:
        with pytest.raises(TimeoutError, match="svc-a: follower"):
            await wait_for_leader([candidate], timeout=0.3)
    finally:
        await candidate.stop()
    assert candidate.state == "stopped" and await bucket.get_value("leader") == "someone-else"


# --- Lock ---------------------------------------------------------------------------------

async def test_lock_is_mutually_exclusive(open_ttl_bucket: Any) -> None:
    bucket = await open_ttl_bucket(2)
    inside = most = 0
    entered: list[str] = []

    async def job(name: str) -> None:
        nonlocal inside, most
        async with Lock(bucket, "locks.printer", name, timeout=10):
            inside += 1
            most = max(most, inside)
            entered.append(name)
            await asyncio.sleep(0.05)
            inside -= 1

    await asyncio.gather(*(job(f"job-{i}") for i in range(4)))
    assert most == 1 and sorted(entered) == [f"job-{i}" for i in range(4)]
    assert await bucket.get_value("locks.printer") is None      # released


async def test_lock_timeout_names_the_holder(kv: kvnb.KV) -> None:
    holder = await Lock(kv, "locks.report", "nightly").acquire()   # a bucket without TTL works too
    try:
        with pytest.raises(LockTimeout, match="'nightly' holds it"):
            await Lock(kv, "locks.report", "ad-hoc", timeout=0.3).acquire()
    finally:
        assert await holder.release()
    assert not holder.locked


async def test_a_crashed_lock_holder_loses_the_lock_after_the_ttl(open_ttl_bucket: Any) -> None:
    bucket = await open_ttl_bucket(1)
    crashed = await Lock(bucket, "locks.x", "crashed").acquire()
    assert crashed._renewer is not None
    crashed._renewer.cancel()                       # the holder dies: no renewals, no release
    with contextlib.suppress(asyncio.CancelledError):
        await crashed._renewer
    survivor = await Lock(bucket, "locks.x", "survivor", timeout=10).acquire()
    try:
        assert await bucket.get_value("locks.x") == "survivor"
    finally:
        await survivor.release()
    assert not await crashed.release()              # its lease is gone: nothing to release


async def test_a_held_lock_outlives_the_ttl_while_renewed(open_ttl_bucket: Any) -> None:
    bucket = await open_ttl_bucket(RENEWED_TTL)
    async with Lock(bucket, "locks.long", "worker") as lock:
        await asyncio.sleep(PAST_TTL)                # longer than the TTL
        assert await bucket.get_value("locks.long") == "worker" and lock.locked


# --- Presence -----------------------------------------------------------------------------

async def test_heartbeat_needs_a_ttl_and_sane_settings(kv: kvnb.KV, open_ttl_bucket: Any) -> None:
    with pytest.raises(kvnb.InvalidOption, match="heartbeats need a bucket with a ttl"):
        await Heartbeat(kv, "w1").start()
    bucket = await open_ttl_bucket(1)
    with pytest.raises(kvnb.InvalidOption, match="shorter than the bucket's ttl"):
        await Heartbeat(bucket, "w1", every=2).start()
    with pytest.raises(kvnb.InvalidOption, match="one key token"):
        Heartbeat(bucket, "w.1")


async def test_presence_sees_joins_leaves_and_expiries(open_ttl_bucket: Any) -> None:
    bucket = await open_ttl_bucket(1)
    view = await Presence(bucket).start()
    workers = [await Heartbeat(bucket, f"w{i}").start() for i in range(3)]
    try:
        await view.wait_until(lambda online: online == {"w0", "w1", "w2"}, timeout=10)
        await workers[0].stop(graceful=True)
        await workers[1].stop(graceful=False)
        await view.wait_until(lambda online: online == {"w2"}, timeout=10)
        whats = {(e.worker, e.what) for e in view.events}
        assert {("w0", "joined"), ("w1", "joined"), ("w2", "joined"), ("w0", "left"), ("w1", "expired")} == whats
        assert view.members == ["w2"]
    finally:
        await workers[2].stop()
        await view.stop()


async def test_a_beating_worker_stays_online_past_the_ttl(open_ttl_bucket: Any) -> None:
    bucket = await open_ttl_bucket(RENEWED_TTL)
    view = await Presence(bucket).start()
    worker = await Heartbeat(bucket, "steady").start()
    try:
        await asyncio.sleep(PAST_TTL)
        assert view.members == ["steady"] and worker.beats >= 3
        assert [e.what for e in view.events] == ["joined"]
        assert (await bucket.get("presence.steady")).json()["worker"] == "steady"
    finally:
        await worker.stop()
        await view.stop()


async def test_presence_starts_with_who_is_already_online(open_ttl_bucket: Any) -> None:
    bucket = await open_ttl_bucket(2)
    worker = await Heartbeat(bucket, "early").start()
    view = await Presence(bucket).start()
    try:
        assert view.members == ["early"]
        with pytest.raises(TimeoutError, match="online now"):
            await view.wait_until(lambda online: "late" in online, timeout=0.2)
    finally:
        await worker.stop()
        await view.stop()
