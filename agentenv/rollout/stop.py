"""Stopping a run: SIGINT/SIGTERM (or a caller) asks, the run's backend ends what is in flight.

The first signal only sets a flag: a signal handler runs between two bytecodes of the main
thread, wherever it is, so it must not take locks or do I/O. The backend's loop, which polls,
does the stopping: it ends the episodes in flight with an `interrupted` footer, removes their
containers and writes the run's files. A second signal exits at once (`os._exit`): whatever
containers are left carry this process's id, and `agentenv gc` removes them once it is gone.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunStop:
    """A request to stop a run; read by polling, set by `request` (safe in a signal handler)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.signum: int | None = None

    def request(self, reason: str, signum: int | None = None) -> None:
        # Plain attribute writes: atomic under the GIL, and safe inside a signal handler.
        if self.reason is None:
            self.signum = signum
            self.reason = reason

    @property
    def requested(self) -> bool:
        return self.reason is not None

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum if self.signum is not None else 1


@contextmanager
def stop_on_signals(stop: RunStop) -> Iterator[RunStop]:
    """While inside: the first SIGINT/SIGTERM requests `stop`, a second one exits at once.

    Outside the main thread (where Python cannot install handlers) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.requested:
            os.write(2, f"\n{name} again: exiting now; `agentenv gc` removes containers left behind\n".encode())
            os._exit(128 + signum)
        os.write(2, f"\n{name}: stopping the run (send it again to exit at once)\n".encode())
        stop.request(f"the run was interrupted ({name})", signum)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
