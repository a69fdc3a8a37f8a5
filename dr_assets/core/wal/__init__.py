"""Continuous protection of a PostgreSQL server: its WAL streamed into the stores, base
backups, recovery to a moment, the recoverable window, retention of the chain and drills."""
