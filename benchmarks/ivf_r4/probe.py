# ruff: noqa  (kept as run: see README.md here)
import sys, time, numpy as np
sys.path.insert(0, "/work/wt/h15"); sys.path.insert(0, "/work/wt/h15/benchmarks")
from fastembed_core import _backend
from fastembed_core.ivf import IVFBinaryIndex
from ivf_bench import recall, dist_recall
nlist = int(sys.argv[1])
codes = np.load("/tmp/h15x/codes.npy"); qc = np.load("/tmp/h15x/qc.npy"); q = np.load("/tmp/h15x/q.npy")
ed = np.load("/tmp/h15x/ed.npy"); ei = np.load("/tmp/h15x/ei.npy")
ix = IVFBinaryIndex.load(f"/tmp/h15x/ix{nlist}.st", mmap=False)
c, ids, off = ix._codes, ix._ids, ix._offsets
sizes = np.diff(off)
# soft centroids: mean of the +-1 expansion of members
bits = np.unpackbits(c, axis=1).astype(np.float32)
sums = np.add.reduceat(bits, off[:-1], axis=0)
mean = sums / np.maximum(sizes, 1)[:, None]
soft = 2 * mean - 1  # in [-1, 1]
qpm = np.unpackbits(qc, axis=1).astype(np.float32) * 2 - 1
emb = np.load("/tmp/h15x/w/emb.npy", mmap_mode="r")
fc = np.add.reduceat(np.asarray(emb)[ids], off[:-1], axis=0) / np.maximum(sizes, 1)[:, None]
def probes_ham(p):
    out = np.empty((len(qc), p), np.int64); _backend.kernels.ivf_probe(qc, ix.centroids, p, out); return out
def probes_score(score, p):  # lower better
    return np.sort(np.argsort(score, axis=1, kind="stable")[:, :p], axis=1)
s_soft = (-(qpm @ soft.T) + 0*0)  # L2^2 to soft = const + |c|^2 - 2 q.c
s_soft_l2 = ((soft**2).sum(1)[None, :] - 2 * (qpm @ soft.T))
qn = q / np.linalg.norm(q, axis=1, keepdims=True)
fcn = fc / np.linalg.norm(fc, axis=1, keepdims=True)
s_fcos = -(qn @ fcn.T)
s_fl2 = (fc**2).sum(1)[None, :] - 2 * q @ fc.T
def evalp(pr):
    st = off[pr]; en = off[pr + 1]
    d = np.empty((len(qc), 10), np.int32); r = np.empty((len(qc), 10), np.int64)
    _backend.kernels.ivf_topk(qc, c, ids, st, en, 10, d, r)
    found = ids[r]
    return recall(found, ei), dist_recall(found, qc, codes, ed), sizes[pr].sum(1).mean() / len(codes)
for p in [int(x) for x in sys.argv[2].split(",")]:
    for name, pr in [("ham", probes_ham(p)), ("soft_dot", probes_score(s_soft, p)), ("soft_l2", probes_score(s_soft_l2, p)),
                     ("float_cos", probes_score(s_fcos, p)), ("float_l2", probes_score(s_fl2, p))]:
        r_id, r_d, frac = evalp(pr)
        print(f"nprobe {p:4d} {name:10s} id {r_id:.3f} dist {r_d:.3f} rows {frac*100:.2f}%", flush=True)
