"""Faults, for real: Ctrl-C and SIGTERM during a run, a container killed from outside, the
Docker engine restarted under a run, the runner SIGKILLed, a Ray actor killed. Each ends with a
recorded status, loses nothing that was flushed, and resumes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from agentenv.rollout.config import load_config
from agentenv.rollout.ledger import LEDGER_FILE, read_ledger
from agentenv.rollout.runner import run
from agentenv.runtime.gc import leftovers, process_alive, remove
from agentenv.runtime.images import BASE_IMAGE
from agentenv.trajectory.recorder import read_trajectory

from .conftest import REPO_ROOT
from .llm_stub import Reply, StubLLMServer
from .private_engine import PrivateEngine
from .stub_runs import CALL_COST, KEY_ENV, SUBMIT, bash, kill_group, llm_config, run_cli, run_containers, start_cli, steps_of, task_of, unique_run_id, wait_for

SPAN, KV, SEMVER, MEMO = (
    "spanlib-merge-nested-interval",
    "kvconf-quoted-inline-comment",
    "semverlib-prerelease-numeric-order",
    "memokit-ttl-read-extends-expiry",
)


def _records(path: Path) -> list[str]:
    """The kinds of the complete records of a trajectory another process is writing."""
    if not path.exists():
        return []
    return [json.loads(line)["record"] for line in path.read_text().split("\n")[:-1] if line]


def _solve(task_id: str, steps: int, patches: dict[str, str]) -> Reply:
    """A well-behaved model: apply the reference fix, then submit."""
    if steps == 0:
        return Reply(tool_calls=[bash(f"git apply <<'EOF'\n{patches[task_id]}EOF")])
    return Reply(tool_calls=[SUBMIT])


def test_ctrl_c_stops_the_run_within_seconds_and_every_interrupted_episode_resumes(
    docker_provisioned, demo_tasks, tmp_path: Path
) -> None:
    """Three episodes in flight when Ctrl-C comes: one waiting on the model, one being graded
    (its patch makes the tests hang), one running a long command."""
    sig = signal.SIGINT
    patches = {t.instance_id: t.patch for t in demo_tasks}
    run_id = unique_run_id("ctrl-c")
    run_dir = tmp_path / run_id
    seen: dict[str, int] = {}

    def stuck(request: dict) -> Reply:
        task_id, steps = task_of(request, demo_tasks), steps_of(request)
        seen[task_id] = steps
        if task_id == SPAN:
            return Reply(tool_calls=[SUBMIT], delay_s=120)  # the model call in flight
        if task_id == KV:
            if steps == 0:  # the tests import the package, which now sleeps: grading hangs
                return Reply(tool_calls=[bash("echo 'import time; time.sleep(600)' >> kvconf/__init__.py")])
            return Reply(tool_calls=[SUBMIT])
        return Reply(tool_calls=[bash("sleep 300")])  # a command in flight

    with StubLLMServer(stuck) as server:
        settings = {"aci": {"command_timeout": 600}, "agent": {"timeout_s": 300}}
        settings["instance_ids"] = [KV, SEMVER, SPAN]
        config = llm_config(tmp_path, server.base_url, run_id, workers=3, **settings)
        output = tmp_path / "run.log"
        process = start_cli("-v", "run", str(config), output=output)
        try:
            def all_stuck() -> bool:
                graders = [c for c in run_containers(run_id) if c["Labels"].get("agentenv.instance_id") == KV]
                return SPAN in seen and seen.get(KV) == 1 and len(graders) == 2 and SEMVER in seen

            wait_for(all_stuck, 120, "three episodes in flight", process)
            time.sleep(1.0)  # the long command is running, the tests are importing
            os.killpg(process.pid, sig)  # as a terminal does: the whole process group
            signalled = time.monotonic()
            process.wait(timeout=60)
            took = time.monotonic() - signalled
        finally:
            kill_group(process, run_id)
        stderr = output.read_text()
        assert took < 15, f"the run took {took:.1f}s to stop after {sig.name}"  # ~3 s: bench_stop.py
        assert process.returncode == 128 + sig, stderr
        assert "3 episodes interrupted" in stderr
        assert run_containers(run_id) == [], "the run left containers behind"

        for task_id, steps, cost in ((SPAN, 0, 0.0), (KV, 1, 0.024), (SEMVER, 0, 0.012)):
            trajectory = read_trajectory(run_dir / f"{task_id}.jsonl")
            assert trajectory.footer is not None, f"{task_id} has no footer"
            assert trajectory.footer.exit_status == "interrupted", task_id
            assert trajectory.footer.steps == len(trajectory.steps) == steps, task_id
            assert trajectory.footer.cost == pytest.approx(cost), task_id
        report = json.loads((run_dir / "report.json").read_text())
        assert report["total_instances"] == 3 and report["incomplete_ids"] == sorted([KV, SEMVER, SPAN])
        assert report["total_spent"] == pytest.approx(0.036)
        assert (run_dir / "predictions.jsonl").read_text() == "", "an interrupted episode predicts nothing"

        # Resume with the same config: the interrupted episodes run again, and only they.
        server.set_script(lambda r: _solve(task_of(r, demo_tasks), steps_of(r), patches))
        resumed = run_cli("run", str(llm_config(tmp_path, server.base_url, run_id, workers=3, **settings)))
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads((run_dir / "report.json").read_text())
    assert report["resolved_instances"] == 3
    # Every attempt's spending counts: the interrupted ones' $0.036, and three solved episodes'.
    assert report["total_spent"] == pytest.approx(0.036 + 3 * 0.024)
    assert report["total_cost"] == pytest.approx(3 * 0.024)
    # What the interrupted attempts recorded is kept aside, not overwritten.
    kept = sorted(p.name for p in (run_dir / "logs" / "superseded").iterdir())
    assert kept == sorted(f"{task_id}.1.jsonl" for task_id in (KV, SEMVER, SPAN))
    assert read_trajectory(run_dir / "logs" / "superseded" / f"{KV}.1.jsonl").footer.exit_status == "interrupted"


def test_gc_lists_leftovers_while_containers_are_being_removed(base_image) -> None:
    """`agentenv gc` runs while runs remove their own containers: a container that goes away
    between the listing and its details is simply not a leftover any more."""
    client = docker.from_env()
    labels = {"agentenv.managed": "1", "agentenv.host_pid": "999999999", "agentenv.host": socket.gethostname(),
              "agentenv.test": "1", "agentenv.run_id": unique_run_id("gc-race")}
    created = [client.containers.create(base_image, ["true"], labels=labels, network_mode="none") for _ in range(30)]
    errors: list[BaseException] = []

    def list_repeatedly() -> None:
        try:
            while created:
                leftovers()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    lister = threading.Thread(target=list_repeatedly)
    lister.start()
    try:
        while created:
            created.pop().remove(force=True)
    finally:
        for container in created:
            container.remove(force=True)
        created.clear()
        lister.join()
    assert not errors, f"gc failed while containers went away: {errors[0]!r}"


def _in_process_run(config_path: Path, **overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(load_config(config_path, **overrides))


def test_resume_reruns_model_and_auth_failures_but_not_the_agents_own_outcomes(
    docker_provisioned, demo_tasks, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test")
    patches = {t.instance_id: t.patch for t in demo_tasks}

    def failing(request: dict) -> Reply:
        task_id = task_of(request, demo_tasks)
        if task_id == KV:
            return Reply(status=401, error_message="invalid api key")  # auth_error
        if task_id == SEMVER:
            return Reply(status=503, error_message="overloaded")  # model_error: no retries left
        return Reply(content="I would rather chat.")  # format_error: the agent's own doing

    with StubLLMServer(failing) as server:
        config = llm_config(tmp_path, server.base_url, "statuses", instance_ids=[KV, SEMVER, SPAN], workers=2,
                            agent={"max_format_retries": 1})
        first = {e.instance_id: e.exit_status for e in _in_process_run(config).episodes}
        assert first == {KV: "auth_error", SEMVER: "model_error", SPAN: "format_error"}
        kept = (tmp_path / "statuses" / f"{SPAN}.jsonl").read_text()

        server.set_script(lambda r: _solve(task_of(r, demo_tasks), steps_of(r), patches))
        second = {e.instance_id: e for e in _in_process_run(config).episodes}
    assert second[KV].resolved and second[SEMVER].resolved, "model and auth failures are run again"
    assert second[SPAN].exit_status == "format_error"
    assert (tmp_path / "statuses" / f"{SPAN}.jsonl").read_text() == kept, "the agent's own outcome stands"


def test_a_footer_counts_every_model_call_of_its_episode(docker_provisioned, tmp_path: Path, monkeypatch) -> None:
    """Re-asks for a malformed reply cost money too, also when the episode ends on them."""
    monkeypatch.setenv(KEY_ENV, "sk-test")
    with StubLLMServer(lambda request: Reply(content="no command here")) as server:
        config = llm_config(tmp_path, server.base_url, "reasks", instance_ids=[SPAN], agent={"max_format_retries": 2})
        summary = _in_process_run(config)
        calls = len(server.requests)
    assert calls == 3
    footer = read_trajectory(tmp_path / "reasks" / f"{SPAN}.jsonl").footer
    assert footer.exit_status == "format_error"
    assert footer.cost == pytest.approx(calls * CALL_COST)
    assert summary.report["total_cost"] == pytest.approx(calls * CALL_COST)


def test_the_run_cost_limit_counts_what_re_run_attempts_spent(docker_provisioned, demo_tasks, tmp_path: Path, monkeypatch) -> None:
    """An episode spends $0.036, then its container dies (env_error, run again on resume). The
    resumed run must count that money: the run's limit holds over both runs."""
    monkeypatch.setenv(KEY_ENV, "sk-test")
    limit, pulled = 0.05, []

    def spend_then_lose_the_container(request: dict) -> Reply:
        if steps_of(request) == 3 and not pulled:
            client = docker.from_env()
            for container in run_containers("budget", client):
                client.api.remove_container(container["Id"], force=True)
                pulled.append(container["Id"])
        return Reply(tool_calls=[bash("true")])  # never submits: spends until a limit stops it

    with StubLLMServer(spend_then_lose_the_container) as server:
        config = llm_config(tmp_path, server.base_url, "budget", instance_ids=[SPAN], episode_retries=0,
                            cost_limit=limit, max_steps=50)
        first = _in_process_run(config)
        assert pulled and first.episodes[0].exit_status == "env_error"
        assert len(server.requests) == 4
        second = _in_process_run(config)
        calls = len(server.requests)
    assert second.episodes[0].exit_status == "run_cost_limit"
    # A call may overshoot the limit by its own cost, never more: 5 calls, not 4 + 5.
    assert calls * CALL_COST <= limit + CALL_COST
    assert second.report["total_spent"] == pytest.approx(calls * CALL_COST)


