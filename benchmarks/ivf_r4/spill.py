# ruff: noqa  (kept as run: see README.md here)
import sys, time, numpy as np
sys.path.insert(0, "/work/wt/h15"); sys.path.insert(0, "/work/wt/h15/benchmarks")
from fastembed_core import _backend, hamming_topk
from fastembed_core.ivf import IVFBinaryIndex
from ivf_bench import recall, dist_recall
nlist = int(sys.argv[1])
codes = np.load("/tmp/h15x/codes.npy"); qc = np.load("/tmp/h15x/qc.npy")
ed = np.load("/tmp/h15x/ed.npy"); ei = np.load("/tmp/h15x/ei.npy")
ix = IVFBinaryIndex.load(f"/tmp/h15x/{sys.argv[4]}.st", mmap=False)
cents = ix.centroids
t = time.time(); d2, l2 = hamming_topk(codes, cents, 2, num_threads=1); print("assign2", time.time() - t, flush=True)
n = len(codes)
def lists_for(tol):
    sp = np.flatnonzero(d2[:, 1] - d2[:, 0] <= tol) if tol >= 0 else np.empty(0, np.int64)
    lst = np.concatenate([l2[:, 0], l2[sp, 1]]); rid = np.concatenate([np.arange(n), sp])
    order = np.lexsort((rid, lst))
    off = np.zeros(nlist + 1, np.int64); np.cumsum(np.bincount(lst, minlength=nlist), out=off[1:])
    return codes[rid[order]], rid[order].astype(np.int64), off, len(sp) / n
for tol in [int(x) for x in sys.argv[3].split(",")]:
    c, ids, off, frac_sp = lists_for(tol)
    sizes = np.diff(off)
    for p in [int(x) for x in sys.argv[2].split(",")]:
        pr = np.empty((len(qc), p), np.int64); _backend.kernels.ivf_probe(qc, cents, p, pr)
        d = np.empty((len(qc), 30), np.int32); r = np.empty((len(qc), 30), np.int64)
        _backend.kernels.ivf_topk(qc, c, ids, off[pr], off[pr + 1], 30, d, r)
        f = ids[r]
        found = np.array([list(dict.fromkeys(row.tolist()))[:10] for row in f])
        print(f"tol {tol:2d} spilled {frac_sp:.2f} nprobe {p:4d} id {recall(found, ei):.3f} dist {dist_recall(found, qc, codes, ed):.3f} rows {sizes[pr].sum(1).mean() / n * 100:.2f}%", flush=True)
