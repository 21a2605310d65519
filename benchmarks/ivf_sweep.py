"""IVF sweep on real text: nlist x nprobe -> recall@10 (id-exact and distance-aware), nDCG@10 and speed
against the exact scan, ours and faiss IndexBinaryIVF side by side; optionally the 10M run (the real
vectors plus structured synthetic points around them) and faiss IndexBinaryHNSW.

    python benchmarks/ivf_sweep.py --corpus /tmp/h15/corpus.txt.gz --work /tmp/h15/w \\
        --nlist 1024,2048,4096,8192,16384 --nprobe 4,8,16,32,64,128,256 --out benchmarks/results/ivf_sweep_1m.json

Data as in ivf_bench.py (same corpus, same embedding cache ``--work/emb.npy``, same queries, bits at
the per-dimension median). Two recall definitions, computed by the same function for every index:

* id-exact recall@10: |returned ids & exact top-10 ids| / 10, the exact top 10 ordered by (distance,
  smaller id). With 256-bit codes distances tie massively (on average ~11 database codes lie within the
  exact 10th distance), so this partly measures tie-breaking;
* distance-aware recall@10 (the usual definition for ties, e.g. ann-benchmarks' distance threshold):
  a returned id counts if its exact Hamming distance to the query is <= the exact 10th-neighbour
  distance (ann-benchmarks' k-NN recall with epsilon 0). Never below the id-exact recall.

nDCG@10: the query's own doc (one relevant doc) among all database vectors, from each method's top 10,
unrescored (Hamming) and after int8 rescoring of 40 candidates (ours).
Speed: one query per call over --latency-queries queries, 1 thread (faiss: omp 1 thread), timed in
rounds alternating with the exact ``hamming_topk`` scan of the same queries; ratios are medians of the
per-round ratios (wall and process CPU). "faiss IVF (our lists)" is faiss IndexBinaryIVF given our
trained centroids (the same partition, so recall is equal and the QPS compares the scans);
"faiss IVF (own k-means)" trains faiss's own quantizer (only for --faiss-train nlists: it is slow).

--synthetic S adds S perturbed copies of every real vector (Gaussian noise of --noise x the
per-dimension standard deviation added to the float vector before binarisation), codes only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent))

from ivf_bench import build_data, dist_recall, ndcg, paired  # noqa: E402
from ivf_bench import recall as id_recall  # noqa: E402

from fastembed_core import hamming_distance, hamming_topk, pack_bits  # noqa: E402
from fastembed_core.ivf import IVFBinaryIndex  # noqa: E402


def synthetic_codes(emb, copies, noise, threshold, seed=0, chunk=100_000):
    """uint8[copies * n, width]: for each copy c and real row j (row c * n + j), the code of emb[j] plus
    Gaussian noise of ``noise`` x the per-dimension std."""
    n, dim = emb.shape
    std = emb[:: max(1, n // 200_000)].std(axis=0).astype(np.float32)
    out = np.empty((copies * n, (dim + 7) // 8), np.uint8)
    rng = np.random.default_rng(seed)
    for c in range(copies):
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            x = emb[s:e] + (noise * std) * rng.standard_normal((e - s, dim), dtype=np.float32)
            out[c * n + s : c * n + e] = pack_bits(x, threshold=threshold)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--latency-queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nlist", default="1024,2048,4096,8192,16384")
    ap.add_argument("--nprobe", default="4,8,16,32,64,128,256")
    ap.add_argument("--max-train", type=int, default=300_000, help="cap on the training sample")
    ap.add_argument("--niter", type=int, default=10)
    ap.add_argument("--faiss-train", default="", help="nlists for which faiss also trains its own quantizer")
    ap.add_argument("--hnsw", default="", help="efSearch values for faiss IndexBinaryHNSW ('' to skip)")
    ap.add_argument("--hnsw-subset", type=int, default=0, help="build HNSW on the first N vectors only (0: all)")
    ap.add_argument("--synthetic", type=int, default=0, help="perturbed copies of each real vector to add")
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--no-rescore", action="store_true", help="codes only (no int8 rescoring, no rescored nDCG)")
    ap.add_argument("--queries-10m", type=int, default=0, help="with --synthetic: use only this many queries")
    ap.add_argument("--no-faiss-lists", action="store_true", help="skip faiss IVF on our lists (its add is slow at 10M)")
    ap.add_argument("--replicas", default="1", help="comma list: lists per vector (IVFBinaryIndex replicas), "
                    "each on the same trained quantizer")
    ap.add_argument("--nprobe-r2", default="", help="nprobe values for replicas=2 (default: --nprobe)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    res = {"command": " ".join(sys.argv), "load_average_start": os.getloadavg()}
    emb, q, own = build_data(args)
    n_real, dim = emb.shape
    threshold = np.median(emb[:: max(1, n_real // 200_000)], axis=0).astype(np.float32)
    codes = pack_bits(emb, threshold=threshold)
    if args.synthetic:
        t = time.perf_counter()
        syn = synthetic_codes(emb, args.synthetic, args.noise, threshold)
        sample = hamming_distance(codes[:1000], syn[:1000], num_threads=1).diagonal()
        res["synthetic"] = {"copies": args.synthetic, "noise_x_std": args.noise,
                            "mean_hamming_copy_to_original": float(sample.mean()), "seconds": time.perf_counter() - t}
        print("synthetic", json.dumps(res["synthetic"]), flush=True)
        codes = np.concatenate([codes, syn])
        del syn
    rescore = not args.no_rescore and not args.synthetic
    if not rescore:
        emb = None
    n = codes.shape[0]
    qcodes = pack_bits(q, threshold=threshold)
    lat_q = qcodes[: args.latency_queries]
    res.update(n=n, n_real=n_real, dim=dim, nq=len(q), latency_queries=len(lat_q))

    if args.queries_10m and args.synthetic:  # fewer queries: the exact reference at 10M is slow
        q, qcodes, own = q[: args.queries_10m], qcodes[: args.queries_10m], own[: args.queries_10m]
        lat_q = qcodes[: args.latency_queries]
        res.update(nq=len(q), latency_queries=len(lat_q))
    t = time.perf_counter()
    exact_d, exact_i = hamming_topk(qcodes, codes, 10, num_threads=1)
    within = [int(np.count_nonzero(hamming_distance(qcodes[i], codes, num_threads=1)[0] <= exact_d[i, 9]))
              for i in range(min(200, len(q)))]
    res["exact"] = {"batch_s": time.perf_counter() - t, "ndcg10_binary": ndcg(exact_i, own),
                    "mean_codes_within_10th_distance": float(np.mean(within)), "bytes_per_vector": codes.shape[1]}
    print("exact", json.dumps(res["exact"]), flush=True)

    def exact_single():
        return [hamming_topk(c, codes, 10, num_threads=1) for c in lat_q]

    def measure(name, search_one, found, extra):
        tl, te, sp, cpu = paired(exact_single, lambda: [search_one(c) for c in lat_q], args.rounds)
        run = {**extra, "recall10_id": id_recall(found, exact_i), "recall10_dist": dist_recall(found, qcodes, codes, exact_d),
               "ndcg10_binary": ndcg(found, own), "qps_single": len(lat_q) / tl, "exact_qps_single": len(lat_q) / te,
               "speedup_single": sp, "speedup_single_cpu": cpu, "load_average": os.getloadavg()[0]}
        print(name, json.dumps(run), flush=True)
        return run

    try:
        import faiss
        faiss.omp_set_num_threads(1)
    except ImportError:
        faiss = None
    nprobes = [int(p) for p in args.nprobe.split(",")]
    res["ours"], res["faiss_ivf_our_lists"], res["faiss_ivf"] = [], [], []
    for nlist in [int(x) for x in args.nlist.split(",") if x]:
        keep = "int8" if rescore else None
        trained = IVFBinaryIndex(dim, nlist=nlist, keep=keep, threshold=threshold, niter=args.niter,
                                 max_points_per_list=max(1, min(64, args.max_train // nlist)))
        t = time.perf_counter()
        trained.train(emb if rescore else codes, num_threads=1)
        t_train = time.perf_counter() - t
        for replicas in [int(r) for r in args.replicas.split(",")]:
            ix = trained.empty_like(replicas=replicas)
            t = time.perf_counter()
            ix.add(emb if rescore else codes, num_threads=1)
            len(ix.ids)
            t_add = time.perf_counter() - t
            run_list(args, res, faiss, measure, ix, nlist, replicas, t_train, t_add, codes, qcodes, q, own, n, dim,
                     rescore, nprobes if replicas == 1 or not args.nprobe_r2 else [int(p) for p in args.nprobe_r2.split(",")])
            ix = None
        _dump(res, args.out)
    hnsw(args, res, faiss, codes, qcodes, lat_q, exact_d, exact_i, n, dim)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _dump(res, args.out)


def run_list(args, res, faiss, measure, ix, nlist, replicas, t_train, t_add, codes, qcodes, q, own, n, dim, rescore,
             nprobes):
    """Our index at one nlist / replicas over the nprobes; faiss IndexBinaryIVF on the same lists
    (replicas 1) and, for --faiss-train nlists, on its own k-means."""
    sizes = ix.list_sizes()
    info = {"nlist": nlist, "replicas": replicas, "train_s": t_train,
            "train_points": min(n, nlist * ix.max_points_per_list),
            "add_s": t_add, "list_sizes_min_median_max": [int(sizes.min()), float(np.median(sizes)), int(sizes.max())],
            "bytes_per_vector_codes_ids": sum(a.nbytes for a in (ix._codes, ix._ids, ix._offsets, ix.centroids)) / n,
            "bytes_per_vector": ix.nbytes / n, "runs": []}
    print("ours", json.dumps(info), flush=True)
    fx = None
    if faiss is not None and not args.no_faiss_lists and replicas == 1:
        fq = faiss.IndexBinaryFlat(dim)
        fq.add(np.ascontiguousarray(ix.centroids))
        fx = faiss.IndexBinaryIVF(fq, dim, nlist)
        fx.is_trained = True
        t = time.perf_counter()
        fx.add(codes)
        finfo = {"nlist": nlist, "add_s": time.perf_counter() - t,
                 "bytes_per_vector": len(faiss.serialize_index_binary(fx)) / n, "runs": []}
    for p in [p for p in nprobes if p <= nlist]:
        found = ix.search(qcodes, 10, nprobe=p, num_threads=1)[1]
        extra = {"nprobe": p, "replicas": replicas, "rows_scanned_fraction": float(np.mean(
            [sizes[lst].sum() for lst in _probes(ix, qcodes[:200], p)]) / n)}
        if rescore:
            extra["ndcg10_rescored"] = ndcg(ix.search(q, 10, nprobe=p, num_threads=1)[1], own)
        info["runs"].append(measure("ours", lambda c, p=p: ix.search(c, 10, nprobe=p, num_threads=1), found, extra))
        if fx is not None:
            fx.nprobe = p
            finfo["runs"].append(measure("faiss_ivf_our_lists", lambda c: fx.search(c[None], 10),
                                         fx.search(qcodes, 10)[1], {"nprobe": p}))
    res["ours"].append(info)
    if fx is not None:
        res["faiss_ivf_our_lists"].append(finfo)
    fx = None
    if faiss is not None and str(nlist) in args.faiss_train.split(",") and replicas == 1:
        rng = np.random.default_rng(0)
        sample = codes[np.sort(rng.choice(n, min(n, 39 * nlist), replace=False))]
        fx = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(dim), dim, nlist)
        fx.cp.niter = args.niter
        t = time.perf_counter()
        fx.train(sample)
        t_train = time.perf_counter() - t
        t = time.perf_counter()
        fx.add(codes)
        finfo = {"nlist": nlist, "train_s": t_train, "train_points": len(sample), "add_s": time.perf_counter() - t,
                 "bytes_per_vector": len(faiss.serialize_index_binary(fx)) / n, "runs": []}
        print("faiss_ivf", json.dumps(finfo), flush=True)
        for p in [p for p in nprobes if p <= nlist]:
            fx.nprobe = p
            finfo["runs"].append(measure("faiss_ivf", lambda c: fx.search(c[None], 10), fx.search(qcodes, 10)[1],
                                         {"nprobe": p}))
        res["faiss_ivf"].append(finfo)


def hnsw(args, res, faiss, codes, qcodes, lat_q, exact_d, exact_i, n, dim):
    if faiss is not None and args.hnsw:
        sub = codes[: args.hnsw_subset] if args.hnsw_subset else codes
        t = time.perf_counter()
        h = faiss.IndexBinaryHNSW(dim, 16)
        h.hnsw.efConstruction = 40
        h.add(sub)
        info = {"M": 16, "efConstruction": 40, "n": len(sub), "build_s": time.perf_counter() - t,
                "bytes_per_vector": len(faiss.serialize_index_binary(h)) / len(sub), "runs": []}
        print("faiss_hnsw", json.dumps(info), flush=True)
        if len(sub) < n:  # recall against the exact search over the same subset
            info["note"] = "built on a subset; recall against exact search over that subset"
        sd, si = hamming_topk(qcodes, sub, 10, num_threads=1) if len(sub) < n else (exact_d, exact_i)
        for ef in [int(e) for e in args.hnsw.split(",")]:
            h.hnsw.efSearch = ef
            found = h.search(qcodes, 10)[1]
            subset_single = lambda: [hamming_topk(c, sub, 10, num_threads=1) for c in lat_q]  # noqa: E731
            tl, te, sp, cpu = paired(subset_single, lambda: [h.search(c[None], 10) for c in lat_q], args.rounds)
            run = {"efSearch": ef, "recall10_id": id_recall(found, si), "recall10_dist": dist_recall(found, qcodes, sub, sd),
                   "qps_single": len(lat_q) / tl, "exact_qps_single": len(lat_q) / te, "speedup_single": sp,
                   "speedup_single_cpu": cpu, "load_average": os.getloadavg()[0]}
            print("faiss_hnsw", json.dumps(run), flush=True)
            info["runs"].append(run)
        res["faiss_hnsw"] = info


def _probes(ix, qcodes, nprobe):
    from fastembed_core.ivf import _nearest_lists
    return _nearest_lists(qcodes, ix.centroids, nprobe, 1)


def _dump(res, out):
    if out:
        Path(out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
