"""The network of an episode that asks for one (`limits.network: true`): a bridge network of
its own, never the host's.

What a container on a bridge network reaches depends on the engine, so the runtime measures it
once per process and says it, as a `SandboxNetworkWarning`, whenever such a container starts.
Measured here (dockerd --bridge=none --iptables=false, as scripts/start-docker-engine.sh starts
it): a user-defined bridge network can be created; a container on it cannot reach the host's
127.0.0.1, can reach the host's services that listen on all addresses (through the gateway and
the host's own addresses) and other containers, on its network or another (the host routes
between the bridges and, without iptables, filters nothing); it cannot reach the internet, and
name lookups hang 10-20 s before failing (nothing masquerades the network's addresses). An
engine with iptables adds the internet (masquerading) and keeps containers apart
(`enable_icc=false`, other networks). With `network: false` a container has a loopback
interface and nothing else.
"""

from __future__ import annotations

import logging
import socket
import threading
import warnings
from dataclasses import dataclass

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from agentenv.runtime.engine import is_transient

log = logging.getLogger(__name__)

EPISODE_NETWORK = "agentenv-episodes"
# "The internet", for a task, is first of all the package index pip uses by default.
PROBE_HOST, PROBE_PORT = "pypi.org", 443
_PROBE_SECONDS = 3


class SandboxNetworkWarning(UserWarning):
    """What a task container with a network can and cannot reach."""


@dataclass(frozen=True)
class EpisodeNetwork:
    id: str
    name: str
    subnet: str
    gateway: str


@dataclass(frozen=True)
class Reach:
    """What a container on the episode network reached when the runtime tried (None: unknown)."""

    internet: bool | None
    names_resolve: bool | None
    probe: str  # the address tried, as "host:port (ip)"


_lock = threading.Lock()
_reach: dict[str, Reach] = {}  # per network id: measured once per process


def network_mode(
    client: docker.DockerClient, wanted: bool, labels: dict[str, str]
) -> tuple[str, EpisodeNetwork | None]:
    """Docker's `network_mode` for a task container: "none", or the episode network's id.

    If the engine cannot make a network, the container gets none, and a warning says so.
    """
    if not wanted:
        return "none", None
    try:
        network = episode_network(client, labels)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        if is_transient(exc):
            raise  # the caller retries the whole start
        warnings.warn(
            f"limits.network: the engine cannot create a network for episodes ({exc}); this "
            "episode runs with no network: it reaches nothing, neither the internet nor the host.",
            SandboxNetworkWarning,
            stacklevel=3,
        )
        return "none", None
    return network.id, network


def episode_network(client: docker.DockerClient, labels: dict[str, str]) -> EpisodeNetwork:
    """The bridge network episodes share, created the first time one needs it.

    Looked up for every container (two quick calls): a network removed meanwhile (`docker
    network prune` between runs) is made again rather than named in a failing create.
    """
    with _lock:
        found = _find(client)
        if found is not None:
            return found
        try:
            client.networks.create(
                EPISODE_NETWORK,
                driver="bridge",
                check_duplicate=True,
                labels=labels,
                # Containers of different episodes must not talk to each other; only an
                # engine with iptables enforces it (the warning says which one this is).
                options={"com.docker.network.bridge.enable_icc": "false"},
            )
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: another process created it first
                raise
        found = _find(client)
        if found is None:
            raise docker.errors.NotFound(f"network {EPISODE_NETWORK} vanished after it was created")
        return found


def _find(client: docker.DockerClient) -> EpisodeNetwork | None:
    # The name filter matches parts of names; two processes racing may create two networks of
    # the same name: the oldest id wins, for everyone.
    matches = sorted(
        (n for n in client.networks.list(names=[EPISODE_NETWORK]) if n.name == EPISODE_NETWORK),
        key=lambda n: n.id,
    )
    if not matches:
        return None
    network = client.networks.get(matches[0].id)
    config = (network.attrs.get("IPAM", {}).get("Config") or [{}])[0]
    return EpisodeNetwork(
        id=network.id,
        name=network.name,
        subnet=config.get("Subnet", "?"),
        gateway=config.get("Gateway", "?"),
    )


