"""kvconf: a small, strict reader for INI-style ``key = value`` configuration files."""

from kvconf.config import Config
from kvconf.errors import ParseError
from kvconf.parser import load, loads

__all__ = ["Config", "ParseError", "load", "loads"]
__version__ = "1.2.0"
