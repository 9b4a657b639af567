"""Self-checks of notebook 03 (watch)."""

from __future__ import annotations

from typing import Any

from ..bucket import KV
from ..entry import Entry
from ._core import Passed, fail

__all__ = ["resumed", "watch_options"]


def _entries(name: str, received: Any) -> list[Entry]:
    if not isinstance(received, list) or not all(isinstance(e, Entry) for e in received):
        raise fail(name, "received must be the list of Entry objects your watch delivered (see the drain() helper).")
    return received


def watch_options(received: Any) -> Passed:
    """Exercise 3.1: only the PUTs of ``orders.*`` made after the watch started, no deletes."""
    name = "Exercise 3.1 (the right watch)"
    got = _entries(name, received)
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
                         "(await it) before the writes, and drain it after them.")
    return Passed(name, "pattern, updates_only and ignore_deletes: exactly the new orders.")


async def resumed(kv: KV, last_seen: int, received: Any) -> Passed:
    """Exercise 3.2: ``received`` is exactly what happened in the bucket after ``last_seen``."""
    name = "Exercise 3.2 (resume)"
    got = _entries(name, received)
    wanted = [e.revision for e in await kv.entries(include_history=True, include_markers=True)
              if e.revision > last_seen]
    revisions = [e.revision for e in got]
    if revisions == wanted:
        return Passed(name, f"revisions {wanted[0]}..{wanted[-1]}: nothing missed, nothing twice." if wanted
                      else "nothing happened since, and you received nothing.")
    again = [r for r in revisions if r <= last_seen]
    if again:
        raise fail(name, f"you received revision(s) {again} again, the dashboard had them already: "
                         f"start at the revision after the last one seen, from_revision=last_seen + 1.")
    missed = [r for r in wanted if r not in revisions]
    if missed:
        hint = " updates_only only delivers writes made after the watch starts;" if not got else ""
        raise fail(name, f"you missed revision(s) {missed}.{hint} use from_revision= to replay from a revision.")
    raise fail(name, f"you received revisions {revisions}, expected {wanted}.")
