"""A persistent interactive bash on a terminal, driven line by line.

Why a terminal: Ctrl-C (one byte) interrupts whatever runs in the foreground, a builtin loop
included, and the interactive shell survives it, keeping its cwd and variables. Why encoded
lines: the command text travels as `printf %b` escapes inside single quotes, so no byte of it
can be taken for a signal, a line edit or the end of a quoted string; an unbalanced quote in
the agent's command is a syntax error of that command, never a hung shell. Each command ends
with a marker carrying a fresh nonce, its exit code and the shell's cwd.

The transport (a Docker exec socket, a host pty) is a small protocol, so the same session code
serves every runtime.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from agentenv.runtime.base import CommandResult, ShellError

MARK = b"\x1e"
# Bytes that may travel raw inside a single-quoted printf %b format; everything else is escaped.
_RAW_SAFE = frozenset(
    b for b in range(0x20, 0x7F) if b not in (ord("'"), ord("\\"), ord("%"))
)
_SHORT_ESCAPES = {ord("\n"): "\\n", ord("\t"): "\\t", ord("\\"): "\\\\"}

# Kept small on purpose: anything not set here comes from the image or host as it is.
SHELL_ENV = {
    "TERM": "dumb",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "MANPAGER": "cat",
    "SYSTEMD_PAGER": "",
    "PIP_PROGRESS_BAR": "off",
    "DEBIAN_FRONTEND": "noninteractive",
    "LC_ALL": "C.UTF-8",
}
BASH_ARGV = ["bash", "--norc", "--noprofile", "--noediting", "-i"]
MAX_OUTPUT_BYTES = 8 * 1024 * 1024
_INTERRUPT_GRACE_S = 2.0


class Transport(Protocol):
    """A byte pipe to one shell process on a terminal."""

    def send(self, data: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes | None:
        """Bytes that arrived within `timeout`; None if none did; b"" once the shell is gone."""
        ...

    def kill_descendants(self, pid: int) -> None:
        """Out of band: SIGKILL every descendant of `pid` (the shell itself survives)."""
        ...

    def close(self, pid: int | None) -> None:
        """Stop the shell (`pid`, if known) and release the pipe."""
        ...


def encode_for_printf(data: bytes) -> str:
    """Escape `data` so that `printf '%b' '<result>'` prints exactly `data`."""
    parts: list[str] = []
    for byte in data:
        if byte in _RAW_SAFE:
            parts.append(chr(byte))
        elif byte in _SHORT_ESCAPES:
            parts.append(_SHORT_ESCAPES[byte])
        else:
            parts.append(f"\\0{byte:03o}")
    return "".join(parts)


def shell_word(text: str) -> str:
    """A bash ANSI-C quoted word (`$'...'`) for any text: no byte of it travels raw unless safe."""
    parts: list[str] = []
    for byte in text.encode():
        if byte in _RAW_SAFE:
            parts.append(chr(byte))
        else:
            parts.append(f"\\{byte:03o}")
    return "$'" + "".join(parts) + "'"


@dataclass(frozen=True)
class RawResult:
    output: bytes
    exit_code: int | None
    timed_out: bool
    shell_restarted: bool
    output_bytes_dropped: int
    duration_s: float


class _Output:
    """Collects a command's output; keeps the head and the tail once it grows too large."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        if len(self.head) < self.limit // 2:
            room = self.limit // 2 - len(self.head)
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        excess = len(self.tail) - self.limit // 2
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def search_window(self, marker_len: int) -> bytes:
        return bytes(self.tail[-(marker_len + 256 + 65536) :]) if self.tail else bytes(self.head)

    def text(self) -> bytes:
        return bytes(self.head + self.tail)

    def strip_marker(self, nonce: str) -> None:
        """Remove the marker of an interrupted command, if the shell still printed it."""
        pattern = re.compile(re.escape(MARK + nonce.encode() + b":") + rb"-?\d*:.*?\x1e\n", re.S)
        self.head = bytearray(pattern.sub(b"", bytes(self.head)))
        self.tail = bytearray(pattern.sub(b"", bytes(self.tail)))


