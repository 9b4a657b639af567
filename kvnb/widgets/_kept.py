"""What the stream still holds, for widgets whose watch cannot tell: per-key message counts.

A watch never hears of what the server removes on its own: ``purge_deletes()`` (a stream purge
per deleted key), values expiring by age (``ttl``), or a smaller history set later. A
:class:`KeptPoller` asks the stream for its state about once a second (one small STREAM.INFO
request) and, only when the numbers say something was removed since the last look, asks again
with ``subjects_filter`` for the per-key message counts. Removals always take a key's oldest
revisions, so a key with ``count`` messages keeps its newest ``count`` revisions: the widget marks
the older ones gone. At most one request a second on average per widget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..bucket import KV

__all__ = ["KeptPoller"]

log = logging.getLogger("kvnb.widgets")

OnCounts = Callable[[dict[str, int], int], None]  # ({key: messages}, the stream's last revision then)


class KeptPoller:
    """Polls ``kv``'s stream; calls ``on_counts(counts, last_revision)`` when something was removed."""

    def __init__(self, kv: KV, pattern: str, on_counts: OnCounts, *, interval: float = 1.0,
                 timeout: float = 2.0) -> None:
        self.kv = kv
        self.pattern = pattern
        self.on_counts = on_counts
        self.interval = interval
        self.timeout = timeout
        self.requests = 0  # STREAM.INFO requests sent (the bench and the tests read them)
        self.count_requests = 0  # of which with subjects_filter
        self._last: tuple[int, int] | None = None  # (messages, last_seq) at the last look

    def baseline(self, messages: int, last_seq: int) -> None:
        """What the stream held when the widget last read it (so the first look need not count)."""
        self._last = (messages, last_seq)

    def removed_since_last(self, messages: int, last_seq: int) -> bool:
        """Did the stream remove anything since the last look? New messages raise both numbers alike;
        a removal raises ``last_seq`` more than ``messages``."""
        last, self._last = self._last, (messages, last_seq)
        if last is None:
            return True  # the first look: whatever happened before it is unknown
        return (last_seq - last[1]) - (messages - last[0]) > 0

    async def check(self) -> bool:
        """One look (and a count when needed); True when counts were delivered."""
        kv = self.kv
        stream = kv._stream
        self.requests += 1
        info = await kv.js.stream_info(stream)
        state = info.state
        if not self.removed_since_last(state.messages, state.last_seq):
            return False
        self.requests += 1
        self.count_requests += 1
        prefix = kv._pre
        info = await kv.js.stream_info(stream, subjects_filter=prefix + self.pattern)
        subjects = info.state.subjects or {}
        counts = {subject[len(prefix):]: n for subject, n in subjects.items() if subject.startswith(prefix)}
        # later removals between the two requests are caught on the next look
        self._last = (info.state.messages, info.state.last_seq)
        self.on_counts(counts, info.state.last_seq)
        return True

    async def run(self, keep_going: Callable[[], bool]) -> None:
        """Look every ``interval`` seconds while ``keep_going()``; a failed look is retried next time."""
        while keep_going():
            await asyncio.sleep(self.interval)
            if not keep_going():
                return
            try:
                counted = await asyncio.wait_for(self.check(), self.timeout)
            except asyncio.CancelledError:
                raise
            except Exception:  # the server away: the watch's error line says so; try again later
                log.debug("stream info poll failed", exc_info=True)
                continue
            if counted:  # two requests this time: rest one more interval (one a second on average)
                await asyncio.sleep(self.interval)
