"""Restore drills: prove the newest verified backup restores within the RTO and passes the
app's validation checks.

May import: restore, validation, copies and the floors below.
"""
