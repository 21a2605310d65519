# ruff: noqa  (kept as run: see README.md here)
import os, sys, time, numpy as np
sys.path.insert(0, "/work/wt/h15"); sys.path.insert(0, "/work/wt/h15/benchmarks")
from types import SimpleNamespace
from ivf_bench import build_data
from fastembed_core import pack_bits, hamming_topk
from fastembed_core.ivf import IVFBinaryIndex
nlist = int(sys.argv[1])
os.makedirs("/tmp/h15x/w", exist_ok=True)
args = SimpleNamespace(work="/tmp/h15x/w", corpus="/tmp/h15/corpus.txt.gz", queries=1000, limit=0)
emb, q, own = build_data(args)
thr = np.median(emb[:: max(1, len(emb) // 200_000)], axis=0).astype(np.float32)
codes = pack_bits(emb, threshold=thr); qc = pack_bits(q, threshold=thr)
np.save("/tmp/h15x/codes.npy", codes); np.save("/tmp/h15x/qc.npy", qc); np.save("/tmp/h15x/q.npy", q); np.save("/tmp/h15x/thr.npy", thr)
t=time.time(); ed, ei = hamming_topk(qc, codes, 10, num_threads=1); print("exact", time.time()-t, flush=True)
np.save("/tmp/h15x/ed.npy", ed); np.save("/tmp/h15x/ei.npy", ei)
ix = IVFBinaryIndex(256, nlist=nlist, keep=None, threshold=thr, max_points_per_list=64)
t=time.time(); ix.train(codes, num_threads=1); print("train", time.time()-t, flush=True)
t=time.time(); ix.add(codes, num_threads=1); len(ix.ids); print("add", time.time()-t, flush=True)
ix.save(f"/tmp/h15x/ix{nlist}.st")
