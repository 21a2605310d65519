"""``fastembed-core serve MODEL``: an HTTP embedding service (extra ``[serve]``: Starlette + uvicorn).

Endpoints (JSON in, JSON out):

- ``POST /v1/embeddings`` (OpenAI): ``{"input": str | [str], "model": str, "encoding_format": "float" |
  "base64", "dimensions": int}`` -> ``{"object": "list", "data": [{"object": "embedding", "index": i,
  "embedding": [float] | base64 of little-endian float32}], "model": ..., "usage": {...}}``.
  ``dimensions`` keeps the first dimensions (Matryoshka), renormalised when the model normalises.
  ``usage`` is reported as 0 tokens (counting them would tokenize every text a second time).
- ``GET /v1/models`` (OpenAI): the one served model.
- ``POST /embed`` (Hugging Face text-embeddings-inference): ``{"inputs": str | [str], "normalize": bool
  (default true), "dimensions": int}`` -> ``[[float], ...]``.
- ``GET /health``: ``{"status": "ok"}`` (never needs the API key).

The vectors are exactly ``StaticModel.encode(texts, dims=dimensions)`` (``normalize=`` for ``/embed``).
Requests are batched across concurrent callers: while one batch is being encoded (in a thread, the
kernels release the GIL) the next requests queue, and the whole queue (up to ``max_batch`` texts) is
encoded in one call. Errors use OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``:
400 bad request (malformed JSON, wrong types, empty input, too many inputs, an input too long,
``dimensions`` out of range), 401 missing or wrong API key, 404/405, 413 body too large.

Several workers (``--workers N``): the model is loaded once, the socket bound, then N uvicorn worker
processes are forked, so the code, the tokenizer and the read-only memory-mapped table are shared
copy-on-write (POSIX only). SIGINT/SIGTERM stop accepting connections and drain in-flight requests
(up to ``--graceful-timeout`` seconds) in every worker.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Batcher", "ServeConfig", "add_parser", "create_app", "run"]

API_KEY_ENV = "FASTEMBED_CORE_API_KEY"


def _starlette() -> Any:
    try:
        import starlette  # noqa: F401 (availability check)
        import uvicorn  # noqa: F401
    except ImportError:
        raise ImportError("fastembed-core serve needs Starlette and uvicorn: pip install 'fastembed-core[serve]'") from None


@dataclass
class ServeConfig:
    """The server's settings (``fastembed-core serve`` options)."""

    model: str | None = None  # model directory; None = the bundled default model
    model_name: str | None = None  # the id reported by /v1/models (default: the directory name)
    api_key: str | None = None
    num_threads: int | None = None  # pooling threads per encode call (None: all cores)
    max_body_bytes: int = 4 * 1024 * 1024
    max_inputs: int = 2048  # texts per request
    max_input_chars: int = 100_000  # characters per text
    max_batch: int = 2048  # texts per encode call across queued requests
    batch_wait_ms: float = 0.0  # extra wait for more requests before encoding a batch
    table_memory: str = "mapped"  # "rows": each worker copies the rows it gathers (StaticModel)


