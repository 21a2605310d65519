"""IVF binary index on real text: recall@10 vs exact Hamming search and QPS at several nprobe, side by
side with faiss IndexBinaryIVF (same nlist / nprobe) and IndexBinaryHNSW; bytes per vector; an mmap
search whose RSS stays far below the index size.

    nice -n 10 python benchmarks/ivf_corpus.py --out /tmp/h15/corpus.txt.gz        # >= 1M sentences
    nice -n 10 python benchmarks/ivf_bench.py --corpus /tmp/h15/corpus.txt.gz --work /tmp/h15

Database: the corpus sentences (minus the query strings) plus the 4,000 protocol docs of the Debian
dev pairs (DESIGN.md section 9), embedded with ``StaticModel.default()`` (256 dims), binarised at the
per-dimension median. Queries: the protocol's first --queries dev queries. Recall@10 is |IVF top-10
ids & exact top-10 ids| / 10, exact = ``hamming_topk`` (ties by smaller id for both); "rescored" rows
compare both sides after the same float rescoring (x4 candidates). nDCG@10 is of the query's own doc
among all database vectors, from each method's top 10. QPS: one query per call in a loop (latency)
and one batch of all queries, both on 1 thread (faiss: omp_set_num_threads(1)); medians of --rounds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))

import fastembed_core as fc
from fastembed_core import hamming_topk, pack_bits
from fastembed_core.ivf import IVFBinaryIndex

DEV = HERE.parents[2] / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"


def protocol_pairs(n=4000):
    with gzip.open(DEV, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    random.Random(0).shuffle(rows)
    return rows[:n]


def median_time(fn, rounds):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def recall(found, exact):
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / exact.shape[1] for a, b in zip(found, exact)]))


def ndcg(found, own):
    gains = []
    for row, o in zip(found, own):
        hit = np.flatnonzero(row[:10] == o)
        gains.append(1 / np.log2(hit[0] + 2) if hit.size else 0.0)
    return float(np.mean(gains))


def build_data(args):
    emb_path = Path(args.work) / "emb.npy"
    pairs = protocol_pairs()
    queries = [r["query"] for r in pairs[: args.queries]]
    docs = [r["doc"] for r in pairs]
    model = fc.StaticModel.default()
    if not emb_path.exists():
        qset = set(queries)
        with gzip.open(args.corpus, "rt", encoding="utf-8") as fh:
            sents = [s for s in fh.read().splitlines() if s not in qset]
        if args.limit:
            sents = sents[: args.limit]
        t = time.perf_counter()
        emb = model.encode(docs + sents, num_threads=1)
        print(f"embedded {len(emb)} texts in {time.perf_counter() - t:.1f} s (1 thread)", flush=True)
        np.save(emb_path, emb)
    emb = np.load(emb_path, mmap_mode="r")
    q = model.encode(queries, num_threads=1)
    own = np.arange(len(queries))  # doc i (database row i) belongs to query i
    return np.asarray(emb), q, own


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=0, help="use only this many corpus sentences (0: all)")
    ap.add_argument("--nprobe", default="1,2,4,8,16,32,64,128")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-queries", type=int, default=200)
    ap.add_argument("--hnsw", default="16,32,64,128,256", help="efSearch values ('' to skip HNSW)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    res = {"machine": "2 cores shared with other jobs; nice -n 10; 1 thread per search"}
    emb, q, own = build_data(args)
    n, dim = emb.shape
    res["n"], res["dim"], res["nq"] = n, dim, len(q)
    threshold = np.median(emb[:: max(1, n // 200_000)], axis=0).astype(np.float32)
    codes = pack_bits(emb, threshold=threshold)
    qcodes = pack_bits(q, threshold=threshold)
    lat_q = qcodes[: args.latency_queries]

    # ---- exact Hamming (the reference and the speed baseline)
    _, exact_i = hamming_topk(qcodes, codes, 10, num_threads=1)
    t_batch = median_time(lambda: hamming_topk(qcodes, codes, 10, num_threads=1), args.rounds)
    t_lat = median_time(lambda: [hamming_topk(c, codes, 10, num_threads=1) for c in lat_q], args.rounds)
    exact_qps = {"batch": len(q) / t_batch, "single": len(lat_q) / t_lat}
    ref = fc.BinaryIndex(dim, keep="float32", threshold=threshold)
    ref.add(emb)
    exact_rescored = ref.search(q, 10, num_threads=1)[1]
    res["exact"] = {"qps": exact_qps, "ndcg10_binary": ndcg(exact_i, own), "ndcg10_rescored": ndcg(exact_rescored, own),
                    "bytes_per_vector": codes.shape[1]}
    print("exact", json.dumps(res["exact"]), flush=True)
    del ref

    # ---- ours
    t = time.perf_counter()
    ix = IVFBinaryIndex(dim, keep="int8", threshold=threshold, seed=0)
    ix.train(emb, num_threads=1)
    t_train = time.perf_counter() - t
    t = time.perf_counter()
    ix.add(emb, num_threads=1)
    len(ix.ids)  # consolidate the lists
    t_add = time.perf_counter() - t
    nlist = ix.nlist
    bpv_codes_ids = (ix._codes.nbytes + ix._ids.nbytes + ix._offsets.nbytes + ix.centroids.nbytes) / n
    res["ours"] = {"nlist": nlist, "train_s": t_train, "add_s": t_add,
                   "bytes_per_vector_codes_ids": bpv_codes_ids, "bytes_per_vector_with_int8": ix.nbytes / n, "runs": []}
    print(f"ours nlist={nlist} train {t_train:.1f}s add {t_add:.1f}s", flush=True)
    nprobes = [int(p) for p in args.nprobe.split(",") if int(p) <= nlist]
    for p in nprobes:
        found = ix.search(qcodes, 10, nprobe=p, num_threads=1)[1]
        resc = ix.search(q, 10, nprobe=p, num_threads=1)[1]
        tb = median_time(lambda p=p: ix.search(qcodes, 10, nprobe=p, num_threads=1), args.rounds)
        tl = median_time(lambda p=p: [ix.search(c, 10, nprobe=p, num_threads=1) for c in lat_q], args.rounds)
        run = {"nprobe": p, "recall10": recall(found, exact_i), "recall10_rescored": recall(resc, exact_rescored),
               "ndcg10_rescored": ndcg(resc, own), "qps_batch": len(q) / tb, "qps_single": len(lat_q) / tl,
               "speedup_single": (len(lat_q) / tl) / exact_qps["single"], "speedup_batch": (len(q) / tb) / exact_qps["batch"]}
        res["ours"]["runs"].append(run)
        print("ours", json.dumps(run), flush=True)
    ivf_path = Path(args.work) / "index.ivf"
    ix.save(ivf_path)
    ix = None

    # ---- mmap search in a fresh process: RSS vs index size
    np.save(Path(args.work) / "q.npy", q)
    probe = subprocess.run([sys.executable, str(HERE), "--mmap-child", str(ivf_path), str(Path(args.work) / "q.npy")],
                           capture_output=True, text=True, check=False)
    res["mmap"] = json.loads(probe.stdout.strip().splitlines()[-1]) if probe.returncode == 0 else {"error": probe.stderr[-2000:]}
    print("mmap", json.dumps(res["mmap"]), flush=True)

    # ---- faiss
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None:
        faiss.omp_set_num_threads(1)
        rng = np.random.default_rng(0)
        sample = codes[np.sort(rng.choice(n, min(n, 64 * nlist), replace=False))]
        t = time.perf_counter()
        fq = faiss.IndexBinaryFlat(dim)
        fivf = faiss.IndexBinaryIVF(fq, dim, nlist)
        fivf.train(sample)
        t_ftrain = time.perf_counter() - t
        t = time.perf_counter()
        fivf.add(codes)
        t_fadd = time.perf_counter() - t
        res["faiss_ivf"] = {"nlist": nlist, "train_s": t_ftrain, "add_s": t_fadd,
                            "bytes_per_vector": len(faiss.serialize_index_binary(fivf)) / n, "runs": []}
        for p in nprobes:
            fivf.nprobe = p
            found = fivf.search(qcodes, 10)[1]
            tb = median_time(lambda: fivf.search(qcodes, 10), args.rounds)
            tl = median_time(lambda: [fivf.search(c[None], 10) for c in lat_q], args.rounds)
            run = {"nprobe": p, "recall10": recall(found, exact_i), "qps_batch": len(q) / tb, "qps_single": len(lat_q) / tl}
            res["faiss_ivf"]["runs"].append(run)
            print("faiss_ivf", json.dumps(run), flush=True)
        del fivf
        if args.hnsw:
            t = time.perf_counter()
            hnsw = faiss.IndexBinaryHNSW(dim, 16)
            hnsw.hnsw.efConstruction = 40
            hnsw.add(codes)
            t_build = time.perf_counter() - t
            res["faiss_hnsw"] = {"M": 16, "efConstruction": 40, "build_s": t_build,
                                 "bytes_per_vector": len(faiss.serialize_index_binary(hnsw)) / n, "runs": []}
            print(f"hnsw build {t_build:.1f}s", flush=True)
            for ef in [int(e) for e in args.hnsw.split(",")]:
                hnsw.hnsw.efSearch = ef
                found = hnsw.search(qcodes, 10)[1]
                tb = median_time(lambda: hnsw.search(qcodes, 10), args.rounds)
                tl = median_time(lambda: [hnsw.search(c[None], 10) for c in lat_q], args.rounds)
                run = {"efSearch": ef, "recall10": recall(found, exact_i), "qps_batch": len(q) / tb,
                       "qps_single": len(lat_q) / tl}
                res["faiss_hnsw"]["runs"].append(run)
                print("faiss_hnsw", json.dumps(run), flush=True)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = json.dumps(res, indent=1)
    if args.out:
        Path(args.out).write_text(out)
    print(out)


def mmap_child(path, qpath):
    """Load an index with mmap in a fresh process, run the queries at nprobe 16, report RSS vs file size."""
    def rss():
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024
    q = np.load(qpath)
    base = rss()
    ix = IVFBinaryIndex.load(path, mmap=True)
    loaded = rss()
    ix.search(q, 10, nprobe=16, num_threads=1)
    after = rss()
    print(json.dumps({"file_mb": os.path.getsize(path) / 2**20, "rss_before_load_mb": base, "rss_after_load_mb": loaded,
                      "rss_after_search_mb": after, "queries": len(q), "nprobe": 16}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--mmap-child":
        mmap_child(sys.argv[2], sys.argv[3])
    else:
        main()
