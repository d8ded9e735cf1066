"""Exceptions raised by semverlib."""


class InvalidVersion(ValueError):
    """Raised when a string is not a valid Semantic Versioning 2.0.0 version."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid version {text!r}: {reason}")
        self.text = text
        self.reason = reason
