"""Taking a backup: pg_dump in an exported snapshot, streamed through the format into
every store at once, with row counts, the schema fingerprint and the validation checks'
answers from the same snapshot.

May import: validation, copies and the floors below.
"""
