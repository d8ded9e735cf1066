from decimal import Decimal

import pytest

from tallymoney import CurrencyMismatch, Money, UnknownCurrency, get_currency


def test_amount_is_an_exact_decimal():
    assert Money("0.10", "USD").amount == Decimal("0.10")
    assert Money(5, "eur").currency.code == "EUR"


def test_floats_and_bools_are_refused():
    with pytest.raises(TypeError):
        Money(0.1, "USD")
    with pytest.raises(TypeError):
        Money(True, "USD")


def test_bad_text_amount():
    with pytest.raises(ValueError, match="not a decimal amount"):
        Money("ten", "USD")


def test_unknown_currency():
    with pytest.raises(UnknownCurrency) as info:
        get_currency("XYZ")
    assert str(info.value) == "unknown currency code 'XYZ'"
    assert isinstance(info.value, KeyError)


def test_arithmetic_keeps_precision():
    third = Money("10", "USD") / 3
    assert third.amount == Decimal(10) / Decimal(3)
    assert Money("19.99", "EUR") * 3 + Money("4.50", "EUR") == Money("64.47", "EUR")
    assert 2 * Money("1.25", "GBP") == Money("2.50", "GBP")
    assert -Money("3", "USD") == Money("-3", "USD")
    assert abs(Money("-3", "USD")) == Money("3", "USD")


def test_currency_mismatch():
    with pytest.raises(CurrencyMismatch, match="cannot combine USD and EUR"):
        Money("1", "USD") + Money("1", "EUR")
    with pytest.raises(CurrencyMismatch):
        Money("1", "USD") < Money("2", "EUR")


def test_equality_ordering_and_hashing():
    assert Money("1.0", "USD") == Money("1.00", "USD")
    assert Money("1", "USD") != Money("1", "EUR")
    assert Money("1", "USD") < Money("2", "USD") <= Money("2", "USD")
    assert len({Money("1.0", "USD"), Money("1.00", "USD")}) == 1


def test_repr_and_str():
    assert repr(Money("1.50", "USD")) == "Money('1.50', 'USD')"
    assert str(Money("1.50", "USD")) == "1.50 USD"


def test_truthiness():
    assert not Money("0.00", "USD")
    assert Money("0.01", "USD")
