"""Refused tokens, tallied per source address and minute, so a flood of bad tokens writes
a bounded number of audit rows (the audit log refuses DELETE: what is written stays).

The first refusal from a source in a minute is audited at once, with its reason (so a
single bad token is seen as it happens). The refusals after it in that minute are only
counted; once the minute is over, one summary row says how many there were and why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

MAX_REASONS = 5  # distinct reasons a summary names (the most frequent)
MAX_SOURCES = 10_000  # minutes kept open at once; past it the oldest is summarised early
FLUSH_EVERY = timedelta(seconds=15)  # how often the API writes the minutes that are over


@dataclass(frozen=True)
class RefusalSummary:
    source: str
    minute: datetime
    refused: int  # refusals after the first one of the minute
    reasons: tuple[tuple[str, int], ...]

    def arguments(self) -> dict[str, object]:
        return {"source": self.source, "minute": self.minute.isoformat(),
                "refused": self.refused, "summary": True}

    def detail(self) -> str:
        reasons = "; ".join(f"{reason} ({n})" for reason, n in self.reasons)
        return (f"{self.refused} more refused tokens from {self.source} in the minute from "
                f"{self.minute:%Y-%m-%d %H:%M} UTC: {reasons}")


@dataclass
class RefusalTally:
    max_sources: int = MAX_SOURCES
    _open: dict[tuple[str, datetime], Counter[str]] = field(default_factory=dict)

    def note(self, source: str, at: datetime, reason: str) -> bool:
        """Count one refusal; True when it is the minute's first from `source` (audit it
        now), False when a summary will carry it."""
        key = (source, at.replace(second=0, microsecond=0))
        counted = self._open.get(key)
        if counted is None:
            self._open[key] = Counter()
            return True
        counted[reason] += 1
        return False

    def closed(self, now: datetime) -> list[RefusalSummary]:
        """Summaries of the minutes that are over (and of the oldest, past max_sources),
        each returned once."""
        minute = now.replace(second=0, microsecond=0)
        over = [key for key in self._open if key[1] < minute]
        surplus = len(self._open) - len(over) - self.max_sources
        if surplus > 0:
            over += sorted((k for k in self._open if k[1] >= minute), key=lambda k: k[1])[:surplus]
        return self._summaries(over)

    def drain(self) -> list[RefusalSummary]:
        """Every summary still open (when the process stops)."""
        return self._summaries(list(self._open))

    def _summaries(self, keys: list[tuple[str, datetime]]) -> list[RefusalSummary]:
        out = []
        for source, minute in keys:
            counted = self._open.pop((source, minute))
            if counted:
                out.append(RefusalSummary(source, minute, sum(counted.values()),
                                          tuple(counted.most_common(MAX_REASONS))))
        return out
