"""What a comparison scenario returns: one result per system, side by side. Pure data, no I/O.

Each result is a frozen dataclass with a ``system`` label and a ``rows()`` method giving the
lines of the side-by-side table. A :class:`Comparison` holds the results of one scenario and
renders them as a small HTML table in a notebook (and as text elsewhere).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "NATS",
    "REDIS",
    "REDIS_AOF",
    "REDIS_DEFAULT",
    "Comparison",
    "ConcurrencyResult",
    "HistoryResult",
    "PersistenceResult",
    "Result",
    "Skipped",
    "ThroughputResult",
    "TtlResult",
    "WatchAwayResult",
]

NATS = "NATS KV"
REDIS = "Redis"
REDIS_DEFAULT = "Redis (default settings)"
REDIS_AOF = "Redis (AOF, appendfsync always)"


class Result(Protocol):
    system: str

    def rows(self) -> dict[str, str]: ...


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "n/a"


def _listing(values: list[str], limit: int = 8) -> str:
    shown = ", ".join(values[:limit]) + (f", … (+{len(values) - limit})" if len(values) > limit else "")
    return f"{len(values)}: {shown}" if values else "0"


@dataclass(frozen=True)
class Skipped:
    """A system that could not take part (not installed, server too old); ``reason`` says why and how to fix it."""

    system: str
    reason: str

    def rows(self) -> dict[str, str]:
        return {"skipped": self.reason}


@dataclass(frozen=True)
class HistoryResult:
    """The same key written several times: which values can still be read back."""

    system: str
    written: list[str]
    kept: list[str]
    """Values the system still gives back for the key, oldest first."""
    how: str

    def rows(self) -> dict[str, str]:
        return {
            "values written": _listing(self.written),
            "values you can read back": _listing(self.kept),
            "how": self.how,
        }


@dataclass(frozen=True)
class WatchAwayResult:
    """A subscriber that listens, goes away for a moment, comes back: what did it get?"""

    system: str
    written_before: int
    written_away: int
    written_after: int
    received_before: list[str]
    received_after_return: list[str]
    """What arrived once the subscriber was back: with a resume, the writes made while away come first."""
    how: str

    @property
    def written(self) -> int:
        return self.written_before + self.written_away + self.written_after

    @property
    def received(self) -> int:
        return len(self.received_before) + len(self.received_after_return)

    @property
    def missed(self) -> int:
        """Changes the subscriber never heard of."""
        return self.written - self.received

    def rows(self) -> dict[str, str]:
        return {
            "writes (before / while away / after)":
                f"{self.written_before} / {self.written_away} / {self.written_after}",
            "received before going away": _listing(self.received_before),
            "received after coming back": _listing(self.received_after_return),
            "missed": str(self.missed),
            "how": self.how,
        }


@dataclass(frozen=True)
class ConcurrencyResult:
    """Racing writers incrementing one counter with optimistic concurrency (read, compute, write-if-unchanged)."""

    system: str
    writers: int
    increments_each: int
    final: int
    conflicts: int
    """Writes refused because another writer changed the key first (each was retried)."""
    seconds: float
    how: str

    @property
    def expected(self) -> int:
        return self.writers * self.increments_each

    @property
    def lost_updates(self) -> int:
        return self.expected - self.final

    def rows(self) -> dict[str, str]:
        return {
            "writers × increments": f"{self.writers} × {self.increments_each} = {self.expected}",
            "final counter": str(self.final),
            "lost updates": str(self.lost_updates),
            "conflicts (retried)": str(self.conflicts),
            "time": f"{self.seconds * 1000:.0f} ms ({_rate(self.expected, self.seconds)} increments)",
            "how": self.how,
        }


@dataclass(frozen=True)
class PersistenceResult:
    """Acknowledged writes, then SIGKILL, then a restart: how many are still there?"""

    system: str
    written: int
    after_restart: int
    write_seconds: float
    unsaved_at_kill: int | None = None
    """Redis only: writes not yet in an RDB snapshot when the process was killed."""
    how: str = ""

    @property
    def lost(self) -> int:
        return self.written - self.after_restart

    def rows(self) -> dict[str, str]:
        rows = {
            "acknowledged writes": str(self.written),
            "write time": f"{self.write_seconds * 1000:.0f} ms ({_rate(self.written, self.write_seconds)})",
            "still there after SIGKILL + restart": str(self.after_restart),
            "lost": str(self.lost),
        }
        if self.unsaved_at_kill is not None:
            rows["changes since last snapshot at kill time"] = str(self.unsaved_at_kill)
        rows["how"] = self.how
        return rows


@dataclass(frozen=True)
class TtlResult:
    """A key written with a time to live: present at once, gone after the TTL, and how you hear about it."""

    system: str
    ttl: float
    present_at_once: bool
    gone_after: float | None
    """Seconds from the write until a read found nothing (None: still there when the wait ended)."""
    expiry_event: str | None
    """What a subscriber heard when the key expired (None: nothing)."""
    how: str

    def rows(self) -> dict[str, str]:
        return {
            "TTL asked for": f"{self.ttl:g} s",
            "readable right after the write": "yes" if self.present_at_once else "no",
            "gone after": f"{self.gone_after:.2f} s" if self.gone_after is not None else "still there",
            "subscriber heard": self.expiry_event or "nothing",
            "how": self.how,
        }


@dataclass(frozen=True)
class ThroughputResult:
    """Simple puts and gets measured live, one at a time and many in flight."""

    system: str
    n: int
    put_seconds: float
    get_seconds: float
    batch_put_seconds: float
    batch_get_seconds: float
    how: str

    @property
    def puts_per_second(self) -> float:
        return self.n / self.put_seconds

    @property
    def gets_per_second(self) -> float:
        return self.n / self.get_seconds

    @property
    def batch_puts_per_second(self) -> float:
        return self.n / self.batch_put_seconds

    @property
    def batch_gets_per_second(self) -> float:
        return self.n / self.batch_get_seconds

    def rows(self) -> dict[str, str]:
        return {
            f"{self.n} puts, one at a time": _rate(self.n, self.put_seconds),
            f"{self.n} gets, one at a time": _rate(self.n, self.get_seconds),
            f"{self.n} puts, all in flight": _rate(self.n, self.batch_put_seconds),
            f"{self.n} gets, all in flight": _rate(self.n, self.batch_get_seconds),
            "how": self.how,
        }


@dataclass(frozen=True)
class Comparison:
    """One scenario's results, one column per system. ``cmp["NATS KV"]`` picks a column."""

    title: str
    results: tuple[Result, ...]
    takeaway: str = ""
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, system: str) -> Result:
        for result in self.results:
            if result.system == system:
                return result
        raise KeyError(f"no result for {system!r}; this comparison has {[r.system for r in self.results]}")

    @property
    def systems(self) -> list[str]:
        return [r.system for r in self.results]

    def table(self) -> tuple[list[str], list[tuple[str, list[str]]]]:
        """(column headers, rows of (label, one cell per system)) — what both reprs show."""
        labels: list[str] = []
        for result in self.results:
            labels += [label for label in result.rows() if label not in labels]
        if "how" in labels:  # the explanation goes last, after every measured row
            labels.append(labels.pop(labels.index("how")))
        cells = [(label, [r.rows().get(label, "") for r in self.results]) for label in labels]
        return self.systems, cells

    def _repr_html_(self) -> str:
        headers, rows = self.table()
        esc = html.escape
        head = "".join(f"<th style='text-align:left'>{esc(h)}</th>" for h in headers)
        body = "".join(
            f"<tr><th style='text-align:left;font-weight:normal'>{esc(label)}</th>"
            + "".join(f"<td style='text-align:left'>{esc(cell)}</td>" for cell in cells) + "</tr>"
            for label, cells in rows
        )
        extra = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        return (
            f"<div class='kvnb-compare'><b>{esc(self.title)}</b>"
            f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"
            + (f"<p><b>Takeaway:</b> {esc(self.takeaway)}</p>" if self.takeaway else "")
            + (f"<ul>{extra}</ul>" if extra else "") + "</div>"
        )

    def __str__(self) -> str:
        headers, rows = self.table()
        width = max([len(label) for label, _ in rows] + [0])
        lines = [self.title]
        for label, cells in rows:
            lines.append(f"  {label:<{width}}  " + " | ".join(f"{h}: {c}" for h, c in zip(headers, cells, strict=True)))
        if self.takeaway:
            lines.append(f"  takeaway: {self.takeaway}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Comparison {self.title!r}: {', '.join(self.systems)}>"
