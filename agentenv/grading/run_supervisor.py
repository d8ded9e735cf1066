"""Runs the hidden tests' command on the grader's behalf, inside the grading runtime.

Copied into the grading container (never the agent's) and started as root with `python3 -I -S`
(no site, no PYTHONPATH: nothing of the repository's can be imported here). It:

- starts the test command in a session of its own, as an unprivileged user when it can (the
  test process can then read neither the key nor the results, nor signal this process);
- hands pytest's results plugin a fresh key through a pipe, and reads the plugin's records
  through another: every record carries a sequence number and an HMAC under that key, so a
  line written into the channel by the code under test (which can reach the channel's file
  descriptor, but not the key) is counted as forged, never believed;
- becomes a child subreaper, and when the command ends kills every process it left behind
  (daemons included), so nothing of the test run is still alive when the results are written;
- writes the verified records and its own account of the run (the command's exit status,
  forged lines, leftovers killed) to a results file in a folder only root can read;
- exits with the command's exit status.

It must run on any Python 3.6+ a task image has: standard library only, nothing newer.
"""

import argparse
import ctypes
import hmac
import json
import os
import select
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
DRAIN_AFTER_EXIT_S = 2.0


def _parse():
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", required=True)
    parser.add_argument("--plugin-dir", default="")
    parser.add_argument("--plugin", default="")  # empty: no pytest recorder (another runner)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--user", default="")  # "uid:gid", or empty to keep ours
    # Drop to --user only if the test command's Python works as that user (a local runtime:
    # the host's interpreter may sit where that user cannot read).
    parser.add_argument("--user-if-able", action="store_true")
    parser.add_argument("--home", default="")
    # A file (in a folder only root reads) whose bytes go to the recorder after the key.
    parser.add_argument("--secrets", default="")
    parser.add_argument("command")
    return parser.parse_args()


