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
from fastembed_core.distill import save_model_dir

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
    save_model_dir(path, table, tok.to_str(), {"model_type": "model2vec", "normalize": True, "hidden_dim": 16})
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
    ('{"other": "a"}\n', ["--field", "text"], "no string field 'text'"),
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
    pytest.importorskip("fastembed_core.index")
    from fastembed_core import index as index_mod

    if not hasattr(index_mod, "BinaryIndex"):
        pytest.skip("BinaryIndex not in this build")
    docs = tmp_path / "docs.txt"
    docs.write_text("the python library\ncompress files\na network server\nfont game\nthe data tool\n")
    idx = tmp_path / "docs.idx"
    code, _, err = run(["index", docs, "-o", idx, "--model", tiny_model, "-q"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in idx.iterdir()) == ["index.bin", "meta.json", "texts.jsonl"]
    code, out, err = run(["search", idx, "compress files", "-k", "2", "--model", tiny_model, "--json"], capsys)
    assert code == 0, err
    res = json.loads(out.splitlines()[0])
    assert res["results"][0]["text"] == "compress files" and len(res["results"]) == 2
    code, out, _ = run(["search", idx, "font game", "--binary-only", "--model", tiny_model], capsys)
    assert code == 0 and "font game" in out.splitlines()[1]
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


def test_default_model_is_used_when_present(tmp_path, capsys):
    from fastembed_core.models import DEFAULT_MODEL_DIR

    if not (DEFAULT_MODEL_DIR / "model.safetensors").exists():
        pytest.skip("the default model is not built in this checkout")
    src = tmp_path / "in.txt"
    src.write_text("a python library for images\n")
    code, _, err = run(["encode", src, "-o", tmp_path / "o.npy", "-q"], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "o.npy").shape[0] == 1
