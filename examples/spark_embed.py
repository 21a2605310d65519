"""Embed a text corpus with Spark: the same script runs in local mode and on a cluster (docs/spark.md).

    # one machine (local mode, every core)
    python examples/spark_embed.py --model /path/to/static-model --input texts.jsonl.gz --output out/

    # a cluster: every executor can read the model directory at the same path
    spark-submit --master spark://<master>:7077 examples/spark_embed.py \
        --model /shared/static-model --input /shared/texts.jsonl.gz --output /shared/out/

Input: JSON lines with a "doc" (or --text-column) field, e.g. the Debian descriptions data. Output:
Parquet files with the input columns plus "embedding" (array<float> of dims or the model's dimension).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="local model directory (same path on every executor)")
    p.add_argument("--input", required=True, help="JSON lines file or directory (any path Spark reads)")
    p.add_argument("--output", required=True, help="output directory for Parquet files")
    p.add_argument("--text-column", default="doc")
    p.add_argument("--dims", type=int, default=None, help="Matryoshka truncation (default: all dimensions)")
    p.add_argument("--batch-size", type=int, default=1024, help="rows per encode call")
    p.add_argument("--limit", type=int, default=None, help="embed only the first N rows")
    p.add_argument("--partitions", type=int, default=None,
                   help="repartition the input first (default: to Spark's default parallelism when the input "
                        "has fewer partitions, e.g. one unsplittable .gz file)")
    args = p.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # local mode: workers use this interpreter
    from pyspark.sql import SparkSession

    from fastembed_core.integrations.spark import embed_udf

    spark = SparkSession.builder.appName("fastembed-core embed").getOrCreate()  # master from spark-submit
    spark.sparkContext.setLogLevel("WARN")
    t0 = time.perf_counter()
    df = spark.read.json(args.input)
    if args.limit:
        df = df.limit(args.limit)
    parts = args.partitions or spark.sparkContext.defaultParallelism
    if df.rdd.getNumPartitions() < parts:
        df = df.repartition(parts)
    embed = embed_udf(args.model, dims=args.dims, batch_size=args.batch_size)
    df.withColumn("embedding", embed(args.text_column)).write.mode("overwrite").parquet(args.output)
    elapsed = time.perf_counter() - t0
    out = spark.read.parquet(args.output)
    first = out.select("embedding").first()["embedding"]
    print(f"master {spark.sparkContext.master}, default parallelism {spark.sparkContext.defaultParallelism}")
    print(f"embedded {out.count()} rows in {elapsed:.1f} s -> {args.output}; embedding length {len(first)}")
    spark.stop()


if __name__ == "__main__":
    main()
