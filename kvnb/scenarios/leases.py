"""Leases on KV keys, and leader election and a lock built on them.

A lease is a key that says who holds something. It is taken with ``create`` (only one taker wins)
and kept with ``update(last=<the revision I wrote>)``: a holder that was too slow and lost the key
cannot overwrite the new holder, its renewal fails instead. The bucket's TTL is the lease time:
if the holder stops renewing (it crashed), the value expires and someone else can take it. With
``limit_marker_ttl`` the expiry is a visible PURGE marker, so waiting candidates react at once;
without it they find out at their next attempt.

Example (a crash and a takeover)::

    bucket = await kvnb.open_bucket("election", ttl=2, limit_marker_ttl=1, fresh=True)
    a = await LeaderElection(bucket, "svc-a").start()
    b = await LeaderElection(bucket, "svc-b").start()
    first = await wait_for_leader([a, b])
    await first.stop(resign=False)          # stop renewing without a word: the lease runs out
    second = await wait_for_leader([a, b])  # ~2 s later the other one leads

The revision a holder wrote is a *fencing token*: it grows with every new holder, so a resource
that remembers the highest token it has seen can refuse a stale holder's late request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..bucket import KV
from ..errors import Conflict, InvalidOption, KeyNotFound, KvnbError
from ..validation import check_key
from ..watch import Watch

__all__ = ["EventLog", "LeaderElection", "Lease", "LeaseEvent", "Lock", "LockTimeout", "wait_for_leader"]

State = Literal["follower", "leader", "stopped"]


class LockTimeout(KvnbError, TimeoutError):
    """A lock was not acquired in time."""


def _check_owner(owner: object) -> str:
    if not isinstance(owner, str) or not owner:
        raise InvalidOption(f"owner must be a non-empty str naming the holder, got {owner!r}. Example: owner='svc-a'")
    return owner


class Lease:
    """One claim on ``key`` by ``owner``: :meth:`acquire`, :meth:`renew`, :meth:`release`.

    ``revision`` is the revision this holder last wrote (None when it does not hold the lease).
    """

    def __init__(self, kv: KV, key: str, owner: str) -> None:
        self.kv = kv
        self.key = check_key(key)
        self.owner = _check_owner(owner)
        self.revision: int | None = None

    @property
    def held(self) -> bool:
        """True while this holder believes it holds the lease (until a renewal fails)."""
        return self.revision is not None

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it (``create``); False when someone does."""
        try:
            self.revision = await self.kv.create(self.key, self.owner)
        except Conflict:
            self.revision = None
            return False
        return True

    async def renew(self) -> bool:
        """Write again with ``last=`` our revision; False (and not held) if anyone wrote in between or it expired."""
        if self.revision is None:
            return False
        try:
            self.revision = await self.kv.update(self.key, self.owner, last=self.revision)
        except Conflict:
            self.revision = None
            return False
        return True

    async def release(self) -> bool:
        """Delete the key if we still hold it (``delete(last=)``), so the next holder need not wait for the TTL."""
        if self.revision is None:
            return False
        revision, self.revision = self.revision, None
        try:
            await self.kv.delete(self.key, last=revision)
        except Conflict:
            return False
        return True

    async def holder(self) -> str | None:
        """Who holds the lease according to the bucket now (None when free)."""
        try:
            return (await self.kv.get(self.key)).text
        except KeyNotFound:
            return None

    def __repr__(self) -> str:
        state = f"held at revision {self.revision}" if self.held else "not held"
        return f"<Lease {self.key!r} by {self.owner!r}: {state}>"


