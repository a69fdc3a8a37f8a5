"""Every way a backup comes back: into a new database (restore), the loading into
pg_restore (loading), in place with a swap and rollback (in_place), and the checks a
restore request from outside must pass before a run is launched (requests).

May import: validation, copies and the floors below.
"""
