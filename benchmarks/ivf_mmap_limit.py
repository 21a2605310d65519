"""An IVF index larger than the process's memory limit, searched through memory-mapped shards.

    python benchmarks/ivf_mmap_limit.py --work /tmp/h15x/w --index /tmp/h15x/ix4096.st --shards 4 \\
        --limit-mb 384 --out benchmarks/results/ivf_mmap_limit.json

Builds (once) a ``ShardedIndex`` of the 1.1M corpus vectors of ``ivf_bench.py`` (``--work/emb.npy``)
with float32 rescoring vectors, on the quantizer of a saved ``IVFBinaryIndex`` (``--index``), then, in
a fresh child process whose data limit (RLIMIT_DATA: heap and private anonymous memory; read-only
file mappings do not count) is ``--limit-mb``, well below the size of the shard files: drops the files
from the page cache, opens the shards (memory-mapped), searches the queries one at a time with float
rescoring, and reports RSS and the results' checksum; then tries to load the shards into memory
(``mmap=False``) under the same limit, which fails. The parent checks that the child's results
equal those of an unlimited in-process search of the same shards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))

from fastembed_core.ivf import IVFBinaryIndex  # noqa: E402
from fastembed_core.shards import ShardedIndex  # noqa: E402


def rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field)) / 1024


def child(directory: str, qpath: str, limit_mb: int, nprobe: int) -> None:
    limit = limit_mb * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    q = np.load(qpath)
    for name in os.listdir(directory):  # cold start: nothing of the index in the page cache
        fd = os.open(os.path.join(directory, name), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    base = rss_mb()
    sharded = ShardedIndex.open(directory)
    sharded.search(q[0], 10, nprobe=1, num_threads=1)  # maps every shard
    opened = rss_mb()
    ids = np.stack([sharded.search(v, 10, nprobe=nprobe, num_threads=1)[1] for v in q])
    after = rss_mb()
    size = sum(os.path.getsize(sharded.shard_path(i)) for i in range(sharded.num_shards))
    peak = rss_mb("VmHWM")
    held = []
    try:
        for i in range(sharded.num_shards):
            held.append(IVFBinaryIndex.load(sharded.shard_path(i), mmap=False))
        in_memory = "loaded (the limit did not bind)"
    except MemoryError:
        in_memory = f"MemoryError at shard {len(held)} of {sharded.num_shards}"
    held = None
    print(json.dumps({"shards": sharded.num_shards, "index_files_mb": size / 2**20, "rlimit_data_mb": limit_mb,
                      "rss_before_open_mb": base, "rss_after_open_mb": opened, "rss_after_search_mb": after,
                      "peak_rss_mb": peak,
                      "queries": len(q), "nprobe": nprobe, "ids_sum": int(ids.sum()),
                      "load_shards_into_memory": in_memory}))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--index", required=True, help="a saved IVFBinaryIndex whose quantizer the shards share")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--limit-mb", type=int, default=384)
    ap.add_argument("--nprobe", type=int, default=128)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    work = Path(args.work)
    directory = work / "mmap_shards"
    qpath = work / "mmap_q.npy"
    emb = np.load(work / "emb.npy", mmap_mode="r")
    if not directory.exists():
        quantizer = IVFBinaryIndex.load(args.index)
        sharded = ShardedIndex.create(directory, quantizer, keep="float32")
        for part in np.array_split(np.arange(emb.shape[0]), args.shards):
            sharded.add_shard(np.asarray(emb[part]), part)
        sharded = None
    # queries: database vectors plus noise (no model load in the limited child)
    rng = np.random.default_rng(0)
    pick = rng.choice(emb.shape[0], args.queries, replace=False)
    q = np.asarray(emb[np.sort(pick)]) + 0.05 * rng.standard_normal((args.queries, emb.shape[1]), dtype=np.float32)
    np.save(qpath, q.astype(np.float32))
    out = subprocess.run([sys.executable, str(HERE), "--child", str(directory), str(qpath), str(args.limit_mb),
                          str(args.nprobe)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    res = json.loads(out.stdout.strip().splitlines()[-1])
    sharded = ShardedIndex.open(directory)
    want = np.stack([sharded.search(v, 10, nprobe=args.nprobe, num_threads=1)[1] for v in q])
    res["same_results_as_unlimited"] = int(want.sum()) == res["ids_sum"]
    res["command"] = " ".join(sys.argv)
    print(json.dumps(res, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
