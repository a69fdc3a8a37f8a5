"""The contents check every new backup gets, and the release of what it held.

Right after a backup is cataloged (dr_assets.core.backup.take, for drctl, Dagster and the
dev stack alike), its manifest's row counts and sizes are compared with the app's last
`history` verified backups (rules.py). Findings are recorded on the new backup's row; for a
finding the previous backup did not have already (a change that goes on, such as a ratio
above a median still catching up, held and alerted once, at its start), the previous good
backup (the newest of that history: the last one before the change) is held, so retention
keeps it whatever its age, and one `backup_anomaly` alert per app is opened (critical when
a finding is, else warning), delivered by the next alert round. A further anomaly while it
is open holds its own previous backup and leaves the alert as it is.

The alert resolves when an admin releases the app's last held backup, never by itself: after
data loss every later backup looks normal next to the one before it, so "the next backup is
normal" would clear the alert while the loss stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from dr_assets.core.anomalies.rules import (
    CRITICAL,
    WARNING,
    BackupFacts,
    Finding,
    find_anomalies,
    fresh,
)
from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.holds import AlertToOpen, Release
from dr_assets.core.catalog.rows import ContentsRow
from dr_assets.core.errors import BackupNotFound, HoldError
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.names import check_backup_id
from dr_assets.core.policy import AnomalyThresholds

BACKUP_ANOMALY = "backup_anomaly"
HELD_BY = "contents check"
SHOWN = 5  # findings named in an alert; the rest are counted
MAX_REASON = 1000


@dataclass(frozen=True)
class ContentsCheck:
    """What the contents check found in one backup, and what it did about it."""

    backup_id: str
    compared_with: int  # verified backups of the history
    findings: tuple[Finding, ...] = ()
    # Those the previous backup had too: a change already held and alerted, going on.
    continuing: tuple[Finding, ...] = ()
    held_backup_id: str | None = None  # held by this check
    alert_id: int | None = None  # opened by this check (None: none, or one was open)
    skipped: str | None = None  # why the backup was not checked

    @property
    def normal(self) -> bool:
        return not self.findings

    @property
    def new_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f not in self.continuing)

    @property
    def severity(self) -> str | None:
        return severity_of(self.findings)

    def summary(self) -> str:
        if self.skipped:
            return f"contents not checked: {self.skipped}"
        if not self.findings:
            return (f"contents normal against the last {self.compared_with} verified backups"
                    if self.compared_with else "contents not compared: no verified backup before")
        n = len(self.findings)
        text = f"{n} anomal{'y' if n == 1 else 'ies'}: {named(self.findings)}"
        if self.held_backup_id:
            text += f"; backup {self.held_backup_id} is held"
        if self.continuing:
            text += f"; {len(self.continuing)} going on since an earlier backup (held then)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"backup_id": self.backup_id, "normal": self.normal,
                "compared_with": self.compared_with, "severity": self.severity,
                "findings": [recorded(f, f in self.continuing) for f in self.findings],
                "held_backup_id": self.held_backup_id, "alert_id": self.alert_id,
                "skipped": self.skipped}


def severity_of(findings: Sequence[Finding]) -> str | None:
    if not findings:
        return None
    return CRITICAL if any(f.severity == CRITICAL for f in findings) else WARNING


def recorded(f: Finding, continuing: bool) -> dict[str, Any]:
    """A finding as the backup's row keeps it."""
    return {**f.to_dict(), "continuing": continuing}


def named(findings: Sequence[Finding]) -> str:
    more = len(findings) - SHOWN
    return "; ".join(f.message for f in findings[:SHOWN]) + (f"; and {more} more" if more > 0
                                                             else "")


def facts_of_manifest(m: BackupManifest) -> BackupFacts:
    return BackupFacts(m.backup_id, m.started, m.raw_bytes, m.stored_bytes, dict(m.row_counts))


def facts_of_row(r: ContentsRow) -> BackupFacts:
    return BackupFacts(r.backup_id, r.started_at, r.raw_bytes or 0, r.stored_bytes or 0,
                       dict(r.row_counts or {}))