def test_a_resume_with_a_changed_config_is_refused_unless_allowed(local_provisioned, tmp_path: Path) -> None:
    def config(name: str, **settings) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(json.dumps({
            "tasks": str(REPO_ROOT / "tasks" / "demo"), "instance_ids": [KV], "runtime": "local",
            "output": str(tmp_path), "run_id": "same", "max_steps": 30, **settings,
        }))
        return path

    assert run_cli("run", str(config("first"))).returncode == 0
    run_dir = tmp_path / "same"
    before = {p.name: p.read_text() for p in run_dir.glob("*.json*")}

    changed = run_cli("run", str(config("changed", max_steps=5, aci={"window": 50})))
    assert changed.returncode == 2, changed.stderr
    assert "max_steps: 30 -> 5" in changed.stderr and "aci.window: 100 -> 50" in changed.stderr
    assert "--allow-config-change" in changed.stderr
    assert {p.name: p.read_text() for p in run_dir.glob("*.json*")} == before, "nothing was touched"

    # How many episodes run at once changes no result: allowed as it is.
    faster = run_cli("run", str(config("faster", workers=2)))
    assert faster.returncode == 0, faster.stderr
    assert "resuming: 1 episodes already finished, 0 to run" in faster.stderr

    allowed = run_cli("run", str(config("changed", max_steps=5, aci={"window": 50})), "--allow-config-change")
    assert allowed.returncode == 0, allowed.stderr
    assert "resumed with a changed config" in allowed.stderr and "max_steps: 30 -> 5" in allowed.stderr
    assert json.loads((run_dir / "config.json").read_text())["max_steps"] == 5
    [kept] = [p for p in run_dir.glob("config-*.json")]
    assert json.loads(kept.read_text())["max_steps"] == 30


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _flaky_environment_run(
    tmp_path: Path, demo_tasks, run_id: str, fault, engine: PrivateEngine | None = None, others: tuple[str, ...] = ()
):
    """One episode (spanlib) whose environment fails once, between its 2nd and 3rd action,
    by `fault()`; the model then solves it, and the `others` (run alongside) at once. Returns
    (the run's output, the trajectory's lines at the moment of the fault, the run folder, the
    number of model calls)."""
    patches = {t.instance_id: t.patch for t in demo_tasks}
    at_fault: list[list[str]] = []
    trajectory = tmp_path / run_id / f"{SPAN}.jsonl"

    def policy(request: dict) -> Reply:
        task_id, steps = task_of(request, demo_tasks), steps_of(request)
        if task_id != SPAN:
            return _solve(task_id, steps, patches)
        if steps == 2 and not at_fault:
            at_fault.append(_lines(trajectory))
            fault()
        if steps < 2:
            return Reply(tool_calls=[bash("ls")])
        if steps == 2:
            return Reply(tool_calls=[bash(f"git apply <<'EOF'\n{patches[SPAN]}EOF")])
        return Reply(tool_calls=[SUBMIT])

    with StubLLMServer(policy) as server:
        config = llm_config(
            tmp_path, server.base_url, run_id, instance_ids=[SPAN, *others], workers=1 + len(others), episode_retries=1
        )
        done = run_cli("run", str(config), env=engine.env if engine else None, timeout=600)
        calls = len(server.requests)
    assert at_fault, f"the fault never happened: {done.stderr}"
    return done, at_fault[0], tmp_path / run_id, calls


