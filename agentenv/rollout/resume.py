"""Resuming a run folder with the config it was started with.

A run folder's `config.json` is the config its trajectories were made with. Running the same
run id again with settings that change results (the agent, the model, the limits, the tasks,
the sandbox...) would mix two experiments in one report, so it is refused unless asked for,
and the error names every setting that differs. Settings that only change how the run is
carried out, never what an episode does, may change freely (`FREE_SETTINGS`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentenv.files import write_atomically
from agentenv.rollout.config import ConfigError, RunConfig
from agentenv.trajectory.model import timestamped_run_id

CONFIG_FILE = "config.json"
# Top-level settings that cannot change an episode's result:
# - workers, backend, address: where and how many episodes run at once;
# - output, run_id: where the run folder is (it was found, so it is this run);
# - episode_retries: attempts after a failure of the environment (a failed job is re-run on
#   resume anyway);
# - cost_limit: the run's total budget; an episode it stopped is re-run on resume, so raising
#   it is how a run that ran out of money goes on;
# - samples, instance_ids: which jobs the run has; each job's episode is the same whatever
#   the others are (sample k always has seed + k).
FREE_SETTINGS = frozenset(
    {"workers", "backend", "address", "output", "run_id", "episode_retries", "cost_limit", "samples", "instance_ids"}
)


class ConfigChanged(ValueError):
    """A resume with settings that change results; the message names them."""


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """`setting: old -> new` for every setting outside FREE_SETTINGS that differs."""
    old = _flatten({k: v for k, v in before.items() if k not in FREE_SETTINGS})
    new = _flatten({k: v for k, v in after.items() if k not in FREE_SETTINGS})
    missing = object()
    changes = []
    for key in sorted(set(old) | set(new)):
        was, now = old.get(key, missing), new.get(key, missing)
        if was != now:
            shown_was = "(not set)" if was is missing else json.dumps(was)
            shown_now = "(not set)" if now is missing else json.dumps(now)
            changes.append(f"{key}: {shown_was} -> {shown_now}")
    return changes


def stored_config(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / CONFIG_FILE
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: the run's config cannot be read ({exc}); move it away to start the run afresh") from None
    if not isinstance(stored, dict):
        raise ConfigError(f"{path}: the run's config must be a JSON object")
    return stored


def record_config(run_dir: Path, config: RunConfig, *, allow_change: bool = False) -> list[str]:
    """Write `config.json`, after checking it against the one the run was started with.

    Returns the settings that changed (only when `allow_change`; the config they replace is
    kept as `config.<UTC time>.json`). Raises ConfigChanged otherwise."""
    current = config.model_dump(mode="json")
    stored = stored_config(run_dir)
    changes = config_changes(stored, current) if stored is not None else []
    if changes and not allow_change:
        listed = "\n  ".join(changes)
        raise ConfigChanged(
            f"{run_dir} was run with another config; resuming it would mix results of both. "
            f"{len(changes)} setting(s) differ:\n  {listed}\n"
            "Resume with the same settings, choose another run id, or pass --allow-config-change "
            "(each trajectory's header keeps the config it was made with)."
        )
    if changes:
        stem, number = timestamped_run_id("config"), 1
        kept = run_dir / f"{stem}.json"
        while kept.exists():
            number += 1
            kept = run_dir / f"{stem}-{number}.json"
        (run_dir / CONFIG_FILE).replace(kept)
    write_atomically(run_dir / CONFIG_FILE, config.model_dump_json(indent=2) + "\n")
    return changes
