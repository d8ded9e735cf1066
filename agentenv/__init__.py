"""agentenv: a gym-style environment where coding agents work on real repositories in
containers, and where trainers and graders get their data."""

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

ENV_ID = "agentenv/SWE-v0"

if ENV_ID not in registry:
    # A string entry point: importing agentenv stays cheap until an env is made.
    register(id=ENV_ID, entry_point="agentenv.env.swe_env:SWEEnv", nondeterministic=True)

__all__ = ["ENV_ID", "__version__"]
