"""Self-checks of notebook 02 (revisions and history)."""

from __future__ import annotations

from typing import Any

from ..bucket import KV
from ..entry import Entry
from ._core import Passed, fail

__all__ = ["keeps_last", "state_at", "value_before"]


async def value_before(kv: KV, answer: Any, *, key: str = "config.mode") -> Passed:
    """Exercise 2.1: ``answer`` is the value ``key`` had just before its latest one."""
    name = "Exercise 2.1 (one step back)"
    history = await kv.history(key)
    values = [e for e in history if not e.is_marker]
    if len(values) < 2:
        raise fail(name, f"{key!r} has fewer than two values in history; run the cells above this exercise again.")
    wanted, latest = values[-2], values[-1]
    if isinstance(answer, Entry):
        raise fail(name, f"that is an Entry; the answer is its text: answer = entry.text (here {answer.text!r}).")
    if answer == latest.text:
        raise fail(name, f"{answer!r} is the latest value (revision {latest.revision}); look one revision further "
                         "back: history(key) lists them oldest first, so [-2] is the one before the last.")
    if answer != wanted.text:
        raise fail(name, f"{answer!r} is not it. Use await kv.history({key!r}) (oldest first) or "
                         f"get({key!r}, revision=...) with the revision before {latest.revision}.")
    return Passed(name, f"{key!r} was {wanted.text!r} at revision {wanted.revision}, before {latest.text!r}.")


async def keeps_last(notes: Any, *, key: str = "note", depth: int = 5, writes: int = 7) -> Passed:
    """Exercise 2.2: a bucket keeping ``depth`` revisions per key, with v1..v``writes`` put into ``key``."""
    name = "Exercise 2.2 (history depth)"
    if not isinstance(notes, KV):
        raise fail(name, f"pass the bucket you opened (a kvnb.KV), got {type(notes).__name__}. "
                         "Example: notes = await kvnb.open_bucket('notes', history=5, fresh=True)")
    info = await notes.info()
    if info.history != depth:
        raise fail(name, f"the bucket keeps {info.history} revision(s) per key; open it with history={depth} "
                         "(add fresh=True to replace the one you made).")
    values = [e.text for e in await notes.history(key)]
    wanted = [f"v{i}" for i in range(writes - depth + 1, writes + 1)]
    if values != wanted:
        if not values:
            raise fail(name, f"{key!r} has no history; put 'v1' ... 'v{writes}' into it, one put each.")
        raise fail(name, f"history({key!r}) is {values}; expected the last {depth} of v1..v{writes}: {wanted}. "
                         f"Put 'v1' ... 'v{writes}' in order (a loop: for i in range(1, {writes + 1}): ...).")
    return Passed(name, f"{writes} writes, {depth} kept: the oldest {writes - depth} were dropped by the server.")


async def state_at(kv: KV, revision: int, answer: Any) -> Passed:
    """Exercise 2.3: ``answer`` is the bucket at ``revision`` as a dict key -> value text."""
    name = "Exercise 2.3 (time travel)"
    if not isinstance(answer, dict):
        raise fail(name, f"the answer is a dict key -> value text, got {type(answer).__name__}.")
    wanted: dict[str, str] = {}
    for entry in await kv.entries(include_history=True, include_markers=True):
        if entry.revision > revision:
            continue
        if entry.is_marker:
            wanted.pop(entry.key, None)
        else:
            wanted[entry.key] = entry.text
    got = {k: (v.text if isinstance(v, Entry) else v) for k, v in answer.items()}
    if got == wanted:
        return Passed(name, f"at revision {revision} the bucket held {len(wanted)} keys.")
    later = sorted(k for k in got if k not in wanted)
    if later:
        raise fail(name, f"{later} had no value at revision {revision} (written later, or deleted by then). "
                         f"Keep only entries with revision <= {revision} and drop keys whose last one is a DEL/PURGE.")
    missing = sorted(k for k in wanted if k not in got)
    if missing:
        raise fail(name, f"{missing} had a value at revision {revision} but are missing from your dict.")
    wrong = sorted(k for k in wanted if got[k] != wanted[k])
    k = wrong[0]
    raise fail(name, f"{k!r} was {wanted[k]!r} at revision {revision}, you have {got[k]!r}: take the last entry of "
                     f"each key whose revision is <= {revision}.")
