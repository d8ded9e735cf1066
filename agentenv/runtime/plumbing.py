"""The plumbing shell: a second persistent shell per runtime, used by agentenv alone.

File reads and writes, search and patch collection run here, never in the agent's shell, so
nothing the agent does to its own shell (`set -e`, `set -C`, aliases and functions named
`git` or `read`, `IFS`, `PATH`, `GIT_DIR`, a DEBUG trap, a deleted cwd) changes what they
read, write or submit. The shell starts with an empty environment (`exec -c`), then takes a
known one: bash's defaults, the C locale (bytes in, bytes out; `${#var}` counts bytes), a
standard PATH, umask 022, and git without system or user configuration. Its cwd is `/`; every
script names absolute paths, so a repository that was deleted and made again is found again.

A round trip costs what the agent's shell costs (well under a millisecond); the extra shell
starts beside the agent's, at the same time, when the runtime starts.
"""

from __future__ import annotations

from agentenv.runtime.base import PlumbingError, PlumbingResult
from agentenv.runtime.shell import MAX_OUTPUT_BYTES, ShellSession, shell_word

# The plumbing shell is started by a bash that empties the environment, so nothing of the
# image's or the host's variables (GIT_DIR, LD_PRELOAD, PYTHONPATH...) reaches it.
PLUMBING_ARGV = [
    "bash", "--norc", "--noprofile", "-c", "exec -c bash --norc --noprofile --noediting -i"
]
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PLUMBING_ROOT = "/"
PLUMBING_TIMEOUT_S = 60.0


def plumbing_setup(path: str) -> str:
    """The environment of the plumbing shell, as shell code run when it starts."""
    exports = {
        "PATH": path,
        "LC_ALL": "C",
        "HOME": "/",
        "TERM": "dumb",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
    }
    words = " ".join(f"{name}={shell_word(value)}" for name, value in exports.items())
    return f"export {words}; umask 022"


class PlumbingShell:
    """Runs agentenv's own shell code; an output it cannot keep whole is an error.

    Plumbing commands may run twice (reads, writes, searches, a diff into a fresh folder), so
    a plumbing shell that died (an agent's `kill -9`, a restarted container) is replaced and
    the command run again, unseen by the caller.
    """

    def __init__(self, session: ShellSession) -> None:
        self.session = session

    def run(self, script: str, timeout: float = PLUMBING_TIMEOUT_S) -> PlumbingResult:
        command = script.encode("utf-8", errors="surrogateescape")
        raw = self.session.run_bytes(command, timeout, idempotent=True)
        if raw.output_bytes_dropped:
            raise PlumbingError(
                f"the output of a plumbing command is too large (more than {MAX_OUTPUT_BYTES} "
                f"bytes) to come back whole: {script[:200]!r}"
            )
        return PlumbingResult(output=raw.output, exit_code=raw.exit_code, timed_out=raw.timed_out)

    def close(self, kill: bool = True) -> None:
        self.session.close(kill)
