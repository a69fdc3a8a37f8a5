"""The streamer's spool: the directory pg_receivewal writes into (`incoming/`) and, beside
each WAL file in it, a small record of which stores already hold it (`held/NAME.json`).

A file leaves the spool only once every store holds it and the catalog knows; a store
that was down is caught up later from what is still here. The newest completed segment
always stays, because pg_receivewal resumes after the newest file it finds (else from the
slot's restart_lsn); so a restart after any crash resumes where it should."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from dr_assets.core.pg.wal_names import history_timeline, is_partial_name, is_segment_name


@dataclass
class Holding:
    """Which stores hold one spooled file's bytes (by their SHA-256)."""

    sha256: str = ""
    held_by: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)  # store -> what it holds instead
    catalogued: bool = False

    def missing(self, stores: list[str]) -> list[str]:
        return [s for s in stores if s not in self.held_by and s not in self.conflicts]

    def done(self, stores: list[str]) -> bool:
        return self.catalogued and all(s in self.held_by for s in stores)


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / "incoming"
        self.held_dir = root / "held"

    def create(self) -> None:
        for d in (self.root, self.incoming, self.held_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _names(self) -> list[str]:
        if not self.incoming.is_dir():
            return []
        return sorted(p.name for p in self.incoming.iterdir() if p.is_file())

    def finished(self) -> list[str]:
        """Completed segments and history files, oldest first (history files first: a
        timeline's history is needed before its segments)."""
        names = self._names()
        history = [n for n in names if history_timeline(n) is not None]
        segments = sorted((n for n in names if is_segment_name(n)), key=lambda n: (n[8:], n[:8]))
        return history + segments

    def partials(self) -> list[str]:
        """.partial segments, newest last (the last is the one being received)."""
        return sorted((n for n in self._names() if is_partial_name(n)),
                      key=lambda n: (n[8:24], n[:8]))

    def newest_segment(self) -> str | None:
        segments = [n for n in self._names() if is_segment_name(n)]
        return max(segments, key=lambda n: (n[8:], n[:8])) if segments else None

    def path(self, name: str) -> Path:
        return self.incoming / name

    def holding(self, name: str) -> Holding:
        try:
            doc = json.loads((self.held_dir / f"{name}.json").read_text())
        except (OSError, ValueError):
            return Holding()
        return Holding(sha256=str(doc.get("sha256", "")), held_by=list(doc.get("held_by", [])),
                       conflicts=dict(doc.get("conflicts", {})),
                       catalogued=bool(doc.get("catalogued", False)))

    def save(self, name: str, holding: Holding) -> None:
        """Written to a temporary file and renamed: a crash leaves the old record or the new."""
        path = self.held_dir / f"{name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"sha256": holding.sha256, "held_by": sorted(holding.held_by),
                                   "conflicts": holding.conflicts,
                                   "catalogued": holding.catalogued}))
        os.replace(tmp, path)

    def remove(self, name: str) -> None:
        """The file first, its record after: a crash in between leaves a record without a
        file, which `forget_strays` clears."""
        self.path(name).unlink(missing_ok=True)
        (self.held_dir / f"{name}.json").unlink(missing_ok=True)

    def forget_strays(self) -> None:
        present = set(self._names())
        if not self.held_dir.is_dir():
            return
        for record in self.held_dir.glob("*.json"):
            if record.name.removesuffix(".json") not in present:
                with contextlib.suppress(OSError):
                    record.unlink()

    def backlog(self, stores: list[str]) -> list[tuple[str, int, list[str]]]:
        """Files not yet held by every store: (name, bytes, the stores still missing it)."""
        out = []
        for name in self.finished():
            holding = self.holding(name)
            missing = [s for s in stores if s not in holding.held_by]
            if missing:
                try:
                    size = self.path(name).stat().st_size
                except OSError:
                    continue
                out.append((name, size, missing))
        return out
