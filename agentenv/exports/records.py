"""One record per training example, in the formats TRL (and `datasets`) read.

- sft: conversational language modeling with tools: {messages, tools}.
- rl: one episode per record: observations (the first one and one per step), actions,
  rewards, terminations, truncations, infos (a fixed set of keys, so columnar files work).
- dpo: conversational preference: {prompt, chosen, rejected} from recorded preferences and
  from outcomes (a resolved and an unresolved trajectory of the same task).
- prm: stepwise supervision: {prompt, completions, labels} from step ratings.
- kto: conversational unpaired preference: {prompt, completion, label} from outcomes.
Each record also names the trajectories it came from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import product
from typing import Any

from agentenv.exports.conversation import completion_messages, conversation, split_conversation
from agentenv.trajectory.recorder import Trajectory

Record = dict[str, Any]


@dataclass(frozen=True)
class Rating:
    trajectory_id: str
    step: int
    label: str  # correct | incorrect | neutral
    rewrite: str | None = None


@dataclass(frozen=True)
class PreferencePair:
    trajectory_a: str
    trajectory_b: str
    winner: str  # a | b | tie
    reason: str | None = None


def sft_record(trajectory: Trajectory) -> Record:
    return {
        "trajectory_id": trajectory.header.trajectory_id,
        "messages": conversation(trajectory),
        "tools": trajectory.header.tools,
    }


def _rl_info(info: dict[str, Any]) -> dict[str, Any]:
    command = info.get("command")
    return {
        "command": command.get("name") if isinstance(command, dict) else None,
        "exit_code": info.get("exit_code"),
        "error": info.get("error"),
        "duration_s": float(info.get("duration_s") or 0.0),
    }


def rl_record(trajectory: Trajectory) -> Record:
    steps = trajectory.steps
    return {
        "trajectory_id": trajectory.header.trajectory_id,
        "instance_id": trajectory.header.instance_id,
        "observations": [trajectory.header.initial_observation] + [s.observation for s in steps],
        "actions": [s.action for s in steps],
        "rewards": [s.reward for s in steps],
        "terminations": [s.terminated for s in steps],
        "truncations": [s.truncated for s in steps],
        "infos": [_rl_info(s.info) for s in steps],
        "resolved": bool(trajectory.footer and trajectory.footer.resolved),
    }


def _pair(chosen: Trajectory, rejected: Trajectory, source: str, reason: str | None = None) -> Record:
    prompt, completion = split_conversation(chosen)
    return {
        "prompt": prompt,
        "chosen": completion,
        "rejected": completion_messages(rejected),
        "tools": chosen.header.tools,
        "chosen_id": chosen.header.trajectory_id,
        "rejected_id": rejected.header.trajectory_id,
        "source": source,
        "reason": reason,
    }


def dpo_records(
    trajectories: list[Trajectory], preferences: Iterable[PreferencePair], *, max_outcome_pairs: int = 16
) -> list[Record]:
    by_id = {t.header.trajectory_id: t for t in trajectories}
    records = []
    for preference in preferences:
        if preference.winner == "tie":
            continue
        a, b = by_id.get(preference.trajectory_a), by_id.get(preference.trajectory_b)
        if a is None or b is None:
            continue  # a preference about a trajectory that is not being exported
        chosen, rejected = (a, b) if preference.winner == "a" else (b, a)
        records.append(_pair(chosen, rejected, "preference", preference.reason))
    by_task: dict[str, list[Trajectory]] = defaultdict(list)
    for trajectory in trajectories:
        by_task[trajectory.header.instance_id].append(trajectory)
    for group in by_task.values():
        won = [t for t in group if t.footer and t.footer.resolved]
        lost = [t for t in group if t.footer and not t.footer.resolved]
        for chosen, rejected in list(product(won, lost))[:max_outcome_pairs]:
            records.append(_pair(chosen, rejected, "outcome"))
    return records


def _step_text(action: str, observation: str | None) -> str:
    return action if observation is None else f"{action}\n\nObservation:\n{observation}"


def prm_records(trajectories: list[Trajectory], ratings: Iterable[Rating]) -> list[Record]:
    """Steps as completions labelled by their ratings; a step is its action and what it
    produced. The record stops at the first incorrect step (later ones are left out) or at
    the first unrated one; an incorrect step's rewrite gives a second, corrected record."""
    by_trajectory: dict[str, dict[int, Rating]] = defaultdict(dict)
    for rating in ratings:
        by_trajectory[rating.trajectory_id][rating.step] = rating  # the latest rating wins
    records = []
    for trajectory in trajectories:
        rated = by_trajectory.get(trajectory.header.trajectory_id)
        if not rated:
            continue
        prompt = trajectory.header.initial_observation
        completions: list[str] = []
        labels: list[bool] = []
        rewrite: str | None = None
        for step in trajectory.steps:
            rating = rated.get(step.index)
            if rating is None:
                break
            completions.append(_step_text(step.action, step.observation))
            labels.append(rating.label != "incorrect")
            if rating.label == "incorrect":
                rewrite = rating.rewrite
                break
        if not completions:
            continue
        base = {"prompt": prompt, "trajectory_id": trajectory.header.trajectory_id}
        records.append({**base, "completions": completions, "labels": labels, "rewritten": False})
        if rewrite:
            records.append(
                {**base, "completions": completions[:-1] + [rewrite], "labels": labels[:-1] + [True], "rewritten": True}
            )
    return records


def kto_records(trajectories: list[Trajectory]) -> list[Record]:
    records = []
    for t in trajectories:
        prompt, completion = split_conversation(t)
        records.append(
            {
                "prompt": prompt,
                "completion": completion,
                "label": bool(t.footer and t.footer.resolved),
                "tools": t.header.tools,
                "trajectory_id": t.header.trajectory_id,
            }
        )
    return records
