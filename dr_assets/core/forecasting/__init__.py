"""Trends and forecasts over the catalog's history: straight lines fitted to restore drill
times, dump sizes, storage and a PITR slot's retained WAL, and the dates they cross their
limits (the RTO, `[storage] quota_gb`, the disk the slot fills). Pure: series in, lines out.

May import: errors, names, statuses, policy.
"""
