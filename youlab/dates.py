"""Reading a moment someone typed: the API's `?as_of=` and the learner page's date picker."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


def parse_moment(value: str) -> dt.datetime | None:
    """An aware datetime from ISO 8601 text, or None when it is not one.

    A date-time without an offset is UTC (so is a date-time-local picker's value); a date alone
    means the end of that day, UTC ("as of 3 March" includes what happened on 3 March).
    """
    value = value.strip()
    try:
        if len(value) <= 10 and (day := parse_date(value)) is not None:
            moment = dt.datetime.combine(day, dt.time.max)  # parse_datetime would read midnight
        elif len(value) <= 64:
            moment = parse_datetime(value)
        else:
            moment = None
    except ValueError:  # well formed but impossible, e.g. 2026-02-30
        return None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.timezone.utc)
    try:
        # In UTC now, as the database compares it: an offset at the calendar's ends (year 1 at
        # +14:00, year 9999 at -14:00) leaves datetime's range.
        return moment.astimezone(dt.timezone.utc)
    except OverflowError:
        return None
