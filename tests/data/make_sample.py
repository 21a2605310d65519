"""Rewrites tests/data/debian-descriptions-sample.jsonl.gz from the full dev pairs (see README.md here).

    python tests/data/make_sample.py [path/to/debian-descriptions-dev.jsonl.gz]

5,000 rows drawn with random.Random(14), kept in the file's order; gzip with mtime 0, so the output is
byte-identical on every run.
"""

import gzip
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL = HERE.parents[2] / "shared" / "data" / "debian-descriptions-dev.jsonl.gz"
ROWS = 5000

if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else FULL
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        lines = fh.readlines()
    keep = sorted(random.Random(14).sample(range(len(lines)), ROWS))
    data = "".join(lines[i] for i in keep).encode("utf-8")
    out = HERE / "debian-descriptions-sample.jsonl.gz"
    out.write_bytes(gzip.compress(data, 9, mtime=0))
    print(f"{out}: {ROWS} of {len(lines)} rows, {out.stat().st_size} bytes")
