"""Starting and stopping runtimes off the critical path of `reset`.

A container takes ~0.3 s to start and ~0.1 s to remove here. Removal never needs to delay
the next episode, so it happens in the background. With `spare=True`, one fresh runtime per
task is started in the background after each reset, so the next reset of that task only
takes it: the container it hands out has never been used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from agentenv.runtime.base import Runtime

log = logging.getLogger(__name__)


def _close_quietly(runtime: Runtime) -> None:
    try:
        runtime.close()
    except Exception:  # a failed cleanup is gc's job, never the episode's problem
        log.warning("could not close a runtime", exc_info=True)


class RuntimePool:
    def __init__(self, *, spare: bool) -> None:
        self.spare = spare
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="runtime-pool")
        self._spares: dict[str, Future[Runtime]] = {}
        self._pending: list[Future[None]] = []

    def take(self, key: str, start: Callable[[], Runtime]) -> Runtime:
        """A fresh runtime for `key`: the spare if one was started, else a new one."""
        runtime: Runtime | None = None
        spare = self._spares.pop(key, None)
        if spare is not None:
            try:
                runtime = spare.result()
            except Exception:
                log.warning("the spare runtime failed to start; starting another", exc_info=True)
        if runtime is None:
            runtime = start()
        if self.spare:
            self._spares[key] = self._executor.submit(start)
        return runtime

    def wait_for_spares(self) -> None:
        for spare in list(self._spares.values()):
            spare.exception()  # waits; a failed spare is dealt with by take()

    def release(self, runtime: Runtime) -> None:
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._executor.submit(_close_quietly, runtime))

    def close(self) -> None:
        """Stop the spares and wait for every runtime to be gone."""
        for spare in self._spares.values():
            spare.add_done_callback(lambda f: f.exception() is None and _close_quietly(f.result()))
        self._spares.clear()
        self._executor.shutdown(wait=True)
