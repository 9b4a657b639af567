"""At most N refreshes a second however fast events arrive: a timer on the kernel's main loop.

Events only mark the view dirty (:meth:`Throttle.kick` is one attribute test when a refresh is
already scheduled); the refresh itself runs at most every ``interval`` seconds and sends one
batched message. An idle view refreshes on the next loop turn, so a single put shows at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

__all__ = ["MAX_SYNCS_PER_SECOND", "Throttle"]

MAX_SYNCS_PER_SECOND = 20


class Throttle:
    """Calls ``callback`` on ``loop`` at most once per ``interval`` after :meth:`kick`.

    Without a loop (plain synchronous use, e.g. a script feeding events by hand) the callback
    runs at once on every kick: there is no timer to wait for.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None, callback: Callable[[], None], *,
                 interval: float = 1 / MAX_SYNCS_PER_SECOND) -> None:
        self._loop = loop
        self._callback = callback
        self.interval = interval
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._last = 0.0
        self._closed = False
        self._loop_thread: int | None = threading.get_ident() if loop is not None else None
        self.fired = 0  # refreshes done (the bench reads it)

    def kick(self) -> None:
        """Something changed: refresh soon (now if the last refresh is older than ``interval``)."""
        if self._handle is not None or self._closed:
            return
        loop = self._loop
        if loop is None:
            self._fire()
            return
        if threading.get_ident() != self._loop_thread:  # a comm callback on a subshell thread
            self._handle = loop.call_soon_threadsafe(self._schedule)
            return
        self._schedule()

    def kick_later(self, seconds: float) -> None:
        """Refresh after ``seconds`` even if nothing else changes (e.g. to let a rate meter fall to 0)."""
        if self._loop is None or self._closed:
            return
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self.kick_later, seconds)
            return
        self._loop.call_later(seconds, self.kick)

    def _schedule(self) -> None:
        loop = self._loop
        assert loop is not None
        delay = self._last + self.interval - time.monotonic()
        if delay <= 0:
            self._handle = loop.call_soon(self._fire)
        else:
            self._handle = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        if self._closed:
            return
        self._last = time.monotonic()
        self.fired += 1
        self._callback()

    def flush(self) -> None:
        """Refresh now (cancelling a scheduled refresh)."""
        if self._handle is not None:
            self._handle.cancel()
        self._fire()

    def close(self) -> None:
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
