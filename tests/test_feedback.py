"""Feedback capture: real trajectory files, real SQLite stores on disk, real processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentenv.cli import feedback_cmd
from agentenv.feedback import (
    Critique,
    FailureTag,
    FeedbackError,
    FeedbackStore,
    Preference,
    StepRating,
    default_db_for,
    load_taxonomy,
    read_feedback_jsonl,
)
from agentenv.feedback.models import FEEDBACK_RECORD, RECORD_TYPES
from agentenv.trajectory.model import AgentInfo, StepRecord, TrajectoryFooter, TrajectoryHeader
from agentenv.trajectory.recorder import Recorder

from .conftest import REPO_ROOT

EMPTY = {"rating": 0, "preference": 0, "critique": 0, "tag": 0}


def write_trajectory(
    path: Path, *, run_id: str = "run-1", instance_id: str = "pkg-1", steps: int = 3, trajectory_id: str = ""
) -> Path:
    with Recorder(path) as recorder:
        recorder.write(TrajectoryHeader(
            run_id=run_id, instance_id=instance_id, trajectory_id=trajectory_id,
            task={"instance_id": instance_id}, agent=AgentInfo(name="oracle"), runtime="local",
            initial_observation="fix the bug",
        ))
        for index in range(steps):
            recorder.write(StepRecord(
                index=index, action=f"bash echo {index}", observation=str(index), reward=0.0,
                terminated=index == steps - 1, truncated=False,
            ))
        recorder.write(TrajectoryFooter(exit_status="submitted", steps=steps, duration_s=1.0))
    return path


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder with two attempts at pkg-1 and one at pkg-2."""
    folder = tmp_path / "run-1"
    write_trajectory(folder / "pkg-1.jsonl")
    write_trajectory(folder / "pkg-1.sample1.jsonl", trajectory_id="run-1/pkg-1#1", steps=2)
    write_trajectory(folder / "pkg-2.jsonl", instance_id="pkg-2")
    return folder


