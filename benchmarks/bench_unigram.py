"""Unigram (SentencePiece) fast path vs tokenizers, encode vs model2vec, and private memory.

    python benchmarks/bench_unigram.py speed [--rounds 5]
    python benchmarks/bench_unigram.py memory [--pieces 250000] [--dim 256]

speed: on i18n dev text (18 languages), 1 thread, medians of interleaved rounds (wall and CPU time
of the calling thread): FastUnigram.encode_flat vs tokenizers' encode_batch_fast
(add_special_tokens=False, TOKENIZERS_PARALLELISM=false), on the three test tokenizers of
tests/_unigram_models.py; and StaticModel.encode vs model2vec's encode (use_multiprocessing=False)
on a 250k-piece Unigram static model. Ids and vectors are checked identical first. Then that
encode with ``table_memory="rows"`` against the mapped table, on all the texts and on one query.

memory: fresh processes load that 250k-piece model and encode 2,000 texts; each prints
Private_Clean + Private_Dirty of /proc/self/smaps_rollup minus the same after ``import numpy``
(fastembed_core after its vocabulary cache exists, then model2vec), and a second fastembed_core
process run while the first still holds the model; then the same pair with ``table_memory="rows"``
(each process copies the rows it gathers into private memory and keeps no table page mapped). The file-backed pages of the memory-mapped
table and vocabulary count as private in a lone process (nobody else maps them; they are clean and
reclaimable), so they are printed apart, with the anonymous part (heap, tokenizer state, Python
objects: what the process really owns); in the second process the file pages are shared. The last
line is the floor of any memory-mapped table: the distinct rows the encode gathers and the distinct
4 KB pages they lie on. A lone process reaches that floor because from_pretrained advises random
access on the table and drops the file's unmapped page cache (``fastembed_core._io.drop_page_cache``):
a file read whole (a download, model2vec's load, a copy) sits in the cache in large folios (up to
2 MB), and this kernel (6.18) maps the whole folio on a fault; pages cached 4 KB at a time are mapped
only around the ones touched. load_s is from_pretrained alone (import_s: importing the package).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.append(str(ROOT))

from bench_wordpiece import _flat, _peer, _time  # noqa: E402


def _texts(n: int) -> list[str]:
    import _unigram_models as U

    rows = U.i18n_rows()
    rows = rows[:: max(1, len(rows) // n)][:n]
    return [r["query"] for r in rows] + [r["doc"] for r in rows]


def model_dir(pieces: int, dim: int) -> Path:
    """A model2vec-layout static model over the synthetic large Unigram tokenizer (cached)."""
    import _unigram_models as U
    from _models import CACHE, write_model
    from tokenizers import Tokenizer

    path = CACHE / f"m2v-unigram-{pieces}-{dim}"
    if not (path / "model.safetensors").exists():
        tok = Tokenizer.from_file(str(U.large_unigram_file(pieces)))
        table = np.random.default_rng(0).standard_normal((tok.get_vocab_size(), dim)).astype(np.float32)
        write_model(path, tok, table)
    return path


def speed(rounds: int, pieces: int, dim: int) -> None:
    import _unigram_models as U
    import model2vec

    from fastembed_core import StaticModel, _backend
    from fastembed_core.unigram import FastUnigram

    texts = _texts(4000)
    print(f"{len(texts)} i18n texts, 1 thread, {rounds} rounds, medians (machine shared with other jobs)")
    print(f"{'tokenizer':12} {'tokenizers wall/cpu s':>22} {'fast wall/cpu s':>18} {'ratio wall':>10} "
          f"{'ratio cpu':>9} {'fallback':>8}")
    with _backend.using("compiled"):
        for style in ("xlmr", "spm", "hf", "large"):
            from tokenizers import Tokenizer

            tok = (U.trained_unigram() if style == "hf" else
                   Tokenizer.from_file(str(U.large_unigram_file(pieces))) if style == "large" else
                   U.spm_tokenizer(style))
            fast = FastUnigram.from_tokenizer(tok)
            peer, ours = [], []
            for _ in range(rounds):
                w, c, ref = _time(lambda: _peer(tok, texts))
                peer.append((w, c))
                w, c, got = _time(lambda: fast.encode_flat(texts, num_threads=1))
                ours.append((w, c))
            want = _flat(ref)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), "ids differ"
            pw, pc = (statistics.median(x) for x in zip(*peer))
            ow, oc = (statistics.median(x) for x in zip(*ours))
            print(f"{style:12} {pw:10.3f} / {pc:9.3f} {ow:8.3f} / {oc:7.3f} {pw / ow:9.1f}x {pc / oc:8.1f}x "
                  f"{fast.last_fallback_count:8d}")
        path = model_dir(pieces, dim)
        ours_m = StaticModel.from_pretrained(path)
        theirs = model2vec.StaticModel.from_pretrained(path)
        assert ours_m.tokenizer_path == "fastembed_core.unigram"
        np.testing.assert_allclose(ours_m.encode(texts, num_threads=1),
                                   theirs.encode(texts, use_multiprocessing=False), atol=1e-6)
        peer, ours = [], []
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        for _ in range(rounds):
            peer.append(_time(lambda: theirs.encode(texts, use_multiprocessing=False))[:2])
            ours.append(_time(lambda: ours_m.encode(texts, num_threads=1))[:2])
        pw, pc = (statistics.median(x) for x in zip(*peer))
        ow, oc = (statistics.median(x) for x in zip(*ours))
        print(f"{'encode ' + str(pieces // 1000) + 'k':12} {pw:10.3f} / {pc:9.3f} {ow:8.3f} / {oc:7.3f} "
              f"{pw / ow:9.1f}x {pc / oc:8.1f}x   (model2vec {model2vec.__version__} vs StaticModel.encode)")
        # table_memory="rows" vs the mapped table: the same bits; its rows copied by the first call
        rows_m = StaticModel.from_pretrained(path, table_memory="rows")
        assert rows_m.encode(texts, num_threads=1).tobytes() == ours_m.encode(texts, num_threads=1).tobytes()
        for name, batch, reps in (("all texts", texts, 1), ("1 query", texts[:1], 2000)):
            mapped, rows = [], []
            for _ in range(rounds):
                for m, acc in ((ours_m, mapped), (rows_m, rows)):
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        m.encode(batch, num_threads=1)
                    acc.append((time.perf_counter() - t0) / reps)
            mw, rw = statistics.median(mapped), statistics.median(rows)
            print(f"encode {name}: table_memory='rows' {rw * 1e3:.3f} ms, mapped {mw * 1e3:.3f} ms ({rw / mw:.2f}x the mapped time)")


CHILD = """
import json, sys, time
def private_mb():
    tot = 0
    for line in open('/proc/self/smaps_rollup'):
        if line.startswith(('Private_Clean:', 'Private_Dirty:')):
            tot += int(line.split()[1])
    return tot / 1024
