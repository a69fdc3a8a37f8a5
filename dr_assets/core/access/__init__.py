"""Who may act and the record of what they did: bearer tokens (roles viewer < operator <
admin), the launch tickets that carry who asked into the Dagster runs that write databases
or delete backups, and the hash chain of the audit log. Pure; the catalog stores the
entries (and the tickets used).

May import: errors, policy, format (its check of private key files).
"""
