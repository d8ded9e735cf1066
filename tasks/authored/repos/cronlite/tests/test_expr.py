from datetime import datetime, timezone

import pytest

import cronlite
from cronlite import CronError, parse


def test_parse_fills_every_field():
    expr = parse("*/15 9-17 * * 1-5")
    assert expr.minutes == {0, 15, 30, 45}
    assert expr.hours == set(range(9, 18))
    assert expr.days == set(range(1, 32))
    assert expr.months == set(range(1, 13))
    assert expr.weekdays == {1, 2, 3, 4, 5}


def test_str_is_the_normalised_source():
    assert str(parse("  0   12  * *   0 ")) == "0 12 * * 0"


def test_wrong_number_of_fields():
    with pytest.raises(CronError, match="expected 5 fields, got 4"):
        parse("* * * *")


def test_error_is_a_value_error():
    with pytest.raises(ValueError):
        cronlite.parse("61 * * * *")


def test_matches_ignores_seconds():
    expr = parse("30 9 * * *")
    assert expr.matches(datetime(2024, 5, 17, 9, 30, 59))
    assert not expr.matches(datetime(2024, 5, 17, 9, 31))


def test_sunday_is_zero():
    expr = parse("0 0 * * 0")
    assert expr.matches(datetime(2024, 3, 3))  # a Sunday
    assert not expr.matches(datetime(2024, 3, 4))


def test_day_of_month_and_day_of_week_must_both_match():
    expr = parse("0 0 1 * 1")
    assert expr.matches(datetime(2024, 4, 1))  # the 1st, a Monday
    assert not expr.matches(datetime(2024, 5, 1))  # the 1st, a Wednesday
    assert not expr.matches(datetime(2024, 4, 8))  # a Monday, the 8th


def test_next_after_is_strictly_later():
    expr = parse("*/15 * * * *")
    assert expr.next_after(datetime(2024, 1, 1, 10, 0)) == datetime(2024, 1, 1, 10, 15)
    assert expr.next_after(datetime(2024, 1, 1, 10, 0, 30)) == datetime(2024, 1, 1, 10, 15)


def test_next_after_crosses_days_months_and_years():
    expr = parse("0 9 1 1 *")
    assert expr.next_after(datetime(2024, 1, 1, 9, 0)) == datetime(2025, 1, 1, 9, 0)


def test_next_after_skips_the_weekend():
    expr = parse("*/15 9-17 * * 1-5")
    assert expr.next_after(datetime(2024, 3, 8, 17, 50)) == datetime(2024, 3, 11, 9, 0)


def test_next_after_finds_leap_day():
    expr = parse("0 0 29 2 *")
    assert expr.next_after(datetime(2024, 3, 1)) == datetime(2028, 2, 29)


def test_next_after_keeps_tzinfo():
    when = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
    assert parse("0 * * * *").next_after(when) == datetime(2024, 6, 1, 13, 0, tzinfo=timezone.utc)


def test_schedule_that_never_fires():
    with pytest.raises(CronError, match="does not fire within 5 years"):
        parse("0 0 30 2 *").next_after(datetime(2024, 1, 1))
