"""The anomaly rules: pure functions over a new backup's manifest facts and the app's
recent verified backups (newest first), with the app's thresholds.

- rows_dropped: a table of the previous backup lost more than `rows_drop_fraction` of its
  rows AND more than `rows_drop_min` rows (both strictly) in the new one.
- table_vanished: a table of the previous backup that held at least `vanished_min_rows`
  rows is not in the new one.
- size_dropped: the new dump (raw_bytes: pg_dump's output, before compression, so a change
  of zstd level moves nothing) is below `size_drop_fraction` of the median raw_bytes of the
  last `history` backups, once there are at least `min_history` of them.
- ratio_jumped: the compression ratio r = stored_bytes / raw_bytes (zstd, plus AES-GCM's
  16 bytes a chunk) is at least `ratio_min` AND at least `ratio_rise` above the median r of
  the same backups (also from `min_history` on). Text dumps compress to r of 0.1-0.35; the
  same table with its text replaced by random bytes in base64 or hex (what encrypting
  ransomware leaves in a database) compresses to 0.45-0.75, truly random bytes to ~1.0.

"The previous backup" is the newest of the history: the last good backup before the change,
the one a finding asks retention to keep. A first backup (no history) has no finding. A
finding the previous backup had too (`fresh`) continues a change already held and alerted.
`scan` runs the same rules over a whole series, each backup against those before it.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from dr_assets.core.policy import AnomalyThresholds


class Rule:
    ROWS_DROPPED: Final = "rows_dropped"
    TABLE_VANISHED: Final = "table_vanished"
    SIZE_DROPPED: Final = "size_dropped"
    RATIO_JUMPED: Final = "ratio_jumped"


WARNING, CRITICAL = "warning", "critical"
# What each rule's finding weighs: a vanished table and random-looking data are what a
# deliberate attack leaves; rows and bytes also fall for cleanups, which an admin confirms.
SEVERITY: Final = {Rule.ROWS_DROPPED: WARNING, Rule.TABLE_VANISHED: CRITICAL,
                   Rule.SIZE_DROPPED: WARNING, Rule.RATIO_JUMPED: CRITICAL}


@dataclass(frozen=True)
class BackupFacts:
    """What the rules read of one backup (its manifest's numbers)."""

    backup_id: str
    started_at: datetime
    raw_bytes: int
    stored_bytes: int
    row_counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.stored_bytes / self.raw_bytes if self.raw_bytes > 0 else None


@dataclass(frozen=True)
class Finding:
    """One anomaly: the rule, the table when there is one, the previous good backup and
    the new one, and the numbers the rule compared."""

    rule: str
    new_backup_id: str
    previous_backup_id: str
    numbers: Mapping[str, float | int]
    table: str | None = None

    @property
    def severity(self) -> str:
        return SEVERITY[self.rule]

    @property
    def message(self) -> str:
        n = self.numbers
        if self.rule == Rule.ROWS_DROPPED:
            what = (f"table {self.table} fell from {n['previous_rows']:,} to {n['rows']:,} rows "
                    f"(-{n['dropped_rows']:,}, -{n['dropped_fraction']:.0%})")
        elif self.rule == Rule.TABLE_VANISHED:
            what = f"table {self.table} ({n['previous_rows']:,} rows) is gone"
        elif self.rule == Rule.SIZE_DROPPED:
            what = (f"the dump is {n['raw_bytes']:,} bytes, {n['share_of_median']:.0%} of the "
                    f"median {n['median_raw_bytes']:,.0f} of the last {n['backups']} backups")
        else:
            what = (f"the compression ratio rose to {n['ratio']:.2f} from a median of "
                    f"{n['median_ratio']:.2f} over the last {n['backups']} backups "
                    "(random-looking data where there was text)")
        return f"{what}, since backup {self.previous_backup_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "table": self.table,
                "new_backup_id": self.new_backup_id,
                "previous_backup_id": self.previous_backup_id, "numbers": dict(self.numbers),
                "message": self.message}

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Finding:
        return cls(rule=body["rule"], new_backup_id=body["new_backup_id"],
                   previous_backup_id=body["previous_backup_id"],
                   numbers=dict(body["numbers"]), table=body.get("table"))


