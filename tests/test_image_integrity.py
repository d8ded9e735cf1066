"""Images that are what they claim: checked when built and when reused, rebuilt when bad, free
of build settings, built under timeouts, and built once however many builders ask at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import docker
import pytest

from agentenv.env.provision import RuntimeSettings, env_image_name, image_name, provision
from agentenv.runtime.gc import Leftover, leftovers, remove
from agentenv.runtime.images import ImageBuildError, RepoImageRecipe, ensure_repo_image, recipe_tag
from agentenv.tasks.model import Task

from .conftest import REPO_ROOT
from .image_helpers import folder_task, git_repo, images_named, run_in, spoil, unique

DOCKER = RuntimeSettings(kind="docker")
BUG = textwrap.dedent(
    """\
    diff --git a/pkg/__init__.py b/pkg/__init__.py
    --- a/pkg/__init__.py
    +++ b/pkg/__init__.py
    @@ -1,2 +1,2 @@
     def answer():
    -    return 42
    +    return 41
    """
)


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`code` in a process of its own (which exits when done: what it labels dies with it)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO_ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


def _repo_state(tag: str) -> dict[str, str]:
    out = run_in(
        tag,
        "cd /repo && git rev-list --all --count && git rev-parse HEAD && git status --porcelain --untracked-files=all",
    )
    count, head, *status = out.splitlines()
    return {"commits": count, "head": head, "status": "\n".join(status)}


# -- checked when reused, rebuilt when bad --------------------------------------------------
def test_a_hidden_test_planted_in_a_cached_image_is_found_and_the_image_rebuilt(
    base_image: str, tmp_path: Path
) -> None:
    task = folder_task(
        tmp_path / "src",
        instance_id=unique("h4-plant"),
        hidden_tests=("tests/test_hidden.py",),
        base_patch=BUG,
    )
    with images_named(image_name(task), env_image_name(task)):
        tag = provision(task, DOCKER).image
        assert tag and "test_hidden.py" not in run_in(tag, "ls /repo/tests")
        planted = spoil(
            tag,
            "cp /dev/null tests/test_hidden.py && echo 'def test_hidden(): pass' > tests/test_hidden.py",
        )
        assert "test_hidden.py" in run_in(tag, "ls /repo/tests")

        said: list[str] = []
        again = provision(task, DOCKER, progress=said.append).image
        assert again == tag
        assert docker.from_env().images.get(tag).id != planted
        assert run_in(tag, "ls /repo/tests").split() == ["test_visible.py"]
        assert any(
            "is not what its tag claims (hidden test tests/test_hidden.py is in the image" in line
            for line in said
        ), said


@pytest.mark.parametrize(
    ("fault", "spoiling"),
    [
        ("a tracked file changed", "echo '# edited' >> pkg/__init__.py"),
        ("an untracked file", "echo notes > NOTES.txt"),
        (
            "a second commit",
            "echo more >> pkg/__init__.py && git -c user.name=a -c user.email=a@b commit -qam next",
        ),
    ],
)
def test_an_image_whose_repository_is_not_its_base_commit_is_rebuilt(
    base_image: str, tmp_path: Path, fault: str, spoiling: str
) -> None:
    task = folder_task(tmp_path / "src", instance_id=unique("h4-dirty"))
    with images_named(image_name(task)):
        tag = provision(task, DOCKER).image
        assert tag
        clean = _repo_state(tag)
        assert clean["commits"] == "1" and clean["status"] == ""
        spoil(tag, spoiling)
        assert _repo_state(tag) != clean, fault

        provision(task, DOCKER)
        assert _repo_state(tag) == clean, fault


def test_what_the_install_writes_where_the_repository_ignores_it_is_not_dirt(
    base_image: str, tmp_path: Path
) -> None:
    # setuptools-scm and friends write a version file that the project's .gitignore names.
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "__init__.py").write_text("def answer():\n    return 42\n")
    (source / ".gitignore").write_text("pkg/_version.py\n")
    task = folder_task(
        source, instance_id=unique("h4-ignored"), install=("echo 'v = 1' > pkg/_version.py",)
    )
    with images_named(image_name(task)):
        tag = provision(task, DOCKER).image
        assert tag and run_in(tag, "cat /repo/pkg/_version.py") == "v = 1\n"


def test_compiled_hidden_tests_and_the_original_bytecode_never_reach_the_task_image(
    base_image: str, tmp_path: Path
) -> None:
    # The environment image installs the source as it is; compiling it there leaves bytecode
    # of the hidden tests, and of the module the task's bug changes (that is, of its fix).
    task = folder_task(
        tmp_path / "src",
        instance_id=unique("h4-pyc"),
        hidden_tests=("tests/test_hidden.py",),
        base_patch=BUG,
        install=("python -m compileall -q .",),
    )
    with images_named(image_name(task), env_image_name(task)):
        tag = provision(task, DOCKER).image
        assert tag
        assert run_in(tag, "cd /repo && find . -name '*.pyc' | sort") == ""
        assert "return 41" in run_in(tag, "cat /repo/pkg/__init__.py")


def test_a_base_tree_that_holds_a_file_the_test_patch_adds_is_refused(
    base_image: str, tmp_path: Path
) -> None:
    test_patch = (
        "diff --git a/tests/test_hidden.py b/tests/test_hidden.py\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/tests/test_hidden.py\n@@ -0,0 +1 @@\n+def test_hidden(): pass\n"
    )
    # The source folder already holds the file the hidden test patch adds: the agent would read it.
    task = folder_task(tmp_path / "src", instance_id=unique("h4-added"), test_patch=test_patch)
    with images_named(image_name(task)):
        with pytest.raises(
            ImageBuildError,
            match=r"not what its tag claims.*hidden test tests/test_hidden.py is in the image",
        ):
            provision(task, DOCKER)
        assert not docker.from_env().images.list(name=image_name(task))


def test_a_task_image_whose_swap_is_cut_short_is_never_tagged(
    base_image: str, tmp_path: Path
) -> None:
    # The task image replaces the environment's repository: its files are removed, the task's
    # tree put in their place. A removal cut short (here: the build container stopped while it
    # runs, as `docker kill`, the OOM killer or a failed `docker rm -f` would) once went
    # unnoticed: the copy and the commit work on a stopped container, and the image kept the
    # hidden tests not yet removed, under a tag that is then trusted for good.
    source = tmp_path / "src"
    # Fewer than one batch of removals (500), so that nothing after the removal fails.
    data = [f"tests/data/case_{i:03d}.py" for i in range(480)]
    for name in data:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(f"CASE = {name!r}\n")
    task = folder_task(
        source, instance_id=unique("h4-cut"), hidden_tests=("tests/test_hidden.py", *data)
    )
    stopped: list[str] = []

    def stop_the_removal() -> None:
        client = docker.from_env()
        deadline = time.monotonic() + 240
        while not stopped and time.monotonic() < deadline:
            environments = {image.id for image in client.images.list(name=env_image_name(task))}
            building = [
                container
                for container in client.containers.list(sparse=True)
                if container.attrs.get("ImageID") in environments
            ]
            for container in building:
                try:
                    processes = container.top()["Processes"] or []
                except docker.errors.APIError:
                    continue
                if any("do rm -f -- " in " ".join(p) for p in processes):
                    container.kill()
                    stopped.append(container.id)
                    return
            time.sleep(0.05)

    with images_named(image_name(task), env_image_name(task)):
        stopper = threading.Thread(target=stop_the_removal)
        stopper.start()
        try:
            tag = provision(task, DOCKER).image
        except ImageBuildError as exc:
            tag = None
            assert stopped and "removing the environment's repository" in str(exc), exc
        finally:
            stopped.append("done")
            stopper.join()
        assert stopped[0] != "done", "the removal was never seen running"
        if tag is not None:  # the build said it worked: then the image must be sound
            assert run_in(tag, "ls /repo/tests").split() == ["test_visible.py"]
        else:
            assert not docker.from_env().images.list(name=image_name(task))


# -- nothing of the build in the image -----------------------------------------------------------
# argv: image name, content id, one install command
_BUILD_IN_A_PROCESS = """
    import sys
    from agentenv.runtime.images import RepoImageRecipe, ensure_repo_image
    from tests.image_helpers import git_repo
    recipe = RepoImageRecipe(name=sys.argv[1], content_id=sys.argv[2], install=(sys.argv[3],))
    said = lambda line: print(line, file=sys.stderr, flush=True)
    print(ensure_repo_image(recipe, lambda folder: git_repo(folder, {"m.py": "x = 1\\n"}), progress=said))