class _Freed:
    """Watches a key and wakes waiters when it becomes free (a DEL or PURGE marker, e.g. an expiry)."""

    def __init__(self, kv: KV, key: str) -> None:
        self.kv = kv
        self.key = key
        self.event = asyncio.Event()
        self.value: str | None = None
        self._watch: Watch | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._watch = await self.kv.watch(self.key)
        self._task = asyncio.create_task(self._pump(self._watch))

    async def _pump(self, watch: Watch) -> None:
        async for entry in watch:
            self.value = None if entry.is_marker else entry.text
            if entry.is_marker:
                self.event.set()

    async def wait(self, timeout: float, *also: asyncio.Event) -> None:
        """Until the key is freed, one of ``also`` is set, or ``timeout`` seconds pass."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self.event, *also)]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        self.event.clear()

    async def stop(self) -> None:
        if self._watch is not None:
            await self._watch.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass(frozen=True)
class LeaseEvent:
    """Something a candidate did: ``at`` seconds since the first event of its log."""

    at: float
    who: str
    what: str
    revision: int | None = None

    def __str__(self) -> str:
        rev = f" (revision {self.revision})" if self.revision is not None else ""
        return f"{self.at:6.2f} s  {self.who}: {self.what}{rev}"


class EventLog(list[LeaseEvent]):
    """A list of :class:`LeaseEvent` with one time origin (its first event); share one between candidates."""

    def __init__(self) -> None:
        super().__init__()
        self.origin: float | None = None

    def add(self, who: str, what: str, revision: int | None = None) -> None:
        now = time.monotonic()
        if self.origin is None:
            self.origin = now
        self.append(LeaseEvent(round(now - self.origin, 2), who, what, revision))


async def _bucket_ttl(kv: KV, what: str) -> float:
    ttl = (await kv.info()).ttl
    if not ttl:
        raise InvalidOption(
            f"{what} needs a bucket with a ttl: it is the lease time after which a silent holder loses the key. "
            f"Example: await kvnb.open_bucket({kv.name!r}, ttl=2, limit_marker_ttl=1, fresh=True)"
        )
    return ttl


class LeaderElection:
    """One candidate in a leader election on ``key`` of a bucket with a TTL.

    A follower tries to ``create`` the key whenever it becomes free (and every ``renew_every``
    seconds in case expiry is silent); the leader renews its lease every ``renew_every`` seconds
    (default: a quarter of the bucket's TTL). ``state`` is ``"leader"``, ``"follower"`` or
    ``"stopped"``; ``log`` collects :class:`LeaseEvent` items (pass one :class:`EventLog` to several
    candidates to get one timeline).
    """

    def __init__(self, kv: KV, name: str, *, key: str = "leader", renew_every: float | None = None,
                 log: EventLog | None = None) -> None:
        self.kv = kv
        self.name = _check_owner(name)
        self.lease = Lease(kv, key, name)
        if renew_every is not None and (not isinstance(renew_every, (int, float)) or renew_every <= 0):
            raise InvalidOption(f"renew_every must be a positive number of seconds, got {renew_every!r}. "
                                "Example: renew_every=0.5")
        self.renew_every = renew_every
        if log is not None and not isinstance(log, EventLog):
            raise InvalidOption(f"log must be a kvnb.scenarios.leases.EventLog, got {type(log).__name__}. "
                                "Example: log=EventLog()")
        self.log = log if log is not None else EventLog()
        self.state: State = "follower"
        self.leader_changed = asyncio.Event()
        self._freed = _Freed(kv, key)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self.state == "leader"

    async def start(self) -> LeaderElection:
        """Join the election (returns self; the work runs in a background task)."""
        if self._task is not None:
            return self
        ttl = await _bucket_ttl(self.kv, "leader election")
        if self.renew_every is None:
            self.renew_every = ttl / 4
        elif self.renew_every >= ttl:
            raise InvalidOption(f"renew_every ({self.renew_every} s) must be shorter than the bucket's ttl ({ttl} s), "
                                "or the lease expires between renewals. Example: renew_every=ttl/4")
        await self._freed.start()
        self.log.add(self.name, "joined")
        self._task = asyncio.create_task(self._run())
        return self

    def _become(self, state: State, why: str) -> None:
        if state != self.state:
            self.state = state
            self.log.add(self.name, why, self.lease.revision)
            self.leader_changed.set()

    async def _run(self) -> None:
        assert self.renew_every is not None
        while not self._stopping.is_set():
            try:
                if self.lease.held:
                    if not await self.lease.renew():
                        self._become("follower", "lost the lease (someone else wrote it, or it expired)")
                elif await self.lease.acquire():
                    self._become("leader", "became leader")
            except KvnbError as err:  # a server restart: keep trying, say so
                self.log.add(self.name, f"error, will retry: {str(err)[:80]}")
            # the leader renews on schedule; a follower also wakes when the key is freed
            await self._freed.wait(self.renew_every, self._stopping)

    async def stop(self, *, resign: bool = True) -> None:
        """Leave the election. ``resign=True`` deletes the lease so another takes over at once;
        ``resign=False`` just stops renewing, like a crash: the lease runs out after the TTL."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._freed.stop()
        was_leader = self.is_leader
        if resign and was_leader:
            await self.lease.release()
        self.lease.revision = None
        what = "resigned" if resign and was_leader else "stopped (crashed)" if was_leader else "stopped"
        self.state = "stopped"
        self.log.add(self.name, what)
        self.leader_changed.set()

    async def wait_leader(self, timeout: float = 10.0) -> None:
        """Until this candidate leads (``TimeoutError`` after ``timeout`` seconds)."""
        await wait_for_leader([self], timeout=timeout)

    def __repr__(self) -> str:
        return f"<LeaderElection {self.name!r} on {self.lease.key!r}: {self.state}>"


async def wait_for_leader(candidates: Iterable[LeaderElection], *, timeout: float = 10.0) -> LeaderElection:
    """The first of ``candidates`` that is (or becomes) leader; ``TimeoutError`` after ``timeout`` s."""
    pool = list(candidates)
    deadline = time.monotonic() + timeout
    while True:
        for candidate in pool:
            if candidate.is_leader:
                return candidate
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            states = ", ".join(f"{c.name}: {c.state}" for c in pool)
            raise TimeoutError(f"no leader among {len(pool)} candidates after {timeout} s ({states})")
        for candidate in pool:
            candidate.leader_changed.clear()
        waits = [asyncio.ensure_future(c.leader_changed.wait()) for c in pool]
        try:
            await asyncio.wait(waits, timeout=min(remaining, 0.25), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()


class Lock:
    """A mutual-exclusion lock on ``key``: ``async with Lock(kv, "locks.printer", "job-1"): ...``.

    Acquiring waits until the key is free (a watch wakes it when the holder releases or its
    lease expires) or ``timeout`` seconds pass (:class:`LockTimeout`, naming the holder). In a
    bucket with a TTL the holder renews the lease in the background, so a long critical section
    keeps the lock and a crashed holder loses it after the TTL.
    """

    def __init__(self, kv: KV, key: str, owner: str, *, timeout: float | None = 10.0,
                 retry_every: float = 0.25) -> None:
        self.lease = Lease(kv, key, owner)
        self.kv = kv
        self.timeout = timeout
        self.retry_every = retry_every
        self.waited = 0.0
        """Seconds the last :meth:`acquire` waited."""
        self._renewer: asyncio.Task[None] | None = None

    @property
    def locked(self) -> bool:
        """True while this owner holds the lock."""
        return self.lease.held

    async def acquire(self) -> Lock:
        started = time.monotonic()
        deadline = None if self.timeout is None else started + self.timeout
        freed = _Freed(self.kv, self.lease.key)
        await freed.start()
        try:
            while not await self.lease.acquire():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    holder = await self.lease.holder()
                    raise LockTimeout(
                        f"{self.lease.owner!r} did not get the lock {self.lease.key!r} within {self.timeout} s: "
                        f"{holder!r} holds it. Fix: wait longer (timeout=), or find out why {holder!r} keeps it."
                    )
                await freed.wait(self.retry_every if remaining is None else min(self.retry_every, remaining))
        finally:
            await freed.stop()
        self.waited = time.monotonic() - started
        ttl = (await self.kv.info()).ttl
        if ttl:
            self._renewer = asyncio.create_task(self._renew(ttl / 4))
        return self

    async def _renew(self, every: float) -> None:
        while self.lease.held:
            await asyncio.sleep(every)
            with contextlib.suppress(KvnbError):
                await self.lease.renew()

    async def release(self) -> bool:
        """Give the lock back; False when it was lost meanwhile (expired or taken)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        return await self.lease.release()

    async def __aenter__(self) -> Lock:
        return await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        await self.release()

    def __repr__(self) -> str:
        return f"<Lock {self.lease.key!r} by {self.lease.owner!r}: {'held' if self.locked else 'not held'}>"
