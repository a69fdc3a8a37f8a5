"""WAL positions and file names, as PostgreSQL spells them.

An LSN is a 64-bit byte position written `X/Y` in hex; WAL is cut into segments (16 MiB
unless initdb chose otherwise) named by timeline and segment number in 24 hex digits; a
timeline's history file is `TTTTTTTT.history`; pg_receivewal writes the segment it is still
receiving as `NAME.partial`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dr_assets.core.errors import InvalidName

DEFAULT_SEGMENT_SIZE = 16 << 20
PARTIAL_SUFFIX = ".partial"
HISTORY_SUFFIX = ".history"
_LSN = re.compile(r"(?P<hi>[0-9A-Fa-f]{1,8})/(?P<lo>[0-9A-Fa-f]{1,8})")
_SEGMENT = re.compile(r"(?P<tli>[0-9A-F]{8})(?P<log>[0-9A-F]{8})(?P<seg>[0-9A-F]{8})")
_HISTORY = re.compile(r"(?P<tli>[0-9A-F]{8})\.history")


def parse_lsn(text: str) -> int:
    """`16/B374D848` to its byte position; InvalidName (with the expected form) otherwise."""
    match = _LSN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidName(f"{text!r} is not a WAL position (LSN): write it as PostgreSQL "
                          "prints it, such as 0/3000060 or 16/B374D848")
    return (int(match.group("hi"), 16) << 32) | int(match.group("lo"), 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


@dataclass(frozen=True, order=True)
class Segment:
    """One WAL segment file: its timeline and its number (the position / segment size)."""

    timeline: int
    number: int
    size: int = DEFAULT_SEGMENT_SIZE

    @classmethod
    def of(cls, timeline: int, lsn: int, size: int = DEFAULT_SEGMENT_SIZE) -> Segment:
        return cls(timeline, lsn // size, size)

    @classmethod
    def parse(cls, name: str, size: int = DEFAULT_SEGMENT_SIZE) -> Segment:
        match = _SEGMENT.fullmatch(name.removesuffix(PARTIAL_SUFFIX))
        if match is None:
            raise InvalidName(f"{name!r} is not a WAL segment name (24 hex digits)")
        per_log = 0x100000000 // size
        return cls(int(match.group("tli"), 16),
                   int(match.group("log"), 16) * per_log + int(match.group("seg"), 16), size)

    @property
    def name(self) -> str:
        per_log = 0x100000000 // self.size
        return f"{self.timeline:08X}{self.number // per_log:08X}{self.number % per_log:08X}"

    @property
    def start_lsn(self) -> int:
        return self.number * self.size

    @property
    def end_lsn(self) -> int:
        return (self.number + 1) * self.size

    def next(self) -> Segment:
        return Segment(self.timeline, self.number + 1, self.size)

    def on_timeline(self, timeline: int) -> Segment:
        return Segment(timeline, self.number, self.size)


def is_segment_name(name: str) -> bool:
    return _SEGMENT.fullmatch(name) is not None


def is_partial_name(name: str) -> bool:
    return name.endswith(PARTIAL_SUFFIX) and is_segment_name(name.removesuffix(PARTIAL_SUFFIX))


def history_name(timeline: int) -> str:
    return f"{timeline:08X}{HISTORY_SUFFIX}"


def history_timeline(name: str) -> int | None:
    match = _HISTORY.fullmatch(name)
    return int(match.group("tli"), 16) if match else None


@dataclass(frozen=True)
class TimelineSwitch:
    """One line of a history file: `timeline` ended at `switch_lsn` (the next one began)."""

    timeline: int
    switch_lsn: int
    reason: str


def parse_history(text: str) -> list[TimelineSwitch]:
    """The switches a `TTTTTTTT.history` file lists, oldest first (comments skipped)."""
    out: list[TimelineSwitch] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 2:
            continue
        out.append(TimelineSwitch(int(parts[0]), parse_lsn(parts[1]),
                                  parts[2] if len(parts) > 2 else ""))
    return out
