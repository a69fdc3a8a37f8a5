"""Prove a backup intact: re-read every stored copy and recompute its SHA-256."""

from __future__ import annotations

from dataclasses import dataclass

from dr_assets.core.catalog import Catalog
from dr_assets.core.copies.locate import CopyCheck, check_copy
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.stores.base import Store


@dataclass(frozen=True)
class VerifyResult:
    backup_id: str
    checks: list[CopyCheck]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[CopyCheck]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, object]:
        return {
            "backup_id": self.backup_id,
            "ok": self.ok,
            "copies": [c.to_dict() for c in self.checks],
        }


def verify_backup(
    manifest: BackupManifest, stores: list[Store], catalog: Catalog | None = None
) -> VerifyResult:
    """Checks each copy the manifest says was stored; records the outcome in the catalog."""
    expected = set(manifest.ok_destinations)
    checks = [check_copy(s, manifest) for s in stores if s.name in expected]
    if catalog is not None:
        # An unreachable store is an outage, not corruption: it is not recorded as a failed
        # verification (the check still fails, since the copy could not be proven).
        for c in (c for c in checks if not c.unreachable):
            catalog.record_verification(manifest.backup_id, c.destination, c.ok,
                                        c.expected_sha256, c.actual_sha256, c.error)
    return VerifyResult(manifest.backup_id, checks)
