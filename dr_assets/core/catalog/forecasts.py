"""The history the forecasts fit, binned in SQL for the whole estate at once: a handful of
statements whatever the number of apps, each returning at most `bins` rows per app (or
server), read from indexes (backups_started_stored, backups_deleted_stored)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dr_assets.core.catalog.connection import CatalogConnection, tuples
from dr_assets.core.catalog.status_sql import ONCE_VALID, VALID
from dr_assets.core.statuses import BackupStatus, DrillStatus

Series = list[tuple[datetime, float]]


@dataclass(frozen=True)
class ForecastHistory:
    """Binned history over (since, until]: bin k covers (since + k*width, since +
    (k+1)*width], the last ending at `until`.

    restore: per app, (mean finish time, median restore seconds) of the passed drills of
    each bin; dump: per app, (mean start time, mean stored bytes) of the backups that
    stored a dump; added / deleted: per app, per bin, the stored bytes of backups started /
    deleted in it; stored_now: per app, the bytes its valid backups hold; slots: per
    server, (mean sample time, mean retained bytes); slot_keep: per server, the newest
    sample's max_slot_wal_keep_size (None: unlimited)."""

    since: datetime
    until: datetime
    bins: int
    restore: dict[str, Series] = field(default_factory=dict)
    dump: dict[str, Series] = field(default_factory=dict)
    added: dict[str, dict[int, float]] = field(default_factory=dict)
    deleted: dict[str, dict[int, float]] = field(default_factory=dict)
    stored_now: dict[str, float] = field(default_factory=dict)
    slots: dict[str, Series] = field(default_factory=dict)
    slot_keep: dict[str, int | None] = field(default_factory=dict)

    def bin_ends(self) -> list[datetime]:
        width = (self.until - self.since) / self.bins
        return [self.since + width * (k + 1) for k in range(self.bins)]


def _bin(column: str) -> str:
    """The bin of `column` in (since, until] (parameters since, width seconds, bins)."""
    return (f"least(%(bins)s - 1, floor(extract(epoch FROM {column} - %(since)s)"
            f" / %(width)s))::int")


_DRILLS = f"""
SELECT app, {_bin('finished_at')} AS bin, to_timestamp(avg(extract(epoch FROM finished_at))),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY restore_seconds)
FROM dr.drills
WHERE status = '{DrillStatus.PASSED}' AND restore_seconds IS NOT NULL AND app = ANY(%(apps)s)
  AND finished_at > %(since)s AND finished_at <= %(until)s
GROUP BY app, bin"""
_STARTED = f"""
SELECT app, {_bin('started_at')} AS bin, to_timestamp(avg(extract(epoch FROM started_at))),
       count(stored_bytes), coalesce(sum(stored_bytes), 0)
FROM dr.backups
WHERE status IN {ONCE_VALID} AND app = ANY(%(apps)s)
  AND started_at > %(since)s AND started_at <= %(until)s
GROUP BY app, bin"""
_DELETED = f"""
SELECT app, {_bin('deleted_at')} AS bin, coalesce(sum(stored_bytes), 0)
FROM dr.backups
WHERE status = '{BackupStatus.DELETED}' AND app = ANY(%(apps)s)
  AND deleted_at > %(since)s AND deleted_at <= %(until)s
GROUP BY app, bin"""
_HELD = f"""
SELECT app, sum(stored_bytes) FROM dr.backup_totals
WHERE status IN {VALID} AND app = ANY(%(apps)s) GROUP BY app"""
_SLOTS = f"""
SELECT server, {_bin('sampled_at')} AS bin, to_timestamp(avg(extract(epoch FROM sampled_at))),
       avg(retained_bytes), (array_agg(max_slot_wal_keep_size ORDER BY sampled_at DESC))[1]
FROM dr.slot_samples
WHERE server = ANY(%(servers)s) AND sampled_at > %(since)s AND sampled_at <= %(until)s
GROUP BY server, bin ORDER BY server, bin"""


class ForecastRecords(CatalogConnection):
    def forecast_history(self, apps: Sequence[str], servers: Sequence[str], until: datetime,
                         window: timedelta, bins: int = 32) -> ForecastHistory:
        """The estate's binned history over the `window` before `until`: five statements in
        one transaction (one snapshot), for any number of apps."""
        since = until - window
        args = {"apps": list(apps), "servers": list(servers), "since": since, "until": until,
                "width": window.total_seconds() / bins, "bins": bins}
        with self.cursor() as cur:
            restore: defaultdict[str, Series] = defaultdict(list)
            for app, _, at, seconds in tuples(cur, _DRILLS, args):
                restore[app].append((at, float(seconds)))
            dump: defaultdict[str, Series] = defaultdict(list)
            added: defaultdict[str, dict[int, float]] = defaultdict(dict)
            for app, k, at, stored, total in tuples(cur, _STARTED, args):
                added[app][k] = float(total)
                if stored:
                    dump[app].append((at, float(total) / stored))
            deleted: defaultdict[str, dict[int, float]] = defaultdict(dict)
            for app, k, total in tuples(cur, _DELETED, args):
                deleted[app][k] = float(total)
            held = {app: float(total or 0) for app, total in tuples(cur, _HELD, args)}
            slots: defaultdict[str, Series] = defaultdict(list)
            keep: dict[str, int | None] = {}
            for server, _, at, retained, kept in tuples(cur, _SLOTS, args) if servers else ():
                slots[server].append((at, float(retained)))
                keep[server] = int(kept) if kept is not None else None
        return ForecastHistory(since=since, until=until, bins=bins, restore=dict(restore),
                               dump=dict(dump), added=dict(added), deleted=dict(deleted),
                               stored_now=held, slots=dict(slots), slot_keep=keep)

    def record_slot_sample(self, server: str, at: datetime, retained_bytes: int,
                           max_slot_wal_keep_size: int | None, keep: timedelta) -> None:
        """One reading of a server's slot, and the server's readings older than `keep`
        (the forecast window) removed: the table stays a window long."""
        with self.cursor() as cur:
            cur.execute("INSERT INTO dr.slot_samples (server, sampled_at, retained_bytes,"
                        " max_slot_wal_keep_size) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (server, sampled_at) DO NOTHING",
                        (server, at, retained_bytes, max_slot_wal_keep_size))
            cur.execute("DELETE FROM dr.slot_samples WHERE server = %s AND sampled_at < %s",
                        (server, at - keep))
