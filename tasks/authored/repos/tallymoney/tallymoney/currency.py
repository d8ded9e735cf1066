"""Currencies: an ISO 4217 code, the number of decimal places of the minor unit, a symbol."""

from __future__ import annotations

from dataclasses import dataclass

from tallymoney.errors import UnknownCurrency


@dataclass(frozen=True)
class Currency:
    code: str
    exponent: int  # 2 for cents, 0 for currencies without a minor unit
    symbol: str


CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("USD", 2, "$"),
        Currency("EUR", 2, "€"),
        Currency("GBP", 2, "£"),
        Currency("CHF", 2, "CHF "),
        Currency("JPY", 0, "¥"),
        Currency("KWD", 3, "KD "),
    )
}


def get_currency(code: str | Currency) -> Currency:
    """The registered currency for `code` (case-insensitive), or the Currency given."""
    if isinstance(code, Currency):
        return code
    try:
        return CURRENCIES[code.upper()]
    except KeyError:
        raise UnknownCurrency(f"unknown currency code {code!r}") from None