class APIError(Exception):
    """An error answered as ``{"error": {...}}`` with ``status``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


# ------------------------------------------------------------------------------------------- batching


class Batcher:
    """Encodes the texts of concurrent requests together.

    ``await encode(texts, dims=, normalize=)`` returns float32 ``[len(texts), dims or dim]`` equal to
    ``model.encode(texts, dims=dims, normalize=normalize)``. One loop task takes every queued request
    (up to ``max_batch`` texts, at least one request), encodes each (dims, normalize) group with one
    ``model.encode`` call in a worker thread and hands each request its rows.
    """

    def __init__(self, model: Any, *, max_batch: int = 2048, wait_ms: float = 0.0, num_threads: int | None = None):
        self.model, self.max_batch, self.wait, self.num_threads = model, max_batch, wait_ms / 1000.0, num_threads
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.batches = 0  # encode calls made (for tests and the benchmark)

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Finish what is queued, then stop the loop."""
        if self.task is None:
            return
        await self.queue.put(None)
        await self.task
        self.task = None

    async def encode(self, texts: list[str], *, dims: int | None = None, normalize: bool | None = None) -> np.ndarray:
        if self.task is None or self.task.done():
            raise APIError(503, "the server is shutting down", type="server_error")
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, dims, normalize, fut))
        return await fut

    async def _loop(self) -> None:
        stopping = False
        while not stopping:
            item = await self.queue.get()
            if item is None:
                break
            if self.wait:
                await asyncio.sleep(self.wait)
            items, n = [item], len(item[0])
            while n < self.max_batch and not self.queue.empty():
                nxt = self.queue.get_nowait()
                if nxt is None:
                    stopping = True  # encode what came before the stop marker, then leave
                    break
                items.append(nxt)
                n += len(nxt[0])
            groups: dict[tuple, list] = {}
            for it in items:
                groups.setdefault((it[1], it[2]), []).append(it)
            for (dims, normalize), group in groups.items():
                await self._encode_group(group, dims, normalize)

    async def _encode_group(self, group: list, dims: int | None, normalize: bool | None) -> None:
        texts = [t for it in group for t in it[0]]
        try:
            vecs = await asyncio.to_thread(self.model.encode, texts, dims=dims, normalize=normalize,
                                           num_threads=self.num_threads, batch_size=max(1, len(texts)))
            self.batches += 1
        except Exception as exc:  # it goes to the request(s) that caused it
            if len(group) > 1:  # one request's texts must not fail the others batched with it
                for it in group:
                    await self._encode_group([it], dims, normalize)
            elif not group[0][3].done():
                group[0][3].set_exception(exc)
            return
        start = 0
        for it in group:
            if not it[3].done():  # a caller that went away has a cancelled future
                it[3].set_result(vecs[start : start + len(it[0])])
            start += len(it[0])


# ------------------------------------------------------------------------------------------- requests


def _texts(value: Any, param: str, cfg: ServeConfig) -> list[str]:
    """The request's texts: a str or a non-empty list of str, within the configured limits."""
    if isinstance(value, str):
        value = [value]
    elif not isinstance(value, list):
        raise APIError(400, f"'{param}' must be a string or a list of strings", param=param, code="invalid_type")
    if not value:
        raise APIError(400, f"'{param}' must not be empty", param=param, code="empty_input")
    if len(value) > cfg.max_inputs:
        raise APIError(400, f"'{param}' has {len(value)} items; at most {cfg.max_inputs} per request",
                       param=param, code="too_many_inputs")
    for i, t in enumerate(value):
        if not isinstance(t, str):
            what = "token ids are not supported, send text" if isinstance(t, (int, list)) else "must be a string"
            raise APIError(400, f"'{param}[{i}]': {what}", param=param, code="invalid_type")
        if len(t) > cfg.max_input_chars:
            raise APIError(400, f"'{param}[{i}]' has {len(t)} characters; at most {cfg.max_input_chars}",
                           param=param, code="input_too_long")
    return value


