"""Every app of a catalog table, read as a loose index scan: one probe per app."""

from __future__ import annotations


def apps_of(table: str) -> str:
    """A recursive CTE `<table>_apps` of the apps of a table, one index probe per app (a
    loose index scan) instead of a pass over every row: the table has an index leading
    with app."""
    return f"""{table}_apps AS (
        (SELECT app FROM dr.{table} ORDER BY app LIMIT 1)
        UNION ALL
        SELECT (SELECT t.app FROM dr.{table} t WHERE t.app > a.app ORDER BY t.app LIMIT 1)
        FROM {table}_apps a WHERE a.app IS NOT NULL)"""
