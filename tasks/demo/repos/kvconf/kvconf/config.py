"""The :class:`Config` object returned by :func:`kvconf.loads` and :func:`kvconf.load`."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

_MISSING = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Config:
    """Parsed configuration: sections of string values, with typed getters.

    Section names keep their case; keys are case-insensitive (stored lower-cased).
    """

    def __init__(self, sections: Dict[str, Dict[str, str]] | None = None) -> None:
        self._sections: Dict[str, Dict[str, str]] = {}
        for name, values in (sections or {}).items():
            for key, value in values.items():
                self.set(name, key, value)

    def set(self, section: str, key: str, value: str) -> None:
        self._sections.setdefault(section, {})[key.lower()] = value

    def sections(self) -> List[str]:
        return list(self._sections)

    def __contains__(self, section: object) -> bool:
        return section in self._sections

    def __iter__(self) -> Iterator[str]:
        return iter(self._sections)

    def get(self, section: str, key: str, default: Any = _MISSING) -> Any:
        """The raw string value, or ``default``; ``KeyError`` when missing and no default."""
        try:
            return self._sections[section][key.lower()]
        except KeyError:
            if default is _MISSING:
                raise KeyError(f"{section}.{key}" if section else key) from None
            return default

    def get_int(self, section: str, key: str, default: Any = _MISSING) -> Any:
        value = self.get(section, key, default)
        return value if value is default else int(value, 0)

    def get_float(self, section: str, key: str, default: Any = _MISSING) -> Any:
        value = self.get(section, key, default)
        return value if value is default else float(value)

    def get_bool(self, section: str, key: str, default: Any = _MISSING) -> Any:
        value = self.get(section, key, default)
        if value is default:
            return value
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"not a boolean: {value!r}")

    def get_list(self, section: str, key: str, default: Any = _MISSING) -> Any:
        """A comma-separated value as a list of stripped, non-empty items."""
        value = self.get(section, key, default)
        if value is default:
            return value
        return [item.strip() for item in value.split(",") if item.strip()]

    def as_dict(self) -> Dict[str, Dict[str, str]]:
        return {name: dict(values) for name, values in self._sections.items()}

    def __repr__(self) -> str:
        return f"Config({self.as_dict()!r})"