@pytest.fixture(autouse=True)
def annotator(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AGENTENV_ANNOTATOR", "grader-1")
    return "grader-1"


def test_each_kind_round_trips_through_the_api(run_dir: Path) -> None:
    a, b = run_dir / "pkg-1.jsonl", run_dir / "pkg-1.sample1.jsonl"
    with FeedbackStore(default_db_for(a)) as store:
        rating = store.rate(a, 1, "incorrect", rewrite="open src/pkg.py 10", reason="looked in the wrong place")
        preference = store.prefer(a, b, "b", reason="b fixed it", annotator="grader-2")
        critique = store.critique(a, "negative", "never ran the tests")
        tag = store.tag(a, "wrong-file")
        # Readers give back exactly what the writers returned, row ids included.
        assert store.ratings() == [rating] and store.preferences() == [preference]
        assert store.critiques() == [critique] and store.tags() == [tag]
        assert store.ratings(trajectory_id="run-1/pkg-1") == [rating]
        assert store.ratings(trajectory_id="run-1/pkg-1#1") == []
        assert store.preferences(instance_id="pkg-1") == [preference]
        assert store.counts() == {"rating": 1, "preference": 1, "critique": 1, "tag": 1}

    assert isinstance(rating, StepRating) and rating.id == 1
    assert (rating.step, rating.label, rating.rewrite) == (1, "incorrect", "open src/pkg.py 10")
    assert (rating.trajectory_id, rating.instance_id, rating.run_id) == ("run-1/pkg-1", "pkg-1", "run-1")
    assert rating.trajectory_path == str(a.resolve()) and rating.annotator == "grader-1"
    assert rating.created_at.endswith("+00:00") and rating.schema_version == 1

    assert isinstance(preference, Preference) and preference.annotator == "grader-2"
    assert (preference.trajectory_a_id, preference.trajectory_b_id) == ("run-1/pkg-1", "run-1/pkg-1#1")
    assert preference.chosen_path == str(b.resolve()) and preference.rejected_path == str(a.resolve())
    assert isinstance(critique, Critique) and critique.polarity == "negative"
    assert isinstance(tag, FailureTag) and tag.tag == "wrong-file"


def test_the_default_store_is_in_the_trajectorys_run_folder(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(run_dir.parent)
    assert default_db_for("run-1/pkg-1.jsonl") == run_dir.resolve() / "feedback.sqlite"
    result = CliRunner().invoke(feedback_cmd.app, ["rate", "run-1/pkg-1.jsonl", "0", "correct"])
    assert result.exit_code == 0, result.output
    with FeedbackStore(run_dir / "feedback.sqlite", create=False) as store:
        assert [r.step for r in store.ratings()] == [0]


def test_the_store_is_in_wal_mode_with_a_versioned_schema(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite"
    FeedbackStore(db).close()
    with sqlite3.connect(db) as raw:
        # WAL is a property of the file, so a fresh connection sees it too.
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 1
        for model in RECORD_TYPES:
            columns = {row[1] for row in raw.execute(f"PRAGMA table_info({model.table})")}
            assert columns == set(model.model_fields) - {"kind"}, model.table
    raw.close()


def test_a_store_from_a_newer_agentenv_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite"
    FeedbackStore(db).close()
    raw = sqlite3.connect(db)
    with raw:
        raw.execute("INSERT INTO schema_version VALUES (99, '2030-01-01T00:00:00+00:00')")
    raw.close()
    with pytest.raises(FeedbackError, match="schema version 99 is newer"):
        FeedbackStore(db)


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.sqlite"
    junk.write_text("these are not the records you are looking for\n" * 100)
    with pytest.raises(FeedbackError, match="not a usable feedback store"):
        FeedbackStore(junk)
    with pytest.raises(FeedbackError, match="no feedback store there"):
        FeedbackStore(tmp_path / "missing.sqlite", create=False)


def _malformed(run_dir: Path) -> Path:
    """A trajectory whose second line was cut in the middle."""
    path = write_trajectory(run_dir / "broken.jsonl")
    header = path.read_text().splitlines()[0]
    path.write_text(header + '\n{"record": "step", "index": 0, "act\n')
    return path


# (what is wrong, a call on the store, the message it must give)
BAD_INPUT = [
    ("step out of range", lambda s, d: s.rate(d / "pkg-1.jsonl", 3, "correct"),
     r"no step 3: the trajectory has 3 steps \(0-2\)"),
    ("bad label", lambda s, d: s.rate(d / "pkg-1.jsonl", 0, "great"), r"field `label`: Input should be 'correct'"),
    ("empty rewrite", lambda s, d: s.rate(d / "pkg-1.jsonl", 0, "incorrect", rewrite=" "),
     r"field `rewrite`: .*empty"),
    ("unknown tag", lambda s, d: s.tag(d / "pkg-1.jsonl", "was-sad"),
     r"unknown failure tag 'was-sad'; known tags: .*wrong-file"),
    ("other instance", lambda s, d: s.prefer(d / "pkg-1.jsonl", d / "pkg-2.jsonl", "a"),
     r"same instance: .*'pkg-1'.*'pkg-2'"),
    ("itself", lambda s, d: s.prefer(d / "pkg-1.jsonl", d / "pkg-1.jsonl", "a"), r"compared with itself"),
    ("bad winner", lambda s, d: s.prefer(d / "pkg-1.jsonl", d / "pkg-1.sample1.jsonl", "c"), r"field `winner`"),
    ("empty critique", lambda s, d: s.critique(d / "pkg-1.jsonl", "positive", ""), r"field `text`: .*empty"),
    ("bad polarity", lambda s, d: s.critique(d / "pkg-1.jsonl", "meh", "text"), r"field `polarity`"),
    ("missing file", lambda s, d: s.rate(d / "nope.jsonl", 0, "correct"), r"nope\.jsonl: cannot be read"),
    ("malformed file", lambda s, d: s.critique(_malformed(d), "positive", "ok"),
     r"broken\.jsonl:2: not valid JSON"),
    ("no annotator", lambda s, d: s.tag(d / "pkg-1.jsonl", "wrong-file", annotator=""), r"field `annotator`"),
]


@pytest.mark.parametrize(("case", "call", "message"), BAD_INPUT, ids=[case for case, _, _ in BAD_INPUT])
def test_bad_input_is_a_clear_error_and_writes_nothing(run_dir: Path, case: str, call, message: str) -> None:
    with FeedbackStore(run_dir / "feedback.sqlite") as store:
        with pytest.raises(FeedbackError, match=message):
            call(store, run_dir)
        assert store.counts() == EMPTY


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(feedback_cmd.app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_each_kind_round_trips_through_the_cli(run_dir: Path, tmp_path: Path) -> None:
    a, b = str(run_dir / "pkg-1.jsonl"), str(run_dir / "pkg-1.sample1.jsonl")
    db = str(tmp_path / "elsewhere" / "fb.sqlite")
    commands = [
        ["rate", a, "2", "incorrect", "--rewrite", "submit", "--reason", "done already"],
        ["rate", b, "0", "neutral"],
        ["prefer", a, b, "--winner", "tie", "--annotator", "grader-2"],
        ["critique", a, "--positive", "reproduced the bug first"],
        ["critique", b, "--negative", "edited [bold]tests[/bold]"],
        ["tag", b, "gave-up-early", "--reason", "stopped after two steps"],
    ]
    for command in commands:
        code, out, err = _cli(*command, "--db", db)
        assert code == 0, err
        assert "recorded" in out and "fb.sqlite" in out
    assert not (run_dir / "feedback.sqlite").exists(), "--db chose another store"

    with FeedbackStore(db, create=False) as store:
        first, second = store.ratings()
        assert (first.step, first.label, first.rewrite, first.reason) == (2, "incorrect", "submit", "done already")
        assert (second.trajectory_id, second.label, second.rewrite) == ("run-1/pkg-1#1", "neutral", None)
        [preference] = store.preferences()
        assert preference.winner == "tie" and preference.annotator == "grader-2" and preference.chosen_path is None
        assert [(c.polarity, c.text) for c in store.critiques()] == [
            ("positive", "reproduced the bug first"), ("negative", "edited [bold]tests[/bold]"),
        ]
        [tag] = store.tags()
        assert (tag.tag, tag.reason, tag.annotator) == ("gave-up-early", "stopped after two steps", "grader-1")

    code, out, _ = _cli("ls", "--db", db)
    assert code == 0
    assert "rating" in out and "preference" in out and "gave-up-early" in out
    assert "edited [bold]tests[/bold]" in out  # an annotator's text is shown, never read as markup

    exported = tmp_path / "out" / "feedback.jsonl"
    code, out, _ = _cli("export", "--db", db, "--out", str(exported))
    assert code == 0 and "wrote 6 feedback records" in out
    kinds = [json.loads(line)["kind"] for line in exported.read_text().splitlines()]
    assert kinds == ["rating", "rating", "preference", "critique", "critique", "tag"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rate", "{a}", "3", "correct"], "no step 3"),
        (["rate", "{a}", "0", "superb"], "Input should be 'correct', 'incorrect' or 'neutral'"),
        (["tag", "{a}", "was-sad"], "known tags: "),
        (["prefer", "{a}", "{c}", "--winner", "a"], "same instance"),
        (["prefer", "{a}", "{b}", "--winner", "both"], "field `winner`"),
        (["critique", "{a}", "--positive", "x", "--negative", "y"], "exactly one of --positive TEXT or --negative"),
        (["critique", "{a}"], "exactly one of --positive TEXT or --negative"),
        (["rate", "{missing}", "0", "correct"], "missing.jsonl: cannot be read"),
        (["critique", "{broken}", "--negative", "x"], "broken.jsonl:2: not valid JSON"),
        (["tag", "{a}", "wrong-file", "--taxonomy", "{missing}"], "missing.jsonl: cannot be read"),
    ],
)
def test_cli_errors_exit_2_and_create_no_store(run_dir: Path, args: list[str], message: str) -> None:
    paths = {
        "a": run_dir / "pkg-1.jsonl", "b": run_dir / "pkg-1.sample1.jsonl", "c": run_dir / "pkg-2.jsonl",
        "missing": run_dir / "missing.jsonl", "broken": _malformed(run_dir),
    }
    code, _, err = _cli(*[arg.format(**paths) for arg in args])
    assert code == 2
    assert message in " ".join(err.split()), err
    assert not (run_dir / "feedback.sqlite").exists()


def test_a_custom_taxonomy_replaces_the_builtin_one(run_dir: Path, tmp_path: Path) -> None:
    taxonomy = tmp_path / "tags.yaml"
    taxonomy.write_text("schema_version: 1\ntags:\n  too-slow: Took over an hour.\n")
    a = str(run_dir / "pkg-1.jsonl")
    assert _cli("tag", a, "too-slow", "--taxonomy", str(taxonomy))[0] == 0
    code, _, err = _cli("tag", a, "wrong-file", "--taxonomy", str(taxonomy))
    assert code == 2 and "known tags: too-slow" in err
    taxonomy.write_text("tags:\n  Not Kebab: Too slow.\n")
    code, _, err = _cli("tag", a, "Not Kebab", "--taxonomy", str(taxonomy))
    assert code == 2 and "kebab-case" in err


def test_the_builtin_taxonomy_names_the_common_failures() -> None:
    tags = load_taxonomy().tags
    for name in ("wrong-file", "misread-issue", "incomplete-fix", "broke-tests", "syntax-error-loop",
                 "repeated-action", "gave-up-early", "hallucinated-api", "test-overfitting", "environment-misuse"):
        assert tags[name].strip(), name


def test_ls_and_export_need_exactly_one_existing_store(run_dir: Path, tmp_path: Path) -> None:
    code, _, err = _cli("ls", str(run_dir))
    assert code == 2 and "nothing recorded for this run yet" in err
    assert not (run_dir / "feedback.sqlite").exists()
    code, _, err = _cli("export", "--out", str(tmp_path / "x.jsonl"))
    assert code == 2 and "one of them" in err
    code, _, err = _cli("ls", str(run_dir), "--db", str(tmp_path / "fb.sqlite"))
    assert code == 2 and "one of them" in err


def test_export_is_valid_jsonl_that_revalidates_into_the_models(run_dir: Path, tmp_path: Path) -> None:
    a, b = run_dir / "pkg-1.jsonl", run_dir / "pkg-1.sample1.jsonl"
    with FeedbackStore(default_db_for(a)) as store:
        store.rate(a, 0, "correct")
        store.rate(a, 1, "incorrect", rewrite="find_file pkg.py\nopen pkg.py")
        store.prefer(b, a, "a")
        store.critique(b, "positive", "short and sweet ✓")
        store.tag(b, "incomplete-fix")
        records = store.records()
    out = tmp_path / "feedback.jsonl"
    code, stdout, _ = _cli("export", str(run_dir), "--out", str(out))
    assert code == 0 and "wrote 5" in stdout
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5
    revalidated = [FEEDBACK_RECORD.validate_python(json.loads(line)) for line in lines]
    assert revalidated == records == read_feedback_jsonl(out)
    assert [type(r) for r in revalidated] == [StepRating, StepRating, Preference, Critique, FailureTag]
    code, stdout, _ = _cli("ls", str(run_dir))
    assert code == 0 and "incomplete-fix" in stdout


def test_a_broken_export_line_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    path.write_text('{"kind": "rating", "annotator": "x"}\n')
    with pytest.raises(FeedbackError, match=r"feedback\.jsonl:1: field `rating\.trajectory_id`"):
        read_feedback_jsonl(path)


def _feedback_command() -> list[str]:
    """`agentenv feedback` once main.py has it; until then, the sub-app on its own."""
    from agentenv.cli import main

    if any(group.name == "feedback" for group in main.app.registered_groups):
        return [sys.executable, "-m", "agentenv.cli.main", "feedback"]
    return [sys.executable, "-c", "from agentenv.cli.feedback_cmd import app; app()"]


def test_the_cli_in_a_real_process(run_dir: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "AGENTENV_ANNOTATOR": "grader-9"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [*_feedback_command(), *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120)

    ok = run("rate", str(run_dir / "pkg-1.jsonl"), "1", "correct")
    assert ok.returncode == 0, ok.stderr
    bad = run("rate", str(run_dir / "pkg-1.jsonl"), "7", "correct")
    assert bad.returncode == 2 and "no step 7" in bad.stderr
    with FeedbackStore(run_dir / "feedback.sqlite", create=False) as store:
        [rating] = store.ratings()
    assert rating.annotator == "grader-9" and rating.step == 1


WRITERS, PER_WRITER = 8, 50


def _write_feedback(worker: int, db: str, run_dir: str, start: multiprocessing.synchronize.Barrier) -> None:
    a, b = Path(run_dir) / "pkg-1.jsonl", Path(run_dir) / "pkg-1.sample1.jsonl"
    start.wait()  # all at once, the store's creation included
    with FeedbackStore(db) as store:
        for i in range(PER_WRITER):
            mark = f"w{worker}-{i}"
            match i % 4:
                case 0:
                    store.rate(a, i % 3, "incorrect", rewrite=mark, annotator=mark)
                case 1:
                    store.prefer(a, b, "a", reason=mark, annotator=mark)
                case 2:
                    store.critique(b, "negative", mark, annotator=mark)
                case _:
                    store.tag(b, "repeated-action", reason=mark, annotator=mark)


def test_eight_processes_writing_at_once_lose_nothing(run_dir: Path) -> None:
    db = run_dir / "feedback.sqlite"
    # Separate processes, each opening its own connection (fork: cheap to start, nothing open yet).
    context = multiprocessing.get_context("fork")
    start = context.Barrier(WRITERS)
    workers = [
        context.Process(target=_write_feedback, args=(n, str(db), str(run_dir), start)) for n in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0] * WRITERS

    with FeedbackStore(db, create=False) as store:
        counts = store.counts()
        records = store.records()
    per_kind = [len(range(k, PER_WRITER, 4)) for k in range(4)]  # 13, 13, 12, 12
    assert counts == {kind: WRITERS * n for kind, n in zip(EMPTY, per_kind, strict=True)}
    assert len(records) == WRITERS * PER_WRITER
    # Every single write is there exactly once, by its mark, with a distinct row id per table.
    marks = sorted(r.annotator for r in records)
    assert marks == sorted(f"w{w}-{i}" for w in range(WRITERS) for i in range(PER_WRITER))
    assert len({(r.kind, r.id) for r in records}) == len(records)
