"""Quiet hours: the windows of the day in which heavy jobs (or a tag's jobs) may start.

`"22:00-08:00"` is one window across midnight; several are joined with commas
(`"12:00-13:00, 22:00-08:00"`); `24:00` ends a day. Times are the machine's local time plus
the farm's `clock_offset_s` (a seam for trying a schedule out, not a mock of anything).
Standard library only: the settings check windows as they are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
DAY_MIN = 24 * 60


@dataclass(frozen=True)
class Window:
    start: int  # minutes after midnight
    end: int  # minutes after midnight; below `start` when it runs across midnight

    def holds(self, minute: float) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


def parse_windows(text: str) -> tuple[Window, ...]:
    """The windows of `text`; ValueError saying which part is wrong and how to write it."""
    windows = []
    for part in (p.strip() for p in str(text).split(",")):
        match = _WINDOW.match(part)
        if not match:
            raise ValueError(f"{part[:40]!r} is not a window; write HH:MM-HH:MM, "
                             "e.g. 22:00-08:00 (several joined by commas)")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"{part!r}: hours run 00-23 (24:00 ends the day), minutes 00-59")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start == end:
            raise ValueError(f"{part!r} is empty; leave the schedule out to run at any hour")
        windows.append(Window(start, end))
    return tuple(windows)


def _minute(moment: datetime) -> float:
    return moment.hour * 60 + moment.minute + moment.second / 60


def inside(windows: tuple[Window, ...], moment: datetime) -> bool:
    return any(w.holds(_minute(moment)) for w in windows)


def next_opening(windows: tuple[Window, ...], moment: datetime) -> datetime:
    """When the first window opens after `moment` (outside every window)."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    openings = [midnight + timedelta(days=d, minutes=w.start) for d in (0, 1) for w in windows]
    return min(o for o in openings if o > moment)


def farm_now(clock_offset_s: float) -> datetime:
    """The farm's local time: the machine's, moved by the configured offset."""
    return datetime.now().astimezone() + timedelta(seconds=clock_offset_s)
