"""Exceptions raised by kvconf."""


class ParseError(ValueError):
    """A line of a configuration file could not be understood.

    ``lineno`` is 1-based; ``line`` is the offending line without its newline.
    """

    def __init__(self, message: str, lineno: int, line: str) -> None:
        super().__init__(f"line {lineno}: {message}: {line!r}")
        self.message = message
        self.lineno = lineno
        self.line = line
