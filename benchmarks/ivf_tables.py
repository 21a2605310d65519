"""Markdown tables from ivf_sweep.py results: ``python benchmarks/ivf_tables.py benchmarks/results/ivf_sweep_1m.json``."""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    r = json.load(open(path))
    print(f"n = {r['n']:,} ({r['n_real']:,} real), {r['nq']} queries, latency over {r['latency_queries']}; "
          f"exact: nDCG@10 {r['exact']['ndcg10_binary']:.3f}, "
          f"{r['exact']['mean_codes_within_10th_distance']:.1f} codes within the 10th distance on average\n")
    faiss_own = {f["nlist"]: f for f in r.get("faiss_ivf", [])}
    print("| nlist | replicas | nprobe | rows scanned | recall@10 id / dist | nDCG@10 (rescored) | ours: speedup 1 query wall / CPU "
          "| faiss IVF, same lists: speedup wall / CPU | faiss IVF own k-means: recall id / dist, speedup |")
    print("|---|---|---|---|---|---|---|---|---|")
    same_lists = {f["nlist"]: f for f in r.get("faiss_ivf_our_lists", [])}
    for ours in r["ours"]:
        fl = same_lists.get(ours["nlist"]) if ours.get("replicas", 1) == 1 else None
        own = {x["nprobe"]: x for x in faiss_own.get(ours["nlist"], {}).get("runs", [])}
        fruns = {x["nprobe"]: x for x in (fl or {}).get("runs", [])}
        for run in ours["runs"]:
            p = run["nprobe"]
            f, o = fruns.get(p), own.get(p)
            nd = f"{run['ndcg10_binary']:.3f}" + (f" ({run['ndcg10_rescored']:.3f})" if "ndcg10_rescored" in run else "")
            print(f"| {ours['nlist']} | {ours.get('replicas', 1)} | {p} | {100 * run['rows_scanned_fraction']:.1f}% | "
                  f"{run['recall10_id']:.3f} / **{run['recall10_dist']:.3f}** | {nd} | "
                  f"**{run['speedup_single']:.1f}x** / {run['speedup_single_cpu']:.1f}x | "
                  + (f"{f['speedup_single']:.1f}x / {f['speedup_single_cpu']:.1f}x | " if f else " | ")
                  + (f"{o['recall10_id']:.3f} / {o['recall10_dist']:.3f}, {o['speedup_single']:.1f}x |" if o else " |"))
    print()
    for o in r["ours"]:
        print(f"- ours nlist {o['nlist']} replicas {o.get('replicas', 1)}: train {o['train_s']:.0f} s on {o['train_points']:,} points, add {o['add_s']:.0f} s, "
              f"list sizes {o['list_sizes_min_median_max']}, {o['bytes_per_vector_codes_ids']:.1f} B/vector codes+ids, "
              f"{o['bytes_per_vector']:.1f} with rescoring vectors")
    for f in r.get("faiss_ivf", []):
        print(f"- faiss IVF own k-means nlist {f['nlist']}: train {f['train_s']:.0f} s on {f['train_points']:,} points, "
              f"add {f['add_s']:.0f} s, {f['bytes_per_vector']:.1f} B/vector")
    h = r.get("faiss_hnsw")
    if h:
        print(f"- faiss HNSW M={h['M']} efC={h['efConstruction']} on {h['n']:,} vectors: build {h['build_s']:.0f} s, "
              f"{h['bytes_per_vector']:.1f} B/vector; " + "; ".join(
                  f"ef {x['efSearch']}: recall {x['recall10_id']:.3f} / {x['recall10_dist']:.3f}, {x['speedup_single']:.1f}x"
                  for x in h["runs"]))
    if "synthetic" in r:
        print(f"- synthetic: {r['synthetic']}")
    print(f"- peak RSS {r.get('peak_rss_mb', 0):.0f} MB; command: `{r['command']}`")


if __name__ == "__main__":
    main(sys.argv[1])
