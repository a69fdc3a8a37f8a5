"""Anomalies in what a backup contains: a new backup's row counts and sizes against the
app's recent verified backups (rules, pure: a table whose rows fell sharply, a table that
vanished, a dump much smaller than the recent median, a compression ratio that jumped),
and the check every new backup gets (check: the findings recorded, the last good backup
held from retention, an alert opened; an admin's release).

May import: catalog, health (alert severities) and the floors below.
"""
