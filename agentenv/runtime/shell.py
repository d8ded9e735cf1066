"""A persistent interactive bash on a terminal, driven line by line.

Why a terminal: the interactive shell survives an interrupt (see `shell_abort`), keeping its
cwd and variables, and runs each foreground job in a process group of its own that can be
interrupted alone. Why encoded lines: the command text travels as `printf %b` escapes inside
single quotes, so no byte of it can be taken for a signal, a line edit or the end of a quoted
string; an unbalanced quote in the agent's command is a syntax error of that command, never a
hung shell. Each command ends with a marker carrying a fresh nonce, its exit code and the
shell's cwd. The shell's own stderr goes to /dev/null: what bash says about jobs ("[1]+ Done",
"Terminated"), `set -v`/`set -x` echoes of our own lines and start-up complaints are not the
command's output; a command's stderr is merged into its output explicitly.

The transport (a Docker exec socket, a host pty) is a small protocol, so the same session code
serves every runtime.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from agentenv.runtime.base import CommandResult, ShellError
from agentenv.runtime.shell_abort import AbortOutcome

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
# What interactive bash prints when a foreground job dies of SIGKILL (ours, on a timeout).
_KILLED_NOTICE = b"Killed\n"
# What interactive bash prints about a background job that ended ("[1]+  Done   sleep 1",
# "[2]-  Terminated   server"). The shell's own stderr is /dev/null, but bash also reports
# after every foreground job of a command, on the command's stderr, which is its output; no
# shell option turns that off. A job still running or stopped (`jobs`) is left alone.
_JOB_ENDED = re.compile(rb"^\[\d{1,6}\][+ -]  (?!Running )(?!Stopped)[A-Z][^\n]*(?:\n|$)", re.M)


class Transport(Protocol):
    """A byte pipe to one shell process on a terminal."""

    def send(self, data: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes | None:
        """Bytes that arrived within `timeout`; None if none did; b"" once the shell is gone."""
        ...

    def abort_command(self, pid: int, grace_s: float) -> tuple[AbortOutcome, bool]:
        """Out of band: stop what shell `pid` runs without letting its command line go on
        (see `shell_abort`). Returns the outcome, and whether a process had to be SIGKILLed."""
        ...

    def close(self, pid: int | None) -> None:
        """Stop the shell (`pid`, if known) and everything it started; release the pipe."""
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


def shell_word(text: str | bytes) -> str:
    """A bash ANSI-C quoted word (`$'...'`) for any text or bytes: nothing travels raw unless
    safe. Text may carry surrogate escapes (names that are not UTF-8): they become their bytes."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", errors="surrogateescape")
    parts: list[str] = []
    for byte in data:
        if byte in _RAW_SAFE:
            parts.append(chr(byte))
        else:
            parts.append(f"\\{byte:03o}")
    return "$'" + "".join(parts) + "'"


def _marker_command(nonce: str, code: str = '"$?"') -> str:
    # `\builtin`: neither an alias nor a function named printf can stand in for ours.
    return f"\\builtin printf '\\036{nonce}:%s:%s\\036\\n' {code} \"$PWD\""


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

    def text(self) -> bytes:
        return bytes(self.head + self.tail)

    def strip_marker(self, nonce: str) -> None:
        """Remove the marker of an interrupted command, if the shell still printed it."""
        pattern = re.compile(re.escape(MARK + nonce.encode() + b":") + rb"-?\d*:.*?\x1e\n", re.S)
        self.head = bytearray(pattern.sub(b"", bytes(self.head)))
        self.tail = bytearray(pattern.sub(b"", bytes(self.tail)))

    def drop_last(self, notice: bytes) -> None:
        """Remove the last occurrence of `notice` (a line the shell printed about our kill)."""
        for part in (self.tail, self.head):
            at = part.rfind(notice)
            if at != -1:
                del part[at : at + len(notice)]
                return


