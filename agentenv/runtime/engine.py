"""Talking to the Docker engine: one client factory and one retry policy.

Transient errors (the engine busy, a connection reset, a conflict while a container is being
removed) are retried with backoff; lasting ones surface as `RuntimeUnavailable` with a
sentence that says what was being done.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import docker
import docker.errors
import requests.exceptions
from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from agentenv.runtime.base import RuntimeUnavailable

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# 409: "removal of container ... is already in progress"; 502-504: the engine's own trouble.
# A 500 is retried only when its text says so: the engine uses it for lasting errors too.
_TRANSIENT_STATUS = {409, 429, 502, 503, 504}
_TRANSIENT_TEXT = ("device or resource busy", "connection reset", "timed out", "try again")
# 409s that last: the container is gone from under us (killed, the engine restarted).
_LASTING_CONFLICT_TEXT = ("is not running", "is paused", "is restarting")


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, docker.errors.NotFound | docker.errors.ImageNotFound):
        return False
    if isinstance(exc, docker.errors.APIError):
        if exc.status_code == 409 and any(text in str(exc).lower() for text in _LASTING_CONFLICT_TEXT):
            return False
        if exc.status_code in _TRANSIENT_STATUS:
            return True
        return any(text in str(exc).lower() for text in _TRANSIENT_TEXT)
    return isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.Timeout
        | ConnectionResetError
        | BrokenPipeError,
    )


engine_retry = retry(
    retry=retry_if_exception(is_transient),
    stop=stop_after_attempt(5),
    wait=wait_exponential(multiplier=0.2, max=5),
    before_sleep=before_sleep_log(log, logging.WARNING),
    reraise=True,
)


def with_engine(what: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Retry transient engine errors; report lasting ones as `RuntimeUnavailable(what: ...)`."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        retried = engine_retry(fn)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return retried(*args, **kwargs)
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                if isinstance(exc, docker.errors.NotFound | docker.errors.ImageNotFound):
                    raise
                raise RuntimeUnavailable(f"{what}: {exc}") from exc

        return wrapper

    return decorate


@functools.cache
def _shared_client() -> docker.DockerClient:
    return docker.from_env(timeout=300)


def docker_client() -> docker.DockerClient:
    """A client for the local engine; `RuntimeUnavailable` with a remedy if none answers."""
    try:
        client = _shared_client()
        engine_retry(client.ping)()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        _shared_client.cache_clear()
        raise RuntimeUnavailable(
            "no Docker engine answers (start one with scripts/start-docker-engine.sh, "
            f"or use the local runtime for trusted tasks): {exc}"
        ) from exc
    return client


def engine_answers() -> bool:
    try:
        docker_client()
    except RuntimeUnavailable:
        return False
    return True