def say_what_it_reaches(container: Container, network: EpisodeNetwork) -> None:
    """Warn, for a container that just started on `network`, what it can and cannot reach.

    The measurement is made in the first such container of this process and reused.
    """
    with _lock:
        reach = _reach.get(network.id)
        if reach is None:
            reach = _measure(container)
            _reach[network.id] = reach
            log.warning("%s", describe(network, reach))
    warnings.warn(describe(network, reach), SandboxNetworkWarning, stacklevel=3)


def describe(network: EpisodeNetwork, reach: Reach) -> str:
    if reach.internet is None:
        internet = f"whether it reaches the internet is unknown (tried {reach.probe})"
    elif reach.internet:
        internet = f"it reaches the internet ({reach.probe} answered)"
    else:
        internet = (
            f"it cannot reach the internet ({reach.probe} did not answer; an engine started "
            "without iptables, as scripts/start-docker-engine.sh does, routes no network out)"
        )
    if reach.names_resolve is False:
        internet += f", and names do not resolve (a lookup of {PROBE_HOST} failed or hung)"
    return (
        f"limits.network: episodes run on the Docker network {network.name!r} ({network.subnet}), "
        f"never on the host's network. Measured from a container on it: {internet}. It cannot "
        "reach the host's loopback (127.0.0.1); it can reach the services the host listens for "
        f"on all its addresses (through the gateway {network.gateway}), and other containers, "
        "unless the engine filters them (only an engine with iptables does)."
    )


# Each probe runs in the background and is given _PROBE_SECONDS; a probe whose program is
# missing from the image (exit 127) is "unknown", not "failed".
_PROBE_SCRIPT = r"""
probe() {
  name=$1; shift
  "$@" >/dev/null 2>&1 & pid=$!
  tries=0
  while [ $tries -lt $((PROBE_SECONDS * 10)) ]; do
    if ! kill -0 $pid 2>/dev/null; then
      wait $pid; code=$?
      case $code in 0) echo "$name ok";; 127) echo "$name unknown";; *) echo "$name failed";; esac
      return
    fi
    sleep 0.1; tries=$((tries + 1))
  done
  kill -9 $pid 2>/dev/null; echo "$name failed"
}
probe internet bash -c "exec 3<>/dev/tcp/$PROBE_IP/$PROBE_PORT" &
probe names getent hosts "$PROBE_HOST" &
wait
"""


def _measure(container: Container) -> Reach:
    try:
        address = socket.getaddrinfo(PROBE_HOST, PROBE_PORT, socket.AF_INET, socket.SOCK_STREAM)[0][
            4
        ][0]
    except OSError:
        return Reach(
            internet=None,
            names_resolve=None,
            probe=f"{PROBE_HOST}:{PROBE_PORT}, which the host cannot resolve",
        )
    probe = f"{PROBE_HOST}:{PROBE_PORT} at {address}"
    try:
        _, output = container.exec_run(
            ["bash", "-c", _PROBE_SCRIPT],
            environment={
                "PROBE_IP": str(address),
                "PROBE_PORT": str(PROBE_PORT),
                "PROBE_HOST": PROBE_HOST,
                "PROBE_SECONDS": str(_PROBE_SECONDS),
            },
        )
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        log.debug("could not probe the episode network", exc_info=True)
        return Reach(internet=None, names_resolve=None, probe=probe)
    results = dict(
        line.split(" ", 1) for line in output.decode(errors="replace").splitlines() if " " in line
    )
    verdict = {"ok": True, "failed": False}
    return Reach(
        internet=verdict.get(results.get("internet", "")),
        names_resolve=verdict.get(results.get("names", "")),
        probe=probe,
    )
