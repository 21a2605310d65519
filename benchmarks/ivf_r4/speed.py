# ruff: noqa  (kept as run: see README.md here)
"""nlist 8192 at 1.1M, replicas 1 and 2 on the same saved quantizer (ix8192.st, trained by prep2.py:
k-majority, 36 points per list = 294,912 codes, 10 iterations): recall and paired single-query speed."""
import sys, json, os, time, numpy as np
sys.path.insert(0, "/work/wt/h15"); sys.path.insert(0, "/work/wt/h15/benchmarks")
from fastembed_core import hamming_topk
from fastembed_core.ivf import IVFBinaryIndex, _nearest_lists
from ivf_bench import recall, dist_recall, paired
codes = np.load("/tmp/h15x/codes.npy"); qc = np.load("/tmp/h15x/qc.npy")
ed = np.load("/tmp/h15x/ed.npy"); ei = np.load("/tmp/h15x/ei.npy")
one = IVFBinaryIndex.load("/tmp/h15x/ix8192.st", mmap=False)
t = time.perf_counter(); two = one.empty_like(replicas=2); two.add(codes, num_threads=1); len(two.ids); t_add = time.perf_counter() - t
lat = qc[:200]
ex = lambda: [hamming_topk(c, codes, 10, num_threads=1) for c in lat]
out = {"n": len(codes), "nlist": 8192, "add_s_replicas2": t_add, "runs": []}
for R, idx, ps in [(2, two, [int(x) for x in sys.argv[2].split(",")]), (1, one, [int(x) for x in sys.argv[1].split(",")])]:
    sizes = idx.list_sizes()
    for p in ps:
        f = idx.search(qc, 10, nprobe=p, num_threads=1)[1]
        tl, te, sp, cpu = paired(ex, lambda: [idx.search(c, 10, nprobe=p, num_threads=1) for c in lat], 5)
        run = {"replicas": R, "nprobe": p, "rows_scanned_fraction": float(np.mean([sizes[l].sum() for l in _nearest_lists(qc[:200], idx.centroids, p, 1)]) / len(codes)),
               "recall10_id": recall(f, ei), "recall10_dist": dist_recall(f, qc, codes, ed), "speedup_single": sp, "speedup_single_cpu": cpu,
               "qps_single": len(lat) / tl, "exact_qps_single": len(lat) / te, "load_average": os.getloadavg()[0]}
        print(json.dumps(run), flush=True)
        out["runs"].append(run)
        open("/work/wt/h15/benchmarks/results/ivf_1m_nlist8192_distinct.json", "w").write(json.dumps(out, indent=1))
