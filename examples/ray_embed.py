"""Embed a text corpus with Ray Data: the same script runs on a laptop and on a multi-node cluster.

    # one machine (starts a local Ray instance)
    python examples/ray_embed.py --model /path/to/static-model --input texts.jsonl.gz --output out/

    # a cluster: on the head node `ray start --head`, on every worker `ray start --address=<head>:6379`,
    # then from anywhere that reaches the head:
    ray job submit --address http://<head>:8265 --working-dir . -- \
        python examples/ray_embed.py --model /shared/static-model --input /shared/texts.jsonl.gz --output /shared/out/

The model directory (model2vec / StaticEmbedding layout) must be readable at the same path on every
node. Input: JSON lines with a "doc" (or --text-column) field, e.g. the Debian descriptions data.
Output: Parquet files with the input columns plus "embedding" (float32 [dim], or packed codes with
--precision ubinary).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="local model directory (same path on every node)")
    p.add_argument("--input", required=True, help="JSON lines file or directory (local path, s3://, ...)")
    p.add_argument("--output", required=True, help="output directory for Parquet files")
    p.add_argument("--text-column", default="doc")
    p.add_argument("--precision", default="float32", choices=["float32", "ubinary", "binary"])
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--concurrency", type=int, default=None, help="number of embedding workers (default: Ray decides)")
    p.add_argument("--limit", type=int, default=None, help="embed only the first N rows")
    args = p.parse_args()

    import ray

    from fastembed_core.integrations.ray import embed_dataset

    ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False)  # joins a cluster if there is one
    ray.data.DataContext.get_current().enable_progress_bars = False
    t0 = time.perf_counter()
    ds = ray.data.read_json(args.input)
    if args.limit:
        ds = ds.limit(args.limit)
    ds = embed_dataset(ds, args.model, text_column=args.text_column, precision=args.precision,
                       batch_size=args.batch_size, concurrency=args.concurrency)
    ds.write_parquet(args.output)
    elapsed = time.perf_counter() - t0
    out = ray.data.read_parquet(args.output)
    first = out.take(1)[0]
    print(f"cluster CPUs: {ray.cluster_resources().get('CPU')}, nodes: {len(ray.nodes())}")
    print(f"embedded {out.count()} rows in {elapsed:.1f} s -> {args.output}")
    print(f"columns: {out.columns()}; embedding of row 0: dtype {first['embedding'].dtype}, "
          f"shape {first['embedding'].shape}")


if __name__ == "__main__":
    main()
