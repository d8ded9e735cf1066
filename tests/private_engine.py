"""A Docker engine of a test's own, to restart under a run without disturbing anyone.

The shared engine serves every engineer and test on this machine: it is never stopped. This
one has its own data root, exec root (with its own containerd), pid file and unix socket in a
temporary folder, no bridge and no iptables rules, and the shared engine's storage driver.
Images are copied into it with `docker save | docker load` (no registry here). `stop` leaves
nothing: its containers, its daemons (dockerd, containerd, shims: found by the folder in their
command line, so only this engine's) and its folders are removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line names `text` (this engine's folder: only its daemons)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def _mounts_under(root: Path) -> list[str]:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == str(root) or point.startswith(f"{root}/"):
            mounts.append(point)
    return mounts


class PrivateEngine:
    def __init__(self, storage_driver: str) -> None:
        # Under /tmp with a short name: a unix socket's path is limited to 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="agentenv-dockerd-", dir="/tmp"))
        self.storage_driver = storage_driver
        self.socket = self.root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, timeout=60)

    def start(self, timeout: float = 60.0) -> None:
        argv = [
            "dockerd",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host={self.host}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            f"--storage-driver={self.storage_driver}",
        ]
        with open(self.root / "dockerd.log", "ab") as log:
            self._process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"the private dockerd exited: {(self.root / 'dockerd.log').read_text()[-2000:]}")
            try:
                self.client().ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError("the private dockerd did not answer in time") from None
                time.sleep(0.2)

    def stop_daemon(self, timeout: float = 30.0) -> None:
        """Stop dockerd the way a service manager does (SIGTERM: it stops its containers)."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop_daemon()
        self.start()

    def load(self, images: list[str]) -> None:
        """Copy images from the shared engine into this one."""
        shared = {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"}
        save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE, env=shared)
        loaded = subprocess.run(
            ["docker", "load"], stdin=save.stdout, capture_output=True, env={**os.environ, **self.env}, check=False
        )
        assert save.stdout is not None
        save.stdout.close()
        if save.wait() != 0 or loaded.returncode != 0:
            raise RuntimeError(f"could not copy {images} into the private engine: {loaded.stderr.decode()}")

    def stop(self) -> None:
        """Remove everything: containers, daemons, mounts, folders."""
        if self._process is not None:
            try:
                client = self.client()
                for container in client.api.containers(all=True):
                    client.api.remove_container(container["Id"], force=True)
            except Exception:
                pass
            self.stop_daemon()
        for pid in _pids_mentioning(str(self.root)):  # containerd and shims, if dockerd left any
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for point in sorted(_mounts_under(self.root), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
