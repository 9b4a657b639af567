"""Self-checks for the exercises of the notebooks: ``kvnb.checks.<exercise>(...)``.

Each check returns a :class:`Passed` (shown as one line) on a right answer, and raises
:class:`NotYet` with a hint on a wrong one. Checks that read the bucket are coroutines
(``await kvnb.checks.rooms_stored(kv)``); the others are plain functions. Checks that try a
learner's function use keys of their own (``check.*``), so they can run again and again. The
watch checks take the learner's *running* watch and read it themselves (then stop it), so a
snapshot cannot pass for a watch. A wrong type or a stopped watch gets a hint, never a traceback.

| notebook | checks |
|---|---|
| 01 put and get | rooms_stored, temp_pattern, profile_json |
| 02 revisions | value_before, keeps_last, state_at |
| 03 watch | watch_options, resumed |
| 04 conflicts | claim, cas_increment |
| 05 delete, purge, TTL | delete_vs_purge, expiring_key, cache_bucket |
| 06 patterns | flag_reader, renew_lease, lock_by_hand |
| 07 under the hood | stream_and_subject, raw_update, raw_delete |
| 10 batches and counters | atomic_order, undo, like_counter |
| 11 capstone | config_reader, service_registry, job_leader, fenced_runs |
"""

from __future__ import annotations

from ._core import NotYet, Passed
from .beyond import atomic_order, like_counter, undo
from .capstone import config_reader, fenced_runs, job_leader, service_registry
from .conflicts import cas_increment, claim
from .expiry import cache_bucket, delete_vs_purge, expiring_key
from .internals import raw_delete, raw_update, stream_and_subject
from .patterns import flag_reader, lock_by_hand, renew_lease
from .put_get import profile_json, rooms_stored, temp_pattern
from .revisions import keeps_last, state_at, value_before
from .watching import resumed, watch_options

__all__ = [
    "NotYet",
    "Passed",
    "atomic_order",
    "cache_bucket",
    "cas_increment",
    "claim",
    "config_reader",
    "delete_vs_purge",
    "expiring_key",
    "fenced_runs",
    "flag_reader",
    "job_leader",
    "keeps_last",
    "like_counter",
    "lock_by_hand",
    "profile_json",
    "raw_delete",
    "raw_update",
    "renew_lease",
    "resumed",
    "rooms_stored",
    "service_registry",
    "state_at",
    "stream_and_subject",
    "temp_pattern",
    "undo",
    "value_before",
    "watch_options",
]

# Inside a classroom every check also records its outcome in the participant's own account, in the
# background (kvnb.progress): wrapped here, in one place, so no check can forget it.
from ..progress import instrument as _instrument

_instrument(globals(), __all__)
