"""The Money value type."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import total_ordering
from typing import Union

from tallymoney.currency import Currency, get_currency
from tallymoney.errors import CurrencyMismatch

Number = Union[int, Decimal]


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"amounts must be str, int or Decimal, not {type(value).__name__}")
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {value!r}") from None
    raise TypeError(f"amounts must be str, int or Decimal, not {type(value).__name__}")


@total_ordering
class Money:
    """An exact amount in one currency. Immutable and hashable."""

    __slots__ = ("_amount", "_currency")

    def __init__(self, amount: str | Number, currency: str | Currency) -> None:
        self._amount = _to_decimal(amount)
        self._currency = get_currency(currency)

    @property
    def amount(self) -> Decimal:
        return self._amount

    @property
    def currency(self) -> Currency:
        return self._currency

    def __repr__(self) -> str:
        return f"Money({str(self._amount)!r}, {self._currency.code!r})"

    def __str__(self) -> str:
        return f"{self._amount} {self._currency.code}"

    # Comparison and hashing -------------------------------------------------------------

    def _check_same_currency(self, other: Money) -> None:
        if self._currency != other._currency:
            raise CurrencyMismatch(
                f"cannot combine {self._currency.code} and {other._currency.code}"
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self._currency == other._currency and self._amount == other._amount

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same_currency(other)
        return self._amount < other._amount

    def __hash__(self) -> int:
        return hash((self._amount, self._currency.code))

    # Arithmetic -------------------------------------------------------------------------

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same_currency(other)
        return Money(self._amount + other._amount, self._currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same_currency(other)
        return Money(self._amount - other._amount, self._currency)

    def __mul__(self, factor: Number) -> Money:
        if isinstance(factor, Money):
            return NotImplemented
        return Money(self._amount * _to_decimal(factor), self._currency)

    __rmul__ = __mul__

    def __truediv__(self, divisor: Number) -> Money:
        if isinstance(divisor, Money):
            return NotImplemented
        return Money(self._amount / _to_decimal(divisor), self._currency)

    def __neg__(self) -> Money:
        return Money(-self._amount, self._currency)

    def __abs__(self) -> Money:
        return Money(abs(self._amount), self._currency)

    def __bool__(self) -> bool:
        return bool(self._amount)

    # Rounding, splitting, display -------------------------------------------------------

    def rounded(self) -> Money:
        """This amount rounded half away from zero to the currency's minor unit."""
        quantum = Decimal(1).scaleb(-self._currency.exponent)
        return Money(self._amount.quantize(quantum, rounding=ROUND_HALF_UP), self._currency)

    def allocate(self, ratios: list[Number]) -> list[Money]:
        """Split the rounded amount in proportion to `ratios`; the parts add up to it.

        Leftover minor units go one each to the first parts, in order.
        """
        if not ratios or any(_to_decimal(r) < 0 for r in ratios):
            raise ValueError("ratios must be a non-empty list of non-negative numbers")
        total_ratio = sum(_to_decimal(r) for r in ratios)
        if total_ratio == 0:
            raise ValueError("ratios must not all be zero")
        exponent = self._currency.exponent
        units = int(self.rounded()._amount.scaleb(exponent))
        shares = [int(units * _to_decimal(r) / total_ratio) for r in ratios]
        step = 1 if units >= 0 else -1
        for index in range(abs(units - sum(shares))):
            shares[index % len(shares)] += step
        return [Money(Decimal(share).scaleb(-exponent), self._currency) for share in shares]

    def to_string(self) -> str:
        """For display: the symbol, then the rounded amount with thousands separators.

        ``Money("-1234.5", "USD").to_string() == "-$1,234.50"``
        """
        amount = self.rounded()._amount
        sign = "-" if amount < 0 else ""
        digits = f"{abs(amount):,.{self._currency.exponent}f}"
        return f"{sign}{self._currency.symbol}{digits}"
