"""Load test of ``fastembed-core serve`` on 127.0.0.1 (a benchmark: speed is printed, never asserted).

    python benchmarks/bench_serve.py --requests 20000 --clients 64 --duration 120 --workers 1 2

N concurrent keep-alive connections (plain asyncio streams, a cheap client) send ``POST /v1/embeddings`` requests of mixed batch sizes (1, 8
or 64 texts; a quarter with ``dimensions=128``, base64 responses so the client spends little time
parsing) until ``--requests`` are done or ``--duration`` seconds pass. Every response is compared with
``StaticModel.encode`` of the same texts (exact equality); any difference or error counts as a failure.
Prints throughput, p50/p99 latency and each worker's memory (smaps_rollup: Rss, Pss, private).

Texts: the Debian dev data when ``../shared/data`` has it, else ``examples/sentences.txt`` variants.
Under pytest only the smoke test runs (a few hundred requests, one worker).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

SIZES = [1] * 6 + [8] * 3 + [64]  # texts per request: 60% single, 30% eight, 10% sixty-four


def load_texts(n: int = 4000) -> list[str]:
    data = ROOT.parent / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"
    if data.exists():
        texts = []
        with gzip.open(data, "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                texts += [row["query"], row["doc"]]
                if len(texts) >= n:
                    break
        return texts
    base = (ROOT / "examples" / "sentences.txt").read_text().splitlines()
    return [f"{t} {i}" for i in range(n // len(base) + 1) for t in base][:n]


def make_requests(texts: list[str], n: int, seed: int = 0) -> list[tuple[list[int], int | None]]:
    rng = random.Random(seed)
    return [([rng.randrange(len(texts)) for _ in range(rng.choice(SIZES))], 128 if rng.random() < 0.25 else None)
            for _ in range(n)]


def _http_request(body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(data)) + data


async def _load(url: str, texts: list[str], requests: list, expected: dict, clients: int, duration: float) -> dict:
    """``clients`` keep-alive HTTP/1.1 connections (plain asyncio streams: a cheap client, so the server is
    what is measured), each sending the next request when its previous answer is in and checked."""
    host, port = url.removeprefix("http://").split(":")
    wire = [_http_request({"input": [texts[i] for i in ids], "model": "m", "encoding_format": "base64",
                           **({"dimensions": dims} if dims else {})}) for ids, dims in requests]
    latencies: list[float] = []
    failures: list[str] = []
    next_i = 0
    deadline = time.perf_counter() + duration

    async def client() -> None:
        nonlocal next_i
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while next_i < len(requests) and time.perf_counter() < deadline:
                k = next_i
                next_i += 1
                t0 = time.perf_counter()
                writer.write(wire[k])
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                payload = await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    failures.append(f"status {status}: {payload[:200]!r}")
                    continue
                ids, dims = requests[k]
                got = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), "<f4")
                                for d in json.loads(payload)["data"]])
                if not np.array_equal(got, expected[dims][ids]):
                    failures.append("vectors differ from StaticModel.encode")
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - t0
    return {"done": len(latencies), "wall": wall, "latencies": latencies, "failures": failures,
            "texts": sum(len(requests[i][0]) for i in range(len(latencies)))}


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of processes (from /proc/PID/stat)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_load(model_dir: str | None, *, workers: int, requests: int, clients: int, duration: float,
             threads: int = 1) -> dict:
    """Start a server, run the load, stop it; returns the counts, percentiles and worker memory."""
    import _serve

    from fastembed_core import StaticModel
    from fastembed_core.models import default_model_path

    model_dir = model_dir or str(default_model_path())
    model = StaticModel.from_pretrained(model_dir)
    texts = load_texts()
    expected = {None: model.encode(texts), 128: model.encode(texts, dims=128)}
    reqs = make_requests(texts, requests)
    t0 = time.perf_counter()
    model.encode(texts, num_threads=threads)
    direct = len(texts) / (time.perf_counter() - t0)  # in-process encode, same texts, for comparison
    srv = _serve.Server(model_dir, "--workers", str(workers), "--threads", str(threads))
    try:
        pids = srv.worker_pids()
        cpu0, own0 = _cpu_seconds(pids), time.process_time()
        res = asyncio.run(_load(srv.url, texts, reqs, expected, clients, duration))
        res["server_cpu"], res["client_cpu"] = _cpu_seconds(pids) - cpu0, time.process_time() - own0
        res["memory"] = {pid: _serve.private_kib(pid) for pid in pids}
    finally:
        res_rc = srv.stop()
    res["exit_code"], res["direct_texts_per_s"] = res_rc, direct
    lat = np.array(res["latencies"]) * 1e3
    res["p50_ms"], res["p99_ms"] = (float(np.percentile(lat, 50)), float(np.percentile(lat, 99))) if len(lat) else (0, 0)
    return res


def report(workers: int, res: dict) -> str:
    lines = [f"workers={workers}: {res['done']} requests ({res['texts']} texts) in {res['wall']:.1f} s -> "
             f"{res['done'] / res['wall']:.0f} req/s, {res['texts'] / res['wall']:.0f} texts/s; "
             f"latency p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms; failures {len(res['failures'])}; "
             f"exit code {res['exit_code']}",
             f"  CPU per request: server {1e3 * res['server_cpu'] / max(res['done'], 1):.2f} ms (all workers), "
             f"load client {1e3 * res['client_cpu'] / max(res['done'], 1):.2f} ms",
             f"  direct StaticModel.encode of the {len(load_texts())} texts in one call: "
             f"{res['direct_texts_per_s']:.0f} texts/s"]
    for pid, m in res["memory"].items():
        lines.append(f"  worker {pid}: Rss {m['rss'] / 1024:.1f} MiB, Pss {m['pss'] / 1024:.1f} MiB, "
                     f"private {m['private'] / 1024:.1f} MiB, shared clean {m['shared_file'] / 1024:.1f} MiB")
    lines += [f"  failure: {f}" for f in res["failures"][:5]]
    return "\n".join(lines)


def test_serve_load_smoke():
    """A bounded run: every response equals direct encoding, none fails."""
    import pytest

    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx")
    res = run_load(None, workers=1, requests=300, clients=16, duration=60)
    print(report(1, res))
    assert res["failures"] == [] and res["done"] > 0 and res["exit_code"] == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model directory (default: the bundled model)")
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--duration", type=float, default=120.0, help="cap in seconds per run")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=1, help="pooling threads per worker")
    args = ap.parse_args()
    print(f"{args.requests} requests max, {args.clients} clients, cap {args.duration:.0f} s, batch sizes "
          f"{sorted(set(SIZES))} (60/30/10%), 25% with dimensions=128")
    failed = False
    for w in args.workers:
        res = run_load(args.model, workers=w, requests=args.requests, clients=args.clients,
                       duration=args.duration, threads=args.threads)
        print(report(w, res), flush=True)
        failed |= bool(res["failures"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
