"""The agent-facing error of a command: its message becomes the observation."""


class CommandError(Exception):
    """A mistake of the agent's (a missing file, a bad range...): reported, never raised out."""

    def __init__(self, message: str, kind: str = "command_error") -> None:
        super().__init__(message)
        self.kind = kind
