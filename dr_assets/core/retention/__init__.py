"""Retention: the pure plan of what to delete and why (plan), and its application to
stores and catalog under the restore leases (apply).

May import: copies and the floors below.
"""
