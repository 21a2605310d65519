"""Start and stop a real ``fastembed-core serve`` process on 127.0.0.1 (tests and benchmarks/bench_serve.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fastembed_core


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``fastembed-core serve MODEL --port <free port> *args`` as a subprocess; ``url`` once healthy."""

    def __init__(self, model: str | os.PathLike, *args: str, timeout: float = 60.0) -> None:
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # the server imports the same fastembed_core as this process (the worktree's, or an installed wheel's)
        home = Path(fastembed_core.__file__).resolve().parents[1]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(home), os.environ.get("PYTHONPATH", "")]))
        self.log = tempfile.TemporaryFile()  # not a pipe: a full pipe would block the server
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastembed_core.cli", "serve", str(model), "--port", str(self.port),
             "--log-level", "warning", *args], cwd=tempfile.gettempdir(), env=env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)  # its own process group
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read().decode()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not become healthy in time")
            time.sleep(0.1)

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the main process), or [main] with one worker."""
        kids = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            kids += [int(p) for p in (task / "children").read_text().split()]
        # skip multiprocessing's resource tracker, also a child
        kids = [k for k in kids if b"resource_tracker" not in Path(f"/proc/{k}/cmdline").read_bytes()]
        return kids or [self.proc.pid]

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful: in-flight requests are drained), then wait; returns the exit code (0 also when
        the process ended by the SIGTERM / SIGINT that uvicorn re-raises after its graceful shutdown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return 0 if self.proc.returncode in (-signal.SIGTERM, -signal.SIGINT) else self.proc.returncode


def private_kib(pid: int) -> dict[str, int]:
    """Rss, Pss and private (Private_Clean + Private_Dirty) KiB of a process, from smaps_rollup."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        fields[key] = int(rest.split()[0])
    return {"rss": fields["Rss"], "pss": fields["Pss"], "private": fields["Private_Clean"] + fields["Private_Dirty"],
            "shared_file": fields.get("Shared_Clean", 0)}
