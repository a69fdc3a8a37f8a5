"""The growing part schedule: every part S3 would accept, and room for S3's largest object
in 10,000 parts whatever the configured first part size."""

from __future__ import annotations

import itertools

import pytest

from dr_assets.core.stores.parts import (
    GIB,
    LARGEST_PART,
    MAX_OBJECT,
    MAX_PART,
    MAX_PARTS,
    MIB,
    MIN_PART,
    PartSchedule,
)


def sizes(schedule: PartSchedule) -> list[int]:
    return [schedule.size(n) for n in range(1, schedule.max_parts + 1)]


@pytest.mark.parametrize("part_size_mb", range(5, 513))  # every value dr.toml accepts
def test_every_configured_first_size_reaches_5_tib_in_10000_parts(part_size_mb: int) -> None:
    schedule = PartSchedule(first=part_size_mb * MIB)
    assert schedule.max_parts == MAX_PARTS
    assert schedule.capacity() >= MAX_OBJECT
    # The size only changes at step boundaries, so checking those covers all 10,000 parts.
    step = schedule.step_every
    edges = [1, *(n for k in range(step, MAX_PARTS, step) for n in (k, k + 1)), MAX_PARTS]
    seen = [schedule.size(n) for n in edges]
    assert seen == sorted(seen), "part sizes never shrink"
    assert all(MIN_PART <= s <= LARGEST_PART <= MAX_PART for s in seen)


@pytest.mark.parametrize("first_mb", [5, 6, 16, 100, 512])
def test_capacity_is_the_sum_of_the_part_sizes(first_mb: int) -> None:
    schedule = PartSchedule(first=first_mb * MIB)
    every = sizes(schedule)
    assert all(MIN_PART <= s <= MAX_PART for s in every)
    assert all(a <= b for a, b in itertools.pairwise(every))
    assert every[-1] == LARGEST_PART, "the largest step is reached well before part 10,000"
    running = list(itertools.accumulate(every))
    for n in (1, 499, 500, 501, 1234, 3000, 4001, MAX_PARTS):
        assert schedule.capacity(n) == running[n - 1]
    assert schedule.capacity() == running[-1]


def test_the_default_schedule_doubles_every_500_parts_from_16_mib_to_1_gib() -> None:
    schedule = PartSchedule()
    assert [schedule.size(n) // MIB for n in (1, 500, 501, 1000, 1001, 2501, 3000, 3001, 10_000)] \
        == [16, 16, 32, 32, 64, 512, 512, 1024, 1024]
    # What the old fixed 16 MiB parts allowed (about 160 GB) now fits in the first 2,500 parts.
    assert schedule.capacity(2_500) >= MAX_PARTS * 16 * MIB
    assert schedule.capacity() > 7 * (1 << 40)


def test_a_small_test_schedule_steps_as_configured() -> None:
    schedule = PartSchedule(first=MIN_PART, step_every=2, max_parts=8)
    assert [s // MIB for s in sizes(schedule)] == [5, 5, 10, 10, 20, 20, 40, 40]
    assert schedule.capacity() == 150 * MIB
    capped = PartSchedule(first=MIN_PART, step_every=1, largest=12 * MIB, max_parts=4)
    assert [s // MIB for s in sizes(capped)] == [5, 10, 12, 12]
    assert capped.capacity() == 39 * MIB


def test_a_fixed_schedule_keeps_one_size_and_holds_no_more_than_that() -> None:
    fixed = PartSchedule(first=16 * MIB, grows=False)
    assert set(sizes(fixed)) == {16 * MIB}
    assert fixed.capacity() == MAX_PARTS * 16 * MIB < MAX_OBJECT
    assert "10000 parts of 16 MiB" in fixed.describe()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"first": MIN_PART - 1}, "S3 takes"),
    ({"first": 6 * GIB}, "S3 takes"),
    ({"largest": 6 * GIB}, "largest part"),
    ({"first": 64 * MIB, "largest": 32 * MIB}, "largest part"),
    ({"step_every": 0}, "step_every"),
    ({"max_parts": MAX_PARTS + 1}, "max_parts"),
    ({"max_parts": 0}, "max_parts"),
])
def test_schedules_s3_would_refuse_are_refused(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PartSchedule(**kwargs)  # type: ignore[arg-type]


def test_part_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        PartSchedule().size(0)
