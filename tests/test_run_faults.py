"""Faults, for real: Ctrl-C and SIGTERM during a run, a container killed from outside, the
Docker engine restarted under a run, the runner SIGKILLed, a Ray actor killed. Each ends with a
recorded status, loses nothing that was flushed, and resumes."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import warnings
from pathlib import Path

import docker
import pytest

from agentenv.rollout.config import load_config
from agentenv.rollout.runner import run
from agentenv.runtime.gc import leftovers
from agentenv.trajectory.recorder import read_trajectory

from .conftest import REPO_ROOT
from .llm_stub import Reply, StubLLMServer
from .stub_runs import CALL_COST, KEY_ENV, SUBMIT, bash, kill_group, llm_config, run_cli, run_containers, start_cli, steps_of, task_of, unique_run_id, wait_for

SPAN, KV, SEMVER, MEMO = (
    "spanlib-merge-nested-interval",
    "kvconf-quoted-inline-comment",
    "semverlib-prerelease-numeric-order",
    "memokit-ttl-read-extends-expiry",
)


def _solve(task_id: str, steps: int, patches: dict[str, str]) -> Reply:
    """A well-behaved model: apply the reference fix, then submit."""
    if steps == 0:
        return Reply(tool_calls=[bash(f"git apply <<'EOF'\n{patches[task_id]}EOF")])
    return Reply(tool_calls=[SUBMIT])


def test_ctrl_c_stops_the_run_within_seconds_and_every_interrupted_episode_resumes(
    docker_provisioned, demo_tasks, tmp_path: Path
) -> None:
    """Three episodes in flight when Ctrl-C comes: one waiting on the model, one being graded
    (its patch makes the tests hang), one running a long command; a fourth already finished."""
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
        if task_id == SEMVER:
            return Reply(tool_calls=[bash("sleep 300")])  # a command in flight
        return _solve(task_id, steps, patches)

    with StubLLMServer(stuck) as server:
        settings = {"aci": {"command_timeout": 600}, "agent": {"timeout_s": 300}}
        config = llm_config(tmp_path, server.base_url, run_id, workers=3, **settings)
        output = tmp_path / "run.log"
        process = start_cli("-v", "run", str(config), output=output)
        try:
            def all_stuck() -> bool:
                graders = [c for c in run_containers(run_id) if c["Labels"].get("agentenv.instance_id") == KV]
                memo = run_dir / f"{MEMO}.jsonl"
                finished = memo.exists() and read_trajectory(memo).finished
                return SPAN in seen and seen.get(KV) == 1 and len(graders) == 2 and SEMVER in seen and finished

            wait_for(all_stuck, 120, "three episodes in flight", process)
            time.sleep(1.0)  # the long command is running, the tests are importing
            process.send_signal(sig)
            signalled = time.monotonic()
            process.wait(timeout=60)
            took = time.monotonic() - signalled
        finally:
            kill_group(process, run_id)
        stderr = output.read_text()
        print(stderr[-3000:])
        assert took < 10, f"the run took {took:.1f}s to stop after {sig.name}"
        assert process.returncode == 128 + sig, stderr
        assert "3 episodes interrupted" in stderr
        assert run_containers(run_id) == [], "the run left containers behind"

        for task_id, steps, cost in ((SPAN, 0, 0.0), (KV, 1, 0.024), (SEMVER, 0, 0.012)):
            trajectory = read_trajectory(run_dir / f"{task_id}.jsonl")
            assert trajectory.footer is not None, f"{task_id} has no footer"
            assert trajectory.footer.exit_status == "interrupted", task_id
            assert trajectory.footer.steps == len(trajectory.steps) == steps, task_id
            assert trajectory.footer.cost == pytest.approx(cost), task_id
        finished = (run_dir / f"{MEMO}.jsonl").read_text()
        assert read_trajectory(run_dir / f"{MEMO}.jsonl").footer.exit_status == "submitted"
        report = json.loads((run_dir / "report.json").read_text())
        assert report["total_instances"] == 4 and report["resolved_instances"] == 1
        assert report["incomplete_ids"] == sorted([KV, SEMVER, SPAN])
        assert report["total_spent"] == pytest.approx(0.036 + 0.024)

        # Resume (the same config, workers aside): the interrupted episodes run again, only they.
        server.set_script(lambda r: _solve(task_of(r, demo_tasks), steps_of(r), patches))
        resumed = run_cli("run", str(llm_config(tmp_path, server.base_url, run_id, workers=2, **settings)))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming: 1 episodes already finished, 3 to run" in resumed.stderr
    assert (run_dir / f"{MEMO}.jsonl").read_text() == finished
    report = json.loads((run_dir / "report.json").read_text())
    assert report["resolved_instances"] == 4
    # Every attempt's spending counts: the interrupted ones' $0.036, and four solved episodes'.
    assert report["total_spent"] == pytest.approx(0.036 + 4 * 0.024)
    assert report["total_cost"] == pytest.approx(4 * 0.024)
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
        if task_id == SPAN:
            return Reply(content="I would rather chat.")  # format_error: the agent's own doing
        return _solve(task_id, steps_of(request), patches)

    with StubLLMServer(failing) as server:
        config = llm_config(tmp_path, server.base_url, "statuses", workers=2, agent={"max_format_retries": 1})
        first = {e.instance_id: e.exit_status for e in _in_process_run(config).episodes}
        assert first == {KV: "auth_error", SEMVER: "model_error", SPAN: "format_error", MEMO: "submitted"}
        kept = {task_id: (tmp_path / "statuses" / f"{task_id}.jsonl").read_text() for task_id in (SPAN, MEMO)}

        server.set_script(lambda r: _solve(task_of(r, demo_tasks), steps_of(r), patches))
        second = {e.instance_id: e for e in _in_process_run(config).episodes}
    assert second[KV].resolved and second[SEMVER].resolved, "model and auth failures are run again"
    assert second[SPAN].exit_status == "format_error" and second[MEMO].exit_status == "submitted"
    assert {t: (tmp_path / "statuses" / f"{t}.jsonl").read_text() for t in (SPAN, MEMO)} == kept


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
