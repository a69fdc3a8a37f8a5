"""A backup's stored copies: finding manifests in the stores, proving a copy intact
(checksum_verified), publishing a manifest, and reconciling stores and catalog (sync).

May import: the floors below (format, stores, pg, catalog).
"""
