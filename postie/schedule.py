"""Daily time windows (``"22:00-06:00"``): when a watch root's jobs may start.

A leaf module: the config validates a schedule with it and the watcher applies it.
"""

from __future__ import annotations

import datetime
import re

import msgspec

_WINDOW = re.compile(r"([0-9]{1,2}):([0-9]{2})-([0-9]{1,2}):([0-9]{2})")


class Window(msgspec.Struct, frozen=True):
    """A daily time window; ``end`` is exclusive; ``start == end`` means all day."""

    start: datetime.time
    end: datetime.time

    def contains(self, t: datetime.time) -> bool:
        t = t.replace(tzinfo=None)
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # wraps past midnight


def parse_window(text: str) -> Window:
    """``"HH:MM-HH:MM"`` (24-hour local time; ``24:00`` means midnight) to a Window."""
    match = _WINDOW.fullmatch(text.replace(" ", ""))
    if match is None:
        raise ValueError(f"schedule {text!r} is not 'HH:MM-HH:MM' (24-hour, e.g. '22:00-06:00')")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return Window(_time_of_day(text, h1, m1), _time_of_day(text, h2, m2))


def _time_of_day(text: str, hour: int, minute: int) -> datetime.time:
    if (hour, minute) == (24, 0):
        return datetime.time(0, 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"schedule {text!r}: {hour:02}:{minute:02} is not a time of day")
    return datetime.time(hour, minute)