def private_by_file():
    out, cur = {}, None
    for line in open('/proc/self/smaps'):
        f = line.split()
        if f and '-' in f[0] and not f[0].endswith(':'):
            cur = f[5] if len(f) > 5 and f[5].startswith('/') else '[anon]'
        elif line.startswith(('Private_Clean:', 'Private_Dirty:')):
            out[cur] = out.get(cur, 0) + int(f[1]) / 1024
    return out
import numpy as np
base = private_mb()
base_anon = private_by_file().get('[anon]', 0)
which, path, texts_file, hold = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
texts = json.load(open(texts_file))
t = time.perf_counter()
if which.startswith('fastembed_core'):
    sys.path.append(sys.argv[5])
    from fastembed_core import StaticModel
    t_imported = time.perf_counter()
    model = StaticModel.from_pretrained(path, table_memory='rows' if which.endswith('rows') else 'mapped')
    load = time.perf_counter() - t_imported
    model.encode(texts)
    extra = dict(path=model.tokenizer_path, tokenizer_loaded=model.tokenizer._tokenizer is not None)
    if model._rows is not None:
        extra.update(rows_held=len(model._rows))
    if len(sys.argv) > 6:  # the floor of any memory-mapped table: the rows and 4 KB pages encode reads
        import numpy as np
        from fastembed_core._io import read_safetensors
        ids = np.unique(model.tokenizer.encode(texts, max_length=model.max_length)[0])
        table = read_safetensors(path + '/model.safetensors')['embeddings']
        row = table.shape[1] * table.itemsize
        pages = np.unique(np.concatenate([(table.offset + ids * row) // 4096,
                                          (table.offset + ids * row + row - 1) // 4096]))
        extra.update(rows_touched=int(ids.size), rows_mb=round(ids.size * row / 2**20, 1),
                     pages_4k_touched=int(pages.size), pages_mb=round(pages.size / 256, 1))
else:
    from model2vec import StaticModel
    t_imported = time.perf_counter()
    model = StaticModel.from_pretrained(path)
    load = time.perf_counter() - t_imported
    model.encode(texts, use_multiprocessing=False)
    extra = {}
files = private_by_file()
table = sum(v for k, v in files.items() if k.endswith('.safetensors'))
vocab = sum(v for k, v in files.items() if k.endswith('.vocab'))
anon = files.get('[anon]', 0) - base_anon
print(json.dumps(dict(which=which, private_mb=round(private_mb() - base, 1), import_s=round(t_imported - t, 2),
                      load_s=round(load, 3), of_which_anonymous_mb=round(anon, 1),
                      of_which_table_mmap_mb=round(table, 1), of_which_vocab_mmap_mb=round(vocab, 1), **extra)),
      flush=True)
time.sleep(hold)
"""


def memory(pieces: int, dim: int) -> None:
    path = model_dir(pieces, dim)
    texts = _texts(1000)
    with tempfile.TemporaryDirectory() as tmp:
        tf = Path(tmp) / "texts.json"
        tf.write_text(json.dumps(texts))

        def run(which, hold=0.0, background=False, floor=False):
            cmd = [sys.executable, "-c", CHILD, which, str(path), str(tf), str(hold), str(ROOT)] + ["floor"] * floor
            if background:
                return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

        run("fastembed_core")  # builds the vocabulary cache (first load only)
        print(f"{pieces}-piece Unigram model, dim {dim}, encode {len(texts)} texts; private MB = "
              "Private_Clean + Private_Dirty (smaps_rollup) minus after `import numpy`")
        first = run("fastembed_core", hold=20.0, background=True)
        line = json.loads(first.stdout.readline())
        print("fastembed_core           ", line)
        print("fastembed_core (2nd proc)", run("fastembed_core"))
        first.wait()
        first = run("fastembed_core_rows", hold=20.0, background=True)
        print("fastembed_core, table_memory='rows'           ", json.loads(first.stdout.readline()))
        print("fastembed_core, table_memory='rows' (2nd proc)", run("fastembed_core_rows"))
        first.wait()
        print("model2vec                ", run("model2vec"))
        print("floor (rows / 4 KB pages encode reads; counted after measuring)",
              {k: v for k, v in run("fastembed_core", floor=True).items() if k.startswith(("rows", "pages"))})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["speed", "memory"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pieces", type=int, default=250_000)
    ap.add_argument("--dim", type=int, default=256)
    args = ap.parse_args()
    if args.what == "speed":
        speed(args.rounds, args.pieces, args.dim)
    else:
        memory(args.pieces, args.dim)


if __name__ == "__main__":
    main()
