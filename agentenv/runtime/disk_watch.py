"""The disk limit of a task container: how much its writable layer may hold.

overlay2 on ext4 (these machines) cannot bound a container's layer: Docker's
`--storage-opt size=` needs xfs with project quotas ("supported only for overlay over xfs with
'pquota' mount option"). So the limit is kept in two ways:
- no single file may outgrow the limit: the `fsize` ulimit (`sandbox.run_kwargs`), enforced by
  the kernel at once (the writer gets SIGXFSZ, or EFBIG if it ignores it);
- the total is watched: one thread per process asks the engine for the size of its
  containers' writable layers (`SizeRw`, which the engine computes by walking them) and stops
  what writes in a container past its limit. The walk costs ~15 us per file in a layer here
  (3,000 files: 44 ms; 16 fresh containers: 11 ms); the thread waits 20 times as long as the
  last measurement took (between `MIN_INTERVAL_S` and `MAX_INTERVAL_S`), so it takes ~5% of a
  core at most unless the layers hold so many files that one measurement takes over 0.5 s. A
  container can overshoot its limit by what it writes in one interval.

Stopping is done from inside the container with signals, as a terminal would: first Ctrl-C
for what each shell runs in the foreground and SIGKILL for every other process the agent
started (the shell keeps its cwd and variables); if the layer still grows, SIGKILL for the
shells too (the runtime starts a new one). PID 1, the container's keep-alive (session 1) and
the killer itself are never touched.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 1.0
# However long the engine takes, a container is looked at within this many seconds.
MAX_INTERVAL_S = 10.0
_DUTY = 20  # wait this many times the last measurement's duration

# $1: 1 = Ctrl-C the shells' foreground jobs and SIGKILL the rest; 2 = SIGKILL the shells too.
# /proc/PID/stat after the last ") ": state ppid pgrp session tty_nr tpgid. Processes whose
# parent is outside the container (ppid 0) are exec'd roots: the shells and our helpers.
_STOP_SCRIPT = r"""
stage=$1; me=$$; foreground=" "
for stat in /proc/[0-9]*/stat; do
  read -r line < "$stat" 2>/dev/null || continue
  pid=${line%% *}; set -- ${line##*) }
  if [ "$2" = 0 ] && [ "$pid" != 1 ] && [ "$pid" != "$me" ] && [ "${6:-0}" -gt 0 ]; then
    foreground="$foreground$6 "
  fi
done
if [ "$stage" = 1 ]; then for group in $foreground; do kill -INT -"$group" 2>/dev/null; done; fi
for stat in /proc/[0-9]*/stat; do
  read -r line < "$stat" 2>/dev/null || continue
  pid=${line%% *}; set -- ${line##*) }
  [ "$pid" = 1 ] || [ "$pid" = "$me" ] || [ "$4" = 1 ] && continue
  if [ "$stage" = 1 ]; then
    [ "$2" = 0 ] && continue
    case "$foreground" in *" $3 "*) continue;; esac
  fi
  kill -9 "$pid" 2>/dev/null
done
exit 0
"""


def megabytes(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


@dataclass
class DiskWatch:
    """One container's disk limit: what the watchdog measured and did, for the next result."""

    container: Container
    limit_bytes: int
    limit_text: str
    used: int | None = None
    _stage: int = 0  # how far stopping went since the layer went over the limit
    # The size measured first after the last stop (what the stopped writers left): growth
    # beyond it means something still writes. None until that measurement.
    _settled_at: int | None = None
    _pending: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def _margin(self) -> int:
        # Growth that counts as "still writing": not a few .pyc files.
        return max(self.limit_bytes // 100, 8 * 1024 * 1024)

    def measured(self, used: int) -> None:
        """A new size of the writable layer: stop writers past the limit."""
        with self._lock:
            self.used = used
            if used <= self.limit_bytes:
                self._stage, self._settled_at = 0, None
                return
            if self._stage:
                if self._settled_at is None:
                    self._settled_at = used
                    return
                if used < self._settled_at + self._margin:
                    return
            self._stage = min(self._stage + 1, 2)
            self._settled_at = None
            stage = self._stage
            what = (
                "the command was interrupted and the processes it left running were stopped"
                if stage == 1
                else "every process in the container, the shell included, was stopped"
            )
            # Before stopping: the command may end (and its result be made) as soon as it is.
            self._pending.append(
                f"The container's disk limit ({self.limit_text}) was reached: its files came to "
                f"{megabytes(used)} beyond the image's, so {what}. Delete files to go on."
            )
        self._stop(stage)

    def _stop(self, stage: int) -> None:
        try:
            self.container.exec_run(["sh", "-c", _STOP_SCRIPT, "sh", str(stage)])
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            log.warning("could not stop the writers in %s", self.container.short_id, exc_info=True)

    def notices(self, output: str, exit_code: int | None, client: docker.DockerClient) -> list[str]:
        """Sentences for the result of the command that just ended (caller's thread)."""
        with self._lock:
            notices, self._pending = self._pending, []
            over = self.used is not None and self.used > self.limit_bytes
        # bash's words for a job killed by SIGXFSZ; strerror(EFBIG) for a writer that ignores it.
        killed = exit_code == 128 + 25 and "File size limit exceeded" in output
        refused = exit_code not in (0, None) and "File too large" in output
        if killed or refused:
            notices.append(
                f"A write was stopped: a file reached the disk limit ({self.limit_text}), which "
                "is also the largest a file may be."
            )
        if over and not notices:
            # The agent may have deleted files since the watchdog looked: look again.
            used = layer_sizes(client, [self.container.id]).get(self.container.id)
            if used is not None:
                self.measured(used)
                with self._lock:
                    notices, self._pending = self._pending, []
                if used > self.limit_bytes and not notices:
                    notices.append(
                        f"The container is over its disk limit ({self.limit_text}): its files "
                        f"come to {megabytes(used)} beyond the image's. Delete files: what "
                        "writes more is stopped."
                    )
        return notices


def layer_sizes(client: docker.DockerClient, container_ids: list[str]) -> dict[str, int]:
    """The size of each container's writable layer, as the engine computes it."""
    rows = client.api.containers(all=True, size=True, filters={"id": container_ids})
    return {row["Id"]: int(row.get("SizeRw") or 0) for row in rows}


class _Watchdog:
    """The process's one thread that measures every watched container's layer in turn."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: dict[str, tuple[docker.DockerClient, DiskWatch]] = {}
        self._thread: threading.Thread | None = None

    def add(self, client: docker.DockerClient, watch: DiskWatch) -> None:
        with self._lock:
            self._watches[watch.container.id] = (client, watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="agentenv-disk-watch", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        interval = MIN_INTERVAL_S
        while True:
            time.sleep(interval)
            with self._lock:
                if not self._watches:
                    self._thread = None
                    return
                by_client: dict[int, tuple[docker.DockerClient, list[DiskWatch]]] = {}
                for client, watch in self._watches.values():
                    by_client.setdefault(id(client), (client, []))[1].append(watch)
            spent = sum(self._measure(client, watches) for client, watches in by_client.values())
            interval = min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, _DUTY * spent))

    def _measure(self, client: docker.DockerClient, watches: list[DiskWatch]) -> float:
        """Measure `watches` and act on what is found; returns the time the engine took."""
        started = time.monotonic()
        try:
            sizes = layer_sizes(client, [w.container.id for w in watches])
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            log.debug("could not measure the containers' layers", exc_info=True)
            return time.monotonic() - started
        spent = time.monotonic() - started
        for watch in watches:
            used = sizes.get(watch.container.id)
            if used is None:  # the container is gone: so is its limit
                with self._lock:
                    self._watches.pop(watch.container.id, None)
                continue
            watch.measured(used)
        return spent


_watchdog = _Watchdog()


def watch_disk(
    client: docker.DockerClient,
    container: Container,
    limit_text: str | None,
    limit_bytes: int | None,
) -> DiskWatch | None:
    """Start watching `container`'s writable layer; None when it has no disk limit."""
    if limit_text is None or limit_bytes is None:
        return None
    watch = DiskWatch(container=container, limit_bytes=limit_bytes, limit_text=limit_text)
    _watchdog.add(client, watch)
    return watch
