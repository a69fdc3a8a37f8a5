"""Queries that find where the per-app rows the catalog's triggers keep (migration 10) differ
from what dr.backups says, computed from scratch: empty when they agree."""

TOTALS_MISMATCH = """
SELECT app, status FROM dr.backup_totals t FULL JOIN (
    SELECT app, status, count(*) AS n, coalesce(sum(stored_bytes), 0) AS b
    FROM dr.backups GROUP BY app, status) c USING (app, status)
WHERE coalesce(t.backups, 0) <> coalesce(c.n, 0)
   OR coalesce(t.stored_bytes, 0) <> coalesce(c.b, 0)"""
# Each app's newest backups read from dr.backups as health reads them, against the row
# the triggers keep in dr.newest_backups.
NEWEST_MISMATCH = """
SELECT a.app FROM (SELECT DISTINCT app FROM dr.backups) a
LEFT JOIN dr.newest_backups n ON n.app = a.app
WHERE (n.backup_id, n.verified_at, n.newest_check_failed, n.newest_status, n.any_check_failed)
  IS DISTINCT FROM (
    (SELECT backup_id FROM dr.backups b WHERE b.app = a.app
        AND status IN ('completed', 'degraded') ORDER BY started_at DESC LIMIT 1),
    (SELECT max(started_at) FROM dr.backups b WHERE b.app = a.app AND verified
        AND status IN ('completed', 'degraded')),
    (SELECT check_failed FROM dr.backups b WHERE b.app = a.app AND checks > 0
        AND status IN ('completed', 'degraded') ORDER BY started_at DESC LIMIT 1),
    (SELECT status FROM dr.backups b WHERE b.app = a.app AND status <> 'deleted'
        ORDER BY started_at DESC LIMIT 1),
    (SELECT coalesce(bool_or(check_failed), false) FROM dr.backups b WHERE b.app = a.app
        AND status IN ('completed', 'degraded')))"""
