"""Who may act and the record of what they did: bearer tokens (roles viewer < operator <
admin) and the hash chain of the audit log. Pure; the catalog stores the entries.

May import: errors, policy, format (its check of private key files).
"""
