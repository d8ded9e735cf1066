"""Stopping a timed-out command without letting the rest of its command line run.

Ctrl-C alone is not enough. A program that catches it and exits normally (pytest does), or
that ignores it and is then killed, leaves bash free to run the next command of the line:
`sleep 30; echo never` would print "never" after the timeout. So the shell is frozen first
(SIGSTOP), its foreground job gets Ctrl-C's SIGINT and a grace period, what is left of the
job is SIGKILLed, and the shell itself gets SIGINT before it is thawed: an interactive bash
that receives SIGINT abandons the whole command line and waits for the next one, keeping
its cwd, variables and background jobs. A shell that ignores SIGINT (`trap '' INT`) cannot
be stopped that way: it is killed with everything it started, and the caller starts anew.

The script walks /proc with bash builtins only (no ps, no pkill), so it works in any image
that has bash, and on the host. Its exit code says what happened (see `AbortOutcome`).
"""

from __future__ import annotations

import enum


class AbortOutcome(enum.Enum):
    # The shell abandoned the command line; it is alive, with its state.
    ABANDONED = 0
    # The shell was already gone.
    SHELL_GONE = 2
    # The shell ignores SIGINT: it was killed, with every process it started.
    SHELL_KILLED = 3

    @classmethod
    def from_exit_code(cls, code: int | None) -> AbortOutcome:
        for outcome in cls:
            if outcome.value == code:
                return outcome
        return cls.SHELL_GONE


# Arguments: the shell's pid, the grace period in tenths of a second.
ABORT_SCRIPT = r"""
shell=$1 grace=$2
stat_fields() {  # sets state ppid pgrp tpgid of pid $1 (the name may hold spaces and parens)
  local line rest
  IFS= read -r line < "/proc/$1/stat" 2>/dev/null || return 1
  rest=${line##*") "}
  read -r state ppid pgrp _ _ tpgid _ <<< "$rest"
}
job_members() {  # processes of the foreground job that are still running (zombies are done)
  local stat pid
  members=()
  for stat in /proc/[0-9]*/stat; do
    pid=${stat#/proc/}; pid=${pid%/stat}
    [ "$pid" = "$shell" ] && continue
    stat_fields "$pid" || continue
    [ "$pgrp" = "$job" ] && [ "$state" != Z ] && members+=("$pid")
  done
}
tree_of() {  # the given pids and all their descendants, into `tree`
  local found=" $* " changed=1 stat pid
  tree=("$@")
  while [ $changed = 1 ]; do
    changed=0
    for stat in /proc/[0-9]*/stat; do
      pid=${stat#/proc/}; pid=${pid%/stat}
      case "$found" in *" $pid "*) continue;; esac
      stat_fields "$pid" || continue
      case "$found" in *" $ppid "*) found="$found$pid "; tree+=("$pid"); changed=1;; esac
    done
  done
}
kill -STOP "$shell" 2>/dev/null || exit 2
trap 'kill -CONT "$shell" 2>/dev/null' EXIT
stat_fields "$shell" || exit 2
job=$tpgid
# What Ctrl-C does, while the shell cannot move on: SIGINT to the terminal's foreground job
# (the shell itself, in a builtin loop; it takes the signal when thawed).
[ "$job" -gt 0 ] 2>/dev/null && kill -INT -- "-$job" 2>/dev/null
for ((tick = 0; tick < grace; tick++)); do
  job_members
  [ ${#members[@]} = 0 ] && break
  sleep 0.1
done
job_members
if [ ${#members[@]} -gt 0 ]; then
  tree_of "${members[@]}"
  kill -KILL "${tree[@]}" 2>/dev/null
  echo killed
fi
ignored=0
while read -r key value; do
  [ "$key" = SigIgn: ] && ignored=$(( 0x$value & 2 ))
done < "/proc/$shell/status"
if [ "$ignored" != 0 ]; then
  tree_of "$shell"
  kill -KILL "${tree[@]}" 2>/dev/null
  exit 3
fi
kill -INT "$shell" 2>/dev/null
exit 0
"""

# Argument: a pid. SIGKILLs every descendant of it, then the process itself.
KILL_TREE_SCRIPT = r"""
root=$1 found=" $1 " changed=1 tree=()
while [ $changed = 1 ]; do
  changed=0
  for stat in /proc/[0-9]*/stat; do
    pid=${stat#/proc/}; pid=${pid%/stat}
    case "$found" in *" $pid "*) continue;; esac
    IFS= read -r line < "$stat" 2>/dev/null || continue
    read -r _ ppid _ <<< "${line##*") "}"
    case "$found" in *" $ppid "*) found="$found$pid "; tree+=("$pid"); changed=1;; esac
  done
done
kill -KILL "${tree[@]}" "$root" 2>/dev/null
exit 0
"""
