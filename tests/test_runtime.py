"""The runtime protocol, on Docker and on the host: a persistent shell, files, limits."""

from __future__ import annotations

import os
import time

import docker
import pytest

from agentenv.runtime.base import FileTooLarge, Runtime, RuntimeUnavailable
from agentenv.runtime.docker_runtime import MANAGED_LABEL, DockerRuntime
from agentenv.runtime.sandbox import ContainerLimits
from agentenv.runtime.local_runtime import LocalRuntime, LocalRuntimeWarning


def test_both_runtimes_satisfy_the_protocol(any_runtime: Runtime) -> None:
    assert isinstance(any_runtime, Runtime)


def test_shell_state_persists_between_commands(any_runtime: Runtime) -> None:
    first = any_runtime.run("cd /tmp && export AGENTENV_X=42 && my_var=hello")
    assert first.exit_code == 0
    second = any_runtime.run('echo "$AGENTENV_X $my_var"; pwd')
    assert second.output == "42 hello\n/tmp\n"
    assert second.cwd == "/tmp" == any_runtime.cwd


def test_exit_code_and_stderr_are_reported(any_runtime: Runtime) -> None:
    result = any_runtime.run("echo out; echo err >&2; exit_with() { return $1; }; exit_with 7")
    assert result.exit_code == 7
    assert result.output == "out\nerr\n"


def test_output_is_byte_exact_for_unicode_and_control_characters(any_runtime: Runtime) -> None:
    result = any_runtime.run(r"printf 'caf\xc3\xa9 \xe2\x82\xac\x1e\x03 no newline'")
    assert result.output == "café €\x1e\x03 no newline"


def test_unbalanced_quotes_are_a_syntax_error_not_a_hang(any_runtime: Runtime) -> None:
    result = any_runtime.run("echo 'unterminated", timeout=10)
    assert result.exit_code == 2 and not result.timed_out
    assert "unexpected EOF" in result.output
    assert any_runtime.run("echo fine").output == "fine\n"


def test_commands_read_eof_on_stdin(any_runtime: Runtime) -> None:
    # A bare `cat` or REPL would otherwise wait for input forever.
    result = any_runtime.run("cat; python3 -c 'import sys; print(repr(sys.stdin.read()))'", timeout=20)
    assert result.exit_code == 0 and result.output == "''\n"


IGNORES_SIGINT = (
    "python3 -c 'import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(30)'"
)
CATCHES_SIGINT = (
    "python3 -c 'import time\ntry:\n    time.sleep(30)\n"
    "except KeyboardInterrupt:\n    print(\"bye\")'"
)


@pytest.mark.parametrize(
    "command",
    [
        "echo started; sleep 30; echo never",
        "echo started; while true; do :; done; echo never",  # a builtin loop: no child to kill
        f"echo started; {IGNORES_SIGINT}; echo never",  # a child that ignores Ctrl-C: killed
        f"echo started; {CATCHES_SIGINT}; echo never",  # exits normally when interrupted
        "echo started; x=$(sleep 30); echo never",  # a command substitution
    ],
)
def test_timeout_interrupts_keeps_partial_output_and_shell(any_runtime: Runtime, command: str) -> None:
    any_runtime.run("cd /tmp && kept=yes")
    result = any_runtime.run(command, timeout=1.5)
    assert result.timed_out and result.exit_code is None and not result.shell_restarted
    assert "started" in result.output
    after = any_runtime.run("echo $kept; pwd")
    assert after.output == "yes\n/tmp\n"
    assert not after.timed_out
    # The rest of the list never ran, not even late.
    assert "never" not in result.output + after.output
    assert "Killed" not in result.output


@pytest.mark.parametrize(
    "command",
    [
        "trap '' INT; echo started; sleep 30; echo never",  # the shell itself ignores Ctrl-C
        "trap '' INT; echo started; while :; do :; done; echo never",
    ],
)
def test_a_shell_that_ignores_interrupts_is_replaced_and_never_runs_the_rest(
    any_runtime: Runtime, command: str
) -> None:
    any_runtime.run("cd /tmp && kept=yes")
    result = any_runtime.run(command, timeout=1)
    assert result.timed_out and result.shell_restarted and "started" in result.output
    time.sleep(0.5)  # a list that survived would print by now
    after = any_runtime.run("echo \"[$kept]\"; pwd")
    assert after.output == f"[]\n{any_runtime.repo_dir}\n"
    assert "never" not in result.output + after.output


