"""Self-checks of notebook 02 (revisions and history)."""

from __future__ import annotations

import inspect
from typing import Any

from ..bucket import KV
from ..entry import Entry
from ._core import Passed, fail, require_bucket, require_callable

__all__ = ["keeps_last", "state_at", "value_before"]


async def value_before(kv: KV, answer: Any, *, key: str = "config.mode") -> Passed:
    """Exercise 2.1: ``answer`` is the value ``key`` had just before its latest one."""
    name = "Exercise 2.1 (one step back)"
    require_bucket(name, kv, "await kvnb.checks.value_before(kv, answer)")
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


# A made-up history (another bucket, other keys): a function that reads the notebook's bucket instead
# of the entries it is given (TimeTravel's tt.state_at, kv.get ...) gets these wrong.
def _made_up() -> list[Entry]:
    rows = [("lamp.kitchen", "on", "PUT"), ("lamp.hall", "off", "PUT"), ("lamp.kitchen", "", "DEL"),
            ("lamp.hall", "on", "PUT"), ("door.front", "locked", "PUT"), ("lamp.hall", "", "PURGE"),
            ("lamp.kitchen", "dim", "PUT")]
    return [Entry("made_up", key, value.encode(), revision, operation)  # type: ignore[arg-type]
            for revision, (key, value, operation) in enumerate(rows, start=1)]


def _replay(entries: list[Entry], revision: int) -> dict[str, str]:
    state: dict[str, str] = {}
    for entry in entries:
        if entry.revision > revision:
            break
        if entry.is_marker:
            state.pop(entry.key, None)
        else:
            state[entry.key] = entry.text
    return state


async def state_at(kv: KV, fn: Any) -> Passed:
    """Exercise 2.3: ``fn(entries, revision)`` rebuilds the bucket at ``revision`` from its entries.

    ``entries`` is what ``kv.entries(include_history=True, include_markers=True)`` returns; the
    answer is a dict key -> value text. The check tries the notebook's bucket at revisions where a
    DEL or PURGE marker matters, then a made-up history that the bucket (or TimeTravel) cannot know.
    """
    name = "Exercise 2.3 (time travel by hand)"
    require_bucket(name, kv, "await kvnb.checks.state_at(kv, bucket_at)")
    require_callable(name, fn, "await kvnb.checks.state_at(kv, bucket_at)")
    entries = await kv.entries(include_history=True, include_markers=True)
    markers = [e.revision for e in entries if e.is_marker]
    if not markers:
        raise fail(name, f"bucket {kv.name!r} has no DEL or PURGE marker to reason about: run the cells of section 4 "
                         "again (they delete users.ada), then this check.")
    revisions = sorted({r for m in markers for r in (m - 1, m)} | {entries[-1].revision})
    made_up = _made_up()
    for source, given, at in [("kv", entries, revisions), ("a made-up history", made_up, [2, 3, 4, 6, 7])]:
        for revision in at:
            wanted = _replay(given, revision)
            try:
                got = fn(list(given), revision)
                if inspect.isawaitable(got):
                    got = await got
            except Exception as err:  # the learner's code: any error becomes a hint
                raise fail(name, f"bucket_at(entries, {revision}) raised {type(err).__name__}: {err}") from None
            if not isinstance(got, dict):
                raise fail(name, f"bucket_at(entries, {revision}) returned {type(got).__name__} {got!r:.40}; return "
                                 "a dict key -> value text, e.g. {'config.mode': 'test'}.")
            got = {k: (v.text if isinstance(v, Entry) else v) for k, v in got.items()}
            if got == wanted:
                continue
            known = {e.key for e in given}
            foreign = sorted(k for k in got if k not in known)
            if foreign:
                raise fail(name, f"on {source}, bucket_at(entries, {revision}) returned keys {foreign} that are not "
                                 "in the entries it was given: it reads the bucket (TimeTravel's tt.state_at, or "
                                 "kv) instead of the `entries` argument. Build the dict from `entries` alone: go "
                                 "through them in order and stop after `revision`.")
            later = sorted(k for k in got if k not in wanted)
            if later:
                marked = [e for e in given if e.key == later[0] and e.revision <= revision and e.is_marker]
                why = (f"its last entry by then is a {marked[-1].operation} marker at revision {marked[-1].revision}: "
                       "a marker means the key had no value, so drop the key (entry.operation is 'DEL' or "
                       "'PURGE', entry.is_marker is True)") if marked else \
                    f"it was written after revision {revision}: stop at entries with revision <= {revision}"
                raise fail(name, f"on {source} at revision {revision}, {later} had no value: {why}.")
            missing = sorted(k for k in wanted if k not in got)
            if missing:
                raise fail(name, f"on {source} at revision {revision}, {missing} had a value (a PUT after any marker) "
                                 "but is missing from your dict.")
            k = sorted(k for k in wanted if got[k] != wanted[k])[0]
            raise fail(name, f"on {source}, {k!r} was {wanted[k]!r} at revision {revision}, you have {got[k]!r}: "
                             f"take the last entry of each key whose revision is <= {revision}.")
    return Passed(name, f"right at revisions {revisions} of {kv.name!r} (markers included) and on a made-up "
                        "history: a DEL or PURGE marker ends a key's value.")