class ShellSession:
    """One long-lived interactive bash; restarted (in `start_dir`) if it dies."""

    def __init__(self, open_transport: Callable[[], Transport], start_dir: str) -> None:
        self._open_transport = open_transport
        self.start_dir = start_dir
        self._transport: Transport | None = None
        self._pid: int | None = None
        self._pending = bytearray()  # bytes read past the last marker
        self.cwd = start_dir

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        transport = self._open_transport()
        self._transport = transport
        self._pending.clear()
        nonce = secrets.token_hex(8)
        setup = (
            "stty -echo -opost -icanon -ixon noflsh min 1 time 0 2>/dev/null; "
            "PS1=''; PS2=''; PS0=''; PROMPT_COMMAND=''; unset HISTFILE; set +o history; set +H; "
            "__agentenv_rc() { return \"$1\"; }; "
            f"cd {shell_word(self.start_dir)} && "
            f"printf '\\036{nonce}:%s:%s\\036\\n' \"$$\" \"$PWD\"\n"
        )
        transport.send(setup.encode())
        found = self._read_marker(nonce, time.monotonic() + 30.0, _Output(1 << 20))
        if found is None or found[0] is None:
            self._drop_transport()
            raise ShellError(f"the shell did not start in {self.start_dir!r}")
        self._pid, self.cwd = found[0], found[1]

    @property
    def alive(self) -> bool:
        return self._transport is not None

    def close(self, kill: bool = True) -> None:
        """Stop the shell; `kill=False` only lets go of it (its host is about to go away)."""
        self._drop_transport(kill)

    def _drop_transport(self, kill: bool = True) -> None:
        if self._transport is not None:
            try:
                self._transport.close(self._pid if kill else None)
            finally:
                self._transport = None
                self._pid = None

    # -- commands ------------------------------------------------------------------------
    def run(self, command: str, timeout: float) -> CommandResult:
        """Run an agent's command: stdin from /dev/null, stderr merged, state kept."""
        line = (
            f"printf -v __agentenv_cmd '%b' '{encode_for_printf(command.encode())}'; "
            'eval "$__agentenv_cmd" </dev/null 2>&1'
        )
        return self.run_line(line, timeout)

    def run_line(self, line: str, timeout: float) -> CommandResult:
        """Run one line of trusted shell code (already quoted) and wait for its marker."""
        raw = self.run_line_bytes(line, timeout)
        return CommandResult(
            output=raw.output.decode("utf-8", errors="replace"),
            exit_code=raw.exit_code,
            timed_out=raw.timed_out,
            shell_restarted=raw.shell_restarted,
            output_bytes_dropped=raw.output_bytes_dropped,
            duration_s=raw.duration_s,
            cwd=self.cwd,
        )

    def run_line_bytes(self, line: str, timeout: float) -> RawResult:
        """As `run_line`, with the output as the exact bytes the shell printed."""
        started = time.monotonic()
        restarted = False
        if self._transport is None:
            self.start()
            restarted = True
        assert self._transport is not None
        nonce = secrets.token_hex(8)
        marker_cmd = f"printf '\\036{nonce}:%s:%s\\036\\n' \"$?\" \"$PWD\""
        self._transport.send(f"{line}\n{marker_cmd}\n".encode())
        output = _Output(MAX_OUTPUT_BYTES)
        found = self._read_marker(nonce, started + timeout, output)
        timed_out = False
        exit_code: int | None = None
        if found is None:
            if self._transport is None:  # the shell died under the command
                self.start()
                restarted = True
            else:
                timed_out = True
                for stale in [nonce, *self._interrupt(output)]:
                    output.strip_marker(stale)
        else:
            exit_code, self.cwd = found
        return RawResult(
            output=output.text(),
            exit_code=exit_code,
            timed_out=timed_out,
            shell_restarted=restarted,
            output_bytes_dropped=output.dropped,
            duration_s=time.monotonic() - started,
        )

    def _interrupt(self, output: _Output) -> list[str]:
        """Ctrl-C, then SIGKILL the command's processes, then a new shell: whatever works.

        Returns the nonces of the markers it sent: a late one may still land in the output.
        """
        assert self._transport is not None
        sent: list[str] = []
        self._transport.send(b"\x03")
        if self._resync(output, sent):
            return sent
        if self._pid is not None and self._transport is not None:
            self._transport.kill_descendants(self._pid)
            if self._resync(output, sent):
                return sent
        self._drop_transport()
        self.start()
        return sent

    def _resync(self, output: _Output, sent: list[str]) -> bool:
        """After an interrupt: wait for a fresh marker, so the next command starts clean."""
        if self._transport is None:
            return False
        nonce = secrets.token_hex(8)
        sent.append(nonce)
        self._transport.send(f"\nprintf '\\036{nonce}:%s:%s\\036\\n' 0 \"$PWD\"\n".encode())
        found = self._read_marker(nonce, time.monotonic() + _INTERRUPT_GRACE_S, output)
        if found is None:
            return False
        self.cwd = found[1]
        return True

    def _read_marker(
        self, nonce: str, deadline: float, output: _Output
    ) -> tuple[int | None, str] | None:
        """Read until `\\x1e<nonce>:<int>:<cwd>\\x1e\\n`; output before it goes to `output`.

        Returns (exit code, cwd), or None on timeout or when the shell is gone (then the
        transport is dropped). Bytes after the marker are kept for the next read.
        """
        prefix = MARK + nonce.encode() + b":"
        # A marker is at most the prefix, an exit code and a path: this much tail may hold
        # the start of one that has not fully arrived yet.
        keep = len(prefix) + 4200
        buffer = bytearray(self._pending)
        self._pending.clear()
        searched_to = 0
        while True:
            # Plain byte searches, not a regex: a fresh nonce per command would mean a fresh
            # compile per command, which costs more than the whole round trip.
            start = buffer.find(prefix, max(0, searched_to - keep))
            end = buffer.find(b"\x1e\n", start + len(prefix)) if start != -1 else -1
            if end != -1:
                output.add(bytes(buffer[:start]))
                self._pending += buffer[end + 2 :]
                code, _, cwd = bytes(buffer[start + len(prefix) : end]).partition(b":")
                exit_code = int(code) if code.lstrip(b"-").isdigit() else None
                return exit_code, cwd.decode("utf-8", errors="replace")
            searched_to = len(buffer)
            if len(buffer) > (1 << 20):  # hand the bulk over, to bound memory and search time
                cut = len(buffer) - keep
                output.add(bytes(buffer[:cut]))
                del buffer[:cut]
                searched_to = len(buffer)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                output.add(bytes(buffer))
                return None
            assert self._transport is not None
            chunk = self._transport.recv(min(remaining, 1.0))
            if chunk is None:
                continue
            if chunk == b"":
                output.add(bytes(buffer))
                self._drop_transport()
                return None
            buffer += chunk