def rows_dropped(new: BackupFacts, previous: BackupFacts, t: AnomalyThresholds
                 ) -> list[Finding]:
    out = []
    for table, before in sorted(previous.row_counts.items()):
        now = new.row_counts.get(table)
        if now is None or before <= 0:
            continue
        dropped = before - now
        if dropped > t.rows_drop_min and dropped / before > t.rows_drop_fraction:
            out.append(Finding(Rule.ROWS_DROPPED, new.backup_id, previous.backup_id,
                               {"previous_rows": before, "rows": now, "dropped_rows": dropped,
                                "dropped_fraction": round(dropped / before, 4)}, table))
    return out


def tables_vanished(new: BackupFacts, previous: BackupFacts, t: AnomalyThresholds
                    ) -> list[Finding]:
    return [Finding(Rule.TABLE_VANISHED, new.backup_id, previous.backup_id,
                    {"previous_rows": before, "rows": 0}, table)
            for table, before in sorted(previous.row_counts.items())
            if table not in new.row_counts and before >= t.vanished_min_rows]


def size_dropped(new: BackupFacts, history: Sequence[BackupFacts], t: AnomalyThresholds
                 ) -> list[Finding]:
    recent = [b.raw_bytes for b in history[:t.history] if b.raw_bytes > 0]
    if len(recent) < t.min_history:
        return []
    median = statistics.median(recent)
    if new.raw_bytes >= t.size_drop_fraction * median:
        return []
    return [Finding(Rule.SIZE_DROPPED, new.backup_id, history[0].backup_id,
                    {"raw_bytes": new.raw_bytes, "median_raw_bytes": median,
                     "share_of_median": round(new.raw_bytes / median, 4),
                     "backups": len(recent)})]


def ratio_jumped(new: BackupFacts, history: Sequence[BackupFacts], t: AnomalyThresholds
                 ) -> list[Finding]:
    ratio = new.ratio
    recent = [r for b in history[:t.history] if (r := b.ratio) is not None]
    if ratio is None or len(recent) < t.min_history:
        return []
    median = statistics.median(recent)
    if ratio < t.ratio_min or ratio - median < t.ratio_rise:
        return []
    return [Finding(Rule.RATIO_JUMPED, new.backup_id, history[0].backup_id,
                    {"ratio": round(ratio, 4), "median_ratio": round(median, 4),
                     "raw_bytes": new.raw_bytes, "stored_bytes": new.stored_bytes,
                     "backups": len(recent)})]


def find_anomalies(new: BackupFacts, history: Sequence[BackupFacts], t: AnomalyThresholds
                   ) -> list[Finding]:
    """Every finding of the new backup against its history (newest first, the backups
    before it only); none when the history is empty or the app's checks are off."""
    if not t.enabled or not history:
        return []
    previous = history[0]
    return [*tables_vanished(new, previous, t), *rows_dropped(new, previous, t),
            *ratio_jumped(new, history, t), *size_dropped(new, history, t)]


def fresh(found: Sequence[Finding], previous: Sequence[Finding]) -> list[Finding]:
    """The findings that the previous backup's own check did not have (by rule and table):
    a change that goes on (a ratio still high while the median catches up over `history`
    backups) is recorded on every backup, but only its start holds and alerts."""
    seen = {(f.rule, f.table) for f in previous}
    return [f for f in found if (f.rule, f.table) not in seen]


def scan(series: Sequence[BackupFacts], t: AnomalyThresholds) -> dict[str, list[Finding]]:
    """Each backup of a series (any order) against the `history` backups before it: what
    a chart of an app's backups marks. Only backups with findings are keys."""
    ordered = sorted(series, key=lambda b: (b.started_at, b.backup_id))
    out: dict[str, list[Finding]] = {}
    for i, backup in enumerate(ordered):
        before = ordered[max(0, i - t.history):i][::-1]
        if found := find_anomalies(backup, before, t):
            out[backup.backup_id] = found
    return out
