"""The part sizes of one S3 multipart upload: they grow with the object, so a stream of
unknown length (a dump) can reach S3's largest object while small objects keep small parts.

S3's rules: at most 10,000 parts, every part but the last at least 5 MiB, none above
5 GiB, the object at most 5 TiB. The schedule doubles the part size every `step_every`
parts from `first` up to `largest` (1 GiB by default: the writer holds one part in memory,
and 10,000 parts of 512 MiB would fall short of 5 TiB, so 1 GiB is the smallest power of
two that reaches it)."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20
GIB = 1 << 30
TIB = 1 << 40

MIN_PART = 5 * MIB
MAX_PART = 5 * GIB
MAX_PARTS = 10_000
MAX_OBJECT = 5 * TIB

STEP_EVERY = 500
LARGEST_PART = GIB


def size_text(n: int) -> str:
    for unit, scale in (("TiB", TIB), ("GiB", GIB), ("MiB", MIB)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class PartSchedule:
    """Part `n` (1-based) is `first` doubled once per `step_every` parts before it, at most
    `largest`; with `grows` off every part is `first` (stores that demand equal parts)."""

    first: int = 16 * MIB
    step_every: int = STEP_EVERY
    largest: int = LARGEST_PART
    max_parts: int = MAX_PARTS
    grows: bool = True

    def __post_init__(self) -> None:
        if not MIN_PART <= self.first <= MAX_PART:
            raise ValueError(f"first part {self.first} B: S3 takes {MIN_PART}..{MAX_PART} B")
        if not self.first <= self.largest <= MAX_PART:
            raise ValueError(f"largest part {self.largest} B: must be {self.first}..{MAX_PART} B")
        if self.step_every < 1:
            raise ValueError(f"step_every {self.step_every}: must be at least 1")
        if not 1 <= self.max_parts <= MAX_PARTS:
            raise ValueError(f"max_parts {self.max_parts}: S3 takes 1..{MAX_PARTS}")

    def size(self, number: int) -> int:
        """The size of part `number`; only an upload's last part may be shorter."""
        if number < 1:
            raise ValueError(f"part numbers start at 1, not {number}")
        if not self.grows:
            return self.first
        doublings = min((number - 1) // self.step_every, self.largest.bit_length())
        return min(self.first << doublings, self.largest)

    def capacity(self, parts: int | None = None) -> int:
        """The bytes the first `parts` parts hold (every allowed part by default)."""
        left = self.max_parts if parts is None else parts
        total, number = 0, 1
        while left > 0:
            size = self.size(number)
            if not self.grows or size == self.largest:
                return total + left * size
            run = min(left, self.step_every - (number - 1) % self.step_every)
            total += run * size
            left -= run
            number += run
        return total

    def describe(self) -> str:
        if not self.grows:
            return f"{self.max_parts} parts of {size_text(self.first)}"
        return (f"{self.max_parts} parts from {size_text(self.first)}, doubling every "
                f"{self.step_every} up to {size_text(self.largest)}")
