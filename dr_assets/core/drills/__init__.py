"""Restore drills: prove the newest verified backup restores within the RTO.

May import: restore, copies and the floors below.
"""
