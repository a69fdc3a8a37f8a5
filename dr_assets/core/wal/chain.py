"""Whether the archive holds an unbroken WAL chain from a base backup's start to the newest
WAL it has, across timeline switches.

Recovery reads segment after segment. For segment number n it takes the file of the
timeline on the path to the target timeline that had begun by n (a timeline begins in the
segment holding its parent's switch point, as its history file says), as PostgreSQL's own
recovery does; the parent's files from that number on hold WAL the path abandoned and are
never taken; where no completed file is held, the partial segment of that number ends
the chain. A chain with a missing segment before the newest WAL the archive holds on its
path has a gap: recovery past it is impossible.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dr_assets.core.errors import WalMissing
from dr_assets.core.pg.wal_names import (
    DEFAULT_SEGMENT_SIZE,
    PARTIAL_SUFFIX,
    Segment,
    history_timeline,
    is_partial_name,
    is_segment_name,
    parse_history,
)
from dr_assets.core.wal.archive import WalArchive


@dataclass(frozen=True)
class TimelinePath:
    """The timelines recovery follows, each with the segment number it begins at (the
    first timeline at 0) and the one the next begins at (None for the target timeline).

    The segment holding a switch point is the new timeline's: the promoted server wrote
    it with a copy of the old timeline's WAL up to the switch point, while the old
    timeline's file of that number (and every later one) holds WAL the new timeline
    abandoned."""

    begins: dict[int, int]
    ends: dict[int, int | None]
    left_at: dict[int, int] = field(default_factory=dict)  # timeline -> its switch LSN

    @property
    def target(self) -> int:
        return max(self.begins)

    def candidates(self, number: int) -> list[int]:
        """The timelines whose file may hold segment `number`, newest first."""
        return [t for t in sorted(self.begins, reverse=True)
                if self.begins[t] <= number and (self.ends[t] is None or number < (self.ends[t] or 0))]

    def holds(self, name: str) -> bool:
        """Whether a segment or partial name is on the path."""
        segment = Segment.parse(name.removesuffix(PARTIAL_SUFFIX))
        return segment.timeline in self.candidates(segment.number)

    def passes(self, timeline: int, lsn: int) -> bool:
        """Whether the WAL position (timeline, lsn) is on the path (a restore point)."""
        return timeline in self.begins and (timeline not in self.left_at
                                            or lsn < self.left_at[timeline])


@dataclass(frozen=True)
class Chain:
    start_wal: str
    names: list[str] = field(default_factory=list)  # what recovery reads, in order
    gap_at: str | None = None  # the first missing segment with newer WAL beyond it
    timelines: tuple[int, ...] = ()
    path: TimelinePath | None = None

    @property
    def end(self) -> str | None:
        return self.names[-1] if self.names else None

    @property
    def ok(self) -> bool:
        return self.gap_at is None and bool(self.names)

    @property
    def message(self) -> str:
        if not self.names:
            return f"the archive holds no WAL from {self.start_wal} on"
        if self.gap_at is not None:
            return (f"WAL is missing from {self.gap_at} on (newer WAL exists beyond it): "
                    f"recovery can reach {self.end} at most")
        return f"unbroken from {self.start_wal} to {self.end} ({len(self.names)} files)"


def timeline_path(histories: dict[int, str], start_timeline: int,
                  start_lsn: int | None = None, size: int = DEFAULT_SEGMENT_SIZE) -> TimelinePath:
    """The path from `start_timeline` to the newest timeline descending from it, given the
    history files' texts by timeline. With `start_lsn` (where recovery starts): a timeline
    that branched off `start_timeline` before it is of another branch (a base backup taken
    on the old timeline after the switch cannot reach the new one)."""
    for target in sorted(histories, reverse=True):
        if target <= start_timeline:
            break
        switches = parse_history(histories[target])
        left = next((s for s in switches if s.timeline == start_timeline), None)
        if left is None or (start_lsn is not None and start_lsn >= left.switch_lsn):
            continue  # a timeline of another branch
        begins: dict[int, int] = {}
        ends: dict[int, int | None] = {}
        left_at: dict[int, int] = {}
        previous_begin = 0
        for s in switches:
            if s.timeline < start_timeline:
                continue
            begins[s.timeline] = previous_begin
            ends[s.timeline] = s.switch_lsn // size
            left_at[s.timeline] = s.switch_lsn
            previous_begin = s.switch_lsn // size
        begins[target] = previous_begin
        ends[target] = None
        return TimelinePath(begins, ends, left_at)
    return TimelinePath({start_timeline: 0}, {start_timeline: None})


def follow(start: Segment, held: set[str], path: TimelinePath,
           covered_until: int | None = None) -> Chain:
    """The chain from `start` through the names in `held` (segment numbers up to
    `covered_until` count as held: a base backup carrying its own WAL)."""
    names: list[str] = []
    number = start.number
    newest = max((Segment.parse(n).number for n in held
                  if (is_segment_name(n) or is_partial_name(n)) and path.holds(n)), default=-1)
    while True:
        found = None
        partial = None
        for tli in path.candidates(number):
            name = Segment(tli, number, start.size).name
            if name in held:
                found = name
                break
            if partial is None and name + PARTIAL_SUFFIX in held:
                partial = name + PARTIAL_SUFFIX
        if found is None and covered_until is not None and number <= covered_until:
            found = Segment(path.candidates(number)[-1] if path.candidates(number)
                            else start.timeline, number, start.size).name
        if found is not None:
            names.append(found)
            number += 1
            continue
        if partial is not None:
            names.append(partial)
            number += 1
        gap = None
        if number <= newest:
            cands = path.candidates(number)
            gap = Segment(cands[0] if cands else start.timeline, number, start.size).name
        return Chain(start.name, names, gap, tuple(sorted(path.begins)), path)


def histories_held(archive: WalArchive, held: Iterable[str]) -> dict[int, str]:
    out: dict[int, str] = {}
    for name in held:
        tli = history_timeline(name)
        if tli is not None:
            try:
                out[tli] = archive.fetch(name).raw.decode()
            except WalMissing:
                continue
    return out


def held_names(archive: WalArchive) -> set[str]:
    """Every WAL file name at least one store holds (recovery falls back store to store)."""
    held: set[str] = set()
    for store in archive.stores:
        held.update(archive.names(store))
    return held


def follow_chain(archive: WalArchive, start_wal: str, covered_until: str | None = None,
                 held: set[str] | None = None, start_lsn: int | None = None,
                 histories: dict[int, str] | None = None) -> Chain:
    """The chain from a base backup's start segment (and LSN), as the stores hold it now
    (`held` and `histories` when the caller read them already, for several base backups)."""
    names = held if held is not None else held_names(archive)
    start = Segment.parse(start_wal)
    texts = histories if histories is not None else histories_held(archive, names)
    path = timeline_path(texts, start.timeline, start_lsn, start.size)
    covered = Segment.parse(covered_until).number if covered_until else None
    return follow(start, names, path, covered)
