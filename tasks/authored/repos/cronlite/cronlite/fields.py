"""Parsing one field of a cron expression into the set of values it allows."""

from __future__ import annotations

from dataclasses import dataclass

from cronlite.errors import CronError


@dataclass(frozen=True)
class FieldSpec:
    name: str
    low: int
    high: int

    @property
    def all_values(self) -> frozenset[int]:
        return frozenset(range(self.low, self.high + 1))


MINUTE = FieldSpec("minute", 0, 59)
HOUR = FieldSpec("hour", 0, 23)
DAY_OF_MONTH = FieldSpec("day-of-month", 1, 31)
MONTH = FieldSpec("month", 1, 12)
DAY_OF_WEEK = FieldSpec("day-of-week", 0, 6)

FIELDS = (MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK)


def _number(text: str, spec: FieldSpec) -> int:
    if not text.isdigit():
        raise CronError(f"{spec.name}: {text!r} is not a number")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise CronError(f"{spec.name}: value {value} is out of range {spec.low}-{spec.high}")
    return value


def _step(text: str, spec: FieldSpec) -> int:
    if not text.isdigit() or int(text) == 0:
        raise CronError(f"{spec.name}: step {text!r} must be a positive number")
    return int(text)


def _parse_item(item: str, spec: FieldSpec) -> set[int]:
    """One comma-separated item: ``*``, ``N``, ``A-B``, each optionally followed by ``/S``."""
    base, slash, step_text = item.partition("/")
    step = _step(step_text, spec) if slash else 1
    if base == "*":
        start, end = spec.low, spec.high
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = _number(first, spec), _number(last, spec)
        if start > end:
            raise CronError(f"{spec.name}: range {base!r} runs backwards")
    else:
        start = _number(base, spec)
        # "5/15" means "from 5 to the maximum, every 15"; a bare "5" is just 5.
        end = spec.high if slash else start
    return set(range(start, end + 1, step))


def parse_field(text: str, spec: FieldSpec) -> frozenset[int]:
    """The values allowed by one field, e.g. ``parse_field("1-5", DAY_OF_WEEK)``."""
    if not text:
        raise CronError(f"{spec.name}: empty field")
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{spec.name}: empty item in {text!r}")
        values |= _parse_item(item, spec)
    return frozenset(values)
