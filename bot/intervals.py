"""Intervals written the way people write them: "90s", "30m", "6h", "1d"."""

from __future__ import annotations

import re

from index import CitebotError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$", re.I)
# Refreshing more often than this would only hammer the sites (and rebuild for nothing).
MIN_SECONDS = 10.0


class IntervalError(CitebotError):
    """An interval that cannot be read; one line saying how to write one."""


def parse_interval(text: str, what: str = "interval") -> float:
    """Seconds in ``text`` ("30m"; the unit is required); ``IntervalError`` if invalid."""
    match = _INTERVAL.match(text)
    if match is None:
        raise IntervalError(f"{what} {text!r} is not an interval like 90s, 30m, 6h or 1d")
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds < MIN_SECONDS:
        raise IntervalError(f"{what} {text!r} is under {MIN_SECONDS:g} s; refresh less often")
    return seconds