def _dims(value: Any, dim: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= dim:
        raise APIError(400, f"'dimensions' must be an integer in [1, {dim}], not {value!r}", param="dimensions",
                       code="invalid_value")
    return value


def _float_rows(vecs: np.ndarray) -> list:
    return vecs.tolist()  # float32 -> Python float is exact, and JSON round-trips every double


def _json(body: Any, status: int = 200) -> Any:
    from starlette.responses import Response

    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json")


async def _read_json(request: Any, cfg: ServeConfig) -> dict:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cfg.max_body_bytes:
        raise APIError(413, f"request body of {length} bytes; at most {cfg.max_body_bytes}", code="body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cfg.max_body_bytes:
            raise APIError(413, f"request body over {cfg.max_body_bytes} bytes", code="body_too_large")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"malformed JSON body ({exc})", code="invalid_json") from None
    if not isinstance(body, dict):
        raise APIError(400, "the JSON body must be an object", code="invalid_json")
    return body


# ------------------------------------------------------------------------------------------- the app


def create_app(model: Any, cfg: ServeConfig | None = None) -> Any:
    """A Starlette app serving ``model`` (a ``StaticModel``); its lifespan starts and drains the batcher."""
    _starlette()
    import contextlib

    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.routing import Route

    cfg = cfg or ServeConfig()
    name = cfg.model_name or (Path(cfg.model).name if cfg.model else "fastembed-core-default")
    batcher = Batcher(model, max_batch=cfg.max_batch, wait_ms=cfg.batch_wait_ms, num_threads=cfg.num_threads)
    created = int(time.time())

    def authorize(request: Any) -> None:
        if cfg.api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise APIError(401, "missing API key: send 'Authorization: Bearer <key>'", code="invalid_api_key")
        if not hmac.compare_digest(token.strip().encode(), cfg.api_key.encode()):
            raise APIError(401, "incorrect API key provided", code="invalid_api_key")

    async def embeddings(request: Any) -> Any:
        authorize(request)
        body = await _read_json(request, cfg)
        texts = _texts(body.get("input"), "input", cfg)
        fmt = body.get("encoding_format", "float") or "float"
        if fmt not in ("float", "base64"):
            raise APIError(400, f"'encoding_format' must be 'float' or 'base64', not {fmt!r}",
                           param="encoding_format", code="invalid_value")
        if not isinstance(body.get("model", name), str):
            raise APIError(400, "'model' must be a string", param="model", code="invalid_type")
        dims = _dims(body.get("dimensions"), model.dim)
        vecs = await batcher.encode(texts, dims=dims)
        if fmt == "float":
            rows: list = _float_rows(vecs)
        else:
            rows = [base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") for v in vecs]
        return _json({"object": "list", "model": body.get("model") or name,
                      "data": [{"object": "embedding", "index": i, "embedding": r} for i, r in enumerate(rows)],
                      "usage": {"prompt_tokens": 0, "total_tokens": 0}})  # not counted: it would tokenize twice

    async def tei_embed(request: Any) -> Any:
        authorize(request)
        body = await _read_json(request, cfg)
        texts = _texts(body.get("inputs"), "inputs", cfg)
        normalize = body.get("normalize", True)
        if not isinstance(normalize, bool):
            raise APIError(400, "'normalize' must be a boolean", param="normalize", code="invalid_type")
        dims = _dims(body.get("dimensions"), model.dim)
        return _json(_float_rows(await batcher.encode(texts, dims=dims, normalize=normalize)))

    async def models(request: Any) -> Any:
        authorize(request)
        return _json({"object": "list", "data": [{"id": name, "object": "model", "created": created,
                                                  "owned_by": "fastembed-core"}]})

    async def health(request: Any) -> Any:
        return _json({"status": "ok"})

    async def api_error(request: Any, exc: APIError) -> Any:
        return _json(exc.body(), exc.status)

    async def http_error(request: Any, exc: HTTPException) -> Any:
        return _json(APIError(exc.status_code, str(exc.detail), code="not_found" if exc.status_code == 404
                              else "method_not_allowed" if exc.status_code == 405 else None).body(), exc.status_code)

    async def server_error(request: Any, exc: Exception) -> Any:
        return _json(APIError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error").body(), 500)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = Starlette(routes=[
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/embed", tei_embed, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ], exception_handlers={APIError: api_error, HTTPException: http_error, Exception: server_error},
        lifespan=lifespan)
    app.state.batcher = batcher
    return app


def _load_model(cfg: ServeConfig) -> Any:
    from .model import StaticModel
    from .models import default_model_path

    return StaticModel.from_pretrained(cfg.model or default_model_path(), table_memory=cfg.table_memory)


def _exit_with_parent(parent: int) -> None:
    """In a worker: drain and stop (SIGTERM to itself) if the parent process goes away."""
    import signal

    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def _prefork(app: Any, workers: int, opts: dict) -> int:
    """Bind once, fork ``workers`` uvicorn servers on the socket, pass SIGINT/SIGTERM on to them, wait for all.

    The app (and the model in it) is built before the fork, so the imported code, the tokenizer and the
    memory-mapped table are shared copy-on-write; nothing has encoded yet, so no thread pool exists.
    """
    import signal
    import socket

    import uvicorn

    sock = socket.create_server((opts.pop("host"), opts.pop("port")), backlog=2048)
    pids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: serve until SIGTERM, then drain (uvicorn's graceful shutdown)
            code = 1
            try:
                os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the parent only, which sends one SIGTERM
                threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
                uvicorn.Server(uvicorn.Config(app, **opts)).run(sockets=[sock])
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    sock.close()

    def forward(signum: int, frame: Any) -> None:
        for pid in pids:
            try:
                os.kill(pid, signum)  # the same signal: a second Ctrl-C forces the exit, as in uvicorn
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    failed = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 or os.WIFSIGNALED(status) and \
            os.WTERMSIG(status) in (signal.SIGTERM, signal.SIGINT)  # uvicorn re-raises the signal it drained on
        failed += not ok
    return 1 if failed else 0


# ------------------------------------------------------------------------------------------- command line


def add_parser(subparsers: Any, positive_int: Any = int) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to an argparse subparsers object."""
    d = ServeConfig()
    p = subparsers.add_parser(
        "serve", help="HTTP embedding server (OpenAI /v1/embeddings, TEI /embed; needs [serve])",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=__doc__.split("\n\n", 1)[1])
    p.add_argument("model", nargs="?", help="model directory (default: the bundled model)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--threads", type=positive_int, default=None, help="pooling threads per worker (default: all cores)")
    p.add_argument("--table-memory", choices=["mapped", "rows"], default=d.table_memory,
                   help="mapped (default): workers share the memory-mapped table's pages; rows: each worker "
                        "copies only the rows it gathers (least memory for one worker)")
    p.add_argument("--model-name", help="model id reported by /v1/models (default: the directory name)")
    p.add_argument("--api-key", default=os.environ.get(API_KEY_ENV),
                   help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}; unset: no key)")
    p.add_argument("--max-body-bytes", type=positive_int, default=d.max_body_bytes)
    p.add_argument("--max-inputs", type=positive_int, default=d.max_inputs, help="texts per request")
    p.add_argument("--max-input-chars", type=positive_int, default=d.max_input_chars, help="characters per text")
    p.add_argument("--max-batch", type=positive_int, default=d.max_batch, help="texts per encode call")
    p.add_argument("--batch-wait-ms", type=float, default=0.0,
                   help="wait this long for more requests before encoding a batch (default 0)")
    p.add_argument("--graceful-timeout", type=float, default=30.0,
                   help="seconds to drain in-flight requests on SIGINT/SIGTERM (default 30)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; returns 0 after a graceful shutdown."""
    _starlette()
    import uvicorn

    cfg = ServeConfig(model=str(Path(args.model).resolve()) if args.model else None, model_name=args.model_name,
                      api_key=args.api_key or None, num_threads=args.threads, max_body_bytes=args.max_body_bytes,
                      max_inputs=args.max_inputs, max_input_chars=args.max_input_chars, max_batch=args.max_batch,
                      batch_wait_ms=args.batch_wait_ms, table_memory=args.table_memory)
    model = _load_model(cfg)  # fails here, before binding, on a bad model directory
    app = create_app(model, cfg)
    opts = dict(host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=args.graceful_timeout)
    if args.workers == 1:
        uvicorn.run(app, **opts)
        return 0
    if not hasattr(os, "fork"):
        raise ValueError("--workers > 1 needs os.fork (POSIX); run one worker per process behind a proxy instead")
    return _prefork(app, args.workers, opts)


if __name__ == "__main__":  # pragma: no cover
    from .cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
