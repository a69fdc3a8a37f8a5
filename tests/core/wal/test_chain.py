"""The WAL chain recovery follows: consecutive segments, a timeline switch taken where the
history file says, the partial ending it, a gap found only where newer WAL lies beyond."""

from __future__ import annotations

from dr_assets.core.pg.wal_names import Segment
from dr_assets.core.wal.chain import follow, timeline_path


def names(tli: int, *numbers: int) -> set[str]:
    return {Segment(tli, n).name for n in numbers}


def test_consecutive_segments_end_at_the_partial() -> None:
    held = names(1, 3, 4, 5) | {Segment(1, 6).name + ".partial"}
    chain = follow(Segment(1, 3), held, timeline_path({}, 1))
    assert chain.ok and chain.end == Segment(1, 6).name + ".partial" and len(chain.names) == 4


def test_a_missing_segment_before_newer_wal_is_a_gap() -> None:
    chain = follow(Segment(1, 3), names(1, 3, 4, 6, 7), timeline_path({}, 1))
    assert not chain.ok and chain.gap_at == Segment(1, 5).name and chain.end == Segment(1, 4).name


def test_the_switch_segment_is_read_from_the_new_timeline() -> None:
    # timeline 1 switched to 2 inside segment 5 (0/5000060): 2's copy of segment 5 is read
    history = {2: "1\t0/5000060\tbefore 2026-11-20 06:00:00+00\n"}
    held = names(1, 3, 4, 5, 6) | names(2, 5, 6, 7)
    chain = follow(Segment(1, 3), held, timeline_path(history, 1))
    assert chain.ok
    assert chain.names == [Segment(1, 3).name, Segment(1, 4).name, *sorted(names(2, 5, 6, 7))]


def test_a_base_backup_carrying_its_wal_covers_its_own_segments() -> None:
    chain = follow(Segment(1, 3), names(1, 5, 6), timeline_path({}, 1), covered_until=4)
    assert chain.ok and len(chain.names) == 4


SWITCH_IN_5 = {2: "1\t0/5000060\tbefore 2026-11-20 06:00:00+00\n"}


def test_the_old_timeline_past_the_switch_is_neither_followed_nor_a_gap() -> None:
    # the first server went on writing timeline 1 (segments 5..9) after the moment the
    # second was recovered to; timeline 2 has reached its partial segment 7
    held = names(1, 3, 4, 5, 6, 7, 8, 9) | names(2, 5, 6) | {Segment(2, 7).name + ".partial"}
    chain = follow(Segment(1, 3), held, timeline_path(SWITCH_IN_5, 1))
    assert chain.ok, chain.message
    assert chain.names == [Segment(1, 3).name, Segment(1, 4).name, Segment(2, 5).name,
                           Segment(2, 6).name, Segment(2, 7).name + ".partial"]


def test_a_missing_switch_segment_of_the_new_timeline_is_a_gap() -> None:
    # timeline 1's segment 5 holds WAL past the switch point: it cannot stand in for 2's
    held = names(1, 3, 4, 5, 6) | names(2, 6, 7)
    chain = follow(Segment(1, 3), held, timeline_path(SWITCH_IN_5, 1))
    assert chain.gap_at == Segment(2, 5).name and chain.end == Segment(1, 4).name


def test_a_base_backup_after_the_switch_point_stays_on_its_timeline() -> None:
    # taken on timeline 1 after the point timeline 2 branched off at: 2 is not its future
    path = timeline_path(SWITCH_IN_5, 1, start_lsn=0x6000028)
    assert path.target == 1
    chain = follow(Segment(1, 6), names(1, 6, 7) | names(2, 5, 6, 7, 8), path)
    assert chain.ok and chain.names == sorted(names(1, 6, 7))
    assert timeline_path(SWITCH_IN_5, 1, start_lsn=0x5000028).target == 2