"""


@pytest.fixture(scope="module")
def built_with_settings(base_image: str, tmp_path_factory: pytest.TempPathFactory):
    """An image built by a process that has exited, with pip settings that name local files."""
    folder = tmp_path_factory.mktemp("pip-settings")
    (folder / "wheels").mkdir()
    (folder / "wheels" / "marker-1.0.txt").write_text("a file of the find-links folder\n")
    (folder / "constraints.txt").write_text("six==1.16.0\n")
    settings = {
        "PIP_FIND_LINKS": str(folder / "wheels"),
        "PIP_CONSTRAINT": str(folder / "constraints.txt"),
    }
    # The command shows what it was given: the settings reach the build, with their files.
    install = 'ls "$PIP_FIND_LINKS" > /tmp/seen && cat "$PIP_CONSTRAINT" >> /tmp/seen && env | grep ^PIP_ | cut -d= -f1 | sort >> /tmp/seen'
    name = f"agentenv/{unique('h4-settings')}"
    with images_named(name):
        done = _python(_BUILD_IN_A_PROCESS, name, "settings", install, env=settings)
        out, err = done.communicate(timeout=300)
        assert done.returncode == 0, err
        yield out.strip().splitlines()[-1], settings


def test_build_settings_reach_the_install_commands(built_with_settings) -> None:
    tag, _ = built_with_settings
    seen = run_in(tag, "cat /tmp/seen").splitlines()
    assert seen[:2] == ["marker-1.0.txt", "six==1.16.0"]
    assert {"PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_NO_CACHE_DIR"} <= set(seen[2:])


def test_an_image_config_holds_no_build_setting_and_only_its_own_labels(
    built_with_settings,
) -> None:
    tag, _ = built_with_settings
    attrs = docker.from_env().api.inspect_image(tag)
    config, container_config = attrs["Config"], attrs.get("ContainerConfig") or {}
    assert not [e for e in config["Env"] if e.startswith("PIP_")]
    assert (
        config["Env"]
        == docker.from_env().api.inspect_image("agentenv/base:bookworm")["Config"]["Env"]
    )
    assert config["Labels"] == {"agentenv.content": "settings"}
    assert config["Cmd"] is None and not config["Entrypoint"] and not config["Volumes"]
    assert config["WorkingDir"] == "/repo"
    # What docker inspect shows of the container the image was made in.
    assert not [e for e in container_config.get("Env") or [] if e.startswith("PIP_")]
    assert not (container_config.get("Labels") or {})


def test_an_image_filesystem_holds_no_build_setting(built_with_settings) -> None:
    tag, settings = built_with_settings
    paths = [
        settings["PIP_FIND_LINKS"],
        settings["PIP_CONSTRAINT"],
        "/etc/xdg/pip",
        "/root/.cache/pip",
        "/etc/pip.conf",
        "/root/.config/pip",
    ]
    script = " ; ".join(f"[ -e '{p}' ] && echo '{p}'" for p in paths) + " ; true"
    assert run_in(tag, script) == ""


def test_a_container_started_from_a_task_image_is_not_a_leftover(built_with_settings) -> None:
    tag, _ = built_with_settings
    container = docker.from_env().containers.create(tag, ["sleep", "30"], network_mode="none")
    try:
        assert container.id[:12] not in {leftover.id for leftover in _leftovers()}
    finally:
        container.remove(force=True)


def _leftovers() -> list[Leftover]:
    # gc.leftovers lists, then inspects each container: one removed in between (other tests,
    # other users of the engine) raises NotFound; a defect of gc.py reported to its owner.
    for _ in range(5):
        try:
            return leftovers()
        except docker.errors.NotFound:
            time.sleep(0.2)
    return leftovers()


# -- orphans and timeouts ----------------------------------------------------------------------
def _containers_of_build(tag: str) -> list[str]:
    """The ids of the owner container of `tag`'s build and of the containers in its namespace."""
    client = docker.from_env()
    owners = client.containers.list(
        all=True, filters={"label": f"agentenv.build={tag}"}, ignore_removed=True
    )
    ids = {o.id for o in owners}
    for container in client.containers.list(all=True, ignore_removed=True):
        if container.attrs["HostConfig"].get("PidMode", "").removeprefix("container:") in ids:
            ids.add(container.id)
    return sorted(ids)


