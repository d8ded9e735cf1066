"""The :class:`Version` type and helpers built on it.

Versions follow https://semver.org (2.0.0): ``MAJOR.MINOR.PATCH``, optionally followed by
``-PRERELEASE`` and ``+BUILD``, each a dot-separated list of identifiers. Build metadata is
kept and printed but never takes part in comparisons.
"""

from __future__ import annotations

import functools
import re
from typing import Iterable, Optional, Tuple

from semverlib.errors import InvalidVersion

_CORE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_IDENTIFIER = re.compile(r"^[0-9A-Za-z-]+$")


def _split_identifiers(text: str, part: str, field: str) -> Tuple[str, ...]:
    identifiers = tuple(part.split("."))
    for identifier in identifiers:
        if not _IDENTIFIER.match(identifier):
            raise InvalidVersion(text, f"bad {field} identifier {identifier!r}")
        leading_zero = identifier.isdigit() and len(identifier) > 1 and identifier[0] == "0"
        if field == "pre-release" and leading_zero:
            raise InvalidVersion(text, f"numeric identifier {identifier!r} has a leading zero")
    return identifiers


@functools.total_ordering
class Version:
    """An immutable semantic version.

    Instances compare by precedence as defined by the specification, so they can be sorted,
    used with ``max()`` and compared with ``<``; build metadata is ignored when comparing,
    and by ``==`` and ``hash()``.
    """

    __slots__ = ("major", "minor", "patch", "prerelease", "build")

    def __init__(
        self,
        major: int,
        minor: int = 0,
        patch: int = 0,
        prerelease: Iterable[str] = (),
        build: Iterable[str] = (),
    ) -> None:
        if min(major, minor, patch) < 0:
            raise ValueError("version numbers must not be negative")
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease: Tuple[str, ...] = tuple(str(p) for p in prerelease)
        self.build: Tuple[str, ...] = tuple(str(b) for b in build)

    @classmethod
    def parse(cls, text: str) -> "Version":
        """Parse ``text`` (surrounding whitespace and one leading ``v`` are allowed)."""
        raw = text
        text = text.strip()
        if text[:1] in ("v", "V"):
            text = text[1:]
        text, has_build, build = text.partition("+")
        core, has_prerelease, prerelease = text.partition("-")
        match = _CORE.match(core)
        if not match:
            raise InvalidVersion(raw, "expected MAJOR.MINOR.PATCH")
        major, minor, patch = (int(g) for g in match.groups())
        pre = _split_identifiers(raw, prerelease, "pre-release") if has_prerelease else ()
        meta = _split_identifiers(raw, build, "build") if has_build else ()
        return cls(major, minor, patch, pre, meta)

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def bump_major(self) -> "Version":
        return Version(self.major + 1, 0, 0)

    def bump_minor(self) -> "Version":
        return Version(self.major, self.minor + 1, 0)

    def bump_patch(self) -> "Version":
        # 1.2.3-rc.1 is on its way to 1.2.3, so finishing it does not skip a number.
        if self.prerelease:
            return Version(self.major, self.minor, self.patch)
        return Version(self.major, self.minor, self.patch + 1)

    def _precedence_key(self) -> tuple:
        # A version without a pre-release ranks above every pre-release of the same core.
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        return (self.major, self.minor, self.patch, 0, self.prerelease)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._precedence_key() == other._precedence_key()

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._precedence_key() < other._precedence_key()

    def __hash__(self) -> int:
        return hash(self._precedence_key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __repr__(self) -> str:
        return f"Version({str(self)!r})"


def parse(text: str) -> Version:
    """Shorthand for :meth:`Version.parse`."""
    return Version.parse(text)


def max_satisfying(
    candidates: Iterable[str], *, allow_prerelease: bool = False
) -> Optional[Version]:
    """Return the highest version among ``candidates``, or ``None`` when there is none.

    Strings that are not valid versions are skipped. Pre-releases are only considered when
    ``allow_prerelease`` is true.
    """
    best: Optional[Version] = None
    for candidate in candidates:
        try:
            version = Version.parse(candidate)
        except InvalidVersion:
            continue
        if version.is_prerelease and not allow_prerelease:
            continue
        if best is None or version > best:
            best = version
    return best
