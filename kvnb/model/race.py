"""Racing writers, counted: per-writer successes, conflicts and retries, and the final verdict.

``cas=True``: every writer loops get + ``update(last=)`` and retries after a conflict, so the
final value must equal the number of successful increments. ``cas=False``: get + plain put;
every put "succeeds", and the increments other writers overwrote are *lost updates*.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["OUTCOME_LETTERS", "Outcome", "RaceResult", "RaceStats", "WriterStats"]

Outcome = Literal["ok", "conflict", "error"]
# Told apart by a sign as well as a colour.
OUTCOME_LETTERS: dict[str, str] = {"ok": "+", "conflict": "×", "error": "!"}


@dataclass(frozen=True)
class RaceResult:
    """How a race ended.

    ``successes``: increments acknowledged by the server; ``conflicts``: writes refused because
    another writer got there first (each is read again and retried); ``retries``: increments that
    needed more than one attempt;
    ``lost_updates``: acknowledged increments missing from the final value; ``ok``: the final value
    equals the successful increments (nothing lost).
    """

    final_value: int
    successes: int
    conflicts: int
    retries: int
    lost_updates: int
    ok: bool
    cas: bool = True
    writers: int = 0
    increments: int = 0
    errors: int = 0

    @property
    def attempts(self) -> int:
        """Every write tried: stored + refused + failed with an error."""
        return self.successes + self.conflicts + self.errors

    def verdict(self) -> str:
        """The outcome in one sentence: was anything lost?"""
        if self.ok:
            if self.cas:
                return f"nothing lost: final value {self.final_value} = {self.successes} increments stored"
            return (f"nothing lost this time: final value {self.final_value} = {self.successes} puts stored "
                    "(the writers happened not to overlap; run it again)")
        lost = f"{self.lost_updates} update{'s' if self.lost_updates != 1 else ''} lost"
        if not self.cas:
            return (f"{lost}: final value {self.final_value}, but {self.successes} puts were stored. A plain put "
                    "has no revision check, so a writer that read an old value overwrote increments other "
                    "writers had stored in between")
        return f"{lost}: final value {self.final_value}, but {self.successes} increments were stored"

    def arithmetic(self) -> str:
        """How the attempts add up, in plain words."""
        if not self.cas:
            return (f"{self.attempts} puts = {self.writers} writer{'s' if self.writers != 1 else ''} × "
                    f"{self.increments} increments, none refused: nothing checks whether another writer got there "
                    "first")
        parts = f"{self.attempts} attempts = {self.successes} stored + {self.conflicts} refused because another " \
                "writer got there first"
        if self.errors:
            parts += f" + {self.errors} failed with an error"
        if not self.conflicts:
            return parts + "; no write was refused"
        tries = (f" ({self.retries} increment{'s' if self.retries != 1 else ''} needed more than one try)"
                 if self.retries else "")
        landed = f"all {self.successes} increments landed" if self.ok else f"{self.successes} increments were stored"
        return (f"{parts}; every refused write read the key again and retried, so {landed}{tries}")

    def summary(self) -> str:
        how = "get + update(last=), retry when refused" if self.cas else "get + plain put (no revision check)"
        who = f"{self.writers} writer{'s' if self.writers != 1 else ''}"
        return (f"{who} × {self.increments} increments, {how}: {self.verdict()}. "
                f"{self.arithmetic()[0].upper()}{self.arithmetic()[1:]}.")


@dataclass
class WriterStats:
    """One writer's lane: counters and its most recent outcomes (bounded)."""

    index: int
    successes: int = 0
    conflicts: int = 0
    retries: int = 0
    errors: int = 0
    done: bool = False
    last_error: str = ""
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=48))
    _retrying: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"i": self.index, "ok": self.successes, "conflicts": self.conflicts, "retries": self.retries,
                "errors": self.errors, "done": self.done, "recent": "".join(self.recent), "error": self.last_error}


class RaceStats:
    """Counts what the writers of one race did, as it happens."""

    def __init__(self, writers: int, increments: int, *, cas: bool = True) -> None:
        self.writers = [WriterStats(i) for i in range(writers)]
        self.increments = increments
        self.cas = cas
        self.finished = False
        self.result: RaceResult | None = None
        self.events = 0

    def record(self, writer: int, outcome: Outcome, error: str = "") -> None:
        """One attempt of ``writer``: ``ok`` (an increment stored), ``conflict``, ``error``.

        The first conflict of an increment counts it as retried (the writer reads again and retries).
        """
        w = self.writers[writer]
        self.events += 1
        w.recent.append(OUTCOME_LETTERS[outcome])
        if outcome == "ok":
            w.successes += 1
            w._retrying = False
        elif outcome == "conflict":
            w.conflicts += 1
            if not w._retrying:
                w.retries += 1
                w._retrying = True
        else:
            w.errors += 1
            w.last_error = error

    def writer_done(self, writer: int) -> None:
        self.writers[writer].done = True

    @property
    def successes(self) -> int:
        return sum(w.successes for w in self.writers)

    @property
    def conflicts(self) -> int:
        return sum(w.conflicts for w in self.writers)

    @property
    def retries(self) -> int:
        return sum(w.retries for w in self.writers)

    @property
    def errors(self) -> int:
        return sum(w.errors for w in self.writers)

    def finish(self, final_value: int) -> RaceResult:
        """The verdict, given the value read back at the end."""
        lost = max(0, self.successes - final_value)
        self.result = RaceResult(
            final_value=final_value, successes=self.successes, conflicts=self.conflicts, retries=self.retries,
            lost_updates=lost, ok=final_value == self.successes, cas=self.cas, writers=len(self.writers),
            increments=self.increments, errors=self.errors,
        )
        self.finished = True
        return self.result

    def to_json(self) -> dict[str, Any]:
        result = self.result
        return {"writers": [w.to_json() for w in self.writers], "increments": self.increments, "cas": self.cas,
                "successes": self.successes, "conflicts": self.conflicts, "retries": self.retries,
                "errors": self.errors, "attempts": self.successes + self.conflicts + self.errors,
                "total": len(self.writers) * self.increments, "finished": self.finished,
                "summary": result.summary() if result else "", "verdict": result.verdict() if result else "",
                "arithmetic": result.arithmetic() if result else "", "final": result.final_value if result else None,
                "ok": result.ok if result else None}
