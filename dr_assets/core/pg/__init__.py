"""PostgreSQL's own tools and connections behind one wrapper: binaries found by major
version, pg_dump/pg_restore spawned with passwords only in the child's environment.

May import: errors, names.
"""
