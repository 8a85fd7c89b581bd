"""Quiet hours' windows: parsing, inside or not, when the next one opens (across midnight)."""

from __future__ import annotations

from datetime import datetime

import pytest

from jobs.schedule import inside, next_opening, parse_windows


def at(hh: int, mm: int, day: int = 6) -> datetime:
    return datetime(2026, 12, day, hh, mm).astimezone()


def test_a_window_across_midnight() -> None:
    night = parse_windows("22:00-08:00")
    assert [inside(night, at(h, m)) for h, m in ((21, 59), (22, 0), (3, 0), (7, 59), (8, 0))] \
        == [False, True, True, True, False]
    assert next_opening(night, at(13, 0)) == at(22, 0)
    assert next_opening(night, at(22, 30)) == at(22, 0, day=7)


def test_several_windows_and_a_whole_day() -> None:
    both = parse_windows("12:00-13:00, 22:00-24:00")
    assert inside(both, at(12, 30)) and inside(both, at(23, 59)) and not inside(both, at(0, 30))
    assert next_opening(both, at(13, 5)) == at(22, 0)
    assert next_opening(both, at(23, 0)) == at(12, 0, day=7)
    assert inside(parse_windows("00:00-24:00"), at(5, 0))


@pytest.mark.parametrize(("text", "said"), [
    ("25:00-08:00", "hours run 00-23"), ("22:00-08:61", "minutes 00-59"),
    ("22:00", "is not a window"), ("10:00-10:00", "is empty"), ("24:30-01:00", "hours run"),
    ("", "is not a window"),
])
def test_bad_windows_say_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_windows(text)
