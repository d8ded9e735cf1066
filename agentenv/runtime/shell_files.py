"""File reads and writes through the plumbing shell: no process is forked for most files.

A round trip on the shell costs well under a millisecond; the Docker API's archive calls cost
about 100 ms here, and a fresh exec about 65 ms. Bash builtins read a file into a variable and
print it. The shell runs in the C locale, so `read -n N` stops after N bytes: a file of up to
64 KiB (most source files) takes one builtin read; a larger one is measured first (`wc -c`, one
fork), so that a file over the limit is reported with its size and never loaded, and a file
with a NUL byte, which a shell variable cannot hold, is copied by `cat`. `__agentenv_rc`, a
function of every session, returns a status (and unsets variables) without a subshell's fork.
"""

from __future__ import annotations

import posixpath

from agentenv.runtime.base import FileTooLarge
from agentenv.runtime.shell import ShellSession, encode_for_printf, shell_word

# Status codes chosen to mirror errno, so the mapping below reads naturally.
_ENOENT, _EACCES, _EISDIR, _EFBIG, _EINVAL = 2, 13, 21, 27, 22
FILE_OP_TIMEOUT_S = 60.0
# The largest file read through the shell (which keeps 8 MiB of a command's output); larger
# ones take a path without that cap (a one-off exec's stdout), or are refused by `max_bytes`.
SHELL_READ_LIMIT = 6 * 1024 * 1024
_FIRST_READ = 64 * 1024


def check_absolute(path: str) -> None:
    if not posixpath.isabs(path):
        raise ValueError(f"runtime paths must be absolute, got {path!r}")


def read_via_shell(session: ShellSession, path: str, limit: int = SHELL_READ_LIMIT) -> bytes:
    """The file's bytes; FileTooLarge (with its size) if it holds more than `limit`."""
    check_absolute(path)
    line = (
        f"__p={shell_word(path)}; "
        f'if [ -d "$__p" ]; then __agentenv_rc {_EISDIR}; '
        f'elif [ ! -e "$__p" ]; then __agentenv_rc {_ENOENT}; '
        # Devices and pipes (/dev/zero, a FIFO) could be read forever: regular files only.
        f'elif [ ! -f "$__p" ]; then __agentenv_rc {_EINVAL}; '
        f'elif [ ! -r "$__p" ]; then __agentenv_rc {_EACCES}; '
        # A first read of at most 64 KiB, stopping early at a NUL: status 1 means the end of
        # the file came first and the variable holds it all (most source files). A larger
        # file is measured (one fork) before it is read, so a huge one is never loaded.
        f"else IFS= read -r -d '' -n {_FIRST_READ + 1} __data <\"$__p\"; "
        'if [ $? = 1 ]; then printf %s "$__data"; '
        f'else __size=$(wc -c <"$__p"); if [ "$__size" -gt {limit} ]; then '
        f"printf %s $__size; __agentenv_rc {_EFBIG}; "
        f"elif [ ${{#__data}} -le {_FIRST_READ} ]; then cat -- \"$__p\"; "  # a NUL byte: binary
        f"else IFS= read -r -d '' -n {limit + 1} __data <\"$__p\"; "
        # A NUL byte further on, which a shell variable cannot hold: let cat copy the bytes.
        'if [ $? = 1 ]; then printf %s "$__data"; else cat -- "$__p"; fi; fi; fi; fi'
    )
    line = f"{line}; __agentenv_rc $? __data"
    result = session.run_line_bytes(line, FILE_OP_TIMEOUT_S, idempotent=True)
    if result.exit_code == 0 and not result.output_bytes_dropped:
        return result.output
    if result.exit_code == _EFBIG:
        raise FileTooLarge(path, int(result.output.strip() or 0), limit)
    raise_for(result.exit_code, path, result.output.decode("utf-8", errors="replace"))
    raise AssertionError("unreachable")


def write_via_shell(session: ShellSession, path: str, data: bytes) -> None:
    check_absolute(path)
    parent = posixpath.dirname(path)
    line = (
        f"{{ [ -d {shell_word(parent)} ] || mkdir -p -- {shell_word(parent)}; }} && "
        f"printf '%b' '{encode_for_printf(data)}' >{shell_word(path)}"
    )
    result = session.run_line_bytes(line, FILE_OP_TIMEOUT_S, idempotent=True)
    if result.exit_code != 0:
        raise_for(result.exit_code, path, result.output.decode("utf-8", errors="replace"))


def raise_for(code: int | None, path: str, output: str) -> None:
    if code == _ENOENT:
        raise FileNotFoundError(2, "No such file or directory", path)
    if code == _EISDIR:
        raise IsADirectoryError(21, "Is a directory", path)
    if code == _EINVAL:
        raise OSError(22, "Not a regular file", path)
    if code == _EACCES:
        raise PermissionError(13, "Permission denied", path)
    detail = output.strip() or ("it timed out" if code is None else f"exit code {code}")
    raise OSError(f"{path}: {detail}")
