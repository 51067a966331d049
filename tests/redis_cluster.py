"""A real Redis Cluster on loopback ports, from the `redis-server` and `redis-cli` binaries.

    with running_cluster(tmp_path, masters=3, replicas=1) as cluster:
        settings = settings.model_copy(update={"redis_url": cluster.url, "redis_cluster": True,
                                               "queue_prefix": "{t1}"})

Every node is its own `redis-server --cluster-enabled yes` process (no persistence), joined with
`redis-cli --cluster create`; the context waits until every node reports `cluster_state:ok` with
all 16,384 slots served and every replica in sync, and stops every process it started.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

NODE_TIMEOUT_MS = 2000


def wait_until(condition: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Cluster:
    ports: list[int]
    processes: dict[int, subprocess.Popen[bytes]]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, decode_responses=True)

    def master_of(self, key: str) -> int:
        """The port of the master that serves `key`'s slot now."""
        with contextlib.closing(self.node(self.ports[0])) as client:
            slot = int(client.cluster("KEYSLOT", key))
            for start, end, master, *_ in client.cluster("SLOTS"):
                if int(start) <= slot <= int(end):
                    return int(master[1])
        raise AssertionError(f"no master serves slot {slot}")

    def replica_of(self, master_port: int) -> int:
        with contextlib.closing(self.node(master_port)) as client:
            info = client.info("replication")
        return int(info["slave0"]["port"])

    def fail_over_to(self, replica_port: int) -> None:
        """A manual failover (`CLUSTER FAILOVER` on the replica): it catches up with its master's
        writes, then takes its slots; the old master becomes its replica."""
        with contextlib.closing(self.node(replica_port)) as client:
            client.cluster("FAILOVER")
            wait_until(lambda: client.info("replication")["role"] == "master", timeout_s=30, what="failover")
        wait_until(self._healthy, timeout_s=30, what="cluster healthy after the failover")

    def _healthy(self) -> bool:
        for port in self.ports:
            with contextlib.closing(self.node(port)) as client:
                info = client.cluster("info")
                if info.get("cluster_state") != "ok" or int(info.get("cluster_slots_ok", 0)) != 16384:
                    return False
                replication = client.info("replication")
                if replication["role"] == "slave" and replication["master_link_status"] != "up":
                    return False
                if not self._sees_everyone(client):
                    return False
        return True

    def _sees_everyone(self, client: redis.Redis) -> bool:
        """The node knows every other node, connected, in its role (a manual failover needs the
        master to know its replica)."""
        nodes: dict[str, dict[str, Any]] = client.cluster("nodes")
        return len(nodes) == len(self.ports) and all(
            node["connected"] and "handshake" not in node["flags"] for node in nodes.values()
        )


def _free_ports(count: int) -> list[int]:
    """Ports free now, whose cluster bus port (+10,000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


@contextlib.contextmanager
def running_cluster(directory: Path, *, masters: int = 3, replicas: int = 0) -> Iterator[Cluster]:
    ports = _free_ports(masters * (1 + replicas))
    cluster = Cluster(ports, {})
    try:
        for port in ports:
            cluster.processes[port] = subprocess.Popen(
                [
                    "redis-server",
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(directory / f"nodes-{port}.conf"),
                    "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                    "--save", "",
                    "--appendonly", "no",
                    "--repl-diskless-sync-delay", "0",
                    "--dir", str(directory),
                    "--logfile", str(directory / f"redis-{port}.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        for port in ports:
            wait_until(functools.partial(_answers, cluster, port), timeout_s=20, what=f"redis {port}")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{port}" for port in ports),
             "--cluster-replicas", str(replicas), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        wait_until(cluster._healthy, timeout_s=60, what="cluster_state:ok on every node")
        yield cluster
    finally:
        for process in cluster.processes.values():
            process.terminate()
        deadline = time.monotonic() + 10
        for process in cluster.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(cluster: Cluster, port: int) -> bool:
    try:
        with contextlib.closing(cluster.node(port)) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False
