"""Text spaces that hold any text an observation can carry.

Gymnasium's `Text` keeps its charset as a set of single characters; every Unicode scalar value
(about 1.1 million) would cost hundreds of megabytes per space. `UnicodeText` keeps a small
charset for sampling, and its membership test accepts every Unicode scalar value, which is
what observations decoded from bytes (invalid ones replaced by U+FFFD) are made of.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Set
from typing import Any

import numpy as np
from gymnasium.spaces import Text

# Sampled actions look like text an agent might type, with some non-ASCII mixed in.
SAMPLE_CHARSET = string.printable + "éüßλЖ中文→✓"
_SURROGATES = range(0xD800, 0xE000)
_UNICODE_SIZE = 0x110000 - len(_SURROGATES)


class AnyUnicodeScalar(Set[str]):
    """The set of all Unicode scalar values, without materializing it."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and len(item) == 1 and ord(item) not in _SURROGATES

    def __iter__(self) -> Iterator[str]:
        for point in range(0x110000):
            if point not in _SURROGATES:
                yield chr(point)

    def __len__(self) -> int:
        return _UNICODE_SIZE

    def __repr__(self) -> str:
        return "AnyUnicodeScalar()"


class UnicodeText(Text):
    """A Text space whose members are all strings of Unicode scalar values within the lengths."""

    def __init__(self, max_length: int, *, min_length: int = 0, seed: Any = None) -> None:
        super().__init__(max_length, min_length=min_length, charset=SAMPLE_CHARSET, seed=seed)

    @property
    def character_set(self) -> Set[str]:  # type: ignore[override]
        return AnyUnicodeScalar()

    def sample(
        self,
        mask: tuple[int | None, np.ndarray | None] | None = None,
        probability: tuple[int | None, np.ndarray | None] | None = None,
    ) -> str:
        """A random string; a mask or probability vector indexes `character_list`, the
        sampling alphabet (a weight per each of 1.1 million characters would be absurd)."""
        if mask is not None and probability is not None:
            raise ValueError("give a mask or a probability, not both")
        length, weights = mask or probability or (None, None)
        if length is None:
            length = int(self.np_random.integers(self.min_length, self.max_length + 1))
        if not self.min_length <= length <= self.max_length:
            raise ValueError(f"length {length} is outside [{self.min_length}, {self.max_length}]")
        alphabet = self.character_list
        if weights is None:
            return "".join(self.np_random.choice(alphabet, size=length))
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(alphabet),):
            raise ValueError(f"expected {len(alphabet)} weights (one per sampling character), got {weights.shape}")
        if weights.sum() == 0:
            if self.min_length == 0:
                return ""
            raise ValueError("all weights are zero but the minimum length is above zero")
        return "".join(self.np_random.choice(alphabet, size=length, p=weights / weights.sum()))

    def contains(self, x: Any) -> bool:
        if not isinstance(x, str) or not self.min_length <= len(x) <= self.max_length:
            return False
        try:
            x.encode("utf-8")  # fails exactly on lone surrogates
        except UnicodeEncodeError:
            return False
        return True

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash((UnicodeText, self.min_length, self.max_length))
