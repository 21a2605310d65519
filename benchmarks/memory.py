"""Peak memory of streaming encode, and of a memory-mapped 10M-code BinaryIndex.

    python benchmarks/memory.py encode [--n 10000 1000000] [--model DIR] [--precision ubinary]
    python benchmarks/memory.py index  [--n 10000000] [--dim 256]
    python benchmarks/memory.py all

encode: each N runs in a fresh process that encodes N texts from a generator (never a list) and
reports peak RSS (``ru_maxrss``) before and after, and the size of the result. With codes
(``ubinary``, the default) the result is N * dim / 8 bytes, so a flat peak means memory is bounded
by the batch, not by the input. ``--model`` defaults to a tiny model built on the fly; pass a
model2vec directory for a realistic one.

index: builds N random codes, saves a keep=None BinaryIndex (dim bits per code), then in a fresh
process reports RSS before ``BinaryIndex.load(path, mmap=True)``, after it, and after one search
(which reads every code once; the mapped pages count in RSS but are file-backed and reclaimable).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD_PRELUDE = f"""
import json, resource, sys, os
sys.path.insert(0, {str(ROOT / 'tests')!r})
sys.path.append({str(ROOT)!r})  # last: an installed fastembed_core (e.g. a wheel under test) wins
def rss_mb():
    with open('/proc/self/statm') as fh:
        return int(fh.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

ENCODE_CHILD = CHILD_PRELUDE + """
import numpy as np
import fastembed_core as fe
n, model_dir, precision, batch = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
if model_dir == '-':
    import _models, tempfile
    model_dir = _models.make_tiny_model(tempfile.mkdtemp() + '/m', dim=64)
model = fe.StaticModel.from_pretrained(model_dir)
words = ['debian', 'package', 'library', 'python', 'tool', 'fast', 'static', 'embedding', 'search', 'the']
def texts(n):
    for i in range(n):
        yield ' '.join(words[(i * 7 + j) % len(words)] for j in range(5 + i % 20)) + f' item {i}'
model.encode(texts(batch), precision=precision, batch_size=batch)  # warm up: tokenizer caches, pool
before = peak_mb()
out = model.encode(texts(n), precision=precision, batch_size=batch)
print(json.dumps(dict(n=n, dim=model.dim, precision=precision, batch_size=batch, peak_before_mb=before,
                      peak_after_mb=peak_mb(), result_mb=out.nbytes / 2**20)))
"""

INDEX_CHILD = CHILD_PRELUDE + """
import numpy as np
import fastembed_core as fe
path = sys.argv[1]
r0 = rss_mb()
index = fe.BinaryIndex.load(path, mmap=True)
r1 = rss_mb()
q = np.random.default_rng(1).integers(0, 256, (1, index.width), dtype=np.uint8)
import time
t = time.perf_counter()
d, i = index.search(q, 10)
dt = time.perf_counter() - t
r2 = rss_mb()
print(json.dumps(dict(n=len(index), dim=index.dim, file_mb=os.path.getsize(path) / 2**20, rss_before_load_mb=r0,
                      rss_after_load_mb=r1, rss_after_search_mb=r2, search_s=dt)))
"""


def child(code: str, *args) -> dict:
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                       env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
    if r.returncode:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def encode_peak(n: int, model: str = "-", precision: str = "ubinary", batch_size: int = 1024) -> dict:
    """Peak RSS of encoding ``n`` generated texts in a fresh process (see the module docstring)."""
    return child(ENCODE_CHILD, n, model, precision, batch_size)


def index_rss(n: int, dim: int, workdir: str) -> dict:
    import numpy as np

    sys.path.append(str(ROOT))
    import fastembed_core as fe

    path = Path(workdir) / "big.idx"
    index = fe.BinaryIndex(dim, keep=None)
    rng = np.random.default_rng(0)
    width = (dim + 7) // 8
    step = 1_000_000
    for s in range(0, n, step):
        index.add(rng.integers(0, 256, (min(step, n - s), width), dtype=np.uint8))
    index.save(path)
    del index
    return child(INDEX_CHILD, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["encode", "index", "all"])
    ap.add_argument("--n", type=int, nargs="*", help="sizes (encode: 10000 1000000; index: 10000000)")
    ap.add_argument("--model", default="-", help="model2vec directory (default: a tiny model)")
    ap.add_argument("--precision", default="ubinary")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--dim", type=int, default=256, help="index: bits per code")
    args = ap.parse_args()
    if args.what in ("encode", "all"):
        sizes = args.n if args.n and args.what == "encode" else [10_000, 1_000_000]
        print("| texts | precision | batch | peak RSS before (MB) | peak RSS after (MB) | growth (MB) | result (MB) |")
        print("|---:|---|---:|---:|---:|---:|---:|")
        for n in sizes:
            r = encode_peak(n, args.model, args.precision, args.batch_size)
            print(f"| {n:,} | {r['precision']} | {r['batch_size']} | {r['peak_before_mb']:.1f} | "
                  f"{r['peak_after_mb']:.1f} | {r['peak_after_mb'] - r['peak_before_mb']:.1f} | {r['result_mb']:.1f} |")
    if args.what in ("index", "all"):
        sizes = args.n if args.n and args.what == "index" else [10_000_000]
        for n in sizes:
            with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
                r = index_rss(n, args.dim, tmp)
            print(f"index: {r['n']:,} codes x {r['dim']} bits, file {r['file_mb']:.0f} MB; RSS before load "
                  f"{r['rss_before_load_mb']:.0f} MB, after load(mmap=True) {r['rss_after_load_mb']:.0f} MB, "
                  f"after one search {r['rss_after_search_mb']:.0f} MB (search {r['search_s'] * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