def test_an_orphaned_build_is_found_by_gc_and_removed_whole(
    base_image: str, tmp_path: Path
) -> None:
    name = f"agentenv/{unique('h4-orphan')}"
    recipe = RepoImageRecipe(name=name, content_id="orphan", install=("sleep 120",))
    tag = recipe_tag(recipe)
    builder = _python(_BUILD_IN_A_PROCESS, name, "orphan", "sleep 120")
    try:
        assert builder.stderr is not None
        said = [builder.stderr.readline() for _ in range(2)]  # "building ...", then the command
        assert said[-1].strip() == "$ sleep 120", said
        assert _containers_of_build(tag)
    finally:
        builder.send_signal(signal.SIGKILL)
        builder.wait()
    found = [leftover for leftover in _leftovers() if leftover.labels.get("agentenv.build") == tag]
    assert len(found) == 1 and found[0].reason == f"its creator (pid {builder.pid}) is gone"
    remove(found)
    deadline = time.monotonic() + 20
    while _containers_of_build(tag) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _containers_of_build(tag) == []
    assert not docker.from_env().images.list(name=name)


def test_an_install_command_that_runs_too_long_is_stopped_with_the_end_of_its_log(
    base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTENV_BUILD_COMMAND_TIMEOUT", "2")
    recipe = RepoImageRecipe(
        name=f"agentenv/{unique('h4-slow')}",
        content_id="slow",
        install=("echo starting the slow part; sleep 20",),
    )
    tag = recipe_tag(recipe)
    started = time.monotonic()
    with images_named(recipe.name):
        with pytest.raises(ImageBuildError) as raised:
            ensure_repo_image(recipe, lambda folder: git_repo(folder, {"m.py": "x = 1\n"}))
        assert time.monotonic() - started < 15
        message = str(raised.value)
        assert (
            "`echo starting the slow part; sleep 20` was stopped after 2 s "
            "(the timeout of one install command)" in message
        )
        assert message.endswith("the end of its log:\nstarting the slow part")
        assert _containers_of_build(tag) == []
        assert not docker.from_env().images.list(name=recipe.name)


def test_a_build_that_runs_past_its_overall_timeout_is_stopped(base_image: str) -> None:
    from agentenv.runtime.images import BuildTimeouts

    install = ("echo one; sleep 2", "echo two; sleep 2", "echo three; sleep 30")
    recipe = RepoImageRecipe(
        name=f"agentenv/{unique('h4-long')}", content_id="long", install=install
    )
    tag = recipe_tag(recipe)
    stopped = (
        r"`echo three; sleep 30` was stopped after \d+ s \(the build's overall timeout of 12 s\); "
        r"the end of its log:\nthree$"
    )
    with images_named(recipe.name):
        with pytest.raises(ImageBuildError, match=stopped):
            ensure_repo_image(
                recipe,
                lambda folder: git_repo(folder, {"m.py": "x = 1\n"}),
                timeouts=BuildTimeouts(command=60, total=12),
            )
        assert _containers_of_build(tag) == []
        assert not docker.from_env().images.list(name=recipe.name)


def test_a_bad_timeout_setting_is_named(base_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTENV_BUILD_TIMEOUT", "soon")
    recipe = RepoImageRecipe(name=f"agentenv/{unique('h4-soon')}", content_id="soon")
    with (
        images_named(recipe.name),
        pytest.raises(
            ImageBuildError,
            match=r"AGENTENV_BUILD_TIMEOUT='soon': expected a positive number of seconds",
        ),
    ):
        ensure_repo_image(recipe, lambda folder: git_repo(folder, {}))


def test_a_test_patch_that_is_not_a_diff_is_named(base_image: str, tmp_path: Path) -> None:
    task = folder_task(
        tmp_path / "src", instance_id=unique("h4-badpatch"), test_patch="not a diff\n"
    )
    with (
        images_named(image_name(task)),
        pytest.raises(ImageBuildError, match=rf"task {task.instance_id}: field `test_patch`: "),
    ):
        provision(task, DOCKER)


# -- built once, however many ask --------------------------------------------------------------
# argv: a task file (JSON)
_PROVISION_IN_A_PROCESS = """
    import sys
    from pathlib import Path
    from agentenv.env.provision import RuntimeSettings, provision
    from agentenv.tasks.model import Task
    task = Task.model_validate_json(Path(sys.argv[1]).read_text())
    print(provision(task, RuntimeSettings(kind="docker"), progress=lambda line: print(line, file=sys.stderr)).image)
"""


def test_processes_with_different_caches_build_one_image_once(
    base_image: str, tmp_path: Path
) -> None:
    task = folder_task(
        tmp_path / "src",
        instance_id=unique("h4-procs"),
        hidden_tests=("tests/test_hidden.py",),
        base_patch=BUG,
    )
    with images_named(image_name(task), env_image_name(task)):
        spec = tmp_path / "task.json"
        spec.write_text(task.model_dump_json())
        builders = [
            _python(
                _PROVISION_IN_A_PROCESS,
                str(spec),
                env={"AGENTENV_CACHE": str(tmp_path / f"cache{i}")},
            )
            for i in range(2)
        ]
        outputs = []
        for builder in builders:
            out, err = builder.communicate(timeout=300)
            assert builder.returncode == 0, err
            outputs.append((out.strip(), err))
        assert outputs[0][0] == outputs[1][0]
        builds = [
            line for _, err in outputs for line in err.splitlines() if line.startswith("building ")
        ]
        assert len(builds) == 2, builds  # the environment image once, the task image once
        assert len(docker.from_env().images.list(name=env_image_name(task))) == 1


def test_threads_that_share_an_environment_image_build_it_once(
    base_image: str, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    tasks = [
        folder_task(
            source, instance_id=unique(f"h4-threads{i}"), hidden_tests=hidden, base_patch=BUG
        )
        for i, hidden in enumerate(
            [
                ("tests/test_hidden.py",),
                ("tests/test_visible.py",),
                ("tests/test_hidden.py", "tests/test_visible.py"),
            ]
        )
    ]
    said: list[str] = []
    tags: dict[str, str | None] = {}

    def build(task: Task) -> None:
        tags[task.instance_id] = provision(task, DOCKER, progress=said.append).image

    with images_named(env_image_name(tasks[0]), *(image_name(t) for t in tasks)):
        threads = [threading.Thread(target=build, args=(task,)) for task in tasks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert len(tags) == 3
        assert (
            len([line for line in said if line.startswith(f"building {env_image_name(tasks[0])}:")])
            == 1
        ), said
        for task in tasks:
            tag = tags[task.instance_id]
            assert tag is not None
            listed = run_in(
                tag, "cd /repo && git status --porcelain --untracked-files=all; ls tests"
            ).split()
            assert sorted(listed) == sorted(
                {"test_hidden.py", "test_visible.py"} - {Path(h).name for h in task.hidden_tests}
            )


# -- a positive verdict is kept ----------------------------------------------------------------
def _checks_between(started: float, ended: float) -> int:
    # Whole seconds: since=int(started) takes in everything from `started` on, and nothing of
    # the second before (where the previous check may have been made).
    events = docker.from_env().events(
        since=int(started),
        until=int(ended) + 2,
        filters={"event": "create", "label": "agentenv.image_check"},
        decode=True,
    )
    return sum(1 for _ in events)


def test_a_checked_image_is_not_checked_again_while_its_verdict_is_kept(
    base_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentenv.runtime.image_check import forget_verdicts

    monkeypatch.setenv("AGENTENV_CACHE", str(tmp_path / "cache"))
    task = folder_task(tmp_path / "src", instance_id=unique("h4-verdict"))
    with images_named(image_name(task)):
        provision(task, DOCKER)  # built and checked
        time.sleep(1.1)  # events are kept to the second
        started = time.time()
        provision(task, DOCKER)  # this process remembers
        forget_verdicts()
        provision(task, DOCKER)  # the verdict on disk
        ended = time.time()
        assert _checks_between(started, ended) == 0
        for verdict in (tmp_path / "cache" / "image-checks").glob("*.json"):
            assert (
                json.loads(verdict.read_text())["image_id"]
                == docker.from_env().images.get(provision(task, DOCKER).image).id
            )
            verdict.unlink()
        forget_verdicts()
        time.sleep(1.1)
        started = time.time()
        provision(task, DOCKER)
        assert _checks_between(started, time.time()) == 1


# -- ownership ---------------------------------------------------------------------------------
def test_the_repository_belongs_to_root_whoever_wrote_it(base_image: str, tmp_path: Path) -> None:
    def written_by_another_user(folder: Path) -> None:
        git_repo(folder, {"m.py": "x = 1\n"})
        subprocess.run(["chown", "-R", "1000:1000", str(folder)], check=True)

    recipe = RepoImageRecipe(name=f"agentenv/{unique('h4-owner')}", content_id="owner")
    with images_named(recipe.name):
        tag = ensure_repo_image(recipe, written_by_another_user)
        assert run_in(
            tag, "stat -c %u /repo /repo/m.py /repo/.git/HEAD; cd /repo && git status --porcelain"
        ).split() == ["0", "0", "0"]
