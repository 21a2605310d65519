"""``fastembed-core serve``: the real openai client and raw HTTP against a server on 127.0.0.1.

Every vector must equal ``StaticModel.encode`` bit for bit; every bad request gets the right status and
an OpenAI-shaped JSON error, and the server keeps answering afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")

import _models
import _serve

from fastembed_core import StaticModel
from fastembed_core.serve import Batcher

KEY = "test-key-17"
AUTH = {"Authorization": f"Bearer {KEY}"}
TEXTS = _models.SENTENCES + ["", "???", "a " * 300]
LIMITS = ["--max-inputs", "64", "--max-input-chars", "2000", "--max-body-bytes", "65536"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return _models.make_tiny_model(tmp_path_factory.mktemp("serve") / "tiny", weights=True)


@pytest.fixture(scope="module")
def model(model_dir):
    return StaticModel.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def server(model_dir):
    srv = _serve.Server(model_dir, "--api-key", KEY, "--threads", "1", *LIMITS)
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)


def _rows(resp) -> np.ndarray:
    return np.array([d.embedding for d in resp.data], dtype=np.float32)


def test_openai_client_float_and_base64(client, model):
    want = model.encode(TEXTS)
    got = _rows(client.embeddings.create(model="tiny", input=TEXTS, encoding_format="float"))
    np.testing.assert_array_equal(got, want)
    raw = client.embeddings.create(model="tiny", input=TEXTS, encoding_format="base64")
    assert all(isinstance(d.embedding, str) for d in raw.data)
    got64 = np.stack([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in raw.data])
    np.testing.assert_array_equal(got64, want)
    # the client's default asks for base64 and decodes it itself
    np.testing.assert_array_equal(_rows(client.embeddings.create(model="tiny", input=TEXTS)), want)
    single = client.embeddings.create(model="tiny", input=TEXTS[1], encoding_format="float")
    assert [d.index for d in single.data] == [0]
    np.testing.assert_array_equal(_rows(single)[0], model.encode(TEXTS[1]))


@pytest.mark.parametrize("fmt", ["float", "base64"])
def test_openai_client_dimensions(client, model, fmt):
    for dims in (1, 8, model.dim):
        resp = client.embeddings.create(model="tiny", input=TEXTS, dimensions=dims, encoding_format=fmt)
        if fmt == "base64":
            got = np.stack([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in resp.data])
        else:
            got = _rows(resp)
        np.testing.assert_array_equal(got, model.encode(TEXTS, dims=dims))


def test_models_and_health(client, server):
    assert [m.id for m in client.models.list().data] == ["tiny"]
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}  # no key needed


def test_tei_embed(server, model):
    r = httpx.post(server.url + "/embed", json={"inputs": TEXTS}, headers=AUTH)
    assert r.status_code == 200
    np.testing.assert_array_equal(np.array(r.json(), dtype=np.float32), model.encode(TEXTS, normalize=True))
    r = httpx.post(server.url + "/embed", json={"inputs": TEXTS[0], "normalize": False, "dimensions": 8},
                   headers=AUTH)
    np.testing.assert_array_equal(np.array(r.json(), dtype=np.float32),
                                  model.encode(TEXTS[:1], normalize=False, dims=8))


def _chunks(data: bytes):
    for i in range(0, len(data), 4096):
        yield data[i : i + 4096]


BAD = [
    # (name, path, request kwargs, status, error code)
    ("malformed json", "/v1/embeddings", {"content": b'{"input": ["a",'}, 400, "invalid_json"),
    ("not an object", "/v1/embeddings", {"json": ["a"]}, 400, "invalid_json"),
    ("not utf-8", "/v1/embeddings", {"content": b'{"input": "\xff"}'}, 400, "invalid_json"),
    ("missing input", "/v1/embeddings", {"json": {"model": "tiny"}}, 400, "invalid_type"),
    ("input a number", "/v1/embeddings", {"json": {"input": 5}}, 400, "invalid_type"),
    ("input token ids", "/v1/embeddings", {"json": {"input": [1, 2, 3]}}, 400, "invalid_type"),
    ("input null item", "/v1/embeddings", {"json": {"input": ["a", None]}}, 400, "invalid_type"),
    ("model a number", "/v1/embeddings", {"json": {"input": "a", "model": 3}}, 400, "invalid_type"),
    ("empty input", "/v1/embeddings", {"json": {"input": []}}, 400, "empty_input"),
    ("too many inputs", "/v1/embeddings", {"json": {"input": ["a"] * 65}}, 400, "too_many_inputs"),
    ("input too long", "/v1/embeddings", {"json": {"input": ["a", "b" * 2001]}}, 400, "input_too_long"),
    ("body too large", "/v1/embeddings", {"json": {"input": ["word " * 350] * 40}}, 413, "body_too_large"),
    ("chunked body too large", "/v1/embeddings", {"content": _chunks(b'{"input": "' + b"x" * 70000 + b'"}')},
     413, "body_too_large"),
    ("dimensions 0", "/v1/embeddings", {"json": {"input": "a", "dimensions": 0}}, 400, "invalid_value"),
    ("dimensions > dim", "/v1/embeddings", {"json": {"input": "a", "dimensions": 25}}, 400, "invalid_value"),
    ("dimensions a string", "/v1/embeddings", {"json": {"input": "a", "dimensions": "8"}}, 400, "invalid_value"),
    ("dimensions a bool", "/v1/embeddings", {"json": {"input": "a", "dimensions": True}}, 400, "invalid_value"),
    ("bad encoding_format", "/v1/embeddings", {"json": {"input": "a", "encoding_format": "hex"}}, 400,
     "invalid_value"),
    ("tei empty", "/embed", {"json": {"inputs": []}}, 400, "empty_input"),
    ("tei normalize a string", "/embed", {"json": {"inputs": "a", "normalize": "yes"}}, 400, "invalid_type"),
    ("tei dimensions out of range", "/embed", {"json": {"inputs": "a", "dimensions": 99}}, 400, "invalid_value"),
    ("unknown path", "/v1/completions", {"json": {"prompt": "a"}}, 404, "not_found"),
]


@pytest.mark.parametrize("name,path,kwargs,status,code", BAD, ids=[b[0] for b in BAD])
def test_bad_requests(server, model, name, path, kwargs, status, code):
    r = httpx.post(server.url + path, headers=AUTH, **kwargs)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and isinstance(err["message"], str) and err["message"]
    assert set(err) == {"message", "type", "param", "code"}
    ok = httpx.post(server.url + "/v1/embeddings", json={"input": TEXTS[:2]}, headers=AUTH)  # still serving
    np.testing.assert_array_equal(np.array([d["embedding"] for d in ok.json()["data"]], np.float32),
                                  model.encode(TEXTS[:2]))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
                                     {"Authorization": "Bearer"}], ids=["missing", "wrong", "basic", "empty"])
def test_api_key(server, headers):
    for method, path in (("POST", "/v1/embeddings"), ("GET", "/v1/models"), ("POST", "/embed")):
        r = httpx.request(method, server.url + path, json={"input": "a", "inputs": "a"}, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    bad = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model="tiny", input="a")


def test_wrong_method(server):
    r = httpx.get(server.url + "/v1/embeddings", headers=AUTH)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_concurrent_clients(server, model):
    """Many callers at once (batched together by the server) each get their own rows."""
    def call(i):
        texts = [f"{TEXTS[j % len(TEXTS)]} {i}" for j in range(i % 7 + 1)]
        r = httpx.post(server.url + "/v1/embeddings", json={"input": texts, "dimensions": 8 if i % 3 else None},
                       headers=AUTH, timeout=30)
        return texts, i % 3, np.array([d["embedding"] for d in r.json()["data"]], np.float32)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for texts, dims, got in pool.map(call, range(64)):
            np.testing.assert_array_equal(got, model.encode(texts, dims=8 if dims else None))


def test_batcher_batches_concurrent_callers(model):
    async def main():
        b = Batcher(model, max_batch=1000)
        await b.start()
        reqs = [[f"{TEXTS[j % len(TEXTS)]} {i}" for j in range(i % 5 + 1)] for i in range(40)]
        outs = await asyncio.gather(*(b.encode(r, dims=4 if i % 2 else None) for i, r in enumerate(reqs)))
        await b.stop()
        return reqs, outs, b.batches

    reqs, outs, batches = asyncio.run(main())
    for i, (r, out) in enumerate(zip(reqs, outs)):
        np.testing.assert_array_equal(out, model.encode(r, dims=4 if i % 2 else None))
    assert batches <= 4  # 40 requests queued together: one encode call per dims group (2), not 40


@pytest.mark.parametrize("workers,how", [("1", "sigterm"), ("2", "sigterm"), ("2", "ctrl-c")])
def test_graceful_shutdown_drains_in_flight(model_dir, model, workers, how):
    """SIGTERM to the server, or SIGINT to its whole process group (a terminal's Ctrl-C), while a request
    waits in the batcher: it is still answered, then the server exits 0."""
    srv = _serve.Server(model_dir, "--batch-wait-ms", "3000", "--workers", workers)
    result = {}

    def call():
        result["r"] = httpx.post(srv.url + "/v1/embeddings", json={"input": TEXTS}, timeout=30)

    # Requests answered first: the workers accept and batch (on a loaded 2-core CI machine the forked
    # workers could still be starting 0.5 s after /health answered, and the signal beat the request).
    for _ in range(int(workers)):
        call()
        assert result.pop("r").status_code == 200
    t = threading.Thread(target=call)
    t.start()
    time.sleep(1.0)  # well inside the 3 s batch wait: the request is queued when the signal comes
    if how == "ctrl-c":
        os.killpg(srv.proc.pid, signal.SIGINT)
    assert srv.stop() == 0
    t.join()
    assert result["r"].status_code == 200
    np.testing.assert_array_equal(np.array([d["embedding"] for d in result["r"].json()["data"]], np.float32),
                                  model.encode(TEXTS))
    with pytest.raises(httpx.TransportError):
        httpx.get(srv.url + "/health", timeout=2)


@pytest.mark.parametrize("table_memory", ["mapped", "rows"])
def test_two_workers(model_dir, model, table_memory):
    # forked workers, each with a thread pool (and with "rows" each with its own row cache, filled after fork)
    srv = _serve.Server(model_dir, "--workers", "2", "--threads", "2", "--table-memory", table_memory)
    try:
        pids = srv.worker_pids()
        assert len(pids) == 2
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for got in pool.map(lambda i: _rows(client.embeddings.create(model="m", input=TEXTS, dimensions=8)),
                                range(24)):
                np.testing.assert_array_equal(got, model.encode(TEXTS, dims=8))
        for pid in pids:
            mem = _serve.private_kib(pid)
            assert mem["private"] < mem["rss"]  # some of each worker's pages are shared
    finally:
        assert srv.stop() == 0


def test_cli_bad_model(tmp_path, capsys):
    from fastembed_core.cli import main

    assert main(["serve", str(tmp_path / "missing"), "--port", str(_serve.free_port())]) == 1
    assert "missing" in capsys.readouterr().err


def test_batcher_isolates_a_failing_request(model):
    """An encode failure goes to the request that caused it, not to the others batched with it."""
    class Picky:
        dim = model.dim

        def encode(self, texts, **kw):
            if "boom" in texts:
                raise ValueError("cannot encode 'boom'")
            return model.encode(texts, **kw)

    async def main():
        b = Batcher(Picky())
        await b.start()
        res = await asyncio.gather(b.encode(["a", "b"]), b.encode(["boom"]), b.encode(["c"]), return_exceptions=True)
        await b.stop()
        return res

    ok1, bad, ok2 = asyncio.run(main())
    assert isinstance(bad, ValueError)
    np.testing.assert_array_equal(ok1, model.encode(["a", "b"]))
    np.testing.assert_array_equal(ok2, model.encode(["c"]))


def test_api_key_from_environment(monkeypatch):
    from fastembed_core.cli import build_parser

    monkeypatch.setenv("FASTEMBED_CORE_API_KEY", "from-env")
    args = build_parser().parse_args(["serve", "some/model"])
    assert args.api_key == "from-env" and args.host == "127.0.0.1" and args.workers == 1
    assert build_parser().parse_args(["serve", "--api-key", "flag"]).api_key == "flag"
    monkeypatch.delenv("FASTEMBED_CORE_API_KEY")
    assert build_parser().parse_args(["serve"]).api_key is None


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_stop_with_a_killed_parent(model_dir):
    """SIGKILL of the main process (no forwarding possible): the forked workers notice and exit."""
    srv = _serve.Server(model_dir, "--workers", "2")
    pids = srv.worker_pids()
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.2)
    assert not any(_running(p) for p in pids)
