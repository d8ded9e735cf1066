"""Reading the project's on-disk formats: YAML files and pydantic errors in words, and the
folders that ship with the package (`tools/`, `configs/`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

PACKAGE_DIR = Path(__file__).resolve().parent


def describe_validation(exc: ValidationError, prefix: str = "field ") -> str:
    """`field \\`a.b\\`: message; ...` for every error of a pydantic validation."""
    return "; ".join(
        f"{prefix}`{'.'.join(str(part) for part in error['loc']) or '(record)'}`: {error['msg']}" for error in exc.errors()
    )


def read_yaml(path: Path, error: type[Exception]) -> Any:
    """A YAML file's data; `error(message naming the file)` if it cannot be read or parsed."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc


def write_atomically(path: Path, text: str) -> None:
    """Write aside and rename, so a reader never sees half a file; the temporary name carries
    the process id, so concurrent writers of the same file do not share one."""
    temporary = path.with_name(f"{path.name}.tmp{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def bundled_dir(name: str) -> Path:
    """`<name>/` of a source checkout, or the copy packed into an installed wheel."""
    for candidate in (PACKAGE_DIR.parent / name, PACKAGE_DIR / "_bundled" / name):
        if candidate.is_dir():
            return candidate
    return PACKAGE_DIR.parent / name