def test_dead_shell_is_restarted_in_the_repo(any_runtime: Runtime) -> None:
    any_runtime.run("cd /tmp")
    died = any_runtime.run("exit 3")
    assert died.shell_restarted and died.exit_code is None
    assert any_runtime.cwd == any_runtime.repo_dir
    assert any_runtime.run("pwd").output.strip() == any_runtime.repo_dir


def test_huge_output_keeps_head_and_tail(any_runtime: Runtime) -> None:
    result = any_runtime.run("echo HEAD; head -c 20000000 /dev/zero | tr '\\0' x; echo; echo TAIL", timeout=60)
    assert result.exit_code == 0
    assert result.output.startswith("HEAD\n") and result.output.endswith("TAIL\n")
    assert result.output_bytes_dropped > 10_000_000


def test_files_round_trip_bytes_exactly(any_runtime: Runtime) -> None:
    path = f"{any_runtime.repo_dir}/new/dir/data.bin"
    payloads = [
        b"",
        b"plain text\n\n",
        "quotes ' \" \\ %s $HOME `x` \t tabs, caf\u00e9\n".encode(),
        bytes(range(256)) * 3,  # NUL bytes and every control character
        b"x" * 300_000,  # larger than the in-shell write path
    ]
    for payload in payloads:
        any_runtime.write_file(path, payload)
        assert any_runtime.read_file(path) == payload


def test_large_files_are_read_whole_or_refused_with_their_size(any_runtime: Runtime) -> None:
    path = f"{any_runtime.repo_dir}/big.bin"
    data = bytes(range(256)) * 40_000  # 10 MB, NUL bytes included: more than the shell keeps
    any_runtime.write_file(path, data)
    assert any_runtime.read_file(path) == data
    with pytest.raises(FileTooLarge) as refused:
        any_runtime.read_file(path, max_bytes=1000)
    assert (refused.value.size, refused.value.limit) == (len(data), 1000)
    text = b"x" * 100_000  # text larger than the shell's first read
    any_runtime.write_file(path, text)
    assert any_runtime.read_file(path, max_bytes=100_000) == text
    with pytest.raises(FileTooLarge, match="100000 bytes"):
        any_runtime.read_file(path, max_bytes=99_999)


def test_a_plumbing_timeout_leaves_the_plumbing_shell_usable(any_runtime: Runtime) -> None:
    result = any_runtime.run_plumbing("echo started; sleep 30; echo never", timeout=1)
    assert result.timed_out and result.exit_code is None
    assert result.output.startswith(b"started") and b"never" not in result.output
    assert any_runtime.run_plumbing("echo ok").output == b"ok\n"


def test_write_keeps_an_existing_files_mode(any_runtime: Runtime) -> None:
    script = f"{any_runtime.repo_dir}/run.sh"
    any_runtime.write_file(script, b"#!/bin/sh\necho one\n")
    any_runtime.run(f"chmod 755 {script}")
    any_runtime.write_file(script, b"#!/bin/sh\necho two\n")
    assert any_runtime.run(script).output == "two\n"


def test_file_errors_are_the_usual_exceptions(any_runtime: Runtime) -> None:
    with pytest.raises(FileNotFoundError):
        any_runtime.read_file(f"{any_runtime.repo_dir}/does/not/exist")
    with pytest.raises(IsADirectoryError):
        any_runtime.read_file(any_runtime.repo_dir)
    with pytest.raises(ValueError, match="absolute"):
        any_runtime.read_file("relative/path")


def test_docker_container_is_sandboxed_and_labelled(docker_runtime: DockerRuntime) -> None:
    attrs = docker_runtime.container.attrs
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["Memory"] == 4 * 1024**3 and host["PidsLimit"] == 1024
    assert host["NanoCpus"] == 1_000_000_000
    assert attrs["Config"]["Labels"][MANAGED_LABEL] == "1"
    assert not attrs["Mounts"], "no host folder may be mounted into a task container"
    network = docker_runtime.run(
        "python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 53), timeout=3)'", timeout=30
    )
    assert network.exit_code != 0 and "unreachable" in network.output.lower()