def _assert_recovered(done, at_fault: list[str], run_dir: Path, calls: int) -> None:
    """The failed attempt is recorded (env_error) and kept whole; the retry solved the task."""
    assert done.returncode == 0, done.stderr
    final = read_trajectory(run_dir / f"{SPAN}.jsonl")
    assert final.footer.exit_status == "submitted" and final.footer.resolved
    kept = run_dir / "logs" / "superseded" / f"{SPAN}.1.jsonl"
    assert _lines(kept)[: len(at_fault)] == at_fault, "what was flushed before the fault is kept"
    failed = read_trajectory(kept)
    assert failed.footer.exit_status == "env_error" and failed.footer.steps == len(failed.steps) >= 2
    assert "--- attempt 1" in (run_dir / "logs" / f"{SPAN}.error.log").read_text()
    report = json.loads((run_dir / "report.json").read_text())
    assert report["resolved_instances"] == report["total_instances"]
    assert report["total_spent"] == pytest.approx(calls * CALL_COST)
    assert report["total_cost"] < report["total_spent"], "the failed attempt's calls are in the total spent"


def test_a_container_killed_from_outside_ends_its_attempt_and_the_episode_is_retried(
    docker_provisioned, demo_tasks, tmp_path: Path
) -> None:
    """`docker kill` of one episode's container: that episode is retried, the other one running
    at the same time finishes at its first attempt."""
    run_id = unique_run_id("docker-kill")

    def docker_kill() -> None:
        [container] = [c for c in run_containers(run_id) if c["Labels"]["agentenv.instance_id"] == SPAN]
        subprocess.run(["docker", "kill", container["Id"]], check=True, capture_output=True)

    done, at_fault, run_dir, calls = _flaky_environment_run(tmp_path, demo_tasks, run_id, docker_kill, others=(MEMO,))
    _assert_recovered(done, at_fault, run_dir, calls)
    assert run_containers(run_id) == [], "the killed container was removed too"
    assert not (run_dir / "logs" / "superseded" / f"{MEMO}.1.jsonl").exists(), "the other episode ran once"
    assert not (run_dir / "logs" / f"{MEMO}.error.log").exists()
    assert read_trajectory(run_dir / f"{MEMO}.jsonl").footer.resolved