def alert_message(app: str, backup_id: str, findings: Sequence[Finding], held: str) -> str:
    return (f"{app}: backup {backup_id} looks like data loss or tampering: {named(findings)}. "
            f"Backup {held} is held: retention keeps it until an admin releases it "
            f"(drctl backup release {held} --reason ...)")


def check_contents(catalog: Catalog, manifest: BackupManifest, thresholds: AnomalyThresholds
                   ) -> ContentsCheck:
    """Compare a cataloged backup with its app's history; record, hold and alert."""
    return check_facts(catalog, manifest.app, facts_of_manifest(manifest), thresholds)


def judge(new: BackupFacts, rows: Sequence[ContentsRow], thresholds: AnomalyThresholds
          ) -> ContentsCheck:
    """The check's verdict on `new` against its history's rows (newest first), pure."""
    history = [facts_of_row(r) for r in rows]
    found = find_anomalies(new, history, thresholds)
    before = [Finding.from_dict(f) for f in (rows[0].anomalies or [])] if rows else []
    new_ones = fresh(found, before)
    return ContentsCheck(new.backup_id, len(history), tuple(found),
                         tuple(f for f in found if f not in new_ones),
                         held_backup_id=history[0].backup_id if new_ones else None)


def check_facts(catalog: Catalog, app: str, new: BackupFacts, thresholds: AnomalyThresholds
                ) -> ContentsCheck:
    if not thresholds.enabled:
        return ContentsCheck(new.backup_id, 0, skipped="[anomalies] enabled = false")
    rows = catalog.contents_history(app, new.started_at, new.backup_id, thresholds.history)
    check = judge(new, rows, thresholds)
    body = [recorded(f, f in check.continuing) for f in check.findings]
    if check.held_backup_id is None:
        catalog.flag_contents(new.backup_id, body)
        return check
    fresh_ones = check.new_findings
    severity = severity_of(fresh_ones)
    assert severity is not None
    reason = f"anomalies in the next backup, {new.backup_id}: {named(fresh_ones)}"
    alert_id = catalog.flag_contents(
        new.backup_id, body, hold=(check.held_backup_id, reason, HELD_BY),
        alert=AlertToOpen(app, BACKUP_ANOMALY, severity,
                          alert_message(app, new.backup_id, fresh_ones, check.held_backup_id)))
    return replace(check, alert_id=alert_id)


@dataclass(frozen=True)
class Released:
    """An admin's release of a held backup."""

    release: Release

    @property
    def message(self) -> str:
        h = self.release.hold
        text = f"backup {h.backup_id} of {h.app} released: retention may delete it again"
        if self.release.resolved_alert is not None:
            text += f"; alert {self.release.resolved_alert.id} ({BACKUP_ANOMALY}) resolved"
        elif self.release.holds_left:
            text += (f"; {self.release.holds_left} more backup(s) of {h.app} still held, its "
                     f"{BACKUP_ANOMALY} alert stays open until the last is released")
        return text


def release_backup(catalog: Catalog, backup_id: str, by: str, reason: str) -> Released:
    """Release a held backup; the app's last release resolves its alert (delivered as resolved
    by the dispatcher, from the outbox row the resolution leaves). Raises InvalidName for a
    malformed id, BackupNotFound for an unknown one, HoldError without a reason or when the
    backup is not held."""
    check_backup_id(backup_id)
    why = reason.strip()
    if len(why) > MAX_REASON:
        raise HoldError(f"a release reason is at most {MAX_REASON} characters: say it shorter")
    if not why:
        raise HoldError("a release needs a reason (--reason / reason: say why the data change "
                        "was expected, e.g. \"archived orders purged on purpose\")")
    release = catalog.release_hold(backup_id, by, why, BACKUP_ANOMALY)
    if release is None:
        if catalog.get_backup(backup_id) is None:
            raise BackupNotFound(f"backup {backup_id} does not exist in the catalog")
        raise HoldError(f"backup {backup_id} is not held: nothing to release")
    return Released(release)
