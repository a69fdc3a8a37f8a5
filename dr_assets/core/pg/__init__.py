"""PostgreSQL from the outside: where a server is (conninfo), sessions and the database
statements the engine runs (sessions, databases), the client tools of a server's major
version (binaries) and the one wrapper every tool is spawned through, passwords only in
the child's environment (command), every user object's definition as the catalogs give
it (schema_objects), and read-only work on a session, validation queries among it
(queries).

May import: errors, names.
"""
