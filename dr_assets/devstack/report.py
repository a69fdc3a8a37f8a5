"""What `make up` prints as it goes, and what it remembers for the closing summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from dr_assets.devstack.state import Paths


class UpError(Exception):
    """A step cannot go on; the message says why and how to fix it."""


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@dataclass
class Report:
    paths: Paths
    changed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)  # names of the services started now
    backups: dict[str, str] = field(default_factory=dict)  # app -> newest usable backup id
    failures: list[str] = field(default_factory=list)  # apps whose first backup failed
    problems: list[str] = field(default_factory=list)  # services that could not be started

    def line(self, label: str, text: str) -> None:
        print(f"  {label:<12} {text}", flush=True)

    def change(self, label: str, text: str) -> None:
        self.changed.append(label)
        self.line(label, text)

    def problem(self, label: str, text: str) -> None:
        """A service that does not run: shown now and again in the summary."""
        self.problems.append(text)
        for n, part in enumerate(text.splitlines()):
            self.line(label if n == 0 else "", part)