def test_docker_limits_are_configurable(docker_runtime: DockerRuntime) -> None:
    limited = DockerRuntime(docker_runtime.image, limits=ContainerLimits(memory="256m", cpus=0.5, pids=64))
    try:
        host = limited.container.attrs["HostConfig"]
        assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (256 * 1024**2, 500_000_000, 64)
        forks = limited.run("for i in $(seq 200); do sleep 5 & done; wait", timeout=20)
        assert "Resource temporarily unavailable" in forks.output or "retry" in forks.output
    finally:
        limited.close()


def test_docker_container_is_removed_on_close(docker_runtime: DockerRuntime) -> None:
    container_id = docker_runtime.container.id
    docker_runtime.close()
    docker_runtime.close()  # twice is fine
    with pytest.raises(docker.errors.NotFound):
        docker.from_env().containers.get(container_id)


def test_missing_image_is_reported_not_pulled(base_image: str) -> None:
    with pytest.raises(RuntimeUnavailable, match="not on this engine"):
        DockerRuntime("agentenv/no-such-image:never")


def test_local_runtime_works_on_a_scratch_copy_and_says_it_is_unsafe(tmp_path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("original\n")
    with pytest.warns(LocalRuntimeWarning, match="trusted tasks"):
        runtime = LocalRuntime(source, scratch_root=tmp_path)
    try:
        runtime.write_file(f"{runtime.repo_dir}/a.txt", b"changed\n")
        assert (source / "a.txt").read_text() == "original\n"
        assert runtime.run("cat a.txt").output == "changed\n"
    finally:
        runtime.close()


def test_an_engine_that_does_not_answer_is_reported_after_retries(tmp_path) -> None:
    # A real client speaking to a socket nobody listens on: connection errors are transient,
    # so they are retried, and then reported as the runtime being unavailable.
    silent = docker.DockerClient(base_url=f"unix://{tmp_path}/no-engine.sock", version="1.41")
    with pytest.raises(RuntimeUnavailable, match="starting a container: .*"):
        DockerRuntime("any/image:tag", client=silent)


def test_transient_and_lasting_engine_errors_are_told_apart() -> None:
    import requests

    from agentenv.runtime.engine import is_transient

    def api_error(status: int, text: str) -> docker.errors.APIError:
        response = requests.Response()
        response.status_code = status
        return docker.errors.APIError(text, response=response, explanation=text)

    assert is_transient(api_error(409, "removal of container abc is already in progress"))
    assert is_transient(api_error(500, "device or resource busy"))
    assert is_transient(requests.exceptions.ConnectionError("reset"))
    assert not is_transient(api_error(500, "cannot mount volume over existing file"))
    assert not is_transient(api_error(400, "invalid reference format"))
    assert not is_transient(docker.errors.ImageNotFound("no such image"))


def test_a_command_in_a_killed_container_fails_at_once_not_after_retries(docker_runtime) -> None:
    # The engine answers 409 "container ... is not running": no retry can change that.
    from agentenv.runtime.base import RuntimeUnavailable
    from agentenv.runtime.engine import docker_client, is_transient

    docker_client().api.kill(docker_runtime.container.id)
    try:
        docker_client().api.exec_create(docker_runtime.container.id, ["true"])
    except docker.errors.APIError as conflict:
        assert conflict.status_code == 409 and not is_transient(conflict)
    else:
        raise AssertionError("an exec in a killed container was accepted")
    with pytest.raises(RuntimeUnavailable):
        docker_runtime.run("true")


def test_an_image_with_an_entrypoint_of_its_own_still_gives_a_runtime(base_image) -> None:
    # Many registry images set ENTRYPOINT; the keep-alive loop must not become its argument.
    client = docker.from_env()
    holder = client.containers.create(base_image, ["true"])
    tag = f"agentenv/test-entrypoint:{os.getpid()}"
    try:
        holder.commit(repository=tag.split(":")[0], tag=tag.split(":")[1], changes=['ENTRYPOINT ["/bin/false"]'])
        with DockerRuntime(tag, repo_dir="/") as runtime:
            assert runtime.run("echo alive").output.strip() == "alive"
    finally:
        holder.remove(force=True)
        client.images.remove(tag, force=True)
