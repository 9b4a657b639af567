"""Self-checks of notebook 03 (watch).

Both checks take the learner's *running* watch: they write (or the cell before them wrote) and
read what the watch delivers, so a snapshot cannot pass for a watch, and a stopped watch gets a
hint instead of a traceback.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..bucket import KV
from ..entry import Entry
from ..watch import Watch
from ._core import Passed, fail, require_bucket, require_watch, subject_matches

__all__ = ["resumed", "watch_options"]

WAIT = 3.0  # seconds a check waits for a revision to reach the learner's watch


def _entries(name: str, received: Any) -> list[Entry]:
    if not isinstance(received, list) or not all(isinstance(e, Entry) for e in received):
        raise fail(name, "received must be the list of Entry objects your watch delivered (see kvnb.drain).")
    return received


async def _collect(watch: Watch, up_to: int, timeout: float = WAIT) -> list[Entry]:
    """What the watch delivers up to revision ``up_to``, waiting at most ``timeout`` s; then stop it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not (watch.caught_up.is_set() and watch.last_revision >= up_to) and not watch.stopped:
            if loop.time() >= deadline:
                break  # a watch whose pattern misses the last write never gets there: judge what came
            await asyncio.sleep(0.01)
        got: list[Entry] = []
        items = watch.events()
        try:
            for _ in range(watch.pending()):
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    break
                if isinstance(item, Entry):
                    got.append(item)
        finally:
            await items.aclose()
        return got
    finally:
        await watch.stop()


async def watch_options(watch: Any, *, up_to: int | None = None) -> Passed:
    """Exercise 3.1: only the PUTs of ``orders.*`` made after the watch started, no deletes.

    ``watch`` is the learner's running watch (the check reads it up to revision ``up_to``, then
    stops it); a list of entries already collected is accepted too.
    """
    name = "Exercise 3.1 (the right watch)"
    example = "my_watch = await kv.watch(pattern, <options>)  (no `async with`: it must stay open)"
    if isinstance(watch, list):
        got = _entries(name, watch)
    else:
        require_watch(name, watch, "my_watch", example)
        if watch.consumed_revision:
            await watch.stop()
            raise fail(name, "my_watch was already read from in your cell; leave it to the check (run your cell "
                             "again to start a new one).")
        got = await _collect(watch, up_to or 0)
        pattern = watch.pattern
        if not subject_matches(pattern, "orders.1"):
            raise fail(name, f"the pattern {pattern!r} does not match the order keys (orders.1, orders.2): "
                             "use 'orders.>' or 'orders.*'.")
    shown = [f"{e.operation} {e.key}" for e in got]
    if any(not e.key.startswith("orders.") for e in got):
        other = next(e.key for e in got if not e.key.startswith("orders."))
        raise fail(name, f"you received {other!r}: narrow the pattern to the orders, 'orders.>' or 'orders.*'.")
    if any(e.is_marker for e in got):
        raise fail(name, f"you received a {next(e for e in got if e.is_marker).operation} marker ({shown}): "
                         "pass ignore_deletes=True to get values only.")
    if any(e.text == "old" for e in got):
        raise fail(name, "you received orders.0 = 'old', which existed before the watch started: "
                         "pass updates_only=True to get only what changes from now on.")
    wanted = [("PUT", "orders.1", "new"), ("PUT", "orders.2", "new")]
    if [(e.operation, e.key, e.text) for e in got] != wanted:
        raise fail(name, f"you received {shown}; expected PUT orders.1 and PUT orders.2. Start the watch "
                         "(await it) before the writes, and keep it open for the check.")
    return Passed(name, "pattern, updates_only and ignore_deletes: exactly the new orders.")


async def resumed(kv: KV, last_seen: Any, watch: Any) -> Passed:
    """Exercise 3.2: ``watch`` delivers exactly what happened after ``last_seen``, and keeps going.

    The check writes one more change after your cell ran, reads your running watch up to it and
    stops it: a snapshot (``kv.entries``) cannot pass, a watch from the right revision does.
    """
    name = "Exercise 3.2 (resume where you stopped)"
    example = "resumed_watch = await kv.watch('>', <where to start>)  (keep it open: the check reads it)"
    require_bucket(name, kv, "await kvnb.checks.resumed(kv, last_seen, resumed_watch)")
    if not isinstance(last_seen, int) or isinstance(last_seen, bool):
        raise fail(name, f"last_seen should be the revision number the setup cell printed, got {last_seen!r:.40}.")
    require_watch(name, watch, "resumed_watch", example)
    if watch.consumed_revision:
        await watch.stop()
        raise fail(name, "resumed_watch was already read from in your cell, so the check cannot see all it "
                         "delivered; leave reading to the check (run your cell again to start a new one).")
    after = await kv.put("orders.4", "new")  # a write after your cell: only a live watch delivers it
    got = await _collect(watch, after)
    wanted = [e.revision for e in await kv.entries(include_history=True, include_markers=True)
              if e.revision > last_seen]
    revisions = [e.revision for e in got]
    if revisions == wanted:
        return Passed(name, f"the {len(wanted) - 1} revision(s) the dashboard missed, then {after}, written after "
                            "your cell: nothing missed, nothing twice, and still live.")
    again = [r for r in revisions if r <= last_seen]
    if again:
        raise fail(name, f"resumed_watch delivered revision(s) {again} again, the dashboard had them already: "
                         "start at the revision after the last one seen, from_revision=last_seen + 1.")
    missed = [r for r in wanted if r not in revisions]
    if missed and after in revisions:
        hint = ("updates_only only delivers writes made after the watch starts;" if not
                [r for r in revisions if r != after] else "")
        raise fail(name, f"resumed_watch missed revision(s) {missed}, written while the dashboard was closed. "
                         f"{hint} use from_revision= to replay from a revision.")
    if missed:
        raise fail(name, f"resumed_watch missed revision(s) {missed} (its pattern is {watch.pattern!r}): watch the "
                         "whole bucket, '>', from the revision after last_seen.")
    raise fail(name, f"resumed_watch delivered revisions {revisions}, expected {wanted}.")
