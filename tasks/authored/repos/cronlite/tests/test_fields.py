import pytest

from cronlite import CronError
from cronlite.fields import DAY_OF_WEEK, HOUR, MINUTE, MONTH, parse_field


def test_star_allows_every_value():
    assert parse_field("*", MONTH) == frozenset(range(1, 13))


def test_single_number_range_and_list():
    assert parse_field("7", HOUR) == {7}
    assert parse_field("1-5", DAY_OF_WEEK) == {1, 2, 3, 4, 5}
    assert parse_field("0,30,45", MINUTE) == {0, 30, 45}


def test_steps():
    assert parse_field("*/15", MINUTE) == {0, 15, 30, 45}
    assert parse_field("8-18/4", HOUR) == {8, 12, 16}
    assert parse_field("50/5", MINUTE) == {50, 55}


def test_list_mixing_ranges_and_steps():
    assert parse_field("1-3,10-20/5,59", MINUTE) == {1, 2, 3, 10, 15, 20, 59}


@pytest.mark.parametrize(
    "text, spec, message",
    [
        ("60", MINUTE, "minute: value 60 is out of range 0-59"),
        ("24", HOUR, "hour: value 24 is out of range 0-23"),
        ("0", MONTH, "month: value 0 is out of range 1-12"),
        ("7", DAY_OF_WEEK, "day-of-week: value 7 is out of range 0-6"),
        ("5-1", HOUR, "hour: range '5-1' runs backwards"),
        ("*/0", MINUTE, "minute: step '0' must be a positive number"),
        ("x", HOUR, "hour: 'x' is not a number"),
        ("1,,2", HOUR, "hour: empty item in '1,,2'"),
    ],
    ids=["minute-range", "hour-range", "month-zero", "weekday-seven", "backwards", "zero-step",
         "not-a-number", "empty-item"],
)
def test_errors_name_the_field(text, spec, message):
    with pytest.raises(CronError) as info:
        parse_field(text, spec)
    assert str(info.value) == message
