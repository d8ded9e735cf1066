"""The sandbox of a task container, on the real engine: network, capabilities, and what an
episode sees when it runs into a limit (processes, memory, disk) — and that it can go on."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Iterator

import pydantic
import pytest

from agentenv.env.provision import Provisioned
from agentenv.env.swe_env import SWEEnv
from agentenv.runtime.cgroup_counters import HostFiles, InsideContainer
from agentenv.runtime.docker_runtime import DockerRuntime
from agentenv.runtime.network import SandboxNetworkWarning
from agentenv.runtime.sandbox import ContainerLimits
from agentenv.tasks.model import Task

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


# -- limits: processes ---------------------------------------------------------------------


def test_a_fork_bomb_is_reported_and_the_shell_works_again(base_image: str) -> None:
    runtime = start(base_image, pids=256)
    try:
        runtime.run("mkdir -p /root/work && cd /root/work")
        bomb = runtime.run(":(){ :|:& };:")
        assert bomb.exit_code == 0  # the bomb goes to the background at once
        time.sleep(2)  # the agent thinks; the bomb reaches the limit
        # The next command (a builtin: it needs no fork) is where the runtime finds out, stops
        # the bomb, and says so.
        after = runtime.run("echo after", timeout=30)
        assert any("process limit (256) was reached" in notice for notice in after.notices), (
            after.notices
        )
        again = runtime.run("ls / >/dev/null && pwd", timeout=10)
        assert again.exit_code == 0 and again.output == "/root/work\n", again
        assert again.duration_s < 2
        assert not again.notices
    finally:
        runtime.close()


def test_hitting_the_process_limit_without_a_bomb_is_reported(base_image: str) -> None:
    runtime = start(base_image, pids=32)
    try:
        burst = runtime.run("for i in $(seq 40); do sleep 2 & done; wait", timeout=30)
        assert any("process limit (32) was reached" in notice for notice in burst.notices), (
            burst.notices
        )
        assert runtime.run("echo fine").output == "fine\n"
    finally:
        runtime.close()


# -- limits: memory ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "hog",
    [
        "python3 -c \"x = ' ' * 10**10\"",
        "python3 -c \"x = []\nwhile True: x.append(' ' * 10**6)\"",
    ],
    ids=["one-allocation", "growing-list"],
)
def test_a_memory_hog_is_killed_reported_and_the_shell_survives(base_image: str, hog: str) -> None:
    runtime = start(base_image, memory="256m")
    try:
        runtime.run("cd /tmp && kept=yes")
        killed = runtime.run(hog, timeout=60)
        assert killed.exit_code == 137
        assert (
            "The command was killed: the container's memory limit (256m) was reached."
            in killed.notices
        )
        after = runtime.run("echo $kept; pwd")
        assert after.output == "yes\n/tmp\n" and not after.notices
    finally:
        runtime.close()


def test_the_shell_itself_killed_by_the_memory_limit_is_reported(base_image: str) -> None:
    runtime = start(base_image, memory="128m")
    try:
        died = runtime.run("s=x; while :; do s=$s$s; done", timeout=60)
        assert died.shell_restarted
        assert any("memory limit (128m) was reached" in notice for notice in died.notices), (
            died.notices
        )
        assert runtime.run("echo fine").output == "fine\n"
    finally:
        runtime.close()


def test_counters_read_inside_the_container_agree_with_the_hosts_files(base_image: str) -> None:
    # Inside the container is how counters are read when the engine runs on another host.
    runtime = start(base_image, memory="128m", pids=16)
    try:
        runtime.run("python3 -c \"x = ' ' * 10**9\"", timeout=60)
        runtime.run("for i in $(seq 20); do sleep 1 & done; wait", timeout=30)
        runtime.container.reload()
        on_host = HostFiles.locate(runtime.container)
        assert on_host is not None, "the engine runs on this host: its cgroup files are readable"
        host, inside = on_host.read(), InsideContainer(runtime.container).read()
        assert host.oom_kills == inside.oom_kills == 1
        assert host.forks_refused is not None and host.forks_refused >= 1
        assert inside.forks_refused == host.forks_refused
        assert on_host.processes() is not None and InsideContainer(runtime.container).processes()
        on_host.close()
    finally:
        runtime.close()


def test_a_limit_event_is_recorded_in_the_step_and_the_episode_goes_on(
    docker_provisioned: dict[str, Provisioned], demo_task: Task
) -> None:
    env = SWEEnv(
        [demo_task],
        runtime="docker",
        limits={"memory": "256m"},
        grade_on_submit=False,
        spare_runtime=False,
    )
    try:
        env.reset(options={"task_id": demo_task.instance_id})
        _, _, terminated, truncated, info = env.step("bash python3 -c \"x = ' ' * 10**10\"")
        assert not (terminated or truncated)
        assert info["exit_code"] == 137
        assert info["execution"]["notices"] == [
            "The command was killed: the container's memory limit (256m) was reached."
        ]
        _, _, _, _, info = env.step("bash echo fine")
        assert info["exit_code"] == 0 and info["execution"]["notices"] == []
    finally:
        env.close()


# -- limits: disk ------------------------------------------------------------------------


def test_a_file_larger_than_the_disk_limit_is_stopped(base_image: str) -> None:
    runtime = start(base_image, disk="64m")
    try:
        big = runtime.run("head -c 100m /dev/zero > /root/big", timeout=60)
        assert big.exit_code == 153  # SIGXFSZ
        assert any("disk limit (64m)" in notice for notice in big.notices), big.notices
        assert runtime.run("stat -c %s /root/big").output == f"{64 * 1024 * 1024}\n"
        assert runtime.run("rm /root/big && echo fine").output == "fine\n"
    finally:
        runtime.close()


def test_many_files_past_the_disk_limit_are_stopped_and_the_episode_can_go_on(
    base_image: str,
) -> None:
    runtime = start(base_image, disk="64m")
    try:
        runtime.run("mkdir /root/fill && cd /root/fill")
        # 40 files of 8 MB, slowly enough for the watchdog to see the layer grow.
        fill = runtime.run(
            "for i in $(seq 40); do head -c 8m /dev/zero > f$i; sleep 0.2; done; echo all-written",
            timeout=60,
        )
        assert "all-written" not in fill.output and fill.exit_code != 0, fill
        assert any("disk limit (64m) was reached" in notice for notice in fill.notices), (
            fill.notices
        )
        written = int(runtime.run("du -sm /root/fill | cut -f1").output)
        assert written < 40 * 8
        # The shell is the same one (cwd kept); deleting files brings the episode back under.
        cleaned = runtime.run("pwd && rm -f f* && echo cleaned", timeout=30)
        assert cleaned.output == "/root/fill\ncleaned\n"
        assert (
            runtime.run("head -c 8m /dev/zero > one && echo wrote", timeout=30).output == "wrote\n"
        )
    finally:
        runtime.close()


def test_a_writer_that_ignores_ctrl_c_is_stopped_with_its_shell(base_image: str) -> None:
    runtime = start(base_image, disk="64m")
    try:
        runtime.run("mkdir /root/fill && cd /root/fill")
        # The shell and its children ignore SIGINT: only killing the shell stops the loop.
        fill = runtime.run(
            "trap '' INT; i=0; while :; do head -c 8m /dev/zero > f$i; i=$((i+1)); sleep 0.2; done",
            timeout=60,
        )
        assert fill.shell_restarted and not fill.timed_out, fill
        assert any("the shell included, was stopped" in notice for notice in fill.notices), (
            fill.notices
        )
        assert int(runtime.run("du -sm /root/fill | cut -f1").output) < 300
        assert runtime.run("rm -rf /root/fill && echo cleaned", timeout=30).output == "cleaned\n"
        assert not runtime.run("true").notices
    finally:
        runtime.close()


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
