"""Taking a backup: pg_dump in an exported snapshot, streamed through the format into
every store at once, with row counts from the same snapshot.

May import: copies and the floors below.
"""
