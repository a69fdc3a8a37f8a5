"""The app's validation checks: answered in the dump's snapshot at backup time (the checks
compared with the backup), and run on a restored database by a drill, each one query in a
read-only transaction with a timeout."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg2.extensions

from dr_assets.core.errors import DRError, ValidationFailed
from dr_assets.core.format.manifest import BackupManifest, RecordedAnswer
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.queries import UnsafeQuery, answer
from dr_assets.core.pg.sessions import connection
from dr_assets.core.policy import ValidationCheck
from dr_assets.core.statuses import CheckStatus

NAMED_FAILURES = 5


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    status: str  # CheckStatus
    expected: str | None = None
    got: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def sentence(self) -> str:
        if self.error is not None:
            return f"check {self.name} failed: {self.error}"
        return f"check {self.name} failed: expected {self.expected!r}, got {self.got!r}"


def _ask(conn: psycopg2.extensions.connection, check: ValidationCheck) -> tuple[str | None, str | None]:
    """(answer, None), or (None, why there is none)."""
    try:
        return answer(conn, check.sql, check.timeout_seconds), None
    except UnsafeQuery as exc:
        return None, f"refused: {exc}"
    except DRError as exc:
        return None, str(exc)


def record_answers(conn: psycopg2.extensions.connection, checks: Iterable[ValidationCheck]
                   ) -> dict[str, RecordedAnswer]:
    """The answers of the checks compared with the backup, in the connection's (read-only)
    transaction: the dump's snapshot. A query that fails is recorded with its error, not
    raised: the backup is worth more than one check, and the drill reports it."""
    recorded: dict[str, RecordedAnswer] = {}
    for check in checks:
        if not check.against_backup:
            continue
        got, error = _ask(conn, check)
        recorded[check.name] = RecordedAnswer(sql=check.sql, answer=got, error=error)
    return recorded


def _expected(check: ValidationCheck, manifest: BackupManifest) -> CheckOutcome | str:
    """The answer the check must give, or its outcome when there is nothing to run it for."""
    if check.expect is not None:
        return check.expect
    recorded = (manifest.validation_answers or {}).get(check.name)
    if recorded is None:
        return CheckOutcome(check.name, CheckStatus.SKIPPED,
                            error=f"backup {manifest.backup_id} recorded no answer for it")
    if recorded.sql != check.sql:
        return CheckOutcome(check.name, CheckStatus.SKIPPED,
                            error=f"its sql changed after backup {manifest.backup_id} recorded "
                                  "its answer")
    if recorded.answer is None:
        return CheckOutcome(check.name, CheckStatus.FAILED,
                            error=f"it failed in the backup's snapshot: {recorded.error}")
    return recorded.answer


def run_checks(checks: Iterable[ValidationCheck], manifest: BackupManifest, restored: ConnInfo
               ) -> list[CheckOutcome]:
    """Every check on the restored database, each in a read-only transaction of its own."""
    outcomes: list[CheckOutcome] = []
    checks = list(checks)
    if not checks:
        return outcomes
    with connection(restored) as conn:
        for check in checks:
            want = _expected(check, manifest)
            if isinstance(want, CheckOutcome):
                outcomes.append(want)
                continue
            got, error = _ask(conn, check)
            status = CheckStatus.PASSED if error is None and got == want else CheckStatus.FAILED
            outcomes.append(CheckOutcome(check.name, status, expected=want, got=got, error=error))
    return outcomes


def refuse_failed(outcomes: Iterable[CheckOutcome]) -> None:
    """ValidationFailed naming the failed checks, expected against got."""
    failed = [o for o in outcomes if o.status == CheckStatus.FAILED]
    if failed:
        more = len(failed) - NAMED_FAILURES
        raise ValidationFailed("; ".join(o.sentence() for o in failed[:NAMED_FAILURES])
                               + (f"; and {more} more" if more > 0 else ""))
