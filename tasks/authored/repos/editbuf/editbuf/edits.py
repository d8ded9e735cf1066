"""One recorded change to the text, and how to apply and revert it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Edit:
    """`removed` was replaced by `inserted` at offset `start`.

    An insertion has ``removed == ""``, a deletion ``inserted == ""``.
    """

    start: int
    removed: str
    inserted: str

    def apply(self, text: str) -> str:
        end = self.start + len(self.removed)
        assert text[self.start:end] == self.removed, "edit applied to the wrong text"
        return text[: self.start] + self.inserted + text[end:]

    def revert(self, text: str) -> str:
        end = self.start + len(self.inserted)
        assert text[self.start:end] == self.inserted, "edit reverted on the wrong text"
        return text[: self.start] + self.removed + text[end:]
