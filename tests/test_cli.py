"""The fastembed-core command: every subcommand through main(argv), exit codes and error messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastembed_core import cli
from fastembed_core import StaticModel

WORDS = ["the", "a", "of", "package", "library", "file", "files", "python", "data", "tool", "server",
         "client", "support", "for", "and", "to", "compress", "network", "font", "game", "##s"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A model2vec directory: WordPiece tokenizer over WORDS and a random 16-dim table."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]"] + WORDS)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    table = np.random.default_rng(0).standard_normal((len(vocab), 16)).astype(np.float32)
    path = tmp_path_factory.mktemp("models") / "tiny"
    StaticModel(table, tok, normalize=True).save_pretrained(path)
    return path


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_help_teaches(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "examples:" in out and "exit codes" in out
    for sub in ("encode", "index", "search", "distill", "eval", "bench", "info"):
        code, out, _ = run([sub, "--help"], capsys)
        assert code == 0 and "usage:" in out


def test_usage_errors_exit_2(capsys):
    assert run([], capsys)[0] == 2
    assert run(["frobnicate"], capsys)[0] == 2
    assert run(["encode", "x.txt"], capsys)[0] == 2  # -o missing
    assert run(["encode", "x.txt", "-o", "y.npy", "--dims", "0"], capsys)[0] == 2


def test_encode_lines_matches_model(tiny_model, tmp_path, capsys):
    from fastembed_core import StaticModel

    src = tmp_path / "in.txt"
    src.write_text("the python library\ncompress files\n\nunknown words\n", encoding="utf-8")
    out = tmp_path / "out.npy"
    code, _, err = run(["encode", src, "-o", out, "--model", tiny_model, "-q"], capsys)
    assert code == 0, err
    got = np.load(out)
    want = StaticModel.from_pretrained(tiny_model).encode(src.read_text().splitlines())
    np.testing.assert_array_equal(got, want)
    assert got.shape == (4, 16)


def test_encode_jsonl_codes_and_dims(tiny_model, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"body": t}) for t in ["the tool", "a server", "font game"]) + "\n")
    out = tmp_path / "codes.npy"
    code, _, err = run(["encode", src, "--field", "body", "-o", out, "--precision", "ubinary", "--dims", "8",
                        "--model", tiny_model, "-q"], capsys)
    assert code == 0, err
    codes = np.load(out)
    assert codes.dtype == np.uint8 and codes.shape == (3, 1)


def test_encode_stdin(tiny_model, tmp_path):
    out = tmp_path / "s.npy"
    env = dict(os.environ, PYTHONPATH=str(Path(cli.__file__).resolve().parents[1]))
    res = subprocess.run([sys.executable, "-m", "fastembed_core.cli", "encode", "-", "-o", str(out), "--model",
                          str(tiny_model), "-q"], input=b"the data\nfor python\n", capture_output=True, env=env)
    assert res.returncode == 0, res.stderr
    assert np.load(out).shape == (2, 16)


@pytest.mark.parametrize("content, fmt, message", [
    (None, [], "no such file"),
    ("", [], "no input texts"),
    ('{"text": "a"}\n{broken\n', ["--format", "jsonl"], "in.txt:2: malformed JSON"),
    ('{"other": "a"}\n', ["--field", "text"], "in.txt:1: field 'text' missing or not a string (use --field)"),
    (b"\xff\xfe bad", [], "not UTF-8"),
])
def test_encode_bad_input_is_one_line_exit_1(tiny_model, tmp_path, capsys, content, fmt, message):
    src = tmp_path / "in.txt"
    if isinstance(content, bytes):
        src.write_bytes(content)
    elif content is not None:
        src.write_text(content, encoding="utf-8")
    out = tmp_path / "out.npy"
    code, _, err = run(["encode", src, "-o", out, "--model", tiny_model, "-q", *fmt], capsys)
    assert code == 1
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_existing_output_needs_force(tiny_model, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("the tool\n")
    out = tmp_path / "out.npy"
    out.write_bytes(b"keep me")
    code, _, err = run(["encode", src, "-o", out, "--model", tiny_model, "-q"], capsys)
    assert code == 1 and "--force" in err and out.read_bytes() == b"keep me"
    code, _, _ = run(["encode", src, "-o", out, "--model", tiny_model, "-q", "--force"], capsys)
    assert code == 0 and np.load(out).shape == (1, 16)


def test_missing_model_dir(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("x\n")
    code, _, err = run(["encode", src, "-o", tmp_path / "o.npy", "--model", tmp_path / "nope", "-q"], capsys)
    assert code == 1 and "no such directory" in err


def test_index_and_search(tiny_model, tmp_path, capsys):
    docs = tmp_path / "docs.txt"
    docs.write_text("the python library\ncompress files\na network server\nfont game\nthe data tool\n")
    idx = tmp_path / "docs.idx"
    code, _, err = run(["index", docs, "-o", idx, "--model", tiny_model, "-q"], capsys)
    assert code == 0, err
    assert idx.is_file()  # one file, the format of BinaryIndex.save
    code, out, err = run(["search", idx, "compress files", "-k", "2", "--model", tiny_model, "--json"], capsys)
    assert code == 0, err
    res = json.loads(out.splitlines()[0])
    assert res["results"][0]["text"] == "compress files" and len(res["results"]) == 2
    code, out, _ = run(["search", idx, "font game", "--binary-only", "--model", tiny_model], capsys)
    assert code == 0 and "font game" in out.splitlines()[1]
    for refine in ("1", "3"):  # the asymmetric stage off / over 3x the candidates: the exact text still first
        code, out, err = run(["search", idx, "compress files", "--refine", refine, "--model", tiny_model, "--json"],
                             capsys)
        assert code == 0, err
        assert json.loads(out.splitlines()[0])["results"][0]["text"] == "compress files"
    # k larger than the index is clipped; an existing index needs --force
    assert run(["search", idx, "data", "-k", "50", "--model", tiny_model], capsys)[0] == 0
    assert run(["index", docs, "-o", idx, "--model", tiny_model, "-q"], capsys)[0] == 1
    assert run(["search", tmp_path, "x", "--model", tiny_model], capsys)[0] == 1
    assert run(["search", idx, "--model", tiny_model], capsys)[0] == 1  # no queries


def test_eval_table_and_json(tiny_model, tmp_path, capsys):
    data = tmp_path / "pairs.jsonl"
    rows = [{"query": f"{w} files", "doc": f"the {w} and {w} data"} for w in WORDS[:12]]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code, out, err = run(["eval", data, "--model", tiny_model, "--precision", "float32,int8,binary",
                          "--dims", "16,8", "--rescore", "2", "-q"], capsys)
    assert code == 0, err
    assert "ndcg@10" in out and "binary dims=8 rescore x2" in out
    code, out, err = run(["eval", data, "--model", tiny_model, "--precision", "binary", "--rescore", "2",
                          "--refine", "3", "--json", "-q"], capsys)
    assert code == 0, err
    assert set(json.loads(out)) == {"binary", "binary refine x3", "binary rescore x2", "binary refine x3 rescore x2"}
    code, out, _ = run(["eval", data, "--model", tiny_model, "--json", "-q"], capsys)
    m = json.loads(out)["float32"]
    assert 0 < m["ndcg@10"] <= 1


def test_eval_errors(tiny_model, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "a", "doc": "b"}\nnot json\n')
    code, _, err = run(["eval", bad, "--model", tiny_model, "-q"], capsys)
    assert code == 1 and "bad.jsonl:2" in err
    code, _, err = run(["eval", tmp_path / "none.jsonl", "--model", tiny_model], capsys)
    assert code == 1 and "no such file" in err
    good = tmp_path / "g.jsonl"
    good.write_text('{"query": "a", "doc": "b"}\n{"query": "c", "doc": "d"}\n')
    code, _, err = run(["eval", good, "--model", tiny_model, "--precision", "fp4", "-q"], capsys)
    assert code == 1 and "fp4" in err


def test_distill_bad_teacher(tmp_path, capsys):
    not_st = tmp_path / "plain"
    not_st.mkdir()
    (not_st / "readme.txt").write_text("hello")
    code, _, err = run(["distill", not_st, "-o", tmp_path / "out", "-q"], capsys)
    assert code == 1 and "not a sentence-transformer" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    code, _, err = run(["distill", tmp_path / "missing", "-o", tmp_path / "out", "-q"], capsys)
    assert code == 1 and "not a directory" in err


def test_distill_tiny_teacher(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from test_distill import make_teacher

    teacher = make_teacher(tmp_path / "teacher")
    out = tmp_path / "student"
    code, _, err = run(["distill", teacher, "-o", out, "--pca-dims", "8", "--dtype", "int8", "-q"], capsys)
    assert code == 0, err
    from fastembed_core import StaticModel

    assert StaticModel.from_pretrained(out).encode(["the data tool"]).shape == (1, 8)
    code, _, err = run(["distill", teacher, "-o", out, "-q"], capsys)
    assert code == 1 and "--force" in err


def test_info(tiny_model, capsys):
    code, out, _ = run(["info", "--model", tiny_model], capsys)
    assert code == 0 and "backend" in out and "StaticModel(" in out
    code, out, _ = run(["info", "--json", "--model", tiny_model], capsys)
    info = json.loads(out)
    assert info["model"]["dim"] == 16 and "kernels" in info


def test_bench_small(tiny_model, capsys):
    code, out, err = run(["bench", "--model", tiny_model, "--texts", "50", "--codes", "2000", "--repeats", "1",
                          "-q"], capsys)
    assert code == 0, err
    assert "encode 50 texts" in out and "x" in out


def test_default_model_is_used_without_model(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("a python library for images\n")
    code, _, err = run(["encode", src, "-o", tmp_path / "o.npy", "-q"], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "o.npy").shape[0] == 1


# ------------------------------------------------------------------ issue #14's CLI items, #12's front-end rules


def _docs(tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text("the python library\ncompress files\na network server\nfont game\nthe data tool\n")
    return docs


def test_version(capsys):
    from fastembed_core import __version__

    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"fastembed-core {__version__}"


def test_search_takes_options_after_the_query(tiny_model, tmp_path, capsys):
    idx = tmp_path / "d.idx"
    assert run(["index", _docs(tmp_path), "-o", idx, "--model", tiny_model, "-q"], capsys)[0] == 0
    before = run(["search", idx, "-k", "1", "--json", "--model", tiny_model, "font game", "compress"], capsys)
    after = run(["search", idx, "font game", "--model", tiny_model, "compress", "-k", "1", "--json"], capsys)
    assert before[0] == after[0] == 0 and before[1] == after[1]
    lines = [json.loads(line) for line in after[1].splitlines()]
    assert [r["query"] for r in lines] == ["font game", "compress"] and all(len(r["results"]) == 1 for r in lines)


def test_cli_index_is_the_binary_index_format(tiny_model, tmp_path, capsys):
    from fastembed_core import BinaryIndex

    idx = tmp_path / "d.idx"
    assert run(["index", _docs(tmp_path), "-o", idx, "--model", tiny_model, "-q", "--dims", "12"], capsys)[0] == 0
    index = BinaryIndex.load(idx)  # the CLI's index loads in Python ...
    assert index.dim == 12 and index.texts[1] == "compress files" and index.metadata["dims"] == 12
    # ... and an index saved from Python (with texts) is searched by the CLI
    model = StaticModel.from_pretrained(tiny_model)
    own = BinaryIndex(16)
    own.add(model.encode(["compress files", "font game"]))
    own.set_texts(["compress files", "font game"])
    own.save(tmp_path / "own.idx")
    code, out, err = run(["search", tmp_path / "own.idx", "font game", "-k", "1", "--model", tiny_model], capsys)
    assert code == 0 and "font game" in out.splitlines()[1], err
    plain = BinaryIndex(16)
    plain.add(model.encode(["x", "y"]))
    plain.save(tmp_path / "plain.idx")
    code, _, err = run(["search", tmp_path / "plain.idx", "x", "--model", tiny_model], capsys)
    assert code == 1 and "holds no texts" in err


def test_index_help_matches_what_dims_accepts(tiny_model, tmp_path, capsys):
    code, out, _ = run(["index", "--help"], capsys)
    assert code == 0 and "multiple of 8" not in out and "ceil(DIMS / 8)" in out
    code, _, err = run(["index", _docs(tmp_path), "-o", tmp_path / "i", "--dims", "5", "--model", tiny_model, "-q"],
                       capsys)
    assert code == 0, err
    code, _, err = run(["index", _docs(tmp_path), "-o", tmp_path / "j", "--dims", "17", "--model", tiny_model,
                        "-q"], capsys)
    assert code == 1 and "--dims 17" in err


def test_index_force_interrupted_keeps_the_old_index(tiny_model, tmp_path, capsys, monkeypatch):
    from fastembed_core import BinaryIndex
    from fastembed_core import index as index_mod

    idx = tmp_path / "d.idx"
    assert run(["index", _docs(tmp_path), "-o", idx, "--model", tiny_model, "-q"], capsys)[0] == 0
    other = tmp_path / "other.txt"
    other.write_text("one\ntwo\nthree\n")

    class DiskFull:
        def __init__(self, path, mode):
            self.fh = open(path, mode)
            self.writes = 0

        def write(self, data):
            self.writes += 1
            if self.writes == 3:  # header and codes are out: fail in the middle of the arrays
                raise OSError(28, "No space left on device")
            return self.fh.write(data)

        def tell(self):
            return self.fh.tell()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(index_mod, "open", DiskFull, raising=False)
    code, _, err = run(["index", other, "-o", idx, "--model", tiny_model, "-q", "--force"], capsys)
    assert code == 1 and "No space left" in err
    monkeypatch.undo()
    assert BinaryIndex.load(idx).texts[0] == "the python library"  # the old index, complete
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.idx", "docs.txt", "other.txt"]  # no temp files
    assert run(["index", other, "-o", idx, "--model", tiny_model, "-q", "--force"], capsys)[0] == 0
    assert BinaryIndex.load(idx).texts == ["one", "two", "three"]


def test_search_warns_when_the_model_differs(tiny_model, tmp_path, capsys):
    idx = tmp_path / "d.idx"
    assert run(["index", _docs(tmp_path), "-o", idx, "--model", tiny_model, "-q"], capsys)[0] == 0
    code, _, err = run(["search", idx, "font", "--model", tiny_model], capsys)
    assert code == 0 and "warning" not in err
    model = StaticModel.from_pretrained(tiny_model)
    StaticModel(model.table[:, ::-1], model.tokenizer, normalize=True).save_pretrained(tmp_path / "other")
    code, _, err = run(["search", idx, "font", "--model", tmp_path / "other"], capsys)
    assert code == 0 and "warning: the model" in err and "differs" in err


def test_eval_ternary_precision_on_a_ternary_model(tiny_model, tmp_path, capsys):
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps({"query": f"{w} files", "doc": f"the {w} data"}) for w in WORDS[:8]) + "\n")
    StaticModel.from_pretrained(tiny_model).quantize("ternary").save_pretrained(tmp_path / "tern")
    code, out, err = run(["eval", data, "--model", tmp_path / "tern", "--precision", "float32,ternary", "--json",
                          "-q"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["ternary"] == res["float32"]  # already ternary: measured as it is
    code, _, err = run(["eval", "--model", tiny_model], capsys)
    assert code == 2  # DATA is required: no data file is looked for in a development checkout


def test_info_json_into_a_closed_pipe(tiny_model):
    env = dict(os.environ, PYTHONPATH=str(Path(cli.__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "fastembed_core.cli", "info", "--json", "--model", str(tiny_model)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 0 and "BrokenPipe" not in err and "Traceback" not in err, err


def test_bench_progress_source_and_missing_data(tiny_model, tmp_path, capsys):
    argv = ["bench", "--model", tiny_model, "--texts", "20", "--codes", "2000", "--repeats", "1"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "synthetic texts" in out and "timing encode 20 texts: fastembed_core 1 thread" in err
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps({"query": f"{w} files", "doc": f"the {w}"}) for w in WORDS[:5]) + "\n")
    code, out, err = run([*argv, "--data", data, "-q"], capsys)
    assert code == 0 and f"real texts from {data}" in out and err == ""
    code, _, err = run([*argv, "--data", tmp_path / "missing.jsonl"], capsys)
    assert code == 1 and "missing.jsonl: no such file" in err


def test_bugs_keep_their_traceback(monkeypatch, capsys):
    def broken(args):
        raise TypeError("a bug")

    monkeypatch.setattr(cli, "cmd_info", broken)
    with pytest.raises(TypeError, match="a bug"):
        cli.main(["info"])


def test_shipped_code_has_no_development_checkout_paths():
    import fastembed_core

    root = Path(fastembed_core.__file__).parent
    for f in root.rglob("*.py"):
        text = f.read_text(encoding="utf-8")
        assert "shared/data" not in text.replace('" / "', "/") and "FASTEMBED_CORE_DEV_DATA" not in text, f
