class MoneyError(Exception):
    """Base class of the errors tallymoney raises on purpose."""


class UnknownCurrency(MoneyError, KeyError):
    """A currency code that is not in the registry."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class CurrencyMismatch(MoneyError, ValueError):
    """An operation on two amounts in different currencies."""
