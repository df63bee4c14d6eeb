"""A Ray cluster of several nodes on this machine's loopback addresses, started as a lab
starts one (``ray start --head``, then ``ray start --address`` per extra node).

For rehearsing the cluster path on one machine, and for the tests and benchmarks that
check it: the head listens on 127.0.0.2 and node ``i`` on 127.0.0.(2+i), so nothing leaves
the machine (Ray would replace 127.0.0.1 by the machine's network address; other loopback
addresses it keeps; Linux routes all of 127.0.0.0/8 to loopback). Token authentication is
off for this cluster only (``RAY_AUTH_MODE=disabled`` in its processes' environment and in
:attr:`LoopbackCluster.env` for the drivers that join it).

    with LoopbackCluster(nodes=2, cpus_per_node=1) as cluster:
        subprocess.run([...], env={**cluster.env, "FER_RAY_ADDRESS": cluster.address})
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from fer_engine.execution.engine import ExecutionError


def _ray_cli() -> str:
    here = Path(sys.executable).with_name("ray")
    return str(here) if here.exists() else "ray"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LoopbackCluster:
    """``nodes`` Ray nodes of ``cpus_per_node`` CPUs each on 127.0.0.2, 127.0.0.3, ...;
    a context manager that stops them on exit. ``address``: the head's GCS address."""

    def __init__(self, nodes: int = 2, cpus_per_node: int = 1, timeout_s: float = 90):
        if not sys.platform.startswith("linux"):
            raise ExecutionError("A loopback cluster needs Linux (127.0.0.0/8 on loopback).")
        self.n_nodes = int(nodes)
        self.cpus = int(cpus_per_node)
        self.timeout_s = timeout_s
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        self.port = _free_port("127.0.0.2")
        self.address = f"127.0.0.2:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.start_s = float("nan")

    def _start(self, args: list[str]) -> None:
        self.procs.append(subprocess.Popen(
            [_ray_cli(), "start", *args, "--num-cpus", str(self.cpus), "--block",
             "--disable-usage-stats", "--object-store-memory", str(256 * 2**20)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True))

    def alive_nodes(self) -> int:
        out = subprocess.run([_ray_cli(), "status", "--address", self.address], env=self.env,
                             capture_output=True, text=True, timeout=60).stdout
        return out.count(" node_")

    def __enter__(self) -> "LoopbackCluster":
        started = time.monotonic()
        self._start(["--head", "--node-ip-address", "127.0.0.2", "--port", str(self.port),
                     "--include-dashboard", "false"])
        try:
            self._wait(1, started)
            for i in range(1, self.n_nodes):
                self._start(["--address", self.address, "--node-ip-address", f"127.0.0.{2 + i}"])
            self._wait(self.n_nodes, started)
        except BaseException:
            self.stop()
            raise
        self.start_s = time.monotonic() - started
        return self

    def _wait(self, n: int, started: float) -> None:
        while self.alive_nodes() < n:
            if time.monotonic() - started > self.timeout_s:
                raise ExecutionError(f"The loopback Ray cluster did not reach {n} node(s) "
                                     f"within {self.timeout_s:.0f} s.")
            time.sleep(1)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs = []

    def __exit__(self, *exc) -> None:
        self.stop()
