"""SWE-bench's own grading of a log that agentenv produced: the one place that knows the
`swebench` package's API.

The log is put in the layout SWE-bench's evaluation script writes (the test output between its
start and end markers, then the test command's exit code), and graded by swebench's
`get_eval_report`: its log parser, its `get_logs_eval` checks and its
`get_eval_tests_report`/`get_resolution_status`. Only the test spec differs between releases:
5.x names the log parser in the spec; 4.x looks it up by repository, so a repository whose
parser is its plain pytest parser stands in.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from swebench.harness import constants
from swebench.harness.grading import get_eval_report

PYTEST_PARSER = "parse_log_pytest"


def swebench_log(test_log: str, test_exit_code: int | None) -> str:
    """The log as SWE-bench's harness writes it (`test_output.txt`)."""
    text = f"{constants.START_TEST_OUTPUT}\n{test_log}\n{constants.END_TEST_OUTPUT}\n"
    exit_code_marker = getattr(constants, "TEST_EXIT_CODE", None)  # 5.x records it
    if exit_code_marker is not None and test_exit_code is not None:
        text += f"{exit_code_marker}: {test_exit_code}\n"
    return text


def _test_spec(instance_id: str, fail_to_pass: list[str], pass_to_pass: list[str]) -> Any:
    try:
        from swebench.types import TestSpec  # 5.x
    except ImportError:
        return _test_spec_4x(instance_id, fail_to_pass, pass_to_pass)
    return TestSpec(
        instance_id=instance_id, image="", eval_script_list=[], repo="agentenv/releases",
        version="0", FAIL_TO_PASS=fail_to_pass, PASS_TO_PASS=pass_to_pass,
        log_parser=PYTEST_PARSER, eval_type=constants.EvalType.PASS_AND_FAIL.value,
    )  # fmt: skip


def _test_spec_4x(instance_id: str, fail_to_pass: list[str], pass_to_pass: list[str]) -> Any:
    from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
    from swebench.harness.log_parsers.python import parse_log_pytest
    from swebench.harness.test_spec.test_spec import TestSpec

    specs = constants.MAP_REPO_VERSION_TO_SPECS
    repo = next(
        name for name, parser in MAP_REPO_TO_PARSER.items()
        if parser is parse_log_pytest and name not in constants.FAIL_ONLY_REPOS and name in specs
    )  # fmt: skip
    return TestSpec(
        instance_id=instance_id, repo=repo, version=next(iter(specs[repo])),
        repo_script_list=[], eval_script_list=[], env_script_list=[], arch="x86_64",
        FAIL_TO_PASS=fail_to_pass, PASS_TO_PASS=pass_to_pass, language="py", docker_specs={},
        namespace=None,
    )  # fmt: skip


def swebench_report(
    instance_id: str,
    fail_to_pass: list[str],
    pass_to_pass: list[str],
    patch: str | None,
    test_log: str,
    test_exit_code: int | None,
) -> dict[str, Any]:
    """swebench's report.json entry for this log: `patch_successfully_applied`, `resolved`,
    `tests_status` (FAIL_TO_PASS/PASS_TO_PASS success and failure lists)."""
    prediction = {
        "instance_id": instance_id,
        "model_name_or_path": "agentenv",
        "model_patch": patch,
    }
    with tempfile.TemporaryDirectory(prefix="agentenv-swebench-") as scratch:
        log_path = Path(scratch) / "test_output.txt"
        log_path.write_text(swebench_log(test_log, test_exit_code), encoding="utf-8")
        spec = _test_spec(instance_id, fail_to_pass, pass_to_pass)
        report = get_eval_report(spec, prediction, str(log_path), include_tests_status=True)
    return report[instance_id]
