"""The stored byte format, a contract that outlives code versions: the chunked zstd +
AES-256-GCM stream, the versioned manifest and the schema fingerprint it records, master
keys and wrapped data keys.

May import: errors, names, policy.
"""
