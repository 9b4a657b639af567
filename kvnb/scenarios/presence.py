"""Worker heartbeats and presence with a TTL: who is alive, seen live.

Each worker puts ``presence.<worker>`` every ``every`` seconds into a bucket with a TTL; while it
beats, its key never expires. A worker that leaves cleanly deletes its key (a DEL marker: "left");
a worker that dies stops beating and its key expires after the TTL. With ``limit_marker_ttl`` the
expiry is a PURGE marker, so a watcher sees "expired" the moment it happens instead of having to
poll.

Example::

    bucket = await kvnb.open_bucket("presence", ttl=2, limit_marker_ttl=1, fresh=True)
    view = await Presence(bucket).start()
    w1 = await Heartbeat(bucket, "worker-1").start()
    await view.wait_until(lambda online: "worker-1" in online)
    await w1.stop(graceful=False)                      # a crash: no goodbye
    await view.wait_until(lambda online: "worker-1" not in online)   # ~2 s later
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..bucket import KV
from ..entry import Entry
from ..errors import InvalidOption, KvnbError
from ..validation import check_key
from ..watch import Watch

__all__ = ["Heartbeat", "Presence", "PresenceEvent"]

What = Literal["joined", "left", "expired"]


class Heartbeat:
    """A worker saying "I am alive" by writing ``<prefix>.<worker>`` every ``every`` seconds.

    ``every`` defaults to a third of the bucket's TTL, so two beats may be lost before the key
    expires. The value is a small JSON document: ``{"worker": ..., "beat": n, "status": ...}``.
    """

    def __init__(self, kv: KV, worker: str, *, prefix: str = "presence", every: float | None = None,
                 status: str = "ok") -> None:
        self.kv = kv
        self.worker = worker
        self.key = check_key(f"{prefix}.{worker}")
        if "." in worker:
            raise InvalidOption(f"a worker name is one key token (no dots), got {worker!r}. Example: 'worker-1'")
        if every is not None and (not isinstance(every, (int, float)) or every <= 0):
            raise InvalidOption(f"every must be a positive number of seconds, got {every!r}. Example: every=0.5")
        self.every = every
        self.status = status
        self.beats = 0
        self._task: asyncio.Task[None] | None = None

    async def beat(self) -> int:
        """Write one heartbeat now; returns its revision."""
        self.beats += 1
        doc = {"worker": self.worker, "beat": self.beats, "status": self.status}
        return await self.kv.put(self.key, json.dumps(doc))

    async def start(self) -> Heartbeat:
        """Beat once now, then keep beating in a background task (returns self)."""
        if self._task is not None:
            return self
        ttl = (await self.kv.info()).ttl
        if not ttl:
            raise InvalidOption(
                "heartbeats need a bucket with a ttl, or a worker that stops would stay 'online' forever. "
                f"Example: await kvnb.open_bucket({self.kv.name!r}, ttl=2, limit_marker_ttl=1, fresh=True)"
            )
        if self.every is None:
            self.every = ttl / 3
        elif self.every >= ttl:
            raise InvalidOption(f"every ({self.every} s) must be shorter than the bucket's ttl ({ttl} s), "
                                "or the key expires between beats. Example: every=ttl/3")
        await self.beat()
        self._task = asyncio.create_task(self._run(self.every))
        return self

    async def _run(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(KvnbError):  # a missed beat is what the TTL is for
                await self.beat()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, *, graceful: bool = True) -> None:
        """Stop beating. ``graceful`` deletes the key ("left" at once); otherwise it expires (a crash)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if graceful:
            await self.kv.delete(self.key)

    def __repr__(self) -> str:
        state = f"beating every {self.every} s" if self.running else "stopped"
        return f"<Heartbeat {self.key!r}: {state}, {self.beats} beats>"


@dataclass(frozen=True)
class PresenceEvent:
    """A worker joined, left (deleted its key) or expired (stopped beating), ``at`` s after the view started."""

    at: float
    worker: str
    what: What
    revision: int

    def __str__(self) -> str:
        return f"{self.at:6.2f} s  {self.worker} {self.what} (revision {self.revision})"


class Presence:
    """A live view of who is online: watches ``<prefix>.*`` and keeps ``online`` and ``events``.

    A PUT of a new worker is "joined"; a DEL marker is "left"; a PURGE marker is "expired" (the
    limit marker written when the TTL removed the key — or a manual purge).
    """

    def __init__(self, kv: KV, *, prefix: str = "presence") -> None:
        self.kv = kv
        self.pattern = f"{prefix}.*"
        self._prefix = f"{prefix}."
        self.online: dict[str, Entry] = {}
        self.events: list[PresenceEvent] = []
        self.changed = asyncio.Event()
        self._origin = time.monotonic()
        self._watch: Watch | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 5.0) -> Presence:
        """Start watching; returns once the current members are known."""
        if self._watch is None:
            self._origin = time.monotonic()
            self._watch = await self.kv.watch(self.pattern)
            self._task = asyncio.create_task(self._pump(self._watch))
            await self._watch.wait_caught_up(timeout)
        return self

    async def _pump(self, watch: Watch) -> None:
        async for entry in watch:
            worker = entry.key[len(self._prefix):]
            what: What | None = None
            if not entry.is_marker:
                if worker not in self.online:
                    what = "joined"
                self.online[worker] = entry
            elif self.online.pop(worker, None) is not None:
                what = "left" if entry.operation == "DEL" else "expired"
            if what is not None:
                self.events.append(PresenceEvent(round(time.monotonic() - self._origin, 2), worker, what,
                                                 entry.revision))
            self.changed.set()

    @property
    def members(self) -> list[str]:
        """Workers online now, sorted."""
        return sorted(self.online)

    async def wait_until(self, predicate: Callable[[set[str]], bool], timeout: float = 10.0) -> None:
        """Until ``predicate(set of online workers)`` is true; ``TimeoutError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not predicate(set(self.online)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"presence condition not met within {timeout} s; online now: {self.members}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    async def stop(self) -> None:
        if self._watch is not None:
            await self._watch.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._watch = self._task = None

    def __repr__(self) -> str:
        return f"<Presence {self.pattern!r} on {self.kv.name!r}: {len(self.online)} online {self.members}>"
