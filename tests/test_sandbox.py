"""The sandbox of a task container, on the real engine: network, capabilities, and what an
episode sees when it runs into a limit (processes, memory, disk) — and that it can go on."""

from __future__ import annotations

import socket
import threading
import warnings
from collections.abc import Iterator

import pydantic
import pytest

from agentenv.runtime.docker_runtime import DockerRuntime
from agentenv.runtime.network import SandboxNetworkWarning
from agentenv.runtime.sandbox import ContainerLimits

TEST_LABELS = {"agentenv.test": "1"}
HOME = "/root"


def start(image: str, **limits: object) -> DockerRuntime:
    return DockerRuntime(image, repo_dir=HOME, limits=ContainerLimits(**limits), labels=TEST_LABELS)


@pytest.fixture
def runtime(base_image: str) -> Iterator[DockerRuntime]:
    started = start(base_image)
    yield started
    started.close()


class HostService:
    """A TCP service on the host that answers `hello` to whoever connects."""

    def __init__(self, address: str) -> None:
        self._server = socket.create_server((address, 0))
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"hello\n")

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def host_services() -> Iterator[dict[str, HostService]]:
    services = {"loopback": HostService("127.0.0.1"), "all": HostService("0.0.0.0")}
    yield services
    for service in services.values():
        service.close()


def connects(runtime: DockerRuntime, address: str, port: int) -> bool:
    """Whether a process in the container reads the service's greeting within 3 s."""
    result = runtime.run(
        f"timeout 3 bash -c 'exec 3<>/dev/tcp/{address}/{port}; head -c 5 <&3'", timeout=20
    )
    return result.exit_code == 0 and result.output == "hello"


def gateway(runtime: DockerRuntime) -> str:
    # /proc/net/route: the default route's gateway, little-endian hex.
    route = runtime.run("awk '$2 == \"00000000\" {print $3}' /proc/net/route").output.strip()
    assert route, "the container has no default route"
    return socket.inet_ntoa(int(route, 16).to_bytes(4, "little"))


# -- network -----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:limits.network")
def test_network_on_is_a_network_of_its_own_not_the_hosts(
    base_image: str, host_services: dict[str, HostService]
) -> None:
    runtime = start(base_image, network=True)
    try:
        assert runtime.container.attrs["HostConfig"]["NetworkMode"] not in ("host", "none")
        # The host's loopback services are out of reach, by the host's address and by the
        # gateway's (a service bound to 127.0.0.1 listens on neither).
        assert not connects(runtime, "127.0.0.1", host_services["loopback"].port)
        assert not connects(runtime, gateway(runtime), host_services["loopback"].port)
        # What a bridge network does give (and the warning says): the host's services that
        # listen on all its addresses.
        assert connects(runtime, gateway(runtime), host_services["all"].port)
    finally:
        runtime.close()


def test_network_off_reaches_nothing(
    runtime: DockerRuntime, host_services: dict[str, HostService]
) -> None:
    assert runtime.container.attrs["HostConfig"]["NetworkMode"] == "none"
    assert not connects(runtime, "127.0.0.1", host_services["loopback"].port)
    assert runtime.run("awk 'NR > 1' /proc/net/route").output == "", "no route out of the container"


def test_network_warning_says_what_the_episode_can_reach_as_measured(base_image: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runtime = start(base_image, network=True)
    try:
        message = " ".join(
            str(w.message) for w in caught if issubclass(w.category, SandboxNetworkWarning)
        )
        assert message, "starting a container with a network says what it can reach"
        assert "127.0.0.1" in message and gateway(runtime) in message
        # The warning's claim about the internet is what the container really gets: try the
        # same address (the index pip uses by default, resolved on the host) from inside.
        index = socket.gethostbyname("pypi.org")
        reached = runtime.run(f"timeout 3 bash -c 'exec 3<>/dev/tcp/{index}/443'", timeout=20)
        if reached.exit_code == 0:
            assert "reaches the internet" in message
        else:
            assert "cannot reach the internet" in message
    finally:
        runtime.close()


# -- capabilities ------------------------------------------------------------------------


def test_the_container_keeps_only_the_capabilities_a_task_needs(runtime: DockerRuntime) -> None:
    status = runtime.run("grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status").output
    kept = 0b11111011  # CHOWN DAC_OVERRIDE . FOWNER FSETID KILL SETGID SETUID (bits 0-7, no 2)
    assert f"CapBnd:\t{kept:016x}" in status and f"CapEff:\t{kept:016x}" in status
    assert "NoNewPrivs:\t1" in status
    # What the kept ones are for: dropping to an unprivileged user and handing it files.
    drop = runtime.run(
        "touch /tmp/owned && chown nobody /tmp/owned && "
        "python3 -c 'import os; os.setgid(65534); os.setuid(65534); print(os.getuid())'"
    )
    assert drop.exit_code == 0 and drop.output == "65534\n"
    # And what is gone: device nodes, chroot.
    assert runtime.run("mknod /tmp/null c 1 3").exit_code != 0
    assert runtime.run("chroot / true").exit_code != 0


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("memory", "lots", "not a size"),
        ("disk", "10t", "not a size"),
        ("disk", "0", "not a positive size"),
        ("cpus", 0, "positive"),
        ("pids", 2, "at least 8"),
    ],
)
def test_bad_limits_are_refused_with_the_field_named(field: str, value: object, words: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=words) as raised:
        ContainerLimits(**{field: value})
    assert field in str(raised.value)


def test_a_task_container_is_never_given_the_hosts_network() -> None:
    with pytest.raises(ValueError, match="host"):
        ContainerLimits().run_kwargs(network_mode="host")