@pytest.fixture(scope="module")
def private_engine(docker_provisioned) -> Iterator[PrivateEngine]:
    """A dockerd of this module's own (see private_engine.py), with spanlib's images in it."""
    shared = docker.from_env()
    engine = PrivateEngine(storage_driver=shared.info()["Driver"])
    try:
        engine.start()
        task_image = docker_provisioned[SPAN].image
        repository = task_image.split(":")[0]
        images = {BASE_IMAGE, task_image}
        images |= {tag for image in shared.images.list(name=f"{repository}-env") for tag in image.tags}
        engine.load(sorted(images))
        yield engine
    finally:
        engine.stop()


def test_an_engine_restart_during_a_run_ends_the_attempt_and_the_episode_is_retried(
    private_engine: PrivateEngine, demo_tasks, tmp_path: Path
) -> None:
    run_id = unique_run_id("engine-restart")
    done, at_fault, run_dir, calls = _flaky_environment_run(
        tmp_path, demo_tasks, run_id, private_engine.restart, engine=private_engine
    )
    _assert_recovered(done, at_fault, run_dir, calls)
    assert run_containers(run_id, private_engine.client()) == [], "the run left containers on the engine"


def test_a_runner_killed_with_sigkill_loses_nothing_it_flushed_and_resumes(docker_provisioned, demo_tasks, tmp_path: Path) -> None:
    patches = {t.instance_id: t.patch for t in demo_tasks}
    run_id = unique_run_id("sigkill")
    run_dir = tmp_path / run_id

    def busy(request: dict) -> Reply:
        task_id = task_of(request, demo_tasks)
        if task_id == MEMO:
            return _solve(task_id, steps_of(request), patches)
        return Reply(tool_calls=[bash("ls")])  # works on until the runner dies

    def steps_in(task_id: str) -> int:
        return _records(run_dir / f"{task_id}.jsonl").count("step")

    with StubLLMServer(busy) as server:
        config = llm_config(tmp_path, server.base_url, run_id, instance_ids=[KV, MEMO, SEMVER], workers=2, max_steps=200)
        process = start_cli("run", str(config), output=tmp_path / "killed.log")
        try:
            wait_for(lambda: "footer" in _records(run_dir / f"{MEMO}.jsonl") and steps_in(KV) >= 2 and steps_in(SEMVER) >= 2,
                     180, "one episode finished and two under way", process)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            flushed = {task_id: _lines(run_dir / f"{task_id}.jsonl") for task_id in (KV, SEMVER)}
            finished = (run_dir / f"{MEMO}.jsonl").read_text()
            calls_before = len(server.requests)
        finally:
            kill_group(process)
        # Its containers are left behind; gc finds them by their dead creator.
        remove([c for c in leftovers() if c.labels.get("agentenv.host_pid") == str(process.pid)])
        assert run_containers(run_id) == []

        server.set_script(lambda r: _solve(task_of(r, demo_tasks), steps_of(r), patches))
        resumed = run_cli("run", str(config))
        calls = len(server.requests)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming: 1 episodes already finished, 2 to run" in resumed.stderr
    assert (run_dir / f"{MEMO}.jsonl").read_text() == finished
    charges = read_ledger(run_dir / LEDGER_FILE)
    for task_id, lines in flushed.items():
        assert read_trajectory(run_dir / f"{task_id}.jsonl").footer.resolved
        kept = run_dir / "logs" / "superseded" / f"{task_id}.1.jsonl"
        assert _lines(kept)[: len(lines)] == lines, f"{task_id}: what was flushed before the kill is kept"
        killed = read_trajectory(kept)
        assert killed.footer.exit_status == "interrupted" and killed.footer.steps == len(killed.steps)
        spent = sum(c.cost for c in charges if c.attempt_id == killed.header.attempt_id)
        assert killed.footer.cost == pytest.approx(spent) and spent >= 2 * CALL_COST
    report = json.loads((run_dir / "report.json").read_text())
    assert report["resolved_instances"] == 3
    # Every call made before the kill is in the ledger, the one in flight at the kill perhaps not.
    assert calls_before - 2 <= round(report["total_spent"] / CALL_COST) - (calls - calls_before) <= calls_before


