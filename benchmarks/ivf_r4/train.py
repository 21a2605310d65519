# ruff: noqa  (kept as run: see README.md here)
import sys, time, numpy as np
sys.path.insert(0, "/work/wt/h15")
from fastembed_core.ivf import IVFBinaryIndex
nlist, mpl, niter, name = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
codes = np.load("/tmp/h15x/codes.npy"); thr = np.load("/tmp/h15x/thr.npy")
ix = IVFBinaryIndex(256, nlist=nlist, keep=None, threshold=thr, max_points_per_list=mpl, niter=niter)
t=time.time(); ix.train(codes, num_threads=1); print("train", time.time()-t, flush=True)
ix.add(codes, num_threads=1); len(ix.ids); ix.save(f"/tmp/h15x/{name}.st")
