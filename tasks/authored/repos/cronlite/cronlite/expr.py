"""A parsed cron expression."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cronlite.errors import CronError
from cronlite.fields import DAY_OF_MONTH, DAY_OF_WEEK, FIELDS, HOUR, MINUTE, MONTH, parse_field

# A schedule such as "0 0 30 2 *" never fires; give up after this many years of searching.
SEARCH_YEARS = 5


@dataclass(frozen=True)
class CronExpr:
    """The values each field allows, and the text the expression was parsed from."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    source: str = ""

    def __str__(self) -> str:
        return self.source

    def _day_matches(self, day: date) -> bool:
        # isoweekday(): Monday is 1 ... Sunday is 7; cron counts Sunday as 0.
        weekday = day.isoweekday() % 7
        return day.day in self.days and weekday in self.weekdays

    def matches(self, when: datetime) -> bool:
        """Whether `when` (seconds ignored) is a time at which this expression fires."""
        return (
            when.minute in self.minutes
            and when.hour in self.hours
            and when.month in self.months
            and self._day_matches(when.date())
        )

    def next_after(self, when: datetime) -> datetime:
        """The first whole minute strictly after `when` at which this expression fires.

        The result keeps `when`'s tzinfo; no time-zone arithmetic is done.
        """
        current = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = current.replace(year=current.year + SEARCH_YEARS, month=1, day=1)
        while current < limit:
            if current.month not in self.months:
                # Jump to midnight on the first of the next month.
                year, month = divmod(current.year * 12 + current.month, 12)
                current = current.replace(year=year, month=month + 1, day=1, hour=0, minute=0)
                continue
            if not self._day_matches(current.date()):
                current = (current + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if current.hour not in self.hours:
                current = (current + timedelta(hours=1)).replace(minute=0)
                continue
            if current.minute not in self.minutes:
                current += timedelta(minutes=1)
                continue
            return current
        raise CronError(f"{self.source!r} does not fire within {SEARCH_YEARS} years of {when}")


def parse(text: str) -> CronExpr:
    """Parse a five-field cron expression such as ``"*/15 9-17 * * 1-5"``."""
    parts = text.split()
    if len(parts) != len(FIELDS):
        raise CronError(f"expected {len(FIELDS)} fields, got {len(parts)}: {text!r}")
    values = [parse_field(part, spec) for part, spec in zip(parts, FIELDS)]
    by_spec = dict(zip(FIELDS, values))
    return CronExpr(
        minutes=by_spec[MINUTE],
        hours=by_spec[HOUR],
        days=by_spec[DAY_OF_MONTH],
        months=by_spec[MONTH],
        weekdays=by_spec[DAY_OF_WEEK],
        source=" ".join(parts),
    )
