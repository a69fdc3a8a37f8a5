"""Where a recovery stops: a time, an LSN, a restore point or the newest WAL, as the
`recovery_target_*` settings PostgreSQL takes and in words for messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dr_assets.core.errors import WalError
from dr_assets.core.format.manifest import iso
from dr_assets.core.pg.wal_names import format_lsn, parse_lsn


class TargetKind:
    TIME = "time"
    LSN = "lsn"
    NAME = "restore_point"
    LATEST = "latest"


@dataclass(frozen=True)
class RecoveryTarget:
    """Where recovery stops. A restore point carries the moment it was made (from the
    catalog), by which its base backup is chosen."""

    kind: str
    time: datetime | None = None
    lsn: int | None = None
    name: str | None = None
    timeline: int | None = None  # a restore point's

    @classmethod
    def at_time(cls, moment: datetime) -> RecoveryTarget:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise WalError(f"the target time {moment.isoformat()} has no time zone: add Z "
                           "(UTC) or an offset, such as 2026-11-20T06:00:00Z")
        return cls(TargetKind.TIME, time=moment)

    @classmethod
    def parse_time(cls, text: str) -> RecoveryTarget:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise WalError(f"{text!r} is not a time: write it in ISO 8601 with Z or an offset, "
                           "such as 2026-11-20T06:00:00Z") from None
        if moment.tzinfo is None:
            raise WalError(f"the target time {text!r} has no time zone: add Z (UTC) or an "
                           "offset, such as 2026-11-20T06:00:00Z")
        return cls.at_time(moment)

    @classmethod
    def at_lsn(cls, text: str) -> RecoveryTarget:
        return cls(TargetKind.LSN, lsn=parse_lsn(text))

    @classmethod
    def restore_point(cls, name: str, created_at: datetime, lsn: str | None = None,
                      timeline: int | None = None) -> RecoveryTarget:
        return cls(TargetKind.NAME, time=created_at, name=name,
                   lsn=parse_lsn(lsn) if lsn else None, timeline=timeline)

    @classmethod
    def latest(cls) -> RecoveryTarget:
        return cls(TargetKind.LATEST)

    def settings(self) -> dict[str, str]:
        """The recovery_target_* settings (none for the newest WAL)."""
        if self.kind == TargetKind.TIME and self.time is not None:
            return {"recovery_target_time": self.time.isoformat()}
        if self.kind == TargetKind.LSN and self.lsn is not None:
            return {"recovery_target_lsn": format_lsn(self.lsn)}
        if self.kind == TargetKind.NAME and self.name is not None:
            return {"recovery_target_name": self.name}
        return {}

    def describe(self) -> str:
        if self.kind == TargetKind.TIME and self.time is not None:
            return f"time {iso(self.time)}"
        if self.kind == TargetKind.LSN and self.lsn is not None:
            return f"LSN {format_lsn(self.lsn)}"
        if self.kind == TargetKind.NAME:
            return f"restore point {self.name}"
        return "the newest WAL"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "time": iso(self.time) if self.time else None,
                "lsn": format_lsn(self.lsn) if self.lsn is not None else None,
                "name": self.name, "timeline": self.timeline}
