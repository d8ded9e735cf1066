"""semverlib: parse, compare and bump Semantic Versioning 2.0.0 version strings."""

from semverlib.errors import InvalidVersion
from semverlib.version import Version, max_satisfying, parse

__all__ = ["InvalidVersion", "Version", "max_satisfying", "parse"]
__version__ = "0.4.1"