def test_a_killed_process_that_is_not_yet_reaped_is_gone() -> None:
    # A SIGKILLed Ray actor is a zombie until the raylet reaps it; the run that hears of its
    # death removes its containers then, and must not take the zombie for a live creator.
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert process_alive(child.pid)
        child.kill()  # not waited for: a zombie
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/stat").read_bytes().rsplit(b")", 1)[1][1:2] != b"Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        assert not process_alive(child.pid)
    finally:
        child.wait()
    assert not process_alive(child.pid)


def test_a_dead_ray_actor_costs_only_its_own_episode(docker_provisioned, demo_tasks, tmp_path: Path, monkeypatch) -> None:
    """The actor running one episode is SIGKILLed in the middle of it: that episode runs again
    on a new actor, the other actor's episodes finish as if nothing happened."""
    monkeypatch.setenv(KEY_ENV, "sk-test")
    patches = {t.instance_id: t.patch for t in demo_tasks}
    run_id = unique_run_id("ray-actor")
    killed: list[int] = []

    def policy(request: dict) -> Reply:
        task_id, steps = task_of(request, demo_tasks), steps_of(request)
        if task_id == KV and steps == 1 and not killed:
            # The actor that runs KV's episode created its container: the label names it.
            [container] = [c for c in run_containers(run_id) if c["Labels"]["agentenv.instance_id"] == KV]
            actor = int(container["Labels"]["agentenv.host_pid"])
            os.kill(actor, signal.SIGKILL)
            killed.append(actor)
        return _solve(task_id, steps, patches)

    with StubLLMServer(policy) as server:
        config = llm_config(tmp_path, server.base_url, run_id, instance_ids=[KV, MEMO], workers=2, backend="ray")
        summary = _in_process_run(config)
    assert killed, "an actor was killed"
    by_id = {e.instance_id: e for e in summary.episodes}
    assert all(e.resolved and e.exit_status == "submitted" for e in by_id.values()), by_id
    assert by_id[KV].attempts == 2 and by_id[MEMO].attempts == 1
    lost = read_trajectory(tmp_path / run_id / "logs" / "superseded" / f"{KV}.1.jsonl")
    assert lost.footer.exit_status == "env_error" and "actor" in lost.footer.error
    assert lost.footer.steps == len(lost.steps) == 1
    assert run_containers(run_id) == [], "the dead actor's container was removed"