class ShellSession:
    """One long-lived interactive bash; restarted (in `start_dir`) if it dies.

    `setup` is shell code run once at each start, before the first command (e.g. the
    plumbing shell's environment).
    """

    def __init__(
        self, open_transport: Callable[[], Transport], start_dir: str, setup: str = ""
    ) -> None:
        self._open_transport = open_transport
        self.start_dir = start_dir
        self.setup = setup
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
            "stty -echo -opost -icanon -ixon noflsh min 1 time 0 2>/dev/null; exec 2>/dev/null; "
            "PS1=''; PS2=''; PS0=''; PROMPT_COMMAND=''; unset HISTFILE; set +o history; set +H; "
            # A status without a subshell's fork, unsetting the variables named after it.
            '__agentenv_rc() { local code=$1; shift; unset "$@"; return "$code"; }; '
            f"{self.setup}{'; ' if self.setup else ''}"
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
        raw = self.run_bytes(command.encode(), timeout)
        output = _JOB_ENDED.sub(b"", raw.output) if b"]" in raw.output else raw.output
        return CommandResult(
            output=output.decode("utf-8", errors="replace"),
            exit_code=raw.exit_code,
            timed_out=raw.timed_out,
            shell_restarted=raw.shell_restarted,
            output_bytes_dropped=raw.output_bytes_dropped,
            duration_s=raw.duration_s,
            cwd=self.cwd,
        )

    def run_bytes(self, command: bytes, timeout: float, *, idempotent: bool = False) -> RawResult:
        """As `run`, for any bytes of shell code, with the output as the exact bytes printed."""
        line = (
            f"\\builtin printf -v __agentenv_cmd '%b' '{encode_for_printf(command)}'; "
            '\\builtin eval "$__agentenv_cmd" </dev/null 2>&1'
        )
        return self.run_line_bytes(line, timeout, idempotent=idempotent)

    def run_line_bytes(self, line: str, timeout: float, *, idempotent: bool = False) -> RawResult:
        """Run one line of trusted shell code (already quoted) and wait for its marker.

        `idempotent`: the line may run twice, so a shell that dies under it (killed from
        outside, its container restarted) is replaced and the line run again in the new one.
        """
        result = self._run_line_once(line, timeout)
        if idempotent and result.exit_code is None and not result.timed_out:
            again = self._run_line_once(line, timeout)
            return RawResult(**{**again.__dict__, "shell_restarted": True})
        return result

    def _run_line_once(self, line: str, timeout: float) -> RawResult:
        started = time.monotonic()
        restarted = self._ensure_alive()
        assert self._transport is not None
        nonce = secrets.token_hex(8)
        self._transport.send(f"{line}\n{_marker_command(nonce)}\n".encode())
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
                restarted = self._interrupt(output, nonce) or restarted
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

    def _ensure_alive(self) -> bool:
        """Start a new shell if the old one is gone (found before a command, not under it).

        Returns whether it did. What the shell printed between commands (a background job's
        output) is kept for the next command's output, as before.
        """
        if self._transport is not None:
            chunk = self._transport.recv(0)
            while chunk:
                self._pending += chunk
                chunk = self._transport.recv(0)
            if chunk == b"":
                self._drop_transport()
        if self._transport is None:
            self.start()
            return True
        return False

    def _interrupt(self, output: _Output, nonce: str) -> bool:
        """Stop the timed-out command so that nothing more of its line runs; keep its output.

        Returns whether the shell had to be replaced by a new one.
        """
        assert self._transport is not None and self._pid is not None
        outcome, killed = self._abort_while_reading(output)
        sent: list[str] = [nonce]
        restarted = True
        if outcome is AbortOutcome.ABANDONED and self._resync(output, sent):
            restarted = False
        else:
            output.add(bytes(self._pending))  # what the job printed before it was stopped
            self._pending.clear()
            self._drop_transport()
            self.start()
        for stale in sent:
            output.strip_marker(stale)
        if killed:
            output.drop_last(_KILLED_NOTICE)
        return restarted

    def _abort_while_reading(self, output: _Output) -> tuple[AbortOutcome, bool]:
        """Run the transport's abort, and meanwhile keep reading what the job still prints
        (pytest's report on Ctrl-C, say): a full terminal would block the job."""
        assert self._transport is not None and self._pid is not None
        transport, pid = self._transport, self._pid
        result: list[tuple[AbortOutcome, bool]] = []

        def abort() -> None:
            try:
                result.append(transport.abort_command(pid, _INTERRUPT_GRACE_S))
            except Exception:  # the engine failed us: treat the shell as beyond saving
                result.append((AbortOutcome.SHELL_GONE, False))

        worker = threading.Thread(target=abort, name="shell-abort", daemon=True)
        worker.start()
        while worker.is_alive():
            chunk = transport.recv(0.05)
            if chunk:
                self._pending += chunk
            elif chunk == b"":
                break
        worker.join()
        # What was read goes through the marker search: the command may have finished just
        # as the timeout fell, and its marker must not be taken for output.
        return result[0] if result else (AbortOutcome.SHELL_GONE, False)

    def _resync(self, output: _Output, sent: list[str]) -> bool:
        """After an abort: wait for a fresh marker, so the next command starts clean."""
        if self._transport is None:
            return False
        nonce = secrets.token_hex(8)
        sent.append(nonce)
        self._transport.send(f"\n{_marker_command(nonce, '0')}\n".encode())
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


def start_all(*sessions: ShellSession) -> None:
    """Start several shells at once, each in a thread of its own: opening a shell is a few
    calls to the Docker engine and a bash start-up, and those of different shells overlap."""
    errors: list[BaseException] = []

    def start(session: ShellSession) -> None:
        try:
            session.start()
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,), name="shell-start") for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for session in sessions:
            session.close()
        raise errors[0]
