from decimal import Decimal

import pytest

from tallymoney import Money


@pytest.mark.parametrize(
    "amount, currency, expected",
    [
        ("2.345", "USD", "2.35"),
        ("2.344", "USD", "2.34"),
        ("-2.345", "USD", "-2.35"),
        ("0.5", "JPY", "1"),
        ("1.0005", "KWD", "1.001"),
    ],
)
def test_rounded_is_half_away_from_zero_to_the_minor_unit(amount, currency, expected):
    assert Money(amount, currency).rounded().amount == Decimal(expected)
    assert str(Money(amount, currency).rounded().amount) == expected


def test_allocate_adds_up_to_the_whole():
    parts = Money("100", "USD").allocate([1, 1, 1])
    assert [p.amount for p in parts] == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert sum((p.amount for p in parts), Decimal(0)) == Decimal("100.00")


def test_allocate_by_weights():
    parts = Money("0.05", "EUR").allocate([3, 7])
    assert [p.amount for p in parts] == [Decimal("0.02"), Decimal("0.03")]


def test_allocate_negative_and_zero_ratio():
    parts = Money("-10", "JPY").allocate([1, 0, 2])
    assert [p.amount for p in parts] == [Decimal("-4"), Decimal("0"), Decimal("-6")]


def test_allocate_rejects_bad_ratios():
    with pytest.raises(ValueError):
        Money("1", "USD").allocate([])
    with pytest.raises(ValueError):
        Money("1", "USD").allocate([0, 0])
    with pytest.raises(ValueError):
        Money("1", "USD").allocate([1, -1])


@pytest.mark.parametrize(
    "amount, currency, text",
    [
        ("1234.5", "USD", "$1,234.50"),
        ("-1234.5", "USD", "-$1,234.50"),
        ("64.47", "EUR", "€64.47"),
        ("1234567", "JPY", "¥1,234,567"),
        ("0.0005", "KWD", "KD 0.001"),
        ("12", "CHF", "CHF 12.00"),
    ],
    ids=["usd-grouping", "usd-negative", "eur", "jpy-no-minor-unit", "kwd-three-places", "chf"],
)
def test_to_string(amount, currency, text):
    assert Money(amount, currency).to_string() == text