def test_sigterm_stops_a_ray_run_and_removes_its_actors_containers(docker_provisioned, demo_tasks, tmp_path: Path) -> None:
    """`kill PID` of a Ray run whose two actors each wait on a model call, a third job queued."""
    run_id = unique_run_id("ray-sigterm")
    seen: set[str] = set()

    def waiting(request: dict) -> Reply:
        seen.add(task_of(request, demo_tasks))
        return Reply(tool_calls=[SUBMIT], delay_s=120)

    with StubLLMServer(waiting) as server:
        config = llm_config(tmp_path, server.base_url, run_id, instance_ids=[KV, MEMO, SEMVER], workers=2, backend="ray")
        output = tmp_path / "run.log"
        process = start_cli("run", str(config), output=output)
        try:
            wait_for(lambda: len(seen) == 2, 300, "two episodes waiting on the model", process)
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            process.wait(timeout=60)
            took = time.monotonic() - signalled
        finally:
            kill_group(process, run_id)
    assert took < 15, f"the run took {took:.1f}s to stop"
    assert process.returncode == 128 + signal.SIGTERM, output.read_text()
    assert "2 episodes interrupted, 1 not started" in output.read_text().replace("\n", " ")
    assert run_containers(run_id) == []
    for task_id in seen:
        footer = read_trajectory(tmp_path / run_id / f"{task_id}.jsonl").footer
        assert footer is not None and footer.exit_status == "interrupted"
    assert not ({KV, MEMO, SEMVER} - seen) & {p.stem for p in (tmp_path / run_id).glob("*.jsonl")}


def test_a_second_ctrl_c_exits_at_once_and_leaves_the_rest_to_gc(docker_provisioned, demo_tasks, tmp_path: Path) -> None:
    run_id = unique_run_id("twice")
    seen: list[str] = []

    def waiting(request: dict) -> Reply:
        seen.append(task_of(request, demo_tasks))
        return Reply(tool_calls=[SUBMIT], delay_s=120)

    with StubLLMServer(waiting) as server:
        config = llm_config(tmp_path, server.base_url, run_id, instance_ids=[KV])
        output = tmp_path / "run.log"
        process = start_cli("run", str(config), output=output)
        try:
            wait_for(lambda: bool(seen), 120, "an episode waiting on the model", process)
            os.killpg(process.pid, signal.SIGINT)
            wait_for(lambda: "stopping the run" in output.read_text(), 30, "the first Ctrl-C to be heard", process)
            os.killpg(process.pid, signal.SIGINT)
            signalled = time.monotonic()
            process.wait(timeout=30)
            took = time.monotonic() - signalled
            # What is left, gc finds (its creator is gone). A removal the runner asked for
            # before it exited may still be finishing in the engine: what is gone by the time
            # gc looked is not left.
            left = {c["Id"][:12] for c in run_containers(run_id)}
            found = {c.id for c in leftovers()}
            still_left = left & {c["Id"][:12] for c in run_containers(run_id)}
            assert still_left <= found, "what is left, gc finds (its creator is gone)"
        finally:
            kill_group(process, run_id)
    assert took < 5, f"{took:.1f}s after the second Ctrl-C"
    assert process.returncode == 128 + signal.SIGINT
    assert "exiting now" in output.read_text()
