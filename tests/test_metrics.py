"""pass@k, APPS metrics and the rewards an env can give."""

from __future__ import annotations

import itertools
import warnings

import pytest

from agentenv.env.swe_env import SWEEnv
from agentenv.grading.metrics import pass_at_k, pass_ratio, reward, rltf_coarse, rltf_reward, strict_accuracy, test_case_average
from agentenv.grading.report import InstanceReport, TestsOutcome, TestsStatus
from agentenv.tasks.model import Task


@pytest.mark.parametrize(("n", "c", "k"), [(5, 0, 1), (5, 1, 1), (5, 2, 3), (6, 3, 2), (4, 4, 2), (7, 1, 7)])
def test_pass_at_k_matches_counting_subsets(n: int, c: int, k: int) -> None:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    expected = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def _report(f2p: tuple[int, int], p2p: tuple[int, int], **fields) -> InstanceReport:
    status = TestsStatus(
        FAIL_TO_PASS=TestsOutcome(success=[f"f{i}" for i in range(f2p[0])], failure=[f"F{i}" for i in range(f2p[1])]),
        PASS_TO_PASS=TestsOutcome(success=[f"p{i}" for i in range(p2p[0])], failure=[f"P{i}" for i in range(p2p[1])]),
    )
    base = {"patch_exists": True, "patch_successfully_applied": True, "tests_status": status}
    return InstanceReport(**(base | fields))


def test_apps_metrics() -> None:
    reports = [_report((2, 0), (2, 0), resolved=True), _report((1, 1), (2, 0)), _report((0, 2), (0, 2))]
    assert strict_accuracy(reports) == pytest.approx(1 / 3)
    assert test_case_average(reports) == pytest.approx((1 + 0.75 + 0) / 3)
    assert pass_ratio(reports[1]) == 0.75


def test_rltf_rewards_by_outcome() -> None:
    resolved = _report((2, 0), (1, 0), resolved=True)
    failing = _report((1, 1), (2, 0))
    erroring = _report((0, 2), (2, 0), error="timed out")
    not_applied = InstanceReport(patch_exists=True, apply_failure="no method applied the patch")
    empty = InstanceReport.for_missing_patch("")
    assert [rltf_coarse(r) for r in (resolved, failing, erroring, not_applied, empty)] == [1.0, -0.3, -0.6, -1.0, -1.0]
    assert rltf_reward(failing) == pytest.approx(-0.3 + 1.3 * 0.75)
    assert [reward(failing, kind) for kind in ("binary", "pass_ratio", "rltf")] == [0.0, 0.75, pytest.approx(0.675)]


def test_env_reward_is_selectable(local_provisioned, demo_task: Task) -> None:
    first_file = "diff --git" + demo_task.patch.split("diff --git")[1]  # half of the two-file fix
    rewards = {}
    for kind in ("binary", "pass_ratio", "rltf"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = SWEEnv([demo_task], runtime="local", reward=kind)
        try:
            env.reset(options={"task_id": demo_task.instance_id})
            runtime = env.runtime
            runtime.write_file(f"{runtime.repo_dir}/fix.patch", first_file.encode())
            runtime.run("git apply fix.patch && rm fix.patch")
            _, value, terminated, _, info = env.step("submit")
            assert terminated and not info["grade"]["resolved"]
            rewards[kind] = value
            status = info["grade"]["tests_status"]
        finally:
            env.close()
    passing = len(status["FAIL_TO_PASS"]["success"]) + len(status["PASS_TO_PASS"]["success"])
    ratio = passing / (len(demo_task.FAIL_TO_PASS) + len(demo_task.PASS_TO_PASS))
    assert 0 < ratio < 1
    assert rewards == {"binary": 0.0, "pass_ratio": pytest.approx(ratio), "rltf": pytest.approx(-0.3 + 1.3 * ratio)}
    with pytest.raises(ValueError, match="reward must be"):
        SWEEnv([demo_task], runtime="local", reward="made_up")  # type: ignore[arg-type]
