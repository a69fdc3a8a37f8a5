"""What a restored database must match beyond its row counts: the schema fingerprint taken
in the dump's snapshot (schema), and the app's validation checks, answered in that snapshot
and again on the restored copy (checks).

May import: format, pg, policy and the floors below.
"""