def _become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _descendants(root_pid):
    """Every process below `root_pid`, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the ppid follows the last ")".
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            parents[int(entry)] = int(fields[1])
    found, frontier = [], [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def _kill_leftovers(user):
    """Kill what the test command left running; returns how many processes were found."""
    count = 0
    for _ in range(5):  # a process may fork while we kill its parent: repeat until none
        pids = _descendants(os.getpid())
        if not pids:
            break
        count += len(pids)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap()
        time.sleep(0.02)
    if user:
        # Anything of the test user's that escaped the tree (it cannot, as our subreaper
        # children; but if prctl was refused): kill(-1) from a process of that user.
        killer = os.fork()
        if killer == 0:
            try:
                uid, gid = (int(part) for part in user.split(":"))
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            os._exit(0)
        os.waitpid(killer, 0)
        _reap()
    return count


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _drop_to(user):
    uid, gid = (int(part) for part in user.split(":"))
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def _able(args):
    """Whether the test command's Python starts (and imports pytest) as --user, in the repo."""
    probe = os.fork()
    if probe == 0:
        try:
            _drop_to(args.user)
            os.chdir(args.repo)
            os.execvp("sh", ["sh", "-c", '"$(command -v python || command -v python3)" -c "import pytest" 2>/dev/null'])
        except OSError:
            pass
        os._exit(1)
    _, status = os.waitpid(probe, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _child(args, key_read, record_write):
    os.setsid()  # its own session: Ctrl-C on the grader's terminal reaches us, not it
    os.chdir(args.repo)
    environment = dict(os.environ)
    if args.plugin:
        addopts = environment.get("PYTEST_ADDOPTS", "")
        environment["PYTEST_ADDOPTS"] = (addopts + " " if addopts else "") + "-p " + args.plugin
        path = environment.get("PYTHONPATH", "")
        environment["PYTHONPATH"] = args.plugin_dir + (":" + path if path else "")
        environment["AGENTENV_KEY_FD"] = str(key_read)
        environment["AGENTENV_RECORD_FD"] = str(record_write)
    if args.user:
        if args.home:
            environment["HOME"] = args.home
        environment["USER"] = environment["LOGNAME"] = "agentenv-tests"
        _drop_to(args.user)
    for fd in (key_read, record_write):
        os.set_inheritable(fd, True)
    shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
    try:
        os.execve(shell, [shell, "-c", args.command], environment)
    except OSError as exc:
        sys.stderr.write("agentenv: could not start the test command: %s\n" % exc)
        os._exit(127)


class _Records:
    """Verifies the plugin's lines: `R <seq> <kind> <fields> <mac>`, the fields as hex of
    their UTF-8 bytes joined by "." ("-" for none), the MAC an HMAC-SHA256 of what precedes
    it (after "R ") under the run's key, in hex; sequence numbers count from 0."""

    def __init__(self, key):
        self.key = key
        self.expected_seq = 0
        self.verified = []
        self.forged = 0
        self.buffer = b""

    def feed(self, data):
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self._line(line)

    def _line(self, line):
        parts = line.split(b" ")
        if len(parts) != 5 or parts[0] != b"R":
            self.forged += 1
            return
        _, seq, kind, payload, mac = parts
        expected = hmac.new(self.key, b" ".join((seq, kind, payload)), "sha256").hexdigest().encode()
        if not hmac.compare_digest(expected, mac) or seq != str(self.expected_seq).encode():
            self.forged += 1
            return
        self.expected_seq += 1
        try:
            fields = [] if payload == b"-" else [
                bytes.fromhex(field.decode()).decode("utf-8", "surrogateescape") for field in payload.split(b".")
            ]
        except ValueError:
            self.forged += 1
            return
        self.verified.append({"kind": kind.decode(), "fields": fields})


def main():
    args = _parse()
    refused = ""
    if args.user and args.user_if_able and not _able(args):
        args.user, refused = "", "the test command's Python does not start as %s" % args.user
    subreaper = _become_subreaper()
    key = os.urandom(32)
    key_read, key_write = os.pipe()
    record_read, record_write = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(key_write)
        os.close(record_read)
        _child(args, key_read, record_write)
    os.close(key_read)
    os.close(record_write)
    secrets = b""
    if args.secrets:
        with open(args.secrets, "rb") as handle:
            secrets = handle.read()
    # A few kB at most: within a pipe's buffer (64 kB), so this never blocks.
    os.write(key_write, key + secrets)
    os.close(key_write)

    interrupted = []

    def on_signal(signum, _frame):
        interrupted.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    records = _Records(key)
    status = None
    command_s = 0.0
    drain_until = None
    while True:
        if status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status, command_s = raw, time.monotonic() - started
                drain_until = time.monotonic() + DRAIN_AFTER_EXIT_S
        if interrupted and status is None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        timeout = 0.05 if status is None else max(0.0, drain_until - time.monotonic())
        try:
            ready, _, _ = select.select([record_read], [], [], timeout)
        except InterruptedError:
            continue
        if ready:
            chunk = os.read(record_read, 65536)
            if not chunk:  # every writer is gone
                if status is None:
                    _, status = os.waitpid(pid, 0)
                    command_s = time.monotonic() - started
                break
            records.feed(chunk)
        elif status is not None:
            break  # a leftover process still holds the channel: it is killed below
    leftovers = _kill_leftovers(args.user)
    os.close(record_read)
    if os.WIFEXITED(status):
        exit_code = os.WEXITSTATUS(status)
    else:
        exit_code = 128 + os.WTERMSIG(status)
    account = {
        "exit_code": exit_code,
        "command_s": round(command_s, 4),  # the test command's own time, from start to exit
        "records": len(records.verified),
        "forged_lines": records.forged + (1 if records.buffer else 0),
        "leftover_processes": leftovers,
        "subreaper": subreaper,
        "user": args.user or None,
        "user_refused": refused or None,
        "interrupted": bool(interrupted),
    }
    lines = [json.dumps(record) for record in records.verified]
    lines.append(json.dumps({"kind": "supervisor", "account": account}))
    temporary = args.results + ".partial"
    with open(temporary, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.rename(temporary, args.results)
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
