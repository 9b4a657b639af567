"""Racing writers, counted: per-writer successes, conflicts and retries, and the final verdict.

``cas=True``: every writer loops get + ``update(last=)`` and retries after a conflict, so the
final value must equal the number of successful increments. ``cas=False``: get + plain put;
every put "succeeds", and the increments other writers overwrote are *lost updates*.
``mode="counter"``: every writer sends "+1" to a server-side counter (:mod:`kvnb.counter`); the
server adds, so there is nothing to conflict on.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["MODES", "OUTCOME_LETTERS", "Outcome", "RaceResult", "RaceStats", "WriterStats"]

# How writers increment: get + update(last=) ("cas"), get + put ("put"), a server-side counter ("counter").
MODES: dict[str, str] = {"cas": "update(last=) with retries", "put": "plain put (no revision check)",
                         "counter": "server-side counter (the server adds)"}

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
    mode: str = ""  # "cas", "put" or "counter"; "" means as ``cas`` says
    seconds: float = 0.0  # wall time of the race (0 when not measured)

    @property
    def rate(self) -> float:
        """Increments stored per second (0 when the time was not measured)."""
        return self.successes / self.seconds if self.seconds > 0 else 0.0

    @property
    def attempts(self) -> int:
        """Every write tried: stored + refused + failed with an error."""
        return self.successes + self.conflicts + self.errors

    @property
    def how(self) -> str:
        """The way writers increment: "cas", "put" or "counter"."""
        return self.mode or ("cas" if self.cas else "put")

    def verdict(self) -> str:
        """The outcome in one sentence: was anything lost?"""
        if self.how == "counter":
            if self.ok:
                return f"nothing lost: final value {self.final_value} = {self.successes} increments the server added"
            return f"{self.lost_updates} lost: final value {self.final_value}, but {self.successes} were acknowledged"
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
        if self.how == "counter":
            return (f"{self.attempts} increments sent = {self.successes} added by the server"
                    + (f" + {self.errors} failed with an error" if self.errors else "")
                    + ": the server does the adding, so there is nothing to refuse and nothing to retry")
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
        how = {"cas": "get + update(last=), retry when refused", "put": "get + plain put (no revision check)",
               "counter": "a server-side counter (the server adds)"}[self.how]
        who = f"{self.writers} writer{'s' if self.writers != 1 else ''}"
        return (f"{who} × {self.increments} increments, {how}: {self.verdict()}. "
                f"{self.arithmetic()[0].upper()}{self.arithmetic()[1:]}.")

    def speed(self) -> str:
        """``'0.52 s, 770 increments/s'`` ('' when the time was not measured)."""
        return f"{self.seconds:.2f} s, {self.rate:,.0f} increments/s" if self.seconds > 0 else ""


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

    def __init__(self, writers: int, increments: int, *, cas: bool = True, mode: str = "") -> None:
        self.writers = [WriterStats(i) for i in range(writers)]
        self.increments = increments
        self.cas = cas
        self.mode = mode or ("cas" if cas else "put")
        self.started = time.perf_counter()
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
            increments=self.increments, errors=self.errors, mode=self.mode,
            seconds=time.perf_counter() - self.started,
        )
        self.finished = True
        return self.result

    def to_json(self) -> dict[str, Any]:
        result = self.result
        return {"writers": [w.to_json() for w in self.writers], "increments": self.increments, "cas": self.cas,
                "successes": self.successes, "conflicts": self.conflicts, "retries": self.retries,
                "errors": self.errors, "attempts": self.successes + self.conflicts + self.errors,
                "total": len(self.writers) * self.increments, "finished": self.finished, "mode": self.mode,
                "summary": result.summary() if result else "", "verdict": result.verdict() if result else "",
                "arithmetic": result.arithmetic() if result else "", "final": result.final_value if result else None,
                "speed": result.speed() if result else "", "ok": result.ok if result else None}
