"""Exact money amounts built on decimal.Decimal."""

from tallymoney.currency import CURRENCIES, Currency, get_currency
from tallymoney.errors import CurrencyMismatch, MoneyError, UnknownCurrency
from tallymoney.money import Money

__all__ = [
    "CURRENCIES",
    "Currency",
    "CurrencyMismatch",
    "Money",
    "MoneyError",
    "UnknownCurrency",
    "get_currency",
]
__version__ = "2.1.0"
